"""Fewer cyclic-collector passes while a set-based stage runs.

A stage's pass (enrichment, scoring, routing) allocates millions of tuples, dicts and frames that
live for one chunk and form almost no cycles. With CPython's default thresholds (700, 10, 10) they
set off a full collection every few hundred thousand survivors, and each full collection walks every
object of the process (Prefect's, pandas', the run's caches): in a 100k-lead pipeline run the flow's
process spent ~2.8 s in 12 full collections of ~0.25 s each. :func:`fewer_passes` raises the young
threshold to 10,000 and the oldest to 100 for the duration of a pass (~0.6 s in young passes, no full
one, same peak memory: bench/RESULTS.md). The collector stays on: what a pass leaves in cycles is
still collected, later.

Process-wide, as the collector is: the thresholds are raised by the first pass to enter (any
thread) and restored by the last to leave, so passes that overlap (partitioned scoring, a served
process) neither stack nor cut each other's setting short. Intake has its own setting
(leadops/intake/batches.py: off while a file is admitted with GX in another process).
"""
from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

#: the young generation's threshold during a pass (allocations less deallocations between young passes)
YOUNG = 10_000
#: the oldest generation's threshold during a pass (middle passes between full ones)
OLDEST = 100

P = ParamSpec("P")
R = TypeVar("R")


class _Passes:
    """The process's count of passes inside :func:`fewer_passes` and the thresholds found by the first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.saved: tuple[int, ...] = ()


_passes = _Passes()


@contextmanager
def fewer_passes() -> Iterator[None]:
    """Raise the collector's young and oldest thresholds (never lower them) while the block runs; yields
    nothing. The thresholds found by the outermost block are restored when it ends."""
    with _passes.lock:
        if _passes.depth == 0:
            _passes.saved = gc.get_threshold()
            young, middle, oldest = _passes.saved
            gc.set_threshold(max(young, YOUNG), middle, max(oldest, OLDEST))
        _passes.depth += 1
    try:
        yield
    finally:
        with _passes.lock:
            _passes.depth -= 1
            if _passes.depth == 0:
                gc.set_threshold(*_passes.saved)


def in_fewer_passes(fn: Callable[P, R]) -> Callable[P, R]:
    """Return ``fn`` run inside :func:`fewer_passes` (a decorator for a stage's pass)."""
    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with fewer_passes():
            return fn(*args, **kwargs)
    return run
