"""deals: one protocol of the network side."""
