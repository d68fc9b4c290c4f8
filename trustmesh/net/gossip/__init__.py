"""gossip: one protocol of the network side."""
