"""The harness's own PostgreSQL databases: create, migrate, fill fast, drop.

Names are ``creatornext_bench_<pid>`` (+ ``_tpl`` for the migrated template), so a database left
by a harness that was killed with SIGKILL is recognised and dropped by the next run, while a
harness that is still running (someone else's) keeps its own.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection as Connection

PREFIX = "creatornext_bench_"
_NAME = re.compile(rf"^{PREFIX}(\d+)(_tpl)?$")
# Migrated templates are kept between runs as SQL dumps in ~/.cache/creatornext/bench/ (``--no-template-cache``
# to do without), named by the fingerprint of everything migrations depend on. Earlier versions
# kept them as databases with this prefix; those are dropped.
CACHE_PREFIX = "creatornext_benchcache_"
CACHES_KEPT = 3


def url_for(server_url: str, dbname: str) -> str:
    """The server URL (any database) with the database name replaced."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def connect(url: str) -> Connection:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def create(server_url: str, name: str, template: str | None = None) -> None:
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template))
    conn = connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
    finally:
        conn.close()


def drop(server_url: str, name: str) -> None:
    """Drop even if a connection is still open (a worker that has not exited yet)."""
    conn = connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        conn.close()


def rename(server_url: str, name: str, new_name: str) -> None:
    """Keep a loaded database under a name of one's own (``--keep-data``): gone from the names
    the harness drops, replacing any earlier database of that name."""
    drop(server_url, new_name)
    conn = connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(name), sql.Identifier(new_name)))
    finally:
        conn.close()


def existing(server_url: str) -> list[str]:
    conn = connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [PREFIX + "%"])
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def _harness_alive(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"bench" in cmdline


def drop_stale(server_url: str) -> list[str]:
    """Drop bench databases whose harness process is gone (killed before it could clean up)."""
    dropped = []
    for name in existing(server_url):
        match = _NAME.match(name)
        if match and int(match.group(1)) != os.getpid() and not _harness_alive(int(match.group(1))):
            drop(server_url, name)
            dropped.append(name)
    return dropped


def migrate(python: str, env: dict[str, str], cwd: Path, log: Path) -> None:
    """`manage.py migrate` with the production settings, as a deployment runs it.

    Two things differ from a deployment, neither of which changes what is created: the template
    is throwaway, so its commits need not wait for the disk (``synchronous_commit=off`` for this
    session only; the databases cloned from it keep the server's default), and the system checks
    are skipped (``manage.py check --deploy`` is a test of its own, R13)."""
    env = {**env, "PGOPTIONS": f"{env.get('PGOPTIONS', '')} -c synchronous_commit=off".strip()}
    with log.open("ab") as out:
        result = subprocess.run([python, "manage.py", "migrate", "--noinput", "--skip-checks"],
                                cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode:
        raise RuntimeError(f"manage.py migrate failed (exit {result.returncode}); see {log}:\n"
                           + log.read_text()[-3000:])


NULL = r"\N"


class _CsvStream(io.TextIOBase):
    """A file that COPY reads while the rows are still being made: PostgreSQL indexes one batch
    while Python formats the next, on the other core."""

    def __init__(self, rows: Iterable[Sequence]) -> None:
        self.rows = iter(rows)
        self.count = 0
        self.pending = io.StringIO()
        self.writer = csv.writer(self.pending, lineterminator="\n")
        self.buffer = ""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        want = size if size and size > 0 else 1 << 62
        while len(self.buffer) < want and self._fill():
            pass
        chunk, self.buffer = self.buffer[:want], self.buffer[want:]
        return chunk

    def _fill(self, batch: int = 2000) -> bool:
        self.pending.seek(0)
        self.pending.truncate()
        for row in itertools.islice(self.rows, batch):
            # None becomes NULL (an unquoted \N), so an empty string stays an empty string.
            self.writer.writerow([NULL if value is None else value for value in row])
            self.count += 1
        text = self.pending.getvalue()
        self.buffer += text
        return bool(text)


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Bulk-load rows with COPY (an order of magnitude faster than INSERTs); rows may be a
    generator, so a million rows never sit in memory as one string."""
    stream = _CsvStream(rows)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, NULL {})").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.Literal(NULL))
    with conn.cursor() as cur:
        cur.copy_expert(statement.as_string(conn), stream, size=1 << 16)
    return stream.count


def sync_identity(conn: Connection, table: str, column: str = "id") -> None:
    """After COPY with explicit ids, move the identity sequence past them so the app can insert."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT setval(pg_get_serial_sequence(%s, %s), "
                    "GREATEST((SELECT max({}) FROM {}), 1))").format(
                sql.Identifier(column), sql.Identifier(table)),
            [table, column])


def analyze(conn: Connection) -> None:
    """Fresh planner statistics, as autovacuum would have them on a live database."""
    with conn.cursor() as cur:
        cur.execute("ANALYZE")


