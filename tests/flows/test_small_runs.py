"""A small lead-pipeline run in a process that stays up pays only for its own work: the validation process and the
imports of the first run are kept (issue 24); behaviour is unchanged (every row validated, Data Docs written)."""
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.flows.test_flows import CSV

#: modules a lead-pipeline run over a file does not use: GX runs in the validation process, the others belong
#: to the weekly report's charts, the conversion model, Slack (off in the sample) and Dask (LEADOPS_TASK_RUNNER)
HEAVY = ("great_expectations", "matplotlib", "sklearn", "scipy", "slack_sdk", "dask", "distributed", "altair")


def _file(run: str) -> str:
    """Return a lead file of new people (other names, emails and companies per ``run``), one of them with no valid
    email: two leads and a quarantined row."""
    return (CSV.replace("Léa,Martin,Atelier", f"Léa,Martin{run},Atelier{run}").replace("atelier-numerique", f"atelier{run}")
            .replace("Hans,Müller,Bäckerei", f"Hans,Müller{run},Bäckerei{run}").replace("baeckerei", f"baeckerei{run}"))


def _drop(inbox: Path, name: str, run: str) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_text(_file(run), encoding="utf-8")


def test_consecutive_pipeline_runs_keep_one_validation_process(leadops_env, session, roster):
    from leadops.flows.lead_pipeline import lead_pipeline
    from leadops.intake import validation_process

    docs = leadops_env.var_dir / "data_docs"
    pids, pages = [], []
    for run in ("one", "two"):
        _drop(leadops_env.inbox_dir, f"webform-{run}.csv", run)
        out = lead_pipeline()
        assert (out.rows_read, out.inserted, out.quarantined) == (3, 2, 1)  # every row still checked by the suites
        assert out.quarantine_reasons == {"email is missing or not a valid address": 1}
        pids.append(validation_process.pid())
        assert out.data_docs == str(docs / "index.html")
        pages.append(sorted(p.name for p in (docs / "validations").rglob("*.html")))
    assert pids[0] is not None and pids[0] == pids[1]  # not shut down after a run: the second found it warm
    # each run's Data Docs show its own validations (its two suites), not every run's since the process started
    assert pages[0] == pages[1] == ["leadops-raw.html", "leadops-rows.html"]


WARM_RUN = """
import json, sys
from pathlib import Path

if __name__ == "__main__":
    from leadops.flows.lead_pipeline import lead_pipeline

    inbox, files = Path(sys.argv[1]), json.loads(sys.argv[2])
    (inbox / "first.csv").write_text(files[0], encoding="utf-8")
    lead_pipeline()  # the first run: imports, the validation process
    before = set(sys.modules)
    (inbox / "second.csv").write_text(files[1], encoding="utf-8")
    out = lead_pipeline()
    print(json.dumps({"inserted": out.inserted, "new_modules": sorted(set(sys.modules) - before),
                      "loaded": sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[3:])}))
"""


def test_a_warm_run_imports_nothing_and_no_heavy_module(leadops_env, session, roster, tmp_path):
    """In a process of its own (this one imported everything already), against the test session's Prefect API."""
    from prefect.settings import get_current_settings

    script = tmp_path / "warm_run.py"
    script.write_text(WARM_RUN, encoding="utf-8")
    leadops_env.inbox_dir.mkdir(parents=True)
    files = [_file(run) for run in ("one", "two")]
    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url), "PREFECT_HOME": str(tmp_path / "ph")}
    done = subprocess.run([sys.executable, str(script), str(leadops_env.inbox_dir), json.dumps(files), *HEAVY],
                          capture_output=True, text=True, env=env, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["inserted"] == 2
    assert got["new_modules"] == []  # the second run imports nothing: what it uses is there already
    assert got["loaded"] == []
