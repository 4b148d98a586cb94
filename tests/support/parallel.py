"""Running the same database work in two sessions at the same instant (concurrency tests)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from leadops.db.session import session_scope


def at_once(database_url: str, work: Callable[[Any], Any], sessions: int = 2, timeout: float = 120) -> list[Any]:
    """Run ``work(session)`` in ``sessions`` threads, each with its own committed session, released together
    by a barrier; returns their results (in finishing order). Raises the first error any of them raised."""
    start = threading.Barrier(sessions)
    results, errors = [], []

    def one() -> None:
        try:
            with session_scope(database_url) as s:
                start.wait()
                results.append(work(s))
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    if errors:
        raise errors[0]
    return results
