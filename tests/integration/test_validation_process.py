"""GX in a validation process beside intake: the same outcome as validating in-process, errors that
name the file, and a validation process that dies loses nothing and is replaced."""
import json
import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from leadops.intake import validation_process
from leadops.db.models import IngestBatch, Lead, Quarantine
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.intake.files import ingest_file
from tests.integration.test_chunked_intake import line, write

ROOT = Path(__file__).resolve().parents[2]


def outcome(session, settings, rules, name: str, lines: list[str], **update):
    s = settings.model_copy(update={"intake_chunk_rows": 100, **update})
    out = ingest_file(SqlUnitOfWork.around(session), write(s.inbox_dir, name, lines), rules, s, move=False)
    session.commit()
    return out


def test_the_validation_process_gives_the_same_outcome_as_in_process(session, settings, rules):
    lines = [line(i) for i in range(260)]
    lines[7] = line(7, email="bad@")
    lines[150] = line(150, email="x@yopmail.com")  # disposable: quarantined by the row suite
    lines[201] = lines[200].replace("Ana200", "ANA200 ").replace("p200@", "P200@")  # exact duplicate
    here = outcome(session, settings, rules, "here.csv", lines, validation_process=False)
    quarantined_here = sorted((q.source_row, tuple(q.reasons)) for q in session.scalars(select(Quarantine)))
    other = [ln.replace("@firm", "@other") for ln in lines]
    there = outcome(session, settings, rules, "there.csv", other, validation_process=True)
    quarantined_there = sorted((q.source_row, tuple(q.reasons)) for q in session.scalars(
        select(Quarantine).where(Quarantine.ingest_batch_id == there.batch_id)))
    assert (here.rows_read, here.inserted, here.merged, here.quarantined) == (260, 257, 1, 2)
    assert (there.rows_read, there.inserted, there.merged, there.quarantined) == (260, 257, 1, 2)
    assert here.reasons == there.reasons and quarantined_here == quarantined_there
    assert [v["success"] for v in here.validation] == [v["success"] for v in there.validation]


