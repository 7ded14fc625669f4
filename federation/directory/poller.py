"""Polling: fetch every listed node's signed summary in parallel, verify it, keep the history.

The initiatives and the funding leads a node lists are fetched only when the summary's hash of
them changed.

Each node is fetched in its own worker thread with its own time budget (``poll_timeout_ms``),
so a slow or dead node costs the poll at most one timeout, not one per node: a poll of n nodes
takes about ceil(n / poll_concurrency) times the slowest answer, bounded by the timeout. No
HTTP call happens inside a database transaction: the targets are read first, fetched and
verified without the database, and every outcome is written in one transaction at the end.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from protocol import (
    MAX_JSON_BYTES,
    Envelope,
    Keyring,
    ProtocolError,
    b64url_encode,
    canonical_json,
    parse_json,
    parse_time,
    verify_envelope,
)

from . import funding
from .listings import FUNDING_PATH, INITIATIVES_PATH, keyring_of
from .tables import InitiativeRecord, Listing, PollRecord, Refusal, SummaryRecord

log = logging.getLogger(__name__)


class Refused(Exception):
    """A node's answer was refused: not a valid summary for this directory from that node."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Target:
    """One listed node to poll, with the keys pinned for it."""

    node_id: str
    summary_url: str
    initiatives_url: str
    keyring: Keyring = field(hash=False, compare=False)
    initiatives_hash: str = ""
    funding_url: str = ""
    funding_hash: str = ""


@dataclass
class Outcome:
    """What one node's poll gave: a health word, the time it took, and the verified envelopes."""

    node_id: str
    health: str  # up | slow | unreachable | refused
    latency_ms: int | None = None
    code: str = ""
    message: str = ""
    summary: Envelope | None = None
    raw: str = ""
    initiatives: list | None = None  # set when they changed and verified
    initiatives_hash: str = ""
    funding: list | None = None  # the funding leads, set when they changed and verified
    funding_hash: str = ""


@dataclass(frozen=True)
class Checks:
    """How answers are judged: who we are, the clock, the acceptance window and the time budget."""

    directory_id: str
    now: Callable[[], datetime]  # aware
    max_skew: timedelta
    max_age: timedelta
    timeout_s: float
    slow_ms: int


def verify_answer(raw: bytes, *, type_name: str, node_id: str, keyring: Keyring, checks: Checks) -> Envelope:
    """Read and verify one signed answer from a listed node, or raise Refused with the reason's code."""
    try:
        env = Envelope.from_dict(parse_json(raw))
        if env.type != type_name:
            raise Refused("unexpected_type", f"expected a {type_name}, got a {env.type}")
        if env.from_ != node_id:
            raise Refused("origin_mismatch", f"the answer is signed as {env.from_}, not {node_id}")
        verify_envelope(
            env,
            keyring=keyring,
            expected_to=checks.directory_id,
            now=checks.now(),
            max_skew=checks.max_skew,
            max_age=checks.max_age,
        )
    except ProtocolError as exc:
        raise Refused(exc.code, exc.message) from None
    return env


def list_hash(initiatives: list) -> str:
    return b64url_encode(hashlib.sha256(canonical_json(initiatives)).digest())


class FetchError(Exception):
    """A node did not give a usable HTTP answer; ``code`` says how (timeout, connection_failed, http_503...)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def http_get(url: str, timeout_s: float) -> bytes:
    """GET with the standard library's client: a tenth of the CPU of requests per call, which is what bounds
    a poll of hundreds of nodes. No redirects are followed; HTTPS certificates are verified.

    Returns the body of a 200 answer, at most the protocol's size limit plus one byte (the parser refuses more).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("bad_url", f"cannot fetch {url!r}")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=timeout_s)
    try:
        connection.request(
            "GET",
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            headers={"Accept": "application/json", "User-Agent": "sifnet-directory"},
        )
        response = connection.getresponse()
        if response.status != 200:
            raise FetchError(f"http_{response.status}", f"answered {response.status} {response.reason}")
        return response.read(MAX_JSON_BYTES + 1)
    except TimeoutError:
        raise FetchError("timeout", "no answer within the timeout") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError("connection_failed", exc.__class__.__name__) from None
    finally:
        connection.close()


