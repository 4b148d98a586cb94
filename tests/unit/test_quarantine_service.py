"""The quarantine service on a fake unit of work: listing and the outcomes that need no re-validation."""
from leadops.config import get_settings, load_rules
from leadops.db.models import Quarantine
from leadops.services.quarantine import list_rows, release
from tests.support.fake_quarantine import FakeQuarantineRepository
from tests.support.fakes import FakeUnitOfWork


def _row(qid: int, source: str = "default", status: str = "open") -> Quarantine:
    return Quarantine(id=qid, source=source, status=status, source_row=qid + 1, origin="in.csv",
                      reasons=["email: invalid"], raw={"Email": "x@"})


def test_listing_returns_open_rows_of_a_source_newest_first():
    uow = FakeUnitOfWork(quarantine=FakeQuarantineRepository(
        [_row(1), _row(2, source="api"), _row(3), _row(4, status="released")]))
    assert [q.id for q in list_rows(uow)] == [3, 2, 1]
    assert [q.id for q in list_rows(uow, source="default", limit=1)] == [3]
    assert [q.id for q in list_rows(uow, status="released")] == [4]


def test_releasing_unknown_or_settled_rows_says_so_and_changes_nothing(tmp_path):
    settled = _row(7, status="released")
    uow = FakeUnitOfWork(quarantine=FakeQuarantineRepository([settled]))
    settings = get_settings(var_dir=str(tmp_path))
    out = release(uow, [99, 7], load_rules(settings.config_dir), settings)
    assert [(o.id, o.status) for o in out] == [(99, "not_found"), (7, "not_open")]
    assert out[1].reasons == ["status is released"]
    assert settled.status == "released" and settled.reasons == ["email: invalid"]
    assert uow.commits == 0
