"""Ops fix quarantined rows and re-admit them; nothing is lost on the way."""
from sqlalchemy import func, select

from leadops.db.models import Lead, LeadMerge, Quarantine
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.intake.files import ingest_file
from leadops.services.quarantine import list_rows, parse_overrides, release

CSV = ("Email,First Name,Country,Source\n"
       "jean.dupont@,Jean,France,web_form\n"
       "ana@forge.fr,Ana,Narnia,web_form\n"
       "ok@forge.fr,Ok,FR,web_form\n")


def held(session, settings, rules):
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    p = settings.inbox_dir / "w.csv"
    p.write_text(CSV, encoding="utf-8")
    ingest_file(SqlUnitOfWork.around(session), p, rules, settings, move=False)
    session.commit()
    return {q.source_row: q for q in list_rows(SqlUnitOfWork.around(session))}


def test_list_shows_open_rows_with_reasons(session, settings, rules):
    rows = held(session, settings, rules)
    assert sorted(rows) == [2, 3]
    assert rows[3].reasons == ["country is not a recognized country name or ISO code"]


def test_corrected_row_is_released_into_leads_with_its_provenance(session, settings, rules):
    rows = held(session, settings, rules)
    [out] = release(SqlUnitOfWork.around(session), [rows[2].id], rules, settings, parse_overrides(["email=jean.dupont@forge.fr"]))
    session.commit()
    assert (out.status, out.result) == ("released", "inserted")
    jean = session.scalar(select(Lead).where(Lead.email == "jean.dupont@forge.fr"))
    assert jean.source_row == 2 and jean.ingest_batch_id == rows[2].ingest_batch_id
    q = session.get(Quarantine, rows[2].id)
    assert q.status == "released" and q.raw["_corrected"] == {"email": "jean.dupont@forge.fr"}
    assert list_rows(SqlUnitOfWork.around(session), status="open")[0].source_row == 3


def test_row_that_still_fails_stays_quarantined_with_current_reasons(session, settings, rules):
    rows = held(session, settings, rules)
    [out] = release(SqlUnitOfWork.around(session), [rows[3].id], rules, settings, parse_overrides(["country=Atlantis"]))
    session.commit()
    assert out.status == "held" and "country" in out.reasons[0]
    assert session.get(Quarantine, rows[3].id).status == "open"
    assert session.scalar(select(func.count()).select_from(Lead)) == 1


def test_released_duplicate_merges_instead_of_inserting(session, settings, rules):
    rows = held(session, settings, rules)
    [out] = release(SqlUnitOfWork.around(session), [rows[3].id], rules, settings,
                    parse_overrides(["email=ok@forge.fr", "country=ES"]))
    session.commit()
    assert out.result == "merged"
    assert session.scalar(select(func.count()).select_from(LeadMerge)) == 1


def test_release_is_idempotent_and_reports_unknown_ids(session, settings, rules):
    rows = held(session, settings, rules)
    release(SqlUnitOfWork.around(session), [rows[2].id], rules, settings, {"email": "jean@forge.fr"})
    again = release(SqlUnitOfWork.around(session), [rows[2].id, 9999], rules, settings, {"email": "jean@forge.fr"})
    assert [o.status for o in again] == ["not_open", "not_found"]
    assert session.scalar(select(func.count()).select_from(Lead)) == 2


def test_bad_override_is_refused_with_the_allowed_fields():
    import pytest

    with pytest.raises(ValueError, match="FIELD=VALUE with FIELD one of email"):
        parse_overrides(["mail=x"])