def fetch_one(target: Target, checks: Checks) -> Outcome:
    """Poll one node: its summary, and its initiatives when the summary says they changed."""
    started = time.monotonic()
    try:
        raw = http_get(target.summary_url, checks.timeout_s)
    except FetchError as exc:
        return Outcome(target.node_id, "unreachable", code=exc.code, message=exc.message[:500])
    latency = round((time.monotonic() - started) * 1000)
    if latency > checks.timeout_s * 1000:  # a trickling answer: in time per read, too late as a whole
        return Outcome(target.node_id, "unreachable", latency, "timeout", "the answer took longer than the timeout")
    try:
        env = verify_answer(
            raw, type_name="directory_summary", node_id=target.node_id, keyring=target.keyring, checks=checks
        )
    except Refused as exc:
        return Outcome(target.node_id, "refused", latency, exc.code, exc.message[:500])
    out = Outcome(
        target.node_id,
        "slow" if latency > checks.slow_ms else "up",
        latency,
        summary=env,
        raw=raw.decode("utf-8"),
        initiatives_hash=env.body.get("initiatives_hash", ""),
        funding_hash=env.body.get("funding_hash", ""),
    )
    if out.initiatives_hash != target.initiatives_hash:
        _fetch_initiatives(target, checks, out, budget=checks.timeout_s - (time.monotonic() - started))
    if out.funding_hash != target.funding_hash:
        _fetch_funding(target, checks, out, budget=checks.timeout_s - (time.monotonic() - started))
    return out


def _fetch_initiatives(target: Target, checks: Checks, out: Outcome, budget: float) -> None:
    """Fetch the changed initiatives; a failure keeps the old ones and says why (the summary still counts)."""
    try:
        out.initiatives = _fetch_list(
            target, checks, target.initiatives_url, "directory_initiatives", "initiatives", out.initiatives_hash, budget
        )
    except (FetchError, Refused) as exc:
        out.initiatives_hash = target.initiatives_hash  # try again next poll
        out.code, out.message = exc.code, f"initiatives not updated: {exc.message}"[:500]


def _fetch_funding(target: Target, checks: Checks, out: Outcome, budget: float) -> None:
    """Fetch the changed funding leads; a failure keeps the old ones and says why (the summary still counts)."""
    try:
        out.funding = _fetch_list(
            target, checks, target.funding_url, "directory_funding", "leads", out.funding_hash, budget
        )
    except (FetchError, Refused) as exc:
        out.funding_hash = target.funding_hash  # try again next poll
        out.code, out.message = exc.code, f"funding leads not updated: {exc.message}"[:500]


def _fetch_list(
    target: Target, checks: Checks, url: str, type_name: str, member: str, expected: str, budget: float
) -> list:
    """The list a summary names by its hash (none: empty), fetched and verified; raises FetchError or Refused."""
    if not expected:
        return []
    raw = http_get(url, max(0.2, budget))
    env = verify_answer(raw, type_name=type_name, node_id=target.node_id, keyring=target.keyring, checks=checks)
    if list_hash(env.body[member]) != expected:
        raise Refused(
            f"{type_name.removeprefix('directory_')}_hash_mismatch", f"the {member} do not match the summary's hash"
        )
    return env.body[member]


