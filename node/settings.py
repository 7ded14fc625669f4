"""Node settings: declared once, each with a type, a default and help text.

Values come, in rising order of precedence, from the defaults below, the
``settings.toml`` file in the node's data folder, environment variables named
``SIFNET_<NAME>`` and finally a mapping passed by the caller (tests).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .i18n import LANGUAGES, is_language, is_time_zone


class SettingsError(Exception):
    """A setting has a value of the wrong type or an unknown name."""


@dataclass(frozen=True)
class Setting:
    """One declared setting."""

    name: str
    type: type
    default: Any
    help: str
    allowed: Callable[[Any], bool] | None = None  # a further check of the value, named in `help`


SETTINGS: tuple[Setting, ...] = (
    Setting("node_id", str, "local", "Short node id used in addresses (anna@<node_id>), e.g. be-vl, nl, hu."),
    Setting("node_name", str, "SIF node", "Human name of the national network shown in the UI."),
    Setting("country", str, "BE", "ISO 3166-1 alpha-2 country code of the node."),
    Setting("base_url", str, "http://127.0.0.1:5000", "Public base URL other nodes and members reach this node at."),
    Setting("data_dir", str, "./data", "Folder holding the database, signing key, mail folder and settings file."),
    Setting("database_url", str, "", "SQLAlchemy database URL; empty means SQLite at <data_dir>/node.db."),
    Setting("secret_key", str, "", "Secret for session cookies; empty means read or create <data_dir>/secret_key."),
    Setting("host", str, "127.0.0.1", "Interface `sifnet node run` listens on."),
    Setting("port", int, 5000, "Port `sifnet node run` listens on."),
    Setting("unit", str, "SIF", "Display name of the currency unit."),
    Setting(
        "default_language",
        str,
        "en",
        "Language of pages and mails for readers who chose none and whose browser asks for none we have: "
        f"one of {', '.join(LANGUAGES)}.",
        is_language,
    ),
    Setting(
        "time_zone",
        str,
        "UTC",
        "IANA time zone (e.g. Europe/Brussels) in which times are shown and form times are read, for members who chose "
        "none.",
        is_time_zone,
    ),
    Setting("welcome_grant", int, 10, "SIF issued to a member when they are approved (recorded as issuance)."),
    Setting("min_balance", int, -5, "Lowest balance a member account may reach (a small overdraft is allowed)."),
    Setting("max_balance", int, 0, "Highest balance a member account may reach; 0 means no cap."),
    Setting("require_approval", bool, True, "New sign-ups wait for a coordinator's approval before they can act."),
    Setting("inactive_days", int, 90, "A member with no activity for this many days is flagged as inactive."),
    Setting(
        "expertise_taxonomy",
        str,
        "",
        "Comma-separated expertise tags (slugs such as circular-economy); empty means the built-in social-innovation "
        "list.",
    ),
    Setting(
        "dispute_days", int, 3, "Days a receiver has to dispute a claimed advice session before it pays automatically."
    ),
    Setting("invite_accept_hours", int, 72, "Hours a reviewer has to accept an invitation before it expires."),
    Setting("review_due_days", int, 14, "Days a reviewer has, after accepting, to submit the review."),
    Setting("reminder_hours", int, 48, "A reminder is sent this many hours before a review is due."),
    Setting(
        "funding_reminder_days",
        int,
        7,
        "Members who follow a topic are reminded (notification and mail, once per member and lead) this many days "
        "(0 to 366) before the deadline of a funding lead on it; 0: no reminders.",
        lambda days: 0 <= days <= 366,
    ),
    Setting(
        "scheduler",
        str,
        "inprocess",
        "Where scheduled jobs run: 'inprocess' (development) or 'worker' (a separate `sifnet node worker`).",
    ),
    Setting("sweep_seconds", int, 60, "Interval of the deadline sweep job (expiries, reminders, auto-payments)."),
    Setting("smtp_host", str, "", "SMTP server for notifications; empty writes mails to <data_dir>/mail instead."),
    Setting("smtp_port", int, 25, "SMTP server port."),
    Setting("mail_from", str, "noreply@sifnet.invalid", "Sender address of notification mails."),
    Setting("argon2_time_cost", int, 3, "argon2id time cost for password hashes."),
    Setting("argon2_memory_kib", int, 65536, "argon2id memory cost in KiB for password hashes."),
    Setting(
        "allow_clock_control",
        bool,
        False,
        "Development/test only: expose POST /_test/clock to move this node's clock, and the /_test/federation/ hooks "
        "the chaos tests use to act as a careless peer.",
    ),
    Setting(
        "federation",
        bool,
        True,
        "Take part in the network: node document, signed channels with peers, cross-border payments.",
    ),
    Setting(
        "fed_max_skew_seconds",
        int,
        300,
        "Federation: how far in the future a peer's signed request or message may be dated.",
    ),
    Setting(
        "fed_max_age_seconds",
        int,
        300,
        "Federation: how old a signed HTTP request or direct message may be (channel entries are exempt: they may wait "
        "days).",
    ),
    Setting(
        "key_grace_hours",
        int,
        168,
        "After `sifnet node rotate-key`, hours the old key stays valid so every peer learns the new one.",
    ),
    Setting(
        "default_trust_limit", int, 100, "Trust limit (SIF a new peer may owe this node) set when a peer is confirmed."
    ),
    Setting("delivery_batch", int, 100, "Channel entries sent to a peer per HTTP request."),
    Setting(
        "handback_grace_ms",
        int,
        2000,
        "Milliseconds a peer has to acknowledge the entries handed back in our answer to its delivery (its next "
        "delivery carries the acknowledgement) before they are delivered to its inbox as well.",
    ),
    Setting("retry_base_seconds", int, 2, "First retry delay after a failed delivery; doubles per failure."),
    Setting("retry_max_seconds", int, 3600, "Longest delay between delivery retries (never gives up)."),
    Setting("checkpoint_seconds", int, 300, "Interval between signed checkpoints sent to each peer."),
    Setting(
        "login_max_failures",
        int,
        5,
        "Failed logins for one account email (whether or not it exists) before its logins must wait: 1 s, then "
        "doubling with each further failure up to login_account_max_wait_seconds. The owner is mailed a link that "
        "lets their browser skip that wait. Nothing is ever locked.",
    ),
    Setting(
        "login_address_max_failures",
        int,
        20,
        "Failed logins from one client address (IPv6: its /64) before its logins must wait: 1 s, then doubling with "
        "each further failure up to login_address_max_wait_seconds.",
    ),
    Setting(
        "login_window_seconds",
        int,
        900,
        "Failed logins of an account or address are forgotten once none came for this long; also the shortest interval "
        "between two unlock mails to one account.",
    ),
    Setting(
        "login_account_max_wait_seconds", int, 300, "Longest wait between logins for an account that keeps failing."
    ),
    Setting(
        "login_address_max_wait_seconds", int, 900, "Longest wait between logins from an address that keeps failing."
    ),
    Setting("login_unlock_minutes", int, 60, "How long the mailed unlock link stays valid (it works once)."),
    Setting(
        "login_trusted_days",
        int,
        30,
        "How long a browser that opened an unlock link skips its account's wait (the address wait still applies).",
    ),
    Setting(
        "message_threads_per_day",
        int,
        10,
        "Conversations a member may start with members they have not written with before, per 24 hours (replies and "
        "messages in an existing conversation do not count); more are refused with too_many_new_threads. 0: no limit.",
        lambda v: v >= 0,
    ),
    Setting(
        "messages_per_hour",
        int,
        30,
        "Messages a member may send per hour, in all their conversations together; more are refused with "
        "too_many_messages. 0: no limit.",
        lambda v: v >= 0,
    ),
    Setting(
        "settlement_deadline_seconds",
        int,
        300,
        "Clearing rounds this node coordinates: seconds every participant has to state its positions and accept the "
        "proposal.",
    ),
    Setting(
        "settlement_apply_seconds",
        int,
        3600,
        "After a round's deadline, seconds a participant that accepted keeps waiting for the certificate (taking part "
        "in no other round); a later certificate is refused.",
    ),
    Setting(
        "settlement_round_seconds",
        int,
        0,
        "Start a clearing round with every active peer this often, in seconds; 0 means only when a coordinator asks.",
    ),
    Setting(
        "max_invite_accept_days",
        int,
        30,
        "Federation: a peer's review invitation whose accept_by lies further ahead is declined at once "
        "(accept_by_too_far), so no invitation holds a reviewer's slot for long.",
    ),
    Setting(
        "max_invite_due_days",
        int,
        60,
        "Federation: a peer's review invitation whose review is due further ahead is declined at once "
        "(due_by_too_far).",
    ),
    Setting(
        "peer_pool_share_percent",
        int,
        50,
        "Federation: the share (in percent, at least one slot) of this node's shared review slots one peer's open "
        "invitations may hold; beyond it they are declined (peer_slot_cap).",
    ),
    Setting(
        "pool_share_seconds",
        int,
        60,
        "Federation: at most this often, each peer is sent the changes to this node's shared reviewer pool (the first "
        "snapshot goes at once).",
    ),
    Setting(
        "directory_id",
        str,
        "",
        "Node id of the network directory this node chose to be listed in (e.g. eu-dir); its signed summary and "
        "initiatives are addressed to it. Empty: no summary is served.",
    ),
    Setting(
        "round_solve_timeout_seconds",
        int,
        900,
        "A review round still solving this many seconds after it started (its process stopped) is marked failed so a "
        "coordinator can solve it again.",
    ),
    Setting(
        "live_stream_seconds",
        int,
        300,
        "Live updates: seconds one event stream (a page's, or GET /api/v1/events) stays open before it ends and the "
        "browser reconnects, missing nothing (0 to 3600); 0: each request sends what is waiting and ends (polling).",
        lambda v: 0 <= v <= 3600,
    ),
    Setting(
        "live_heartbeat_seconds",
        int,
        15,
        "Live updates: an open stream sends a comment this often (1 to 300), so proxies keep it open and a client that "
        "left is noticed.",
        lambda v: 1 <= v <= 300,
    ),
    Setting(
        "live_poll_ms",
        int,
        250,
        "Live updates, on SQLite: how often (milliseconds, 50 to 60000) a web process with open streams looks for "
        "events other processes wrote when no wake-up came (its own wake its streams at once; other processes' "
        "commits wake it through a socket beside the database, on PostgreSQL through NOTIFY); one query per "
        "process, not per stream.",
        lambda v: 50 <= v <= 60000,
    ),
    Setting(
        "live_streams_per_member",
        int,
        4,
        "Live updates: open streams one member may have in one web process (1 to 50); a new one ends their oldest.",
        lambda v: 1 <= v <= 50,
    ),
    Setting(
        "live_max_streams",
        int,
        24,
        "Live updates: open streams one web process holds at most (each holds a thread); more are answered 503 and "
        "the page tries again later. Keep it below gunicorn's --threads so other requests find a thread.",
        lambda v: v >= 0,
    ),
    Setting(
        "live_keep_hours",
        int,
        24,
        "Live updates: events are kept this many hours (at least 1) for streams that reconnect; a page that was away "
        "longer gets the balance and unread count as they are now.",
        lambda v: v >= 1,
    ),
    Setting(
        "idempotency_keep_hours",
        int,
        168,
        "Idempotency keys (the API's Idempotency-Key header, a web form's one-time token) and their first answers are "
        "kept this many hours (at least 24); a repeat sent later than that is done again as a new request.",
        lambda v: v >= 24,
    ),
    Setting(
        "proxy_fix",
        int,
        0,
        "Reverse proxies in front of the node that set X-Forwarded-For/-Proto/-Host/-Port; the node trusts that many "
        "hops, so redirects, links and client addresses use the public scheme, host and address. 0: no proxy, trust "
        "none (signed federation requests are checked against base_url either way).",
    ),
    Setting(
        "log_format",
        str,
        "text",
        "Log lines as 'text' or 'json' (one JSON object per line with the request id from X-Request-Id, or a generated "
        "one, echoed in the response).",
    ),
    Setting("log_level", str, "INFO", "Lowest level of log lines written: DEBUG, INFO, WARNING or ERROR."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _coerce(setting: Setting, value: Any) -> Any:
    """Turn a raw value (env string, TOML value) into the setting's type, refusing values it does not allow."""
    value = _typed(setting, value)
    if setting.allowed is not None and not setting.allowed(value):
        raise SettingsError(f"setting {setting.name}: {value!r} is not allowed ({setting.help})")
    return value


