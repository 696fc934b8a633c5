"""Scores: the formulas of server/signals/scoring.py (the live score's rank correlation and hit rate, and a
round's correlation)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlmp_marketplace.v1 import signals_pb2
from mlmp_server.signals.scoring import (
    WINDOW,
    average_ranks,
    correlation,
    hit_rate,
    live_score,
    rank_correlation,
    realized_return,
    view_of,
)


def test_perfect_and_inverse_views_score_one_and_minus_one():
    assert correlation([0.1, 0.2, 0.3], [1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert correlation([0.3, 0.2, 0.1], [1.0, 2.0, 3.0]) == pytest.approx(-1.0)


def test_matches_the_textbook_value():
    xs, ys = [0.9, 0.1, -0.2, -0.8], [0.05, 0.01, -0.02, -0.04]
    mx, my = sum(xs) / 4, sum(ys) / 4
    expected = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / math.sqrt(
        sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys)
    )
    assert correlation(xs, ys) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("xs", "ys"),
    [([0.5], [0.1]), ([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]), ([0.1, 0.2], [0.0, 0.0])],
)
def test_no_score_without_spread_on_both_sides(xs, ys):
    assert correlation(xs, ys) is None


def test_tiny_spreads_still_correlate():
    # Variances of 2e-200 each: their product underflows to 0, which once divided by zero.
    assert correlation([0.0, 2e-100], [0.0, 2e-100]) == pytest.approx(1.0)


@given(st.lists(st.tuples(st.floats(-1, 1), st.floats(-0.5, 0.5)), min_size=2, max_size=50))
def test_always_within_minus_one_and_one(pairs):
    value = correlation([x for x, _ in pairs], [y for _, y in pairs])
    assert value is None or -1.0 <= value <= 1.0


# The live score: Spearman's rank correlation and hit rate over a window of scored signals.


def test_average_ranks_share_the_ranks_ties_span():
    assert average_ranks([0.3, 0.1, 0.3, 0.2]) == [3.5, 1.0, 3.5, 2.0]
    assert average_ranks([1.0, 1.0, 1.0]) == [2.0, 2.0, 2.0]
    assert average_ranks([]) == []


def test_rank_correlation_is_monotone_not_linear():
    # Views in the returns' order score 1 however far from linear they are.
    assert rank_correlation([0.1, 0.2, 0.9], [0.001, 0.002, 0.5]) == pytest.approx(1.0)
    assert rank_correlation([0.9, 0.2, 0.1], [0.001, 0.002, 0.5]) == pytest.approx(-1.0)


def test_rank_correlation_with_ties_is_pearsons_of_the_average_ranks():
    views, returns = [1.0, 1.0, -1.0, 0.0, 1.0], [0.02, -0.01, -0.03, 0.0, 0.05]
    # ranks of views: -1 → 1, 0 → 2, the three 1s share (3+4+5)/3 = 4; of returns: plain 1..5
    assert rank_correlation(views, returns) == pytest.approx(correlation([4, 4, 1, 2, 4], [4, 2, 1, 3, 5]))


@pytest.mark.parametrize(
    ("views", "returns"),
    [([], []), ([0.5], [0.01]), ([1.0, 1.0, 1.0], [0.01, -0.02, 0.03]), ([0.2, -0.4], [0.01, 0.01])],
    ids=["none", "one signal", "the same view", "the same return"],
)
def test_no_rank_correlation_with_too_few_signals_or_no_spread(views, returns):
    assert rank_correlation(views, returns) is None


def test_hit_rate_counts_a_zero_view_or_a_zero_return_as_a_miss():
    views = [0.5, -0.5, 0.5, 0.0, 0.5]
    returns = [0.01, -0.02, -0.01, 0.03, 0.0]  # hit, hit, miss, miss (hold), miss (flat)
    assert hit_rate(views, returns) == pytest.approx(2 / 5)
    assert hit_rate([], []) is None


def test_a_live_score_says_how_many_signals_it_rests_on():
    score = live_score([0.5], [0.01])
    assert (score.rank_correlation, score.hit_rate, score.scored_signals, score.window) == (None, 1.0, 1, WINDOW)


def test_a_signals_view_is_its_score_else_its_action():
    assert view_of(signals_pb2.ACTION_SELL, 0.25) == 0.25
    assert [view_of(action, None) for action in (signals_pb2.ACTION_BUY, signals_pb2.ACTION_SELL,
                                                 signals_pb2.ACTION_HOLD)] == [1.0, -1.0, 0.0]  # fmt: skip


def test_realized_return_from_entry_and_exit_closes():
    assert realized_return(100.0, 103.0) == pytest.approx(0.03)
    assert realized_return(100.0, 100.0) == 0.0
    assert realized_return(0.0, 5.0) is None  # no price to return from


@given(
    st.lists(
        st.tuples(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]), st.sampled_from([-0.02, -0.01, 0.0, 0.01, 0.03])),
        min_size=0, max_size=60,
    )
)  # fmt: skip
def test_matches_pandas(pairs):
    """The definition the contract gives, in pandas (ties and zeros included), gives the same numbers."""
    frame = pd.DataFrame(pairs, columns=["view", "r"], dtype=float)
    expected_rank = frame.view.rank().corr(frame.r.rank())
    expected_hits = (frame.view * frame.r > 0).mean()
    score = live_score(list(frame.view), list(frame.r))
    if len(frame) < 2 or math.isnan(expected_rank):
        assert score.rank_correlation is None
    else:
        assert score.rank_correlation == pytest.approx(expected_rank, abs=1e-12)
    if frame.empty:
        assert score.hit_rate is None
    else:
        assert score.hit_rate == pytest.approx(expected_hits)
    assert score.scored_signals == len(frame)
