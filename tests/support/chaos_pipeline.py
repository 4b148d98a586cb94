"""One pass of the lead pipeline in a process of its own, with the service calls the lead-pipeline tasks make
(tasks/pipeline.py, flows/lead_pipeline.py) and without Prefect, for the chaos tests: roster sync, then every
inbox file claimed and ingested in its own unit of work and moved after its commit, then enrich, score, route
and deliver, each in its own unit of work. Settings come from LEADOPS_* variables (as a worker's would).

    python -m tests.support.chaos_pipeline [--kill-at STAGE[:N]] [--go PATH]
    python -m tests.support.chaos_pipeline --serve

``--serve`` is a fork server: it imports leadops and warms Great Expectations once (3.5 s a process here),
then reads one JSON request a line on stdin ({"id", "argv", "env", "cwd", "stdout", "stderr"}) and forks a
child per request that sets that environment, runs the pass with those arguments (output to those files)
and exits; it answers one JSON line {"id", "pid", "returncode"} per child that ended (-9: killed by
SIGKILL), as subprocess would. Each pass is still a process of its own that kills itself.

``--kill-at`` SIGKILLs this process (no cleanup, no atexit, no rollback: the database and the inbox see
what a machine losing power mid-run leaves), at a stage boundary or inside a stage:

    ingest-commit:N   after the N-th inbox file's transaction committed, before that file is moved
    ingest            after every file is ingested and moved (before enrichment)
    enrich / score / route
                      after that stage committed (before the next one starts)
    ingest-insert:N   inside intake: on the N-th bulk insert of leads (mid-transaction of a file)
    ingest-move:N     after the N-th inbox file's .result.json was written to processed/, before the file is moved
    route-write:N     inside routing: on the N-th bulk insert of a routing pass (1 assignments,
                      2 SLA clocks, 3 SLA events), before the pass's transaction commits
    deliver:N         inside delivery: right after the N-th message reached its receiver, before
                      its `sent` is committed (the message in flight)

``--go PATH`` waits until PATH exists before touching the inbox (two runs released together).
A stage failing with an error the tasks' retries retry (tasks.common.retry_transient_only: SQLite's
"database is locked" when two runs overlap, a unique key the other run inserted first) is run again in a
new unit of work, as the task would be. Prints one JSON line: what each stage did, and the retries.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

BOUNDARIES = ("ingest", "enrich", "score", "route")
COUNTED = ("ingest-commit", "ingest-insert", "ingest-move", "route-write", "deliver")
KILL_POINTS = BOUNDARIES + COUNTED


COUNTRIES = ("FR", "DE", "GB", "US", "ES", "NL", "BE", "CH", "IT", "JP")
SOURCES = ("demo_request", "demo_request", "contact_sales", "web_form", "webinar", "white_paper")
HEADER = "Email,First Name,Last Name,Company,Job Title,Country,Source\n"


def write_inbox(inbox_dir: Path, files: int = 3, rows: int = 120) -> dict[str, int]:
    """Write ``files`` lead CSVs of ``rows`` rows each into ``inbox_dir``: mostly hand-raisers (MQLs at once),
    with duplicates (the same email again in the file, in another case, and in the next file) and bad rows
    (an invalid email, a control character, a name over its column's length). Each person has an email
    domain of their own (no fuzzy match between two people). Returns what was written: ``rows`` (every data
    row), ``bad`` (rows to quarantine), ``people`` (distinct emails, case aside, among the good rows)."""
    inbox_dir.mkdir(parents=True, exist_ok=True)
    people: set[str] = set()
    total = bad = 0
    for f in range(files):
        lines = []
        for i in range(rows):
            n = f * rows + i
            bad += i % 40 in (7, 19, 31)
            if i % 40 == 7:  # an email that is no email
                lines.append(f"not-an-email-{n},Bad,Row{n},Nowhere,,FR,web_form")
            elif i % 40 == 19:  # a control character in a name (not in the first line: the row is quarantined)
                lines.append(f"ctl{n}@ctl{n % 7}.example.org,Ctl\x01{n},Row,Ctl Corp,,DE,demo_request")
            elif i % 40 == 31:  # longer than the first_name column
                lines.append(f"long{n}@long{n % 5}.example.net,{'L' * 260},Row,Long Ltd,,GB,demo_request")
            elif i % 25 == 11 and i > 0:  # the previous row's person again, the email in capitals
                prev = lines[-1].split(",")
                lines.append(",".join([prev[0].upper(), *prev[1:]]))
            elif i % 30 == 3 and f > 0:  # a person of the previous file again
                m = (f - 1) * rows + i + 1
                lines.append(_person(m))
                people.add(_person(m).split(",")[0])
            else:
                lines.append(_person(n))
                people.add(_person(n).split(",")[0])
        total += len(lines)
        (inbox_dir / f"leads-{f:02d}.csv").write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return {"rows": total, "bad": bad, "people": len(people)}


def _person(n: int) -> str:
    domain = "gmail.com" if n % 17 == 0 else f"firm{n}.example.com"
    return (f"p{n}.lead@{domain},Person{n},Lead{n},Firm {n % 23},Head of Data,{COUNTRIES[n % len(COUNTRIES)]},"
            f"{SOURCES[n % len(SOURCES)]}")


def die() -> None:
    """SIGKILL this process: nothing after this line runs, no buffer is flushed, no transaction ends."""
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # never reached: the signal is delivered before the call returns


class Killer:
    """Where this run dies: ``point`` ("deliver"), at its ``n``-th occurrence (boundaries: the first)."""

    def __init__(self, spec: str | None) -> None:
        self.point, self.n = (None, 0) if not spec else (spec.split(":")[0], int(spec.split(":")[1]) if ":" in spec else 1)
        if self.point is not None and self.point not in KILL_POINTS:
            raise SystemExit(f"--kill-at: unknown point {self.point!r} (known: {', '.join(KILL_POINTS)})")
        self.seen: dict[str, int] = {}

    def at(self, point: str) -> None:
        """Count one occurrence of ``point``; die if it is the one asked for."""
        self.seen[point] = self.seen.get(point, 0) + 1
        if point == self.point and self.seen[point] == self.n:
            die()


def transient(exc: BaseException) -> bool:
    """True for an error the tasks' retries retry (tasks.common.retry_transient_only: all but those a rerun
    raises again): SQLite's "database is locked", a unique key another run inserted first, a lost connection."""
    from sqlalchemy.exc import DBAPIError, StatementError

    from leadops.tasks.common import _deterministic_errors

    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    return not isinstance(exc, _deterministic_errors())


