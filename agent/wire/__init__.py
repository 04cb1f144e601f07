"""Signed envelopes, tensors on the wire and the refusal codes (DESIGN.md §5)."""
