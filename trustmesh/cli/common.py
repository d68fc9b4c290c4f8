"""What every command shares: the home, opening the ledger, output, errors, dates."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import click

from trustmesh.errors import TrustmeshError, UsageError


@dataclass
class CliState:
    home: str | None
    passphrase_file: str | None

    def passphrase(self) -> bytes | None:
        if not self.passphrase_file:
            return None
        from trustmesh.node.keyfile import read_passphrase_file
        return read_passphrase_file(self.passphrase_file)

    def ledger(self):
        """The member's ledger; the caller closes it."""
        from trustmesh.node.ledger import Ledger
        return Ledger.open(self.home, self.passphrase())


def run_guarded(command: click.Command, argv: list[str] | None) -> int:
    """Run the click command; turn our errors into one line and an exit code."""
    try:
        code = command.main(args=argv, prog_name="trustmesh", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("trustmesh: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except UsageError as exc:
        click.echo(f"trustmesh: {exc}", err=True)
        return 2
    except TrustmeshError as exc:
        click.echo(f"trustmesh: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("trustmesh: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        click.echo(f"trustmesh: {exc.strerror or exc}{where}", err=True)
        return 1
    return code if isinstance(code, int) else 0


def emit_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False))


def parse_date(text: str, option: str) -> int:
    """Milliseconds since the epoch for an ISO date or date-time (UTC if no zone)."""
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), timezone.utc)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
    except ValueError:
        raise UsageError(f"{option}: not a date: {text!r} (use YYYY-MM-DD or an ISO date-time)") from None
    return int(moment.timestamp() * 1000)


def format_ms(ms: int | None) -> str | None:
    """An ISO UTC date-time for milliseconds since the epoch."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def with_ledger(ctx: click.Context, action: Callable[[Any], Any]) -> Any:
    """Open the ledger, run ``action`` on it, close it whatever happens."""
    ledger = ctx.obj.ledger()
    try:
        return action(ledger)
    finally:
        ledger.close()


@contextmanager
def open_output(path: str | None, force: bool = False):
    """A binary file to write, replaced atomically on success (stdout if no path).

    Written to a temporary file in the same directory and renamed at the
    end, so a failure leaves no half-written file, and an existing file is
    kept unless ``force``.
    """
    if path is None:
        yield click.get_binary_stream("stdout")
        return
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} exists: choose another name or pass --force")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".trustmesh-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_bundle_file(path: str) -> Iterator[bytes]:
    """The encoded records of a bundle file, streamed in 64 KiB reads."""
    from trustmesh.protocol.bundle import read_bundle

    def chunks():
        with open(path, "rb") as fh:
            while chunk := fh.read(65536):
                yield chunk
    return read_bundle(chunks())


def show_records(stored: list, as_json: bool, *, single: bool = False, full: bool = False) -> None:
    """Print stored records as JSON or as an aligned table (or a detail view)."""
    from trustmesh.protocol.jsonview import record_view
    views = [record_view(s.record, s.id, retracted=s.retracted, contested=s.contested) for s in stored]
    if as_json:
        emit_json(views[0] if single else views)
        return
    if full or single:
        for view in views:
            width = max(len(k) for k in view)
            for key, value in view.items():
                if value is not None and value is not False:
                    click.echo(f"{key:{width}}  {value}")
        return
    if not views:
        click.echo("no records")
        return
    for s, view in zip(stored, views):
        click.echo("  ".join([s.id.hex()[:12], f"{view['type']:11}", (view.get("issued") or "")[:10],
                              _short(view.get("author")), _describe(view)]))


def _short(member: str | None) -> str:
    return "…" + member[-8:] if member else ""


def _describe(view: dict) -> str:
    kind = view["type"]
    if kind == "attestation":
        verdict = "+" if view["positive"] else "-"
        text = f"{verdict}{view['facet']} about {_short(view['subject'])}"
        text += f"  \"{view['note']}\"" if view.get("note") else ""
    elif kind == "deal":
        text = f"deal ({view['role']}) with {_short(view['counterparty'])}"
    elif kind in ("retraction", "reply"):
        text = f"{view.get('stance', 'retracts')} {view['target'][:12]}"
    else:
        text = f"profile {view['name']!r}"
    flags = [f for f in ("retracted", "contested") if view.get(f)]
    return text + (f"  [{', '.join(flags)}]" if flags else "")
