"""Choosing a runtime backend by name, importing only the one chosen.

An edge agent asks for "onnx" and never loads torch; a GPU rig asks for
"torch" with device="cuda". A missing engine is a RuntimeUnavailableError that
says what to install, raised here rather than as a bare ImportError later.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import RuntimeUnavailableError
from ..model.parameters import StageSpec
from .base import OptimizerConfig, StageRuntime

# name -> (module inside agent.runtime, class, engine module, how to install it)
BACKENDS: dict[str, tuple[str, str, str, str]] = {
    "onnx": ("onnx_backend", "OnnxRuntimeBackend", "onnxruntime", "pip install onnxruntime"),
    "torch": ("torch_backend", "TorchBackend", "torch", "pip install 'neuroshard-agent[train]'"),
}


def create_runtime(
    name: str,
    spec: StageSpec,
    optimizer: OptimizerConfig | None = None,
    **options: Any,
) -> StageRuntime:
    """A new `name` backend ("onnx" or "torch") holding `spec`, with its initial parameters.

    `options` go to the backend: device= for torch; graphs_dir=, threads= for onnx;
    seed= for both.
    """
    if name not in BACKENDS:
        raise RuntimeUnavailableError(f"unknown runtime {name!r}; choose one of {sorted(BACKENDS)}")
    module_name, class_name, _, _ = BACKENDS[name]
    _require_engine(name)
    module = importlib.import_module(f"{__package__}.{module_name}")
    backend_class = getattr(module, class_name)
    return backend_class(spec, optimizer, **options)


def is_runtime_available(name: str) -> bool:
    """Whether the engine behind `name` imports on this machine (imports it to find out)."""
    try:
        _require_engine(name)
    except RuntimeUnavailableError:
        return False
    return True


def _require_engine(name: str) -> None:
    _, _, engine, install = BACKENDS[name]
    try:
        importlib.import_module(engine)
    except ImportError as error:
        raise RuntimeUnavailableError(
            f"the {name!r} runtime needs {engine}, which failed to import ({error}); "
            f"fix: {install}"
        ) from None
