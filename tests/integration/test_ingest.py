"""Ingest against a real database on both backends: every row accounted for, reruns change nothing."""
from pathlib import Path

from sqlalchemy import func, select

from leadops.db.models import IngestBatch, Lead, LeadMerge, LeadStageChange, Quarantine
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.intake.files import ingest_file

DIRTY = (
    "Email,First Name,Last Name,Company,Job Title,Country,Source\n"
    "jean.dupont@atelier-numerique.fr,JEAN,dupont,Atelier Numérique SAS,DSI,France,web_form\n"
    "Jean.Dupont@Atelier-Numerique.fr,Jean,Dupont,,,,web_form\n"          # same person, other casing
    "jean.dupont@,X,Y,Z,CTO,France,web_form\n"                            # bad email
    ",No,Email,Z,CTO,France,web_form\n"                                   # missing email
    "marie@yopmail.com,Marie,Curie,Radium,CEO,France,web_form\n"          # disposable
    "joe@acme.com,Joe,Bloggs,Acme Inc,VP Sales,Narnia,web_form\n"         # unknown country
    "ana@empresa.es,Ana,Núñez,Empresa SL,CTO,Espagne,carrier_pigeon\n"   # unknown source
    "lea@atelier-numerique.fr,léa,de la fontaine,Atelier Numérique SAS,Head of Marketing,FR,demo_request\n"
)


def write(folder: Path, name: str, text: str, encoding="utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_bytes(text.encode(encoding))
    return p


def test_every_row_ends_accepted_merged_or_quarantined(session, settings, rules):
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "webform-1.csv", DIRTY), rules, settings)
    session.commit()
    assert (out.rows_read, out.inserted, out.merged, out.quarantined) == (8, 2, 1, 5)
    assert out.rows_read == out.inserted + out.merged + out.quarantined
    assert out.reasons == {
        "email is missing or not a valid address": 2,
        "email uses a disposable-address domain": 1,
        "country is not a recognized country name or ISO code": 1,
        "unknown lead source 'carrier_pigeon' (allowed: web_form, demo_request, contact_sales, white_paper, "
        "webinar, trade_show, outbound_list, import)": 1,
    }
    q = {r.source_row: r for r in session.scalars(select(Quarantine))}
    assert sorted(q) == [4, 5, 6, 7, 8]  # file line numbers, header is line 1
    assert q[7].raw["Country"] == "Narnia"  # the row is kept as read, for reprocessing


def test_normalized_values_are_stored(session, settings, rules):
    ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "webform-1.csv", DIRTY), rules, settings)
    session.commit()
    lea = session.scalar(select(Lead).where(Lead.email == "lea@atelier-numerique.fr"))
    assert (lea.first_name, lea.last_name, lea.country, lea.seniority, lea.department) == (
        "Léa", "De la Fontaine", "FR", "director", "marketing")
    assert lea.is_hand_raiser and lea.source == "demo_request" and lea.account_id is not None
    jean = session.scalar(select(Lead).where(Lead.email == "jean.dupont@atelier-numerique.fr"))
    assert jean.first_name == "Jean" and jean.account_id == lea.account_id
    history = session.scalars(select(LeadStageChange).where(LeadStageChange.lead_id == lea.id)).all()
    assert [h.to_stage for h in history] == ["new"] and "row 9" in history[0].cause


def test_same_file_twice_changes_nothing(session, settings, rules):
    ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "a.csv", DIRTY), rules, settings)
    session.commit()
    counts = [session.scalar(select(func.count()).select_from(t)) for t in (Lead, Quarantine, LeadMerge)]
    again = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "a-copy.csv", DIRTY), rules, settings)
    session.commit()
    assert again.status == "duplicate" and again.inserted == 0
    assert [session.scalar(select(func.count()).select_from(t)) for t in (Lead, Quarantine, LeadMerge)] == counts
    assert Path(again.moved_to).parent.name == "processed"


def test_known_lead_in_a_new_file_is_merged_and_fills_blanks(session, settings, rules):
    ingest_file(SqlUnitOfWork.around(session),
                write(settings.inbox_dir, "a.csv", "Email,Source\nzoe@nordlys.no,web_form\n"), rules, settings)
    session.commit()
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "b.csv",
                                     "Email,Prénom,Nom,Société,Source\nZOE@nordlys.no,Zoé,Berg,Nordlys AS,demo_request\n"),
                      rules, settings)
    session.commit()
    assert (out.inserted, out.merged) == (0, 1)
    zoe = session.scalar(select(Lead).where(Lead.email == "zoe@nordlys.no"))
    assert (zoe.first_name, zoe.company, zoe.is_hand_raiser) == ("Zoé", "Nordlys AS", True)
    merge = session.scalar(select(LeadMerge))
    assert set(merge.fields_filled) >= {"first_name", "last_name", "company", "is_hand_raiser"}


