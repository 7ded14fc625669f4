"""Security headers on every answer: a strict Content-Security-Policy on pages, nosniff on everything.

A small after-request hook instead of Flask-Talisman: Talisman redirects to HTTPS and sets HSTS by
default, which breaks the loopback devnet and the tests (plain http://127.0.0.1), and TLS is
nginx's job in production (deploy/nginx). The pages need no exception in the policy: they carry
no script at all, and every style lives in the static stylesheet (no style attribute, no <style>);
the directory's charts are SVG drawn with presentation attributes, which style-src does not govern.
"""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# What a document (HTML, or SVG, which can carry script too) gets.
DOCUMENT_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # a link's path (an unlock token, a proposal id) never leaves the site
}
DOCUMENT_TYPES = ("text/html", "image/svg+xml")


def add_security_headers(response: Response) -> Response:
    """Set the headers a view did not set itself: all of them on documents, nosniff on every answer."""
    if response.mimetype in DOCUMENT_TYPES:
        for name, value in DOCUMENT_HEADERS.items():
            response.headers.setdefault(name, value)
    else:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every answer of this app (error pages included)."""
    app.after_request(add_security_headers)
