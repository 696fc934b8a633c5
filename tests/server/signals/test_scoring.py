"""Live scores: the correlation a deployment's round score is."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlmp_server.signals.scoring import correlation


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


@given(st.lists(st.tuples(st.floats(-1, 1), st.floats(-0.5, 0.5)), min_size=2, max_size=50))
def test_always_within_minus_one_and_one(pairs):
    value = correlation([x for x, _ in pairs], [y for _, y in pairs])
    assert value is None or -1.0 <= value <= 1.0
