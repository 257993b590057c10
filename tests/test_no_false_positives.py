"""Correct engines stay clean over many seeds: a grader that cries wolf is worse than none."""
import tomllib

import pytest

from conftest import SUBMISSIONS
from harness import Config, grade

#: Every example expected to pass (``submissions/expected.toml``).
CORRECT = sorted(name for name, want in tomllib.loads(
    (SUBMISSIONS / 'expected.toml').read_text()).items() if want['exit'] == 0)


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


def test_third_party_micrograd_is_clean_over_seeds():
    for seed in range(3):
        report = grade(module='micrograd', config=Config(seed=seed, profile='standard'))
        assert not _failures(report), (seed, _failures(report))
