import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stylize import SeedError
from stylize.content.rng import SEED_MAX
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


# --- hostile specs (issue 16) and properties ------------------------------------------------------------

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("9" * 5000, "seed 99999"),
        ("1-" + "9" * 5000, "(5000 characters) is out of range"),
        ("99999999999999999999", "seed 99999999999999999999 is out of range"),
        ("\u0663", "is not a seed or range"),  # int() reads Arabic-Indic digits; the game's seeds are ASCII
        ("\uff11-\uff13", "is not a seed or range"),  # fullwidth digits
        ("1e999", "is not a seed or range"),
        ("0x10", "is not a seed or range"),
        ([10**5000], "seed a number of 5001 digits is out of range"),
        ("1," * 600_000, "longer than"),
    ],
    ids=[
        "5000 digits",
        "range to 5000 digits",
        "1e20",
        "arabic-indic",
        "fullwidth",
        "1e999",
        "hex",
        "huge int",
        "long",
    ],
)
def test_huge_and_odd_seeds_are_one_short_line(spec, message):
    with pytest.raises(SeedError) as info:
        parse_seeds(spec)
    assert message in str(info.value) and "\n" not in str(info.value) and len(str(info.value)) < 250, str(info.value)


def test_leading_zeros_are_the_same_seed():
    assert parse_seeds("0000000000000000000000007,00-02") == [7, 0, 1, 2]


_NUMBER = st.one_of(
    st.integers(0, SEED_MAX).map(str),
    st.integers(SEED_MAX + 1, 10**30).map(str),
    st.integers(0, 50).map(lambda n: "0" * n + "1"),
    st.sampled_from(["-1", "1e3", "inf", "nan", "\u0663", "\uff11", "", " ", "1_0", "+1", "0x1"]),
)
_ITEM_TEXT = st.one_of(
    _NUMBER,
    st.tuples(st.integers(0, SEED_MAX - 1000), st.integers(0, 1000)).map(lambda p: f"{p[0]}-{p[0] + p[1]}"),
    st.tuples(_NUMBER, _NUMBER).map("-".join),
    st.text(max_size=8),
)
SPECS = st.one_of(st.lists(_ITEM_TEXT, min_size=1, max_size=6).map(",".join), st.text(max_size=30))


@PROPERTY
@given(SPECS)
@pytest.mark.slow
def test_any_text_is_seeds_in_range_or_one_seed_error(spec):
    try:
        seeds = parse_seeds(spec)
    except SeedError as err:
        assert "\n" not in str(err) and len(str(err)) < 300, str(err)
        return
    assert seeds and all(isinstance(s, int) and 0 <= s <= SEED_MAX for s in seeds)
    assert len(set(seeds)) == len(seeds)
    assert spec.isascii()  # only ASCII digits are seeds
    # the seeds written back as a list are read as the same seeds, in the same order
    assert parse_seeds(",".join(map(str, seeds))) == seeds


@PROPERTY
@given(st.integers(0, SEED_MAX), st.integers(0, 2000), st.sampled_from(["{}-{}", " {} - {} ", "{},{}"]))
@pytest.mark.slow
def test_ranges_are_inclusive_and_in_order(first, length, template):
    last = min(first + length, SEED_MAX)
    spec = template.format(first, last)
    expected = list(range(first, last + 1)) if "-" in template else list(dict.fromkeys([first, last]))
    assert parse_seeds(spec) == expected


@PROPERTY
@given(st.lists(st.integers(0, SEED_MAX), min_size=1, max_size=10) | st.integers(0, SEED_MAX) | SPECS)
@pytest.mark.slow
def test_the_config_keeps_a_seed_spec_that_reads_back_as_its_seeds(value):
    """[content] seeds as text, a list or one number: the config's seeds_spec reads back as its seeds."""
    import tomllib

    from stylize import ConfigError, parse_config

    text = json.dumps(value) if not isinstance(value, str) else json.dumps(value, ensure_ascii=True)
    try:
        assert tomllib.loads(f"seeds = {text}")["seeds"] == value
    except (tomllib.TOMLDecodeError, AssertionError):
        return  # not a TOML value (e.g. a lone surrogate); the config parser's properties cover it
    try:
        config = parse_config(f"[content]\nseeds = {text}\n")
    except ConfigError:
        with pytest.raises(SeedError):
            parse_seeds(value)
        return
    assert parse_seeds(config.content.seeds_spec) == config.content.seeds == parse_seeds(value)
