"""Small stand-ins for national nodes: a threaded loopback HTTP server per node that serves a node document,
a signed directory summary, signed initiatives and signed funding leads, each signed for real with the node's own key.

A FakeNode can answer slowly (``delay``), sign badly (``mode="bad_signature"``), address another
directory (``mode="wrong_recipient"``), or pass off another node's summary (``mode="impostor"``).
It counts the requests per path so tests can see what the directory fetched.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from protocol import (
    PROTOCOL_VERSION,
    SigningKey,
    b64url_encode,
    canonical_json,
    format_time,
    make_envelope,
    sign_envelope,
)

BODY = {
    "members": 10,
    "active_30d": 6,
    "active_180d": 9,
    "reviewers_by_tag": {"food": 2},
    "reviewers_by_language": {"en": 2},
    "proposals_open": 1,
    "proposals_reviewed": 2,
    "median_turnaround_days": 4,
    "sif_in_circulation": 90,
    "cross_border": [],
    "software_version": "sifnet fake",
    "protocol_version": PROTOCOL_VERSION,
}


def key_for(name: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"fake-node/{name}".encode()).digest())


def utc_now() -> datetime:
    return datetime.now(UTC)


class FakeNode:
    """One fake national node on a loopback port."""

    def __init__(
        self,
        node_id: str,
        country: str,
        *,
        body: dict | None = None,
        initiatives: list | None = None,
        funding: list | None = None,
        delay: float = 0.0,
        mode: str = "good",
        directory_id: str = "eu-dir",
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.node_id, self.country, self.delay, self.mode = node_id, country, delay, mode
        self.body = dict(BODY if body is None else body)
        self.initiatives = list(initiatives or [])
        self.funding = list(funding or [])
        self.funding_hash_override = ""  # a summary naming other leads than those served
        self.directory_id, self.now = directory_id, now
        self.key = key_for(node_id)
        self.hits: dict[str, int] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.hits[self.path] = fake.hits.get(self.path, 0) + 1
                if fake.delay and self.path.startswith("/federation/"):  # the document is fetched once, at listing
                    time.sleep(fake.delay)
                answer = fake.answer(self.path)
                if answer is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def fingerprint(self) -> str:
        return self.key.public_key.fingerprint

    def start(self) -> FakeNode:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def initiatives_body(self) -> dict:
        return {"initiatives": [{"contact": f"{self.url}/initiatives/{i['ref']}", **i} for i in self.initiatives]}

    def summary_body(self) -> dict:
        body = dict(self.body)
        if self.initiatives:
            listed = self.initiatives_body()["initiatives"]
            body["initiatives_hash"] = b64url_encode(hashlib.sha256(canonical_json(listed)).digest())
        if self.funding:
            digest = b64url_encode(hashlib.sha256(canonical_json(self.funding)).digest())
            body["funding_hash"] = self.funding_hash_override or digest
        return body

    def envelope(self, type_name: str, body: dict, to: str) -> bytes:
        sender = "someone-else" if self.mode == "impostor" else self.node_id
        key = key_for(sender) if self.mode == "impostor" else self.key
        env = sign_envelope(
            make_envelope(
                type=type_name, from_=sender, to=to, created=format_time(self.now()), body=body, id=uuid.uuid4().hex
            ),
            key,
        )
        data = env.to_dict()
        if self.mode == "bad_signature":  # a valid signature of other bytes
            other = sign_envelope(
                make_envelope(
                    type=type_name,
                    from_=sender,
                    to=to,
                    created=data["created"],
                    body={**body, "members": body.get("members", 0) + 1} if type_name == "directory_summary" else body,
                    id=data["id"],
                ),
                key,
            )
            data["sig"] = other.to_dict()["sig"]
        return canonical_json(data)

    def document(self) -> bytes:
        base = self.url
        key = self.key.public_key
        body = {
            "node_id": self.node_id,
            "name": f"Fake {self.node_id}",
            "country": self.country,
            "base_url": base,
            "keys": [{"kid": key.key_id, "public": key.b64}],
            "protocol_versions": [PROTOCOL_VERSION],
            "endpoints": {
                "inbox": base + "/federation/v1/inbox",
                "document": base + "/.well-known/sifnet-node",
                "summary": base + "/federation/v1/summary",
            },
        }
        env = make_envelope(
            type="node_document",
            from_=self.node_id,
            to="*",
            created=format_time(self.now()),
            body=body,
            id=f"doc-{uuid.uuid4().hex}",
        )
        return canonical_json(sign_envelope(env, self.key).to_dict())

    def answer(self, path: str) -> bytes | None:
        to = "other-dir" if self.mode == "wrong_recipient" else self.directory_id
        if path == "/.well-known/sifnet-node":
            return self.document()
        if path == "/federation/v1/summary":
            return self.envelope("directory_summary", self.summary_body(), to)
        if path == "/federation/v1/initiatives":
            return self.envelope("directory_initiatives", self.initiatives_body(), to)
        if path == "/federation/v1/funding":
            return self.envelope("directory_funding", {"leads": self.funding}, to)
        return None

    def rekey(self) -> None:
        """Switch to a new key, as after a rotation the directory has not seen yet."""
        self.key = key_for(self.node_id + "/2")


def cross(peer: str, given: int = 0, received: int = 0, position: int = 0) -> dict:
    return {"peer": peer, "reviews_given": given, "reviews_received": received, "position": position}


CLEARING = {
    "round_id": "r-2026-03",
    "coordinator": "eu-dir",
    "applied": "2026-03-02T09:00:00Z",
    "participants": ["at", "hu", "it"],
    "total_before": 6,
    "total_after": 4,
    "cleared": 2,
}


def initiative(ref: str, name: str, interests: list, sectors: list, stage: str, city: str) -> dict:
    return {
        "ref": ref,
        "name": name,
        "summary": f"{name} works in {city}.",
        "interests": interests,
        "sectors": sectors,
        "stage": stage,
        "city": city,
    }


# Five countries, positions that mirror except it/hu (a dispute), reviews both ways, a clearing, initiatives.
NETWORK = {
    "be-vl": (
        "BE",
        {
            "members": 42,
            "active_30d": 20,
            "active_180d": 35,
            "sif_in_circulation": 380,
            "reviewers_by_tag": {"circular-economy": 3, "food": 2, "governance": 1},
            "reviewers_by_language": {"nl": 4, "fr": 2, "en": 4},
            "cross_border": [cross("nl", 2, 1, 0), cross("hu", 0, 1, 0)],
        },
        [
            initiative(
                "i-1",
                "Repair Café Brugse Poort",
                ["circular-economy", "community-building"],
                ["repair", "community"],
                "scaling",
                "Ghent",
            ),
            initiative(
                "i-2",
                "Buurtkeuken Borgerhout",
                ["food", "social-inclusion", "employment"],
                ["food"],
                "pilot",
                "Antwerp",
            ),
        ],
    ),
    "nl": (
        "NL",
        {
            "members": 35,
            "active_30d": 15,
            "active_180d": 30,
            "sif_in_circulation": 300,
            "reviewers_by_tag": {"food": 2, "housing": 1},
            "reviewers_by_language": {"nl": 3, "en": 3},
            "cross_border": [cross("be-vl", 1, 2, 0)],
        },
        [
            initiative(
                "i-1",
                "Wijkkeuken Rotterdam-Zuid",
                ["food", "social-inclusion", "employment"],
                ["food", "employment"],
                "scaling",
                "Rotterdam",
            )
        ],
    ),
    "at": (
        "AT",
        {
            "members": 28,
            "active_30d": 11,
            "active_180d": 22,
            "sif_in_circulation": 250,
            "reviewers_by_tag": {"housing": 2, "governance": 1},
            "reviewers_by_language": {"de": 3, "en": 2},
            "cross_border": [cross("it", 2, 0, -2), cross("hu", 0, 0, 1)],
        },
        [
            initiative(
                "i-1",
                "Leihladen Innsbruck",
                ["circular-economy", "community-building"],
                ["repair"],
                "pilot",
                "Innsbruck",
            )
        ],
    ),
    "it": (
        "IT",
        {
            "members": 31,
            "active_30d": 9,
            "active_180d": 25,
            "sif_in_circulation": 270,
            "reviewers_by_tag": {"food": 1, "employment": 2},
            "reviewers_by_language": {"it": 3, "en": 1},
            "cross_border": [cross("at", 0, 2, 2), cross("hu", 1, 0, -2)],
            "clearings": [CLEARING],
        },
        [
            initiative(
                "i-1",
                "Cucina di Comunità San Salvario",
                ["food", "social-inclusion", "community-building"],
                ["food", "community"],
                "pilot",
                "Turin",
            )
        ],
    ),
    "hu": (
        "HU",
        {
            "members": 24,
            "active_30d": 12,
            "active_180d": 20,
            "sif_in_circulation": 200,
            "reviewers_by_tag": {"circular-economy": 1, "food": 1},
            "reviewers_by_language": {"hu": 2, "en": 2},
            "cross_border": [cross("be-vl", 1, 0, 0), cross("it", 0, 1, 3), cross("at", 0, 0, -1)],
            "clearings": [CLEARING],
        },
        [
            initiative(
                "i-1",
                "Javítókávézó Szeged",
                ["circular-economy", "community-building"],
                ["repair"],
                "planning",
                "Szeged",
            ),
            initiative(
                "i-2",
                "Józsefvárosi Közösségi Konyha",
                ["food", "social-inclusion", "community-building"],
                ["food", "community"],
                "pilot",
                "Budapest",
            ),
        ],
    ),
}


def network(make) -> list[FakeNode]:
    """Start the five fake nodes of NETWORK with ``make(node_id, country, **options)``."""
    return [
        make(node_id, country, body={**BODY, **figures}, initiatives=listed)
        for node_id, (country, figures, listed) in NETWORK.items()
    ]
