"""trustmesh: a peer-to-peer reputation node, as a library.

Apps embedding us need only this module::

    import trustmesh
    ledger = trustmesh.Ledger.create("/path/to/home")      # or Ledger.open(...)
    ledger.attest(peer, "payment", positive=True, ref="INV-12")
    engine = trustmesh.TrustEngine.for_ledger(ledger)      # trust from my point of view
    engine.trust(peer, "payment", now_ms)

    async with trustmesh.open_node(home, listen=[...]) as node:   # under trio
        await node.attest(peer, "delivery", True, ref="PO-7")

Everything public is listed in ``__all__`` (``tests/test_exported_members.py``
holds it to exactly that); the submodules are private and may change shape
between releases. ``trustmesh.testing`` is the public test kit.
"""

from trustmesh.core.ledger import Ledger, now_ms
from trustmesh.crypto.ids import did_key, parse_id, peer_id
from trustmesh.crypto.keys import Identity
from trustmesh.errors import *  # noqa: F403  (the whole hierarchy is public)
from trustmesh.errors import __all__ as _error_names
from trustmesh.net.config import NetConfig
from trustmesh.protocol.facets import CORE_FACETS, is_facet
from trustmesh.protocol.records import (
    Attestation, Deal, Profile, Record, Reply, Retraction, decode, encode, record_id,
    reference_hash,
)
from trustmesh.store import IngestResult, Store, StoredRecord
from trustmesh.version import __version__

# Loaded on first use: the trust engine needs numpy and scipy, the node trio,
# and the command line must start without them.
_LAZY = {
    "TrustEngine": "trustmesh.core.trustview", "TrustConfig": "trustmesh.trust",
    "TrustScore": "trustmesh.trust", "RankEntry": "trustmesh.trust",
    "Node": "trustmesh.core.node", "open_node": "trustmesh.core.node",
    "NodeEvent": "trustmesh.core.events", "DealOutcome": "trustmesh.core.deals",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trustmesh' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "__version__",
    "Identity", "peer_id", "did_key", "parse_id",
    "Attestation", "Deal", "Retraction", "Reply", "Profile", "Record",
    "encode", "decode", "record_id", "reference_hash", "CORE_FACETS", "is_facet",
    "Ledger", "Store", "StoredRecord", "IngestResult", "now_ms",
    "TrustEngine", "TrustConfig", "TrustScore", "RankEntry",  # noqa: F405 (lazy, see _LAZY)
    "Node", "NodeEvent", "DealOutcome", "open_node", "NetConfig",  # noqa: F405
    *_error_names,
]
