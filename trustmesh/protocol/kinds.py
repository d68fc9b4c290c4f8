"""The field kinds of the record layouts: what each accepts, and the error it names.

Kept apart from ``records`` so that every record type (``records``,
``keyevents``) checks its fields with the same rules and words.
"""

from __future__ import annotations

import re
from typing import Any

from trustmesh.protocol.facets import is_facet

MAX_NOTE = 280          # characters, for notes and reasons
MAX_NAME = 100          # characters, for profile names and organisations
MAX_URL = 200
STANCES = ("contest", "acknowledge")
ROLES = ("client", "supplier")
KEY_KINDS = ("incept", "rotate", "add", "revoke")
# Every time field (issued, occurred, expires, due) is milliseconds since the
# epoch, at most the last millisecond of year 9999 UTC. Why a bound: a validly
# signed record with expires = 2^63 - 1 was accepted, and then every view of it
# failed ("year 292278994 is out of range"); and sync spread it to every node.
MAX_TIME_MS = 253_402_300_799_999       # 9999-12-31T23:59:59.999Z

# Text may hold any Unicode scalar value except these: control characters
# (C0, DEL, C1), line/paragraph separators, and the bidi embedding, override
# and isolate controls that can make a name or note display as something it
# is not. A fixed list, not str.isprintable(): validity must not depend on
# the Unicode tables of whoever runs the check, or two nodes would disagree.
FORBIDDEN_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _is_text(limit: int):
    return lambda v: type(v) is str and 0 < len(v) <= limit and FORBIDDEN_TEXT.search(v) is None


def _optional(check):
    return lambda v: v is None or check(v)


def _is_uint(v: object) -> bool:
    return type(v) is int and 0 <= v < 2**63


def _is_time(v: object) -> bool:
    return type(v) is int and 0 <= v <= MAX_TIME_MS


def _is_32(v: object) -> bool:
    return type(v) is bytes and len(v) == 32


def _is_url(v: object) -> bool:
    return _is_text(MAX_URL)(v) and v.startswith(("https://", "http://"))


_CHECKS = {
    "key": _is_32,
    "id": _is_32,
    "id?": _optional(_is_32),
    "uint": _is_uint,
    "uint?": _optional(_is_uint),
    "time": _is_time,
    "time?": _optional(_is_time),
    "bool": lambda v: type(v) is bool,
    "facet": is_facet,
    "note?": _optional(_is_text(MAX_NOTE)),
    "name": _is_text(MAX_NAME),
    "name?": _optional(_is_text(MAX_NAME)),
    "url?": _optional(_is_url),
    "stance": lambda v: v in STANCES and type(v) is str,
    "role": lambda v: v in ROLES and type(v) is str,
    "keykind": lambda v: v in KEY_KINDS and type(v) is str,
}


# The same for records read back from our own store (see decode's ``stored``).
_STORED_KINDS = {**_CHECKS, "time": _is_uint, "time?": _optional(_is_uint)}

# The checks of ``_CHECKS`` as inline expressions of a value ``@``: decode's hot path runs one
# function per record type made of these (``_validator``), not a call per field, which
# was a third of decode's time. Kinds not listed here are called from ``_CHECKS``.
_INLINE = {
    "key": "(type(@) is bytes and len(@) == 32)",
    "id": "(type(@) is bytes and len(@) == 32)",
    "id?": "(@ is None or (type(@) is bytes and len(@) == 32))",
    "uint": "(type(@) is int and 0 <= @ < 9223372036854775808)",
    "uint?": "(@ is None or (type(@) is int and 0 <= @ < 9223372036854775808))",
    "time": f"(type(@) is int and 0 <= @ <= {MAX_TIME_MS})",
    "time?": f"(@ is None or (type(@) is int and 0 <= @ <= {MAX_TIME_MS}))",
    "bool": "(type(@) is bool)",
    "note?": f"(@ is None or (type(@) is str and 0 < len(@) <= {MAX_NOTE} and forbidden(@) is None))",
}
_STORED_INLINE = {**_INLINE, "time": _INLINE["uint"], "time?": _INLINE["uint?"]}


def _validator(cls: type, inline: dict[str, str], checks: dict) -> Any:
    """One function checking every field of ``cls`` (values in layout order): True when all pass.

    The same checks as ``checks`` (``_CHECKS`` or ``_STORED_KINDS``), which
    decode still uses to name the first bad field; tests/test_records.py
    holds the two to agreeing on every field kind.
    """
    names = [f"v{i}" for i in range(len(cls.FIELDS))]
    terms = []
    for name, (_, kind) in zip(names, cls.FIELDS):
        terms.append(inline[kind].replace("@", name) if kind in inline else f"check_{name}({name})")
    source = (f"def valid(values):\n    {', '.join(names)}, *_ = values\n"
              f"    return {' and '.join(terms)}\n")
    scope = {"forbidden": FORBIDDEN_TEXT.search,
             **{f"check_{name}": checks[kind] for name, (_, kind) in zip(names, cls.FIELDS)}}
    exec(source, scope)     # noqa: S102 - source built above from the constant layouts only
    return scope["valid"]


_EXPECTED = {
    "key": "expected a 32-byte public key",
    "id": "expected a 32-byte id",
    "id?": "expected a 32-byte id or nil",
    "uint": "expected an integer from 0 to 2^63-1",
    "uint?": "expected an integer from 0 to 2^63-1, or nil",
    "time": f"expected a time: milliseconds from 0 to {MAX_TIME_MS} (the end of year 9999 UTC)",
    "time?": f"expected a time (milliseconds from 0 to {MAX_TIME_MS}, the end of year 9999 UTC) or nil",
    "bool": "expected true or false",
    "facet": "expected a facet (payment, delivery, quality, relation, solvency, skill:<name>)",
    "note?": f"expected nil or 1 to {MAX_NOTE} characters on one line (no control characters)",
    "name": f"expected 1 to {MAX_NAME} characters on one line (no control characters)",
    "name?": f"expected nil or 1 to {MAX_NAME} characters on one line (no control characters)",
    "url?": f"expected nil or an http(s) URL of at most {MAX_URL} characters",
    "stance": "expected 'contest' or 'acknowledge'",
    "role": "expected 'client' or 'supplier'",
    "keykind": "expected 'incept', 'rotate', 'add' or 'revoke'",
}
