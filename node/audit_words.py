"""The audit log's lines in words: each action's detail and subject in the reader's language (page, CSV, API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from flask_babel import lazy_gettext as _l

from . import i18n, labels

# What an action's detail says, by action; %(name)s are the detail's values, shown as the reader writes them.
DETAILS: dict[str, object] = {
    "advice_dispute_resolved": _l("%(outcome)s; %(provider_amount)s of %(amount)s to the provider: %(note)s"),
    "peer_added": _l("%(base_url)s, key fingerprint %(fingerprint)s"),
    "peer_confirmed": _l("key fingerprint %(fingerprint)s pinned; trust limit %(trust_limit)s"),
    "trust_limit_changed": _l("from %(old)s to %(new)s"),
    "peer_suspended": _l("reason: %(reason)s"),
    "key_rotated": _l("new key %(new_kid)s; the old key %(old_kid)s is valid until %(old_valid_until)s"),
    "directory_pinned": _l("%(base_url)s, key fingerprint %(fingerprint)s"),
    "clearing_started": _l("participants: %(participants)s"),
    "clearing_applied": _l("run by %(coordinator)s; positions changed: %(changes)s"),
    "federation_dispute_resolved": _l("%(peer)s: %(resolution)s"),
    "message_report_handled": _l("report %(report)s: %(note)s"),
}
# A round's outcome: the amount cleared, then the round's own words (the nodes', as they were written).
CLEARING_OUTCOME = _l("%(cleared)s cleared. %(reason)s")
SUBJECTS = {
    "member": _l("member %(name)s"),
    "peer": _l("peer %(name)s"),
    "booking": _l("advice session %(name)s"),
    "round": _l("clearing round %(name)s"),
    "dispute": _l("dispute %(name)s"),
    "directory": _l("directory %(name)s"),
    "node": _l("this node (%(name)s)"),
}
AMOUNTS = {"provider_amount", "amount", "trust_limit", "old", "new", "cleared"}


def detail_text(entry: Mapping) -> str:
    """An audit line's detail in the reader's language (a reason the node wrote, through |written)."""
    action, detail = entry["action"], entry["detail"]
    values = {k: _shown(k, v) for k, v in detail.items()}
    if action.startswith("clearing_") and action not in DETAILS and action != "clearing_started":
        template = CLEARING_OUTCOME
    else:
        template = DETAILS.get(action)
    if template is None:
        return labels.written(detail.get("reason", ""))
    try:
        return (str(template) % values).strip()
    except (KeyError, ValueError, TypeError):  # a line written by an older version with other values
        return ", ".join(f"{k}: {v}" for k, v in values.items())


def _shown(name: str, value: object) -> object:
    if name in AMOUNTS and isinstance(value, int):
        return labels.amount(value)
    if name == "outcome":
        return labels.label(value, "advice_outcome")
    if name == "old_valid_until":
        return i18n.datetime_filter(cast(str, value))  # details hold JSON: the time as its ISO text
    if name == "participants" and isinstance(value, list):
        return ", ".join(map(str, value))
    if name == "changes" and isinstance(value, dict):
        return ", ".join(f"{peer} {delta:+d}" for peer, delta in value.items())
    return labels.written(value) if isinstance(value, str) else value


def subject_text(entry: Mapping) -> str:
    kind = entry["subject"].partition(":")[0]
    template = SUBJECTS.get(kind)
    return str(template) % {"name": entry["subject_name"]} if template else entry["subject"]
