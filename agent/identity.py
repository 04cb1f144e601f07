"""The node's Ed25519 identity (DESIGN.md §5): one key pair per state directory.

node_id = hex SHA-256 of the raw 32-byte public key, so anyone holding a
message's public key can check the id it claims without asking anyone.
"""

from __future__ import annotations

import hashlib
import logging
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from coordinator_free.types import NodeId

from .errors import AgentError
from .storage import write_atomic

logger = logging.getLogger(__name__)

IDENTITY_FILE_NAME = "identity.key"
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class IdentityError(AgentError, ValueError):
    """The identity file is unreadable, malformed or not an Ed25519 key."""


def node_id_from_public_key(public_key_bytes: bytes) -> NodeId:
    """The node id a raw Ed25519 public key stands for."""
    return NodeId(hashlib.sha256(public_key_bytes).hexdigest())


def verify_signature(public_key_bytes: bytes, signature: bytes, data: bytes) -> bool:
    """True when `signature` is `public_key_bytes`'s signature of `data`; never raises."""
    if len(public_key_bytes) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key_bytes).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


class Identity:
    """A private key and what follows from it. Never serialised except by `save`."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.public_key_bytes: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.node_id: NodeId = node_id_from_public_key(self.public_key_bytes)

    @classmethod
    def generate(cls) -> Identity:
        return cls(Ed25519PrivateKey.generate())

    def sign(self, data: bytes) -> bytes:
        return self._private_key.sign(data)

    def private_key_pem(self) -> bytes:
        return self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def __repr__(self) -> str:  # never print key material
        return f"Identity(node_id={self.node_id[:16]}…)"


def load_or_create_identity(state_dir: Path) -> Identity:
    """The identity kept in `state_dir`, created (mode 0600) on first start."""
    path = state_dir / IDENTITY_FILE_NAME
    if not path.exists():
        identity = Identity.generate()
        state_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(path, identity.private_key_pem(), mode=0o600)
        logger.info("created a new identity %s in %s", identity.node_id, path)
        return identity
    return load_identity(path)


def load_identity(path: Path) -> Identity:
    """Read an identity file, with a fix in the message for each way it can be wrong."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # ssh refuses such keys; we warn instead, because a copied state dir
        # often loses its modes and refusing to start helps nobody.
        logger.warning(
            "identity file %s is readable by other users (mode %o); run: chmod 600 %s",
            path, stat.S_IMODE(mode), path,
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as error:
        raise IdentityError(
            f"cannot read the node identity {path}: {error}. Restore it from a backup, or "
            f"delete it to start as a new node (its earned history stays with the old id)"
        ) from error
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(
            f"{path} holds a {type(key).__name__}, not an Ed25519 key; delete it to start as a new node"
        )
    return Identity(key)
