"""Real concurrency for tests: threads with their own database connections, released together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


def run_together(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(0..n-1)`` in ``n`` threads that start at one barrier; return results (or raised
    exceptions) in completion order. Each thread closes its own connection when done."""
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
