"""The handlers of the control API: each checks its input, calls the node once, returns JSON.

``api`` is the ``app.Api`` (its ``node`` and ``body()``); ``request`` is Starlette's.
"""

from __future__ import annotations

import base64
import json
import time

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from trustmesh.api import params, web
from trustmesh.api.schemas import BadRequest
from trustmesh.core import keys
from trustmesh.core.events import batches
from trustmesh.crypto.ids import did_key, peer_id
from trustmesh.protocol.jsonview import record_view, stored_view
from trustmesh.version import __version__

# ---- identity and status -------------------------------------------------------

async def health(api, request: Request) -> dict:
    return {"ok": True, "uptime_s": round(time.time() - api.started, 1)}


async def version(api, request: Request) -> dict:
    return {"version": __version__}


async def identity(api, request: Request) -> dict:
    node = api.node
    return {"id": node.id, "did": did_key(node.identity.public_key), "addrs": node.addrs()}


async def status(api, request: Request) -> dict:
    return await api.node.status()


# ---- records ---------------------------------------------------------------------

async def records(api, request: Request) -> list:
    q = params.query(request, ("subject", "author", "facet", "kind", "limit", "offset"))
    found = await api.node.records(
        subject=params.member(q.get("subject"), "subject"), author=params.member(q.get("author"), "author"),
        facet=q.get("facet"), kind=q.get("kind"), limit=params.integer(q.get("limit"), "limit", 100, 1, 10_000),
        offset=params.integer(q.get("offset"), "offset", 0, 0, 10**9))
    return [stored_view(s, api.node.clock()) for s in found]


async def record_ids(api, request: Request) -> list:
    return [rid.hex() for rid in await api.node.record_ids()]


async def record(api, request: Request) -> dict:
    return stored_view(await api.node.record(request.path_params["rid"]), api.node.clock())


async def _made(api, stored) -> dict:
    return stored_view(stored, api.node.clock())


async def attest(api, request: Request) -> dict:
    b = await api.body(request, "attest")
    return await _made(api, await api.node.attest(
        b["subject"], b["facet"], b["positive"], ref=b["ref"], note=b["note"], deal=b["deal"],
        occurred=b["occurred"], expires=b["expires"]))


async def retract(api, request: Request) -> dict:
    b = await api.body(request, "retract")
    return await _made(api, await api.node.retract(b["target"], b["reason"]))


async def reply(api, request: Request) -> dict:
    b = await api.body(request, "reply")
    return await _made(api, await api.node.reply(b["target"], b["stance"], b["note"]))


async def profile(api, request: Request) -> dict:
    b = await api.body(request, "profile")
    return await _made(api, await api.node.set_profile(b["name"], b["org"], b["url"]))


async def import_bundle(api, request: Request) -> dict:
    stream = request.stream()
    try:
        report = await api.node.import_bundle(stream)
        # A damaged bundle is given up early, but an HTTP/1.1 client reads the answer only once
        # its upload is written: the rest is read and dropped (memory stays flat), or the
        # caller would wait on a socket nobody reads.
        async for _ in stream:
            pass
    except ClientDisconnect:        # the caller gave up (Ctrl-C): what was read is stored, nothing more
        raise BadRequest("the upload was interrupted") from None
    return report.to_dict()


# ---- deals -----------------------------------------------------------------------

async def propose(api, request: Request) -> dict:
    b = await api.body(request, "propose")
    outcome = await api.node.propose_deal(b["counterparty"], b["ref"], b["role"], b["due"])
    return {"status": outcome.status, "reason": outcome.reason,
            "deal": await _made(api, outcome.deal) if outcome.deal else None}


async def pending(api, request: Request) -> list:
    return [record_view(deal, pid, client=peer_id(deal.client), supplier=peer_id(deal.supplier))
            for pid, deal in api.node.pending_deals.items()]


