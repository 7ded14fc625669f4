"""JSON API: the reviews area (to be filled in)."""
from __future__ import annotations

from .base import ApiBlueprint

api = ApiBlueprint("reviews", "reviews")
