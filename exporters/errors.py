"""The one base exception of the exporters."""

from __future__ import annotations


class ExportError(RuntimeError):
    """An export or its validation failed; the message names the worst mismatch."""
