"""Domain errors: each has a machine-readable code, a human message and an HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the node refused the request; nothing was changed."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.field = field

    def to_dict(self) -> dict:
        out = {"code": self.code, "message": str(self.message)}  # str(): a lazy_gettext message renders now
        if self.field:
            out["field"] = self.field
        return out


class ValidationError(DomainError):
    """Input is malformed: wrong type, missing field, out of range."""

    status = 422
    code = "invalid_input"


class FieldErrors(ValidationError):
    """Several fields refused at once, so that a form shows every error beside its field in one go.

    The first refusal is the answer's code, message and field (what a client reading one error sees);
    `errors` holds them all, and the API answer lists them under "fields".
    """

    def __init__(self, errors: list[DomainError]):
        first = errors[0]
        super().__init__(first.message, code=first.code, status=first.status, field=first.field)
        self.errors = errors

    def to_dict(self) -> dict:
        return {**super().to_dict(), "fields": [e.to_dict() for e in self.errors]}


class NotFoundError(DomainError):
    status = 404
    code = "not_found"


class AuthError(DomainError):
    """Not logged in, or the credentials are wrong."""

    status = 401
    code = "unauthenticated"


class ForbiddenError(DomainError):
    """Logged in, but this is not yours (or you are not a coordinator)."""

    status = 403
    code = "forbidden"


class ConflictError(DomainError):
    """The request clashes with the current state (already done, wrong state)."""

    status = 409
    code = "conflict"


class LedgerError(DomainError):
    """A money movement was refused (limit, closed account, bad amount)."""

    status = 422
    code = "ledger_refused"


class IllegalTransitionError(ConflictError):
    code = "illegal_transition"


class RateLimitedError(DomainError):
    """Too many attempts; `retry_after` (seconds) becomes the answer's Retry-After header."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
