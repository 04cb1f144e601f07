"""Peers: server, client, discovery, membership (DESIGN.md §6)."""
