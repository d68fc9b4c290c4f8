"""trustmesh: a peer-to-peer reputation node, as a library.

Apps embedding us need only this module::

    import trustmesh
    ledger = trustmesh.Ledger.create("/path/to/home")      # or Ledger.open(...)
    ledger.attest(peer, "payment", positive=True, ref="INV-12")

Everything public is listed in ``__all__``; the submodules are private and
may change shape between releases.
"""

from trustmesh.crypto.ids import did_key, parse_id, peer_id
from trustmesh.crypto.keys import Identity
from trustmesh.errors import *  # noqa: F403  (the whole hierarchy is public)
from trustmesh.errors import __all__ as _error_names
from trustmesh.core.ledger import Ledger
from trustmesh.store.store import IngestResult, Store, StoredRecord
from trustmesh.protocol.facets import CORE_FACETS, is_facet
from trustmesh.protocol.records import (
    Attestation, Deal, Profile, Record, Reply, Retraction, decode, encode, record_id,
    reference_hash,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Identity", "peer_id", "did_key", "parse_id",
    "Attestation", "Deal", "Retraction", "Reply", "Profile", "Record",
    "encode", "decode", "record_id", "reference_hash", "CORE_FACETS", "is_facet",
    "Ledger", "Store", "StoredRecord", "IngestResult",
    *_error_names,
]

# The networked node (libp2p itself is imported only when a node starts).
from trustmesh.core.node import Node, NodeEvent, DealOutcome, open_node  # noqa: E402

__all__ += ["Node", "NodeEvent", "DealOutcome", "open_node"]
