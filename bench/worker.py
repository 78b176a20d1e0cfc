"""The Celery worker, started as production starts it, for workloads whose work is a task.

The command line comes from docker-compose.yml's ``worker`` service (as the server's comes from
the Dockerfile), with the virtualenv's ``celery``; the environment is the server's, with the app's
settings, so it uses the bench database and the bench Redis database as its broker.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import procs

_COMMAND = re.compile(r'command:\s*(\["celery",\s*"-A",\s*"creatornext",\s*"worker".*\])')


def production_command(repo: Path) -> list[str]:
    match = _COMMAND.search((repo / "docker-compose.yml").read_text())
    if not match:
        raise RuntimeError("docker-compose.yml has no `command: [\"celery\", \"-A\", \"creatornext\", "
                           "\"worker\", ...]` line: bench/worker.py reads the worker command from it.")
    return json.loads(match.group(1))


class CeleryWorker:
    def __init__(self, repo: Path, env: dict[str, str], log: Path) -> None:
        argv = production_command(repo)
        argv[0] = str(Path(sys.executable).with_name("celery"))
        # A name of its own, so that it never answers another worker's remote-control broadcasts.
        self.argv = [*argv, "--hostname", f"bench{os.getpid()}@%h"]
        self.repo, self.env, self.log = repo, env, log
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.argv, cwd=self.repo, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=procs.die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited ({self.process.returncode}):\n"
                                   + self.log.read_text(errors="replace")[-3000:])
            if " ready." in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError("the Celery worker was not ready in time:\n"
                           + self.log.read_text(errors="replace")[-3000:])

    def pids(self) -> list[int]:
        if self.process is None:
            return []
        return [self.process.pid, *procs.children_of(self.process.pid)]

    def rss_mb(self) -> tuple[float, float]:
        sizes = [procs.rss_mb(pid) for pid in self.pids()]
        return sum(sizes), max(sizes, default=0.0)

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None
