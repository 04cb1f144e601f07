"""`neuroshard run` flags of cohort sync: --sync-interval and --cohort-json (tests shrink timings with it)."""

from __future__ import annotations

import argparse
import dataclasses
import json

from .config import CohortConfig, CohortConfigError


def add_cohort_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sync-interval", type=int, default=None, metavar="N",
                        help="inner steps between DiLoCo cohort syncs (default: by network size, 100/500/1000)")
    parser.add_argument("--cohort-json", default=None, metavar="JSON",
                        help="cohort-sync settings as a JSON object of CohortConfig fields (timings, for tests)")


def cohort_config_from_args(args: argparse.Namespace) -> CohortConfig:
    values: dict = {}
    text = getattr(args, "cohort_json", None)
    if text:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise CohortConfigError(f"--cohort-json is not valid JSON: {error}") from None
        known = {field.name for field in dataclasses.fields(CohortConfig)}
        if not isinstance(values, dict) or set(values) - known:
            raise CohortConfigError(f"--cohort-json must be an object with fields among {sorted(known)}")
    if getattr(args, "sync_interval", None) is not None:
        values["sync_interval_steps"] = args.sync_interval
    return CohortConfig(**values)
