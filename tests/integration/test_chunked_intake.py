"""Streaming intake: a file is admitted chunk by chunk inside one savepoint, with the same result
as one big batch, and a late failure undoes everything admitted from the file."""
import hashlib
from pathlib import Path

from sqlalchemy import func, select

from leadops.db.models import IngestBatch, Lead, LeadMerge, Quarantine
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.intake.files import ingest_file

HEADER = "Email,First Name,Last Name,Company,Country,Source\n"


def line(i: int, email: str | None = None) -> str:
    # one domain per row: fuzzy dedupe compares people within a domain only
    email = f"p{i}@firm{i}.fr" if email is None else email
    return f"{email},Ana{i},Lopez{i},Firm {i} SAS,France,web_form\n"


def write(folder: Path, name: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_chunks_give_the_same_leads_as_one_batch(session, settings, rules):
    lines = [line(i) for i in range(340)]
    lines[250] = line(250, email="P3@Firm3.fr ")  # repeats row 3 (chunk 1) in chunk 3, case and space aside
    lines[120] = line(120, email="not-an-email")
    small = settings.model_copy(update={"intake_chunk_rows": 100})
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "web-1.csv", lines), rules, small)
    session.commit()
    assert (out.status, out.rows_read, out.inserted, out.merged, out.quarantined) == ("done", 340, 338, 1, 1)
    merge = session.scalar(select(LeadMerge))
    assert merge.source_row == 252  # physical line of the repeat, counted across chunks
    assert session.scalar(select(Quarantine.source_row)) == 122
    emails = set(session.scalars(select(Lead.email)))
    assert emails == {f"p{i}@firm{i}.fr" for i in range(340)} - {"p120@firm120.fr", "p250@firm250.fr"}
    batch = session.get(IngestBatch, out.batch_id)
    assert (batch.rows_read, batch.inserted, batch.merged, batch.quarantined) == (340, 338, 1, 1)


def test_a_later_chunk_failing_the_gate_rejects_the_file_and_keeps_nothing(session, settings, rules):
    lines = [line(i) for i in range(300)]
    for i in range(200, 260):  # rows of the third chunk lose their email: fill rate 40%
        lines[i] = line(i, email="")
    lines[5] = line(5, email="bad@")  # would be quarantined if the file were admitted
    small = settings.model_copy(update={"intake_chunk_rows": 100})
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "web-2.csv", lines), rules, small)
    session.commit()
    assert out.status == "rejected"
    assert "email fill rate 40% is under the required 80%" in out.error
    assert "rows 202-301" in out.error  # physical lines of the failing chunk
    assert count(session, Lead) == 0 and count(session, Quarantine) == 0 and count(session, LeadMerge) == 0
    batch = session.get(IngestBatch, out.batch_id)
    assert batch.status == "rejected" and batch.inserted == 0
    failed = [v for v in out.validation if not v["success"]]
    assert [v["column"] for v in failed] == ["email"]
    assert Path(out.moved_to).parent.name == "failed"


def test_a_short_tail_is_gated_with_the_chunk_before_it(session, settings, rules):
    lines = [line(i) for i in range(210)] + [line(i, email="") for i in range(210, 220)]
    small = settings.model_copy(update={"intake_chunk_rows": 100})
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "web-3.csv", lines), rules, small)
    session.commit()
    # alone, the last 20 rows (10 without email) would fail the 80% fill rate; with their chunk they pass
    assert (out.status, out.rows_read, out.inserted, out.quarantined) == ("done", 220, 210, 10)


def test_an_unterminated_quote_at_the_end_undoes_the_chunks_already_admitted(session, settings, rules):
    lines = [line(i) for i in range(250)] + ['late@firm1.fr,"Ana,Lopez,Firm,France,web_form\n', line(999)]
    small = settings.model_copy(update={"intake_chunk_rows": 100})
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "web-4.csv", lines), rules, small)
    session.commit()
    assert out.status == "rejected" and "unterminated quoted field" in out.error and "line 252" in out.error
    assert count(session, Lead) == 0 and count(session, Quarantine) == 0
    # once fixed, the file goes in (a rejected batch is reopened under the new content hash)
    fixed = write(settings.inbox_dir, "web-4.csv", lines[:250])
    again = ingest_file(SqlUnitOfWork.around(session), fixed, rules, small)
    session.commit()
    assert (again.status, again.inserted) == ("done", 250)


