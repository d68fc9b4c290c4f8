"""``trustmesh key`` and ``trustmesh device``: the member's key chain from this home (core/keys.py).

The writing commands go through the one writer (``writer.py``): the running
node's API, or the ledger when no node runs, with the same answers. A
recovery file is read here and its bytes handed over; the next one comes
back in the answer and is written here (``recovery_slot``), so the node
never keeps one. ``device request`` signs with the key file and writes only
the home's pairing state and its request file: it needs no writer.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from trustmesh.cli.common import emit_json, parse_date, read_small, with_ledger
from trustmesh.errors import TrustmeshError, UsageError

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_VIA = " (through the running node)"


def register(cli: click.Group) -> None:
    cli.add_command(key)
    cli.add_command(device)


def told_recovery(path: Path) -> None:
    """Say where the recovery file went and that it must leave the machine (stderr)."""
    click.echo(f"RECOVERY FILE written to {path.absolute()}: move it OFFLINE now (a USB stick, paper);"
               " it is the only way back if this key is stolen. It is not kept here.", err=True)


def check_recovery_path(path: Path) -> None:
    """UsageError unless a recovery file can be created at ``path`` (it is never overwritten)."""
    if path.exists():
        raise UsageError(f"{path} already exists: a recovery file is never overwritten")
    if not path.absolute().parent.is_dir():
        raise UsageError(f"{path.parent} is not a directory: cannot write the recovery file there")


@contextmanager
def recovery_slot(path: Path) -> Iterator[Callable[[str], None]]:
    """Claim ``path`` for a recovery file before anything is signed; yields ``put(text)``.

    Why claimed first: the next recovery file exists only in the answer of a
    rotation already stored, so a file that cannot be written then loses
    the member's only way to rotate again. The directory is checked and a
    temporary file (0600) made in it before the call; ``put`` fills it,
    fsyncs it and links it into place, never over an existing file (the
    rule of ``core.home.write_private``, made exclusive). If the link fails,
    the full temporary file is kept and named in the error.
    """
    from trustmesh.core.home import fsync_dir
    check_recovery_path(path)
    directory = path.absolute().parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)   # 0600
    except OSError as exc:
        raise TrustmeshError(f"cannot write the recovery file {path}: {exc.strerror or exc}") from None
    state = {"open": True, "keep": False}

    def put(text: str) -> None:
        state["open"] = False
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(text.encode())
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise TrustmeshError(f"the key chain changed, but the next recovery file could not be written to"
                                 f" {path} ({exc.strerror or exc}): this member cannot rotate again") from None
        try:
            os.link(tmp, path)
        except OSError as exc:
            state["keep"] = True
            raise TrustmeshError(f"cannot write the recovery file {path} ({exc.strerror or exc}):"
                                 f" it is in {tmp}, move it OFFLINE now") from None
        os.unlink(tmp)
        fsync_dir(directory)

    try:
        yield put
    finally:
        if state["open"]:
            os.close(fd)
        if not state["keep"]:
            Path(tmp).unlink(missing_ok=True)


def _recovery_bytes(path: str) -> bytes:
    from trustmesh.core.keyfile import MAX_KEY_FILE
    return read_small(path, MAX_KEY_FILE)


def _write(ctx: click.Context, act: Callable) -> tuple:
    """``act(writer)`` with the one writer; its answer and the human suffix ("through the node")."""
    from trustmesh.cli.writer import with_writer
    answer, via = with_writer(ctx.obj, act)
    return answer, _VIA if via == "node" else ""


def _renewing(ctx: click.Context, new_recovery: str, act: Callable) -> tuple:
    """A write whose answer carries the next recovery file: written to ``new_recovery``."""
    with recovery_slot(Path(new_recovery)) as put:
        answer, via = _write(ctx, act)
        put(answer["recovery"])
    return answer, via


@click.group()
def key() -> None:
    """The member's keys: inception, rotation, recovery, status."""


