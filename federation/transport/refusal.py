"""The one refusal type of the federation endpoints and the one handler that answers it.

Every refusal carries a code of the protocol's error table (`protocol.ERROR_CODES`, which
SPEC.md section 11 documents row for row); its HTTP status comes from that table, so the
node cannot answer a code with another status than SPEC gives. A refusal changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from protocol import ERROR_CODES, ProtocolError, RemoteProtocolError


class Refusal(Exception):
    """A federation request refused with a registered code and a human message."""

    def __init__(self, code: str, message: str, *, where: str | None = None):
        if code not in ERROR_CODES:  # a typo must fail in tests, never reach the wire
            raise KeyError(f"unregistered federation error code {code!r}")
        super().__init__(message)
        self.code, self.message, self.where = code, message, where

    @property
    def status(self) -> int:
        return ERROR_CODES[self.code].status

    def to_dict(self) -> dict:
        out = {"code": self.code, "message": self.message}
        if self.where:
            out["where"] = self.where
        return out

    @classmethod
    def of(cls, exc: ProtocolError, prefix: str = "") -> Refusal:
        """The refusal for a protocol check that failed (its code, and its path in the message)."""
        return cls(exc.code, prefix + exc.message, where=exc.where)


def answer(refusal: Refusal):
    """The SPEC's error body: {"error": {"code", "message", "where"?}} with the table's status."""
    return jsonify({"error": refusal.to_dict()}), refusal.status


def register(bp: Blueprint) -> None:
    """Answer every refusal and remote protocol error raised by this blueprint's endpoints the same way.

    A LocalProtocolError is our own bug: it stays a 500.
    """
    bp.register_error_handler(Refusal, answer)
    bp.register_error_handler(RemoteProtocolError, lambda exc: answer(Refusal.of(exc)))
