"""Deals proposed and countersigned across nodes (on threads of this process: ``InProcessNode``)."""

from __future__ import annotations

import time

import dataclasses

import trustmesh
from trustmesh.protocol.records import sign
from trustmesh.testing import Cluster, InProcessNode, NodeError


def test_a_deal_is_countersigned_across_nodes_and_gossiped(tmp_path):
    with Cluster(3, root=tmp_path, args=["--auto-accept", "always"], node=InProcessNode) as net:
        outcome = net[0].deal(net[1].id, ref="INV-7", role="client")
        assert outcome["status"] == "accepted", outcome
        deal_id = outcome["deal"]["id"]
        assert net.wait_for([deal_id], timeout=15)       # both parties and the bystander
        rid = net[0].attest(net[1].id, "payment", True, ref="INV-7")
        assert net.wait_for([rid], timeout=15)
        # the deal gives the counterparty weight from the proposer's point of view
        deadline = time.monotonic() + 15
        while net[0].weight(net[1].id) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert net[0].weight(net[1].id) > 0


def test_a_pending_proposal_is_accepted_later(tmp_path):
    with Cluster(2, root=tmp_path, node=InProcessNode) as net:      # default policy: ask the user
        outcome = net[0].deal(net[1].id, ref="PO-1", role="supplier")
        assert outcome["status"] == "pending"
        (pending,) = [d["id"] for d in net[1].api("GET", "/v1/deals/pending")]
        deal_id = net[1].api("POST", f"/v1/deals/{pending}/accept")["id"]
        assert net.wait_for([deal_id], timeout=15)


def test_a_proposal_to_an_unreachable_member_fails_cleanly(tmp_path):
    with Cluster(1, root=tmp_path, node=InProcessNode) as net:
        stranger = "12D3KooWEwr3ysfpW4BmMAFZ5t5smhaTaAPhNRSNrCc61PNVH7HK"
        try:
            net[0].deal(stranger, ref="X", role="client")
        except NodeError as exc:
            assert "deal" in str(exc) or "connect" in str(exc) or "stream" in str(exc)
        else:
            raise AssertionError("a proposal to nobody succeeded")
        assert net[0].status()["records"] == 0


async def test_a_proposal_that_does_not_verify_is_declined_not_kept(tmp_path):
    # the spec (deal flow, step 2): the counterparty checks the proposer's signature first; a
    # forged or future-dated proposal used to be kept pending, and its acceptance then failed
    from contextlib import AsyncExitStack
    from trustmesh.net.config import NetConfig, SyncConfig
    config = NetConfig(sync=SyncConfig(on_connect=False, interval_s=3600))
    async with AsyncExitStack() as stack:
        a, b = [await stack.enter_async_context(trustmesh.open_node(
            tmp_path / name, listen=["/ip4/127.0.0.1/tcp/0"], config=config)) for name in "ab"]
        await b.connect(a.addrs()[0])
        good = a.ledger.propose_deal(b.id, "PO-9", "client")
        forged = dataclasses.replace(good, sig=good.sig[:-1] + bytes([good.sig[-1] ^ 1]))
        later = sign(dataclasses.replace(good, issued=good.issued + 3_600_000), a.identity)
        for proposal, why in ((forged, "signature"), (later, "future")):
            status, reason = await a.net.propose_deal(b.identity.public_key, proposal)
            assert (status, why in reason) == ("declined", True), (status, reason)
        assert not b.pending_deals
        assert await a.net.propose_deal(b.identity.public_key, good) == ("pending", "")
