"""How a round's coordinator talks to its participants: a signed direct message, or a local call for itself."""
from __future__ import annotations

from datetime import datetime

import requests

from protocol import (Envelope, ProtocolError, canonical_json, check_form, check_signature, make_envelope,
                      parse_json, parse_time, sign_envelope)

from . import settlement
from .httpsig import sign_request
from .identity import MESSAGES_PATH, new_envelope_id
from .tables import Peer


class BadAnswer(Exception):
    """A participant's answer that does not count (an error, or not what was asked)."""


def signed(session, fed, type_name: str, to: str, body: dict, now: datetime) -> Envelope:
    env = make_envelope(type=type_name, from_=fed.node_id, to=to, created=now, body=body, id=new_envelope_id())
    return sign_envelope(env, settlement.signing_key(session, fed, to))


def checked_answer(fed, answer: dict, key: str, type_name: str, sender: str, round_id: str) -> Envelope:
    """The signed envelope in a participant's answer, checked: its type, sender, round and signature."""
    if key not in answer:
        error = answer.get("error") or {}
        raise BadAnswer(f"{error.get('code', 'bad_answer')}: {error.get('message', '')}")
    try:
        env = Envelope.from_dict(answer[key])
        check_form(env)
        if (env.type, env.from_, env.to, env.body["round_id"]) != (type_name, sender, fed.node_id, round_id):
            raise BadAnswer(f"the answer is not a {type_name} of {sender} for this round")
        with fed.ctx.db.read() as session:
            check_signature(env, settlement.node_keyring(session, fed), parse_time(env.created))
    except ProtocolError as exc:
        raise BadAnswer(f"{exc.code}: {exc.message}") from None
    return env


def ask(fed, node_id: str, env: Envelope) -> dict:
    """Send a participant a direct message; its answer, or `{"error": ...}` when it failed."""
    if node_id == fed.node_id:
        return _ask_self(fed, env)
    with fed.ctx.db.read() as session:
        peer = session.get(Peer, node_id)
        if peer is None or peer.status != "active":
            return {"error": {"code": "peer_not_active", "message": f"{node_id} is not an active peer"}}
        key = fed.request_key_for(session, node_id)
    body = canonical_json(env.to_dict())
    url = peer.base_url.rstrip("/") + MESSAGES_PATH
    headers = sign_request(method="POST", url=url, body=body, from_node=fed.node_id, to_node=node_id, key=key,
                           now=fed.ctx.now())
    try:
        response = fed.http.post(url, data=body, headers=headers, timeout=fed.timeout)
        answer = parse_json(response.content)
    except (requests.RequestException, ProtocolError) as exc:
        return {"error": {"code": "unreachable", "message": f"{exc.__class__.__name__}: {exc}"[:300]}}
    if not isinstance(answer, dict):
        return {"error": {"code": "bad_answer", "message": f"HTTP {response.status_code}"}}
    return answer


def _ask_self(fed, env: Envelope) -> dict:
    """Take part in our own round through the same functions a peer's message reaches."""
    try:
        if env.type == "position_statement":
            return {"statement": settlement.give_statement(fed, fed.node_id, env.body["round_id"]).to_dict()}
        if env.type == "settlement_proposal":
            return {"acceptance": settlement.answer_proposal(fed, fed.node_id, env).to_dict()}
        return settlement.apply_certificate(fed, fed.node_id, env)
    except settlement.SettlementRefusal as exc:
        return {"error": {"code": exc.code, "message": exc.message}}
