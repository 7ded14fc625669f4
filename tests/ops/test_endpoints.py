"""/healthz, /readyz, /metrics, request ids, JSON logs and proxy trust, on the in-process app."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from federation.tables import ChannelEntry, Peer
from node.app import create_app
from node.keys import KEY_FILE
from node.observability import configure_logging
from node.settings import SettingsError, load_settings
from tests.conftest import FAST_ARGON2


def _metric(body: str, name: str, **labels: str) -> float | None:
    """The value of one sample (labels must match exactly), or None."""
    for match in re.finditer(rf"^{name}(?:{{(.*?)}})? (\S+)$", body, re.M):
        if dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or "")) == labels:
            return float(match.group(2))
    return None


def test_healthz_answers_without_the_database(app, client, ctx):
    ctx.db.engine.dispose()
    ctx.db.engine.pool._creator = lambda *a: (_ for _ in ()).throw(OSError("database is gone"))
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json == {"status": "ok", "node_id": "be-vl"}
    assert client.get("/readyz").status_code == 503


def test_readyz_ready_then_each_reason(client, ctx):
    assert client.get("/readyz").json == {"status": "ready", "node_id": "be-vl"}
    with ctx.db.write() as s:  # the database claims an older revision than the code's head
        head = s.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        s.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.json["reason"] == "schema_not_current"
    assert "sifnet node upgrade" in resp.json["message"]
    with ctx.db.write() as s:
        s.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
    assert client.get("/readyz").status_code == 200
    (ctx.settings.data_path / KEY_FILE).rename(ctx.settings.data_path / "key.moved")
    resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.json["reason"] == "signing_key_missing"


def test_readyz_reports_an_unreachable_database(client, ctx):
    ctx.db.engine.dispose()
    ctx.db.engine.pool._creator = lambda *a: (_ for _ in ()).throw(OSError("connection refused"))
    resp = client.get("/readyz")
    assert resp.status_code == 503 and resp.json["reason"] == "database_unreachable"
    assert "connection refused" in resp.json["message"]


def test_metrics_count_requests_and_read_the_ledger(client, ctx, make_member, token_for):
    anna, _bert = make_member("anna"), make_member("bert")
    before = (
        _metric(
            client.get("/metrics").text,
            "sifnet_http_requests_total",
            endpoint="/api/v1/transfers",
            method="POST",
            status="201",
        )
        or 0
    )
    for amount in (3, 4):
        resp = client.post("/api/v1/transfers", json={"to": "bert", "amount": amount}, headers=token_for(anna))
        assert resp.status_code == 201, resp.json
    refused = client.post("/api/v1/transfers", json={"to": "bert", "amount": 99}, headers=token_for(anna))
    assert refused.status_code == 422
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    body = resp.text
    assert (
        _metric(body, "sifnet_http_requests_total", endpoint="/api/v1/transfers", method="POST", status="201")
        == before + 2
    )
    assert _metric(body, "sifnet_http_requests_total", endpoint="/api/v1/transfers", method="POST", status="422") >= 1
    assert _metric(body, "sifnet_ledger_balance_total") == 0
    assert _metric(body, "sifnet_ledger_balance_sum", kind="member") == 20
    assert _metric(body, "sifnet_ledger_balance_sum", kind="issuance") == -20
    assert _metric(body, "sifnet_ledger_transactions") == 4  # two grants, two transfers
    client.get("/no/such/page")
    assert (
        _metric(
            client.get("/metrics").text, "sifnet_http_requests_total", endpoint="unmatched", method="GET", status="404"
        )
        >= 1
    )


def test_metrics_show_outbox_depth_and_failures_per_peer(client, ctx):
    now = ctx.now()
    with ctx.db.write() as s:
        s.add(
            Peer(
                node_id="hu", base_url="http://hu.invalid", fingerprint="x", status="active", created_at=now, failures=3
            )
        )
        s.add(Peer(node_id="nl", base_url="http://nl.invalid", fingerprint="y", status="suspended", created_at=now))
        s.flush()  # the peers before their entries (foreign key)
        for seq in (1, 2, 3):
            s.add(
                ChannelEntry(
                    peer_id="hu",
                    direction="out",
                    seq=seq,
                    type="t",
                    envelope_id=f"e{seq}",
                    entry_hash="h",
                    envelope="{}",
                    created_at=now,
                    acked_at=now + timedelta(seconds=1) if seq == 1 else None,
                )
            )
        s.add(
            ChannelEntry(
                peer_id="hu",
                direction="in",
                seq=1,
                type="t",
                envelope_id="i1",
                entry_hash="h",
                envelope="{}",
                created_at=now,
            )
        )
    body = client.get("/metrics").text
    assert _metric(body, "sifnet_outbox_depth", peer="hu") == 2
    assert _metric(body, "sifnet_outbox_depth", peer="nl") == 0
    assert _metric(body, "sifnet_delivery_failures", peer="hu") == 3
    assert _metric(body, "sifnet_peer_active", peer="hu") == 1 and _metric(body, "sifnet_peer_active", peer="nl") == 0


def test_job_runs_are_counted(app):
    from node.scheduler import register_app, run_sweeps

    def count(job: str, outcome: str) -> float:
        return _metric(app.test_client().get("/metrics").text, "sifnet_job_runs_total", job=job, outcome=outcome) or 0

    before = count("retry_deliveries", "ok")
    done = run_sweeps(register_app(app))
    assert "retry_deliveries" in done
    assert count("retry_deliveries", "ok") == before + 1


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/healthz", headers={"X-Request-Id": "edge-42.a"}).headers["X-Request-Id"] == "edge-42.a"
    generated = client.get("/healthz").headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/healthz").headers["X-Request-Id"] != generated
    # An id that could forge log fields or headers is replaced, not echoed.
    hostile = client.get("/healthz", headers={"X-Request-Id": 'x" level="ERROR'}).headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", hostile)


@pytest.fixture
def log_stream(restore_logging):
    """The root logger writing JSON into a buffer (undone afterwards)."""
    stream = io.StringIO()
    configure_logging(load_settings({"log_format": "json"}, environ={}), stream=stream)
    return stream


def test_json_log_lines_carry_the_request_id(app, client, log_stream):
    @app.get("/_ops_test/log")
    def _log_something():
        logging.getLogger("sifnet.test").warning("inside the request")
        return "ok"

    client.get("/_ops_test/log", headers={"X-Request-Id": "req-1"})
    logging.getLogger("sifnet.test").warning("outside any request")
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    inside = next(x for x in lines if x["message"] == "inside the request")
    access = next(x for x in lines if x["logger"] == "sifnet.request")
    outside = next(x for x in lines if x["message"] == "outside any request")
    assert inside["request_id"] == access["request_id"] == "req-1"
    assert access["status"] == 200 and access["path"] == "/_ops_test/log" and access["method"] == "GET"
    assert inside["level"] == "WARNING" and inside["time"].endswith("Z")
    assert outside["request_id"] == "-"


def test_log_format_must_be_known():
    with pytest.raises(SettingsError):
        configure_logging(load_settings({"log_format": "xml"}, environ={}))


def _proxy_app(tmp_path, hops: int):
    app = create_app(
        {"data_dir": str(tmp_path / f"proxy{hops}"), "proxy_fix": hops, "federation": False, **FAST_ARGON2}
    )

    @app.get("/_ops_test/where")
    def _where():
        from flask import request

        return {"host_url": request.host_url, "remote_addr": request.remote_addr}

    return app


def test_proxy_fix_makes_the_public_scheme_and_host_visible(tmp_path):
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "sif.example.org",
        "X-Forwarded-Port": "443",
        "X-Forwarded-For": "203.0.113.9",
    }
    trusting = _proxy_app(tmp_path, 1).test_client().get("/_ops_test/where", headers=forwarded).json
    assert trusting == {"host_url": "https://sif.example.org/", "remote_addr": "203.0.113.9"}
    # Without a trusted proxy (the default) a client cannot claim another host or address.
    direct = _proxy_app(tmp_path, 0).test_client().get("/_ops_test/where", headers=forwarded).json
    assert direct == {"host_url": "http://localhost/", "remote_addr": "127.0.0.1"}


def test_proxy_fix_refuses_a_negative_count(tmp_path):
    with pytest.raises(SettingsError):
        create_app({"data_dir": str(tmp_path / "neg"), "proxy_fix": -1, **FAST_ARGON2})
