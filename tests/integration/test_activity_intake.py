"""Activity files: engagement events for known leads, validated by the activities suites, idempotent,
quarantined with reasons, releasable, and seen by scoring."""
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadops.intake import validation_process

from leadops.config import FileSource
from leadops.db.models import Activity, Lead, Quarantine
from leadops.services import quarantine
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.intake.files import ingest_file

LEADS = ("Email,First Name,Last Name,Company,Country,Source\n"
         "ana@forge.fr,Ana,Lopez,Forge SAS,France,web_form\nbob@forge.fr,Bob,Martin,Forge SAS,France,web_form\n")


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def with_activity_source(rules):
    src = FileSource(name="mautic", pattern="events-*.csv", kind="activities", date_format="%d/%m/%Y %H:%M")
    return rules.model_copy(update={"sources": rules.sources.model_copy(update={"files": [src, *rules.sources.files]})})


@pytest.mark.parametrize("normalized_here", [False, True], ids=["validation-process", "normalized-here"])
def test_activity_rows_are_stored_quarantined_and_deduplicated(session, settings, rules, monkeypatch, normalized_here):
    if normalized_here:  # as while the validation process starts: this process normalizes, GX checks over there
        monkeypatch.setattr(validation_process, "starting", lambda in_process: not in_process)
    ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "leads-1.csv", LEADS), rules, settings)
    session.commit()
    rules = with_activity_source(rules)
    events = ("Courriel;Événement;Date;Page;Id\n"
              "ANA@forge.fr;Webinar attended;02/11/2026 10:00;Webinar IA;e1\n"
              "bob@forge.fr;Visite page tarifs;03/11/2026 11:30;/tarifs;e2\n"
              "bob@forge.fr;replied;04/11/2026 09:00;;e3\n"
              "zoe@nowhere.fr;email click;04/11/2026 09:00;;e4\n"       # unknown lead
              "ana@forge.fr;dance party;04/11/2026 09:00;;e5\n"         # unknown event
              "ana@forge.fr;email click;31/02/2026 09:00;;e6\n"         # not a date
              "ana@forge.fr;email click;04/11/2099 09:00;;e7\n")        # in the future
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "events-1.csv", events, "cp1252"), rules, settings)
    session.commit()
    assert (out.status, out.rows_read, out.inserted, out.merged, out.quarantined) == ("done", 7, 3, 0, 4)
    assert out.reasons == {
        "no lead with this email (ingest the lead first, then release this row)": 1,
        "event is missing or not a known engagement event (engagement.points in scoring.yaml)": 1,
        "occurred_at is missing or not a date": 1,
        "occurred_at is in the future": 1,
    }
    acts = {a.external_key: a for a in session.scalars(select(Activity))}
    assert (acts["mautic:e1"].kind, acts["mautic:e1"].outcome) == ("web", "webinar_attended")
    assert (acts["mautic:e2"].outcome, acts["mautic:e3"].kind, acts["mautic:e3"].outcome) == ("pricing_page", "email", "replied")
    assert acts["mautic:e1"].occurred_at.isoformat() == "2026-11-02T09:00:00+00:00"  # Paris time to UTC
    ana = session.scalar(select(Lead).where(Lead.email == "ana@forge.fr"))
    assert acts["mautic:e1"].lead_id == ana.id and ana.scored_at is None

    # a later export repeating e1..e3 adds nothing; the events are counted as duplicates
    again = ingest_file(SqlUnitOfWork.around(session),
                        write(settings.inbox_dir, "events-2.csv", "\n".join(events.splitlines()[:4]) + "\n"),
                        rules, settings)
    session.commit()
    assert (again.rows_read, again.inserted, again.merged, again.quarantined) == (3, 0, 3, 0)
    assert session.scalar(select(func.count()).select_from(Activity)) == 3


def test_quarantined_activity_is_released_once_its_lead_exists(session, settings, rules):
    rules = with_activity_source(rules)
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "events-1.csv",
                                     "Email,Event,Timestamp\ncarl@forge.fr,pricing page,2026-11-03 10:00\n"), rules, settings)
    session.commit()
    assert out.quarantined == 1
    [q] = session.scalars(select(Quarantine)).all()
    held = quarantine.release(SqlUnitOfWork.around(session), [q.id], rules, settings)
    assert held[0].status == "held" and "no lead with this email" in held[0].reasons[0]
    ingest_file(SqlUnitOfWork.around(session),
                write(settings.inbox_dir, "leads-2.csv", "Email,Last Name\ncarl@forge.fr,Dupuis\n"), rules, settings)
    [released] = quarantine.release(SqlUnitOfWork.around(session), [q.id], rules, settings)
    session.commit()
    assert (released.status, released.result) == ("released", "inserted")
    assert session.scalar(select(Activity.outcome)) == "pricing_page"


def test_activity_file_without_an_event_column_is_rejected(session, settings, rules):
    rules = with_activity_source(rules)
    out = ingest_file(SqlUnitOfWork.around(session),
                      write(settings.inbox_dir, "events-3.csv", "Email,Date\nana@forge.fr,2026-11-03\n"),
                      rules, settings)
    assert out.status == "rejected" and "required column 'event' is missing (found: Email, Date)" in out.error


def test_activities_change_the_score(session, settings, rules):
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.score import score_open_leads

    ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "leads-1.csv", LEADS), rules, settings)
    session.commit()
    score_open_leads(SqlUnitOfWork.around(session), rules)
    session.commit()
    before = {lead.email: lead.engagement_score for lead in session.scalars(select(Lead))}
    rules2 = with_activity_source(rules)
    ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "events-1.csv",
                               "Email,Event,Timestamp\nbob@forge.fr,webinar attended,2026-11-20 10:00\n"), rules2, settings)
    session.commit()
    score_open_leads(SqlUnitOfWork.around(session), rules2)
    session.commit()
    after = {lead.email: lead.engagement_score for lead in session.scalars(select(Lead))}
    assert after["bob@forge.fr"] > before["bob@forge.fr"] and after["ana@forge.fr"] == before["ana@forge.fr"]
