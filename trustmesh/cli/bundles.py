"""Bundle commands: export what I hold, import or verify what someone gave me.

Why streaming everywhere: a bundle may hold millions of records. Export
writes records as the store yields them; import reads the file in 64 KiB
pieces and ingests in batches of ``BATCH``, so memory stays bounded whatever
the size, and a bundle cut in the middle still delivers every record before
the damage (each batch is committed before the next is read).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import click

from trustmesh.cli.common import emit_json, open_store, read_chunks, write_output
from trustmesh.errors import DecodeError, TrustmeshError, UsageError

BATCH = 2000
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
    from trustmesh.cli.common import progress_bar, running_node
    chunks = _bundle_chunks(bundle_file)       # a wrong file is one error line, before anything else
    client = running_node(ctx)
    if client is not None:                     # the node is the one writer: it stores and gossips
        with client:
            found = client.call("POST", "/v1/import", content=b"".join(chunks))
        report = _Report(as_json, ("accepted", "duplicate", "rejected"))
        for item in found["records"]:
            report.add(bytes.fromhex(item["id"]) if item["id"] else None, item["type"], item["status"],
                       item["reason"])
        forks = found["forks"]
        report.finish(found["damaged"], {"forks": forks})
        if not as_json:
            click.echo(f"imported {bundle_file} through the running node: {report.line()}"
                       + (f"; {forks} new fork proofs" if forks else ""))
        report.exit_status("rejected")
        return
    report = _Report(as_json, ("accepted", "duplicate", "rejected"))
    size = os.path.getsize(bundle_file) if bundle_file != "-" else None
    store = open_store(ctx)
    with progress_bar("importing", size) as advance:
        forks = _import(store, _counted(chunks, advance), report)
    report.finish(report.damage, {"forks": forks})
    if not as_json:
        click.echo(f"imported {bundle_file}: {report.line()}" + (f"; {forks} new fork proofs" if forks else ""))
    report.exit_status("rejected")


def _counted(chunks, advance):
    for chunk in chunks:
        advance(len(chunk))
        yield chunk


def _import(store, chunks, report) -> int:
    """Ingest a bundle's records in batches into ``store`` (closed at the end); new fork proofs."""
    from trustmesh.core.ledger import now_ms
    from trustmesh.store.store import REJECTED
    from trustmesh.protocol.bundle import read_bundle
    report.damage = None
    try:
        forks_before = len(store.forks())
        pending: list[bytes] = []

        def flush() -> None:
            for result in store.ingest(pending, now_ms()):
                kind = result.record.NAME if result.record is not None else None
                report.add(result.id, kind, result.status, result.reason if result.status == REJECTED else None)
            pending.clear()
        try:
            for raw in read_bundle(chunks):
                pending.append(raw)
                if len(pending) >= BATCH:
                    flush()
        except DecodeError as exc:
            report.damage = str(exc)
        flush()
        return len(store.forks()) - forks_before
    finally:
        store.close()


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
