"""Pipeline training inside a quorum: each stage runs its layers, activations go down, gradients come back."""
