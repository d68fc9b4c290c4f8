"""``trust --explain`` in words: who said what, when, on what evidence, and why it counts.

Why the store is read here: the trust engine's explanation names records
and members by id (it is what ``--json`` prints); a person wants the note,
the date, the deal behind it and how the author stands to them ("Bob (your
supplier) said: …"), which only the records and my own deals tell.
"""

from __future__ import annotations

from trustmesh.cli.view import Names
from trustmesh.crypto.ids import parse_id, short_id
from trustmesh.errors import TrustmeshError
from trustmesh.protocol.jsonview import iso
from trustmesh.protocol.records import Attestation, Deal


def relations(store, me: bytes) -> dict[bytes, str]:
    """How each member I made a deal with stands to me: "your client", "your supplier"."""
    out: dict[bytes, str] = {}
    for item in store.records(author=me, kind="deal") + store.records(subject=me, kind="deal"):
        deal = item.record
        if not isinstance(deal, Deal):
            continue
        other = deal.counterparty if deal.author == me else deal.author
        role = "your supplier" if deal.client == me else "your client"
        known = out.get(other)
        out[other] = role if known in (None, role) else "your client and supplier"
    return out


def lines(item, names: Names, store, me: bytes | None, related: dict[bytes, str]) -> list[str]:
    """The words for one evidence item (``trust.results.EvidenceItem``)."""
    author = parse_id(item.author)
    record = None
    try:
        record = store.get(bytes.fromhex(item.record)).record
    except (TrustmeshError, ValueError):
        pass
    if author == me:
        who = "You"
    else:
        name, relation = names.name(author), related.get(author)
        inner = ", ".join(x for x in (short_id(author), relation) if x)
        who = f"{name} ({inner})" if name else \
            f"member {short_id(author)}" + (f" ({relation})" if relation else "")
    verdict = "positive" if item.positive else "negative"
    said = f'"{record.note}" ({verdict})' if isinstance(record, Attestation) and record.note else verdict
    parts = [f"{who} said: {said}", (iso(item.occurred) or "")[:10]]
    named = record.deal if isinstance(record, Attestation) else None
    if item.deal and named:     # the engine's word: a live deal between the same two members
        parts.append(f"backed by deal {named.hex()[:12]}")
    elif named:
        parts.append(f"no deal behind it (names deal {named.hex()[:12]}, which backs nothing here)")
    elif not item.deal:
        parts.append("no deal behind it")
    if item.contested:
        parts.append("contested by them")
    out = ["    " + ", ".join(p for p in parts if p)]
    if not item.chain:
        out.append("      it does not count: nobody I trust leads to this author")
    else:
        via = " -> ".join("me" if parse_id(m) == me else names.label(parse_id(m)) for m in item.chain)
        out.append(f"      counts {item.weight:.2f}" + ("" if item.first_hand else f", via {via}"))
        if item.rater_credibility < 0.995:
            out.append(f"      their word is discounted to {item.rater_credibility:.0%}: what they say of others"
                       " clashes with what the people nearer to me report")
    return out
