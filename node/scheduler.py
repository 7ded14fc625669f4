"""Scheduled jobs: one persistent APScheduler job runs every area's deadline sweeps.

Sweeps are idempotent (each moves a row only from the state it expects), so a job
that runs twice, or in two processes at once, has its effect once. The scheduler
starts only where a process asks for it: `sifnet node run` in development
(setting scheduler=inprocess) or `sifnet node worker` in production.
"""

from __future__ import annotations

import logging

from flask import Flask

from .context import node_ctx

log = logging.getLogger(__name__)

# The apps this process runs sweeps for, by key: jobs are stored by reference, not by object.
_APPS: dict[str, Flask] = {}


def run_sweeps(app_key: str) -> dict[str, int]:
    """Run every sweep of the app's registry once (the job's target; also called by tests)."""
    app = _APPS[app_key]
    ctx = node_ctx(app)
    from .metrics import record_job

    done = {}
    for name, fn in ctx.sweeps.items():
        try:
            done[name] = fn(ctx)
        except Exception:  # one failing sweep must not stop the others
            log.exception("sweep %s failed", name)
            done[name] = -1
        record_job(name, done[name])
    return done


def register_app(app: Flask) -> str:
    """Make the app reachable by the job (jobs are stored by reference, not by object)."""
    key = str(node_ctx(app).settings.data_path.resolve())
    _APPS[key] = app
    return key


def _build(app: Flask, scheduler_cls):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    ctx = node_ctx(app)
    key = register_app(app)
    scheduler = scheduler_cls(
        jobstores={"default": SQLAlchemyJobStore(url=ctx.db.url)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    scheduler.add_job(
        "node.scheduler:run_sweeps",
        "interval",
        args=[key],
        id="sweeps",
        seconds=ctx.settings.sweep_seconds,
        replace_existing=True,
    )
    return scheduler


def start_scheduler(app: Flask):
    """Start the scheduler in a background thread of this process."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = _build(app, BackgroundScheduler)
    scheduler.start()
    app.extensions["sifnet_scheduler"] = scheduler
    return scheduler


def run_worker(app: Flask) -> None:
    """Run the scheduler in the foreground until SIGTERM or SIGINT; a running sweep finishes first."""
    import signal

    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = _build(app, BlockingScheduler)

    def _stop(signum, _frame):
        log.info("worker: signal %s, stopping after the running jobs", signum)
        scheduler.shutdown(wait=True)  # waits for a running sweep; then start() below returns

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        log.info("worker: running sweeps every %ss", node_ctx(app).settings.sweep_seconds)
        scheduler.start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("worker: stopped")
