"""Interop check by hand: a trustmesh node and a js-libp2p peer exchange records by gossip both ways.

    cd bench/js_interop && npm install && cd ../.. && python bench/js_interop/run.py

The js peer (peer.mjs) is configured as docs/protocol.md 16.2 says
(``globalSignaturePolicy: 'StrictNoSign'``, ``msgIdFn`` = SHA-256 of the
data), dials the node, publishes one record signed by a fresh member and
prints what it receives. Passes when the node stores the js peer's record
(via gossip) and the js peer receives the record the node makes. Not part
of the test suite: it needs Node.js and the npm packages of package.json.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from trustmesh.crypto.keys import Identity  # noqa: E402
from trustmesh.testing.cluster import NodeProcess  # noqa: E402
from trustmesh.testing.records import attestation_chain  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="trustmesh-interop-") as tmp:
        node = NodeProcess(Path(tmp) / "py").start(120)
        try:
            from_js, = attestation_chain(Identity.generate(), [Identity.generate().public_key], 1)
            js = subprocess.Popen(["node", "--import", "./polyfill.mjs", "peer.mjs", node.addr, from_js.hex(), "20"],
                                  cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(6)
            made = node.attest(Identity.generate().id)
            out, _ = js.communicate(timeout=60)
            print(out)
            js_rid = hashlib.sha256(from_js).hexdigest()
            deadline = time.monotonic() + 10
            while js_rid not in node.records and time.monotonic() < deadline:
                time.sleep(0.1)
            got_js, got_py = js_rid in node.records, f'"got":"{made}"' in out
            print(f"js -> trustmesh: {'stored' if got_js else 'NOT stored'} ({js_rid[:16]}); "
                  f"trustmesh -> js: {'received' if got_py else 'NOT received'} ({made[:16]}); "
                  f"offences: {node.events_of('offence')}")
            return 0 if got_js and got_py else 1
        finally:
            node.stop()


if __name__ == "__main__":
    sys.exit(main())
