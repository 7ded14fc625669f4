"""Checks every page answer must pass: the security headers, and no inline script, style or handler."""

from __future__ import annotations

import re

from node.security_headers import CONTENT_SECURITY_POLICY

DOCUMENT_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# What the CSP would block: a <script> without src (inline code), a <style> element, a style attribute,
# an on*= event handler attribute, a javascript: URL.
INLINE = (
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    re.compile(r"<style[\s>]", re.I),
    re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I),
    re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I),
    re.compile(r"javascript:", re.I),
)


def inline_code(html: str) -> list[str]:
    """The pieces of a page a strict CSP would refuse to run or apply."""
    return [m.group(0)[:80] for pattern in INLINE for m in pattern.finditer(html)]


def header_problems(response) -> list[str]:
    """What is missing from an answer's security headers (all of them on HTML, nosniff on the rest)."""
    if response.mimetype == "text/html":
        expected = DOCUMENT_HEADERS
    else:
        expected = {"X-Content-Type-Options": "nosniff"}
    return [
        f"{name}: {response.headers.get(name)!r}"
        for name, value in expected.items()
        if response.headers.get(name) != value
    ]


def get_rules_without_arguments(app) -> list[str]:
    """Every GET route of the app that takes no URL argument (static files aside)."""
    return sorted(
        {
            rule.rule
            for rule in app.url_map.iter_rules()
            if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static"
        }
    )
