"""Pure, sans-I/O protocol code: records, canonical codec, validation, framing,
and the sync/query state machines. No sockets, no files, no clock."""
