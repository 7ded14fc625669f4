"""The quick scan in words and as JSON: one shape for the API and the pages, in the reader's language.

Each part of a score becomes a reason (a sentence, the points, and the values it was made from), so a
program reads the same reasons a visitor does; ``explanation`` joins the sentences.
"""

from __future__ import annotations

from typing import Any

from babel.lists import format_list
from flask import url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from federation.labels import STAGE
from node import i18n

from .scan import Item, Match, Pair, Part, Shared
from .scan_groups import Group
from .scan_hints import Hint, Unknown


def tag_words(tags: tuple[Shared, ...]) -> str:
    """ "'circular-economy' (rare), 'repair' and 'food' (common, counts little)", as the language lists."""
    words = []
    for s in tags:
        if s.rarity == "rare":
            words.append(_("'%(tag)s' (rare)", tag=s.tag))
        elif s.rarity == "common":
            words.append(_("'%(tag)s' (common, counts little)", tag=s.tag))
        else:
            words.append(_("'%(tag)s'", tag=s.tag))
    return format_list(words, locale=i18n.current_language())


def reason_text(part: Part) -> str:
    """One part of a score as a sentence."""
    n = len(part.shared)
    if part.name == "interests":
        if not n:
            return _("no interest in common")
        return ngettext("share the interest %(tags)s", "share the interests %(tags)s", n, tags=tag_words(part.shared))
    if part.name == "sectors":
        if not n:
            return _("no sector in common")
        return ngettext("share the sector %(tags)s", "share the sectors %(tags)s", n, tags=tag_words(part.shared))
    if part.name == "stage":
        return _stage_text(part)
    return _border_text(part)


def _stage_text(part: Part) -> str:
    a, b = (STAGE(s) for s in part.sides)
    if part.fraction == 1:
        return _("both at the same stage: %(stage)s", stage=a)
    if part.fraction > 0:
        return _("neighbouring stages: %(a)s and %(b)s", a=a, b=b)
    if not all(part.sides):
        return _("stage unknown")
    return _("stages far apart: %(a)s and %(b)s", a=a, b=b)


def _border_text(part: Part) -> str:
    a, b = (i18n.country_name(c) if c else "" for c in part.sides)
    if part.fraction:
        return _("across a border: %(a)s and %(b)s", a=a, b=b)
    if part.same_node:
        return _("listed by the same node (no cross-border bonus)")
    if not (a and b):
        return _("country unknown (no cross-border bonus)")
    return _("both in %(country)s (no cross-border bonus)", country=a)


def reasons_json(parts: tuple[Part, ...]) -> list[dict]:
    out = []
    for p in parts:
        reason: dict = {"part": p.name, "points": p.points, "of": p.of, "text": reason_text(p)}
        if p.name in ("interests", "sectors"):
            reason["shared"] = [
                {"tag": s.tag, "held_by": s.held_by, "weight": round(s.weight, 3), "rarity": s.rarity} for s in p.shared
            ]
        else:
            reason["values"] = list(p.sides)
        out.append(reason)
    return out


def initiative_json(i: Item) -> dict:
    return {
        "key": i.key,
        "node_id": i.node_id,
        "ref": i.ref,
        "name": i.name,
        "country": i.country,
        "stage": i.stage,
        "contact": i.contact,
    }


def match_json(m: Match) -> dict:
    """One initiative a scan found, with its score, the points of each part and the reasons."""
    reasons = reasons_json(m.parts)
    return {
        **initiative_json(m.item),
        "score": m.score,
        "points": m.points,
        "shared_interests": [s.tag for s in m.shared("interests")],
        "shared_sectors": [s.tag for s in m.shared("sectors")],
        "reasons": reasons,
        "explanation": "; ".join(r["text"] for r in reasons),
    }


def pair_json(p: Pair) -> dict:
    reasons = reasons_json(p.match.parts)
    return {
        "a": initiative_json(p.a),
        "b": initiative_json(p.b),
        "score": p.match.score,
        "points": p.match.points,
        "reasons": reasons,
        "explanation": "; ".join(r["text"] for r in reasons),
    }


def group_json(g: Group) -> dict:
    return {
        "countries": list(g.countries),
        "size": len(g.items),
        "mean_score": round(g.mean),
        "common_interests": [{"tag": tag, "held_by": n} for tag, n in g.common],
        "initiatives": [initiative_json(i) for i in g.items],
        "links": [pair_json(p) for p in g.links],
    }


def hint_json(h: Hint, args: dict[str, str]) -> dict | None:
    """Why nothing was found and the unknown tags, each suggestion with the page and API that scan with it."""
    if not h.reason and not h.unknown:
        return None
    out: dict = {
        "reason": h.reason,
        "message": _reason_message(h),
        "unknown": [_unknown_json(u, args) for u in h.unknown],
    }
    if h.reason == "only_same_country":
        out["same_country"] = h.same_country
        out["links"] = _links({**args, "other_countries": "0"})
    return out


def _reason_message(h: Hint) -> str:
    if h.reason == "nothing_listed":
        return _("No other initiative is listed yet.")
    if h.reason == "unknown_tags":
        return _("No listed initiative holds any of the tags you gave, so there was nothing to compare.")
    if h.reason == "only_same_country":
        return ngettext(
            "Nothing in other countries; %(num)d initiative in the same country shares interests or sectors.",
            "Nothing in other countries; %(num)d initiatives in the same country share interests or sectors.",
            h.same_country,
        )
    if h.reason == "nothing_shared":
        return _("No other listed initiative shares any of these interests or sectors.")
    return ""


def _unknown_json(u: Unknown, args: dict[str, str]) -> dict:
    if u.field == "interests":
        message = _("No listed initiative holds the interest '%(tag)s'.", tag=u.tag)
    else:
        message = _("No listed initiative works in the sector '%(tag)s'.", tag=u.tag)
    given = [t for t in args.get(u.field, "").split(",") if t]
    if u.other_field:
        offer = (
            _("Listed initiatives use it as a sector:")
            if u.other_field == "sectors"
            else _("Listed initiatives use it as an interest:")
        )
        moved = {u.field: ",".join(t for t in given if t != u.tag), u.other_field: _add(args, u.other_field, u.tag)}
        suggestions = [{"tag": u.tag, "field": u.other_field, **_links({**args, **moved})}]
    else:
        offer = _("Nearest tags in use:") if u.near else _("Nothing in use is near it; the tags held most:")
        suggestions = []
        for tag in u.suggestions:
            replaced = ",".join(dict.fromkeys(tag if t == u.tag else t for t in given))
            suggestions.append({"tag": tag, "field": u.field, **_links({**args, u.field: replaced})})
    return {
        "field": u.field,
        "tag": u.tag,
        "message": message,
        "near": u.near,
        "offer": offer,
        "suggestions": suggestions,
    }


def _add(args: dict[str, str], field_name: str, tag: str) -> str:
    return ",".join(dict.fromkeys([*(t for t in args.get(field_name, "").split(",") if t), tag]))


def _links(args: dict[str, str]) -> dict[str, str]:
    shown: dict[str, Any] = {k: v for k, v in args.items() if v}
    return {"page": url_for("directory.scan_page", **shown), "api": url_for("directory_api.scan_json", **shown)}
