"""Find a lead the way ops name it: by its id or by its email address (normalized as intake does)."""
from __future__ import annotations

from dataclasses import dataclass

from leadops.db.unit_of_work import UnitOfWork
from leadops.domain.normalize import normalize_email


@dataclass(frozen=True)
class LeadRef:
    """A lead as named on the command line: exactly one of ``id`` and ``email`` (normalized) is set."""

    text: str
    id: int | None = None
    email: str | None = None

    def describe(self) -> str:
        """Return how the reference reads in a message: "the id 12" or "the email ana@acme.fr"."""
        return f"the id {self.id}" if self.id is not None else f"the email {self.email}"


def parse_lead_ref(text: str) -> LeadRef:
    """Return ``text`` as a lead id (digits) or an email normalized like intake's (``normalize_email``).

    Raises ``ValueError`` naming the text when it is neither: such a reference can never match.
    """
    raw = text.strip()
    if raw.isdigit():
        return LeadRef(text, id=int(raw))
    if "@" not in raw:
        raise ValueError(f"{text!r} is neither a lead id nor an email address")
    result = normalize_email(raw)
    if result.email is None:
        raise ValueError(f"{text!r} is not a valid email address ({result.error})")
    return LeadRef(text, email=result.email)


def find_lead_id(uow: UnitOfWork, ref: LeadRef) -> int | None:
    """Return the id of the lead ``ref`` names, or None when no lead has that id or email.

    Leads are unique by normalized email (intake merges every later row with the same address into
    the first lead), so an email names at most one lead.
    """
    return uow.leads.find_id(lead_id=ref.id, email=ref.email)


def sdr_codes(uow: UnitOfWork) -> list[str]:
    """Return the codes of the SDRs on the roster (role sdr), sorted: who a lead can be assigned to."""
    return uow.leads.sdr_codes()
