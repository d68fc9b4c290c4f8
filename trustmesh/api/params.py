"""Query-string and path values, checked the same way bodies are: a bad one is a 400 naming it."""

from __future__ import annotations

from starlette.requests import Request

from trustmesh.api.schemas import BadRequest
from trustmesh.crypto.ids import parse_id
from trustmesh.errors import UsageError


def query(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters, refusing any not in ``allowed`` (a typo is not silently ignored)."""
    q = request.query_params
    unknown = sorted(set(q) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown parameter: {', '.join(unknown)}")
    return {k: q[k] for k in allowed if k in q}


def integer(text: str | None, name: str, default: int, low: int, high: int) -> int:
    """A whole number in [low, high] (``default`` when absent)."""
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name}: {text[:40]!r} is not a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}: {value} is out of range {low}..{high}")
    return value


def member(text: str | None, name: str) -> bytes | None:
    """The key of a member named by a PeerID, did:key or hex (None when absent)."""
    if text is None:
        return None
    try:
        return parse_id(text)
    except UsageError as exc:
        raise BadRequest(f"{name}: {exc}") from None


def flag(text: str | None) -> bool:
    """A yes/no query parameter."""
    return text in ("1", "true", "yes")
