"""An in-memory unit of work for service tests that need no database.

Give it the fake repositories a test needs (tests/support/fake_*.py); ``commits`` and ``rollbacks``
count what the caller did, so a test can assert that a service never commits by itself.
``savepoint()`` snapshots the repositories' state (a deep copy of their attributes) and puts it back
when the block raises, as a SAVEPOINT would; ``savepoints`` and ``savepoint_rollbacks`` count them.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from leadops.db.unit_of_work import UnitOfWork


class FakeUnitOfWork(UnitOfWork):
    """A unit of work whose repositories are the in-memory ones passed in."""

    def __init__(self, **repositories: Any) -> None:
        self.commits = 0
        self.rollbacks = 0
        self.savepoints = 0
        self.savepoint_rollbacks = 0
        self._repositories = dict(repositories)
        for name, repo in repositories.items():
            setattr(self, name, repo)

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self.savepoints += 1
        saved = {name: copy.deepcopy(vars(repo)) for name, repo in self._repositories.items() if hasattr(repo, "__dict__")}
        try:
            yield
        except BaseException:
            self.savepoint_rollbacks += 1
            for name, state in saved.items():
                vars(self._repositories[name]).clear()
                vars(self._repositories[name]).update(state)
            raise
