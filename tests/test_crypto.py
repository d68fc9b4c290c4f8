import os
import stat

import pytest

from trustmesh.crypto import Identity, did_key, parse_id, peer_id, verify
from trustmesh.errors import DamagedKeyFile, KeyExists, UsageError, WrongPassphrase
from trustmesh.core.keyfile import create_key, load_key


def test_id_is_the_libp2p_peer_id_of_the_same_key():
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.peer.id import ID
    for n in range(5):
        seed = bytes([n + 7]) * 32
        ours = Identity.from_seed(seed)
        theirs = ID.from_pubkey(create_new_key_pair(seed).public_key).to_base58()
        assert ours.id == theirs
        assert ours.id.startswith("12D3KooW")


def test_parse_id_accepts_every_written_form_and_refuses_junk():
    ident = Identity.from_seed(b"\x05" * 32)
    assert parse_id(ident.id) == ident.public_key
    assert parse_id(did_key(ident.public_key)) == ident.public_key
    assert parse_id(ident.public_key.hex()) == ident.public_key
    assert did_key(ident.public_key).startswith("did:key:z6Mk")
    for junk in ["", "12D3KooW", "did:key:zzz", "Qm" + "1" * 44, "x" * 64, ident.id[:-1] + "0"]:
        with pytest.raises(UsageError):
            parse_id(junk)


def test_signatures_verify_only_for_the_exact_message_and_key():
    a, b = Identity.from_seed(b"\x01" * 32), Identity.from_seed(b"\x02" * 32)
    sig = a.sign(b"hello")
    assert verify(a.public_key, sig, b"hello")
    assert not verify(a.public_key, sig, b"hellO")
    assert not verify(b.public_key, sig, b"hello")
    assert not verify(a.public_key, sig[:-1], b"hello")


def test_key_file_is_private_written_once_and_round_trips(tmp_path):
    ident = Identity.generate()
    path = tmp_path / "identity.key"
    create_key(path, ident, b"correct horse")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key(path, b"correct horse").id == ident.id
    with pytest.raises(WrongPassphrase):
        load_key(path, b"wrong")
    with pytest.raises(WrongPassphrase):
        load_key(path, None)
    with pytest.raises(KeyExists):
        create_key(path, Identity.generate())
    assert load_key(path, b"correct horse").id == ident.id


def test_unencrypted_key_and_damaged_files(tmp_path):
    ident = Identity.generate()
    path = tmp_path / "k"
    create_key(path, ident)
    assert load_key(path).id == ident.id
    damaged = tmp_path / "d"
    damaged.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DamagedKeyFile):
        load_key(damaged)