@key.command("init")
@click.option("--recovery", "recovery", required=True, type=click.Path(dir_okay=False),
              help="Where to write the recovery file (it must not exist).")
@click.pass_context
def key_init(ctx: click.Context, recovery: str) -> None:
    """Start this member's key chain: commit to a successor kept in the recovery file."""
    _, via = _renewing(ctx, recovery, lambda w: w.key_init())
    click.echo("key chain started" + via)
    told_recovery(Path(recovery))


@key.command("rotate")
@click.option("--recovery", "recovery", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The recovery file holding the successor.")
@click.option("--new-recovery", "new_recovery", required=True, type=click.Path(dir_okay=False),
              help="Where to write the next recovery file.")
@click.option("--since", help="Records by the old key from this time on are void (lost key).")
@click.pass_context
def key_rotate(ctx: click.Context, recovery: str, new_recovery: str, since: str | None) -> None:
    """This node becomes the successor; the old key is deleted and ends."""
    at = parse_date(since, "--since") if since else None
    secret, passphrase = _recovery_bytes(recovery), ctx.obj.passphrase()
    done, via = _renewing(ctx, new_recovery, lambda w: w.key_rotate(secret, at, passphrase))
    click.echo(f"rotated: this node's key is now {done['key']}{via} (restart a node for this home:"
               " its network identity is the key file)")
    told_recovery(Path(new_recovery))


@key.command("recover")
@click.argument("recovery", type=click.Path(exists=True, dir_okay=False))
@click.option("--events", "events", type=click.Path(exists=True, dir_okay=False),
              help="A bundle (trustmesh export) holding the member's key events.")
@click.option("--new-recovery", "new_recovery", required=True, type=click.Path(dir_okay=False),
              help="Where to write the next recovery file.")
@click.option("--since", help="The time the old key was lost: its records from then on are void.")
@click.option("--after", help="The id of the last key event to trust (default: the tip).")
@click.pass_context
def key_recover(ctx: click.Context, recovery: str, events: str | None, new_recovery: str,
                since: str | None, after: str | None) -> None:
    """On a new home: become the member from the recovery file, ending the lost key."""
    from trustmesh.cli.bundles import _bundle_chunks
    at = parse_date(since, "--since") if since else None
    secret, passphrase = _recovery_bytes(recovery), ctx.obj.passphrase()

    def act(writer):
        if events:
            writer.import_bundle(_bundle_chunks(events))
        return writer.key_recover(secret, at, after, passphrase)
    done, via = _renewing(ctx, new_recovery, act)
    click.echo(f"recovered member {done['member']}: this node's key is {done['key']}{via}")
    told_recovery(Path(new_recovery))


@key.command("show")
@_JSON
@click.pass_context
def key_show(ctx: click.Context, as_json: bool) -> None:
    """Member id, this device's key, controller, devices, disputed."""
    info, _ = _write(ctx, lambda w: w.key_show())
    if as_json:
        emit_json(info)
        return
    for name in ("member", "this_key", "controller", "incepted", "disputed"):
        click.echo(f"{name:11} {info[name]}")


@click.group()
def device() -> None:
    """Devices acting for the member: pairing by files, list, revoke."""


@device.command("request")
@click.option("--member", "member_id", required=True, help="The member id to join.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="The request file to write.")
@click.pass_context
def device_request(ctx: click.Context, member_id: str, out: str) -> None:
    """On the new node: ask to act for MEMBER (signed by this node's key)."""
    from trustmesh.cli.common import check_output, member, write_output
    from trustmesh.core import keys
    asked = member(member_id, "--member")
    check_output(out, False)        # refused before anything is signed or remembered
    # the file is written atomically, and a failed write puts the pairing state back
    with_ledger(ctx, lambda ledger: keys.device_request(
        ledger, asked, deliver=lambda request: write_output(out, [json.dumps(request).encode()], False)))
    click.echo(f"request written to {out}: take it to a node of the member (trustmesh device add)")


@device.command("add")
@click.argument("request", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), help="The offer file to write.")
@click.option("--code", "by_code", is_flag=True,
              help="Instead of files: print a one-time code for the new node's 'device join' (node running).")
@click.option("--minutes", type=click.IntRange(1, 60), default=5, show_default=True,
              help="With --code: how long the code is good for.")
@click.pass_context
def device_add(ctx: click.Context, request: str | None, out: str | None, by_code: bool, minutes: int) -> None:
    """On a node of the member: sign the device's add and write an offer for it (or open a --code)."""
    from trustmesh.cli.common import check_output, write_output
    if by_code:
        if request or out:
            raise UsageError("--code pairs over the network: give no REQUEST and no --out")
        opened, _ = _write(ctx, lambda w: w.device_code(minutes * 60))
        click.echo(f"pairing code {opened['code']} (once, until {opened['expires']}); on the new node run:")
        for addr in opened["addrs"][:1] or ["ADDRESS"]:
            click.echo(f"  trustmesh device join {opened['code']} {addr}")
        for addr in opened["addrs"][1:]:
            click.echo(f"  (or at {addr})")
        return
    if not request or not out:
        raise UsageError("give the REQUEST file and --out FILE (or --code)")
    asked = _json(request, "device_add")
    check_output(out, False)
    offer, via = _write(ctx, lambda w: w.device_add(asked))
    write_output(out, [json.dumps(offer).encode()], False)
    click.echo(f"offer written to {out}{via}: on the new node run trustmesh device accept {out}")


@device.command("accept")
@click.argument("offer", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def device_accept(ctx: click.Context, offer: str) -> None:
    """On the new node: check the offer is for the member asked, countersign and store the add."""
    given = _json(offer, "device_accept")
    done, via = _write(ctx, lambda w: w.device_accept(given))
    click.echo(f"this node now acts for member {done['member']}{via}")


@device.command("join")
@click.argument("code")
@click.argument("addr")
@click.pass_context
def device_join(ctx: click.Context, code: str, addr: str) -> None:
    """On the new node: join the member whose node shows CODE (device add --code), at ADDR."""
    done, via = _write(ctx, lambda w: w.device_join(code, addr))
    click.echo(f"this node now acts for member {done['member']}{via}")


@device.command("list")
@_JSON
@click.pass_context
def device_list(ctx: click.Context, as_json: bool) -> None:
    """The member's keys with their roles, until when, and which one is this node."""
    from trustmesh.cli.common import print_columns
    info, _ = _write(ctx, lambda w: w.key_show())
    rows = info["devices"]
    if as_json:
        emit_json(rows)
        return
    print_columns(("KEY", "ROLE", "UNTIL", "THIS"),
                  [(r["key"], r["role"], r["until"] or "-", "yes" if r["this_node"] else "") for r in rows])


@device.command("revoke")
@click.argument("key_text", metavar="KEY")
@click.option("--since", help="Its records from this time on are void (default: now).")
@click.pass_context
def device_revoke(ctx: click.Context, key_text: str, since: str | None) -> None:
    """End a key's authority (a lost laptop): by its id, or 8+ characters of it (start or end)."""
    at = parse_date(since, "--since") if since else None
    done, via = _write(ctx, lambda w: w.device_revoke(key_text, at))
    click.echo(f"revoked {done['revoked']}{via}")


def _json(path: str, route: str) -> dict:
    """A request or offer file, checked by the API's own schema for it, whichever writer takes it."""
    from trustmesh.api.schemas import BODIES, check_object
    try:
        value = json.loads(read_small(path))
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{path} is not JSON") from None
    if not isinstance(value, dict):
        raise UsageError(f"{path} is not a {'request' if route == 'device_add' else 'offer'}")
    try:
        return check_object(value, BODIES[route])
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
