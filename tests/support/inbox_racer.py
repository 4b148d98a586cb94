"""A run draining one inbox, for race tests: waits until ``GO`` exists, then ingests every inbox entry
(claiming each, as the pipeline's ingest task does) and prints one JSON line per outcome.

    python -m tests.support.inbox_racer DATABASE_URL VAR_DIR CONFIG_DIR EXPECTATIONS_DIR GO
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    url, var_dir, config_dir, expectations_dir, go = sys.argv[1:6]
    from leadops.config import get_settings, load_rules
    from leadops.db.session import session_scope
    from leadops.intake import inbox
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.intake.files import ingest_file
    from leadops.intake.inbox import discover, move_with_sidecar
    from leadops.intake.outcome import FileOutcome

    s = get_settings(database_url=url, var_dir=Path(var_dir), config_dir=Path(config_dir),
                     expectations_dir=Path(expectations_dir), validation_process=False)
    rules = load_rules(s.config_dir)
    paths = discover(s.inbox_dir)  # both runs list the same files before either takes one
    from tests.support.gate import mark_ready

    mark_ready(Path(go))
    while not Path(go).exists():
        time.sleep(0.01)
    from sqlalchemy.exc import OperationalError

    for path in paths:
        # as the pipeline's ingest task does: claim, ingest, commit, then move; a transient error
        # (SQLite: another writer holds the database, and a read transaction turning into a write
        # one gets "database is locked" at once) is retried, as the task's retries would
        for attempt in range(60):
            try:
                with inbox.claim(path):
                    with session_scope(url) as session:
                        out = ingest_file(SqlUnitOfWork.around(session), path, rules, s, move=False)
                    folder = s.var_dir / ("failed" if out.status == "rejected" else "processed")
                    out.moved_to = str(move_with_sidecar(path, folder, out.as_dict()))
                break
            except inbox.Taken as exc:
                out = FileOutcome(str(path), "taken", error=str(exc))
                break
            except OperationalError:
                if attempt == 59:
                    raise
                time.sleep(min(0.1 * 2 ** attempt, 1.0))
        print(json.dumps({"file": Path(out.file).name, "status": out.status, "inserted": out.inserted,
                          "error": out.error}), flush=True)


if __name__ == "__main__":
    main()
