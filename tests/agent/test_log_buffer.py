"""LogBuffer: the last N lines, ?since=, node events, and INFO lines even when the terminal shows WARNING."""

from __future__ import annotations

import logging

from agent.log_buffer import LogBuffer


def test_keeps_the_last_lines_with_increasing_seq():
    buffer = LogBuffer(capacity_lines=3)
    for index in range(5):
        buffer.add(level="info", source="test", message=f"line {index}")
    lines = buffer.lines()
    assert [line.message for line in lines] == ["line 2", "line 3", "line 4"]
    assert [line.seq for line in lines] == [2, 3, 4]
    assert [line.message for line in buffer.response(since_seq=3).lines] == ["line 4"]
    assert buffer.response().last_seq == 4


def test_node_events_become_lines_but_steps_do_not():
    buffer = LogBuffer()
    buffer.on_event("step", {"metrics": None, "status": None})
    buffer.on_event("validation", {"step": 50, "validation_loss": 1.23456})
    buffer.on_event("paused", {"step": 51})
    assert [(line.source, line.message) for line in buffer.lines()] == [
        ("node", "step 50: validation loss 1.2346"), ("node", "paused at step 51 (still online)")]


def test_attached_buffer_sees_info_while_the_terminal_handler_still_shows_only_warnings():
    logger = logging.getLogger("neuroshard-test-logs")
    logger.propagate = False
    terminal = logging.Handler()
    seen: list[str] = []
    terminal.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger.handlers[:] = [terminal]
    logger.setLevel(logging.WARNING)
    buffer = LogBuffer()
    detach = buffer.attach(logger)
    try:
        logger.info("quiet")
        logger.warning("loud")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("failed")
    finally:
        detach()
    assert seen == ["loud", "failed"]
    assert [(line.level, line.message) for line in buffer.lines()] == [
        ("info", "quiet"), ("warning", "loud"), ("error", "failed (RuntimeError: boom)")]
    assert logger.level == logging.WARNING and terminal.level == logging.NOTSET and buffer not in logger.handlers
    logger.info("after")
    assert len(buffer.lines()) == 3
