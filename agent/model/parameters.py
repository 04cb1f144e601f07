"""Parameter layout and initialisation of NeuroLLM, in numpy.

Both runtimes and every stage use these names and shapes, and start from these
values: the torch modules load them, the ONNX graphs take them as inputs. Each
tensor's initial value depends only on (seed, its full name), so a stage that
holds layers 3-5 starts with exactly the weights layers 3-5 have in the whole
model, whatever else it holds.

Names: `embedding.wte.weight`, `layers.<i>.attn.qkv.weight`, `head.lm_head.weight`.
Within a part the order is the order of the module's `named_parameters()`.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import AgentError
from .arch import Architecture

EMBEDDING_PREFIX = "embedding."
HEAD_PREFIX = "head."
INIT_STD = 0.02  # GPT-2's initial weight scale


def embedding_shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    return {
        "wte.weight": (arch.vocab_size, arch.hidden_size),
        "wpe.weight": (arch.context_tokens, arch.hidden_size),
    }


def block_shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    h, m = arch.hidden_size, arch.mlp_size
    return {
        "ln1.weight": (h,),
        "ln1.bias": (h,),
        "attn.qkv.weight": (3 * h, h),
        "attn.qkv.bias": (3 * h,),
        "attn.proj.weight": (h, h),
        "attn.proj.bias": (h,),
        "ln2.weight": (h,),
        "ln2.bias": (h,),
        "mlp.fc1.weight": (m, h),
        "mlp.fc1.bias": (m,),
        "mlp.fc2.weight": (h, m),
        "mlp.fc2.bias": (h,),
    }


def head_shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    return {
        "ln_f.weight": (arch.hidden_size,),
        "ln_f.bias": (arch.hidden_size,),
        "lm_head.weight": (arch.vocab_size, arch.hidden_size),
    }


def layer_prefix(layer: int) -> str:
    return f"layers.{layer}."


@dataclass(frozen=True)
class StageSpec:
    """A contiguous range of layers [layer_start, layer_end) of one architecture.

    The embedding rides with layer 0 and the LM head with the last layer (§3).
    """

    arch: Architecture
    layer_start: int  # first layer held, inclusive
    layer_end: int  # one past the last layer held

    def __post_init__(self) -> None:
        if not 0 <= self.layer_start < self.layer_end <= self.arch.layer_count:
            raise AgentError(
                f"layer range [{self.layer_start}, {self.layer_end}) is not inside "
                f"0..{self.arch.layer_count} of architecture {self.arch.name!r}"
            )

    @classmethod
    def whole(cls, arch: Architecture) -> StageSpec:
        return cls(arch, 0, arch.layer_count)

    @property
    def has_embedding(self) -> bool:
        return self.layer_start == 0

    @property
    def has_head(self) -> bool:
        return self.layer_end == self.arch.layer_count

    @property
    def layers(self) -> range:
        return range(self.layer_start, self.layer_end)

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter of the stage, full names, in canonical order."""
        shapes: dict[str, tuple[int, ...]] = {}
        if self.has_embedding:
            shapes.update({EMBEDDING_PREFIX + k: v for k, v in embedding_shapes(self.arch).items()})
        for layer in self.layers:
            prefix = layer_prefix(layer)
            shapes.update({prefix + k: v for k, v in block_shapes(self.arch).items()})
        if self.has_head:
            shapes.update({HEAD_PREFIX + k: v for k, v in head_shapes(self.arch).items()})
        return shapes

    def parameter_count(self) -> int:
        return sum(math.prod(s) for s in self.parameter_shapes().values())


def _tensor_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


def init_tensor(arch: Architecture, name: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2·layers)."""
    leaf = name.rsplit(".", 2)[-2] + "." + name.rsplit(".", 1)[-1]
    if leaf.startswith(("ln1.", "ln2.", "ln_f.")):
        return (np.ones if leaf.endswith("weight") else np.zeros)(shape, dtype=np.float32)
    if leaf.endswith("bias"):
        return np.zeros(shape, dtype=np.float32)
    std = INIT_STD
    if leaf in ("proj.weight", "fc2.weight"):
        std /= math.sqrt(2 * arch.layer_count)
    return (std * _tensor_rng(seed, name).standard_normal(shape)).astype(np.float32)


def init_parameters(spec: StageSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """Initial float32 parameters of `spec`, identical to the same names in any other stage."""
    return {
        name: init_tensor(spec.arch, name, shape, seed)
        for name, shape in spec.parameter_shapes().items()
    }


def check_parameters(spec: StageSpec, parameters: dict[str, np.ndarray]) -> None:
    """Raise a clear error unless `parameters` has exactly the stage's names, shapes, float32."""
    expected = spec.parameter_shapes()
    missing = sorted(set(expected) - set(parameters))
    extra = sorted(set(parameters) - set(expected))
    if missing or extra:
        raise AgentError(
            f"parameters do not match layers [{spec.layer_start}, {spec.layer_end}) of "
            f"{spec.arch.name!r}: missing {missing[:5]}, unexpected {extra[:5]}"
        )
    for name, shape in expected.items():
        array = parameters[name]
        if array.dtype != np.float32 or tuple(array.shape) != shape:
            raise AgentError(
                f"parameter {name}: expected float32 {shape}, got {array.dtype} {tuple(array.shape)}"
            )
