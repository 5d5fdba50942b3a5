"""The escaped-NUL check on JSON bodies (gateway/inputs.py), on its own: no server needed."""

from __future__ import annotations

import random

import pytest

from gateway.errors import Unprocessable
from gateway.inputs import _BACKSLASHES_LOOKED_AT, _mentions_nul, refuse_unstorable_body

ESCAPES = "\\\\ \\n \\u00e7 \\/ " * _BACKSLASHES_LOOKED_AT  # more backslashes than are looked at one by one


@pytest.mark.parametrize(
    "body",
    [
        b'"\\u0000"',
        b'{"a": "\\u0000x"}',
        b'{"a": "x\\u0000"}',
        b'{"a": "\\u00e7 \\\\ \\n", "b": "\\u0000"}',
        b'{"a": "\\\\\\u0000"}',  # an escaped backslash, then an escaped NUL
        ('{"a": "' + ESCAPES + '\\u0000"}').encode(),
    ],
)
def test_an_escaped_nul_anywhere_is_refused(body: bytes) -> None:
    with pytest.raises(Unprocessable):
        refuse_unstorable_body(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "b"}',
        b'{"a": "\\u00e7 \\\\ \\n \\u000a"}',
        b'{"a": "\\\\u0000"}',  # an escaped backslash, then the text "u0000"
        ('{"a": "' + ESCAPES + '\\\\u0000"}').encode(),
        b'"\\',  # ends on a backslash
        b"\\u0000",  # not JSON: the handler's own parsing answers 400
    ],
)
def test_what_is_not_an_escaped_nul_passes(body: bytes) -> None:
    refuse_unstorable_body(body)


def test_the_scan_finds_the_six_bytes_exactly_where_a_search_does() -> None:
    # Bodies made of the bytes that matter, with few and with many backslashes: the scan must
    # answer what `in` answers (an escaped backslash before "u0000" included: the decode decides).
    rng = random.Random(7)
    for _ in range(3000):
        alphabet = rng.choice([b"\\u0x", b"\\u00000ab", b"u0a\\"])
        body = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 300)))
        assert _mentions_nul(body) is (b"\\u0000" in body), body
