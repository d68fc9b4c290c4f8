"""Known peers and held grudges, kept in the home directory across restarts.

One JSON file, ``peers.json``, written whole to a temporary file and renamed
over the old one (never half-written), mode 0600. It holds the addresses of
peers we have reached (so a restarted node reconnects without bootstrap)
and the bans we hold (so a bad peer cannot wash its record by making us
restart). A peer the owner chose (``trustmesh connect``) stays chosen
across restarts: what it hands over is held to the strangers' total only,
not the hourly rate (docs/operating.md), as on the day it was chosen.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

MAX_KNOWN = 1000
MAX_ADDRS = 8


class KnownPeers:
    """Peer id -> addresses and when we last reached it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.peers: dict[str, dict] = {}
        self.conduct: dict[str, dict] = {}

    @classmethod
    def load(cls, path: Path) -> "KnownPeers":
        """The saved peers, or none if the file is missing or damaged (never an error)."""
        known = cls(path)
        try:
            data = json.loads(path.read_text())
            for peer, item in dict(data.get("peers", {})).items():
                addrs = [a for a in item.get("addrs", []) if isinstance(a, str)][:MAX_ADDRS]
                if addrs:
                    known.peers[str(peer)] = {"addrs": addrs, "seen": float(item.get("seen", 0))}
                    if item.get("chosen") is True:
                        known.peers[str(peer)]["chosen"] = True
            known.conduct = {str(k): v for k, v in dict(data.get("conduct", {})).items()
                             if isinstance(v, dict)}
        except (OSError, ValueError, TypeError, AttributeError):
            pass
        return known

    def remember(self, peer: str, addrs: list[str], seen: float | None = None) -> None:
        """Note that ``peer`` was reached at ``addrs``."""
        addrs = [a for a in addrs if a][:MAX_ADDRS]
        if not addrs:
            return
        chosen = self.peers.get(peer, {}).get("chosen", False)
        self.peers[peer] = {"addrs": addrs, "seen": time.time() if seen is None else seen}
        if chosen:
            self.peers[peer]["chosen"] = True
        if len(self.peers) > MAX_KNOWN:       # the oldest go first; a peer the owner chose, last
            oldest = sorted(self.peers, key=lambda p: (self.peers[p].get("chosen", False), self.peers[p]["seen"]))
            for p in oldest[:len(self.peers) - MAX_KNOWN]:
                del self.peers[p]

    def choose(self, peer: str) -> None:
        """Mark ``peer`` as one the owner chose (its addresses come with ``remember``)."""
        self.peers.setdefault(peer, {"addrs": [], "seen": time.time()})["chosen"] = True

    def chosen(self) -> list[str]:
        """Ids of the known peers the owner chose."""
        return [p for p, item in self.peers.items() if item.get("chosen")]

    def save(self) -> None:
        """Write the file atomically; errors are swallowed (a cache, not data)."""
        tmp = self.path.with_suffix(".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump({"peers": self.peers, "conduct": self.conduct}, fh)
                fh.flush()
                os.fsync(fh.fileno())        # a ban must survive a crash, not only a kill -9
            os.replace(tmp, self.path)
        except OSError:
            pass