async def sent(api, request: Request) -> list:
    return [record_view(item.proposal, item.id, status=item.status, reason=item.reason)
            for item in reversed(api.node.deals.sent.values())]


async def accept(api, request: Request) -> dict:
    return await _made(api, await api.node.accept_deal(request.path_params["pid"]))


async def decline(api, request: Request) -> dict:
    return {"declined": api.node.decline_deal(request.path_params["pid"]).hex()}


# ---- trust -------------------------------------------------------------------------

async def trust(api, request: Request):
    q = params.query(request, ("facet", "explain"))
    subject = params.member(request.path_params["subject"], "subject")
    found = await api.node.trust(subject, q.get("facet"), explain=params.flag(q.get("explain")))
    return [s.to_dict() for s in found] if isinstance(found, list) else found.to_dict()


async def rank(api, request: Request) -> list:
    q = params.query(request, ("facet", "limit"))
    if not q.get("facet"):
        raise BadRequest("rank needs ?facet=")
    found = await api.node.rank(q["facet"], params.integer(q.get("limit"), "limit", 20, 1, 1000))
    return [e.to_dict() for e in found]


async def weight(api, request: Request) -> dict:
    key = params.member(request.path_params["member"], "member")
    return {"member": peer_id(key), "weight": api.node.weight_of(key)}


async def key_state(api, request: Request) -> dict:
    return await api.node.key_state(params.member(request.path_params["member"], "member"))


# ---- this member's keys and devices (core/keys.py; the same answers as the CLI offline) ----

async def my_keys(api, request: Request) -> dict:
    return await api.node.worker.read(keys.show, api.node.ledger)


async def devices(api, request: Request) -> list:
    return (await my_keys(api, request))["devices"]


async def key_init(api, request: Request) -> dict:
    await api.body(request, "key_init")
    return await keys.on_node(api.node, keys.begin)


async def key_rotate(api, request: Request) -> dict:
    b = await api.body(request, "key_rotate")
    return await keys.on_node(api.node, keys.take_over, b["recovery"].encode(), since=b["since"],
                              passphrase=_passphrase(b["passphrase"]))


async def key_recover(api, request: Request) -> dict:
    b = await api.body(request, "key_recover")
    after = await api.node.worker.read(api.node.store.resolve, b["after"]) if b["after"] else None
    return await keys.on_node(api.node, keys.take_over, b["recovery"].encode(), recover=True, since=b["since"],
                              after=after, passphrase=_passphrase(b["passphrase"]))


