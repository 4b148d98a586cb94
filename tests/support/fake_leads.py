"""An in-memory lead repository for the reads outcome feedback makes: which leads reached which stages."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field


@dataclass
class FakeLeadRepository:
    stages: dict[int, set[str]] = field(default_factory=dict)  # lead id -> every stage it moved into
    with_opportunity: set[int] = field(default_factory=set)  # lead ids with an opportunity

    def reached_stages(self, stages: Collection[str]) -> set[int]:
        return {i for i, seen in self.stages.items() if seen & set(stages)} | set(self.with_opportunity)
