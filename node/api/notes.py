"""JSON API of a member's notifications: mark them read, and which kinds also come by mail."""

from __future__ import annotations

from flask import g, jsonify
from flask_babel import gettext as _

from .. import notices
from ..context import node_ctx
from ..services import notifications
from .base import BOOL, ApiBlueprint, arr, integer, json_body, obj, string

api = ApiBlueprint("notes", "members")

MAIL_SETTING = obj(
    kind=string(description="a notification kind"),
    about=string(description="what the kind is about, in the request's language"),
    mail=BOOL,
    default=BOOL,
)
MAIL_SETTINGS = obj(("settings",), settings=arr(MAIL_SETTING))


@api.route(
    "/notifications/read",
    "POST",
    "Mark every notification of yours read",
    response=obj(("marked",), marked=integer(0)),
)
def mark_read():
    ctx = node_ctx()
    with ctx.db.write() as session:
        marked = notifications.mark_all_read(session, g.member.id, ctx.now())
    return jsonify({"marked": marked})


@api.route("/me/mail-settings", "GET", "Which notification kinds also come to you by mail", response=MAIL_SETTINGS)
def get_mail_settings():
    ctx = node_ctx()
    with ctx.db.read() as session:
        return jsonify(_settings_json(notifications.mail_settings(session, g.member.id)))


@api.route(
    "/me/mail-settings",
    "PUT",
    "Choose, per notification kind, whether it also comes by mail (kinds left out keep their setting)",
    body=obj(**{kind: BOOL for kind in notices.NOTICES}),
    response=MAIL_SETTINGS,
)
def put_mail_settings():
    data = json_body()
    ctx = node_ctx()
    with ctx.db.write() as session:
        chosen = notifications.save_mail_settings(session, g.member.id, data, ctx.now())
    return jsonify(_settings_json(chosen))


def _settings_json(chosen: dict[str, bool]) -> dict:
    return {
        "settings": [
            {"kind": kind, "about": _(notice.about), "mail": chosen[kind], "default": notice.mail}
            for kind, notice in notices.NOTICES.items()
        ]
    }
