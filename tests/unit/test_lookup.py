"""Finding a lead the way ops name it, on a fake unit of work."""
import pytest

from leadops.services.lookup import find_lead_id, parse_lead_ref, sdr_codes
from tests.support.fakes import FakeUnitOfWork


class FakeLeads:
    def __init__(self, emails: dict[int, str], sdrs: list[str]) -> None:
        self.emails, self.sdrs = emails, sdrs

    def find_id(self, *, lead_id: int | None = None, email: str | None = None) -> int | None:
        if lead_id is not None:
            return lead_id if lead_id in self.emails else None
        return next((i for i, e in self.emails.items() if e == email), None)

    def sdr_codes(self) -> list[str]:
        return sorted(self.sdrs)


def test_a_lead_is_found_by_id_or_by_its_email_normalized_as_intake_does():
    uow = FakeUnitOfWork(leads=FakeLeads({7: "jane.doe@acme.de"}, ["b.sdr", "a.sdr"]))
    assert find_lead_id(uow, parse_lead_ref("  <Jane.Doe@ACME.de> ")) == 7
    assert find_lead_id(uow, parse_lead_ref("7")) == 7
    assert find_lead_id(uow, parse_lead_ref("8")) is None
    assert find_lead_id(uow, parse_lead_ref("john@acme.de")) is None
    assert sdr_codes(uow) == ["a.sdr", "b.sdr"]
    assert uow.commits == 0


def test_a_reference_that_can_never_match_is_refused_naming_it():
    with pytest.raises(ValueError, match="'acme' is neither a lead id nor an email address"):
        parse_lead_ref("acme")
