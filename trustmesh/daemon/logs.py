"""Logging for the daemon: human lines on a terminal, JSON lines for machines.

Why JSON when stderr is not a terminal: under systemd, Docker or a log
shipper every line is then one parseable object (time, level, subsystem,
message). Levels can be set per subsystem (``trustmesh.p2p``,
``trustmesh.api``, ``libp2p``…). Secrets are never passed to a log call
(keys, passphrases and the API token stay out of messages); the redaction
filter below is a second fence for anything that looks like a token.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

_SECRET = re.compile(r"(?i)(bearer\s+|token[=:]\s*|passphrase[=:]\s*)\S+")


class JsonLines(logging.Formatter):
    """One JSON object per record: t (ISO-8601 UTC), level, logger, msg (and exc)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"t": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
               + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class Redact(logging.Filter):
    """Masks anything shaped like a bearer token or passphrase in a message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRET.search(message):
            record.msg, record.args = _SECRET.sub(lambda m: m.group(1) + "[redacted]", message), ()
        return True


def configure(level: str = "info", fmt: str = "auto", levels: dict[str, str] | None = None,
              verbose: bool = False, stream=None) -> None:
    """Set up the root logger once for the daemon."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "human" if getattr(stream, "isatty", lambda: False)() else "json"
    handler = logging.StreamHandler(stream)
    handler.addFilter(Redact())
    handler.setFormatter(JsonLines() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(name)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if not verbose:
        for noisy in ("libp2p", "multiaddr", "async_service"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
        logging.getLogger("trustmesh.p2p").setLevel(logging.WARNING)
    for name, value in (levels or {}).items():
        logging.getLogger(name).setLevel(value.upper())