#: (stage, error type) of every retried attempt of this run, reported in its summary
RETRIES: list[tuple[str, str]] = []


def retried(stage: str, what: Callable[[], T], attempts: int = 40) -> T:
    for attempt in range(attempts):
        try:
            return what()
        except Exception as exc:
            if not transient(exc) or attempt == attempts - 1:
                raise
            RETRIES.append((stage, type(exc).__name__))
            print(f"retrying {stage}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", file=sys.stderr, flush=True)
            time.sleep(min(0.05 * 2 ** attempt, 1.0))
    raise AssertionError("unreachable")


def patch_inside_stages(killer: Killer) -> None:
    """Make the in-stage kill points fire: wrap the bulk writers intake and routing call (here, never in leadops):
    intake's insert of leads, and each of routing's writes of a chunk (assignments, clocks, events)."""
    from leadops.db.repositories import lead_store, routing

    def counting(original: Callable[..., Any], point: str, table: str | None) -> Callable[..., Any]:
        def wrapper(conn, tbl, rows, *args, **kwargs):
            if rows and (table is None or tbl.name == table):
                killer.at(point)
            return original(conn, tbl, rows, *args, **kwargs)
        return wrapper

    lead_store.bulk_insert = counting(lead_store.bulk_insert, "ingest-insert", "leads")
    routing.insert_from = counting(routing.insert_from, "route-write", None)

    from types import SimpleNamespace

    from leadops.intake import inbox

    def move(src: str, dst: Any) -> Any:
        # move_with_sidecar writes the sidecar, then moves the file: die between the two
        killer.at("ingest-move")
        return shutil.move(src, dst)

    inbox.shutil = SimpleNamespace(move=move)  # the module's only use of shutil: move_with_sidecar


class KillingSender:
    """The settings' sender, dying right after the N-th message reached its receiver (``deliver:N``)."""

    def __init__(self, sender: Any, killer: Killer) -> None:
        self.sender, self.killer = sender, killer

    def send(self, msg: Any) -> None:
        self.sender.send(msg)
        self.killer.at("deliver")


