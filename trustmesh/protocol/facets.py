"""Facets: what an attestation is about, with a strict grammar so the set can grow.

The core set answers the questions members ask before doing business. A skill
is ``skill:<name>``, lower-case words joined by ``-`` or ``.``
(``skill:accounting``, ``skill:python``, ``skill:iso-9001``). Anything else is
refused: a facet is a shared vocabulary, and a typo would split evidence.
"""

from __future__ import annotations

import re

from trustmesh.errors import UsageError

CORE_FACETS: dict[str, str] = {
    "payment": "pays invoices on time",
    "delivery": "delivers on time",
    "quality": "quality of the work delivered",
    "relation": "respects the client relationship, communicates well",
    "solvency": "can pay what it commits to",
}
MAX_FACET_LENGTH = 64
_SKILL = re.compile(r"skill:[a-z0-9]+(?:[-.][a-z0-9]+)*")


def is_facet(text: object) -> bool:
    """True when ``text`` is a core facet or a well-formed ``skill:<name>``."""
    if not isinstance(text, str) or len(text) > MAX_FACET_LENGTH:
        return False
    return text in CORE_FACETS or _SKILL.fullmatch(text) is not None


def check_facet(text: str) -> str:
    """``text`` if it is a facet; otherwise UsageError naming the valid ones."""
    if not is_facet(text):
        raise UsageError(
            f"unknown facet {text!r}: use one of {', '.join(CORE_FACETS)} or skill:<name>"
        )
    return text
