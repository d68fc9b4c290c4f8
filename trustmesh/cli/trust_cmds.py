"""``trust`` and ``rank``: the viewer's trust, from this node's own point of view.

numpy and scipy are imported inside the commands, so the rest of the CLI
stays quick to start.
"""

from __future__ import annotations

import click

from trustmesh.cli.common import emit_json, format_ms, with_ledger


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
    from trustmesh.crypto.ids import parse_id
    from trustmesh.protocol.facets import check_facet
    key = parse_id(subject)
    if facet is not None:
        check_facet(facet)

    def action(ledger):
        from trustmesh.core.trustview import TrustEngine
        engine = TrustEngine.for_ledger(ledger)
        now = ledger.clock()
        if explain:
            return engine.explain(key, facet, now)
        return engine.trust(key, facet, now)

    from trustmesh.cli.common import working
    with working("reading the evidence and computing trust…"):
        found = with_ledger(ctx, action)
    scores = found if isinstance(found, list) else [found]
    if as_json:
        emit_json(found.to_dict() if not isinstance(found, list) else [s.to_dict() for s in scores])
        return
    click.echo(f"subject {scores[0].subject}")
    for score in scores:
        click.echo(_line(score))
        for item in score.explanation:
            verdict = "+" if item.positive else "-"
            flags = ", ".join(x for x in ("deal" if item.deal else "no deal",
                                          "contested" if item.contested else "",
                                          "mine" if item.first_hand else "") if x)
            click.echo(f"    {verdict} {item.record[:16]}  {format_ms(item.occurred)}  weight {item.weight:.3f}"
                       f"  ({flags})  by {item.author}")
            if item.chain:
                click.echo("      via " + " -> ".join(_short(m) for m in item.chain))
                if item.rater_credibility < 0.995:
                    click.echo(f"      word discounted to {item.rater_credibility:.0%}: what it says of others"
                               " clashes with what the people nearer to me report")
            else:
                click.echo("      no path from me to this author: it does not count")


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
        from trustmesh.core.trustview import TrustEngine
        return TrustEngine.for_ledger(ledger).rank(facet, limit, ledger.clock())

    from trustmesh.cli.common import working
    with working("reading the evidence and computing trust…"):
        entries = with_ledger(ctx, action)
    if as_json:
        emit_json([{"subject": e.subject, "score": e.score, "uncertainty": e.uncertainty,
                    "lower": e.lower, "evidence": e.evidence, "authors": e.authors,
                    "verdict": e.verdict} for e in entries])
        return
    if not entries:
        click.echo(f"nobody my network knows has evidence on {facet}")
        return
    from trustmesh.cli.common import print_columns
    print_columns(("VERDICT", "LOWER", "SCORE", "UNCERTAINTY", "EVIDENCE", "SUBJECT"),
                  [(e.verdict, f"{e.lower:.3f}", f"{e.score:.3f}", f"{e.uncertainty:.3f}", str(e.evidence),
                    e.subject) for e in entries])


def _line(score) -> str:
    if not score.known:
        return f"  {score.facet:<12} unknown (no evidence from anyone my network vouches for)"
    contested = f", {score.contested} contested" if score.contested else ""
    return (f"  {score.facet:<12} {score.verdict:<13} score {score.score:.3f}  lower {score.lower:.3f}  uncertainty"
            f" {score.uncertainty:.3f}  ({score.evidence} attestations, {score.authors} authors{contested})")


def _short(member: str) -> str:
    return "…" + member[-8:]
