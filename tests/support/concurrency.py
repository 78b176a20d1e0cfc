"""Real concurrency for tests: threads with their own database connections, released together."""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.db import connection

# Above this many threads a test takes the machine-wide lock below.
FEW = 10


@contextlib.contextmanager
def many_connections() -> Iterator[None]:
    """One test at a time on this machine opens dozens of database connections at once.

    `make test` runs two pytest-xdist workers; two tests of 40–50 threads each at the same moment
    would pass PostgreSQL's default ``max_connections`` (100) and fail for a reason that has
    nothing to do with them. An exclusive ``flock`` on a file in the temporary directory: released
    by the kernel if the holder dies."""
    path = Path(tempfile.gettempdir()) / "creatornext-tests-many-connections.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_together(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(0..n-1)`` in ``n`` threads that start at one barrier; return results (or raised
    exceptions) in completion order. Each thread closes its own connection when done."""
    with many_connections() if n > FEW else contextlib.nullcontext():
        return _run_together(n, fn)


def _run_together(n: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait()
        try:
            outcome = fn(i)
        except Exception as exc:  # the caller asserts on refusals
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def failures_of(*jobs: Callable[[], Any]) -> list[BaseException]:
    """Run each job in a thread of its own (own connection, closed after) and wait for all;
    return what they raised. A thread's exception is otherwise only a warning."""
    failures: list[BaseException] = []

    def run(job: Callable[[], Any]) -> None:
        try:
            job()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures
