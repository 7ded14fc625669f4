"""The login throttles' parts: keys per address, the wait per failure, and counting before the password check."""

from __future__ import annotations

import threading

import pytest

from node.services.logins import address_key, in_words, wait_after
from tests.conftest import PASSWORD


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "address:203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "address:2001:db8:1:2::/64"),
        ("2001:db8:1:2::ffff", "address:2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "address:203.0.113.7"),  # an IPv4 client on a dual-stack socket
        ("", "address:unknown"),
        (None, "address:unknown"),
        ("not an address", "address:unknown"),
    ],
)
def test_address_key(address, key):
    assert address_key(address) == key


def test_the_wait_starts_at_the_limit_doubles_and_is_capped():
    assert [wait_after(n, 5, 300) for n in range(1, 17)] == [
        0,
        0,
        0,
        0,
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        300,
        300,
        300,
    ]
    assert wait_after(10**6, 5, 300) == 300  # no huge power of two
    assert (in_words(1), in_words(40), in_words(89), in_words(90), in_words(300)) == (
        "1 second",
        "40 seconds",
        "89 seconds",
        "2 minutes",
        "5 minutes",
    )


def test_concurrent_guesses_are_counted_before_any_password_is_checked(app, make_member):
    """Ten guesses at once: five are answered and five wait, however the requests interleave.

    Checking the wait and counting the attempt are one write, before the slow password check.
    """
    make_member("anna")
    start = threading.Barrier(10)
    statuses = []

    def guess(n: int) -> None:
        client = app.test_client()
        start.wait()
        r = client.post("/api/v1/tokens", json={"email": "anna@example.org", "password": f"guess {n}"})
        statuses.append((r.status_code, r.headers.get("Retry-After", "")))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [(401, "")] * 5 + [(429, "1")] * 5
    r = app.test_client().post("/api/v1/tokens", json={"email": "anna@example.org", "password": PASSWORD})
    assert r.status_code == 429  # the right password waits too


def test_the_api_documents_retry_after(client):
    responses = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/tokens"]["post"]["responses"]
    assert responses["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
