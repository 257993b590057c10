"""The example submissions: the files in ``submissions/`` and the table ``examples.toml``, which
gives every example's expected grade and, for one that is another example plus a small edit
(most are the lecture's engine with one bug), that edit instead of a copy of the file.

A row with ``edits`` is written from its ``base`` (default ``lecture_engine.py``): the base's
first line, its docstring, becomes ``doc``, then each edit replaces ``old`` with ``new``, in
order; ``old`` must occur exactly ``times`` times (once unless said) in the text so far, so a
change to the base that an edit no longer fits fails loudly instead of leaving a stale example.
``make examples`` writes them out to try one by hand (``python -m micrograde.surfaces.examples
DIR``); the suite and ``make bench`` grade them beside the files (``assemble``).
"""
import shutil
import sys
import tomllib
from pathlib import Path

SUBMISSIONS = Path(__file__).resolve().parents[2] / 'submissions'
TABLE = 'examples.toml'
BASE = 'lecture_engine.py'


class EditError(ValueError):
    """A row's edit does not fit its base: the table and the base disagree."""


def table(folder=SUBMISSIONS):
    """Every example's row, by its path under ``folder`` (``bug_no_seed.py``, ``broken/empty.py``)."""
    return tomllib.loads((Path(folder) / TABLE).read_text())


def source(name, row, folder=SUBMISSIONS):
    """The text of the example ``name`` written from its row (``EditError`` where an edit does
    not apply exactly as often as it says)."""
    head, _, body = (Path(folder) / row.get('base', BASE)).read_text().partition('\n')
    if not (head.startswith('"""') and head.endswith('"""')):
        raise EditError(f'{name}: the first line of {row.get("base", BASE)} is not its docstring')
    text = f'"""{row["doc"]}"""\n{body}'
    for k, edit in enumerate(row['edits'], 1):
        times, found = edit.get('times', 1), text.count(edit['old'])
        if found != times:
            raise EditError(f'{name}: edit {k} expects its `old` text {times} time(s) in the '
                            f'text so far, found it {found} time(s):\n{edit["old"]}')
        text = text.replace(edit['old'], edit['new'])
    return text


def write(out, folder=SUBMISSIONS):
    """Write every example the table makes by an edit into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for name, row in table(folder).items():
        if 'edits' in row:
            made.append(out / name)
            made[-1].write_text(source(name, row, folder))
    return made


def assemble(out, folder=SUBMISSIONS):
    """Every example in one folder ``out`` (made if missing): ``submissions/``'s files with the
    table's edited examples beside them, without the table. Returns ``out`` as a Path."""
    shutil.copytree(folder, out, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(TABLE, '__pycache__'))
    write(out, folder)
    return Path(out)


def main(argv=None):
    out = (sys.argv[1:] if argv is None else argv) or ['build/examples']
    for path in write(out[0]):
        print(path)


if __name__ == '__main__':
    main()
