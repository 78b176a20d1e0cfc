"""The app under test: gunicorn started exactly as the production image starts it.

The command line is read from the Dockerfile's ``CMD`` (so a change of worker count or class
there changes what the benchmark measures); only the bind address and the path of the gunicorn
executable are replaced, and ``--workers`` can be overridden on purpose (``--workers N``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench import procs


def production_command(repo: Path) -> list[str]:
    """The Dockerfile's ``CMD [...]`` (JSON form) as a list."""
    for line in (repo / "Dockerfile").read_text().splitlines():
        if line.startswith("CMD ["):
            argv = json.loads(line[len("CMD "):])
            if argv and argv[0] == "gunicorn":
                return argv
    raise RuntimeError("Dockerfile has no `CMD [\"gunicorn\", ...]` line: bench/server.py reads "
                       "the production server command from it; update one or the other.")


def _set_option(argv: list[str], option: str, value: str) -> list[str]:
    if option in argv:
        index = argv.index(option)
        return [*argv[:index + 1], value, *argv[index + 2:]]
    return [*argv, option, value]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    def __init__(self, repo: Path, env: dict[str, str], log: Path, workers: int | None) -> None:
        self.repo = repo
        self.env = env
        self.log = log
        self.port = free_port()
        argv = production_command(repo)
        # The gunicorn of the interpreter running the harness (the project's virtualenv).
        argv[0] = str(Path(sys.executable).with_name("gunicorn"))
        argv = _set_option(argv, "--bind", f"127.0.0.1:{self.port}")
        if workers:
            argv = _set_option(argv, "--workers", str(workers))
        self.argv = argv
        self.process: subprocess.Popen | None = None

    @property
    def workers(self) -> int:
        return int(self.argv[self.argv.index("--workers") + 1]) if "--workers" in self.argv else 1

    def start(self) -> None:
        with self.log.open("ab") as out:
            # Its own session: Ctrl-C in the terminal reaches the harness only, and the harness
            # stops the whole group (master and workers) itself.
            self.process = subprocess.Popen(self.argv, cwd=self.repo, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=procs.die_with_parent)

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        """Until every worker has booted and the app answers ``path`` with 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._raise_if_exited()
            if len(self.worker_pids()) >= self.workers and self.get(path)[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer {path} within {timeout:.0f} s; log:\n"
                           + self.log.read_text()[-3000:])

    def _raise_if_exited(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {self.process.returncode}; log:\n"
                               + self.log.read_text()[-3000:])

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: str | None = None) -> tuple[int, bytes]:
        """One request from the harness itself (readiness, pre-flight), never during a run."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        except OSError:
            return 0, b""
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def master_pid(self) -> int | None:
        return self.process.pid if self.process else None

    def worker_pids(self) -> list[int]:
        master = self.master_pid()
        return procs.children_of(master) if master else []

    def pids(self) -> list[int]:
        master = self.master_pid()
        return [master, *self.worker_pids()] if master else []

    def rss_mb(self) -> tuple[float, float]:
        """(all gunicorn processes together, the largest worker)."""
        workers = [procs.rss_mb(pid) for pid in self.worker_pids()]
        master = self.master_pid()
        total = sum(workers) + (procs.rss_mb(master) if master else 0.0)
        return total, max(workers, default=0.0)

    def stop(self) -> None:
        """SIGKILL the whole process group (master and workers) and reap the master.

        Nothing in the server needs flushing once the measurements are taken, and a graceful stop
        costs one to two seconds on a busy machine (Django workers tearing down), which the CI
        smoke budget cannot spare. PostgreSQL ends the backends when their sockets close.
        """
        if self.process is None:
            return
        _signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
