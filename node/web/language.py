"""The language switch on every page: POST /language with `lang` and `next` (a path on this site)."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for

from .. import i18n
from ..context import node_ctx
from ..services import members
from ..tables import Member
from .pages import current_member

bp = Blueprint("language", __name__)


@bp.post("/language")
def switch():
    """Remember the choice in the session and, for a logged-in member, as their saved language."""
    lang = i18n.choose_language(request.form.get("lang"))
    member = current_member()
    if member is not None and member.language != lang:
        ctx = node_ctx()
        with ctx.db.write() as s:
            members.update_profile(
                s, ctx.settings, member=s.get_one(Member, member.id), data={"language": lang}, now=ctx.now()
            )
    return redirect(i18n.on_site(request.form.get("next"), url_for("auth.home")), 303)
