"""trustmesh.testing: real nodes on loopback, a hostile peer, in-memory session pairs."""
