"""Web pages: the reviews area (to be filled in)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reviews", __name__)
