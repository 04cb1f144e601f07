"""The one base exception of the protocol core."""

from __future__ import annotations


class ProtocolError(ValueError):
    """A rule was asked to do something the protocol does not allow.

    Subclasses ValueError so a caller that only knows the stdlib can catch it.
    Messages say what was wrong, with the values, and what would be valid.
    """
