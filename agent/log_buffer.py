"""The agent's recent log lines, kept for the dashboard's log pane (GET /v1/logs).

`LogBuffer` is a logging.Handler that keeps the last `capacity_lines`
records, plus one line per notable node event (validation, checkpoint,
pause...), which the node reports through its event callback rather than
through logging, so a headless agent's stderr does not print them twice.

The CLI sets the root logger to WARNING by default, and a record below a
logger's level never reaches any handler. So that the dashboard still sees
INFO lines, `attach()` lowers the root logger to the buffer's level and
raises each existing handler that had no level of its own to the root's
former level: what those handlers print does not change. `detach` (the
function `attach` returns) puts both back.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .api.schema import LogLine, LogsResponse

DEFAULT_CAPACITY_LINES = 500  # lines kept; older ones are dropped
NODE_SOURCE = "node"  # LogLine.source of the node's own event lines


def describe_event(kind: str, data: dict[str, Any]) -> str | None:
    """A line for people about a node event, or None for events too frequent to log (steps)."""
    if kind == "validation":
        return f"step {data['step']}: validation loss {data['validation_loss']:.4f}"
    if kind == "checkpoint":
        return f"checkpoint saved at step {data['step']}"
    if kind == "paused":
        return f"paused at step {data['step']} (still online)"
    if kind == "resumed":
        return f"resumed at step {data['step']}"
    if kind == "stopped":
        return f"stopped at step {data['step']}"
    if kind == "data":
        return f"data: {data['message']}"
    if kind == "ready":
        bench = data["bench"]
        return (f"ready: {data['arch'].name} on {bench.runtime} ({bench.device}), "
                f"{bench.ms_per_layer:.1f} ms/layer, from step {data['step']}")
    return None


class LogBuffer(logging.Handler):
    """The last `capacity_lines` log lines, each with a sequence number for ?since=."""

    def __init__(self, capacity_lines: int = DEFAULT_CAPACITY_LINES, level: int = logging.INFO,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(level)
        self._lines: deque[LogLine] = deque(maxlen=capacity_lines)
        self._last_seq = -1
        self._clock = clock

    def add(self, *, level: str, source: str, message: str, time_s: float | None = None) -> None:
        with self.lock:  # type: ignore[union-attr]  (Handler.createLock made it)
            self._last_seq += 1
            self._lines.append(LogLine(seq=self._last_seq, time_s=self._clock() if time_s is None else time_s,
                                       level=level, source=source, message=message))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            # Handler.handle holds self.lock (an RLock) already; add takes it again
            self.add(level=record.levelname.lower(), source=record.name, message=message, time_s=record.created)
        except Exception:  # noqa: BLE001  (a logging handler must never raise into the code that logged)
            self.handleError(record)

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        """A Node EventCallback: notable events become lines."""
        line = describe_event(kind, data)
        if line is not None:
            self.add(level="info", source=NODE_SOURCE, message=line)

    def lines(self, since_seq: int = -1) -> list[LogLine]:
        with self.lock:  # type: ignore[union-attr]
            return [line for line in self._lines if line.seq > since_seq]

    def response(self, since_seq: int = -1) -> LogsResponse:
        lines = self.lines(since_seq)
        return LogsResponse(lines=tuple(lines), last_seq=self._last_seq)

    def attach(self, logger: logging.Logger) -> Callable[[], None]:
        """Receive `logger`'s records (see the module docstring); returns the function that undoes it."""
        former_level = logger.level
        raised: list[logging.Handler] = []
        lowered = logger.getEffectiveLevel() > self.level
        if lowered:
            for handler in logger.handlers:
                if handler.level == logging.NOTSET:
                    handler.setLevel(logger.getEffectiveLevel())
                    raised.append(handler)
            logger.setLevel(self.level)
        logger.addHandler(self)

        def detach() -> None:
            logger.removeHandler(self)
            if lowered and logger.level == self.level:  # nobody changed it since: ours to restore
                logger.setLevel(former_level)
                for handler in raised:
                    handler.setLevel(logging.NOTSET)

        return detach
