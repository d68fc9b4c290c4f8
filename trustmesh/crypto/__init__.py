"""Pure cryptography: identities, their ids, signatures. No I/O, no clock."""

from trustmesh.crypto.ids import did_key, parse_id, peer_id, short_id
from trustmesh.crypto.keys import Identity
from trustmesh.crypto.sign import verify

__all__ = ["Identity", "did_key", "parse_id", "peer_id", "short_id", "verify"]
