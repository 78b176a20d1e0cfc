"""Developer helpers for the Makefile: ``python -m creatornext.devtools check-services``.

``make test`` runs against real PostgreSQL and Redis. When either is unreachable this says
exactly how to start it and exits non-zero: the suite never silently skips.
"""

from __future__ import annotations

import sys
from urllib.parse import urlparse

import environ

HOW_TO_START = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"
                  "    (or: docker-compose up -d db; then DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/creatornext)",
    "redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no\n'
             "    (or: docker-compose up -d redis)",
}


def check_postgres(url: str) -> str | None:
    import psycopg2
    from psycopg2 import sql

    cfg = environ.Env.db_url_config(url)
    if "postgresql" not in cfg["ENGINE"]:
        return f"DATABASE_URL must point to PostgreSQL for the test suite (got {cfg['ENGINE']})."
    params = {"host": cfg.get("HOST") or "127.0.0.1", "port": cfg.get("PORT") or 5432,
              "user": cfg.get("USER") or "postgres", "password": cfg.get("PASSWORD") or None,
              "connect_timeout": 3}
    try:
        conn = psycopg2.connect(dbname="postgres", **params)
    except psycopg2.OperationalError as exc:
        return f"PostgreSQL at {params['host']}:{params['port']} is not reachable: {exc}".strip()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]])
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
    conn.close()
    return None


def check_redis(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        parsed = urlparse(url)
        return f"Redis at {parsed.hostname}:{parsed.port or 6379} is not reachable: {exc}"
    return None


def check_services(database_url: str, redis_url: str) -> int:
    problems = []
    if (err := check_postgres(database_url)) is not None:
        problems.append((err, HOW_TO_START["postgresql"]))
    if (err := check_redis(redis_url)) is not None:
        problems.append((err, HOW_TO_START["redis"]))
    for err, how in problems:
        print(f"ERROR: {err}\n  Start it with:\n    {how}", file=sys.stderr)
    if problems:
        print("The test suite needs both services; it does not skip tests without them.",
              file=sys.stderr)
        return 1
    print(f"PostgreSQL and Redis reachable ({database_url}, {redis_url}).")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["check-services"] and len(argv) == 3:
        return check_services(argv[1], argv[2])
    print("usage: python -m creatornext.devtools check-services DATABASE_URL REDIS_URL",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
