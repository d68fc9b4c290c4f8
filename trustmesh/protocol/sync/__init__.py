"""Range-based set reconciliation, sans-I/O."""
