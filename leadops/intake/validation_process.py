"""Where Great Expectations runs: in one validation process beside this one (the default), or here.

Intake reads and stores on this process while the validation process gates, normalizes and
validates the next chunk (:func:`leadops.intake.stages.prepare_chunk`): two cores busy instead of one. While the
validation process starts (importing GX takes 2-3 s), intake normalizes the first chunks itself
and only GX's checks of them wait for it (:func:`starting`). Every GX call of a process goes to
the same place, so the Data Docs built at the end of a run show every validation of the run.

``LEADOPS_VALIDATION_PROCESS=false`` keeps GX in this process (a machine with one core). The
validation process is spawned, so it imports the main module again: a script calling intake
needs the usual ``if __name__ == "__main__":`` guard; code read from stdin validates in-process.

The validation process lives as long as this process (or until it dies: the next job starts
another), so a process that runs many flows in a row pays for its start once. The runs of
``leadops serve`` each run in a new process: they share the server that ``leadops serve``
started instead (:mod:`leadops.intake.validation_server`), found through ``LEADOPS_VALIDATION_SERVER``.
"""
from __future__ import annotations

import atexit
import os
import gc
import multiprocessing
import pickle
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from leadops.intake import gate
from leadops.intake.gate import ValidationOutcome

_lock = threading.Lock()
#: The validation process: one of this process's own, or a client of a served process's validation server
_pool: ProcessPoolExecutor | ServerClient | None = None
#: Done once the validation process of ``_pool`` has imported GX and run a first (empty) job.
_started: Future | None = None


#: The environment variable naming the folder of a served process's validation server (see
#: leadops.intake.validation_server), inherited by the runs it starts.
ENV = "LEADOPS_VALIDATION_SERVER"
_SOCKET, _KEY = "socket", "authkey"


class ValidationProcessDied(RuntimeError):
    """The validation process ended without answering (killed, out of memory)."""


def _orphan_watch(parent: int) -> None:
    """Exit this validation process once its parent is gone (killed with -9: no shutdown reached it), instead of
    living on as an orphan holding its memory."""
    import os
    import time

    while True:
        time.sleep(2)
        if os.getppid() != parent:
            os._exit(0)


def warm(parent: int | None = None) -> None:
    """Initializer of the validation process: watch the parent, import GX and build its context before the first
    chunk."""
    if parent is not None:
        threading.Thread(target=_orphan_watch, args=(parent,), name="orphan-watch", daemon=True).start()
    gate._context()
    # Each chunk allocates hundreds of thousands of records, strings and frames that form no
    # cycles; with the default thresholds the collector also rescanned GX's and pandas' objects
    # over and over (~12% of this process's time at 1M rows). What the imports created lives
    # as long as the process: frozen, it is no longer scanned at all.
    gc.freeze()
    gc.set_threshold(max(gc.get_threshold()[0], 50_000), *gc.get_threshold()[1:])


def _started_probe() -> bool:
    return True


def _executor() -> ProcessPoolExecutor | ServerClient:
    global _pool, _started  # noqa: PLW0603 - one validation process per process, module state tests inspect
    with _lock:
        if _pool is None:
            # a served run: the serving process's validation server, warm already
            _pool = connect_server()
            if _pool is None:
                # spawn, not fork: the parent runs threads (Prefect, SQLAlchemy pools) that a fork
                # would copy mid-lock
                _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=warm, initargs=(os.getpid(),))
            _started = _pool.submit(_started_probe)  # jobs run in order: this one right after the initializer
        return _pool


def pid() -> int | None:
    """Return the process id of this process's validation process (a server's when it uses one), or None when
    none was started."""
    pool = _pool
    if pool is None:
        return None
    if isinstance(pool, ServerClient):
        return pool.pid()
    result(Job(False, _started_probe, ()), "a probe")  # its process exists once a job ran
    return next(iter(pool._processes))


def starting(in_process: bool) -> bool:
    """True while the validation process is still starting (importing GX, ~2-3 s): a job submitted
    now waits for it. False when validations run here, when none was started (:func:`warm_up`),
    or once it is ready (or died: its next job starts a new one and waits then)."""
    if in_process or not spawnable():
        return False
    started = _started
    return started is not None and not started.done()


def shutdown() -> None:
    """Stop the validation process if one runs (it starts again on the next validation)."""
    global _pool, _started
    with _lock:
        pool, _pool, _started = _pool, None, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown)


def spawnable() -> bool:
    """True if a spawned process can start here: it re-imports the main module, which must be a file
    or a module (not ``python - < script``)."""
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None):
        return True
    path = getattr(main, "__file__", None)
    return path is None or Path(path).is_file()


def warm_up(in_process: bool) -> None:
    """Start the validation process now (it imports GX while the caller reads its first chunk)."""
    if not in_process and spawnable():
        _executor()


