"""Issue 19, item 1: one poisoned row (an over-long or control-character value) is quarantined with the
field named, the same on SQLite and PostgreSQL; the rest of the file is stored, the file is never rejected
for it, and no reason or error repeats the value."""
import json

import pytest
from sqlalchemy import func, select

from leadops.db.models import Activity, Lead, Quarantine
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.intake.files import ingest_file
from leadops.intake.leads import LEAD_LIMITS

HEADER = "Email,First Name,Last Name,Company,Country,Source,Campaign,Language\n"
GOOD = "ann@forge.fr,Ann,Berg,Forge,FR,web_form,spring,fr\n"
OTHER = "cy@nordlys.no,Cy,Dahl,Nordlys,NO,webinar,spring,no\n"


def run(session, settings, rules, name, text: str | bytes):
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    p = settings.inbox_dir / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    out = ingest_file(SqlUnitOfWork.around(session), p, rules, settings, move=False)
    session.commit()
    return out


def held(session, out):
    return {q.source_row: q.reasons for q in session.scalars(select(Quarantine).where(Quarantine.ingest_batch_id == out.batch_id))}


def test_limits_come_from_the_model():
    # one source of truth: the leads table's column lengths
    assert LEAD_LIMITS["first_name"] == Lead.__table__.c.first_name.type.length
    assert LEAD_LIMITS["campaign"] == Lead.__table__.c.campaign.type.length
    assert LEAD_LIMITS["company"] == Lead.__table__.c.company.type.length


@pytest.mark.parametrize("field,label,row", [
    ("first_name", "first name", "bob@forge.fr,{v},Berg,Forge,FR,web_form,spring,fr\n"),
    ("last_name", "last name", "bob@forge.fr,Bob,{v},Forge,FR,web_form,spring,fr\n"),
    ("campaign", "campaign", "bob@forge.fr,Bob,Berg,Forge,FR,web_form,{v},fr\n"),
    ("language", "language", "bob@forge.fr,Bob,Berg,Forge,FR,web_form,spring,{v}\n"),
])
def test_over_long_value_quarantines_its_row_not_the_file(session, settings, rules, field, label, row):
    limit = LEAD_LIMITS[field]
    out = run(session, settings, rules, f"long-{field}.csv", HEADER + GOOD + row.format(v="x" * (limit + 1)) + OTHER)
    assert out.status == "done", out.error
    assert (out.rows_read, out.inserted, out.quarantined) == (3, 2, 1)
    assert held(session, out) == {3: [f"{label} longer than {limit} characters"]}
    # exactly at the limit is stored
    ok = run(session, settings, rules, f"at-{field}.csv", HEADER + row.format(v="y" * limit).replace("bob", "dan"))
    assert (ok.inserted, ok.quarantined) == (1, 0)


def test_megabyte_name_is_quarantined_on_both_databases(session, settings, rules):
    big = "N" * (1024 * 1024)
    out = run(session, settings, rules, "mb.csv", HEADER + GOOD + f"bob@forge.fr,{big},Berg,Forge,FR,web_form,,\n")
    assert (out.status, out.inserted, out.quarantined) == ("done", 1, 1)
    assert out.reasons == {"first name longer than 200 characters": 1}
    assert session.scalar(select(func.max(func.length(Lead.first_name)))) == 3  # nothing over-long stored
    assert big not in json.dumps(out.as_dict())  # the value is not repeated in the outcome


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f"])
def test_control_character_quarantines_its_row_naming_the_field(session, settings, rules, char):
    row = f"bob@forge.fr,Bob,Be{char}rg,Forge,FR,web_form,,\n"
    out = run(session, settings, rules, f"ctl-{ord(char)}.csv", HEADER + GOOD + row)
    assert out.status == "done", out.error
    assert (out.inserted, out.quarantined) == (1, 1)
    assert held(session, out) == {3: [f"last name contains a control character (U+{ord(char):04X})"]}
    # the row is kept as read, control character included, for ops to fix and release
    raw = session.scalar(select(Quarantine.raw).where(Quarantine.ingest_batch_id == out.batch_id))
    assert raw["Last Name"] == f"Be{char}rg"


def test_tabs_and_newlines_inside_quoted_fields_are_text_not_poison(session, settings, rules):
    row = 'bob@forge.fr,Bob,"Berg\tvan\nDijk",Forge,FR,web_form,,\n'
    out = run(session, settings, rules, "ws.csv", HEADER + row)
    assert (out.inserted, out.quarantined) == (1, 0)
    assert session.scalar(select(Lead.last_name)) == "Berg van Dijk"  # collapsed to single spaces


def test_control_character_in_the_header_still_rejects_a_binary_file(session, settings, rules):
    out = run(session, settings, rules, "sheet.csv", b"PK\x03\x04\x00\x00binary\nmore\n")
    assert out.status == "rejected" and "control character U+0003 on line 1" in out.error


def test_nul_in_a_json_lines_value_is_quarantined(session, settings, rules):
    lines = (json.dumps({"email": "ann@forge.fr", "first_name": "Ann", "source": "web_form"}) + "\n"
             + json.dumps({"email": "bob@forge.fr", "first_name": "B\u0000b", "source": "web_form"}) + "\n")
    out = run(session, settings, rules, "nul.jsonl", lines)
    assert (out.status, out.inserted, out.quarantined) == ("done", 1, 1)
    assert out.reasons == {"first name contains a control character (U+0000)": 1}


def test_unknown_long_source_is_not_echoed_in_the_reason(session, settings, rules):
    out = run(session, settings, rules, "src.csv", HEADER + f"bob@forge.fr,Bob,Berg,Forge,FR,{'s' * 5000},,\n")
    assert out.quarantined == 1
    assert all("sss" not in r for r in out.reasons)
    assert "lead source longer than 50 characters" in out.reasons


def test_activity_with_over_long_event_id_or_control_character_is_quarantined(session, settings, rules):
    from leadops.config import FileSource

    run(session, settings, rules, "leads.csv", HEADER + GOOD)
    src = FileSource(name="mkto", pattern="activities*.csv", kind="activities")
    rules.sources.files.insert(0, src)
    try:
        limit = Activity.__table__.c.external_key.type.length - len("mkto:")
        text = ("Email,Event,Occurred at,Detail,Id\n"
                "ann@forge.fr,Webinar attended,2025-01-10 10:00,ok,e1\n"
                f"ann@forge.fr,Webinar attended,2025-01-10 11:00,ok,{'i' * (limit + 1)}\n"
                "ann@forge.fr,Webinar attended,2025-01-10 12:00,bad\x00detail,e3\n")
        out = run(session, settings, rules, "activities-1.csv", text)
    finally:
        rules.sources.files.remove(src)
    assert out.status == "done", out.error
    assert (out.inserted, out.quarantined) == (1, 2)
    assert held(session, out) == {3: [f"event id longer than {limit} characters"],
                                  4: ["detail contains a control character (U+0000)"]}
