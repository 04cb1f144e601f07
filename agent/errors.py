"""The one base exception of the agent, and the typed errors callers catch."""

from __future__ import annotations


class AgentError(Exception):
    """Something the agent cannot do; the message says what and how to fix it."""


class CheckpointError(AgentError, ValueError):
    """A checkpoint file is missing, truncated, tampered with or of another model."""


class DataError(AgentError, ValueError):
    """Training data could not be found, read or addressed."""


class RuntimeUnavailableError(AgentError, RuntimeError):
    """A runtime backend was asked for but cannot run on this machine."""


class ShapeError(AgentError, ValueError):
    """A tensor had the wrong dtype or shape for where it was sent."""
