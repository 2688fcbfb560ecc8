"""Every case of the hostile-input corpus, run with the harness's invariants (see harness.py)."""

from __future__ import annotations

import pytest

from hostile import cli_values, config, images, manifests, model_files, model_json, out_dirs, part_trees
from hostile.harness import IS_ROOT, run_case

AREAS = (images, out_dirs, model_files, model_json, manifests, config, part_trees, cli_values)
CASES = [case for area in AREAS for case in area.corpus.cases]


def test_the_corpus_covers_every_area():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "two cases share a name"
    assert len(CASES) >= 60
    assert all(area.corpus.cases for area in AREAS)


@pytest.mark.parametrize(  # a case run as a child process (seconds: it imports torch) is slow
    "case",
    [pytest.param(case, marks=[pytest.mark.slow] if case.child or case.slow else []) for case in CASES],
    ids=[case.id for case in CASES],
)
def test_hostile_input(case, tmp_path, capfd):
    if case.skip_root and IS_ROOT:
        pytest.skip(case.skip_root)
    problems = run_case(case, tmp_path, capfd)
    if problems:
        pytest.fail(f"{case.id}: {case.doc}\n" + "\n".join(f"  - {problem}" for problem in problems), pytrace=False)
