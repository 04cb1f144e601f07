"""Identifier types shared by every rule module."""

from __future__ import annotations

from typing import NewType

NodeId = NewType("NodeId", str)  # hex SHA-256 of the node's Ed25519 public key
QuorumId = NewType("QuorumId", str)
ShardId = NewType("ShardId", str)  # hex SHA-256 of a data shard's bytes
ProposalId = NewType("ProposalId", str)
