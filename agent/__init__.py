"""The NeuroShard agent: the running node (DESIGN.md §2). All I/O lives here."""

__version__ = "0.1.0"