def ingest_inbox(s: Any, rules: Any, killer: Killer) -> list[dict[str, Any]]:
    """The ingest tasks: each entry claimed, ingested and committed in its own unit of work, then moved."""
    from leadops.db.session import session_scope
    from leadops.intake import inbox
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.intake.files import ingest_file
    from leadops.intake.outcome import FileOutcome

    outcomes = []
    for path in inbox.discover(s.inbox_dir):
        def one(path: Path = path) -> FileOutcome:
            try:
                with inbox.claim(path):
                    with session_scope(s.database_url) as session:
                        out = ingest_file(SqlUnitOfWork.around(session), path, rules, s, move=False)
                    killer.at("ingest-commit")
                    # as _ingest_claimed: moved only after the commit, a crash before leaves it in the inbox
                    folder = s.var_dir / ("failed" if out.status == "rejected" else "processed")
                    out.moved_to = str(inbox.move_with_sidecar(path, folder, out.as_dict()))
                    return out
            except inbox.Taken as exc:
                return FileOutcome(str(path), "taken", error=str(exc))
            except inbox.Refused as exc:
                return inbox.set_aside(path, s, str(exc))
        out = retried(f"ingest {path.name}", one)
        outcomes.append({k: v for k, v in out.as_dict().items()
                         if k in ("file", "status", "rows_read", "inserted", "merged", "quarantined", "error")})
    return outcomes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="chaos_pipeline")
    parser.add_argument("--kill-at", default=None)
    parser.add_argument("--go", default=None)
    args = parser.parse_args(argv)
    killer = Killer(args.kill_at)

    from leadops.config import get_settings, load_rules
    from leadops.db.session import session_scope
    from leadops.db.unit_of_work import SqlUnitOfWork, sql_units
    from leadops.notify.outbox import deliver
    from leadops.notify.senders import sender_for
    from leadops.services import enrich, roster, route, score

    s = get_settings()
    rules = load_rules(s.config_dir)
    patch_inside_stages(killer)
    if args.go:
        from tests.support.gate import mark_ready

        mark_ready(Path(args.go))
        while not Path(args.go).exists():
            time.sleep(0.01)
    done: dict[str, Any] = {"pid": os.getpid()}

    def stage(name: str, work: Callable[[Any], T]) -> T:
        def attempt() -> T:
            with session_scope(s.database_url) as session:
                return work(session)
        out = retried(name, attempt)
        killer.at(name)
        return out

    stage("roster", lambda se: roster.sync(SqlUnitOfWork.around(se), rules, reassign=roster.by_routing_rules(
        SqlUnitOfWork.around(se), rules, s.company_time_zone, datetime.now(UTC))))
    done["files"] = ingest_inbox(s, rules, killer)
    killer.at("ingest")
    done["enrich"] = asdict(stage("enrich", lambda se: enrich.enrich_pending(
        SqlUnitOfWork.around(se), rules, checkpoint=lambda *_: se.commit())))
    done["score"] = {k: v for k, v in asdict(stage("score", lambda se: score.score_open_leads(
        SqlUnitOfWork.around(se), rules))).items() if isinstance(v, int)}
    routed = stage("route", lambda se: route.route_pending(SqlUnitOfWork.around(se), rules, s.company_time_zone))
    done["route"] = {"assigned": routed.assigned, "held": routed.held, "unroutable": routed.unroutable}
    sender = KillingSender(sender_for(s), killer)
    # deliver opens its own units (one per claim batch and outcome); the stage's session is left unused
    done["deliver"] = asdict(stage("deliver", lambda se: deliver(sql_units(s.database_url), sender,
                                                                 lease=timedelta(seconds=s.outbox_lease_seconds))))
    done["retries"] = RETRIES
    print(json.dumps(done, default=str), flush=True)


def serve() -> None:
    """The fork server of ``--serve`` (single-threaded: nothing runs beside a fork)."""
    import select
    import traceback

    import leadops.tasks.common  # noqa: F401
    from leadops.intake import gate
    from leadops.config import get_settings, load_rules  # noqa: F401 - imported here once for every child
    from leadops.notify import outbox, senders  # noqa: F401
    from leadops.intake import files  # noqa: F401
    from leadops.services import enrich, roster, route, score  # noqa: F401

    gate._context()  # GX imported and its context built: what a warm validation process holds
    children: dict[int, str] = {}
    print(json.dumps({"ready": os.getpid()}), flush=True)
    stdin_open = True
    while stdin_open or children:
        readable = select.select([sys.stdin], [], [], 0.02)[0] if stdin_open else (time.sleep(0.02) or [])
        if readable:
            line = sys.stdin.readline()
            if not line:
                stdin_open = False
            elif line.strip():
                req = json.loads(line)
                pid = os.fork()
                if pid == 0:  # the pass
                    code = 1
                    try:
                        os.chdir(req["cwd"])
                        os.environ.clear()
                        os.environ.update(req["env"])
                        for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
                            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                            os.dup2(target, fd)
                            os.close(target)
                        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the child's stdout until it exits
                        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
                        main(req["argv"])
                        code = 0
                    except SystemExit as exc:
                        code = exc.code if isinstance(exc.code, int) else 1
                    except BaseException:  # noqa: BLE001 - reported as a process would: traceback, status 1
                        traceback.print_exc()
                    finally:
                        sys.stdout.flush()
                        sys.stderr.flush()
                        os._exit(code)
                children[pid] = req["id"]
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            print(json.dumps({"id": children.pop(pid), "pid": pid, "returncode": os.waitstatus_to_exitcode(status)}),
                  flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main(sys.argv[1:])
