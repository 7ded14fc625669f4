"""Canonical JSON out (RFC 8785) and restricted JSON in."""

from __future__ import annotations

import json
import math
from typing import cast

import rfc8785

from .errors import JSONInputError, LocalProtocolError

# 1 MiB, not less: a proposal_share may carry 100,000 characters of full text,
# which is up to 400,000 bytes of UTF-8 before any escaping.
MAX_JSON_BYTES = 1024 * 1024
# Deep enough for a settlement certificate (an envelope inside an envelope),
# shallow enough that no reader needs deep recursion.
MAX_DEPTH = 32


def canonical_json(obj: object) -> bytes:
    """Serialize ``obj`` as RFC 8785 (JCS) canonical JSON bytes.

    Raises:
        LocalProtocolError: code ``not_canonicalizable`` for values JSON cannot
            carry exactly: NaN or infinities, integers beyond +-(2**53-1),
            non-string keys, lone surrogates, or types other than dict, list,
            tuple, str, int, float, bool and None. Remote input never reaches
            this: ``parse_json`` and ``Envelope.from_dict`` refuse it first.
    """
    if _in_fast_domain(obj, 0):
        try:
            return _FAST_ENCODER.encode(obj).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let the reference path name the error
    try:
        return rfc8785.dumps(obj)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError as exc:
        raise LocalProtocolError("not_canonicalizable", str(exc)) from None
    except UnicodeEncodeError:
        # rfc8785 0.1.4 lets this escape when sorting a key with a lone surrogate.
        raise LocalProtocolError("not_canonicalizable", "a key holds a lone surrogate") from None


# Why a fast path: signing and verifying canonicalize every envelope, and the
# pure-Python rfc8785 costs about as much as the Ed25519 verify itself. On the
# values _in_fast_domain admits, the C json encoder writes exactly RFC 8785:
# no floats (the only place number formatting differs), integers within
# +-(2**53-1), and object keys below U+D800, where ordering by code point (what
# sort_keys does) equals RFC 8785's ordering by UTF-16 code unit. Its string
# escaping with ensure_ascii=False is RFC 8785's: the two-character escapes for
# \b \f \n \r \t " and backslash, lower-case \u00xx for other controls, all
# else as UTF-8. tests/protocol/test_canonical.py checks both paths agree.
_FAST_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)
_MAX_SAFE = 2**53 - 1


def _in_fast_domain(value: object, depth: int) -> bool:
    kind = type(value)
    if kind is dict:
        if depth > MAX_DEPTH:
            return False  # leave pathological nesting to the reference path
        for key, item in cast("dict[object, object]", value).items():
            if type(key) is not str or not (key.isascii() or max(key) < "\ud800"):
                return False
            # Strings are most members; skipping the call for them halves the cost.
            if type(item) is not str and not _in_fast_domain(item, depth + 1):
                return False
        return True
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_MAX_SAFE <= value <= _MAX_SAFE  # type: ignore[operator]
    if kind is list or kind is tuple:
        if depth > MAX_DEPTH:
            return False
        return all(_in_fast_domain(item, depth + 1) for item in cast("list[object]", value))
    return False  # floats, subclasses and non-JSON types take the reference path


def parse_json(data: bytes, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH) -> object:
    """Read JSON bytes under the wire's restrictions.

    Args:
        data: UTF-8 JSON text, without a byte order mark.
        max_bytes: refuse longer input before reading it.
        max_depth: the most objects and arrays that may enclose a value.

    Returns:
        Plain dicts, lists, str, int, float, bool and None.

    Raises:
        JSONInputError: with code ``too_large``, ``bad_encoding``,
            ``invalid_json``, ``duplicate_key``, ``non_finite_number``,
            ``nesting_too_deep`` or ``bad_string``.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise LocalProtocolError("bad_argument", "parse_json takes bytes")
    if len(data) > max_bytes:
        raise JSONInputError("too_large", f"input is {len(data)} bytes, the limit is {max_bytes}")
    text = _decode_utf8(bytes(data))
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise JSONInputError("invalid_json", exc.msg, where=where) from None
    except RecursionError:
        raise JSONInputError("nesting_too_deep", "nesting exceeds the reader's recursion limit") from None
    except ValueError as exc:  # e.g. an integer literal with more than 4300 digits
        raise JSONInputError("invalid_json", str(exc)) from None
    _check_tree(value, max_depth)
    return value


def _decode_utf8(data: bytes) -> str:
    # json.loads would guess UTF-16/32 from the first bytes; the wire is UTF-8 only.
    if data.startswith(b"\xef\xbb\xbf"):
        raise JSONInputError("bad_encoding", "input starts with a byte order mark")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONInputError("bad_encoding", "input is not UTF-8", where=f"byte {exc.start}") from None


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JSONInputError("duplicate_key", f"member {key!r} appears twice")
            seen.add(key)
    return obj


def _refuse_constant(name: str) -> object:
    raise JSONInputError("non_finite_number", f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONInputError("non_finite_number", f"{text} overflows to infinity")
    return value


def _check_tree(value: object, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth`` and strings that are not Unicode."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            check_unicode(item)
        elif isinstance(item, (dict, list)):
            if depth >= max_depth:
                raise JSONInputError("nesting_too_deep", f"more than {max_depth} nested objects and arrays")
            if isinstance(item, dict):
                for key, child in item.items():
                    check_unicode(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def check_unicode(text: str, where: str | None = None) -> None:
    """Refuse a string holding a lone surrogate (JSON allows the escape, Unicode does not).

    Raises:
        JSONInputError: code ``bad_string``.
    """
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise JSONInputError("bad_string", "string holds a lone surrogate", where=where) from None
