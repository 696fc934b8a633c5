"""Hypothesis strategies for the test-only Things messages (tests/helpers/things.proto)."""

from __future__ import annotations

from hypothesis import strategies as st

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)


def thing_strategy(pb):
    inner = st.builds(pb.Inner, id=TEXT, size=INT32)
    return st.builds(
        lambda fields, when, wait, maybe: _thing(pb, fields, when, wait, maybe),
        st.fixed_dictionaries(
            {},
            optional={
                "id": TEXT,
                "name": TEXT,
                "big": INT64,
                "count": INT32,
                "ratio": FINITE,
                "flag": st.booleans(),
                "color": st.sampled_from([0, 1, 2]),
                "tags": st.lists(TEXT, max_size=4),
                "numbers": st.lists(INT32, max_size=4),
                "inner": inner,
                "path": TEXT,
                "blob": st.binary(max_size=16),
                "labels": st.dictionaries(TEXT, TEXT, max_size=3),
            },
        ),  # fmt: skip
        st.none() | st.integers(-62135596800, 253402300799),
        st.none() | st.integers(-315576000000, 315576000000),
        st.none() | INT32,
    )


def _thing(pb, fields, when, wait, maybe):
    thing = pb.Thing(**fields)
    if when is not None:
        thing.when.seconds = when
    if wait is not None:
        thing.wait.seconds = wait
    if maybe is not None:
        thing.maybe.value = maybe
    return thing
