"""Gift-send CPU probe (decision 0021): a send's and a B-insert request's CPU, in-process.

The bench's P1 ratio moves ±10 % between runs of the same code, so it cannot see a change worth
5 %. This probe can: it calls the app through Django's WSGI handler (middleware, DRF, the real
views; production settings) and sums, per request, this process's CPU (``process_time``) and its
PostgreSQL backend's (``/proc``). ``PROCS`` processes run at once (each its own connection, the
same hot creator): concurrency is part of a send's cost (each round trip hands the core over).

With ``SWITCH=file.py`` (defining ``use(new: bool)``, which swaps an implementation by
assignment) each process alternates old and new in blocks, so the machine's drift falls on both.

    .venv/bin/python -m bench gift-burst --reps 1 --seconds 1 --no-results --keep-data gb1
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gb1 PROCS=3 .venv/bin/python bench/probes/gift_send_cpu.py
    DATABASE_URL=... SWITCH=/tmp/use.py PROCS=3 BLOCKS=15 .venv/bin/python bench/probes/gift_send_cpu.py
"""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import os
import secrets
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
# The production shape (no CREATORNEXT_DEV), with the bench's URLs for B-insert.
os.environ.update({"DJANGO_SETTINGS_MODULE": "bench.settings", "ALLOWED_HOSTS": "127.0.0.1",
                   "SECURE_SSL_REDIRECT": "false", "DB_CONN_MAX_AGE": "3600"})
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
os.environ.pop("CREATORNEXT_DEV", None)

PROCS = int(os.environ.get("PROCS", "1"))
BLOCKS = int(os.environ.get("BLOCKS", "10"))  # pairs of blocks with SWITCH; else blocks per kind
BLOCK = int(os.environ.get("BLOCK", "200"))  # requests a block


def _probe(index: int, results: mp.Queue) -> None:
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    app = WSGIHandler()
    with connection.cursor() as cur:
        cur.execute("SELECT key FROM authtoken_token ORDER BY user_id OFFSET %s LIMIT 1", [index])
        token = cur.fetchone()[0]
        cur.execute("SELECT id FROM gifts_gift WHERE name = 'Rose'")
        rose = cur.fetchone()[0]
        cur.execute("SELECT p.handle, s.id FROM gifts_livestream s JOIN accounts_creatorprofile p "
                    "ON p.user_id = s.creator_id WHERE s.ended_at IS NULL ORDER BY p.followers DESC LIMIT 1")
        handle, stream = cur.fetchone()
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]

    def database_cpu() -> float:
        with open(f"/proc/{backend}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def call(path: str, body: dict, key: str | None) -> None:
        data = json.dumps(body).encode()
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http",
                   "wsgi.input": io.BytesIO(data), "CONTENT_LENGTH": str(len(data)),
                   "CONTENT_TYPE": "application/json", "HTTP_IDEMPOTENCY_KEY": uuid.uuid4().hex}
        if key:
            environ["HTTP_AUTHORIZATION"] = f"Token {key}"
        status: list[str] = []
        response = app(environ, lambda s, headers: status.append(s))
        b"".join(response)
        response.close()
        if not status[0].startswith("201"):
            raise RuntimeError(f"{path}: {status[0]}")

    def send() -> None:
        call("/api/v1/gift-sends/", {"creator": handle, "gift": rose, "quantity": 1, "live_stream": stream}, token)

    def insert() -> None:
        call("/bench/insert/", {"value": 1}, None)

    def block(request) -> tuple[float, float]:
        for _ in range(BLOCK // 10):
            request()  # settle after a switch
        cpu, db = time.process_time(), database_cpu()
        for _ in range(BLOCK):
            request()
        return time.process_time() - cpu, database_cpu() - db

    switch = None
    if os.environ.get("SWITCH"):
        scope: dict = {}
        exec(Path(os.environ["SWITCH"]).read_text(), scope)  # noqa: S102  # nosec B102 (the developer's own file)
        switch = scope["use"]
    sums: dict[str, list[float]] = {}
    for n in range(BLOCKS):
        if switch is None:
            kinds = [("send", send, None), ("B-insert", insert, None)]
        else:
            kinds = [("old", send, False), ("new", send, True)]
            kinds = kinds if n % 2 else kinds[::-1]
        for name, request, new in kinds:
            if switch is not None:
                switch(new)
            python, db = block(request)
            total = sums.setdefault(name, [0.0, 0.0])
            total[0] += python
            total[1] += db
    results.put({name: (python / (BLOCKS * BLOCK) * 1e3, db / (BLOCKS * BLOCK) * 1e3)
                 for name, (python, db) in sums.items()})


def main() -> None:
    results: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_probe, args=(i, results)) for i in range(PROCS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
        if proc.exitcode:
            raise SystemExit(f"A probe process failed ({proc.exitcode})")
    print(f"{PROCS} process(es), {BLOCKS} × {BLOCK} requests of each kind; ms a request:")
    for _ in procs:
        for name, (python, db) in results.get().items():
            print(f"  {name:9} Python {python:.3f}  PostgreSQL {db:.3f}  both {python + db:.3f}")


if __name__ == "__main__":
    main()
