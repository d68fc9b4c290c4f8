"""The network side of a node: the ONLY package that imports libp2p.

Modules, one job each (rust-libp2p's per-protocol split):

- ``config``    every tunable, with its documented default (pure, no libp2p)
- ``pacing``    the publish queue: pacing and batching of gossip (pure)
- ``defence``   per-peer rate limits, misbehaviour record, bans, quota (pure)
- ``host``      building the libp2p host from the member's own key
- ``gossip``    gossipsub: the records topic, its validator, the publisher
- ``streams``   framed request/response streams with size and time limits
- ``syncpump``  pumps the pure sync and query sessions over libp2p streams
- ``deals``     deal proposals and countersignatures between two nodes
- ``discovery`` bootstrap, peer exchange, mDNS, reconnect with backoff
- ``service``   ties the above to one running host

Importing this package is cheap; libp2p is imported by ``host``, ``gossip``
and ``service`` only, which the node imports when it starts.
"""
