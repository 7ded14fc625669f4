"""Input cleaning shared by services: every refusal is a ValidationError with a field.

A refusal names its field by the field's label in the reader's language ("Title: please write at most
200 characters."): the caller's `label`, else the label node.labels keeps for the field's name, else
the sentence goes without one (the API answer's `field` still says which field). `message` replaces
a number refusal with the caller's own sentence, which may use %(low)s and %(high)s.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime

from flask_babel import gettext as _
from flask_babel import ngettext

from ..errors import DomainError, FieldErrors, ValidationError
from ..labels import N_, field_label, number

# Each refusal twice: naming the field by its label, and for a field without one.
NOT_TEXT = N_("%(field)s: please write text here."), N_("Please write text here.")
CONTROL = (
    N_("%(field)s: the text holds invisible control characters; please remove them."),
    N_("The text holds invisible control characters; please remove them."),
)
UNSTORABLE = (
    N_("%(field)s: the text holds characters that cannot be stored; please type it again."),
    N_("The text holds characters that cannot be stored; please type it again."),
)
REQUIRED = N_("%(field)s: please fill this in."), N_("This field is required.")
NOT_A_LIST = N_("%(field)s: please give a list."), N_("Please give a list.")
NOT_A_CHOICE = (N_("%(field)s: “%(value)s” is not one of the choices."), N_("“%(value)s” is not one of the choices."))
NOT_WHOLE = N_("%(field)s: please give a whole number."), N_("Please give a whole number.")
OUT_OF_RANGE = (
    N_("%(field)s: please give a number from %(low)s to %(high)s."),
    N_("Please give a number from %(low)s to %(high)s."),
)
BAD_OPTION = N_("%(field)s: please choose one of the options offered."), N_("Please choose one of the options offered.")
NOT_YES_NO = N_("%(field)s: please answer yes or no (true or false)."), N_("Please answer yes or no (true or false).")
NOT_A_TIME = (
    N_("%(field)s: please give a date and time with its time zone, such as %(example)s."),
    N_("Please give a date and time with its time zone, such as %(example)s."),
)


class Fields:
    """A form's checks, field by field: each refusal is kept and all are raised together by done().

    `value = fields(clean_text, raw, "title", 200)` runs one check; a refusal that names its field is kept
    (the value is then None) and the next field is checked; done() raises the one refusal, or FieldErrors
    for several. Checks that need a valid value of another field come after done().
    """

    def __init__(self) -> None:
        self.errors: list[DomainError] = []

    def __call__(self, check, *args, **kwargs):
        try:
            return check(*args, **kwargs)
        except DomainError as exc:
            if not exc.field or any(e.field == exc.field for e in self.errors):
                raise
            self.errors.append(exc)
            return None

    def done(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise FieldErrors(self.errors)


def _name(field: str, label: object) -> str | None:
    return str(label) if label is not None else field_label(field)


def refusal(field: str, label: object, texts: tuple[str, str], **params: object) -> str:
    """One refusal sentence in the reader's language, naming the field when it has a label."""
    name = _name(field, label)
    return _(texts[1], **params) if name is None else _(texts[0], field=name, **params)


