# ruff: noqa: F821  (a fragment: tests/attacks/_channel.py is prepended to it)
# Issue 20, class 6: 100 kB printed at import and for every graph.  Before: an 8.7 MB
# report.json.
print('L' * 100_000)


def _attack(self):
    print('L' * 100_000)
