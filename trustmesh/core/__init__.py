"""The node core: the ledger, the one intake, events, deals, the store worker, the Node facade."""
