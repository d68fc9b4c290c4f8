"""``trustmesh key`` and ``trustmesh device``: the member's key chain from this home (core/keys.py).

These write offline only (refused while a node runs for the home): a
rotation replaces the key file the running node's libp2p identity is.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from trustmesh.cli.common import emit_json, format_ms, parse_date, read_small, with_ledger
from trustmesh.crypto.ids import peer_id

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def register(cli: click.Group) -> None:
    cli.add_command(key)
    cli.add_command(device)


def told_recovery(path: Path) -> None:
    """Say where the recovery file went and that it must leave the machine (stderr)."""
    click.echo(f"RECOVERY FILE written to {path.absolute()}: move it OFFLINE now (a USB stick, paper);"
               " it is the only way back if this key is stolen. It is not kept here.", err=True)


@click.group()
def key() -> None:
    """The member's keys: inception, rotation, recovery, status."""


@key.command("init")
@click.option("--recovery", "recovery", required=True, type=click.Path(dir_okay=False),
              help="Where to write the recovery file (it must not exist).")
@click.pass_context
def key_init(ctx: click.Context, recovery: str) -> None:
    """Start this member's key chain: commit to a successor kept in the recovery file."""
    from trustmesh.core import keys
    with_ledger(ctx, lambda ledger: keys.incept(ledger, Path(recovery)))
    click.echo("key chain started")
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
    from trustmesh.core import keys
    at = parse_date(since, "--since") if since else None
    event = with_ledger(ctx, lambda ledger: keys.rotate(ledger, Path(recovery), Path(new_recovery), since=at,
                                                        passphrase=ctx.obj.passphrase()))
    click.echo(f"rotated: this node's key is now {event.key.hex()} (restart a node for this home)")
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
    from trustmesh.core import keys
    from trustmesh.protocol.bundle import read_bundle
    raws = list(read_bundle(_bundle_chunks(events))) if events else []
    at = parse_date(since, "--since") if since else None
    event = with_ledger(ctx, lambda ledger: keys.recover(
        ledger, Path(recovery), Path(new_recovery), raws, since=at,
        after=ledger.record_id(after) if after else None, passphrase=ctx.obj.passphrase()))
    click.echo(f"recovered member {event.member.hex()}: this node's key is {event.key.hex()}")
    told_recovery(Path(new_recovery))


@key.command("show")
@_JSON
@click.pass_context
def key_show(ctx: click.Context, as_json: bool) -> None:
    """Member id, this device's key, controller, devices, disputed."""
    from trustmesh.core import keys

    def look(ledger):
        state = keys.state(ledger)
        return {"member": peer_id(state.member), "this_key": peer_id(ledger.me),
                "controller": peer_id(state.controller) if state.controller else None,
                "incepted": state.tip is not None, "disputed": state.disputed,
                "devices": _windows(state, ledger.me)}
    info = with_ledger(ctx, look)
    if as_json:
        emit_json(info)
        return
    for name in ("member", "this_key", "controller", "incepted", "disputed"):
        click.echo(f"{name:11} {info[name]}")


def _windows(state, me: bytes) -> list[dict]:
    return [{"key": peer_id(w.key), "role": w.role, "until": format_ms(w.until), "this_node": w.key == me}
            for w in state.windows.values()]


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
@click.argument("request", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="The offer file to write.")
@click.pass_context
def device_add(ctx: click.Context, request: str, out: str) -> None:
    """On a node of the member: sign the device's add and write an offer for it."""
    from trustmesh.cli.common import write_output
    from trustmesh.core import keys
    offer = with_ledger(ctx, lambda ledger: keys.device_add(ledger, _json(request)))
    write_output(out, [json.dumps(offer).encode()], False)
    click.echo(f"offer written to {out}: on the new node run trustmesh device accept {out}")


@device.command("accept")
@click.argument("offer", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def device_accept(ctx: click.Context, offer: str) -> None:
    """On the new node: check the offer is for the member asked, countersign and store the add."""
    from trustmesh.core import keys
    event = with_ledger(ctx, lambda ledger: keys.device_accept(ledger, _json(offer)))
    click.echo(f"this node now acts for member {peer_id(event.member)}")


@device.command("list")
@_JSON
@click.pass_context
def device_list(ctx: click.Context, as_json: bool) -> None:
    """The member's keys with their roles, until when, and which one is this node."""
    from trustmesh.cli.common import print_columns
    from trustmesh.core import keys
    rows = with_ledger(ctx, lambda ledger: _windows(keys.state(ledger), ledger.me))
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
    from trustmesh.core import keys

    def act(ledger):
        target = keys.find_key(keys.state(ledger), key_text)
        return keys.revoke(ledger, target, parse_date(since, "--since") if since else ledger.clock())
    event = with_ledger(ctx, act)
    click.echo(f"revoked {peer_id(event.key)}")


def _json(path: str) -> dict:
    from trustmesh.errors import UsageError
    try:
        value = json.loads(read_small(path))
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{path} is not JSON") from None
    if not isinstance(value, dict):
        raise UsageError(f"{path} is not a request or offer")
    return value
