"""Settings of the directory service: declared once, each with a type, a default and help text.

Values come, in rising precedence, from the defaults below, ``settings.toml`` in the
directory's data folder, environment variables ``SIFNET_DIRECTORY_<NAME>`` and a mapping
passed by the caller (tests). The directory does not read a node's settings.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.i18n import LANGUAGES, is_language, is_time_zone
from node.settings import Setting, SettingsError
from node.settings import _coerce as coerce  # one coercion rule for node and directory settings

ENV_PREFIX = "SIFNET_DIRECTORY_"

SETTINGS: tuple[Setting, ...] = (
    Setting("directory_id", str, "eu-dir", "Id of the directory; nodes address their signed summaries to it."),
    Setting("name", str, "European SIF network directory", "Name shown on the directory's pages."),
    Setting("base_url", str, "http://127.0.0.1:5100", "Public base URL of the directory."),
    Setting(
        "default_language",
        str,
        "en",
        "Language of the pages for visitors who chose none and whose browser asks for none we have: "
        f"one of {', '.join(LANGUAGES)}.",
        is_language,
    ),
    Setting(
        "time_zone", str, "UTC", "IANA time zone (e.g. Europe/Brussels) in which the pages show times.", is_time_zone
    ),
    Setting(
        "data_dir", str, "./directory-data", "Folder holding the directory's database, signing key and settings file."
    ),
    Setting("database_url", str, "", "SQLAlchemy database URL; empty means SQLite at <data_dir>/directory.db."),
    Setting("host", str, "127.0.0.1", "Interface `sifnet directory run` listens on."),
    Setting("port", int, 5100, "Port `sifnet directory run` listens on."),
    Setting("poll_seconds", int, 60, "Seconds between two polls of every listed node's signed summary."),
    Setting(
        "poll_timeout_ms",
        int,
        5000,
        "A node that has not answered within this many milliseconds is unreachable for this poll.",
    ),
    Setting("slow_ms", int, 1000, "A node answering slower than this many milliseconds is shown as slow."),
    Setting("poll_concurrency", int, 32, "How many nodes are polled at the same time (threads)."),
    Setting("max_skew_seconds", int, 300, "How far in the future a summary may be dated (clock tolerance)."),
    Setting("max_age_seconds", int, 300, "How old a summary may be when it arrives."),
    Setting("history_days", int, 30, "Days of poll history (uptime, latency) and stored summaries kept."),
    Setting(
        "scan_threshold",
        int,
        50,
        "Quick scan: pairs of initiatives of two nodes scoring at least this (0-100) are shown and may be grouped.",
    ),
    Setting("open_applications", bool, True, "Nodes may apply to be listed through the directory's page and API."),
    Setting(
        "clearing_interval_hours",
        int,
        24,
        "Start a clearing round with every listed node this often, in hours (the directory coordinates it); 0 means "
        "only on the working group's button.",
    ),
    Setting(
        "clearing_deadline_seconds",
        int,
        300,
        "Clearing rounds the directory runs: seconds every node has to state its positions and accept the proposal.",
    ),
    Setting(
        "clearing_apply_seconds",
        int,
        3600,
        "After a round's deadline, seconds the directory keeps delivering its certificate before the round is "
        "`undelivered` (it is offered again later).",
    ),
    Setting("argon2_time_cost", int, 3, "argon2id time cost for the working group's admin passwords."),
    Setting("argon2_memory_kib", int, 65536, "argon2id memory cost in KiB for the working group's admin passwords."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class DirectorySettings:
    """The typed settings of one directory."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name in _BY_NAME:
            return self.values.get(name, _BY_NAME[name].default)
        raise AttributeError(name)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_path / 'directory.db').resolve()}"

    def replace(self, **changes: Any) -> DirectorySettings:
        unknown = set(changes) - set(_BY_NAME)
        if unknown:
            raise SettingsError(f"unknown directory settings: {', '.join(sorted(unknown))}")
        merged = {**self.values, **{k: coerce(_BY_NAME[k], v) for k, v in changes.items()}}
        return dataclasses.replace(self, values=merged)


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> DirectorySettings:
    """Read the directory's settings from its data folder's file, the environment and overrides."""
    environ = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(overrides) - set(_BY_NAME)
    if unknown:
        raise SettingsError(f"unknown directory settings: {', '.join(sorted(unknown))}")
    data_dir = overrides.get("data_dir") or environ.get(ENV_PREFIX + "DATA_DIR") or _BY_NAME["data_dir"].default
    values: dict[str, Any] = {}
    settings_file = Path(data_dir) / "settings.toml"
    if settings_file.exists():
        with settings_file.open("rb") as fh:
            for key, raw in tomllib.load(fh).items():
                if key not in _BY_NAME:
                    raise SettingsError(f"{settings_file}: unknown setting {key!r}")
                values[key] = coerce(_BY_NAME[key], raw)
    for setting in SETTINGS:
        if ENV_PREFIX + setting.name.upper() in environ:
            values[setting.name] = coerce(setting, environ[ENV_PREFIX + setting.name.upper()])
    values.update({k: coerce(_BY_NAME[k], v) for k, v in overrides.items()})
    values["data_dir"] = str(data_dir)
    return DirectorySettings(values)


def write_settings_file(path: Path, values: Mapping[str, Any]) -> None:
    """A settings.toml with the given values and every other setting as a commented default."""
    lines = ["# sifnet directory settings; every setting with its help text.", ""]
    for setting in SETTINGS:
        value = values.get(setting.name, setting.default)
        rendered = (
            ("true" if value else "false")
            if isinstance(value, bool)
            else (
                str(value)
                if isinstance(value, int)
                else '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            )
        )
        lines += [f"# {setting.help}", f"{'' if setting.name in values else '# '}{setting.name} = {rendered}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
