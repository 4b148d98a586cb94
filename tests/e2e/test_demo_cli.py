"""The `leadops` command as a user runs it: a subprocess, a fresh folder, a local ephemeral Prefect API."""
import json
import os
import subprocess
import sys
from pathlib import Path


from tests.conftest import ROOT

LEADOPS = str(Path(sys.executable).with_name("leadops"))


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_"))}
    env.update({
        "LEADOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'leadops.db'}",
        "LEADOPS_VAR_DIR": str(tmp_path / "var"),
        "LEADOPS_CONFIG_DIR": str(ROOT / "config"),
        "LEADOPS_EXPECTATIONS_DIR": str(ROOT / "expectations"),
        "PREFECT_HOME": str(tmp_path / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **extra,
    })
    return env


def test_demo_json_reports_every_stage_and_a_report_that_exists(tmp_path):
    env = env_for(tmp_path)
    del env["LEADOPS_VAR_DIR"]  # the default, relative `var/`, as `make demo` runs it
    proc = subprocess.run([LEADOPS, "demo", "--json", "--anchor", "2026-11-20"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, "stdout must hold exactly one JSON object"
    out = json.loads(lines[0])
    for key in ("ingested", "quarantined", "enriched", "scored", "routed", "sla_open"):
        assert out[key] > 0, key
    assert Path(out["report_path"]).is_file()
    assert (tmp_path / "var" / "data_docs" / "index.html").is_file()
    assert "ERROR" not in proc.stderr and "WARNING |" not in proc.stderr, proc.stderr[-3000:]


def test_failing_command_exits_non_zero_with_one_line_reason(tmp_path):
    proc = subprocess.run([LEADOPS, "db", "upgrade", "--json"], cwd=tmp_path,
                          env=env_for(tmp_path, LEADOPS_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("leadops: error: ") and len(proc.stderr.strip().splitlines()) == 1


def test_bad_rule_file_is_reported_before_anything_runs(tmp_path):
    import shutil

    cfg = tmp_path / "config"
    shutil.copytree(ROOT / "config", cfg)
    (cfg / "sla.yaml").write_text((cfg / "sla.yaml").read_text().replace("first_touch: 1h", "first_touch: soon"))
    proc = subprocess.run([LEADOPS, "seed", "--json"], cwd=tmp_path,
                          env=env_for(tmp_path, LEADOPS_CONFIG_DIR=str(cfg)), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2  # a rule file a rerun cannot fix
    assert "sla.yaml" in proc.stderr and "first_touch" in proc.stderr and "'soon'" in proc.stderr


def test_ingest_command_prints_counts_and_reasons(tmp_path):
    env = env_for(tmp_path)
    assert subprocess.run([LEADOPS, "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True).returncode == 0
    f = tmp_path / "leads.csv"
    f.write_text("Courriel;Prénom;Pays\nana@forge.fr;Ana;Espagne\npas un email;Bob;France\n", encoding="utf-8")
    proc = subprocess.run([LEADOPS, "ingest", str(f), "--json"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["rows_read"], out["inserted"], out["merged"], out["quarantined"]) == (2, 1, 0, 1)
    assert out["reasons"] == [{"reason": "email is missing or not a valid address", "count": 1}]
    assert f.exists()  # not moved unless --move


def test_ingest_command_rejects_a_file_without_email_naming_file_and_problem(tmp_path):
    env = env_for(tmp_path)
    subprocess.run([LEADOPS, "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True)
    f = tmp_path / "names.csv"
    f.write_text("Nom,Prénom\nDupont,Jean\n", encoding="utf-8")
    proc = subprocess.run([LEADOPS, "ingest", str(f)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert str(f) in proc.stderr and "email" in proc.stderr and proc.stderr.startswith("leadops: error: ")


def test_enrich_command_reports_per_provider_numbers(tmp_path):
    import shutil

    import yaml

    from tests.support.firmo_server import FirmoServer

    cfg = tmp_path / "config"
    shutil.copytree(ROOT / "config", cfg)
    with FirmoServer("cli-key") as srv:
        srv.add("acme.fr", name="Acme", industry="Software", employees=300)
        sources = yaml.safe_load((cfg / "sources.yaml").read_text(encoding="utf-8"))
        sources["providers"] = [{"name": "clearbit", "preset": "clearbit", "base_url": srv.base,
                                 "token_env": "FIRMO_KEY", "rate_limit_per_second": 20}]
        (cfg / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
        env = env_for(tmp_path, LEADOPS_CONFIG_DIR=str(cfg), FIRMO_KEY="cli-key")
        leads = tmp_path / "leads.csv"
        leads.write_text("Email,Last Name\nana@acme.fr,Lopez\nbob@unknown.io,Martin\ncid@gmail.com,Durand\n",
                         encoding="utf-8")
        subprocess.run([LEADOPS, "ingest", str(leads)], env=env, check=True, capture_output=True, timeout=120)
        proc = subprocess.run([LEADOPS, "enrich", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert (out["enriched"], out["not_enriched"], out["skipped"]) == (1, 1, 1)
    p = out["providers"]["clearbit"]
    assert (p["lookups"], p["hits"], p["misses"], p["errors"], p["cache_hits"]) == (2, 1, 1, 0, 0)
    assert p["p50_ms"] > 0 and p["p95_ms"] >= p["p50_ms"] and p["circuit"] == "closed"
    assert "cli-key" not in proc.stdout + proc.stderr


def test_score_command_rescores_and_prints_the_distribution(tmp_path):
    env = env_for(tmp_path)
    leads = tmp_path / "leads.csv"
    leads.write_text("Email,Last Name,Job Title,Source\nana@acme.fr,Lopez,CTO,demo_request\nbob@acme.fr,Martin,,import\n",
                     encoding="utf-8")
    subprocess.run([LEADOPS, "ingest", str(leads)], env=env, check=True, capture_output=True, timeout=120)
    first = json.loads(subprocess.run([LEADOPS, "score", "--json"], env=env, capture_output=True, text=True,
                                      timeout=120, check=True).stdout)
    assert first["scored"] == 2 and first["promoted_mql"] == 1 and first["distribution_before"] == {"unscored": 2}
    again = json.loads(subprocess.run([LEADOPS, "score", "--all", "--source", "import", "--json"], env=env,
                                      capture_output=True, text=True, timeout=120, check=True).stdout)
    assert again["scored"] == 1 and again["changed"] == 0
    bad = subprocess.run([LEADOPS, "score", "--stage", "new"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "add --all" in bad.stderr


def test_score_train_from_a_crm_export_and_from_history(tmp_path):
    import numpy as np

    rng = np.random.default_rng(5)
    lines = ["Lead ID;Secteur;Effectif;Pays;Converti"]
    for i in range(400):
        sector = rng.choice(["Logiciel", "Commerce", "Mines", "Select"])
        converted = rng.random() < (0.7 if sector == "Logiciel" else 0.15)
        lines.append(f"{i};{sector};{rng.integers(1, 900) if rng.random() > 0.1 else ''};"
                     f"{rng.choice(['France', 'Belgique', ''])};{'Oui' if converted else 'Non'}")
    export = tmp_path / "crm-export.csv"
    export.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    env = env_for(tmp_path)
    proc = subprocess.run([LEADOPS, "score", "train", "--csv", str(export), "--label", "Converti", "--exclude", "Lead ID",
                           "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert (out["n_train"], out["n_test"]) == (300, 100) and out["auc"] > 0.65
    assert out["top_features"][0]["feature"] == "Secteur=Logiciel"
    assert out["numeric_columns"] == ["Effectif"] and "Lead ID" not in out["categorical_columns"]
    # chosen by cross-validation, its held-out AUC is the chosen candidate's, with the other figures beside it
    assert out["model"] == max(out["cv_auc"], key=out["cv_auc"].get) and out["auc"] == out["holdout_auc"][out["model"]]
    assert 0 < out["brier"] < 0.25 and out["lift_top_decile"] > 1 and out["rules"] == {}

    # with the CRM's own score given, the rules are compared on the same held-out rows
    scored = tmp_path / "crm-export-scored.csv"
    rows = [line.split(";") for line in lines]
    rows[0].append("Score")
    for row in rows[1:]:
        row.append(str(40 if row[1] == "Logiciel" else 10))
    scored.write_text("\n".join(";".join(r) for r in rows) + "\n", encoding="utf-8")
    proc = subprocess.run([LEADOPS, "score", "train", "--csv", str(scored), "--label", "Converti", "--exclude", "Lead ID",
                           "--rules-score", "Score"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "rules-only score on the same rows: AUC 0." in proc.stdout and "Score" not in proc.stdout.split("held-out AUC")[1]
    bad = subprocess.run([LEADOPS, "score", "train", "--csv", str(scored), "--label", "Converti", "--rules-score", "Nope"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no column 'Nope'" in bad.stderr

    bad = subprocess.run([LEADOPS, "score", "train", "--csv", str(export), "--label", "Nope"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "no column 'Nope'" in bad.stderr and "crm-export.csv" in bad.stderr

    subprocess.run([LEADOPS, "seed", "--anchor", "2026-11-23"], env=env, check=True, capture_output=True, timeout=300)
    proc = subprocess.run([LEADOPS, "score", "train", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    hist = json.loads(proc.stdout)
    assert hist["n_train"] > 500 and hist["positives_train"] > 10 and hist["auc"] is not None
    assert hist["rules"]["leads"] == hist["n_test"] and hist["rules"]["auc"] is not None  # the rules at arrival
    assert Path(hist["model_path"]).exists() and len(hist["examples"]) == 5
    assert all(len(e["top_factors"]) >= 1 for e in hist["examples"])


def test_route_explain_and_reassign_commands(tmp_path):
    env = env_for(tmp_path)
    subprocess.run([LEADOPS, "seed", "--anchor", "2026-11-23"], env=env, check=True, capture_output=True, timeout=300)
    leads = tmp_path / "leads.csv"
    leads.write_text("Email,First Name,Last Name,Country,Source\nnina@newco.fr,Nina,Roux,France,demo_request\n",
                     encoding="utf-8")
    subprocess.run([LEADOPS, "ingest", str(leads)], env=env, check=True, capture_output=True, timeout=120)
    subprocess.run([LEADOPS, "score"], env=env, check=True, capture_output=True, timeout=120)
    routed = json.loads(subprocess.run([LEADOPS, "route", "--json"], env=env, check=True, capture_output=True,
                                       text=True, timeout=120).stdout)
    assert routed["assigned"] >= 1 and sum(routed["per_sdr"].values()) == routed["assigned"]
    lead_id = next(a["lead_id"] for a in routed["assignments"])
    first = routed["assignments"][0]["sdr"]
    target = "s.moreau" if first != "s.moreau" else "s.dubois"
    moved = subprocess.run([LEADOPS, "reassign", str(lead_id), "--to", target, "--json"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert moved.returncode == 0, moved.stderr
    text = subprocess.run([LEADOPS, "explain", str(lead_id)], env=env, capture_output=True, text=True, timeout=120).stdout
    assert f"manual assigned: {target}" in text and "why: reassigned by hand" in text and first in text
    missing = subprocess.run([LEADOPS, "explain", "999999"], env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no lead has the id 999999" in missing.stderr  # a bad argument: exit 2


def test_routing_backtest_command_on_the_sample(tmp_path):
    import shutil

    env = env_for(tmp_path)
    subprocess.run([LEADOPS, "seed", "--anchor", "2026-11-23"], env=env, check=True, capture_output=True, timeout=300)
    proc = subprocess.run([LEADOPS, "routing", "backtest", "--since", "2026-10-01", "--json"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["leads"] > 500 and sum(out["simulated"].values()) + out["unroutable"] + out["held"] == out["leads"]
    assert sum(out["actual"].values()) > 0 and any(p["leads"] for p in out["pools"].values())
    assert out["pools"].keys() == out["actual_pools"].keys() and out["changed"] == 0  # the rules in force, replayed
    candidate = tmp_path / "routing.yaml"
    shutil.copy(ROOT / "config" / "routing.yaml", candidate)
    candidate.write_text(candidate.read_text(encoding="utf-8").replace("s.moreau", "s.ghost"), encoding="utf-8")
    bad = subprocess.run([LEADOPS, "routing", "backtest", "--since", "2026-10-01", "--config", str(candidate)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "s.ghost" in bad.stderr


def test_rerun_commands_go_through_prefect(tmp_path):
    env = env_for(tmp_path)
    leads = tmp_path / "leads.csv"
    leads.write_text("Email,Last Name,Source\nana@acme.fr,Lopez,demo_request\nbad-email,Nobody,web_form\n", encoding="utf-8")
    subprocess.run([LEADOPS, "ingest", str(leads)], env=env, check=True, capture_output=True, timeout=120)
    out = subprocess.run([LEADOPS, "rerun", "reports", "--from", "2026-W46", "--to", "2026-W47", "--json"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert [w["week"] for w in json.loads(out.stdout.strip().splitlines()[-1])["weeks"]] == ["2026-W46", "2026-W47"]
    q = subprocess.run([LEADOPS, "rerun", "quarantine", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert q.returncode == 0, q.stderr[-2000:]
    assert json.loads(q.stdout.strip().splitlines()[-1])["still_held"] == 1


def _snapshot(tmp_path: Path) -> dict:
    """Row count of every table, and the files under var/ that runs add to (outbox, processed, failed, inbox)."""
    import sqlite3

    db = sqlite3.connect(tmp_path / "leadops.db")
    try:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        counts = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        db.close()
    var = tmp_path / "var"
    files = {d: sorted(str(p.relative_to(var / d)) for p in (var / d).rglob("*") if p.is_file())
             for d in ("outbox", "processed", "failed", "inbox")}
    return {"tables": counts, "files": files}


def test_demo_twice_changes_nothing_and_a_rescore_right_after_moves_no_stage(tmp_path):
    """`make demo` run twice: the second run writes no row, no file, no notification and says so; and
    `leadops score --all` right after (no config change) moves no lead: the sample agrees with scoring.yaml."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    env = env_for(tmp_path)
    # today, as `make demo` seeds it; fixed once so both runs seed the same sample even across midnight
    anchor = datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    first = subprocess.run([LEADOPS, "demo", "--json", "--anchor", anchor], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    out1 = json.loads(first.stdout)
    assert out1["ingested"] > 0 and out1["notifications_sent"] > 0 and not out1["nothing_new"]
    before = _snapshot(tmp_path)
    assert before["files"]["processed"] and before["files"]["outbox"]

    second = subprocess.run([LEADOPS, "demo", "--anchor", anchor], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert _snapshot(tmp_path) == before
    assert "Nothing new was done" in second.stdout

    rescore = subprocess.run([LEADOPS, "score", "--all", "--json"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert rescore.returncode == 0, rescore.stderr[-3000:]
    out = json.loads(rescore.stdout)
    assert out["scored"] > 500
    assert out["stage_changes"] == {} and (out["promoted_mql"], out["nurtured"], out["disqualified"]) == (0, 0, 0)
