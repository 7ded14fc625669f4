"""The PostgreSQL test lane: a server, a migrated template database, one fresh database per node.

`SIFNET_TEST_DB=postgresql` makes tests/conftest.py run every in-process app and every
NodeProcess on its own PostgreSQL database, created from a template migrated once per run
(CREATE DATABASE ... TEMPLATE is a file copy: fast). The server is the one at
`SIFNET_TEST_POSTGRES_URL` (an admin URL such as postgresql://postgres@127.0.0.1:5432/postgres)
or a throw-away cluster started from the installed binaries in a temporary folder.

`python -m tests.pg [pytest args]` runs the lane's suites (what `make test` does after the
SQLite run) and prints "PostgreSQL lane skipped: <reason>" when no server can be had;
with SIFNET_TEST_REQUIRE_POSTGRES=1 (CI) that is a failure instead.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

ENV_LANE = "SIFNET_TEST_DB"
ENV_URL = "SIFNET_TEST_POSTGRES_URL"
ENV_REQUIRE = "SIFNET_TEST_REQUIRE_POSTGRES"
# What runs on both databases: the ledger, payment, review and proposal suites, federation, backup and upgrade, and
# the searches (the directory's and the market's: "C"-collated term ranges, row-value keyset pages) and messages.
LANE_SUITES = [
    "tests/node/test_ledger.py",
    "tests/node/test_transfer_hot_path.py",
    "tests/node/test_concurrency.py",
    "tests/node/test_proposals.py",
    "tests/node/test_reviews.py",
    "tests/node/test_reviews_random.py",
    "tests/node/test_reviews_schema.py",
    "tests/node/test_review_round.py",
    "tests/node/test_backup.py",
    "tests/node/test_upgrade.py",
    "tests/node/test_idempotency.py",
    "tests/node/test_logins.py",
    "tests/node/test_directory.py",
    "tests/node/test_market_search.py",
    "tests/node/test_messages.py",
    "tests/node/test_member_events.py",
    "tests/node/test_live.py",
    "tests/federation",
    "tests/ops/test_gunicorn.py",
]
REPO = Path(__file__).resolve().parent.parent


def lane_active() -> bool:
    return os.environ.get(ENV_LANE, "sqlite").lower() in ("postgresql", "postgres", "pg")


def _pg_connect(url: str):
    """A psycopg autocommit connection (CREATE/DROP DATABASE cannot run in a transaction)."""
    import psycopg

    u = make_url(url).set(drivername="postgresql")
    return psycopg.connect(u.render_as_string(hide_password=False), autocommit=True, connect_timeout=5)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


def find_binaries() -> Path | None:
    """The newest installed PostgreSQL bin folder (Debian layout), or the one on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    """A throw-away PostgreSQL cluster in a temporary folder, on a free loopback port."""

    def __init__(self, bindir: Path) -> None:
        from tests.procs import free_port

        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sifnet-pg-"))
        self.user = None
        if os.geteuid() == 0:  # the server refuses to run as root
            self.user = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(self.dir, self.user)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        result = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {(result.stderr or result.stdout).strip()[-800:]}")

    def start(self) -> Cluster:
        data = self.dir / "data"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        )
        # Durability settings off: this cluster lives for one test run.
        opts = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(self.dir / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def obtain_server() -> tuple[str, Cluster | None]:
    """(admin URL, cluster to stop or None): the configured server, else a throw-away one. Raises RuntimeError."""
    url = os.environ.get(ENV_URL)
    if url:
        try:
            _pg_connect(url).close()
        except Exception as exc:
            reason = " ".join(str(exc).split())
            raise RuntimeError(f"{ENV_URL} is set but the server does not answer ({reason})") from None
        return url, None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise RuntimeError("psycopg is not installed (pip install -e '.[test]')") from None
    bindir = find_binaries()
    if bindir is None:
        raise RuntimeError(f"no server at {ENV_URL} and no PostgreSQL binaries (initdb) installed")
    cluster = Cluster(bindir)
    try:
        cluster.start()
    except Exception as exc:
        cluster.stop()
        raise RuntimeError(f"could not start a throw-away cluster from {bindir}: {exc}") from None
    return cluster.url, cluster


class Lane:
    """Databases for one pytest run: a migrated template and fresh copies of it."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.prefix = f"sifnet_t{os.getpid()}_"
        self.template = self.prefix + "template"
        self._seq = itertools.count(1)
        self._created: list[str] = []
        self._by_dir: dict[str, str] = {}
        self._template_ready = False

    def _execute(self, sql: str) -> None:
        with _pg_connect(self.admin_url) as conn:
            conn.execute(sql)

    def _ensure_template(self) -> None:
        if self._template_ready:
            return
        from node.db import Database

        self._execute(f'DROP DATABASE IF EXISTS "{self.template}"')
        self._execute(f'CREATE DATABASE "{self.template}"')
        db = Database(_with_database(self.admin_url, self.template))
        db.upgrade()
        db.dispose()
        self._template_ready = True

    def empty_database(self) -> str:
        """The URL of a new database without any table."""
        name = f"{self.prefix}{next(self._seq)}"
        self._execute(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return _with_database(self.admin_url, name)

    def migrated_database(self) -> str:
        """The URL of a new database at the newest schema (a copy of the template)."""
        self._ensure_template()
        name = f"{self.prefix}{next(self._seq)}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self._created.append(name)
        return _with_database(self.admin_url, name)

    def database_for(self, data_dir) -> str:
        """The database of the node in this data folder (created on first ask, the same URL afterwards)."""
        key = str(Path(data_dir).resolve())
        if key not in self._by_dir:
            self._by_dir[key] = self.migrated_database()
        return self._by_dir[key]

    def url_for(self, data_dir) -> str | None:
        return self._by_dir.get(str(Path(data_dir).resolve()))

    def drop_test_databases(self) -> None:
        """Drop the databases made since the last call (the template stays for the next test)."""
        names, self._created, self._by_dir = self._created, [], {}
        for name in names:
            try:
                self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception:  # a leftover costs disk space in a throw-away cluster, not correctness
                pass

    def close(self) -> None:
        self.drop_test_databases()
        try:
            self._execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        except Exception:
            pass


# The lane of this pytest run (set by tests/conftest.py), for the helpers below.
ACTIVE: Lane | None = None


def node_sql(data_dir, sql: str, params: tuple = (), *, write: bool = False) -> list[tuple]:
    """Run one statement (with ? placeholders) on a node's own database, as an auditor would; read-only unless write."""
    url = ACTIVE.url_for(data_dir) if ACTIVE else None
    if url:
        with _pg_connect(url) as conn:
            cur = conn.execute(sql.replace("%", "%%").replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []
    import sqlite3

    path = Path(data_dir) / "node.db"
    conn = sqlite3.connect(path) if write else sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(sql, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def node_tables(data_dir) -> list[str]:
    """The names of a node's tables, sorted."""
    if ACTIVE and ACTIVE.url_for(data_dir):
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    return [name for (name,) in node_sql(data_dir, sql)]


def run_lane(pytest_args: list[str]) -> int:
    """Run the lane's suites on PostgreSQL; 0 with a plain message when no server can be had."""
    try:
        url, cluster = obtain_server()
    except RuntimeError as exc:
        if os.environ.get(ENV_REQUIRE) == "1":
            print(f"PostgreSQL lane required ({ENV_REQUIRE}=1) but unavailable: {exc}", flush=True)
            return 1
        print(f"PostgreSQL lane skipped: {exc}", flush=True)
        return 0
    where = f"throw-away cluster {cluster.bindir.parent.name} on port {cluster.port}" if cluster else url
    print(f"PostgreSQL lane: {where}", flush=True)
    env = {**os.environ, ENV_LANE: "postgresql", ENV_URL: url}
    started = time.monotonic()
    try:
        args = pytest_args or [*LANE_SUITES, "-m", "not browser and not chaos"]
        return subprocess.call([sys.executable, "-m", "pytest", *args], env=env, cwd=REPO)
    finally:
        if cluster:
            cluster.stop()
        print(f"PostgreSQL lane finished in {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(run_lane(sys.argv[1:]))
