"""Write one chunk in a background thread while the caller computes the next.

A pass that alternates computing a chunk (pandas, in this process) and writing it (statements the database
server runs) leaves the server idle while Python computes and Python idle while the server writes. With the
write of chunk *i* in a worker thread, chunk *i + 1* is computed meanwhile: waiting on the server's answer
releases the GIL. Writes still run one at a time and in submission order, on the caller's unit of work.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from types import TracebackType
from typing import Any


class WriteBehind:
    """Run the calls given to :meth:`submit` one at a time, in one worker thread when ``enabled``, else at once in
    the caller's thread.

    The caller must not use what a call uses (its unit of work's connection) until :meth:`wait` returns. Leaving
    the ``with`` block waits for the call in flight: its error is raised, unless the block is already raising
    one (the call is then waited for, so the caller's rollback never runs beside it).
    """

    def __init__(self, enabled: bool) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-behind") if enabled else None
        self._pending: Future[Any] | None = None

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``fn(*args, **kwargs)`` after the call in flight (whose error this raises)."""
        self.wait()
        if self._pool is None:
            fn(*args, **kwargs)
        else:
            self._pending = self._pool.submit(fn, *args, **kwargs)

    def wait(self) -> None:
        """Return once the call in flight (if any) is done; raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if kind is None:
                self.wait()
            elif self._pending is not None:
                wait_for([self._pending])  # the error on its way wins; the call's own, if any, is dropped
                self._pending = None
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