def poll_targets(targets: list[Target], checks: Checks, concurrency: int) -> list[Outcome]:
    """Fetch every target in parallel; whatever is not back by the deadline counts as a timeout."""
    if not targets:
        return []
    workers = max(1, min(concurrency, len(targets)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="directory-poll")
    try:
        futures = [pool.submit(fetch_one, t, checks) for t in targets]
        deadline = math.ceil(len(targets) / workers) * checks.timeout_s + 0.5
        wait(futures, timeout=deadline)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung fetch must not hold the poll
    return [
        f.result()
        if f.done() and not f.cancelled() and f.exception() is None
        else Outcome(t.node_id, "unreachable", code="timeout", message="no answer by the end of the poll")
        for f, t in zip(futures, targets)
    ]


def targets_of(session: Session) -> list[Target]:
    rows = session.scalars(select(Listing).where(col(Listing.status) == "listed").order_by(Listing.node_id)).all()
    hashes = funding.known_hashes(session)
    return [
        Target(
            r.node_id,
            r.summary_url,
            r.base_url.rstrip("/") + INITIATIVES_PATH,
            keyring_of(r.keys, r.node_id),
            r.initiatives_hash,
            r.base_url.rstrip("/") + FUNDING_PATH,
            hashes.get(r.node_id, ""),
        )
        for r in rows
    ]


def checks_for(directory) -> Checks:
    s = directory.settings
    return Checks(
        directory.id, directory.now, directory.max_skew, directory.max_age, s.poll_timeout_ms / 1000, s.slow_ms
    )


@dataclass(frozen=True)
class PollReport:
    """How a poll went: outcomes per node and how long it took."""

    started_at: datetime
    seconds: float
    outcomes: tuple[Outcome, ...]

    def count(self, health: str) -> int:
        return sum(1 for o in self.outcomes if o.health == health)


def poll_once(directory) -> PollReport:
    """Poll every listed node once and record the outcomes."""
    began, started_at = time.monotonic(), directory.now()
    with directory.db.read() as session:
        targets = targets_of(session)
    outcomes = poll_targets(targets, checks_for(directory), directory.settings.poll_concurrency)
    record(directory, outcomes, started_at)
    return PollReport(started_at, time.monotonic() - began, tuple(outcomes))


def _listing_change(row: Listing, out: Outcome, at: datetime) -> dict:
    change = {
        "node_id": row.node_id,
        "health": out.health,
        "last_poll_at": at,
        "latency_ms": out.latency_ms,
        "last_code": out.code,
        "last_error": out.message,
    }
    if out.summary is not None:
        change.update(
            last_ok_at=at,
            down_since=None,
            summary=out.summary.body,
            summary_created=parse_time(out.summary.created),
            initiatives_hash=out.initiatives_hash,
        )
    elif row.down_since is None:
        change["down_since"] = at
    return change


def record(directory, outcomes: list[Outcome], at: datetime) -> None:
    """Write a poll's outcomes in one transaction, with bulk statements (a poll may cover hundreds of nodes)."""
    keep_from = at - timedelta(days=directory.settings.history_days)
    with directory.db.write() as session:
        rows = {
            r.node_id: r
            for r in session.scalars(select(Listing).where(col(Listing.node_id).in_([o.node_id for o in outcomes])))
        }
        outcomes = [o for o in outcomes if o.node_id in rows]  # delisted meanwhile: forget the answer
        changes, summaries, refusals = [], [], []
        for out in outcomes:
            row = rows[out.node_id]
            if (
                out.summary is not None
                and row.summary_created
                and parse_time(out.summary.created) < row.summary_created
            ):
                out.health, out.code, out.message, out.summary = (
                    "refused",
                    "stale_summary",
                    "older than the last one",
                    None,
                )
            changes.append(_listing_change(row, out, at))
            if out.summary is not None and out.summary.body != row.summary:
                summaries.append({"node_id": out.node_id, "received_at": at, "envelope": out.raw})
            if out.health == "refused" and (row.health, row.last_code) != ("refused", out.code):  # once per spell
                refusals.append(
                    {"at": at, "node_id": out.node_id, "source": "poll", "code": out.code, "message": out.message}
                )
            if out.initiatives is not None:
                replace_initiatives(session, out.node_id, out.initiatives, at)
            if out.funding is not None:
                funding.replace_leads(session, out.node_id, out.funding, out.funding_hash, at)
        polls = [
            {"node_id": o.node_id, "at": at, "outcome": o.health, "latency_ms": o.latency_ms, "code": o.code}
            for o in outcomes
        ]
        if changes:
            session.execute(update(Listing), changes)
        for table, values in ((PollRecord, polls), (SummaryRecord, summaries), (Refusal, refusals)):
            if values:  # an empty list would insert one row of defaults
                session.execute(insert(table), values)
        session.execute(delete(PollRecord).where(col(PollRecord.at) < keep_from))
        session.execute(delete(Refusal).where(col(Refusal.at) < keep_from))
        session.execute(delete(SummaryRecord).where(col(SummaryRecord.received_at) < keep_from))


def replace_initiatives(session: Session, node_id: str, initiatives: list, at: datetime) -> None:
    session.execute(delete(InitiativeRecord).where(col(InitiativeRecord.node_id) == node_id))
    if initiatives:
        session.execute(insert(InitiativeRecord), [{**i, "node_id": node_id, "updated_at": at} for i in initiatives])


class Poller:
    """A background thread that polls every ``poll_seconds``; stop() ends it."""

    def __init__(self, directory) -> None:
        self.directory = directory
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="directory-poller", daemon=True)
        self.last: PollReport | None = None

    def start(self) -> Poller:
        self._thread.start()
        return self

    def _run(self) -> None:
        period = max(1, self.directory.settings.poll_seconds)
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.last = poll_once(self.directory)
                log.info("polled %d nodes in %.2fs", len(self.last.outcomes), self.last.seconds)
            except Exception:  # a broken poll must not end the schedule; the next one tries again
                log.exception("directory poll failed")
            self._stop.wait(max(0.0, period - (time.monotonic() - began)))

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


