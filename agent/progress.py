"""Human progress output for the CLI: step lines, validation, checkpoints, bench bar.

Only the CLI prints; the node reports events and this turns them into lines.
On a terminal a step line is rewritten in place; in a journal or a pipe it is
printed every `log_every_steps` steps.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from coordinator_free.constants import TIER_NAMES


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def tier_name(tier: int) -> str:
    return TIER_NAMES[tier - 1]


class ProgressPrinter:
    """An EventCallback for Node that prints what a person wants to see."""

    def __init__(self, *, stream: TextIO = sys.stdout, log_every_steps: int = 10) -> None:
        self.stream = stream
        self.log_every_steps = log_every_steps
        self.interactive = stream.isatty()
        self._started = time.monotonic()
        self._first_step: int | None = None
        self._line_open = False

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        handler = getattr(self, "_on_" + kind.replace("-", "_"), None)
        if handler is not None:
            handler(data)

    def end_line(self) -> None:
        """Finish a line rewritten in place, so the next output starts on its own line."""
        if self._line_open:
            self.stream.write("\n")
            self._line_open = False

    def say(self, text: str) -> None:
        self.end_line()
        self.stream.write(text + "\n")
        self.stream.flush()

    def _on_bench_progress(self, data: dict[str, Any]) -> None:
        if self.interactive:
            self.stream.write(f"\rmeasuring {data['runtime']}: {data['done']}/{data['total']}")
            self.stream.flush()
            self._line_open = True

    def _on_data(self, data: dict[str, Any]) -> None:
        self.say(f"data: {data['message']}")

    def _on_network(self, data: dict[str, Any]) -> None:
        self.say(f"node {data['node_id'][:16]}… listening for peers on port {data['peer_port']}; "
                    f"local API {data['local_api']}")

    def _on_paused(self, data: dict[str, Any]) -> None:
        self.say(f"paused at step {data['step']} (still online)")

    def _on_resumed(self, data: dict[str, Any]) -> None:
        self.say(f"resumed at step {data['step']}")

    def _on_ready(self, data: dict[str, Any]) -> None:
        bench, arch, training = data["bench"], data["arch"], data["training"]
        self.say(
            f"node ready: {arch.name} v{arch.arch_version} ({arch.layer_count} layers, hidden "
            f"{arch.hidden_size}); runtime {bench.runtime} on {bench.device}, {bench.ms_per_layer:.1f} ms/layer, "
            f"tier {tier_name(bench.tier)}; batch {training.batch_sequences}x{training.sequence_tokens} tokens"
        )
        if data["resumed_from"] is not None:
            self.say(f"resuming at step {data['step']} from {data['resumed_from']}")
        self._started = time.monotonic()
        self._first_step = data["step"]

    def _on_step(self, data: dict[str, Any]) -> None:
        metrics, status = data["metrics"], data["status"]
        line = f"step {metrics.step}"
        if status.max_steps:
            line += f"/{status.max_steps}"
        line += f"  loss {metrics.loss:.4f}"
        if status.validation_loss is not None:
            line += f"  val {status.validation_loss:.4f}"
        if status.tokens_per_s:
            line += f"  {status.tokens_per_s:,.0f} tok/s"
        eta = self._eta(metrics.step, status.max_steps)
        if eta is not None:
            line += f"  ETA {format_duration(eta)}"
        if self.interactive:
            self.stream.write("\r" + line.ljust(78))
            self.stream.flush()
            self._line_open = True
        elif metrics.step % self.log_every_steps == 0 or metrics.step == status.max_steps:
            self.say(line)

    def _eta(self, step: int, max_steps: int | None) -> float | None:
        if not max_steps or self._first_step is None or step <= self._first_step:
            return None
        per_step = (time.monotonic() - self._started) / (step - self._first_step)
        return per_step * (max_steps - step)

    def _on_validation(self, data: dict[str, Any]) -> None:
        self.say(f"step {data['step']}: validation loss {data['validation_loss']:.4f}")

    def _on_checkpoint(self, data: dict[str, Any]) -> None:
        self.say(f"checkpoint saved at step {data['step']}: {data['path']}")

    def _on_stopped(self, data: dict[str, Any]) -> None:
        self.say(f"stopped at step {data['step']}")
