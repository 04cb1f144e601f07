"""The manifest that travels with an architecture's graphs.

It records, per graph, the file, its SHA-256 and the names and order of its
inputs and outputs, plus the architecture the graphs were made for and the
versions that made them. Runtimes trust a graph only when its bytes hash to
the recorded value. Pure stdlib: the edge runtime reads it without torch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ExportError
from .graphs import GraphLayout

MANIFEST_FILE_NAME = "manifest.json"
MANIFEST_FORMAT_VERSION = 1


@dataclass(frozen=True)
class GraphEntry:
    """One graph file and its interface."""

    file: str  # file name inside the manifest's directory
    sha256: str  # hex SHA-256 of the file's bytes
    parameters: tuple[str, ...]  # local parameter names, the first inputs, in order
    inputs: tuple[str, ...]  # data inputs after the parameters
    outputs: tuple[str, ...]  # every output, in order

    @classmethod
    def from_layout(cls, layout: GraphLayout, sha256: str) -> GraphEntry:
        return cls(layout.file_name, sha256, layout.parameter_names, layout.data_inputs, layout.output_names)


@dataclass(frozen=True)
class Manifest:
    """Everything a runtime needs to know about a directory of graphs."""

    architecture: dict[str, Any]  # dataclasses.asdict(Architecture)
    graphs: dict[str, GraphEntry]  # graph name ("block_train") -> entry
    opset: int  # ONNX default-domain opset of the graphs
    exporter_versions: dict[str, str]  # package -> version that produced the graphs
    validation: dict[str, float] = field(default_factory=dict)  # graph -> worst relative error
    format_version: int = MANIFEST_FORMAT_VERSION  # of this file's layout

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str = "manifest") -> Manifest:
        try:
            raw = json.loads(text)
            if raw.get("format_version") != MANIFEST_FORMAT_VERSION:
                raise ExportError(
                    f"{source}: manifest format {raw.get('format_version')!r}, this agent reads "
                    f"{MANIFEST_FORMAT_VERSION}; re-export the graphs with this version"
                )
            graphs = {
                name: GraphEntry(
                    file=entry["file"],
                    sha256=entry["sha256"],
                    parameters=tuple(entry["parameters"]),
                    inputs=tuple(entry["inputs"]),
                    outputs=tuple(entry["outputs"]),
                )
                for name, entry in raw["graphs"].items()
            }
            return cls(
                architecture=dict(raw["architecture"]),
                graphs=graphs,
                opset=int(raw["opset"]),
                exporter_versions=dict(raw["exporter_versions"]),
                validation={k: float(v) for k, v in raw.get("validation", {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ExportError(f"{source} is not a valid graph manifest: {error!r}") from None

    def write(self, directory: Path) -> Path:
        path = Path(directory) / MANIFEST_FILE_NAME
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(self.to_json())
        temporary.replace(path)  # atomic: a reader never sees half a manifest
        return path

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = Path(directory) / MANIFEST_FILE_NAME
        try:
            text = path.read_text()
        except OSError as error:
            raise ExportError(f"cannot read graph manifest {path}: {error}") from None
        return cls.from_json(text, source=str(path))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(Path(path).read_bytes())
