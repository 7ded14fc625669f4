"""Input cleaning shared by services: every refusal is a ValidationError with a field."""
from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
from typing import Iterable

from ..errors import ValidationError


def clean_text(value: object, field: str, max_len: int, required: bool = False) -> str:
    """A trimmed string without control characters, at most max_len long."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text", code="wrong_type", field=field)
    value = value.strip()
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in value):
        raise ValidationError(f"{field} contains control characters", code="control_characters", field=field)
    if any(unicodedata.category(ch) == "Cs" for ch in value):  # lone surrogates cannot be stored as UTF-8
        raise ValidationError(f"{field} contains invalid characters", code="invalid_characters", field=field)
    if len(value) > max_len:
        raise ValidationError(f"{field} is longer than {max_len} characters", code="too_long", field=field)
    if required and not value:
        raise ValidationError(f"{field} is required", code="missing_field", field=field)
    return value


def clean_list(value: object, field: str, allowed: Iterable[str] | None = None, max_items: int = 20) -> list[str]:
    """A list of distinct lower-case strings, each from ``allowed`` when given."""
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v]
    if not isinstance(value, list):
        raise ValidationError(f"{field} must be a list", code="wrong_type", field=field)
    if len(value) > max_items:
        raise ValidationError(f"{field} has more than {max_items} items", code="too_many", field=field)
    allowed_set = set(allowed) if allowed is not None else None
    out: list[str] = []
    for item in value:
        text = clean_text(item, field, max_len=64).lower()
        if allowed_set is not None and text not in allowed_set:
            raise ValidationError(f"{text!r} is not a known {field} value", code="unknown_tag", field=field)
        if text and text not in out:
            out.append(text)
    return out


def clean_int(value: object, field: str, low: int, high: int) -> int:
    """A whole number within [low, high]; strings of digits (HTML forms) are accepted."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be a whole number", code="not_an_integer", field=field)
    if not low <= value <= high:
        raise ValidationError(f"{field} must be between {low} and {high}", code="out_of_range", field=field)
    return value


def clean_choice(value: object, field: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValidationError(f"{field} must be one of: {', '.join(choices)}", code="bad_choice", field=field)
    return value  # type: ignore[return-value]


def clean_datetime(value: object, field: str) -> datetime:
    """An ISO 8601 time with an offset; returned as aware UTC."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be an ISO 8601 time", code="wrong_type", field=field)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{field} must be an ISO 8601 time", code="invalid_time", field=field) from None
    if dt.tzinfo is None:
        raise ValidationError(f"{field} needs a time zone, e.g. 2026-05-01T10:00:00Z", code="invalid_time", field=field)
    return dt.astimezone(timezone.utc)
