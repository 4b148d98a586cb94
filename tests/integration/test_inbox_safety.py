"""Issue 19, item 4: the inbox reads regular files of its own user only, claims each file before reading
it (two real processes racing on one inbox: every file ingested once, the loser reports it taken and
succeeds), and never shows a refused file's content."""
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from leadops.db.models import IngestBatch, Lead, LeadMerge
from leadops.intake import inbox
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.intake.files import ingest_file
from leadops.intake.inbox import discover
from tests.support.gate import release
from tests.conftest import ROOT

SECRET = "root:x:0:0:secret-header-line:/root:/bin/bash\nsecond:line\n"


def make_inbox(settings):
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    return settings.inbox_dir


def test_symlink_is_refused_moved_as_a_link_and_its_target_never_shown(session, settings, rules, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text(SECRET)
    link = make_inbox(settings) / "leads.csv"
    link.symlink_to(outside)
    assert discover(settings.inbox_dir) == [link]  # listed, not followed
    out = ingest_file(SqlUnitOfWork.around(session), link, rules, settings, move=True)
    session.commit()
    assert out.status == "rejected" and "refused: a symbolic link" in out.error and "leads.csv" in out.error
    moved = settings.var_dir / "failed" / "leads.csv"
    assert moved.is_symlink() and not link.exists() and outside.read_text() == SECRET  # the target is untouched
    sidecar = (settings.var_dir / "failed" / "leads.csv.result.json").read_text()
    for text in (out.error, sidecar):
        assert "secret-header-line" not in text and "root:x" not in text
    assert session.scalar(select(func.count()).select_from(IngestBatch)) == 0  # nothing was read


def test_fifo_is_refused_without_blocking(session, settings, rules):
    fifo = make_inbox(settings) / "pipe.csv"
    os.mkfifo(fifo)
    out = ingest_file(SqlUnitOfWork.around(session), fifo, rules, settings, move=True)  # opening a FIFO to read would block here
    assert out.status == "rejected" and "a FIFO" in out.error
    assert not os.path.lexists(fifo)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_file_owned_by_another_user_is_refused(session, settings, rules):
    f = make_inbox(settings) / "theirs.csv"
    f.write_text("Email,Source\na@forge.fr,web_form\n")
    os.chown(f, 4242, -1)
    out = ingest_file(SqlUnitOfWork.around(session), f, rules, settings, move=True)
    assert out.status == "rejected" and "owned by user id 4242" in out.error


def test_a_file_held_by_another_process_is_reported_taken(session, settings, rules):
    f = make_inbox(settings) / "held.csv"
    f.write_text("Email,Source\na@forge.fr,web_form\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys, time; from pathlib import Path; from leadops.intake import inbox\n"
                                "with inbox.claim(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)"),
         str(f)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        out = ingest_file(SqlUnitOfWork.around(session), f, rules, settings, move=True)
        assert (out.status, out.error) == ("taken", f"{f}: taken by another run")
        assert f.exists() and session.scalar(select(func.count()).select_from(IngestBatch)) == 0
    finally:
        holder.kill()
        holder.wait()
    # the holder died: its lock went with it and the file is this run's now
    out = ingest_file(SqlUnitOfWork.around(session), f, rules, settings, move=True)
    assert (out.status, out.inserted) == ("done", 1)


def test_a_claim_is_exclusive_and_ends_with_its_block(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("Email\n")
    with inbox.claim(f), pytest.raises(inbox.Taken), inbox.claim(f):
        pass
    with inbox.claim(f):  # released
        pass
    f.unlink()
    with pytest.raises(inbox.Taken), inbox.claim(f):  # moved away by the winner
        pass


def test_two_processes_racing_on_one_inbox_ingest_every_file_once(settings, rules, db_url, tmp_path):
    box = make_inbox(settings)
    files, people = 12, 40
    for n in range(files):
        rows = "".join(f"p{n}x{i}@firm{n}.fr,P{i},N{n},Firm{n},FR,web_form\n" for i in range(people))
        (box / f"f{n:02d}.csv").write_text("Email,First Name,Last Name,Company,Country,Source\n" + rows)
    go = tmp_path / "GO"
    cmd = [sys.executable, "-m", "tests.support.inbox_racer", db_url, str(settings.var_dir), str(settings.config_dir),
           str(settings.expectations_dir), str(go)]
    racers = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    release(go, racers)  # GO once both have imported and listed the inbox: they race from there
    results = [r.communicate(timeout=300) for r in racers]
    for r, (_, err) in zip(racers, results, strict=True):
        assert r.returncode == 0, err[-2000:]
    outcomes = [json.loads(line) for out, _ in results for line in out.splitlines()]
    done = sorted(o["file"] for o in outcomes if o["status"] == "done")
    taken = [o for o in outcomes if o["status"] == "taken"]
    assert done == [f"f{n:02d}.csv" for n in range(files)]  # each file ingested by exactly one run
    assert len(taken) == files  # and reported taken by the other
    assert all(o["error"].endswith("taken by another run") for o in taken)
    assert not [o for o in outcomes if o["status"] not in ("done", "taken")]
    from leadops.db.session import session_scope

    with session_scope(db_url) as s:
        # every row once: a new lead, or merged into one (people of one firm may fuzzy-match)
        assert s.scalar(select(func.count()).select_from(Lead)) + s.scalar(select(func.count()).select_from(LeadMerge)) \
            == files * people
        assert s.scalar(select(func.count()).select_from(IngestBatch)) == files
    assert list(box.iterdir()) == []
