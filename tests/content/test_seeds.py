import pytest
from hypothesis import given
from hypothesis import strategies as st

from stylize import SeedError
from stylize.content.seeds import parse_seeds


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0-3", [0, 1, 2, 3]),
        ("3,7,12", [3, 7, 12]),
        (" 5 - 6 , 1", [5, 6, 1]),
        ("2,2,1-3", [2, 1, 3]),
        (9, [9]),
        ([4, 2], [4, 2]),
        ("4294967295", [4294967295]),
    ],
)
def test_parse_seeds(spec, expected):
    assert parse_seeds(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("9-1", "runs backwards"),
        ("abc", "not a seed or range"),
        ("1,,2", "not a seed or range"),
        ("", "empty"),
        ("-1", "not a seed or range"),
        ("4294967296", "out of range"),
        ("0-4294967295", "split the job"),
        (True, "not a seed list"),
        ([1, "2"], "whole numbers"),
    ],
)
def test_bad_seed_specs_are_refused_with_a_hint(spec, message):
    with pytest.raises(SeedError, match=message):
        parse_seeds(spec)


@given(st.lists(st.integers(min_value=0, max_value=2**32 - 1), min_size=1, max_size=20))
def test_comma_list_round_trips(seeds):
    expected = list(dict.fromkeys(seeds))
    assert parse_seeds(",".join(map(str, seeds))) == expected
