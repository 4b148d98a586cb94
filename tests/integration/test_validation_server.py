"""A served process's validation server: the runs it starts (each a new process) send their GX work to one warm
validation process instead of starting their own, with the same outcome; a server that died costs a run nothing
but the start of a validation process of its own; only this user's processes can use it."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from leadops.intake import validation_process, validation_server

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "expectations" / "leads_intake.json"
RECORD = {"email": "a@b.fr", "is_disposable_email": True, "country_unrecognized": None, "date_error": None,
          "source": "web_form", "company": "A", "job_title": "CTO"}

# what a served flow run does with GX, in a process of its own: validate a row, build Data Docs, report
RUN = """
import json, sys
from pathlib import Path
from leadops.intake import validation_process

if __name__ == "__main__":
    record, suite, docs = json.loads(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    job = validation_process.submit_rows([record], suite, in_process=False)
    out = validation_process.result(job, "a served run's file")
    index = validation_process.build_data_docs(docs, in_process=False)
    print(json.dumps({"failures": {str(k): v for k, v in out.failures.items()}, "pid": validation_process.pid(),
                      "index": index, "gx_here": "great_expectations" in sys.modules}))
"""


@pytest.fixture
def server(monkeypatch):
    """A validation server as `leadops serve` starts it, named in this process's environment; stopped after."""
    validation_process.shutdown()  # this process's own validation process, if an earlier test started one
    proc = validation_server.start()
    folder = Path(os.environ[validation_process.ENV])
    yield proc
    validation_process.shutdown()
    validation_server.stop(proc, folder)
    monkeypatch.delenv(validation_process.ENV, raising=False)


def served_run(tmp_path: Path, name: str) -> dict:
    script = tmp_path / "served_run.py"
    script.write_text(RUN, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), json.dumps(RECORD), str(SUITE), str(tmp_path / name)],
                          capture_output=True, text=True, env=os.environ, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_served_runs_share_one_warm_validation_process(server, tmp_path):
    first, second = served_run(tmp_path, "docs-1"), served_run(tmp_path, "docs-2")
    assert first["pid"] == second["pid"] == server.pid  # one validation process for both runs: the server
    assert first["failures"] == second["failures"] == {"0": ["email uses a disposable-address domain"]}
    assert not first["gx_here"] and not second["gx_here"]  # GX stays in the server, out of the runs' processes
    for run in (first, second):  # each run's Data Docs show its validation
        pages = "".join(p.read_text(encoding="utf-8") for p in Path(run["index"]).parent.rglob("*.html"))
        assert "leads_intake" in pages


def test_a_run_whose_validation_server_died_validates_with_a_process_of_its_own(server):
    job = validation_process.submit_rows([RECORD], SUITE, in_process=False)
    assert validation_process.result(job, "before").failures == {0: ["email uses a disposable-address domain"]}
    assert validation_process.pid() == server.pid
    os.kill(server.pid, signal.SIGKILL)
    server.join(10)
    job = validation_process.submit_rows([RECORD], SUITE, in_process=False)
    assert validation_process.result(job, "after").failures == {0: ["email uses a disposable-address domain"]}
    assert validation_process.pid() not in (None, server.pid)  # a validation process of this run's own


def test_the_validation_server_refuses_a_client_without_its_key(server, tmp_path):
    from multiprocessing import AuthenticationError, connection

    folder = Path(os.environ[validation_process.ENV])
    assert oct(folder.stat().st_mode & 0o777) == "0o700" and oct((folder / "authkey").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(AuthenticationError):
        connection.Client(str(folder / "socket"), family="AF_UNIX", authkey=b"not the key")


# a server whose socket takes a second from bind() to listen(), as on a loaded machine: start() must not return
# (and name the server to the runs) before the socket listens, or the first client is refused
SLOW_LISTEN = """
import socket, time
_bind = socket.socket.bind
def bind(self, address):
    _bind(self, address)
    if isinstance(address, str) and address.endswith("/socket"):
        time.sleep(1.0)
socket.socket.bind = bind
"""
FIRST_CLIENT = """
import os
from multiprocessing import AuthenticationError, connection
from pathlib import Path
from leadops.intake import validation_process, validation_server

if __name__ == "__main__":
    proc = validation_server.start()
    folder = Path(os.environ[validation_process.ENV])
    try:
        connection.Client(str(folder / "socket"), family="AF_UNIX", authkey=b"not the key")
    except AuthenticationError:
        print("listening")
    except OSError as exc:
        print(type(exc).__name__)
    finally:
        validation_server.stop(proc, folder)
"""


def test_start_returns_once_the_server_listens_however_slow_its_socket(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(SLOW_LISTEN, encoding="utf-8")
    (tmp_path / "first_client.py").write_text(FIRST_CLIENT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop(validation_process.ENV, None)
    done = subprocess.run([sys.executable, str(tmp_path / "first_client.py")], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "listening"


def test_without_a_reachable_server_a_run_starts_its_own_validation_process(monkeypatch, tmp_path):
    validation_process.shutdown()
    monkeypatch.setenv(validation_process.ENV, str(tmp_path / "gone"))
    job = validation_process.submit_rows([RECORD], SUITE, in_process=False)
    assert validation_process.result(job, "a file").failures == {0: ["email uses a disposable-address domain"]}
    assert isinstance(validation_process._pool, validation_process.ProcessPoolExecutor)
    validation_process.shutdown()


@pytest.mark.parametrize("flag,started", [([], True), (["--no-validation-server"], False)])
def test_leadops_serve_starts_the_validation_server_its_runs_find(monkeypatch, tmp_path, flag, started):
    from typer.testing import CliRunner

    from leadops import cli
    from leadops.config import get_settings
    from leadops.deployments import serve

    seen, servers = {}, []
    real_start = validation_server.start
    monkeypatch.setattr(validation_server, "start", lambda: servers.append(real_start()) or servers[-1])
    monkeypatch.setattr(cli, "_preflight", lambda: get_settings(config_dir=ROOT / "config"))
    # what Prefect's runner passes to each run it starts: this process's environment
    monkeypatch.setattr(serve, "main", lambda spec: seen.update(env=os.environ.get(validation_process.ENV)))
    monkeypatch.delenv(validation_process.ENV, raising=False)
    try:
        done = CliRunner().invoke(cli.app, ["serve", "--prefect-yaml", str(ROOT / "prefect.yaml"), *flag])
        assert done.exit_code == 0, done.output
        assert bool(seen["env"]) is started and len(servers) == int(started)
        if started:
            client = validation_process.ServerClient(seen["env"])
            assert client.pid() == servers[0].pid
            client.shutdown()
    finally:
        for proc in servers:
            validation_server.stop(proc, Path(seen["env"]))