def test_accounts_found_in_one_chunk_serve_the_later_ones(session, settings, rules):
    from leadops.db.models import Account

    lines = [line(i) for i in range(320)]
    lines[5] = "ana@acme.fr,Ana,Roy,Acme SAS,France,web_form\n"  # chunk 1 creates Acme's account
    lines[150] = "jo.doe@gmail.com,Jo,Doe,ACME,France,web_form\n"  # chunk 2: personal address, by company name
    lines[260] = "bob@acme.com,Bob,Lin,Acme SAS,France,web_form\n"  # chunk 3: another domain of the same company
    lines[290] = "eve@acme.fr,Eve,Sol,Acme,France,web_form\n"  # chunk 3: the same domain again
    small = settings.model_copy(update={"intake_chunk_rows": 100})
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "acme.csv", lines), rules, small)
    session.commit()
    assert (out.status, out.inserted) == ("done", 320)
    acme = session.scalars(select(Account).where(Account.name_key == "acme")).all()
    assert len(acme) == 1
    owners = dict(session.execute(select(Lead.email, Lead.account_id).where(
        Lead.email.in_(["ana@acme.fr", "jo.doe@gmail.com", "bob@acme.com", "eve@acme.fr"]))).all())
    assert owners == dict.fromkeys(["ana@acme.fr", "jo.doe@gmail.com", "bob@acme.com", "eve@acme.fr"], acme[0].id)
    assert count(session, Account) == 1 + 316  # Acme and one per other firm


def test_a_fuzzy_duplicate_is_found_after_its_domain_left_the_bounded_pool(session, settings, rules, monkeypatch):
    from leadops.db.repositories import lead_store

    def last(i: int) -> str:  # names far apart from each other
        return hashlib.sha1(str(i).encode()).hexdigest()[:12]

    # chunk k (100 rows) holds domains firm{10k}..firm{10k+9}, 10 people each; the pool keeps 40
    lines = [f"p{i}@firm{i // 100 * 10 + i % 10}.fr,Anastasia,{last(i)},Firm {i // 100 * 10 + i % 10} SAS,France,"
             "web_form\n" for i in range(300)]
    typo = last(15)[:-1] + ("x" if last(15)[-1] != "x" else "y")
    lines[250] = f"a.b@firm5.fr,Anastasia,{typo},Firm 5 SAS,France,web_form\n"  # row 15 (chunk 1) again in chunk 3
    lines[260] = f"c.d@firm19.fr,Anastasia,{last(999)},Firm 19 SAS,France,web_form\n"  # a newcomer at a chunk-2 domain
    monkeypatch.setattr(lead_store, "POOL_LIMIT", 40)
    asked: list[str] = []
    where_in = lead_store.where_in

    def watching(conn, table, columns, key, values):
        if key == "email_domain":
            asked.extend(values)
        return where_in(conn, table, columns, key, values)

    monkeypatch.setattr(lead_store, "where_in", watching)
    small = settings.model_copy(update={"intake_chunk_rows": 100})
    out = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "firms.csv", lines), rules, small)
    session.commit()
    assert (out.status, out.rows_read, out.inserted, out.merged) == ("done", 300, 299, 1)
    merge = session.scalar(select(LeadMerge))
    assert merge.source_row == 252 and merge.matched_by.startswith("fuzzy")
    assert session.get(Lead, merge.lead_id).email == "p15@firm5.fr"
    assert asked.count("firm5.fr") == 2  # dropped from the pool after chunk 1, read again for chunk 3
    assert asked.count("firm19.fr") == 1  # used more recently: still held for chunk 3 (not all dropped at once)


def test_each_new_lead_arrives_once_in_the_lifecycle_history(session, settings, rules):
    from leadops.db.models import LeadStageChange

    lines = [line(i) for i in range(250)]
    lines[180] = line(180, email="p4@firm4.fr")  # a merge: no arrival of its own
    small = settings.model_copy(update={"intake_chunk_rows": 100})
    first = ingest_file(SqlUnitOfWork.around(session), write(settings.inbox_dir, "web-9.csv", lines), rules, small)
    second = ingest_file(SqlUnitOfWork.around(session),
                         write(settings.inbox_dir, "web-10.csv", [line(i) for i in range(300, 340)]), rules, small)
    session.commit()
    history = session.execute(select(Lead.email, Lead.source_row, Lead.ingest_batch_id, Lead.created_at,
                                     LeadStageChange.from_stage, LeadStageChange.to_stage, LeadStageChange.cause,
                                     LeadStageChange.changed_at).join(Lead, Lead.id == LeadStageChange.lead_id)).all()
    assert len(history) == first.inserted + second.inserted == 249 + 40
    assert {h.email for h in history} == set(session.scalars(select(Lead.email)))
    for h in history:
        assert (h.from_stage, h.to_stage) == (None, "new")
        assert h.cause == f"arrived from web_form (batch {h.ingest_batch_id}, row {h.source_row})"
        assert h.changed_at == h.created_at and h.changed_at.tzinfo is not None
    assert {h.source_row for h in history if h.ingest_batch_id == first.batch_id} == set(range(2, 252)) - {182}
