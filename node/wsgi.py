"""The WSGI entry point for production: `gunicorn 'node.wsgi:app'`, settings from SIFNET_* variables.

The app is built when gunicorn asks for `app` (importing the module alone does nothing,
like every node module). Each gunicorn worker does that after the fork (do not use
--preload: the database pool and the delivery thread must belong to the worker that
uses them). Web processes never start the scheduler: the single `sifnet node worker` process runs
the sweeps; outbox delivery is still kicked right after each commit in the web
process, and the worker retries whatever is left.
"""

from __future__ import annotations

import logging

from .app import create_app
from .observability import configure_logging
from .settings import load_settings


def build_app():
    """The node app for one web worker process."""
    settings = load_settings()
    configure_logging(settings)
    if settings.scheduler != "worker":
        # Several web workers must not each run the jobs; say so instead of silently doing nothing.
        logging.getLogger(__name__).warning(
            "scheduler=%r: web processes never run scheduled jobs; set SIFNET_SCHEDULER=worker and run "
            "`sifnet node worker`",
            settings.scheduler,
        )
    return create_app(settings=settings)


_APP = None


def __getattr__(name: str):
    """`node.wsgi.app`: built on first access, once per process."""
    global _APP
    if name != "app":
        raise AttributeError(name)
    if _APP is None:
        try:
            _APP = build_app()
        except AttributeError as exc:  # gunicorn would report it as "no attribute 'app'"
            raise RuntimeError(f"building the node app failed: {exc}") from exc
    return _APP
