"""Quorums over the network: the view from peers' records, formation, lifecycle, recovery."""
