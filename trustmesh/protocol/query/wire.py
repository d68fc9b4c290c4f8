"""``/trustmesh/query/1.1.0`` on the wire: message types and the request (pure).

One stream carries one query. The client sends QUERY; the server answers
with RESULTS frames (at most 256 records each) holding the records in force
that match, LINKED frames holding what answers them (replies, and
retractions of matching records), and one END frame that says how many
RESULTS records it sent; or with ABORT (refused, a bad query, busy).
``docs/protocol.md`` is normative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trustmesh.errors import RemoteProtocolError, UsageError
from trustmesh.protocol.facets import is_facet

PROTOCOL_ID = "/trustmesh/query/1.1.0"   # 1.1: LINKED frames; 1.0 counted them as results

QUERY, RESULTS, END, LINKED = 1, 2, 3, 4
DEFAULT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class QueryRequest:
    """Records by ``subject`` and/or by ``author``, optionally one ``facet``, issued at or after ``since``."""

    subject: bytes | None = None
    author: bytes | None = None
    facet: str | None = None
    since: int | None = None
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        problem = _problem(self.subject, self.author, self.facet, self.since, self.limit)
        if problem:
            raise UsageError(f"query: {problem}")

    def to_message(self) -> list[Any]:
        """The QUERY message asking this."""
        return [QUERY, self.subject, self.author, self.facet, self.since, self.limit]

    @classmethod
    def from_message(cls, message: list[Any]) -> "QueryRequest":
        """The request a QUERY message carries, or RemoteProtocolError."""
        if len(message) != 6:
            raise RemoteProtocolError("QUERY is [1, subject, author, facet, since, limit]")
        problem = _problem(*message[1:])
        if problem:
            raise RemoteProtocolError(f"bad query: {problem}")
        return cls(*message[1:])


def _problem(subject: Any, author: Any, facet: Any, since: Any, limit: Any) -> str | None:
    for name, key in (("subject", subject), ("author", author)):
        if key is not None and not (type(key) is bytes and len(key) == 32):
            return f"{name} is a 32-byte public key"
    if subject is None and author is None:
        return "give a subject or an author"
    if facet is not None and not is_facet(facet):
        return f"unknown facet {facet!r}"
    if since is not None and not (type(since) is int and 0 <= since < 2**63):
        return "since is a time in milliseconds"
    if not (type(limit) is int and 0 < limit < 2**32):
        return "limit is a positive integer"
    return None