def test_a_broken_suite_is_reported_with_its_path_from_the_validation_process(session, settings, rules, tmp_path):
    suites = tmp_path / "expectations"
    suites.mkdir()
    for f in (ROOT / "expectations").glob("*.json"):
        (suites / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    spec = json.loads((suites / "leads_intake.json").read_text(encoding="utf-8"))
    spec["expectations"].append({"type": "expect_column_values_to_be_frobnicated", "kwargs": {"column": "email"}})
    (suites / "leads_intake.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(ValueError, match=r"leads_intake\.json: invalid expectation suite"):
        outcome(session, settings, rules, "broken.csv", [line(i) for i in range(20)], expectations_dir=suites,
                validation_process=True)


def _validation_pid() -> int:
    validation_process.warm_up(in_process=False)
    record = {"email": "a@b.fr", "is_disposable_email": False, "country_unrecognized": None, "date_error": None,
              "source": "web_form", "company": "A", "job_title": "CTO"}
    validation_process.result(
        validation_process.submit_rows([record], ROOT / "expectations" / "leads_intake.json", in_process=False), "a warm-up")
    [pid] = list(validation_process._pool._processes)  # the pool's one process
    return pid


def test_a_dead_validation_process_is_replaced_for_the_next_file(session, settings, rules):
    os.kill(_validation_pid(), signal.SIGKILL)
    out = outcome(session, settings, rules, "after.csv", [line(i) for i in range(150)], validation_process=True)
    assert (out.status, out.inserted) == ("done", 150)


def _killing_after(monkeypatch, nth: int, every: bool = False) -> list:
    """Make the validation process die right after the ``nth`` job is submitted (and after every later one)."""
    real, calls = validation_process.Job._start, []

    def start_then_kill(job):
        future = real(job)
        calls.append(job.fn)
        if not job.in_process and (len(calls) == nth or (every and len(calls) > nth)):
            os.kill(next(iter(validation_process._pool._processes)), signal.SIGKILL)  # dies under this job
        return future

    monkeypatch.setattr(validation_process.Job, "_start", start_then_kill)
    return calls


def test_a_validation_process_dying_mid_file_is_replaced_and_the_chunk_validated_again(session, settings, rules,
                                                                                        monkeypatch):
    lines = [line(i) for i in range(350)]
    lines[160] = line(160, email="bad@")  # in chunk 2, which the first validation process dies under
    calm = outcome(session, settings, rules, "calm.csv", [ln.replace("@firm", "@calm") for ln in lines])
    _validation_pid()
    calls = _killing_after(monkeypatch, 2)
    out = outcome(session, settings, rules, "mid.csv", lines, validation_process=True)
    assert len(calls) > 3  # one job per chunk (gate, normalize, row suite); those under the kill ran again
    assert (out.status, out.rows_read, out.inserted, out.quarantined) == ("done", 350, 349, 1)
    assert out.reasons == calm.reasons
    assert session.scalar(select(Quarantine.source_row).where(Quarantine.ingest_batch_id == out.batch_id)) == 162


def test_a_validation_process_dying_again_and_again_stores_nothing_of_the_file(session, settings, rules, monkeypatch):
    _validation_pid()
    _killing_after(monkeypatch, 2, every=True)
    with pytest.raises(validation_process.ValidationProcessDied,
                       match=r"died twice while validating .*mid\.csv \(in rows \d+-\d+\).*nothing of it was stored"):
        outcome(session, settings, rules, "mid.csv", [line(i) for i in range(350)], validation_process=True)
    session.rollback()  # what the pipeline's session scope does with any exception
    assert session.scalar(select(Lead).limit(1)) is None
    assert session.scalar(select(IngestBatch).limit(1)) is None  # no trace: a rerun ingests it whole
    monkeypatch.undo()
    out = outcome(session, settings, rules, "mid.csv", [line(i) for i in range(350)], validation_process=True)
    assert (out.status, out.inserted) == ("done", 350)


def test_rows_cross_to_the_validation_process_unchanged():
    import pickle

    from leadops.intake.reading.rows import RawRow
    from leadops.intake.transport import PackedRows

    rows = [RawRow(2, {"email": "a@b.fr", "company": None}, {"Email": "a@b.fr", "Company": "-"}),
            RawRow(3, {}, {"_line": "{", "_error": "invalid JSON: Expecting property name"}),  # unreadable line
            RawRow(5, {"company": "Acme", "email": None}, {"Email": ""}),  # same fields, other order
            RawRow(9, {"email": "c@d.fr"}, {})]  # fewer fields
    back = pickle.loads(pickle.dumps(PackedRows.of(rows))).unpack()
    assert [(r.row_number, r.fields) for r in back] == [(r.row_number, r.fields) for r in rows]
    assert [r.raw for r in back] == [{}, {"_error": "invalid JSON: Expecting property name"}, {}, {}]
    assert PackedRows.of([]).unpack() == []


def _while_starting(monkeypatch) -> list[str]:
    """Make intake see a validation process that never finishes starting; returns the names of the
    jobs it submits."""
    real, jobs = validation_process.Job._start, []

    def start(job):
        jobs.append(job.fn.__name__)
        return real(job)

    monkeypatch.setattr(validation_process, "starting", lambda in_process: not in_process)
    monkeypatch.setattr(validation_process.Job, "_start", start)
    return jobs


def test_chunks_normalized_here_while_the_validation_process_starts_give_the_same_outcome(session, settings, rules,
                                                                                          monkeypatch):
    lines = [line(i) for i in range(760)]
    lines[7] = line(7, email="bad@")
    lines[150] = line(150, email="x@yopmail.com")  # quarantined by the row suite
    lines[201] = lines[200].replace("Ana200", "ANA200 ").replace("p200@", "P200@")  # duplicate in the same chunk
    lines[650] = lines[3].replace("Lopez3", "LOPEZ3")  # duplicate of a row six chunks back
    here = outcome(session, settings, rules, "here.csv", lines, validation_process=False)
    rows_here = sorted((q.source_row, tuple(q.reasons), q.raw["Email"]) for q in session.scalars(select(Quarantine)))
    jobs = _while_starting(monkeypatch)
    other = [ln.replace("@firm", "@other") for ln in lines]
    there = outcome(session, settings, rules, "there.csv", other, validation_process=True)
    rows_there = sorted((q.source_row, tuple(q.reasons), q.raw["Email"].replace("@other", "@firm")) for q in session.scalars(
        select(Quarantine).where(Quarantine.ingest_batch_id == there.batch_id)))
    assert jobs == ["check_frames"] * 8  # every chunk normalized here, checked over there
    assert (here.rows_read, here.inserted, here.merged, here.quarantined) == (760, 756, 2, 2)
    assert (there.rows_read, there.inserted, there.merged, there.quarantined) == (760, 756, 2, 2)
    assert here.reasons == there.reasons and rows_here == rows_there
    assert [v["success"] for v in here.validation] == [v["success"] for v in there.validation]
    stored = {e.replace("@other", "@firm"): (f, c) for e, f, c in session.execute(
        select(Lead.email, Lead.first_name, Lead.country).where(Lead.ingest_batch_id == there.batch_id))}
    assert stored == {e: (f, c) for e, f, c in session.execute(
        select(Lead.email, Lead.first_name, Lead.country).where(Lead.ingest_batch_id == here.batch_id))}


def test_a_chunk_normalized_here_that_fails_the_gate_rejects_the_file(session, settings, rules, monkeypatch):
    lines = [line(i) for i in range(300)]
    for i in range(200, 260):  # the third chunk's email fill rate: 40%
        lines[i] = line(i, email="")
    _while_starting(monkeypatch)
    out = outcome(session, settings, rules, "gate.csv", lines, validation_process=True)
    assert out.status == "rejected" and "email fill rate 40% is under the required 80%" in out.error
    assert "rows 202-301" in out.error
    assert session.scalar(select(Lead).limit(1)) is None and session.scalar(select(Quarantine).limit(1)) is None


def test_chunks_read_ahead_while_the_validation_process_starts_are_bounded(session, settings, rules, monkeypatch):
    from leadops.intake import batches, files
    from leadops.intake.stages import Stages

    _while_starting(monkeypatch)
    read, at_first_store = [], []
    real_chunks, real_store = batches.with_small_tail, files.LEADS.store

    def counting(chunks, size):
        for chunk in real_chunks(chunks, size):
            read.append(len(chunk))
            yield chunk

    def store(*args):
        at_first_store.append(len(read))
        return real_store(*args)

    monkeypatch.setattr(batches, "with_small_tail", counting)
    monkeypatch.setattr(files, "LEADS", Stages(files.LEADS.normalize, files.LEADS.suite, files.LEADS.decide, store))
    out = outcome(session, settings, rules, "long.csv", [line(i) for i in range(1000)], validation_process=True)
    assert (out.status, out.inserted, len(read)) == ("done", 1000, 10)
    assert at_first_store[0] == batches.AHEAD_WHILE_STARTING + 1  # then one stored per chunk read
    assert at_first_store == [min(n + batches.AHEAD_WHILE_STARTING + 1, 10) for n in range(10)]


def test_the_validation_process_is_starting_until_its_first_job_answered(monkeypatch):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    _validation_pid()  # a real validation process, which answered a first validation
    assert not validation_process.starting(in_process=False)
    assert not validation_process.starting(in_process=True)
    probe: Future = Future()  # as just after a spawn: the job queued behind its initializer has not run
    monkeypatch.setattr(validation_process, "_started", probe)
    assert validation_process.starting(in_process=False)
    assert not validation_process.starting(in_process=True)  # validations run here: nothing to wait for
    probe.set_result(True)
    assert not validation_process.starting(in_process=False)
    died: Future = Future()
    died.set_exception(BrokenProcessPool("killed while importing GX"))
    monkeypatch.setattr(validation_process, "_started", died)
    assert not validation_process.starting(in_process=False)  # its next job starts a new one (and waits then)


def test_the_collector_is_off_while_a_file_is_admitted_with_gx_elsewhere_and_on_again_after(session, settings, rules,
                                                                                           monkeypatch):
    import gc

    from leadops.db.repositories.intake import SqlIntakeRepository

    enabled: list[bool] = []
    store = SqlIntakeRepository.store_leads

    def spy(self, *args, **kwargs):
        enabled.append(gc.isenabled())
        return store(self, *args, **kwargs)

    monkeypatch.setattr(SqlIntakeRepository, "store_leads", spy)
    thresholds = gc.get_threshold()
    lines = [line(i) for i in range(150)]  # two chunks of 100 rows
    there = outcome(session, settings, rules, "gc-there.csv", lines, validation_process=True)
    assert gc.isenabled() and gc.get_threshold() == thresholds
    here = outcome(session, settings, rules, "gc-here.csv", [ln.replace("@firm", "@other") for ln in lines],
                   validation_process=False)  # GX here: its objects form cycles, the collector stays on
    assert gc.isenabled() and gc.get_threshold() == thresholds
    assert enabled == [False, False, True, True]
    assert (there.inserted, here.inserted) == (150, 150)
