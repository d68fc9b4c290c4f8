"""kill -9 a node at random moments while it imports through its API, syncs and takes gossip.

Extends test_crash.py (kill -9 of a bare store during ingest) to the whole
node process, restarted each time: SQLite's integrity check passes, every
record the node reported stored is there, and the next sync completes what
was missing. Five kills here; ``bench/crash.py`` runs twenty.
"""

from __future__ import annotations

from trustmesh.testing.chaos import crash_loop


def test_kill_9_during_import_sync_and_gossip_loses_nothing_reported(tmp_path):
    figures = crash_loop(tmp_path, kills=5, seed=3, source_records=6000, batch=200)
    print(figures)
    assert figures["kills"] == 5
    assert figures["integrity"] == ["ok"] * 5
    assert figures["reported"] > 0
    assert figures["held_at_kill"][0] < figures["source_held"]      # the first kill came mid catch-up
