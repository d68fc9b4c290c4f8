"""Bundle commands: export what I hold, import or verify what someone gave me.

Why streaming everywhere: a bundle may hold millions of records. Export
writes records as the store yields them; import reads the file in 64 KiB
pieces and ingests in batches (``core/imports.py``), so memory stays bounded whatever
the size, and a bundle cut in the middle still delivers every record before
the damage (each batch is committed before the next is read). Import goes
through the one writer (``writer.py``): the running node, or the ledger.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import click

from trustmesh.cli.common import emit_json, open_store, read_chunks, write_output
from trustmesh.errors import DecodeError, TrustmeshError, UsageError

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.command()
@click.option("-o", "--output", metavar="FILE", help="Write here (default: stdout, which must not be a terminal).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.pass_context
def export(ctx: click.Context, output: str | None, force: bool) -> None:
    """Write every record held here as a bundle (binary)."""
    from trustmesh.protocol.bundle import bundle_chunks
    if output is None and sys.stdout.isatty():
        raise UsageError("a bundle is binary: give -o FILE or redirect stdout")
    store = open_store(ctx)
    count = 0

    def counted() -> Iterator[bytes]:
        nonlocal count
        for raw in store.iter_raw():
            count += 1
            yield raw
    try:
        if output is None:
            out = sys.stdout.buffer
            for chunk in bundle_chunks(counted()):
                out.write(chunk)
            out.flush()
        else:
            write_output(output, bundle_chunks(counted()), force)
            click.echo(f"exported {count} records to {output}", err=True)
    finally:
        store.close()


@click.command("import")
@click.argument("bundle_file", metavar="FILE")
@_JSON
@click.pass_context
def import_(ctx: click.Context, bundle_file: str, as_json: bool) -> None:
    """Verify every record of a bundle and store the good ones (FILE may be - for stdin).

    Exit 0 when every record was accepted or already held; 1 when any was
    rejected or the bundle is damaged (the good records are stored anyway).
    """
    from trustmesh.cli.common import progress_bar
    from trustmesh.cli.writer import writer_for
    chunks = _bundle_chunks(bundle_file)       # a wrong file is one error line, before anything else
    size = os.path.getsize(bundle_file) if bundle_file != "-" else None
    writer = writer_for(ctx.obj)
    try:
        with progress_bar("importing", size) as advance:
            found = writer.import_bundle(_counted(chunks, advance))
    finally:
        writer.close()
    if as_json:
        emit_json(found)
    else:
        for item in found["refused"]:
            short = item["id"][:12] if item["id"] else "-"
            click.echo(f"rejected  #{item['position']}  {short}  {item['reason']}")
        if found["damaged"]:
            click.echo(f"damaged: the bundle stops after record {found['total']}: {found['damaged']}")
        via = " through the running node" if writer.via == "node" else ""
        click.echo(f"imported {bundle_file}{via}: {found['accepted']} accepted, {found['duplicate']} duplicate,"
                   f" {found['rejected']} rejected (of {found['total']} records)"
                   + (f"; {found['forks']} new fork proofs" if found["forks"] else ""))
    problems = []
    if found["rejected"]:
        problems.append(f"{found['rejected']} record{'s' if found['rejected'] > 1 else ''} rejected")
    if found["damaged"]:
        problems.append(f"damaged bundle after record {found['total']}")
    if problems:
        raise TrustmeshError(", ".join(problems))


def _counted(chunks, advance):
    for chunk in chunks:
        advance(len(chunk))
        yield chunk


@click.command()
@click.argument("bundle_file", metavar="FILE")
@_JSON
def verify(bundle_file: str, as_json: bool) -> None:
    """Check every record of a bundle (signatures, rules, links inside it) without storing any.

    Exit 0 when every record is valid, 1 when any is invalid or the bundle is
    damaged. Needs no home directory.
    """
    from trustmesh.crypto.ids import peer_id
    from trustmesh.core.ledger import now_ms
    from trustmesh.protocol.bundle import read_bundle
    from trustmesh.protocol.jsonview import record_view
    from trustmesh.protocol.verify import BundleVerifier
    chunks = _bundle_chunks(bundle_file)
    verifier = BundleVerifier(now_ms())
    damage = None
    try:
        for raw in read_bundle(chunks):
            verifier.add(raw)
    except DecodeError as exc:
        damage = str(exc)
    report = _Report(as_json, ("valid", "duplicate", "invalid"))
    for v in verifier.finish():
        extra = {"record": record_view(v.record) if v.record is not None and as_json else None}
        report.add(v.id, v.record.NAME if v.record is not None else None, v.status, v.reason, extra)
    forks = [{"author": peer_id(f.author), "seq": f.seq, "ids": [f.id_a.hex(), f.id_b.hex()]}
             for f in verifier.forks]
    report.finish(damage, {"forks": forks, "unresolved_links": verifier.unresolved})
    if not as_json:
        for fork in forks:
            click.echo(f"fork: {fork['author']} signed two records for position {fork['seq']}:"
                       f" {fork['ids'][0][:12]} and {fork['ids'][1][:12]}")
        click.echo(f"verified {bundle_file}: {report.line()}"
                   + (f"; {verifier.unresolved} links to records not in the bundle" if verifier.unresolved else ""))
    report.exit_status("invalid")


# ---- helpers --------------------------------------------------------------

def _bundle_chunks(path: str) -> Iterator[bytes]:
    """The file's bytes, after checking that it starts like a bundle.

    Checked before any output so that a wrong file is one error line, not a
    report; a deal proposal (a common mix-up) gets its own hint.
    """
    from trustmesh.protocol.bundle import BUNDLE_MAGIC, PROPOSAL_MAGIC
    chunks = read_chunks(path)
    first = next(chunks, b"")
    if first.startswith(PROPOSAL_MAGIC):
        raise UsageError(f"{path} is a deal proposal, not a bundle: countersign it with 'trustmesh deal sign'")
    if not first or not (first.startswith(BUNDLE_MAGIC) or BUNDLE_MAGIC.startswith(first)):
        raise DecodeError(f"{path} is not a trustmesh bundle")

    def rest() -> Iterator[bytes]:
        yield first
        yield from chunks
    return rest()


class _Report:
    """Per-record results, printed as they come (JSON is streamed, so memory stays flat)."""

    def __init__(self, as_json: bool, statuses: tuple[str, str, str], out: TextIO | None = None) -> None:
        self.as_json = as_json
        self.statuses = statuses
        self.counts = {s: 0 for s in statuses}
        self.total = 0
        self.damage: str | None = None
        self._out = out or sys.stdout
        if as_json:
            self._out.write('{\n  "records": [')

    def add(self, rid: bytes | None, kind: str | None, status: str, reason: str | None,
            extra: dict[str, Any] | None = None) -> None:
        self.total += 1
        self.counts[status] += 1
        if self.as_json:
            import json
            item = {"position": self.total, "id": rid.hex() if rid else None, "type": kind,
                    "status": status, "reason": reason, **(extra or {})}
            self._out.write(("\n    " if self.total == 1 else ",\n    ") + json.dumps(item, ensure_ascii=False))
        elif status == self.statuses[2]:
            short = rid.hex()[:12] if rid else "-"
            self._out.write(f"{status}  #{self.total}  {short}  {reason}\n")

    def finish(self, damage: str | None, extra: dict[str, Any]) -> None:
        self.damage = damage
        if self.as_json:
            import json
            tail = {**self.counts, "total": self.total, "damaged": damage, **extra}
            body = json.dumps(tail, ensure_ascii=False, indent=2)[1:]   # drop the opening brace
            self._out.write(("\n  ]," if self.total else "],") + body + "\n")
            self._out.flush()
        elif damage:
            self._out.write(f"damaged: the bundle stops after record {self.total}: {damage}\n")

    def line(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in self.counts.items()) + f" (of {self.total} records)"

    def exit_status(self, bad: str) -> None:
        """Raise (exit 1, one line on stderr) when anything was bad."""
        problems = []
        if self.counts[bad]:
            problems.append(f"{self.counts[bad]} record{'s' if self.counts[bad] > 1 else ''} {bad}")
        if self.damage:
            problems.append(f"damaged bundle after record {self.total}")
        if problems:
            raise TrustmeshError(", ".join(problems))