def clean_text(value: object, field: str, max_len: int, required: bool = False, *, label: object = None) -> str:
    """A trimmed string without control characters, at most max_len long."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(refusal(field, label, NOT_TEXT), code="wrong_type", field=field)
    value = value.strip()
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in value):
        raise ValidationError(refusal(field, label, CONTROL), code="control_characters", field=field)
    if any(unicodedata.category(ch) == "Cs" for ch in value):  # lone surrogates cannot be stored as UTF-8
        raise ValidationError(refusal(field, label, UNSTORABLE), code="invalid_characters", field=field)
    if len(value) > max_len:
        raise ValidationError(_too_long(_name(field, label), max_len), code="too_long", field=field)
    if required and not value:
        raise ValidationError(refusal(field, label, REQUIRED), code="missing_field", field=field)
    return value


def _too_long(name: str | None, max_len: int) -> str:
    if name is None:
        return ngettext(
            "Please write at most %(most)s character.",
            "Please write at most %(most)s characters.",
            max_len,
            most=number(max_len),
        )
    return ngettext(
        "%(field)s: please write at most %(most)s character.",
        "%(field)s: please write at most %(most)s characters.",
        max_len,
        field=name,
        most=number(max_len),
    )


def _too_many(name: str | None, max_items: int) -> str:
    if name is None:
        return ngettext("Please choose at most %(num)s item.", "Please choose at most %(num)s items.", max_items)
    return ngettext(
        "%(field)s: please choose at most %(num)s item.",
        "%(field)s: please choose at most %(num)s items.",
        max_items,
        field=name,
    )


def clean_list(
    value: object, field: str, allowed: Iterable[str] | None = None, max_items: int = 20, *, label: object = None
) -> list[str]:
    """A list of distinct lower-case strings, each from ``allowed`` when given."""
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v]
    if not isinstance(value, list):
        raise ValidationError(refusal(field, label, NOT_A_LIST), code="wrong_type", field=field)
    if len(value) > max_items:
        raise ValidationError(_too_many(_name(field, label), max_items), code="too_many", field=field)
    allowed_set = set(allowed) if allowed is not None else None
    out: list[str] = []
    for item in value:
        text = clean_text(item, field, max_len=64, label=label).lower()
        if allowed_set is not None and text not in allowed_set:
            raise ValidationError(refusal(field, label, NOT_A_CHOICE, value=text), code="unknown_tag", field=field)
        if text and text not in out:
            out.append(text)
    return out


def clean_int(
    value: object, field: str, low: int, high: int, *, label: object = None, message: object = None, **params: object
) -> int:
    """A whole number within [low, high]; strings of digits (HTML forms) are accepted."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    return whole_number(value, field, low, high, label=label, message=message, **params)


def whole_number(
    value: object, field: str, low: int, high: int, *, label: object = None, message: object = None, **params: object
) -> int:
    """A JSON integer within [low, high]; strings, floats and booleans are refused.

    `message` (a lazy text that may use %(low)s, %(high)s and the other `params`) says both what is
    wrong and what is right, in the caller's words ("Ask for 1 to 10 reviews.").
    """
    shown = {"low": number(low), "high": number(high), **params}
    if isinstance(value, bool) or not isinstance(value, int):
        text = str(message) % shown if message is not None else refusal(field, label, NOT_WHOLE)
        raise ValidationError(text, code="not_an_integer", field=field)
    if not low <= value <= high:
        text = str(message) % shown if message is not None else refusal(field, label, OUT_OF_RANGE, **shown)
        raise ValidationError(text, code="out_of_range", field=field)
    return value


def clean_choice(value: object, field: str, choices: Iterable[str], *, label: object = None) -> str:
    if value not in tuple(choices):
        raise ValidationError(refusal(field, label, BAD_OPTION), code="bad_choice", field=field)
    return value


def clean_bool(value: object, field: str, *, code: str = "invalid_boolean", label: object = None) -> bool:
    """True or false, as JSON writes them."""
    if not isinstance(value, bool):
        raise ValidationError(refusal(field, label, NOT_YES_NO), code=code, field=field)
    return value


def clean_datetime(value: object, field: str, *, label: object = None) -> datetime:
    """An ISO 8601 time with an offset; returned as aware UTC."""
    if not isinstance(value, str):
        raise ValidationError(_not_a_time(field, label), code="wrong_type", field=field)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(_not_a_time(field, label), code="invalid_time", field=field) from None
    if dt.tzinfo is None:
        raise ValidationError(_not_a_time(field, label), code="invalid_time", field=field)
    return dt.astimezone(UTC)


def _not_a_time(field: str, label: object) -> str:
    return refusal(field, label, NOT_A_TIME, example="2026-05-01T10:00:00Z")


def refuse_unknown_fields(data: dict, allowed: Iterable[str]) -> None:
    """Refuse fields an operation does not know (a typo must not pass silently); the message names them as sent."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError(
            ngettext(
                "This field is not known here: %(fields)s.",
                "These fields are not known here: %(fields)s.",
                len(unknown),
                fields=", ".join(unknown),
            ),
            code="unknown_field",
            field=unknown[0],
        )
