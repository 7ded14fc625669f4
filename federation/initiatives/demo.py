"""Demo initiatives for a node (`sifnet node seed-initiatives`): a few per country, listed with consent."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from node.errors import NotFoundError

from . import initiatives
from .tables import Initiative

DEMO_FILE = Path(__file__).with_name("initiatives_demo.json")
COUNTRY_DEMO = {"BE": "be-vl", "NL": "nl", "AT": "at", "IT": "it", "HU": "hu"}
CONSENT_NOTE = "Demo data: agreed to be listed when the devnet was set up"


def demo_for(node_id: str, country: str) -> list[dict]:
    """The demo initiatives for this node id, else for its country, else the Flemish ones."""
    demos = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    return demos.get(node_id) or demos[COUNTRY_DEMO.get(country.upper(), "be-vl")]


def seed_initiatives(ctx) -> list[str]:
    """Add each demo initiative once (by name) and list it; returns a line per initiative."""
    lines = []
    now = ctx.now()
    with ctx.db.write() as session:
        for data in demo_for(ctx.settings.node_id, ctx.settings.country):
            if session.scalars(select(Initiative).where(Initiative.name == data["name"])).first():
                lines.append(f"{data['name']}: already there")
                continue
            try:
                row = initiatives.create_initiative(session, ctx.settings, data=data, now=now)
            except NotFoundError:  # the demo member is not on this node: the coordinators answer instead
                row = initiatives.create_initiative(session, ctx.settings, data={**data, "contact_handle": ""}, now=now)
            initiatives.set_consent(session, ref=row.ref, consent=True, note=CONSENT_NOTE, now=now)
            lines.append(f"{row.name}: listed as {row.ref}")
    return lines
