"""Web pages: the advice area (to be filled in)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("advice", __name__)