def test_french_excel_export_in_windows_1252_with_semicolons(session, settings, rules):
    text = ("Courriel;Prénom;Nom;Société;Fonction;Pays;Téléphone;Date\r\n"
            "helene.lefevre@forge.fr;Hélène;LEFÈVRE;\"Forge; Fils\";Directrice Générale;France;01 42 68 53 00;05/11/2026\r\n")
    out = ingest_file(SqlUnitOfWork.around(session),
                      write(settings.inbox_dir, "salon-20261105.csv", text, "cp1252"), rules, settings)
    session.commit()
    assert (out.inserted, out.quarantined) == (1, 0)
    h = session.scalar(select(Lead))
    assert (h.last_name, h.company, h.phone, h.source, h.campaign) == (
        "Lefèvre", "Forge; Fils", "+33142685300", "trade_show", "Salon Big Data Paris")
    assert h.arrived_at.date().isoformat() == "2026-11-04"  # midnight Paris is 23:00 UTC the day before


def test_file_without_an_email_column_is_rejected_whole_and_kept(session, settings, rules):
    p = write(settings.inbox_dir, "broken.csv", "Nom,Prénom\nDupont,Jean\n")
    out = ingest_file(SqlUnitOfWork.around(session), p, rules, settings)
    session.commit()
    assert out.status == "rejected" and "email" in out.error and "broken.csv" in out.error
    assert Path(out.moved_to).parent.name == "failed" and Path(out.moved_to).exists()
    sidecar = Path(out.moved_to + ".result.json").read_text()
    assert "rejected" in sidecar
    batch = session.scalar(select(IngestBatch))
    assert batch.status == "rejected" and session.scalar(select(func.count()).select_from(Lead)) == 0


def test_garbage_jsonl_line_is_quarantined_not_dropped(session, settings, rules):
    text = '{"email": "a@forge.fr", "source": "webinar"}\nthis is not json\n{"email": "b@forge.fr", "source": "webinar"}\n'
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "webinar-1.jsonl", text), rules, settings)
    session.commit()
    assert (out.rows_read, out.inserted, out.quarantined) == (3, 2, 1)
    q = session.scalar(select(Quarantine))
    assert q.source_row == 2 and any("unreadable record" in r for r in q.reasons)


def test_rejected_file_can_be_retried_once_its_mapping_is_fixed(session, settings, rules):
    from leadops.config import FileSource

    p = write(settings.inbox_dir, "crm-export.csv", "Mail pro,Nom\nana@forge.fr,Ana\n")
    first = ingest_file(SqlUnitOfWork.around(session), p, rules, settings, move=False)
    session.commit()
    assert first.status == "rejected"
    fixed = FileSource(name="crm", pattern="crm-*.csv", source="import", columns={"Mail pro": "email", "Nom": "last_name"})
    second = ingest_file(SqlUnitOfWork.around(session), p, rules, settings, move=False, source=fixed)
    session.commit()
    assert (second.status, second.inserted, second.batch_id) == ("done", 1, first.batch_id)


def test_same_person_under_another_address_is_merged_fuzzily_with_the_touch_kept(session, settings, rules):
    from leadops.db.models import Activity

    ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "a.csv",
                               "Email,First Name,Last Name,Company,Source\n"
                               "helene.lefevre@forge.fr,Hélène,Lefèvre,Forge SAS,white_paper\n"), rules, settings)
    session.commit()
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "b.csv",
                                     "Email,First Name,Last Name,Company,Job Title,Source\n"
                                     "h.lefevre@forge.fr,HELENE,LEFEVRE,Forge,CTO,demo_request\n"
                                     "hugo.lemaire@forge.fr,Hugo,Lemaire,Forge,CFO,web_form\n"), rules, settings)
    session.commit()
    assert (out.inserted, out.merged) == (1, 1)
    helene = session.scalar(select(Lead).where(Lead.email == "helene.lefevre@forge.fr"))
    assert helene.job_title == "CTO" and helene.is_hand_raiser
    merge = session.scalar(select(LeadMerge))
    assert merge.lead_id == helene.id and merge.matched_by.startswith("fuzzy")
    touch = session.scalar(select(Activity).where(Activity.lead_id == helene.id))
    assert (touch.kind, touch.outcome) == ("web", "demo_request") and "b.csv row 2" in touch.detail


