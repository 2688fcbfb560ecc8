"""The zero-training styles' face guard: its settings record and its local tone match."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylize.errors import StylizeError
from stylize.inference.arbitrary import DEFAULT_GUARD, Guard, _blur, _match_lightness, face_mask, structure_kept
from stylize.inference.tone import low_pass, luma


def test_a_guard_record_round_trips_and_an_old_one_paints_as_before() -> None:
    assert Guard.from_record(DEFAULT_GUARD.record(), "model.json") == DEFAULT_GUARD
    old = {key: value for key, value in DEFAULT_GUARD.record().items() if key != "tone_cell"}
    assert Guard.from_record(old, "model.json").tone_cell == 0.0  # made before the local tone match
    before_trigger = {key: value for key, value in DEFAULT_GUARD.record().items() if key != "kept"}
    assert Guard.from_record(before_trigger, "model.json").kept == 0.0  # guarded only where the detector lost the face
    assert "kept" not in Guard(kept=0.0).record()  # a guard without the trigger records what it did before it
    assert Guard.from_record(Guard(kept=0.8).record(), "model.json").kept == 0.8
    before_fallback = {key: value for key, value in DEFAULT_GUARD.record().items() if key != "fallback"}
    assert Guard.from_record(before_fallback, "model.json").fallback is False  # made before the second search
    assert "fallback" not in Guard(fallback=False).record() and DEFAULT_GUARD.fallback
    with pytest.raises(StylizeError, match="fallback.*not true or false"):
        Guard.from_record({**DEFAULT_GUARD.record(), "fallback": 1}, "model.json")
    with pytest.raises(StylizeError, match="out of range"):
        Guard.from_record({**DEFAULT_GUARD.record(), "kept": 1.5}, "model.json")
    with pytest.raises(StylizeError, match="out of range"):
        Guard.from_record({**DEFAULT_GUARD.record(), "tone_cell": 3.0}, "model.json")


def test_the_guarded_face_takes_the_styles_local_tone_and_keeps_its_features() -> None:
    torch.manual_seed(0)
    height, width, cell = 96, 96, 15
    ramp = torch.linspace(0.2, 0.9, width).expand(height, width)  # the full style: a tonal ramp
    key = ramp.expand(1, 3, height, width).clone()
    features = (torch.rand(1, 1, height, width) > 0.9).float() * 0.3  # the guard's: flat with dots
    guarded = (0.5 + features).expand(1, 3, height, width).clone()
    mask = face_mask(height, width, (24, 24, 48, 48), 1.4, 0.15)
    plain = _match_lightness(guarded, key, mask)
    local = _match_lightness(guarded, key, mask, cell)
    inner = (slice(None), slice(None), slice(2 * cell, -2 * cell), slice(2 * cell, -2 * cell))
    gap = (low_pass(luma(local), cell) - low_pass(luma(key), cell))[inner].abs().max()
    plain_gap = (low_pass(luma(plain), cell) - low_pass(luma(key), cell))[inner].abs().max()
    assert gap < 0.02 < plain_gap  # the tone at the cell's scale is the style's, not one mean for the face
    detail = luma(local) - low_pass(luma(local), cell)
    assert torch.corrcoef(torch.stack([detail.flatten(), features.flatten()]))[0, 1] > 0.9  # features kept


def test_structure_kept_ignores_tone_and_contrast_and_sees_strokes_over_the_features() -> None:
    torch.manual_seed(0)
    size, box = 128, (24, 24, 80, 80)
    features = _blur(torch.rand(1, 1, size, size), 2.0)  # blobs at the features' scale
    features = (features - features.mean()) / features.std()
    content = (0.3 + 0.05 * features).expand(1, 3, size, size).clamp(0, 1)
    strokes = _blur(torch.rand(1, 1, size, size), 1.5)
    strokes = (strokes - strokes.mean()) / strokes.std()
    assert structure_kept(content, content, box) > 0.999
    assert structure_kept(content, (0.6 + 1.5 * (content - 0.3)).clamp(0, 1), box) > 0.999  # lighter, more contrast
    painted = (content + 0.1 * strokes).clamp(0, 1)  # the style's own strokes, twice the features' contrast
    over = (content + 0.2 * strokes).clamp(0, 1)
    assert 0.0 < structure_kept(content, over, box) < structure_kept(content, painted, box) < 0.7


def test_the_guard_finds_a_face_the_detector_misses_by_a_second_search_or_where_the_game_draws_it() -> None:
    from stylize.content.faces import GAME_FACE, face_box, game_face_box, guard_face_box

    blank = np.full((285, 295, 3), 128, np.uint8)  # no face for either search
    assert face_box(blank) is None
    x, y, side = GAME_FACE
    assert guard_face_box(blank) == game_face_box(285, 295) == (x, y, side, side)
    assert game_face_box(570, 590) == (2 * x, 2 * y, 2 * side, 2 * side)  # a legacy portrait drawn larger
    assert guard_face_box(np.full((200, 400, 3), 128, np.uint8)) is None  # another shape: no face assumed
    assert game_face_box(285, 350) is None


def test_the_game_faces_the_detector_misses_are_guarded_where_the_face_is(shared_facegen) -> None:
    """Seed 10 of the game's tree (large round glasses): the first search finds no face; the guard's box
    covers the face the first search finds on the game's other faces (the median box, within its spread)."""
    from stylize.content.compose import compose_face, open_part_tree
    from stylize.content.faces import face_box, guard_face_box

    generator = open_part_tree(shared_facegen)
    missed = compose_face(generator, 10).rgb
    assert face_box(missed) is None
    x, y, w, h = guard_face_box(missed)
    found = [face_box(compose_face(generator, seed).rgb) for seed in range(8)]
    centres = np.array([(bx + bw / 2, by + bh / 2) for bx, by, bw, bh in (box for box in found if box)])
    assert len(centres) >= 6 and np.abs(centres - (x + w / 2, y + h / 2)).max() < 0.15 * w
