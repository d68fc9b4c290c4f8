"""What every command shares: the home, opening the ledger, output, errors, dates."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
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
        from trustmesh.core.keyfile import read_passphrase_file
        return read_passphrase_file(self.passphrase_file)

    def ledger(self):
        """The member's ledger; the caller closes it."""
        from trustmesh.core.ledger import Ledger
        return Ledger.open(self.home, self.passphrase())


def run_guarded(command: click.Command, argv: list[str] | None) -> int:
    """Run the click command; turn every error into one line on stderr and an exit code.

    Exit codes: 0 done, 1 refused (our errors, files), 2 bad usage (click's
    and ours), 70 a bug (the traceback only with TRUSTMESH_DEBUG=1), 130
    interrupted.
    """
    try:
        rc = command.main(args=argv, prog_name="trustmesh", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("trustmesh: interrupted", err=True)
        return 130
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "trustmesh"
        click.echo(f"{where}: {exc.format_message()} (see {where} --help)", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"trustmesh: {exc.format_message()}", err=True)
        return exc.exit_code
    except TrustmeshError as exc:
        click.echo(f"trustmesh: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("trustmesh: interrupted", err=True)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except OSError as exc:
        name = getattr(exc, "filename", None)
        click.echo(f"trustmesh: {exc.strerror or exc}" + (f": {name}" if name else ""), err=True)
        return 1
    except Exception as exc:   # a bug: still one line, unless asked for more
        if os.environ.get("TRUSTMESH_DEBUG"):
            raise
        click.echo(f"trustmesh: internal error: {type(exc).__name__}: {exc}"
                   " (TRUSTMESH_DEBUG=1 shows the traceback)", err=True)
        return 70
    return rc if type(rc) is int else 0


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


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
    """An ISO UTC date-time for milliseconds since the epoch (never raises: jsonview.iso)."""
    from trustmesh.protocol.jsonview import iso
    return iso(ms)


def with_ledger(ctx: click.Context, action: Callable[[Any], Any]) -> Any:
    """Open the ledger, run ``action`` on it, close it whatever happens."""
    ledger = ctx.obj.ledger()
    try:
        return action(ledger)
    finally:
        ledger.close()


def open_store(ctx: click.Context):
    """The store of an initialised home, opened without the key (reading needs no passphrase).

    Refuses a home without an identity, so a mistyped ``--home`` is an error
    instead of a new empty store somewhere.
    """
    from trustmesh.errors import KeyFileError
    from trustmesh.core.home import resolve_home
    from trustmesh.store import Store
    home = resolve_home(ctx.obj.home)
    if not home.key.exists():
        raise KeyFileError(f"no identity at {home.key}: run 'trustmesh init' first")
    return Store.open(home.store)


def with_store(ctx: click.Context, action: Callable[[Any], Any]) -> Any:
    """Open the store, run ``action`` on it, close it whatever happens."""
    store = open_store(ctx)
    try:
        return action(store)
    finally:
        store.close()


def member(text: str, option: str) -> bytes:
    """The public key named by a PeerID, did:key or 64 hex digits; UsageError naming the option."""
    from trustmesh.crypto.ids import parse_id
    try:
        return parse_id(text)
    except UsageError as exc:
        raise UsageError(f"{option}: {exc}") from None


def check_output(path: str, force: bool) -> Path:
    """The output path, refused early if it exists and ``force`` is off (before any work is done)."""
    target = Path(path)
    if target.is_dir():
        raise TrustmeshError(f"{path} is a directory")
    if target.exists() and not force:
        raise TrustmeshError(f"{path} already exists: give --force to replace it")
    return target


def write_output(path: str, chunks: Iterable[bytes], force: bool) -> int:
    """Write ``chunks`` to ``path`` atomically; the byte count.

    The bytes go to a temporary file in the same directory, are fsynced, then
    linked into place: a reader (or a crash) sees the old state or the whole
    new file, never a part. Without ``force`` the final step is a hard link,
    which fails if the name appeared meanwhile, so nothing is ever silently
    overwritten; with ``force`` it is a rename over the old file.
    """
    target = check_output(path, force)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise TrustmeshError(f"cannot write {path}: {exc.strerror or exc}") from None
    written = 0
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                written += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, target)
        else:
            _link_exclusive(tmp, target)
        _fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return written


def _link_exclusive(tmp: str, target: Path) -> None:
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise TrustmeshError(f"{target} already exists: give --force to replace it") from None
    except OSError:     # a file system without hard links: check, then rename
        if target.exists():
            raise TrustmeshError(f"{target} already exists: give --force to replace it") from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_chunks(path: str, size: int = 1 << 16) -> Iterator[bytes]:
    """The bytes of ``path`` (``-`` for stdin) in pieces, never the whole file at once."""
    if path == "-":
        stream = sys.stdin.buffer
        while chunk := stream.read(size):
            yield chunk
        return
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def read_small(path: str, limit: int = 1 << 16) -> bytes:
    """A small file (a deal proposal) whole; refuses a file over ``limit`` bytes."""
    data = b"".join(_take(read_chunks(path), limit + 1))
    if len(data) > limit:
        raise TrustmeshError(f"{path} is too large ({limit} bytes at most)")
    return data


def _take(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    got = 0
    for chunk in chunks:
        yield chunk
        got += len(chunk)
        if got >= limit:
            return


def api_call(ctx: click.Context, method: str, path: str, body: dict | None = None, **params):
    """One call to the running node's API; NodeNotRunning (one line, exit 1) if none runs."""
    from trustmesh.cli.writer import api_client
    with api_client(ctx.obj) as client:
        return client.call(method, path, body, **params)


def print_columns(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A table on stdout (rich): bold header and colour on a terminal, plain text otherwise.

    ``NO_COLOR`` (any value) turns colour and bold off; when stdout is not a terminal
    lines are never wrapped or cut, so scripts can split them on spaces.
    """
    from rich.console import Console
    from rich.table import Table
    terminal = sys.stdout.isatty()
    plain = "NO_COLOR" in os.environ or not terminal
    console = Console(no_color=plain, highlight=False,
                      soft_wrap=not terminal, width=None if terminal else 100_000,
                      force_terminal=terminal, emoji=False, markup=False)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="" if plain else "bold")
    for name in header:
        table.add_column(name, no_wrap=not terminal, overflow="fold" if terminal else "ignore")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@contextlib.contextmanager
def progress_bar(description: str, total: int | None):
    """A progress bar on stderr while long work runs, only when stderr is a terminal.

    Yields ``advance(n)``; off a terminal it does nothing, so logs and
    scripts never see control characters.
    """
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
    console = Console(stderr=True, no_color="NO_COLOR" in os.environ)
    columns = [TextColumn(description), BarColumn(), DownloadColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


@contextlib.contextmanager
def working(text: str):
    """A spinner on stderr while something slow runs (loading trust evidence), terminal only."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console
    with Console(stderr=True, no_color="NO_COLOR" in os.environ).status(text):
        yield
