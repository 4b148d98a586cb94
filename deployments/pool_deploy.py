"""Deploy every deployment of prefect.yaml to another work pool (leadops-docker, leadops-kubernetes).

`prefect deploy --all` ignores `--pool`, and copying the deployments into a second prefect.yaml
would declare them twice. This writes prefect.yaml with each deployment's work pool replaced to a
temporary file and runs one `prefect deploy --all` on it: schedules, triggers, parameters and
concurrency limits stay those of prefect.yaml.

    python -m leadops.deployments.pool_deploy leadops-docker [--home /opt/leadops]
"""
from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: Where the image of deployments/docker/Dockerfile holds the code: the flow runs' working directory.
IMAGE_HOME = "/opt/leadops"


def for_pool(spec: dict[str, Any], pool: str) -> dict[str, Any]:
    """Return a copy of the prefect.yaml ``spec`` whose deployments all run on work pool ``pool``
    (default queue; job variables of a deployment are kept)."""
    out = copy.deepcopy(spec)
    for d in out["deployments"]:
        d["work_pool"] = {**(d.get("work_pool") or {}), "name": pool}
        d["work_pool"].setdefault("work_queue_name", "default")
    return out


def deploy_command(prefect_file: Path) -> list[str]:
    """Return the `prefect deploy` command line that deploys every deployment of ``prefect_file``."""
    return [str(Path(sys.executable).parent / "prefect"), "--no-prompt", "deploy", "--all",
            "--prefect-file", str(prefect_file)]


def main(argv: list[str] | None = None) -> int:
    """Deploy prefect.yaml's deployments to the pool named on the command line; returns prefect's exit code."""
    parser = argparse.ArgumentParser(prog="python -m leadops.deployments.pool_deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("pool", help="work pool name, e.g. leadops-docker or leadops-kubernetes")
    parser.add_argument("--home", default=IMAGE_HOME,
                        help=f"the code's folder where the flow runs start (pull step); default {IMAGE_HOME}, the image's")
    args = parser.parse_args(argv)
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="leadops-deploy-") as tmp:
        target = Path(tmp) / "prefect.yaml"
        target.write_text(yaml.safe_dump(for_pool(spec, args.pool), sort_keys=False, allow_unicode=True),
                          encoding="utf-8")
        # the entry points of prefect.yaml are relative to the repository root
        return subprocess.run(deploy_command(target), cwd=ROOT, env={**os.environ, "LEADOPS_HOME": args.home},
                              check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
