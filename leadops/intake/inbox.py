"""The inbox as a drop folder others write to: list its entries without following them, and claim
one file at a time so that two runs sharing the inbox never read the same file.

* :func:`entries` lists the names with a lead-file extension, without following symbolic links
  (a link is listed as a link, and refused when claimed).
* :func:`claim` refuses what is not a regular file owned by this process's user (a symbolic link,
  a FIFO, a device, a socket, another user's file), raising :class:`Refused` with the reason; it
  then takes an exclusive lock (``flock``) on the open file, without waiting. When another run
  holds it, or moved it away already, it raises :class:`Taken`. The lock lasts until the claim
  ends (the process's death ends it too: a crashed run leaves the file in the inbox for the
  next one), so the holder reads, commits and moves the file out before anyone else can.

Messages name the file and the reason, never its content. POSIX only (``fcntl``).
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Refused", "Taken", "claim", "entries", "kind_of"]


class Refused(Exception):
    """An inbox entry that is not read: ``str()`` is ``"<path>: refused: <reason>"``."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: refused: {reason}")


class Taken(Exception):
    """Another run claimed the file first (it holds it, or moved it out of the inbox already)."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        super().__init__(f"{path}: taken by another run")


def entries(inbox: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Return the entries of ``inbox`` (not its subfolders) whose name ends in one of ``suffixes``,
    oldest name first, links and special files included (claiming refuses them with a reason)."""
    if not inbox.is_dir():
        return []
    found = []
    with os.scandir(inbox) as it:
        for entry in it:
            if entry.name.lower().endswith(suffixes) and not entry.is_dir(follow_symlinks=False):
                found.append(Path(entry.path))
    return sorted(found)


def kind_of(mode: int) -> str | None:
    """Return what an entry of ``mode`` (``st_mode``) is when it is not a regular file, else None."""
    if stat.S_ISREG(mode):
        return None
    for test, what in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return what
    return "not a regular file"


def _check(path: Path, st: os.stat_result) -> None:
    what = kind_of(st.st_mode)
    if what is not None:
        raise Refused(path, f"{what} (the inbox reads regular files only)")
    if st.st_uid != os.geteuid():
        raise Refused(path, f"owned by user id {st.st_uid}, not by this process's user (id {os.geteuid()})")


@contextmanager
def claim(path: Path) -> Iterator[Path]:
    """Hold ``path`` for this run until the block ends; yields the path (read it by its path).

    Raises :class:`Refused` for an entry the inbox does not read and :class:`Taken` when another
    run holds the file or took it away. A file replaced between the checks and the lock (same
    name, other file) counts as taken: the next run sees the new one.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise Taken(path) from None
    _check(path, st)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise Taken(path) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # it became a link since lstat
            raise Refused(path, "a symbolic link (the inbox reads regular files only)") from None
        raise
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
            raise Taken(path)
        _check(path, opened)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Taken(path) from None
        # the run that held the lock may have moved the file out (and another arrived under its name)
        try:
            now = os.lstat(path)
        except FileNotFoundError:
            raise Taken(path) from None
        if (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
            raise Taken(path)
        yield path
    finally:
        os.close(fd)  # releases the lock
