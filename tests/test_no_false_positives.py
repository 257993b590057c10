"""Correct engines stay clean over many seeds (a grader that cries wolf is worse than none), and
every buggy example is failed with each of its bugs named, whatever the seed."""

import pytest

from conftest import EXPECTED, SUBMISSIONS, unnamed
from micrograde import Config, grade

CORRECT = sorted(n for n, want in EXPECTED.items() if want['exit'] == 0)
#: Buggy engines whose bugs show in graphs (a load failure does not depend on the seed).
BUGGY = sorted(n for n, want in EXPECTED.items()
               if want['exit'] == 1 and not want['check'].startswith('load'))


def _failures(report):
    return [(c.id, c.message) for c in report.checks if c.required and c.status != 'passed'
            and c.status != 'skipped']


@pytest.mark.parametrize('name', CORRECT)
def test_correct_examples_are_clean_over_seeds(name):
    for seed in range(3):
        report = grade(SUBMISSIONS / name, config=Config(seed=seed, profile='quick'))
        assert not _failures(report), (seed, _failures(report))


@pytest.mark.slow
@pytest.mark.parametrize('name', CORRECT)
def test_correct_examples_are_clean_over_many_seeds_thorough(name):
    for seed in range(10, 20):
        report = grade(SUBMISSIONS / name, config=Config(seed=seed, profile='thorough'))
        assert not _failures(report), (seed, _failures(report))


@pytest.mark.slow
@pytest.mark.parametrize('name', BUGGY)
def test_buggy_examples_have_every_bug_named_over_seeds(name):
    want = EXPECTED[name]
    for seed in range(1, 4):
        report = grade(SUBMISSIONS / name, config=Config(seed=seed, profile='quick'))
        checks = {c.id: c for c in report.checks}
        assert report.verdict == 'failed', seed
        assert not unnamed(want, {i: (c.status, c.message) for i, c in checks.items()}), seed
        for check_id, status in want.get('status', {}).items():
            assert checks[check_id].status == status, (seed, checks[check_id])


def test_third_party_micrograd_is_clean_over_seeds():
    for seed in range(3):
        report = grade(module='micrograd', config=Config(seed=seed, profile='standard'))
        assert not _failures(report), (seed, _failures(report))
