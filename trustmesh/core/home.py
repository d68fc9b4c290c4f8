"""Where a node keeps its files: one home directory, mode 0700.

The default is the platform's per-user data directory; ``--home`` or
``TRUSTMESH_HOME`` overrides it, so several nodes can live side by side
(tests, the demo, a member with two identities).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

ENV_HOME = "TRUSTMESH_HOME"


@dataclass(frozen=True)
class Home:
    """The files of one node."""

    root: Path

    @property
    def key(self) -> Path:
        return self.root / "identity.key"

    @property
    def store(self) -> Path:
        return self.root / "store.sqlite"

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def lock(self) -> Path:
        return self.root / "writer.lock"

    def create(self) -> None:
        """Make the directory, private to its owner."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)


def resolve_home(flag: str | os.PathLike | None = None) -> Home:
    """The home directory: the flag, else $TRUSTMESH_HOME, else the platform default."""
    if flag:
        return Home(Path(flag).expanduser().absolute())
    if os.environ.get(ENV_HOME):
        return Home(Path(os.environ[ENV_HOME]).expanduser().absolute())
    return Home(Path(platformdirs.user_data_dir("trustmesh", appauthor=False)))
