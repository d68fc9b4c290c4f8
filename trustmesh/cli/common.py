"""What every command shares: the home, opening the ledger, output, errors, dates."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
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
        command.main(args=argv, prog_name="trustmesh", standalone_mode=False)
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
        click.echo(f"trustmesh: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "), err=True)
        return 1
    return 0


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
