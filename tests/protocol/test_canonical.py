"""Canonical JSON (RFC 8785) out, restricted JSON in."""

from __future__ import annotations

import json
import random
import struct

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import JSONInputError, LocalProtocolError, canonical_json, parse_json

# RFC 8785 Appendix B: IEEE 754 binary64 values (as hex) and their serializations.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def _double(hex_bits: str) -> float:
    return struct.unpack(">d", bytes.fromhex(hex_bits))[0]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_rfc8785_number_serialization(bits: str, expected: str) -> None:
    assert canonical_json(_double(bits)) == expected.encode()
    assert canonical_json([_double(bits)]) == f"[{expected}]".encode()


@pytest.mark.parametrize(("value", "expected"), [(1e-7, "1e-7"), (1e21, "1e+21"), (1e20, "100000000000000000000")])
def test_exponent_boundaries(value: float, expected: str) -> None:
    assert canonical_json(value) == expected.encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_are_not_canonicalizable(bits: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        canonical_json({"x": _double(bits)})
    assert info.value.code == "not_canonicalizable"


def test_rfc8785_property_sorting_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3: the emoji (surrogates D83D DE00) sorts before U+FB33.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    names = [key for key in json.loads(canonical_json(value))]
    assert names == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_rfc8785_full_example() -> None:
    # RFC 8785 section 3.2.4, parsed the way the RFC intends (numbers as binary64).
    text = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        r' "string": "\u20ac$\u000F\u000aA' + "'" + r'\u0042\u0022\u005c\\\"\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        r'"string":"€$\u000f\nA' + "'" + r'B\"\\\\\"/"}'
    )
    assert canonical_json(parse_json(text.encode())) == expected.encode("utf-8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1f", r'"\u001f"'),
        ("\x00", r'"\u0000"'),
        ("\n\r\t\b\f", r'"\n\r\t\b\f"'),
        ('"quoted"', r'"\"quoted\""'),
        ("back\\slash", r'"back\\slash"'),
        ("slash/", '"slash/"'),
        ("\x7f", '"\x7f"'),
        ("café ✓ 😀", '"café ✓ 😀"'),
    ],
)
def test_string_escaping(text: str, expected: str) -> None:
    assert canonical_json(text) == expected.encode("utf-8")
    assert canonical_json({"k": text}) == ('{"k":' + expected + "}").encode("utf-8")


@pytest.mark.parametrize(
    "value",
    [{1: "x"}, {"x": {1, 2}}, "\ud800", {"\udc00": 1}, 2**53, -(2**53), {"x": object()}],
    ids=["int-key", "set", "lone-surrogate", "surrogate-key", "int-too-big", "int-too-small", "object"],
)
def test_values_outside_json_are_refused(value: object) -> None:
    with pytest.raises(LocalProtocolError) as info:
        canonical_json(value)
    assert info.value.code == "not_canonicalizable"
    assert info.value.status_hint == 500


# --- Fast path against the reference implementation -------------------------------------

# Keys mix characters on both sides of the UTF-16 / code point ordering difference
# (U+E000..U+FFFF against supplementary planes), and lone surrogates.
_tricky = st.sampled_from(
    ["a", "B", "\x00", "\u00e9", "\ud7ff", "\ue000", "\uffff", "\U00010000", "\U0001f600", "\udc00"]
)
_keys = st.text(alphabet=_tricky | st.characters(), max_size=4)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.text(alphabet=_tricky, max_size=3)
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_json_agrees_with_the_reference_rfc8785(value: object) -> None:
    try:
        reference = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        with pytest.raises(LocalProtocolError):
            canonical_json(value)
    else:
        assert canonical_json(value) == reference


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(alphabet=_tricky, min_size=1, max_size=2), st.integers(0, 9), min_size=2, max_size=6))
def test_member_order_agrees_with_the_reference_rfc8785(value: dict) -> None:
    # Keys drawn only from characters where code point and UTF-16 order can differ.
    try:
        reference = rfc8785.dumps(value)
    except UnicodeEncodeError:  # a lone surrogate key; rfc8785 0.1.4 lets this escape
        with pytest.raises(LocalProtocolError):
            canonical_json(value)
    else:
        assert canonical_json(value) == reference


@settings(max_examples=150, deadline=None)
@given(json_values, st.randoms(use_true_random=False), st.sampled_from([None, 0, 1, 2, "\t"]), st.booleans())
def test_canonical_bytes_ignore_key_order_and_whitespace(value, rnd: random.Random, indent, ascii_only) -> None:
    try:
        expected = canonical_json(value)
    except LocalProtocolError:
        return  # lone surrogates: no canonical form to compare
    separators = rnd.choice([(",", ":"), (", ", ": "), (" ,", " : ")])
    text = json.dumps(_shuffled(value, rnd), indent=indent, separators=separators, ensure_ascii=ascii_only)
    assert canonical_json(parse_json(text.encode("utf-8"))) == expected


def _shuffled(value: object, rnd: random.Random) -> object:
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _shuffled(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


# --- parse_json refusals -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'{"a": 1, "a": 2}', "duplicate_key"),
        (b'{"x": {"a": 1, "b": 2, "a": 3}}', "duplicate_key"),
        (b"[NaN]", "non_finite_number"),
        (b'{"x": Infinity}', "non_finite_number"),
        (b"-Infinity", "non_finite_number"),
        (b"1e400", "non_finite_number"),
        (b"[" * 33 + b"]" * 33, "nesting_too_deep"),
        (b"[" * 100000 + b"]" * 100000, "nesting_too_deep"),
        (b'{"a": [1, 2', "invalid_json"),
        (b"", "invalid_json"),
        (b"\xff\xfe{}", "bad_encoding"),
        (b'"\xc3\x28"', "bad_encoding"),
        (b"\xef\xbb\xbf{}", "bad_encoding"),
        ('"é"'.encode("utf-16"), "bad_encoding"),
        (b'"\\ud800"', "bad_string"),
        (b'{"\\udc00": 1}', "bad_string"),
        (b"1" * 5000, "invalid_json"),
    ],
)
def test_parse_json_refusals(data: bytes, code: str) -> None:
    with pytest.raises(JSONInputError) as info:
        parse_json(data)
    assert info.value.code == code
    assert 400 <= info.value.status_hint < 500


def test_parse_json_nesting_limit_is_exact() -> None:
    assert parse_json(b"[" * 32 + b"]" * 32) is not None


def test_parse_json_size_limit() -> None:
    data = b'"' + b"a" * 98 + b'"'
    assert parse_json(data, max_bytes=100) == "a" * 98
    with pytest.raises(JSONInputError) as info:
        parse_json(data + b" ", max_bytes=100)
    assert (info.value.code, info.value.status_hint) == ("too_large", 413)


def test_parse_json_keeps_surrogate_pairs_and_reports_position() -> None:
    assert parse_json(b'"\\ud83d\\ude00"') == "\U0001f600"
    with pytest.raises(JSONInputError) as info:
        parse_json(b'{\n  "a": tru\n}')
    assert info.value.where == "line 2 column 8"


def test_parse_json_takes_bytes_only() -> None:
    with pytest.raises(LocalProtocolError):
        parse_json("{}")  # type: ignore[arg-type]
