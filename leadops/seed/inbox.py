"""The current week's inbox: who lands in which file (new people, dirt, duplicates of each other and
of history leads) and one engagement export, encoded to the exact bytes to write (file_formats)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from leadops.domain.lifecycle import Stage
from leadops.seed.context import PARIS, Ctx
from leadops.seed.file_formats import (
    csv_bytes, demo_file, outbound_file, salon_file, webform_file, webinar_file, whitepaper_file,
)
from leadops.seed.people import People, SamplePerson
from leadops.seed.plan import InboxFile, InboxRow, PlannedLead
from leadops.seed.reference import HOUR_WEIGHTS


def _inbox_time(ctx: Ctx) -> datetime:
    """Return an arrival instant in the current week before 08:00 Paris on the anchor day."""
    rng, end = ctx.rng, ctx.cutoff + timedelta(hours=8)
    days = (end - ctx.week_start).days + 1
    while True:  # office hours weigh more; redraw what falls after the end
        t = ctx.week_start + timedelta(days=rng.randrange(days), minutes=rng.randint(0, 59),
                                       hours=rng.choices(range(24), HOUR_WEIGHTS)[0])
        if t < end:
            return t


def inbox_files(ctx: Ctx, people: People, n: int, history: list[PlannedLead]) -> list[InboxFile]:
    """Return the six inbox files of the current week: ``n`` new people plus dirt and duplicates."""
    rng = ctx.rng
    shares = {"webform": 0.25, "demo": 0.12, "salon": 0.20, "webinar": 0.15, "outbound": 0.18, "whitepaper": 0.10}
    counts = {k: int(n * v) for k, v in shares.items()}
    counts["webform"] += n - sum(counts.values())
    salon_day = max(ctx.week_start, ctx.cutoff - timedelta(days=1)).astimezone(PARIS).date()
    # per file: list of (person, arrival, kind, note)
    rows: dict[str, list[list[Any]]] = {k: [] for k in shares}
    for k, m in counts.items():
        for _ in range(m):
            p = people.draw(rng.choice(["FR", "FR", "FR", "BE", "CH", "LU", "DE", "ES", "IT", "NL"])
                            if k == "salon" else None)
            rows[k].append([p, _inbox_time(ctx), "new", ""])
    # duplicates inside the inbox: the same person in a second file with different email casing
    for src, dst in [("webform", "webinar"), ("webinar", "whitepaper"), ("salon", "webform"), ("demo", "webform"),
                     ("webform", "demo"), ("outbound", "webinar"), ("whitepaper", "webform"), ("salon", "demo")]:
        p = rows[src][rng.randrange(len(rows[src]))][0]
        local, domain = p.email.split("@")
        twin = SamplePerson(**{**p.__dict__, "email": f"{local.title()}@{domain.upper()}"})
        rows[dst].append([twin, _inbox_time(ctx), "dup_inbox", p.email])
    # returning history leads (their email must merge into the existing lead)
    returning = [pl for pl in history if pl.fields["lifecycle_stage"] in (Stage.NEW, Stage.NURTURE, Stage.MQL)]
    for dst in ["webinar", "whitepaper", "webform", "demo", "webinar", "whitepaper"]:
        pl = returning[rng.randrange(len(returning))]
        f = pl.fields
        email = f["email"] if rng.random() < 0.5 else f["email"].upper()
        p = SamplePerson(f["first_name"], f["last_name"], email, None, f["company"] or "", f["country"], f["language"],
                    f["job_title"], f["seniority"], f["department"], f["phone"])
        rows[dst].append([p, _inbox_time(ctx), "dup_history", f["email"]])
    for file_rows in rows.values():
        file_rows.sort(key=lambda r: r[1])
    _add_dirt(ctx, people, rows)
    stamp = ctx.anchor.strftime("%Y%m%d")
    return [
        webform_file(ctx, f"webform-{stamp}.csv", rows["webform"]),
        demo_file(ctx, f"demo-requests-{stamp}.csv", rows["demo"]),
        salon_file(ctx, f"salon-{stamp}.csv", rows["salon"], salon_day),
        webinar_file(ctx, f"webinar-{stamp}.jsonl", rows["webinar"]),
        outbound_file(ctx, f"outbound-{stamp}.csv", rows["outbound"]),
        whitepaper_file(ctx, f"whitepaper-{stamp}.csv", rows["whitepaper"]),
    ]


def _add_dirt(ctx: Ctx, people: People, rows: dict[str, list[list[Any]]]) -> None:
    """Insert the dirty rows (~5%): bad or missing emails, unknown country, caps, spaces, injections."""
    rng = ctx.rng

    def dirty(file: str, note: str, email: str | None = None, **changes: Any) -> None:
        p = people.draw()
        p = SamplePerson(**{**p.__dict__, **({"email": email} if email is not None else {}), **changes})
        rows[file].insert(rng.randrange(len(rows[file]) + 1), [p, _inbox_time(ctx), "dirty", note])

    dirty("webform", "missing email", "")
    dirty("webform", "invalid email", "jean.dupont@", first="Jean", last="Dupont")
    dirty("salon", "invalid email", "marie@@acme.fr", first="Marie", last="Lefèvre")
    dirty("outbound", "invalid email", "pas un email")
    dirty("webinar", "disposable domain", "test.lead@yopmail.com")
    dirty("demo", "disposable domain", "free.trial@mailinator.com")
    dirty("webform", "unknown country", country="Narnia")
    for _ in range(2):
        p = people.draw(rng.choice(["FR", "BE"]))
        caps = SamplePerson(**{**p.__dict__, "first": p.first.upper(), "last": p.last.upper(),
                          "company_name": p.company_name.upper()})
        rows["salon"].insert(rng.randrange(len(rows["salon"]) + 1), [caps, _inbox_time(ctx), "dirty", "all caps"])
    p = people.draw()
    spaced = SamplePerson(**{**p.__dict__, "first": f"  {p.first} ", "last": f"{p.last}  ", "email": f" {p.email}  "})
    rows["outbound"].insert(rng.randrange(len(rows["outbound"]) + 1), [spaced, _inbox_time(ctx), "dirty", "spaces"])
    dirty("whitepaper", "formula injection", company_name='=HYPERLINK("http://x")')
    dirty("webform", "script in title", title="<script>alert(1)</script>")
    dirty("webform", "missing email", "", first="Anonymous", last="")


_EXPORT_EVENTS = [("Visite page tarifs", "/tarifs"), ("Clic email", "Newsletter novembre"),
                  ("Webinar attended", "Webinar: routing des leads"), ("Réponse", ""), ("Livre blanc", "Guide RevOps")]


def events_file(ctx: Ctx, people: People, history: list[PlannedLead], n: int = 40) -> InboxFile:
    """events-*.csv: a marketing-automation export (cp1252, semicolons, French headers) of
    engagement by known leads this week, plus two events of people who are not leads yet and
    one unsubscribe (not a scoring event): those three end in quarantine."""
    rng = ctx.rng
    start = min(ctx.week_start, ctx.cutoff - timedelta(days=7))
    span = int((ctx.cutoff - start).total_seconds() // 60)
    engaged = [pl for pl in history if pl.fields["lifecycle_stage"] in (Stage.NEW, Stage.NURTURE, Stage.MQL, Stage.SQL)]
    rows: list[list[Any]] = []
    for _ in range(n):
        pl = engaged[rng.randrange(len(engaged))]
        label, detail = _EXPORT_EVENTS[rng.randrange(len(_EXPORT_EVENTS))]
        rows.append([pl.fields["email"], label, start + timedelta(minutes=rng.randrange(span)), detail, "event", ""])
    for _ in range(2):
        p = people.draw()
        rows.append([p.email, "Visite page tarifs", start + timedelta(minutes=rng.randrange(span)), "/tarifs",
                     "unknown_lead", "not a lead yet"])
    pl = engaged[rng.randrange(len(engaged))]
    rows.append([pl.fields["email"], "Désinscription", start + timedelta(minutes=rng.randrange(span)), "", "unknown_event",
                 "unsubscribe is not a scoring event"])
    rows.sort(key=lambda r: r[2])
    stamp = ctx.anchor.strftime("%Y%m%d")
    data = [[email, label, t.astimezone(PARIS).strftime("%Y-%m-%d %H:%M"), detail, f"evt-{ctx.seed}-{stamp}-{i}"]
            for i, (email, label, t, detail, *_) in enumerate(rows)]
    meta = tuple(InboxRow(r[0], r[4], r[5]) for r in rows)
    return InboxFile(f"events-{stamp}.csv", "cp1252",
                     csv_bytes(["Courriel", "Événement", "Horodatage", "Page", "Id"], data, delimiter=";",
                                encoding="cp1252"), meta)
