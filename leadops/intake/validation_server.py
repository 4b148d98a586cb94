"""One validation process for every flow run of a served process, kept warm between runs.

Prefect's runner starts each flow run of ``leadops serve`` in a new process. With a validation
process of its own (:mod:`leadops.intake.validation_process`), every run that reads a file paid
~3.5 s before its first chunk was checked (the spawn, the imports, GX's import ~2.6 s alone, its
context), whatever the file's size: most of a small run. ``leadops serve`` starts this server
instead, once: a validation process that imports GX at its start and then answers the GX work of
every run it serves (and of the real-time intake service beside them), over a Unix socket in a
private folder (mode 0700) with an authentication key beside it (mode 0600). The folder is named
by ``LEADOPS_VALIDATION_SERVER`` in the serving process's environment, which Prefect passes to the
runs it starts; a process without it, or that cannot reach the server, starts a validation process
of its own as before.

Jobs run one at a time (GX's context is not thread-safe), each client's in the order it sent
them; each client's validations are its own for Data Docs (:data:`leadops.intake.gate.scope`). The
server exits with the process that started it (it watches its parent, as a validation process
does). If it dies, a run's next job raises ``BrokenProcessPool`` and the run goes on with a
validation process of its own (:func:`leadops.intake.validation_process.result` retries the job).
The client side is :class:`leadops.intake.validation_process.ServerClient`.
"""
from __future__ import annotations

import atexit
import multiprocessing
import os
import pickle
import shutil
import tempfile
import threading
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from leadops.intake.validation_process import _KEY, _SOCKET, ENV, warm

# written once the socket listens: the socket's file appears at bind(), a moment before listen(), and a client
# connecting in between is refused
_READY = "ready"


# --------------------------------------------------------------------------- the server (its own process)


def _serve(folder: str, parent: int) -> None:
    """Body of the server process: listen first (clients connect while GX imports), warm GX, answer jobs."""
    import signal
    import sys
    from multiprocessing.connection import Listener

    # stopped with SIGTERM (stop()): exit as a process ending normally does, releasing what it holds
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    key = (Path(folder) / _KEY).read_bytes()
    listener = Listener(str(Path(folder) / _SOCKET), family="AF_UNIX", authkey=key)
    (Path(folder) / _READY).touch(mode=0o600)
    lock = threading.Lock()  # one job at a time: held by the warm-up first
    with lock:
        threading.Thread(target=_accept, args=(listener, lock), name="accept", daemon=True).start()
        warm(parent)
    threading.Event().wait()  # until the parent's end (the orphan watch exits the process)


def _accept(listener: Any, lock: threading.Lock) -> None:
    while True:
        try:
            conn = listener.accept()
        except Exception:  # noqa: BLE001, S112 - a client that failed authentication or hung up: next
            continue
        threading.Thread(target=_answer, args=(conn, lock), name="client", daemon=True).start()


def _answer(conn: Any, lock: threading.Lock) -> None:
    """Answer one client's jobs in order until it hangs up; its validations are a Data Docs scope of their own."""
    from leadops.intake import gate

    owner = object()
    gate.scope.set(owner)
    try:
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                return
            with lock:
                try:
                    fn, args = pickle.loads(message)  # noqa: S301 - an authenticated client of this user
                    answer: tuple[bool, Any] = (True, fn(*args))
                except BaseException as exc:  # noqa: BLE001 - the client raises it, as from a validation process
                    answer = (False, exc)
            try:
                conn.send(answer)
            except (OSError, EOFError):
                return
            except Exception as exc:  # noqa: BLE001 - an answer that does not pickle: say so instead
                conn.send((False, RuntimeError(f"validation server: cannot send the answer: {exc}")))
    finally:
        conn.close()
        gate.forget_scope(owner)


# --------------------------------------------------------------------------- the serving process


def start(wait: float = 30.0) -> BaseProcess:
    """Start the server, name it in this process's environment (for the processes this one starts) and return
    its process; it stops with this process."""
    folder = Path(tempfile.mkdtemp(prefix="leadops-validation-"))  # mode 0700
    key = folder / _KEY
    key.touch(mode=0o600)
    key.write_bytes(os.urandom(32))
    proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(str(folder), os.getpid()),
                                                         name="leadops-validation-server", daemon=True)
    proc.start()
    deadline = time.monotonic() + wait
    while not (folder / _READY).exists() and proc.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.environ[ENV] = str(folder)
    atexit.register(stop, proc, folder)
    return proc


def stop(proc: BaseProcess, folder: Path) -> None:
    """Stop the server ``proc`` and remove its folder."""
    if os.environ.get(ENV) == str(folder):
        del os.environ[ENV]
    if proc.is_alive():
        proc.terminate()
        proc.join(10)
    shutil.rmtree(folder, ignore_errors=True)
