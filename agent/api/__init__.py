"""The local HTTP API for the dashboard and scripts; schema.py is what tui/ imports."""
