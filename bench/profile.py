"""--profile: a py-spy flame graph of the gunicorn workers while a workload's load runs.

py-spy samples the workers from outside (no code change, no restart); ``--subprocesses`` on the
master follows every worker. Sampling costs the server some CPU, so profiled runs are never
written to docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bench import procs
from bench.http import slug

if TYPE_CHECKING:
    from bench.runner import Run


@contextlib.contextmanager
def profiled(run: Run, name: str, directory: Path) -> Iterator[Path]:
    py_spy = procs.ensure_py_spy()
    directory.mkdir(parents=True, exist_ok=True)
    master = run.server.master_pid()
    assert master is not None
    output = directory / f"{slug(name)}-{len(list(directory.glob(slug(name) + '-*.svg'))) + 1}.svg"
    argv = [py_spy, "record", "--pid", str(master), "--subprocesses", "--nonblocking",
            "--duration", str(run.options.seconds), "--rate", "200", "--format", "flamegraph",
            "--output", str(output)]
    with (run.tmp / "py-spy.log").open("ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=procs.die_with_parent)
    try:
        yield output
    finally:
        try:
            proc.wait(timeout=run.options.seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
