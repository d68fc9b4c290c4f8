"""peers: one protocol of the network side."""
