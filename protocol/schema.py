"""A tiny declarative validator for JSON values: field specs, not per-type if-chains."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .canonical import check_unicode
from .encoding import b64url_decode
from .errors import JSONInputError, RemoteProtocolError, SchemaError
from .timefmt import parse_time

MAX_AMOUNT = 2**53 - 1


def child(where: str, name: str) -> str:
    """JSON path of member ``name`` under ``where``."""
    return f"{where}.{name}" if where else name


def _type_name(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


class Spec:
    """A field spec: ``check`` raises SchemaError when ``value`` does not fit."""

    def check(self, value: object, where: str) -> None:
        """Validate ``value`` found at JSON path ``where``."""
        raise NotImplementedError


def _refuse(code: str, message: str, where: str) -> SchemaError:
    return SchemaError(code, message, where=where)


def _expect(value: object, kind: type, label: str, where: str) -> None:
    # float first: a float where anything else was expected is the more useful error.
    if type(value) is float:
        raise _refuse("float_not_allowed", "numbers must be integers", where)
    if type(value) is not kind:  # not isinstance: bool must not pass as int
        raise _refuse("wrong_type", f"expected {label}, got {_type_name(value)}", where)


@dataclass(frozen=True)
class Str(Spec):
    """A string of ``min_len``..``max_len`` code points, optionally matching ``pattern``."""

    max_len: int
    min_len: int = 0
    pattern: str | None = None
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.compile(self.pattern, re.ASCII) if self.pattern else None
        object.__setattr__(self, "_regex", regex)

    def check(self, value: object, where: str) -> None:
        _expect(value, str, "a string", where)
        assert isinstance(value, str)
        if len(value) > self.max_len:
            raise _refuse("string_too_long", f"longer than {self.max_len} characters", where)
        if len(value) < self.min_len:
            raise _refuse("string_too_short", f"shorter than {self.min_len} characters", where)
        if self._regex is not None and not self._regex.fullmatch(value):
            raise _refuse("bad_format", f"does not match {self.pattern}", where)
        try:
            check_unicode(value, where)
        except JSONInputError as exc:  # re-raised in the schema family
            raise _refuse(exc.code, exc.message, where) from None


@dataclass(frozen=True)
class Int(Spec):
    """A JSON integer within [minimum, maximum] (both within +-MAX_AMOUNT)."""

    minimum: int = -MAX_AMOUNT
    maximum: int = MAX_AMOUNT

    def check(self, value: object, where: str) -> None:
        _expect(value, int, "an integer", where)
        assert isinstance(value, int)
        if not -MAX_AMOUNT <= value <= MAX_AMOUNT:
            raise _refuse("integer_out_of_range", "outside -(2^53-1) .. 2^53-1", where)
        if not self.minimum <= value <= self.maximum:
            raise _refuse("out_of_range", f"outside {self.minimum} .. {self.maximum}", where)


@dataclass(frozen=True)
class Amount(Spec):
    """A positive whole number of SIF, at most MAX_AMOUNT."""

    def check(self, value: object, where: str) -> None:
        _expect(value, int, "an integer amount", where)
        assert isinstance(value, int)
        if value <= 0:
            raise _refuse("amount_not_positive", "amounts are positive", where)
        if value > MAX_AMOUNT:
            raise _refuse("amount_too_large", "amounts are at most 2^53-1", where)


@dataclass(frozen=True)
class Bool(Spec):
    """true or false."""

    def check(self, value: object, where: str) -> None:
        _expect(value, bool, "a boolean", where)


@dataclass(frozen=True)
class Enum(Spec):
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    def check(self, value: object, where: str) -> None:
        _expect(value, str, "a string", where)
        if value not in self.values:
            raise _refuse("bad_enum", f"not one of {', '.join(self.values)}", where)


@dataclass(frozen=True)
class B64(Spec):
    """Unpadded canonical base64url (padding and other spellings: bad_base64), of ``size`` bytes if given."""

    max_len: int
    size: int | None = None

    def check(self, value: object, where: str) -> None:
        _expect(value, str, "a base64url string", where)
        assert isinstance(value, str)
        if len(value) > self.max_len:  # bounded before decoding
            raise _refuse("string_too_long", f"longer than {self.max_len} characters", where)
        try:
            raw = b64url_decode(value)
        except RemoteProtocolError as exc:
            raise _refuse(exc.code, exc.message, where) from None
        if self.size is not None and len(raw) != self.size:
            raise _refuse("bad_format", f"not {self.size} bytes", where)


@dataclass(frozen=True)
class Time(Spec):
    """A wire timestamp, YYYY-MM-DDTHH:MM:SSZ."""

    def check(self, value: object, where: str) -> None:
        _expect(value, str, "a timestamp string", where)
        try:
            parse_time(value, where=where)  # type: ignore[arg-type]
        except RemoteProtocolError as exc:
            raise _refuse(exc.code, exc.message, where) from None


@dataclass(frozen=True)
class Optional(Spec):
    """Marks an object member that may be absent (when present, ``spec`` applies)."""

    spec: Spec

    def check(self, value: object, where: str) -> None:
        self.spec.check(value, where)


@dataclass(frozen=True)
class Nullable(Spec):
    """A value that may be null instead of matching ``spec``."""

    spec: Spec

    def check(self, value: object, where: str) -> None:
        if value is not None:
            self.spec.check(value, where)


@dataclass(frozen=True)
class List(Spec):
    """An array of ``min_len``..``max_len`` items, each matching ``item``."""

    item: Spec
    max_len: int
    min_len: int = 0

    def check(self, value: object, where: str) -> None:
        _expect(value, list, "an array", where)
        assert isinstance(value, list)
        if len(value) > self.max_len:
            raise _refuse("list_too_long", f"more than {self.max_len} items", where)
        if len(value) < self.min_len:
            raise _refuse("list_too_short", f"fewer than {self.min_len} items", where)
        for index, item in enumerate(value):
            self.item.check(item, f"{where}[{index}]")


@dataclass(frozen=True)
class Map(Spec):
    """An object used as a map: up to ``max_len`` members, keys and values each checked."""

    key: Str
    value: Spec
    max_len: int

    def check(self, value: object, where: str) -> None:
        _expect(value, dict, "an object", where)
        assert isinstance(value, dict)
        if len(value) > self.max_len:
            raise _refuse("map_too_large", f"more than {self.max_len} members", where)
        for key, item in value.items():
            at = f"{where}[{json.dumps(key)}]"
            self.key.check(key, at)
            self.value.check(item, at)


@dataclass(frozen=True)
class Obj(Spec):
    """An object with exactly the declared members; wrap a spec in Optional if it may be absent."""

    fields: Mapping[str, Spec]
    rules: tuple[Callable[[dict[str, Any], str], None], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    def check(self, value: object, where: str) -> None:
        _expect(value, dict, "an object", where)
        assert isinstance(value, dict)
        for name in value:
            if name not in self.fields:
                raise _refuse("unknown_field", f"{name!r} is not a member here", child(where, str(name)))
        for name, spec in self.fields.items():
            if name in value:
                spec.check(value[name], child(where, name))
            elif not isinstance(spec, Optional):
                raise _refuse("missing_field", f"{name!r} is required", child(where, name))
        # Cross-field rules run last, on a value whose members are known to be well-formed.
        for rule in self.rules:
            rule(value, where)


@dataclass(frozen=True)
class AnyObject(Spec):
    """Any JSON object; its members are someone else's to check."""

    def check(self, value: object, where: str) -> None:
        _expect(value, dict, "an object", where)