PUSH_REFUSALS_PER_MINUTE = 30  # a public endpoint must not let anyone fill the refusals table


def record_push(directory, raw: bytes) -> str:
    """Accept a summary a listed node delivered itself; refuse (and show) anything else."""
    checks = checks_for(directory)
    try:
        claimed = Envelope.from_dict(parse_json(raw)).from_
    except ProtocolError as exc:
        _refuse_push(directory, "?", exc.code, exc.message)
    with directory.db.read() as session:
        row = session.get(Listing, claimed)
    if row is None or row.status != "listed":
        _refuse_push(directory, claimed, "not_listed", f"{claimed} is not listed in this directory")
    try:
        env = verify_answer(
            raw,
            type_name="directory_summary",
            node_id=row.node_id,
            keyring=keyring_of(row.keys, row.node_id),
            checks=checks,
        )
    except Refused as exc:
        _refuse_push(directory, claimed, exc.code, exc.message)
    now, created = directory.now(), parse_time(env.created)
    with directory.db.write() as session:
        row = session.get(Listing, claimed)
        stale = row.summary_created is not None and created < row.summary_created
        if not stale:
            if env.body != row.summary:
                session.add(SummaryRecord(node_id=row.node_id, received_at=now, envelope=raw.decode("utf-8")))
            row.summary, row.summary_created, row.last_ok_at = env.body, created, now
    if stale:
        _refuse_push(directory, claimed, "stale_summary", "older than the summary the directory has")
    return claimed


def _refuse_push(directory, node_id: str, code: str, message: str):
    now = directory.now()
    with directory.db.write() as session:
        recent = session.execute(
            select(func.count())
            .select_from(Refusal)
            .where(col(Refusal.source) == "push", Refusal.at >= now - timedelta(minutes=1))
        ).scalar_one()
        if recent < PUSH_REFUSALS_PER_MINUTE:
            session.add(Refusal(at=now, node_id=node_id[:64], source="push", code=code[:64], message=message[:500]))
    raise Refused(code, message)
