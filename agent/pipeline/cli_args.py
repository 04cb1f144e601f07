"""argparse flags of quorum/pipeline work, and the PipelineConfig they build.

Precedence: PipelineConfig defaults < --pipeline-config-json < explicit flags.
"""

from __future__ import annotations

import argparse

from .config import MODES, PipelineConfig, parse_layers, pipeline_config_from_json


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("quorum and pipeline")
    group.add_argument("--mode", default=None, choices=MODES,
                       help="contribution mode (default auto: the network's rules; solo or pipeline force one)")
    group.add_argument("--layers", default=None, metavar="A-B",
                       help="hold layers A..B-1 (half-open, e.g. 0-4) instead of claiming by scarcity")
    group.add_argument("--micro-batches", type=int, default=None, help="micro-batches per pipeline step (default 4)")
    group.add_argument("--pipeline-config-json", default=None, metavar="JSON",
                       help="any PipelineConfig fields as a JSON object, e.g. shorter timeouts")


def pipeline_config_from_args(args: argparse.Namespace) -> PipelineConfig:
    config = PipelineConfig()
    if getattr(args, "pipeline_config_json", None):
        config = pipeline_config_from_json(args.pipeline_config_json, config)
    flags = {
        "mode": getattr(args, "mode", None),
        "layers": parse_layers(args.layers) if getattr(args, "layers", None) else None,
        "micro_batches": getattr(args, "micro_batches", None),
    }
    return config.replace(**{name: value for name, value in flags.items() if value is not None})