def _typed(setting: Setting, value: Any) -> Any:
    if setting.type is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off", ""):
            return False
        raise SettingsError(f"setting {setting.name}: expected a boolean, got {value!r}")
    if setting.type is int:
        # int(2.5) would silently truncate a mistyped float; only whole numbers and digit strings pass.
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise SettingsError(f"setting {setting.name}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SettingsError(f"setting {setting.name}: expected an integer, got {value!r}") from None
    if not isinstance(value, str):
        raise SettingsError(f"setting {setting.name}: expected a string, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """The typed settings of one node."""

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
        return self.database_url or f"sqlite:///{(self.data_path / 'node.db').resolve()}"

    def replace(self, **changes: Any) -> Settings:
        unknown = set(changes) - set(_BY_NAME)
        if unknown:
            raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
        merged = dict(self.values)
        merged.update({k: _coerce(_BY_NAME[k], v) for k, v in changes.items()})
        return dataclasses.replace(self, values=merged)


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from data folder file, environment and overrides."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(_BY_NAME)
    if unknown:
        raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
    data_dir = overrides.get("data_dir") or environ.get("SIFNET_DATA_DIR") or _BY_NAME["data_dir"].default
    values: dict[str, Any] = {}
    settings_file = Path(data_dir) / "settings.toml"
    if settings_file.exists():
        with settings_file.open("rb") as fh:
            for key, raw in tomllib.load(fh).items():
                if key not in _BY_NAME:
                    raise SettingsError(f"{settings_file}: unknown setting {key!r}")
                values[key] = _coerce(_BY_NAME[key], raw)
    for setting in SETTINGS:
        env_name = f"SIFNET_{setting.name.upper()}"
        if env_name in environ:
            values[setting.name] = _coerce(setting, environ[env_name])
    for key, raw in overrides.items():
        values[key] = _coerce(_BY_NAME[key], raw)
    values["data_dir"] = str(data_dir)
    return Settings(values)


def write_settings_file(path: Path, values: Mapping[str, Any]) -> None:
    """Write a settings.toml with the given values and every other setting as a commented default."""
    lines = ["# sifnet node settings; every setting with its help text.", ""]
    for setting in SETTINGS:
        lines.append(f"# {setting.help}")
        value = values.get(setting.name, setting.default)
        rendered = _toml_value(value)
        prefix = "" if setting.name in values else "# "
        lines.append(f"{prefix}{setting.name} = {rendered}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
