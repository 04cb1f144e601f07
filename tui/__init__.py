"""The Textual dashboard: a client of the agent's local HTTP API (DESIGN.md §16)."""
