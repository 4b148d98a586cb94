"""An in-memory unit of work for service tests that need no database.

Give it the fake repositories a test needs (tests/support/fake_*.py); ``commits`` and ``rollbacks``
count what the caller did, so a test can assert that a service never commits by itself.
"""
from __future__ import annotations

from typing import Any

from leadops.db.unit_of_work import UnitOfWork


class FakeUnitOfWork(UnitOfWork):
    """A unit of work whose repositories are the in-memory ones passed in."""

    def __init__(self, **repositories: Any) -> None:
        self.commits = 0
        self.rollbacks = 0
        for name, repo in repositories.items():
            setattr(self, name, repo)

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1