def _rows_job(records: list[dict[str, Any]], suite_path: Path) -> ValidationOutcome:
    return gate.validate_records(records, suite_path)


class Job:
    """A validation on its way: the Future of its outcome, and what it runs (to run it again)."""

    def __init__(self, in_process: bool, fn: Callable[..., Any], args: tuple) -> None:
        self.in_process, self.fn, self.args = in_process or not spawnable(), fn, args
        self.pool: ProcessPoolExecutor | ServerClient | None = None
        self.future = self._start()

    def _start(self) -> Future:
        if self.in_process:
            done: Future = Future()
            try:
                done.set_result(self.fn(*self.args))
            except Exception as exc:  # noqa: BLE001 - the caller sees it at result(), as it would from the process
                done.set_exception(exc)
            return done
        self.pool = _executor()
        try:
            return self.pool.submit(self.fn, *self.args)
        except BrokenProcessPool:  # its process died while idle: start a new one
            _replace(self.pool)
            self.pool = _executor()
            return self.pool.submit(self.fn, *self.args)

    def retry(self) -> None:
        """Run the job again in a new validation process (validations are pure: running twice is safe)."""
        if self.pool is not None:
            _replace(self.pool)
        self.future = self._start()


def _replace(broken: ProcessPoolExecutor | ServerClient) -> None:
    """Drop ``broken`` (a pool whose process died) unless another job replaced it already."""
    global _pool, _started
    with _lock:
        if _pool is broken:
            _pool, _started = None, None
    broken.shutdown(wait=False)  # its jobs all failed already; nothing is left to cancel


def submit_rows(records: list[dict[str, Any]], suite_path: Path, *, in_process: bool) -> Job:
    """Validate ``records`` (one per input row) against the row-level suite; returns the running :class:`Job`."""
    return Job(in_process, _rows_job, (records, Path(suite_path)))


def result(job: Job, what: str) -> Any:
    """Return ``job``'s outcome (raising what the validation raised).

    A validation process that dies under a job (killed, out of memory) is replaced and the job
    run once more; a second death raises :class:`ValidationProcessDied` naming ``what``.
    """
    for attempt in (1, 2):
        try:
            return job.future.result()
        except BrokenProcessPool:
            if attempt == 2:
                if job.pool is not None:
                    _replace(job.pool)
                raise ValidationProcessDied(f"the validation process died twice while validating {what}; "
                                            "nothing of it was stored: run it again") from None
            job.retry()


def build_data_docs(docs_dir: Path, *, in_process: bool) -> str | None:
    """Render Data Docs of the validations run so far into ``docs_dir``; returns index.html's path or None."""
    return result(Job(in_process, gate.build_data_docs, (Path(docs_dir),)), "Data Docs")


# --------------------------------------------------------------------------- a served process's validation server


class ServerClient:
    """A served process's validation server (leadops.intake.validation_server) as a flow run's process sees it:
    ``submit(fn, *args)`` returns a Future, like a one-process ``ProcessPoolExecutor``; jobs are sent one after
    the other on one connection."""

    def __init__(self, folder: str | Path) -> None:
        from multiprocessing import connection

        folder = Path(folder)
        self.folder = folder
        self._conn = connection.Client(str(folder / _SOCKET), family="AF_UNIX", authkey=(folder / _KEY).read_bytes())
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validation-client")
        self._broken: str | None = None

    def pid(self) -> int:
        """Return the server's process id (waits while it starts)."""
        return int(self.submit(os.getpid).result())

    def submit(self, fn: Any, *args: Any) -> Future:
        if self._broken:
            raise BrokenProcessPool(self._broken)
        return self._sender.submit(self.call, fn, *args)

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the server and return its result (raising what it raised)."""
        if self._broken:
            raise BrokenProcessPool(self._broken)
        message = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._conn.send_bytes(message)
            ok, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._broken = f"the validation server went away ({type(exc).__name__})"
            raise BrokenProcessPool(self._broken) from None
        if ok:
            return value
        raise value

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self._sender.shutdown(wait=wait, cancel_futures=cancel_futures)
        self._conn.close()


def connect_server() -> ServerClient | None:
    """Return a client of the server named by ``LEADOPS_VALIDATION_SERVER``, or None when none is named or it
    cannot be reached (the caller then starts a validation process of its own)."""
    folder = os.environ.get(ENV)
    if not folder:
        return None
    try:
        return ServerClient(folder)
    except Exception as exc:  # noqa: BLE001 - gone, or not ours: validate with a process of this run's own
        import logging

        logging.getLogger(__name__).warning("validation server at %s unreachable (%s: %s): starting a validation "
                                            "process for this run", folder, type(exc).__name__, exc)
        return None
