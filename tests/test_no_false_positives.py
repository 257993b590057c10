"""Correct engines stay clean over many seeds: a grader that cries wolf is worse than none."""
import pytest

from conftest import SUBMISSIONS
from harness import Config, grade

CORRECT = ['lecture_engine.py', 'lecture_notebook.ipynb', 'micrograd', 'missing_ops.py',
           'alt_engine.py']


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
