"""Operating endpoints: /healthz (process up), /readyz (ready to serve), /metrics (Prometheus); proxy trust."""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, Flask, Response, jsonify
from sqlalchemy import text

from . import observability
from .context import NodeContext, node_ctx
from .db import alembic_config

bp = Blueprint("ops", __name__)


def init_app(app: Flask) -> None:
    """Register the endpoints, request ids and counters; trust proxy_fix proxies' forwarded headers."""
    settings = node_ctx(app).settings
    if settings.proxy_fix < 0:
        from .settings import SettingsError

        raise SettingsError("setting proxy_fix: expected 0 or more trusted proxies")
    if settings.proxy_fix:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_fix
        # Wrapping the WSGI callable is how Flask documents ProxyFix; typeshed sees a method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=0
        )
    observability.init_app(app)
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers (no database access) and says which node it is."""
    return jsonify({"status": "ok", "node_id": node_ctx().settings.node_id})


@bp.get("/readyz")
def readyz():
    """Readiness: database reachable, schema at the newest revision, signing key present when federating."""
    ctx = node_ctx()
    problem = _not_ready(ctx)
    if problem is not None:
        code, message = problem
        return jsonify({"status": "unavailable", "reason": code, "message": message}), 503
    return jsonify({"status": "ready", "node_id": ctx.settings.node_id})


def schema_revisions(engine) -> tuple[str, ...]:
    """The Alembic revisions the database is at (empty before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


def _not_ready(ctx: NodeContext) -> tuple[str, str] | None:
    """Why the node cannot serve yet, or None."""
    try:
        current = set(schema_revisions(ctx.db.engine))
    except Exception as exc:  # any driver error means the same thing here: not reachable
        return "database_unreachable", f"{exc.__class__.__name__}: {str(exc)[:200]}"
    expected = set(_schema_heads(ctx.db.url))
    if current != expected:
        return "schema_not_current", (
            f"database at {', '.join(sorted(current)) or 'no revision'}, code expects "
            f"{', '.join(sorted(expected))}; run `sifnet node upgrade`"
        )
    if ctx.settings.federation:
        from .keys import load_signing_key

        try:
            load_signing_key(ctx.settings.data_path)
        except (OSError, ValueError) as exc:
            return "signing_key_missing", f"no usable signing key in {ctx.settings.data_path}: {exc.__class__.__name__}"
    return None


@lru_cache(maxsize=8)
def _schema_heads(url: str) -> tuple[str, ...]:
    """The migrations' head revisions (read once per process: the code does not change while it runs)."""
    from alembic.script import ScriptDirectory

    return tuple(ScriptDirectory.from_config(alembic_config(url)).get_heads())


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus text exposition: request and job counters of every process, ledger and peer gauges."""
    from prometheus_client import CONTENT_TYPE_LATEST

    from .metrics import exposition

    return Response(exposition(node_ctx()), mimetype=None, content_type=CONTENT_TYPE_LATEST)
