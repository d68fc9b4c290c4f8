"""The identity key file: written once, exclusively, mode 0600, then only read."""

from __future__ import annotations

import os
from pathlib import Path

from trustmesh.crypto.keys import Identity
from trustmesh.errors import DamagedKeyFile, KeyExists, KeyFileError

MAX_KEY_FILE = 16384        # bytes: a key file, encrypted or not, is well under 1 KiB


def create_key(path: Path, identity: Identity, passphrase: bytes | None = None) -> None:
    """Write ``identity`` to ``path``; KeyExists if a file is already there.

    O_EXCL makes "never overwrite" hold even against a second process racing
    us, and the mode is set at creation so the key is never readable by
    others, not even for an instant.
    """
    data = identity.to_pem(passphrase)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyExists(f"an identity already exists at {path}; it is never overwritten") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create the key file {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise KeyFileError(f"cannot write the key file {path}: {exc.strerror}") from None


def load_key(path: Path, passphrase: bytes | None = None) -> Identity:
    """The identity stored at ``path``; typed errors when absent, damaged or locked."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"no identity at {path}: run 'trustmesh init' first") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read the key file {path}: {exc.strerror}") from None
    if len(data) > MAX_KEY_FILE:
        raise DamagedKeyFile(f"{path} is too large to be a key file")
    return Identity.from_pem(data, passphrase)


def read_passphrase_file(path: str | os.PathLike) -> bytes:
    """A passphrase from a file, without its trailing newline.

    An empty one is refused: it would silently make (or expect) an
    unencrypted key, the opposite of what giving a passphrase file asks for.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read the passphrase file {path}: {exc.strerror}") from None
    passphrase = data.rstrip(b"\r\n")
    if not passphrase:
        raise KeyFileError(f"the passphrase file {path} is empty: write the passphrase in it")
    return passphrase
