"""The inbox as a drop folder others write to: list its entries without following them, claim one
file at a time so that two runs sharing the inbox never read the same file, and move files out when
done (var/processed, var/failed) with a sidecar of their outcome.

* :func:`discover` lists the names a reader takes, without following symbolic links (a link is
  listed as a link, and refused when claimed).
* :func:`claim` refuses what is not a regular file owned by this process's user (a symbolic link,
  a FIFO, a device, a socket, another user's file), raising :class:`Refused` with the reason; it
  then takes an exclusive lock (``flock``) on the open file, without waiting. When another run
  holds it, or moved it away already, it raises :class:`Taken`. The lock lasts until the claim
  ends (the process's death ends it too: a crashed run leaves the file in the inbox for the
  next one), so the holder reads, commits and moves the file out before anyone else can.

* :func:`set_aside` moves an entry the inbox refuses (or whose ingest failed for good) to
  var/failed; :func:`move_with_sidecar` moves a file done with; :func:`finished` tells a file a run
  moved from one it stored and then died before moving.

Messages name the file and the reason, never its content. POSIX only (``fcntl``).
"""
from __future__ import annotations

import errno
import fcntl
import glob
import json
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadops.config import Settings
from leadops.intake.outcome import FileOutcome
from leadops.intake.reading.registry import SUFFIXES


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


def discover(inbox: Path, suffixes: tuple[str, ...] = SUFFIXES) -> list[Path]:
    """Return the entries of ``inbox`` (not its subfolders) whose name ends in one of ``suffixes`` (by
    default those a reader takes), oldest name first, links and special files included without being
    followed (claiming refuses them with a reason)."""
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


def _stamp() -> str:
    """Return the current UTC time as a name suffix (microseconds: two set asides a second apart differ)."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")


def set_aside(path: Path, settings: Settings, error: str, source: str = "default") -> FileOutcome:
    """Move the inbox entry ``path`` (never followed: a link moves as a link) into var/failed with a
    sidecar giving ``error``; returns the rejected outcome. ``error`` names the file and the reason.

    Used for an entry the inbox refuses and for a file whose ingest failed in a way retries did not
    fix, so it does not block later runs. An entry that cannot be moved stays (and says why).
    """
    out = FileOutcome(str(path), "rejected", source, error=error)
    folder = settings.var_dir / "failed"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if os.path.lexists(target):
        target = folder / f"{path.stem}.{_stamp()}{path.suffix}"
    try:
        os.rename(path, target)  # a rename, never a copy: copying a FIFO or a device would read it
    except FileNotFoundError:
        out.error = f"{error} (no longer in the inbox)"
        return out
    except OSError as exc:
        out.error = f"{error} (left in the inbox: cannot move it to {folder}: {exc.strerror})"
        return out
    out.moved_to = str(target)
    target.with_name(target.name + ".result.json").write_text(json.dumps(out.as_dict(), indent=2, default=str),
                                                              encoding="utf-8")
    return out


def move_with_sidecar(path: Path, folder: Path, sidecar: dict[str, Any]) -> Path:
    """Move ``path`` into ``folder`` with a ``.result.json`` sidecar; returns the new path (never overwrites).

    The sidecar is written first, whole (a temporary name, then a rename), and the file moved after it: a
    crash between the two leaves the file in the inbox, which the rerun finds stored and moves with its
    counts (:func:`finished`), never a moved file without its counts.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():  # the same name arrived again with other content: keep both
        target = folder / f"{path.stem}.{sidecar.get('batch_id') or _stamp()[:14]}{path.suffix}"
    side = target.with_name(target.name + ".result.json")
    partial = side.with_name(side.name + ".partial")
    partial.write_text(json.dumps(sidecar, indent=2, default=str), encoding="utf-8")
    os.replace(partial, side)
    shutil.move(str(path), target)
    return target


def finished(settings: Settings, path: Path, batch_id: int) -> bool:
    """Return True when a run moved this file after storing batch ``batch_id``: a file of its name is in
    processed/ or failed/ beside a sidecar naming that batch (else it is a file a run stored and then died
    before moving)."""
    for folder in (settings.var_dir / "processed", settings.var_dir / "failed"):
        for side in folder.glob(f"{glob.escape(path.stem)}*{glob.escape(path.suffix)}.result.json"):
            try:
                named = json.loads(side.read_text(encoding="utf-8")).get("batch_id")
            except (OSError, ValueError):
                continue
            if named == batch_id and side.with_name(side.name.removesuffix(".result.json")).exists():
                return True
    return False
