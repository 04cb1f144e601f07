"""Identity: created once with mode 0600, reloaded unchanged, node id = SHA-256 of the key."""

from __future__ import annotations

import hashlib
import stat

import pytest

from agent.identity import (
    IDENTITY_FILE_NAME,
    IdentityError,
    load_or_create_identity,
    node_id_from_public_key,
    verify_signature,
)


def test_first_start_creates_a_private_key_file_with_mode_0600(tmp_path):
    identity = load_or_create_identity(tmp_path / "state")
    key_file = tmp_path / "state" / IDENTITY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert identity.node_id == hashlib.sha256(identity.public_key_bytes).hexdigest()
    assert len(identity.public_key_bytes) == 32


def test_second_start_loads_the_same_identity(tmp_path):
    first = load_or_create_identity(tmp_path)
    second = load_or_create_identity(tmp_path)
    assert first.node_id == second.node_id
    signature = second.sign(b"hello")
    assert verify_signature(first.public_key_bytes, signature, b"hello")


def test_signature_does_not_verify_other_data_or_other_keys(tmp_path):
    one = load_or_create_identity(tmp_path / "one")
    two = load_or_create_identity(tmp_path / "two")
    signature = one.sign(b"data")
    assert not verify_signature(one.public_key_bytes, signature, b"datA")
    assert not verify_signature(two.public_key_bytes, signature, b"data")
    assert not verify_signature(b"short", signature, b"data")
    assert not verify_signature(one.public_key_bytes, signature[:10], b"data")


def test_corrupt_identity_file_says_how_to_fix(tmp_path):
    (tmp_path / IDENTITY_FILE_NAME).write_bytes(b"not a key")
    (tmp_path / IDENTITY_FILE_NAME).chmod(0o600)
    with pytest.raises(IdentityError, match="delete it to start as a new node"):
        load_or_create_identity(tmp_path)


def test_node_id_is_hex_sha256():
    assert node_id_from_public_key(b"\x00" * 32) == hashlib.sha256(b"\x00" * 32).hexdigest()


def test_repr_shows_no_key_material(tmp_path):
    identity = load_or_create_identity(tmp_path)
    assert "PRIVATE" not in repr(identity) and identity.node_id[:16] in repr(identity)
