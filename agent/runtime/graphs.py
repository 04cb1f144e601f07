"""Finding an architecture's ONNX graphs and trusting only verified bytes.

The built-in architectures' graphs ship in agent/graphs/<name>-v<arch_version>/;
others come from a directory (exported locally or fetched from a peer by hash).
Every file is read once, checked against the manifest's SHA-256 and handed to
onnxruntime as bytes, so what runs is exactly what was checked.
Imports neither numpy nor onnxruntime.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from exporters.errors import ExportError
from exporters.manifest import MANIFEST_FILE_NAME, GraphEntry, Manifest, sha256_bytes

from ..errors import AgentError
from ..model.arch import Architecture

SHIPPED_GRAPHS_DIR = Path(__file__).resolve().parent.parent / "graphs"
# The fields a graph's math depends on. Depth (layer_count) and the version
# numbers are absent on purpose: one block graph serves every layer, so layer
# growth keeps the graphs it had.
GRAPH_SHAPING_FIELDS = ("hidden_size", "head_count", "mlp_size", "context_tokens", "vocab_size", "layer_norm_eps")
EXPORT_HINT = "export them with `neuroshard export --arch NAME --out DIR` on a machine with PyTorch"


class GraphError(AgentError, ValueError):
    """Graphs are missing, of another architecture, or do not match their manifest."""


def shipped_graphs_dir(arch: Architecture) -> Path:
    """Where the package keeps the graphs of `arch`.

    The directory of its exact version when there is one; otherwise a shipped
    version of the same name whose graphs fit (layer growth changes only the
    depth, so genesis v2 runs on genesis v1's graphs).
    """
    exact = SHIPPED_GRAPHS_DIR / f"{arch.name}-v{arch.arch_version}"
    if (exact / MANIFEST_FILE_NAME).is_file():
        return exact
    wanted = asdict(arch)
    for candidate in sorted(SHIPPED_GRAPHS_DIR.glob(f"{arch.name}-v*/{MANIFEST_FILE_NAME}")):
        try:
            recorded = Manifest.read(candidate.parent).architecture
        except ExportError:
            continue  # a damaged shipped manifest is reported when it is the one asked for
        if all(recorded.get(k) == wanted[k] for k in GRAPH_SHAPING_FIELDS):
            return candidate.parent
    return exact


class GraphSet:
    """The manifest of one directory of graphs, checked against an architecture."""

    def __init__(self, arch: Architecture, directory: Path | None = None) -> None:
        self.arch = arch
        self.directory = Path(directory) if directory is not None else shipped_graphs_dir(arch)
        if not (self.directory / MANIFEST_FILE_NAME).is_file():
            raise GraphError(
                f"no ONNX graphs for architecture {arch.name!r} v{arch.arch_version}: "
                f"{self.directory / MANIFEST_FILE_NAME} does not exist; {EXPORT_HINT}, "
                "then pass graphs_dir=DIR"
            )
        try:
            self.manifest = Manifest.read(self.directory)
        except ExportError as error:
            raise GraphError(str(error)) from None
        self._check_architecture()

    def _check_architecture(self) -> None:
        expected = asdict(self.arch)
        recorded = self.manifest.architecture
        differing = [k for k in GRAPH_SHAPING_FIELDS if expected.get(k) != recorded.get(k)]
        if differing:
            shown = ", ".join(f"{k}: graphs {recorded.get(k)!r}, wanted {expected.get(k)!r}" for k in differing)
            raise GraphError(
                f"the graphs in {self.directory} do not fit architecture {self.arch.name!r} ({shown}); {EXPORT_HINT}"
            )

    def has(self, name: str) -> bool:
        """Whether the manifest lists graph `name` (graphs exported before inference graphs existed lack them)."""
        return name in self.manifest.graphs

    def entry(self, name: str) -> GraphEntry:
        try:
            return self.manifest.graphs[name]
        except KeyError:
            raise GraphError(
                f"graph {name!r} is not listed in {self.directory / MANIFEST_FILE_NAME} "
                f"(it has {sorted(self.manifest.graphs)}); {EXPORT_HINT}"
            ) from None

    def read_verified(self, name: str) -> bytes:
        """The bytes of graph `name`, after checking them against the manifest's SHA-256."""
        entry = self.entry(name)
        path = self.directory / entry.file
        try:
            data = path.read_bytes()
        except OSError as error:
            raise GraphError(f"cannot read graph {path}: {error}; {EXPORT_HINT}") from None
        digest = sha256_bytes(data)
        if digest != entry.sha256:
            raise GraphError(
                f"graph {path} has SHA-256 {digest}, its manifest says {entry.sha256}: the file was "
                f"changed or damaged; refusing to run it. Reinstall the package or {EXPORT_HINT}"
            )
        return data

    def verify_all(self) -> None:
        for name in self.manifest.graphs:
            self.read_verified(name)