def _passphrase(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise BadRequest("passphrase is base64") from None


async def device_add(api, request: Request) -> dict:
    b = await api.body(request, "device_add")
    return await keys.on_node(api.node, keys.device_add, b)


async def device_accept(api, request: Request) -> dict:
    b = await api.body(request, "device_accept")
    return await keys.on_node(api.node, keys.accept, b)


async def device_code(api, request: Request) -> dict:
    from trustmesh.core import pairing
    b = await api.body(request, "device_code")
    return await pairing.open_code(api.node, b["ttl_s"] or pairing.CODE_S)


async def device_code_state(api, request: Request) -> dict:
    from trustmesh.core import pairing
    return pairing.code_state(api.node)


async def device_join(api, request: Request) -> dict:
    from trustmesh.core import pairing
    b = await api.body(request, "device_join")
    return await pairing.join(api.node, b["code"], b["addr"])


async def device_revoke(api, request: Request) -> dict:
    b = await api.body(request, "device_revoke")
    return await keys.on_node(api.node, keys.revoke_named, b["key"], b["since"])


async def members(api, request: Request) -> list:
    return await api.node.members()


async def graph(api, request: Request) -> dict:
    q = params.query(request, ("around",))
    return await api.node.neighbourhood(params.member(q.get("around"), "around"))


# ---- contacts (my names for members: core/contacts.py) -----------------------------

def _contacts(api):
    from trustmesh.core.contacts import Contacts
    return Contacts.of(api.node.ledger.home)


async def contacts(api, request: Request) -> list:
    return [c.to_dict() for c in _contacts(api).all()]


async def contact(api, request: Request) -> dict:
    b = await api.body(request, "contact")
    return _contacts(api).add(b["name"], params.member(b["id"], "id"), api.node.clock()).to_dict()


async def contact_remove(api, request: Request) -> dict:
    return _contacts(api).remove(request.path_params["name"]).to_dict()


# ---- network ----------------------------------------------------------------------

async def ask(api, request: Request) -> list:
    b = await api.body(request, "ask")
    if (b["subject"] is None) == (b["author"] is None):
        raise BadRequest("ask about a subject or an author")
    found = await (api.node.ask(b["subject"]) if b["subject"] else api.node.ask(author=b["author"]))
    return [stored_view(s, api.node.clock()) for s in found]


async def peers(api, request: Request) -> list:
    return api.node.peers()


async def connect(api, request: Request) -> dict:
    b = await api.body(request, "connect")
    return {"id": await api.node.connect(b["addr"])}


async def disconnect(api, request: Request) -> dict:
    pid = peer_id(params.member(request.path_params["pid"], "peer"))
    await api.node.disconnect(pid)
    return {"disconnected": pid}


async def sync_status(api, request: Request) -> dict:
    return api.node.sync_status()


async def sync_now(api, request: Request) -> list:
    return await api.node.sync_now()


async def events(api, request: Request) -> StreamingResponse:
    q = params.query(request, ("kinds", "brief"))
    kinds = [k for k in q.get("kinds", "").split(",") if k] or None
    brief = params.flag(q.get("brief"))
    node = api.node

    async def lines():
        # Everything already waiting goes out in one write: under gossip load a
        # write per event cost the node more than the event (bench/network.py).
        async with node.subscribe(kinds) as stream:
            yield b'{"event":"subscribed"}\n'
            async for batch in batches(stream, 1000):
                yield b"".join(_event_line(e, brief) for e in batch)
    return StreamingResponse(lines(), media_type="application/x-ndjson")


def _event_line(event, brief: bool = False) -> bytes:
    return (json.dumps({"event": event.kind, **_event_json(event.data, brief)}) + "\n").encode()


def _event_json(data: dict, brief: bool = False) -> dict:
    """An event's details as JSON; ``brief``: a record event without its record view.

    Why brief exists: rendering the record of each event was half of a
    node's event-loop CPU during a 100,000-record catch-up (profiled,
    bench/catchup.py) for listeners that only want to know that something
    arrived (the web view refreshes, a test waits for an id).
    """
    out = {}
    for key, value in data.items():
        if key == "raw" or (brief and key == "record"):
            continue
        if key == "record":
            out[key] = record_view(value)
        elif isinstance(value, bytes):
            out[key] = value.hex()
        elif isinstance(value, list) and all(type(v) is bytes for v in value):     # ids
            out[key] = [v.hex() for v in value]
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        else:
            out[key] = str(value)
    return out


# ---- metrics ------------------------------------------------------------

async def metrics(api, request: Request) -> Response:
    from trustmesh.api.metrics import render
    text, content_type = render(api.node, await api.node.counts())
    return Response(text, media_type=content_type)


# (method, path, handler, summary); also the OpenAPI schema's source
ROUTES: list[tuple] = [
    ("GET", "/v1/health", health, "Liveness: the node answers."),
    ("GET", "/v1/version", version, "trustmesh version."),
    ("GET", "/v1/identity", identity, "My id, did:key and listen addresses."),
    ("GET", "/v1/status", status, "Id, addresses, connected peers, record counts, sync, version."),
    ("GET", "/v1/records", records, "Records held (?subject= &author= &facet= &kind= &limit= &offset=)."),
    ("GET", "/v1/records/ids", record_ids, "Every record id held (hex), sorted."),
    ("GET", "/v1/records/{rid}", record, "One record by id or unique id prefix."),
    ("POST", "/v1/attestations", attest, "Sign and gossip an attestation."),
    ("POST", "/v1/retractions", retract, "Retract one of my records."),
    ("POST", "/v1/replies", reply, "Reply to an attestation about me."),
    ("PUT", "/v1/profile", profile, "Publish my profile."),
    ("POST", "/v1/deals", propose, "Propose a deal to a connected member."),
    ("GET", "/v1/deals/pending", pending, "Proposals received and waiting for my answer."),
    ("GET", "/v1/deals/sent", sent, "Proposals I sent, with their answers."),
    ("POST", "/v1/deals/{pid}/accept", accept, "Countersign a pending proposal."),
    ("POST", "/v1/deals/{pid}/decline", decline, "Decline a pending proposal."),
    ("GET", "/v1/trust/{subject}", trust, "My trust in a member (?facet= &explain=1)."),
    ("GET", "/v1/rank", rank, "Best-known members on a facet (?facet= &limit=)."),
    ("GET", "/v1/weights/{member}", weight, "How much a member's word counts for me (0..1)."),
    ("GET", "/v1/keys", my_keys, "This member's keys: member, this node's key, controller, devices, disputed."),
    ("POST", "/v1/keys/init", key_init, "Start the key chain; the answer holds the recovery file (write it, 0600)."),
    ("POST", "/v1/keys/rotate", key_rotate, "Rotate to the recovery file's key; the answer holds the next one."),
    ("POST", "/v1/keys/recover", key_recover, "Become the member committing to the recovery file's key (its "
                                              "events imported first); the answer holds the next one."),
    ("GET", "/v1/devices", devices, "The member's keys with their roles, until when, and this node's."),
    ("POST", "/v1/devices", device_add, "Sign a new device's request: the offer it accepts."),
    ("POST", "/v1/devices/accept", device_accept, "Countersign an offer for this node and store the add."),
    ("POST", "/v1/devices/codes", device_code, "Open a one-time pairing code (single use, minutes): a device joins with it."),
    ("GET", "/v1/devices/codes", device_code_state, "Whether a pairing code is open, and until when."),
    ("POST", "/v1/devices/join", device_join, "Join a member by the code its node shows, at its address; the add stored."),
    ("POST", "/v1/devices/revoke", device_revoke, "End a key's authority from a time (default: now)."),
    ("GET", "/v1/keys/{member}", key_state, "Which keys act for a member: its key events as I read them."),
    ("POST", "/v1/import", import_bundle, "Verify and store a bundle (the body, streamed), gossip what is new."),
    ("GET", "/v1/contacts", contacts, "My contacts: the names I give members."),
    ("POST", "/v1/contacts", contact, "Name a member (a new name for them replaces the old)."),
    ("DELETE", "/v1/contacts/{name}", contact_remove, "Forget a contact, by my name for them or their id."),
    ("POST", "/v1/ask", ask, "Ask connected peers about a member now."),
    ("GET", "/v1/peers", peers, "Connected peers."),
    ("POST", "/v1/peers", connect, "Connect to a peer."),
    ("DELETE", "/v1/peers/{pid}", disconnect, "Disconnect a peer."),
    ("GET", "/v1/sync", sync_status, "The last sync with each peer, intake counters."),
    ("POST", "/v1/sync", sync_now, "Reconcile with every connected peer now."),
    ("GET", "/v1/events", events, "New events as NDJSON lines (?kinds=record,sync,...; ?brief=true: records by id only)."),
    ("GET", "/v1/members", members, "Members my network knows, with my trust per facet."),
    ("GET", "/v1/graph", graph, "Members within two relations of me (or of ?around=), and the relations."),
    *web.ROUTES,
    ("GET", "/metrics", metrics, "Prometheus metrics."),
]