BASELINE_TABLE = """
CREATE TABLE IF NOT EXISTS bench_row (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    value bigint NOT NULL,
    created_at timestamptz NOT NULL
)
"""


def create_baseline_table(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute(BASELINE_TABLE)


def server_version(server_url: str) -> str:
    conn = connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            return str(cur.fetchone()[0]).split()[0]
    finally:
        conn.close()


# --- The migrated-template cache -----------------------------------------------------------------
#
# Migrating takes 5-8 s of CPU on this machine, most of the CI smoke's budget. The migrated schema
# depends only on the migration files, the project modules they import (data migrations call
# seeding code), the installed packages (their own migrations) and the baseline table; when none
# of these changed, a template migrated by an earlier run is exactly what a fresh migrate would
# produce, so the run clones it instead of migrating again.

def _repo_module_file(repo: Path, module: str) -> Path | None:
    parts = module.split(".")
    for candidate in (repo.joinpath(*parts).with_suffix(".py"), repo.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def _imported_repo_files(repo: Path, path: Path) -> list[Path]:
    import ast

    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError):
        return []
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            file = _repo_module_file(repo, name)
            if file is not None:
                found.append(file)
    return found


def schema_fingerprint(repo: Path) -> str:
    """A hash of everything the migrated schema depends on (see above)."""
    import hashlib
    import importlib.metadata
    import sys

    skip = {".venv", "venv", "node_modules", ".git", "tests", "var", "static", "staticfiles"}
    migrations = []
    for root, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".")]
        if Path(root).name == "migrations":
            migrations += [Path(root) / f for f in files if f.endswith(".py")]
    seen: set[Path] = set()
    todo = list(migrations)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(_imported_repo_files(repo, path))
    digest = hashlib.sha256()
    for path in sorted(seen):
        digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    # A set: the project's own metadata is found twice when the repository is on sys.path too
    # (pytest's rootdir), and the suite's fingerprint must equal the harness's (tests/conftest.py).
    packages = sorted({f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()})
    digest.update("\n".join(packages).encode())
    digest.update(sys.version.encode() + BASELINE_TABLE.encode())
    return digest.hexdigest()[:20]


def exists(server_url: str, name: str) -> bool:
    conn = connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return cur.fetchone() is not None
    finally:
        conn.close()


def _tool(name: str) -> str | None:
    import shutil

    return shutil.which(name)


def template_dump_path(fingerprint: str) -> Path:
    """In the user's cache directory (like pip's), shared by every checkout of the project: a dump
    is only ever used by a run with the same fingerprint."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "creatornext" / "bench" / f"template-{fingerprint}.sql"


def save_template_dump(server_url: str, template: str, path: Path, *, add_baseline_table: bool = False) -> bool:
    """Keep the freshly migrated ``template`` as a plain SQL dump (a file, like a build cache: no
    database is left behind) and delete all but the newest ``CACHES_KEPT`` dumps. False when
    pg_dump is missing or fails: the run goes on with its own template either way.

    ``add_baseline_table``: ``template`` is a database migrated by someone else (the test suite's,
    tests/conftest.py), so the dump gets the baselines' table the harness adds to its own."""
    pg_dump = _tool("pg_dump")
    if pg_dump is None:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    result = subprocess.run([pg_dump, "--no-owner", "--no-privileges", "--file", str(partial),
                             "--dbname", url_for(server_url, template)], capture_output=True, check=False)
    if result.returncode:
        partial.unlink(missing_ok=True)
        return False
    if add_baseline_table:
        with partial.open("a") as dump:
            dump.write(f"\nSET search_path = public;\n{BASELINE_TABLE};\n")
    os.replace(partial, path)  # whole or nothing: a concurrent run never reads half a dump
    for old in sorted(path.parent.glob("template-*.sql"), key=lambda p: p.stat().st_mtime,
                      reverse=True)[CACHES_KEPT:]:
        old.unlink(missing_ok=True)
    return True


def restore_template_dump(server_url: str, template: str, path: Path) -> bool:
    """Create ``template`` from a dump saved by an earlier run (one transaction: all or nothing).
    False (and no database) when there is no usable dump."""
    psql = _tool("psql")
    if psql is None or not path.exists():
        return False
    create(server_url, template)
    result = subprocess.run([psql, "--quiet", "--no-psqlrc", "--single-transaction", "-v", "ON_ERROR_STOP=1",
                             "--file", str(path), "--dbname", url_for(server_url, template)],
                            capture_output=True, check=False)
    if result.returncode:
        drop(server_url, template)
        return False
    os.utime(path)  # the newest used stays among the kept ones
    return True


def drop_legacy_caches(server_url: str) -> list[str]:
    """Earlier versions kept migrated templates as databases; they are dumps (files) now."""
    conn = connect(server_url)
    dropped = []
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [CACHE_PREFIX + "%"])
            for (name,) in cur.fetchall():
                with contextlib.suppress(psycopg2.Error):
                    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                    dropped.append(name)
    finally:
        conn.close()
    return dropped
