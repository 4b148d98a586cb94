"""An in-memory roster repository: members by code, ids handed out in order, open leads by owner code."""
from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import replace

from leadops.db.models import Lead
from leadops.db.repositories.roster import OpenLead
from leadops.domain.roster import Change, Member


class FakeRosterRepository:
    def __init__(self, members: Sequence[Member] = ()) -> None:
        self.members_by_code: dict[str, Member] = {m.code: m for m in members}
        self.ids: dict[str, int] = {m.code: i for i, m in enumerate(members, 1)}
        self.owners: dict[int, tuple[Lead, str]] = {}  # lead id -> (open lead, owner code), in assignment order
        self.applied: list[list[Change]] = []

    def own(self, lead_id: int, code: str) -> Lead:
        """Give ``code`` an open lead (a transient ORM object) and return it."""
        lead = Lead(id=lead_id, lifecycle_stage="mql")
        self.owners[lead_id] = (lead, code)
        return lead

    def members(self) -> dict[str, Member]:
        return dict(self.members_by_code)

    def apply(self, changes: Sequence[Change], wanted: Sequence[Member]) -> dict[str, int]:
        self.applied.append(list(changes))
        by_code = {m.code: m for m in wanted}
        for change in changes:
            if change.code in by_code:
                self.members_by_code[change.code] = by_code[change.code]
            else:
                self.members_by_code[change.code] = replace(self.members_by_code[change.code], active=False)
            self.ids.setdefault(change.code, len(self.ids) + 1)
        return dict(self.ids)

    def open_leads(self, codes: Collection[str]) -> list[OpenLead]:
        return [OpenLead(lead, code) for lead, code in self.owners.values() if code in codes]

    def count_open_leads(self, codes: Collection[str]) -> dict[str, int]:
        return dict(sorted(Counter(code for _, code in self.owners.values() if code in codes).items()))
