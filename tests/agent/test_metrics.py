"""MetricsHistory: bounded memory, exact means when merging, recent data at full resolution, ?since=."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.metrics import MetricsHistory, fan_out
from agent.training.solo import StepMetrics

WEEK_S = 7 * 24 * 3600


def filled(count: int, **options: int) -> MetricsHistory:
    history = MetricsHistory(**options)
    for step in range(1, count + 1):
        history.record_step(step=step, loss=float(step), tokens_per_s=2.0 * step, time_s=float(step))
    return history


def test_few_samples_are_kept_one_point_each():
    points = filled(5).points()
    assert [(p.step, p.loss, p.tokens_per_s, p.samples) for p in points] == [
        (s, float(s), 2.0 * s, 1) for s in range(1, 6)]


def test_a_week_of_steps_fits_the_fixed_capacity_and_still_spans_the_week():
    history = MetricsHistory()
    for second in range(0, WEEK_S, 5):  # a step every 5 s for a week
        history.record_step(step=second // 5, loss=1.0, tokens_per_s=1.0, time_s=float(second))
    points = history.points()
    assert len(points) <= history.capacity_points
    assert sum(p.samples for p in points) == WEEK_S // 5
    assert points[-1].time_s == WEEK_S - 5
    assert points[0].time_s < 3600  # the first hour is still there, coarsely
    # recent at full resolution, older coarser
    assert points[-1].samples == 1 and points[0].samples > 1
    assert [p.time_s for p in points] == sorted(p.time_s for p in points)


def test_a_full_top_level_coarsens_evenly_instead_of_dropping_the_oldest():
    history = filled(1000, points_per_level=4, levels=2)
    points = history.points()
    assert len(points) <= 8
    assert sum(p.samples for p in points) == 1000
    assert points[0].start_time_s == 1.0  # the beginning of the run is still there
    top = [p for p in points if p.samples > 1]  # level 0 holds single samples
    widths = [p.samples for p in top]
    assert max(widths[:-1]) == min(widths[:-1]), widths  # every top point but the filling one has one width
    assert all(a.time_s < b.start_time_s for a, b in itertools.pairwise(points))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.01, 10.0), min_size=1, max_size=300))
def test_merged_means_are_exact(losses):
    history = MetricsHistory(points_per_level=3, levels=3)
    for index, loss in enumerate(losses):
        history.record_step(step=index, loss=loss, tokens_per_s=None, time_s=float(index))
    points = history.points()
    total = sum(p.loss * p.samples for p in points)
    assert math.isclose(total, sum(losses), rel_tol=1e-9)
    assert all(p.tokens_per_s is None for p in points)


def test_validation_samples_have_their_own_mean():
    history = MetricsHistory(points_per_level=2, levels=4)
    history.record_validation(step=0, validation_loss=5.0, time_s=0.0)
    history.record_step(step=1, loss=4.0, tokens_per_s=100.0, time_s=1.0)
    history.record_step(step=2, loss=2.0, tokens_per_s=300.0, time_s=2.0)
    history.record_validation(step=2, validation_loss=3.0, time_s=2.5)
    points = history.points()
    merged = points[0]  # validation 5.0 and step 1 merged
    assert (merged.loss, merged.validation_loss, merged.samples) == (4.0, 5.0, 2)
    assert points[-1].validation_loss == 3.0 and points[-1].loss is None


def test_since_returns_only_newer_points_and_last_seq():
    history = filled(10)
    response = history.response(since_seq=6)
    assert [p.seq for p in response.points] == [7, 8, 9]
    assert response.last_seq == 9
    assert history.response(since_seq=9).points == ()


def test_node_events_feed_the_history():
    history = MetricsHistory()
    callback = fan_out(lambda kind, data: None, history.on_event)
    callback("validation", {"step": 0, "validation_loss": 5.5})
    callback("step", {"metrics": StepMetrics(step=1, loss=4.0, tokens=1000, seconds=0.5, learning_rate=1e-3,
                                             batch_id="b"), "status": None})
    callback("checkpoint", {"step": 1, "path": "x"})
    points = history.points()
    assert [(p.step, p.loss, p.validation_loss, p.tokens_per_s) for p in points] == [
        (0, None, 5.5, None), (1, 4.0, None, 2000.0)]


def test_a_history_without_room_is_refused():
    with pytest.raises(ValueError, match="at least 2 points per level"):
        MetricsHistory(points_per_level=1)
