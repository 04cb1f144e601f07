"""Export an architecture's nine graphs, validate them, write the manifest.

    report = export_architecture(TINY, Path("out"))

writes the forward, training-step and inference graphs of the embedding,
block and head (embedding_forward.onnx ... head_infer.onnx, see
exporters/graphs.py) plus manifest.json, after every graph passed validation
against PyTorch. It prints nothing: progress goes to the
optional callback, results come back in the ExportReport.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import onnx
import torch

from agent.model.arch import Architecture

from .errors import ExportError
from .graphs import KINDS, PARTS, GraphLayout
from .infer import fused_block_graph, infer_from_forward
from .manifest import MANIFEST_FILE_NAME, GraphEntry, Manifest, sha256_file
from .quantize import Int8Report, measure_block_int8_error
from .trace import (
    build_module,
    default_decompositions,
    example_data,
    example_parameters,
    layout_of,
    make_step_function,
    trace_step,
)
from .validate import ValidationReport, validate_graphs

logger = logging.getLogger(__name__)

# The trace shape: >= 2 on both axes (make_fx specialises sizes 0 and 1) and
# equal to no model size or validation shape, so no axis can be mistaken for another.
TRACE_BATCH = 3
TRACE_TOKENS = 11

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExportReport:
    directory: Path  # where the graphs and manifest.json are
    manifest: Manifest  # what was written
    validation: ValidationReport  # every tensor's relative error against PyTorch
    int8: Int8Report | None  # the quantized block's error; None when not measured


class GraphExporter:
    """Traces and exports one architecture's graphs.

    Tests inject faults by subclassing and overriding one method (for instance
    `decompositions`, to reproduce the wrong cross-entropy gradient).
    """

    def __init__(self, arch: Architecture, *, seed: int = 0) -> None:
        self.arch = arch
        self.seed = seed

    def decompositions(self) -> dict[Any, Callable[..., Any]]:
        return default_decompositions()

    def export_graph(self, part: str, kind: str, directory: Path) -> tuple[GraphLayout, Path]:
        """Trace and write one graph into `directory`; return its layout and path.

        An inference graph is made from the part's forward graph, which must be in `directory`.
        """
        module = build_module(self.arch, part, kind)
        layout = layout_of(module, part, kind)
        if kind == "infer":
            path = Path(directory) / layout.file_name
            path.write_bytes(self.inference_graph(part, layout, Path(directory)).SerializeToString())
            return layout, path
        generator = torch.Generator().manual_seed(self.seed)
        tokens = min(TRACE_TOKENS, self.arch.context_tokens)
        args = example_parameters(module, generator) + example_data(
            self.arch, layout, batch=TRACE_BATCH, tokens=tokens, generator=generator
        )
        graph_module = trace_step(make_step_function(module, layout), args, self.decompositions())
        path = Path(directory) / layout.file_name
        self.write_onnx(graph_module, args, layout, path)
        return layout, path

    def inference_graph(self, part: str, layout: GraphLayout, directory: Path) -> onnx.ModelProto:
        """The fused block graph, or the part's forward graph with its weights supplied at session creation."""
        forward_path = directory / f"{part}_forward.onnx"
        if not forward_path.is_file():
            raise ExportError(f"{layout.name} is made from {forward_path}, which does not exist; export {part}_forward first")
        forward = onnx.load(str(forward_path))
        if part == "block":
            return fused_block_graph(self.arch, _default_opset_of(forward))
        return infer_from_forward(forward, layout.parameter_names)

    def write_onnx(
        self,
        graph_module: torch.fx.GraphModule,
        args: tuple[torch.Tensor, ...],
        layout: GraphLayout,
        path: Path,
    ) -> None:
        batch = torch.export.Dim("batch", min=1)
        tokens = torch.export.Dim("tokens", min=1, max=self.arch.context_tokens)
        data_axes = {0: batch, 1: tokens}
        dynamic = tuple([None] * len(layout.parameter_names) + [data_axes] * len(layout.data_inputs))
        try:
            with _quiet_exporter():
                torch.onnx.export(
                    graph_module,
                    args,
                    str(path),
                    dynamo=True,
                    input_names=list(layout.input_names),
                    output_names=list(layout.output_names),
                    dynamic_shapes=dynamic,
                    external_data=False,  # weights are inputs: the graph is small, one file
                    verbose=False,
                )
        except Exception as error:  # the exporter raises many types; name the graph
            raise ExportError(f"torch.onnx.export failed for {layout.name} of {self.arch.name!r}: {error}") from error


def export_architecture(
    arch: Architecture,
    out_dir: Path,
    *,
    progress: Progress | None = None,
    exporter: GraphExporter | None = None,
    measure_int8: bool = True,
) -> ExportReport:
    """Export, validate and describe every graph of `arch` into `out_dir`.

    The manifest is written last, and only when all graphs passed validation,
    so a directory with a manifest never holds an unchecked graph.
    """
    say = progress or (lambda message: None)
    exporter = exporter or GraphExporter(arch)
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST_FILE_NAME).unlink(missing_ok=True)  # stale hashes would vouch for new files
    layouts, paths = _export_all(exporter, directory, say)
    say("validating the graphs against PyTorch autograd")
    validation = validate_graphs(arch, paths)
    int8 = None
    if measure_int8:
        say("measuring the int8 block's error")
        int8 = measure_block_int8_error(arch, paths["block_forward"])
    manifest = Manifest(
        architecture=asdict(arch),
        graphs={name: GraphEntry.from_layout(layout, sha256_file(paths[name])) for name, layout in layouts.items()},
        opset=_default_opset(paths["block_forward"]),
        exporter_versions=exporter_versions(),
        validation=validation.worst_by_graph(),
    )
    manifest.write(directory)
    logger.info("exported %d graphs of %r into %s", len(layouts), arch.name, directory)
    return ExportReport(directory, manifest, validation, int8)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's known noise (training-mode, pytree and torchvision notices).

    They say nothing about our graphs, which validation checks anyway, and the
    CLI must not drown its own progress in them.
    """
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        registration.setLevel(level)


def _export_all(exporter: GraphExporter, directory: Path, say: Progress) -> tuple[dict[str, GraphLayout], dict[str, Path]]:
    layouts: dict[str, GraphLayout] = {}
    paths: dict[str, Path] = {}
    for part in PARTS:
        for kind in KINDS:
            say(f"exporting {part}_{kind} of {exporter.arch.name!r}")
            layout, path = exporter.export_graph(part, kind, directory)
            layouts[layout.name], paths[layout.name] = layout, path
    return layouts, paths


def exporter_versions() -> dict[str, str]:
    versions = {}
    for package in ("torch", "onnx", "onnxscript", "onnxruntime"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "absent"
    return versions


def _default_opset(path: Path) -> int:
    return _default_opset_of(onnx.load(str(path), load_external_data=False))


def _default_opset_of(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
