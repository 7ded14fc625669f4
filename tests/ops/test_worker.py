"""`sifnet node worker` runs the sweeps until SIGTERM; `sifnet node upgrade`; node.wsgi never starts the scheduler."""

from __future__ import annotations

import importlib
import struct
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from deploy.processes import worker
from federation.state import federation_of
from tests.procs import NodeProcess, settings_env, wait_for

from .test_endpoints import _metric


def _job_runs(metrics_dir) -> float:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    try:
        text = generate_latest(registry).decode()
    except (ValueError, OSError, struct.error):  # a metrics file the worker is creating right now: ask again
        return 0
    return _metric(text, "sifnet_job_runs_total", job="retry_deliveries", outcome="ok") or 0


@pytest.mark.slow
def test_worker_runs_the_sweeps_and_stops_cleanly_on_sigterm(tmp_path):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    node = NodeProcess(tmp_path / "w", "w", settings={"scheduler": "worker", "sweep_seconds": 1}).init()
    jobs = worker(node, env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}).start()
    try:
        wait_for(lambda: _job_runs(metrics_dir) >= 2 or not jobs.running, timeout=60, what="two sweep runs")
        assert jobs.running, jobs.log_text()
    finally:
        code = jobs.terminate()
    assert code == 0, jobs.log_text()
    assert "worker: stopped" in jobs.log_text()


def test_upgrade_creates_a_fresh_schema_and_is_idempotent(tmp_path):
    node = NodeProcess(tmp_path / "u", "u")
    node.data_dir.mkdir(parents=True)
    first = node.cli("upgrade")
    assert first.stdout.startswith("database schema: empty -> ") and "(current)" in first.stdout
    head = first.stdout.split("-> ")[1].split(" ")[0]
    again = node.cli("upgrade")
    assert again.stdout.strip() == f"database schema: {head} -> {head} (current)"


def test_wsgi_app_never_starts_the_scheduler(tmp_path, monkeypatch, caplog, restore_logging):
    import logging

    for key, value in settings_env(
        {
            "data_dir": str(tmp_path / "wsgi"),
            "node_id": "wsgi",
            "scheduler": "inprocess",
            "argon2_memory_kib": 1024,
            "argon2_time_cost": 1,
        }
    ).items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("node.wsgi", None)
    try:
        with caplog.at_level(logging.WARNING, logger="node.wsgi"):
            wsgi = importlib.import_module("node.wsgi")
            assert wsgi._APP is None  # importing builds nothing; gunicorn's getattr(module, "app") does
            assert wsgi.app.extensions["sifnet"].settings.node_id == "wsgi"
        assert "sifnet_scheduler" not in wsgi.app.extensions
        assert "run `sifnet node worker`" in caplog.text  # scheduler=inprocess is ignored, loudly
        assert wsgi.app.test_client().get("/readyz").status_code == 200
    finally:
        module = sys.modules.pop("node.wsgi", None)
        if module is not None and module._APP is not None:
            federation_of(module._APP).stop()
            module._APP.extensions["sifnet"].db.dispose()
