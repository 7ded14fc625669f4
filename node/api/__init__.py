"""The JSON API under /api/v1: every action of the UI, with token auth."""

from __future__ import annotations

from flask import Flask

API_MODULES = ("members", "notes", "coordinator", "advice", "reviews", "rounds", "funding", "messages", "events")


def init_app(app: Flask) -> None:
    """Register every API blueprint under /api/v1 and the OpenAPI document."""
    import importlib

    from .openapi import blueprint as openapi_bp

    for name in API_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        app.register_blueprint(module.api.blueprint, url_prefix="/api/v1")
    app.register_blueprint(openapi_bp)
