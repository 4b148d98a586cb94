"""`leadops run pipeline --json` with a rejected file: exactly one JSON object on stdout (the run's summary,
with the rejection) and a non-zero exit; the good file in the same inbox is ingested."""
import json
import subprocess

from tests.e2e.test_demo_cli import LEADOPS, env_for


def test_run_pipeline_json_prints_one_object_with_the_rejection(tmp_path):
    env = env_for(tmp_path)
    assert subprocess.run([LEADOPS, "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, timeout=120).returncode == 0
    inbox = tmp_path / "var" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "good.csv").write_text("Email,First Name,Source\nann@forge.fr,Ann,web_form\n", encoding="utf-8")
    (inbox / "no-email.csv").write_text("Name,Company\nJean,Forge\n", encoding="utf-8")
    proc = subprocess.run([LEADOPS, "run", "pipeline", "--json"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    out = json.loads(proc.stdout)  # the whole of stdout is one JSON object
    assert out["inserted"] == 1 and out["files_rejected"] == 1
    [rejected] = out["rejected"]
    assert rejected["file"].endswith("no-email.csv") and "required column 'email' is missing" in rejected["error"]
    assert "1 intake problem(s)" in out["error"]
    assert any(line.startswith("leadops: error: 1 intake problem(s)") for line in proc.stderr.splitlines())
