"""Child processes and what /proc says about them: tools, CPU, memory.

Every child is started so that it dies with the harness (PR_SET_PDEATHSIG), even when the
harness itself is killed with SIGKILL and its ``finally`` blocks never run.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def die_with_parent() -> None:
    """preexec_fn: the kernel sends SIGTERM to this child when the harness exits in any way."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# --- Tools the harness needs ---------------------------------------------------------------------

TOOLS = {"wrk": "wrk", "pgbench": "postgresql-contrib"}  # command → Debian package


def ensure_tool(command: str) -> str:
    """The tool's path; installs its Debian package when missing and we are root, else fails
    with the exact command to run."""
    path = shutil.which(command)
    if path:
        return path
    package = TOOLS[command]
    if os.geteuid() != 0:
        raise SystemExit(f"ERROR: the benchmark needs `{command}`. Install it with:\n"
                         f"    sudo apt-get update && sudo apt-get install -y {package}")
    print(f"Installing {package} (for {command}) with apt-get...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", package]
    # The package lists may be missing on a fresh machine: update only when the install fails.
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL, check=False).returncode:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(install, env=env, stdout=subprocess.DEVNULL, check=False)
    path = shutil.which(command)
    if not path:
        raise SystemExit(f"ERROR: could not install {package}; run: apt-get install -y {package}")
    return path


def ensure_py_spy() -> str:
    """py-spy for --profile: a PyPI package installed into this virtualenv on first use."""
    candidate = Path(sys.executable).with_name("py-spy")
    if not candidate.exists():
        print("Installing py-spy into the virtualenv (for --profile)...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return str(candidate)


# --- Running a tool and charging its CPU to it ---------------------------------------------------

@dataclass
class Finished:
    returncode: int
    wall: float
    cpu_seconds: float  # user + system of the child itself (and its waited-for children)

    @property
    def cpu_cores(self) -> float:
        return self.cpu_seconds / self.wall if self.wall else 0.0


def run_measured(argv: list[str], stdout: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None, timeout: float = 600) -> Finished:
    """Run a load tool; os.wait4 gives exactly this child's CPU, unlike RUSAGE_CHILDREN, which
    would mix in every other child the harness has reaped."""
    with stdout.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                preexec_fn=die_with_parent)
    started = time.monotonic()
    try:
        _, status, usage = _wait4(proc.pid, started + timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Finished(proc.returncode, wall, usage.ru_utime + usage.ru_stime)


def _wait4(pid: int, deadline: float) -> tuple[int, int, resource.struct_rusage]:
    while True:
        waited, status, usage = os.wait4(pid, os.WNOHANG)
        if waited == pid:
            return waited, status, usage
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} did not finish in time")
        time.sleep(0.02)


# --- /proc -------------------------------------------------------------------------------------

def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may contain spaces and parentheses: split after the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat: everything but idle and
    iowait), to tell how much of a run's CPU went to processes that are not ours."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _TICKS


class CpuMeter:
    """CPU used by given processes, and by the whole machine, between start and stop."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        # Per process: one that exits during the round (a short-lived database backend) would
        # otherwise take its whole past CPU off the group's total.
        self.before = {name: {p: cpu_seconds(p) for p in pids} for name, pids in groups.items()}
        self.machine_before = machine_busy_seconds()
        self.started = time.monotonic()

    def stop(self, late: dict[str, list[int]] | None = None) -> dict[str, float]:
        """CPU cores each group used. ``late``: the groups' processes as they are now; one that
        was not there at the start began during the round (a database backend that replaced
        one whose CONN_MAX_AGE ran out), so all its CPU counts. Without it, that CPU would show
        as other people's."""
        wall = time.monotonic() - self.started
        used = {name: sum(max(0.0, cpu_seconds(p) - self.before[name][p]) for p in pids) / wall
                for name, pids in self.groups.items()}
        for name, pids in (late or {}).items():
            used[name] = used.get(name, 0.0) + sum(
                cpu_seconds(p) for p in pids if p not in self.before.get(name, {})) / wall
        used["machine"] = (machine_busy_seconds() - self.machine_before) / wall
        return used


def rss_mb(pid: int) -> float:
    try:
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return resident_pages * _PAGE / 2**20


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def machine() -> dict[str, str]:
    """Cores, memory and CPU model for the report header."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"cores": str(os.cpu_count()), "memory_gib": f"{total_kb / 2**20:.1f}",
            "cpu": model, "kernel": os.uname().release}
