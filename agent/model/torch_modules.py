"""NeuroLLM in PyTorch: embedding, block and head as separate modules.

A stage holds any contiguous layer range, so the three parts never assume each
other. Imports torch: load this only where PyTorch trains or exports.
The forward math here is the reference the ONNX graphs are checked against.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .arch import Architecture
from .parameters import StageSpec


class Embedding(nn.Module):
    """Token plus learned position embedding: tokens [B, T] int64 -> hidden [B, T, H]."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.wte = nn.Embedding(arch.vocab_size, arch.hidden_size)
        self.wpe = nn.Embedding(arch.context_tokens, arch.hidden_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        return self.wte(tokens) + self.wpe(positions)


class Attention(nn.Module):
    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.head_count = arch.head_count
        self.qkv = nn.Linear(arch.hidden_size, 3 * arch.hidden_size)
        self.proj = nn.Linear(arch.hidden_size, arch.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, hidden = x.shape
        q, k, v = self.qkv(x).split(hidden, dim=-1)

        def heads(t: torch.Tensor) -> torch.Tensor:  # [B, T, H] -> [B, heads, T, H/heads]
            return t.view(batch, tokens, self.head_count, hidden // self.head_count).transpose(1, 2)

        out = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, hidden))


class Mlp(nn.Module):
    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.fc1 = nn.Linear(arch.hidden_size, arch.mlp_size)
        self.fc2 = nn.Linear(arch.mlp_size, arch.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln1(x)), then + mlp(ln2(x))."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(arch.hidden_size, eps=arch.layer_norm_eps)
        self.attn = Attention(arch)
        self.ln2 = nn.LayerNorm(arch.hidden_size, eps=arch.layer_norm_eps)
        self.mlp = Mlp(arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class Head(nn.Module):
    """Final LayerNorm and LM head: hidden [B, T, H] -> logits [B, T, V]."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.ln_f = nn.LayerNorm(arch.hidden_size, eps=arch.layer_norm_eps)
        self.lm_head = nn.Linear(arch.hidden_size, arch.vocab_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.ln_f(x))


class HeadLoss(nn.Module):
    """Head plus mean cross-entropy: (hidden, targets) -> scalar loss. Used for export."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.ln_f = nn.LayerNorm(arch.hidden_size, eps=arch.layer_norm_eps)
        self.lm_head = nn.Linear(arch.hidden_size, arch.vocab_size, bias=False)

    def forward(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class Stage(nn.Module):
    """The modules of one StageSpec.

    Attribute paths are chosen so `named_parameters()` gives exactly the numpy
    layout's names: "embedding.", "layers.<i>.", "head.".
    """

    def __init__(self, spec: StageSpec) -> None:
        super().__init__()
        self.spec = spec
        self.embedding = Embedding(spec.arch) if spec.has_embedding else None
        self.layers = nn.ModuleDict({str(i): Block(spec.arch) for i in spec.layers})
        self.head = Head(spec.arch) if spec.has_head else None

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.embedding(inputs) if self.embedding is not None else inputs
        for layer in self.layers.values():
            x = layer(x)
        return self.head(x) if self.head is not None else x

    def load_numpy(self, parameters: dict[str, np.ndarray]) -> None:
        """Copy numpy parameters (full names) into the modules."""
        with torch.no_grad():
            for name, tensor in self.named_parameters():
                tensor.copy_(torch.from_numpy(np.ascontiguousarray(parameters[name])))

    def to_numpy(self) -> dict[str, np.ndarray]:
        return {n: t.detach().cpu().numpy().copy() for n, t in self.named_parameters()}

