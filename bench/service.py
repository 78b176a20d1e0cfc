"""Service-level measurements: the app's own Python code driven in child processes, no HTTP.

Some targets are about a service, not an endpoint (P7 bulk ledger posting, the eligibility
re-evaluation). The harness process itself never imports Django; it starts
``python -m bench.service MODULE`` children with the server's production environment (same
database, Redis and settings; ``DJANGO_SETTINGS_MODULE=creatornext.settings``). A child runs
``django.setup()`` once, imports ``MODULE`` and serves its ``SERVICE`` dict: one JSON line in on
stdin (``{"op": ..., "args": {...}}``), one JSON line out (``{"ok": true, "result": ...}``). Django
boots once per child, outside every measured round, and the child keeps its database connection
between rounds as a worker process would.

Children die with the harness (PR_SET_PDEATHSIG) and are killed by ``close()``; their stderr goes
to ``<tmp>/service-<name>.log``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench import procs

REPO = Path(__file__).resolve().parent.parent


class ServiceError(RuntimeError):
    pass


class ServiceProcess:
    """One child serving ``module.SERVICE``."""

    def __init__(self, module: str, env: dict[str, str], log: Path) -> None:
        self.module = module
        self.log = log
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.service", module], cwd=REPO, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1,
                start_new_session=True, preexec_fn=procs.die_with_parent)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, op: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 600) -> Any:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            state = "timed out" if not ready else f"exited ({self.proc.poll()})"
            raise ServiceError(f"service child {self.module} {state}; its log:\n{tail}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise ServiceError(f"{self.module} failed:\n{answer['error']}")
        return answer["result"]

    def call(self, op: str, timeout: float = 600, **args: Any) -> Any:
        self.send(op, **args)
        return self.receive(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


def start_all(module: str, env: dict[str, str], tmp: Path, name: str, count: int,
              timeout: float = 120) -> list[ServiceProcess]:
    """``count`` children, started together (they boot Django in parallel), each answered
    ``ready`` before this returns."""
    children = [ServiceProcess(module, env, tmp / f"service-{name}-{i}.log") for i in range(count)]
    try:
        for child in children:
            child.call("ready", timeout=timeout)
    except BaseException:
        close_all(children)
        raise
    return children


def close_all(children: Iterable[ServiceProcess]) -> None:
    for child in children:
        child.close()


# --- the child ---------------------------------------------------------------------------------

def _child(module_name: str) -> int:
    # Answers go to the real stdout; anything the app prints goes to stderr (the log file).
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    import django

    django.setup()
    module = importlib.import_module(module_name)
    handlers = {"ready": lambda: {"pid": os.getpid()}, **module.SERVICE}
    for line in sys.stdin:
        request = json.loads(line)
        started = time.monotonic()
        try:
            result = handlers[request["op"]](**request.get("args", {}))
            answer = {"ok": True, "result": result}
        except Exception:  # reported to the harness, which stops the run with it
            answer = {"ok": False, "error": traceback.format_exc()}
        print(f"[{module_name}] {request['op']} took {time.monotonic() - started:.2f} s",
              file=sys.stderr, flush=True)
        answers.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
