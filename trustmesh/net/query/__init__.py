"""query: one protocol of the network side."""
