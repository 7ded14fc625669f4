"""Online backups of a node and their restore into a fresh data folder.

A backup is one gzip'd tar file: manifest.json (format, node id, database kind, schema
revision, time), files/... (the data folder's settings, signing keys and session secret;
not the database files or logs) and the database: database.sqlite, copied with SQLite's
backup API (a consistent snapshot while the node writes), or database.pgdump, pg_dump's
custom format (one REPEATABLE READ snapshot). The node keeps running throughout.
"""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from .db import Database, normalize_url
from .errors import DomainError
from .settings import Settings, load_settings, write_settings_file

FORMAT = 1
SQLITE_MEMBER = "database.sqlite"
PG_MEMBER = "database.pgdump"
# Left out of the files/ part: the database itself (copied consistently instead) and logs.
SKIP_NAMES = ("node.db", "node.db-wal", "node.db-shm", "node.db-journal")


class BackupError(DomainError):
    """A backup or restore could not be done; nothing was changed."""

    code = "backup_failed"


def backup(settings: Settings, target: Path) -> dict:
    """Write a backup of the node with these settings to target; returns its manifest."""
    db = Database(settings.db_url)
    try:
        manifest = {
            "format": FORMAT,
            "node_id": settings.node_id,
            "database": "sqlite" if db.is_sqlite else "postgresql",
            "revision": _revision(db),
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        with tempfile.TemporaryDirectory(prefix="sifnet-backup-") as tmp:
            dump = Path(tmp) / "db"
            if db.is_sqlite:
                db_file = make_url(db.url).database
                assert db_file is not None  # a node's SQLite database is a file
                _sqlite_copy(db_file, dump)
            elif db.is_postgres:
                _pg_tool("pg_dump", "--format=custom", "--no-owner", "--no-acl", "--file", str(dump), url=db.url)
            else:
                raise BackupError(f"cannot back up a {make_url(db.url).get_backend_name()} database")
            partial = target.with_name(target.name + ".partial")
            # The file holds the signing keys: readable by the owner only, like the data folder's copies.
            with (
                os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh,
                tarfile.open(fileobj=fh, mode="w:gz") as tar,
            ):
                _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
                for path in _data_files(settings.data_path, skip=target):
                    tar.add(path, arcname="files/" + path.relative_to(settings.data_path).as_posix())
                tar.add(dump, arcname=SQLITE_MEMBER if db.is_sqlite else PG_MEMBER)
            os.replace(partial, target)  # a crash mid-write never leaves a truncated file under the final name
    finally:
        db.dispose()
    return manifest


def restore(source: Path, data_dir: Path, database_url: str | None = None) -> dict:
    """Restore a backup into a new, empty data folder (and an empty database); returns its manifest."""
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BackupError(f"{data_dir} is not empty; restore into a fresh data folder", code="data_dir_not_empty")
    try:
        return _restore(source, data_dir, database_url)
    except BaseException:
        if data_dir.exists():  # it was empty: leave it so, ready for the next try
            for path in data_dir.iterdir():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        raise


def _restore(source: Path, data_dir: Path, database_url: str | None) -> dict:
    with tarfile.open(source, "r:gz") as tar:
        manifest = json.loads(_member_bytes(tar, "manifest.json"))
        if manifest.get("format") != FORMAT:
            raise BackupError(f"unknown backup format {manifest.get('format')!r}", code="bad_backup")
        data_dir.mkdir(parents=True, exist_ok=True)
        for member in tar.getmembers():
            if member.name.startswith("files/") and member.isfile():
                _extract_file(tar, member, data_dir)
        url = _target_url(data_dir, manifest, database_url)
        dump_name = SQLITE_MEMBER if manifest["database"] == "sqlite" else PG_MEMBER
        with tempfile.TemporaryDirectory(prefix="sifnet-restore-") as tmp:
            dump = Path(tmp) / "db"
            dump.write_bytes(_member_bytes(tar, dump_name))
            _restore_database(url, manifest["database"], dump)
    db = Database(url)
    try:
        db.upgrade()  # a backup from an older release comes up at this release's schema
    finally:
        db.dispose()
    return manifest


def _target_url(data_dir: Path, manifest: dict, database_url: str | None) -> str:
    """The restored node's database URL; an explicit one is written into its settings file."""
    settings_file = data_dir / "settings.toml"
    values = tomllib.loads(settings_file.read_text(encoding="utf-8")) if settings_file.exists() else {}
    values["data_dir"] = str(data_dir.resolve())
    if database_url is not None:
        values["database_url"] = database_url
    write_settings_file(settings_file, values)
    url = normalize_url(load_settings({"data_dir": str(data_dir)}).db_url)
    kind = "sqlite" if url.startswith("sqlite") else make_url(url).get_backend_name()
    if kind != manifest["database"]:
        raise BackupError(
            f"this backup holds a {manifest['database']} database; the target is {kind}", code="database_kind_mismatch"
        )
    return url


def _restore_database(url: str, kind: str, dump: Path) -> None:
    db = Database(url)
    try:
        if inspect(db.engine).get_table_names():
            raise BackupError(
                "the target database already has tables; restore into an empty one", code="database_not_empty"
            )
    finally:
        db.dispose()
    if kind == "sqlite":
        db_file = make_url(url).database
        assert db_file is not None  # a node's SQLite database is a file
        _sqlite_copy(str(dump), Path(db_file))
    else:
        _pg_tool("pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", str(dump), url=url)


def _sqlite_copy(source: str, target: Path) -> None:
    """Copy a live SQLite database page by page inside one read transaction (consistent, writers go on)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _pg_tool(name: str, *args: str, url: str) -> None:
    """Run pg_dump/pg_restore against the database at url (the password goes by environment, not argv)."""
    u = make_url(url)
    env = {**os.environ, "PGPASSWORD": u.password or os.environ.get("PGPASSWORD", "")}
    dsn = u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    result = subprocess.run([_find_tool(name), *args, "--dbname", dsn], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{name} failed: {result.stderr.strip()[-1000:]}")


def _find_tool(name: str) -> str:
    """The newest installed PostgreSQL client tool (it must be at least the server's version)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    tool = found[-1] if found else shutil.which(name)
    if tool is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)", code="tool_missing")
    return tool


def _revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _data_files(data_path: Path, skip: Path) -> list[Path]:
    skip = skip.resolve()
    out = []
    for path in sorted(data_path.rglob("*")):
        if (
            path.is_file()
            and path.name not in SKIP_NAMES
            and path.suffix != ".log"
            and not path.name.endswith(".partial")
            and path.resolve() != skip
        ):
            out.append(path)
    return out


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _member_bytes(tar: tarfile.TarFile, name: str) -> bytes:
    try:
        extracted = tar.extractfile(name)
    except KeyError:
        extracted = None
    if extracted is None:  # absent, or not a file
        raise BackupError(f"the backup has no {name}", code="bad_backup")
    return extracted.read()


def _extract_file(tar: tarfile.TarFile, member: tarfile.TarInfo, data_dir: Path) -> None:
    """Write one files/ member, refusing paths that would leave the data folder."""
    relative = Path(member.name[len("files/") :])
    if relative.is_absolute() or ".." in relative.parts:
        raise BackupError(f"unsafe path in backup: {member.name}", code="bad_backup")
    path = data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # keys and secrets stay private
    with os.fdopen(fd, "wb") as fh:
        extracted = tar.extractfile(member)
        assert extracted is not None  # the caller passes files only
        fh.write(extracted.read())
