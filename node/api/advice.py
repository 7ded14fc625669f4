"""JSON API: the advice area (to be filled in)."""
from __future__ import annotations

from .base import ApiBlueprint

api = ApiBlueprint("advice", "advice")
