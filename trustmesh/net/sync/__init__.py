"""sync: one protocol of the network side."""
