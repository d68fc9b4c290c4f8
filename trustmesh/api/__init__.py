"""The control API: HTTP + JSON served by the running node, for its owner only.

Where: a Unix socket ``<home>/api.sock`` (mode 0600, in the 0700 home), and
optionally loopback TCP with a bearer token read from ``<home>/api.token``
(0600). When it is ready the daemon writes ``<home>/api`` (one JSON line:
pid, socket, tcp) as IPFS Kubo does, and removes it on a clean stop; the
CLI reads it to find the node, and treats a file whose pid is dead as "no
node running".

- ``app.py``: the routes (Starlette), one JSON error shape, the OpenAPI schema;
- ``server.py``: hypercorn on the node's trio loop, the socket, the files;
- ``client.py``: the synchronous client the CLI uses (httpx).
"""

API_FILE = "api"
SOCKET_FILE = "api.sock"
TOKEN_FILE = "api.token"
COOKIE = "trustmesh_token"     # the web view's login cookie (SameSite=Strict, reads only)