def test_personal_addresses_are_never_merged_by_name(session, settings, rules):
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "g.csv",
                                     "Email,First Name,Last Name,Company,Source\n"
                                     "jean.martin@gmail.com,Jean,Martin,Forge,web_form\n"
                                     "jmartin@gmail.com,Jean,Martin,Forge,web_form\n"), rules, settings)
    assert (out.inserted, out.merged) == (2, 0)


def test_lead_matches_an_account_by_company_name_when_the_domain_is_new(session, settings, rules):
    from leadops.db.models import Account

    ingest_file(SqlUnitOfWork.around(session),
                write(settings.inbox_dir, "a.csv", "Email,Company,Source\nann@acme.com,ACME Inc.,web_form\n"),
                rules, settings)
    ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "b.csv",
                               "Email,Company,Source\nbob@acme.fr,Acme SAS,web_form\ncy@gmail.com,Acme,web_form\n"),
                rules, settings)
    session.commit()
    ids = {lead.email: lead.account_id for lead in session.scalars(select(Lead))}
    assert ids["ann@acme.com"] == ids["bob@acme.fr"] == ids["cy@gmail.com"] is not None
    assert session.scalar(select(func.count()).select_from(Account)) == 1


def test_a_retry_in_the_same_run_reports_what_the_first_attempt_stored(session, settings, rules):
    path = write(settings.inbox_dir, "webform-9.csv", DIRTY)
    first = ingest_file(SqlUnitOfWork.around(session), path, rules, settings, flow_run_id="run-1", move=False)
    session.commit()
    retry = ingest_file(SqlUnitOfWork.around(session), path, rules, settings, flow_run_id="run-1", move=False)
    assert (retry.status, retry.rows_read, retry.inserted, retry.merged, retry.quarantined) == (
        "done", first.rows_read, first.inserted, first.merged, first.quarantined)
    assert retry.reasons == first.reasons and retry.batch_id == first.batch_id
    # another run finding the file still in the inbox (its run died before moving it): the stored counts again
    left = ingest_file(SqlUnitOfWork.around(session), path, rules, settings, flow_run_id="run-2", move=False)
    assert (left.status, left.rows_read, left.batch_id) == ("done", first.rows_read, first.batch_id)
    # the same content under another name, or outside the inbox: a duplicate, nothing stored twice
    copy = write(settings.inbox_dir, "webform-9-again.csv", DIRTY)
    assert ingest_file(SqlUnitOfWork.around(session), copy, rules, settings, flow_run_id="run-2", move=False).status == "duplicate"
    elsewhere = write(settings.var_dir / "exports", "webform-9.csv", DIRTY)
    assert ingest_file(SqlUnitOfWork.around(session),
                       elsewhere, rules, settings, flow_run_id="run-3", move=False).status == "duplicate"
    assert session.scalar(select(func.count()).select_from(Lead)) == first.inserted


def test_a_merge_writes_only_what_it_changed_of_a_stored_lead(session, settings, rules):
    from datetime import UTC, datetime

    ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "a.csv",
                "Email,Last Name,Source\nzoe@nordlys.no,Berg,web_form\nola@nordlys.no,Nordmann,web_form\n"),
                rules, settings)
    session.commit()
    zoe, ola = (session.scalar(select(Lead).where(Lead.email == e)) for e in ("zoe@nordlys.no", "ola@nordlys.no"))
    scored = datetime(2026, 1, 2, tzinfo=UTC)
    zoe.scored_at = ola.scored_at = scored
    session.commit()
    zoe_updated, ola_updated = zoe.updated_at, ola.updated_at
    ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "b.csv",
                "Email,Prénom,Nom,Source\nZOE@nordlys.no,Zoé,Berg,demo_request\n"), rules, settings)
    # zoe was loaded in this session before the merge: it shows what the merge wrote, without a refresh
    assert (zoe.first_name, zoe.is_hand_raiser, zoe.scored_at) == ("Zoé", True, None)
    assert zoe.updated_at > zoe_updated
    session.commit()
    assert (ola.scored_at, ola.updated_at, ola.first_name) == (scored, ola_updated, None)  # not merged: untouched
