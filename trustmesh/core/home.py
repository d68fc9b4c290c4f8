"""Where a node keeps its files: one home directory, mode 0700, and who may write there.

The default is the platform's per-user data directory; ``--home`` or
``TRUSTMESH_HOME`` overrides it, so several nodes can live side by side
(tests, the demo, a member with two identities).

Two locks, both ``flock`` (released by the kernel when a process dies,
even by kill -9, so a crash never leaves a home locked):

- ``node.lock`` is held by a running node for its whole life: a second
  node on the same home is refused, and offline writers (the CLI without
  a node, an app's ``Ledger``) see that the node is the one writer;
- ``writer.lock`` is held while a record is appended to my chain, so two
  offline writers never sign two records at one position.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from trustmesh.errors import HomeLocked

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

    @property
    def node_lock(self) -> Path:
        return self.root / "node.lock"

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


class NodeLock:
    """The running node's hold on its home (see the module docstring)."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self._fd: int | None = None

    def acquire(self) -> "NodeLock":
        """Take the lock; HomeLocked if another node holds it."""
        fd = os.open(self.home.node_lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise HomeLocked(f"another node is already running for {self.home.root}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "NodeLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def node_running(home: Home) -> bool:
    """True while a node holds ``home`` (its lock is taken)."""
    try:
        fd = os.open(home.node_lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def write_private(path: Path, data: bytes) -> None:
    """``data`` into ``path`` (mode 0600): a temporary file beside it, fsynced, renamed over it,
    the directory fsynced. A reader, or a crash, sees the old file or the new one, never a part."""
    import tempfile
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:         # mkstemp makes it 0600
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
