"""``trust`` and ``rank``: the viewer's trust, from this node's own point of view.

numpy and scipy are imported inside the commands, so the rest of the CLI
stays quick to start.
"""

from __future__ import annotations

import click

from trustmesh.cli.common import emit_json, with_ledger


def register(cli: click.Group) -> None:
    """Add ``trust`` and ``rank`` to the ``trustmesh`` command."""
    cli.add_command(trust)
    cli.add_command(rank)


@click.command()
@click.argument("subject")
@click.option("--facet", help="One facet (payment, delivery, quality, relation, solvency, skill:<name>); all if omitted.")
@click.option("--explain", is_flag=True, help="Show the attestations and chains of people behind the score.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def trust(ctx: click.Context, subject: str, facet: str | None, explain: bool, as_json: bool) -> None:
    """How far SUBJECT can be trusted, from my point of view (score, uncertainty, lower bound)."""
    from trustmesh.cli.members import resolve
    from trustmesh.protocol.facets import check_facet
    key = resolve(ctx, subject, "SUBJECT")
    if facet is not None:
        check_facet(facet)

    def action(ledger):
        from trustmesh.core.trustview import TrustEngine
        engine = TrustEngine.for_ledger(ledger)
        now = ledger.clock()
        found = engine.explain(key, facet, now) if explain else engine.trust(key, facet, now)
        if as_json:
            return found, []
        return found, _words(ctx, ledger, found if isinstance(found, list) else [found])

    from trustmesh.cli.common import working
    with working("reading the evidence and computing trust…"):
        found, text = with_ledger(ctx, action)
    if as_json:
        emit_json(found.to_dict() if not isinstance(found, list) else [s.to_dict() for s in found])
        return
    for line in text:
        click.echo(line)


def _words(ctx: click.Context, ledger, scores) -> list[str]:
    """The human answer: the subject by name, a line per facet, the evidence in words."""
    from trustmesh.cli import explain
    from trustmesh.cli.view import Names
    from trustmesh.core.contacts import Contacts
    names = Names(ledger.store, ledger.me, Contacts.of(ledger.home).names())
    related = explain.relations(ledger.store, ledger.me) if any(s.explanation for s in scores) else {}
    subject = names.key_of(scores[0].subject)
    out = [f"subject {names.label(subject)}  {scores[0].subject}" if names.name(subject)
           else f"subject {scores[0].subject}"]
    for score in scores:
        out.append(_line(score))
        for item in score.explanation:
            out += explain.lines(item, names, ledger.store, ledger.me, related)
    return out


@click.command()
@click.option("--facet", required=True, help="The facet to rank on.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000), help="How many to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rank(ctx: click.Context, facet: str, limit: int, as_json: bool) -> None:
    """The members my network knows best on FACET, surest first (by the lower bound)."""
    from trustmesh.protocol.facets import check_facet
    check_facet(facet)

    def action(ledger):
        from trustmesh.cli.view import Names
        from trustmesh.core.contacts import Contacts
        from trustmesh.core.trustview import TrustEngine
        found = TrustEngine.for_ledger(ledger).rank(facet, limit, ledger.clock())
        names = Names(ledger.store, ledger.me, Contacts.of(ledger.home).names())
        return found, [names.label(names.key_of(e.subject)) for e in found]

    from trustmesh.cli.common import working
    with working("reading the evidence and computing trust…"):
        entries = with_ledger(ctx, action)
    if as_json:
        emit_json([{"subject": e.subject, "score": e.score, "uncertainty": e.uncertainty,
                    "lower": e.lower, "evidence": e.evidence, "authors": e.authors,
                    "verdict": e.verdict, "disputed": e.disputed} for e in entries[0]])
        return
    entries, labels = entries
    if not entries:
        click.echo(f"nobody my network knows has evidence on {facet}")
        return
    from trustmesh.cli.common import print_columns
    print_columns(("VERDICT", "LOWER", "SCORE", "UNCERTAINTY", "EVIDENCE", "MEMBER", "SUBJECT"),
                  [(_said(e), f"{e.lower:.3f}", f"{e.score:.3f}", f"{e.uncertainty:.3f}", str(e.evidence),
                    label, e.subject) for e, label in zip(entries, labels)])


def _said(found) -> str:
    """The verdict as the tables print it: a disputed member's says so (never recommended)."""
    return f"{found.verdict} (disputed)" if found.disputed else found.verdict


def _line(score) -> str:
    if not score.known:
        forked = "; its key chain is forked: disputed" if score.disputed else ""
        return f"  {score.facet:<12} unknown (no evidence from anyone my network vouches for{forked})"
    contested = f", {score.contested} contested" if score.contested else ""
    return (f"  {score.facet:<12} {_said(score):<13} score {score.score:.3f}  lower {score.lower:.3f}  uncertainty"
            f" {score.uncertainty:.3f}  ({score.evidence} attestations, {score.authors} authors{contested})")

