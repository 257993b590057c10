"""Loading: notebooks run as Jupyter runs them, zips unpack safely, a hanging cell costs its limit."""
import io
import os
import sys
import json
import shutil
import zipfile

import pytest

from conftest import ROOT, SUBMISSIONS, in_process
from engines import hostile_engine
from micrograde.load import tree
from micrograde.load.cells import transform
from micrograde.worker.load import LoadError, load, methods, notebooks
from micrograde.worker.load.archives import extract
from micrograde.worker.load.files import load_file
from micrograde.worker.load.kernel import Kernel
from micrograde.worker.load.loaded import Loaded
from micrograde.worker.load.notebooks import cells_of
from micrograde.worker.serve import OUTPUT_CAP, Capture


def _run(*cells, answer_keys=()):
    """Run transformed cells in a kernel, as the worker does; returns (namespace, loaded)."""
    loaded = Loaded(answer_keys=answer_keys)
    kernel = Kernel(loaded)
    for number, cell in enumerate(cells, 1):
        kernel.run(number, transform(cell).python, 5)
    loaded.namespaces.append(('nb.ipynb', kernel.ns))
    return kernel.ns, loaded


def test_cells_are_python_as_jupyter_reads_them():
    ns, loaded = _run('x = 0.0  # start at zero?\ns = """100% sure: %d !ls"""\nn = 7 % 4',
                      '%matplotlib inline\n!pip install x\nfiles = !ls\nlen?\n%pip install y',
                      'for i in range(2):\n    %time y = i\n%timeit -n 1 -r 1 z = 2',
                      '%%time\nw = 3\nv = w + 1\n',
                      '%%bash\necho not run\n')
    assert (ns['x'], ns['s'], ns['n']) == (0.0, '100% sure: %d !ls', 3)
    assert list(ns['files']) == [] and (ns['y'], ns['z'], ns['w'], ns['v']) == (1, 2, 3, 4)
    assert loaded.failures == [], loaded.failures
    assert sorted(loaded.warnings) == ['cell 2: !ls is not run when grading.',
                                       'cell 2: !pip is not run when grading.',
                                       'cell 2: %pip is not run when grading.',
                                       'cell 5: %%bash is not run when grading.']


def test_cell_magic_keeps_line_numbers():
    assert transform('%%time\na = 1\nb = 2\n').python.split('\n')[2] == 'b = 2'
    ns, loaded = _run('%%capture\nimport math\nmath.nope()\n')
    assert loaded.failures[0][1].endswith('(cell 1, line 3).'), loaded.failures


def test_future_imports_carry_over_to_later_statements_and_cells():
    ns, loaded = _run('from __future__ import annotations\nimport math',
                      'class Value:\n    def __add__(self, other: Value) -> Value:\n        return self\n'
                      'def f(x: Value) -> Undefined:\n    return x\n')
    assert loaded.failures == [] and ns['f'].__annotations__ == {'x': 'Value', 'return': 'Undefined'}
    ns, loaded = _run('import math', 'def f(x: Undefined):\n    return x\n')
    assert 'NameError' in loaded.failures[0][1]  # without the future import, as in Jupyter


def test_stdout_is_a_text_stream_over_capped_bytes():
    out = Capture()
    wrapped = io.TextIOWrapper(out.buffer, encoding='utf-8', line_buffering=True)
    wrapped.write('a → b\n')
    out.buffer.write('ü\n'.encode())
    out.write('x' * OUTPUT_CAP)
    assert out.encoding == 'utf-8'
    with pytest.raises(io.UnsupportedOperation):
        out.fileno()
    text = out.take()
    assert text.startswith('a → b\nü\nxxx') and text.endswith('more bytes not kept]')
    assert out.take() == ''


def _find(*classes, names=('Value',), failures=(), module=None):
    """``Loaded.find`` on classes the submission defines (and any imported ones bound by name)."""
    loaded = Loaded(module=module)
    ns = {}
    for cls in classes:
        if isinstance(cls, tuple):  # (name bound, imported class)
            ns[cls[0]] = cls[1]
            continue
        ns[cls.__name__] = cls
        loaded.origins[id(cls)] = f'engine.py, line {len(ns)}'
    loaded.namespaces.append(('engine.py', ns))
    for failure in failures:
        loaded.fail(*failure)
    return loaded.find({n: n for n in names}), loaded


def _shaped(name, data='data', backward='backward'):
    """A Value-like class called ``name``: its value in ``data``, its backward as ``backward``."""
    def init(self, x, _children=()):
        setattr(self, data, x)
        self.grad, self._backward = 0.0, lambda: None
    body = {'__init__': init, '__add__': lambda self, o: self, '__mul__': lambda self, o: self,
            backward: lambda self: None, '__annotations__': {data: float}}
    return type(name, (), body)


def test_the_value_is_found_by_its_name_then_spelling_then_shape():
    class Helper:
        pass
    found, _ = _find(Helper, _shaped('Atom'), _shaped('Value'))
    assert (found['Value'].cls.__name__, found['Value'].how) == ('Value', 'name')
    found, _ = _find(Helper, _shaped('Atom'), _shaped('value'))
    assert (found['Value'].cls.__name__, found['Value'].how) == ('value', 'spelling')
    found, _ = _find(Helper, _shaped('Atom'))
    assert found['Value'].info() == {'name': 'Atom', 'origin': 'engine.py, line 2', 'how': 'shape',
                                     'similar': {}, 'attributes': {}}
    found, _ = _find(Helper, _shaped('Atom', data='val'))  # the number kept under another name
    assert (found['Value'].cls.__name__, found['Value'].how) == ('Atom', 'shape')


def test_a_role_s_name_written_out_in_words_is_its_spelling():
    """salazardenise/neural_networks' micrograd: `class MultiLayerPerceptron`, and no MLP was
    found ("no MLP class"): the network's checks, 8 points, skipped. Its initials spell the
    role's name, as `multi_layer_perceptron`'s do; the name itself is still found first."""
    class Helper:
        pass
    for name in ('MultiLayerPerceptron', 'multi_layer_perceptron'):
        found, _ = _find(Helper, _shaped('Value'), type(name, (), {}), names=('Value', 'MLP'))
        assert (found['MLP'].cls.__name__, found['MLP'].how) == (name, 'spelling')
    found, _ = _find(type('MultiLayerPerceptron', (), {}), type('mlp', (), {}), _shaped('Value'),
                     names=('Value', 'MLP'))
    assert found['MLP'].cls.__name__ == 'mlp'  # the name spelled as it is, before its words
    found, _ = _find(type('MultiLayerPerceptronBlock', (), {}), _shaped('Value'),
                     names=('Value', 'MLP'))
    assert 'MLP' not in found  # initials `mlpb`: not the role


def test_no_value_names_a_class_that_looks_like_one_or_the_failure_that_defines_it():
    class Atom(_shaped('Atom', data='val')):
        def __init__(self, xs):  # a list of numbers: no leaf holds one
            self.val, self.grad = list(xs), 0.0
    with pytest.raises(LoadError, match=r"no class named 'Value' was found; did you mean "
                                        r"`Atom` \(engine.py, line 1\)\?"):
        _find(Atom)
    with pytest.raises(LoadError, match=r"cell 3, which defines it, did not run: syntax error"):
        _find(failures=[('cell 2', 'import failed', 'import nope'),
                        ('cell 3', 'syntax error at line 9', 'import math\nclass Value:\n    x = (\n')])
    with pytest.raises(LoadError, match=r"loading went wrong first, which may be why: cell 2: "
                                        r"import failed \(and 1 more problem"):
        _find(failures=[('cell 2', 'import failed', ''), ('cell 4', 'NameError', 'x')])


def test_a_method_named_like_backward_is_reported():
    found, loaded = _find(_shaped('Value', backward='backprop'))
    assert found['Value'].similar == {'backward': 'backprop'}
    assert any('has no method backward() but has backprop()' in w for w in loaded.warnings)
    found, _ = _find(_shaped('Value', backward='back_prop'))
    assert found['Value'].similar == {'backward': 'back_prop'}


def test_an_imported_value_fails_unless_its_module_is_graded():
    from fractions import Fraction
    with pytest.raises(LoadError, match='imported from the module fractions.*--module fractions'):
        _find(('Value', Fraction))
    found, _ = _find(('Value', Fraction), module='fractions')
    assert found['Value'].cls is Fraction

    class Value(Fraction):  # written in the submission, its arithmetic borrowed
        pass
    with pytest.raises(LoadError, match='a subclass of Fraction, imported from the module fractions'):
        _find(Value)

    class Value(float):  # its own arithmetic on a float
        __add__, __mul__ = float.__add__, float.__mul__
        grad = 0.0

        def backward(self):
            pass
    assert _find(Value)[0]['Value'].cls is Value


def test_zip_cannot_escape_its_folder(tmp_path):
    archive = tmp_path / 'evil.zip'
    with zipfile.ZipFile(archive, 'w') as z:
        z.writestr('../../escaped.py', 'x = 1')
        z.writestr('/abs.py', 'x = 1')
        z.writestr('__MACOSX/junk', 'x')
        z.writestr('ok/engine.py', 'x = 1')
    top = extract(str(archive), str(tmp_path / 'out'))
    assert top == ['abs.py', 'ok']  # '..' entries are dropped, absolute ones made relative
    assert not (tmp_path / 'escaped.py').exists() and not (tmp_path.parent / 'escaped.py').exists()


def test_not_a_zip_is_a_load_error(tmp_path):
    bad = tmp_path / 'x.zip'
    bad.write_bytes(b'PK\x03\x04 not really')
    try:
        extract(str(bad), str(tmp_path / 'out'))
    except LoadError as e:
        assert 'zip' in str(e)
    else:
        raise AssertionError('no LoadError')


def _notebook(path, cells):
    path.write_text(json.dumps({'nbformat': 4, 'nbformat_minor': 5, 'metadata': {}, 'cells': [
        {'cell_type': 'code', 'metadata': {}, 'outputs': [], 'execution_count': None,
         'source': c} for c in cells]}))
    return path


def test_hanging_cell_is_skipped_and_grading_goes_on(run_cli, tmp_path):
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    nb = _notebook(tmp_path / 'nb.ipynb', ['import time\nwhile True:\n    time.sleep(0.01)\n',
                                            engine, 'print("after")'])
    result = run_cli('grade', nb, '--profile', 'quick', '--cell-timeout', '1', '--json',
                     tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 0, result.stdout
    assert any("cell 1: ran past the cell's 1 s limit" in w for w in report['load_warnings'])
    assert report['classes']['Value'].startswith('cell 2')


def test_a_training_cell_past_the_load_time_is_cut_and_grading_goes_on(run_cli, tmp_path):
    """A last cell that trains for longer than the load time, each cell within its own limit.
    Before: the cells' budget, once run out, read as "due now" to the cell's watchdog, a moment
    later than its own "now": it spun instead of stopping the cell, which ran to its own limit,
    and the grader's wait for the load timed out first ("loading timed out after 2 s", 0/51 for
    a correct engine)."""
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    train = 'import time\nstarted = time.process_time()\n' \
        'while time.process_time() - started < 20:\n    pass\n'
    nb = _notebook(tmp_path / 'nb.ipynb', [engine, train, 'print("after")'])
    result = run_cli('grade', nb, '--profile', 'quick', '--load-timeout', '2', '--cell-timeout',
                     '30', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 0, result.stdout
    assert report['score'] == report['max_score'], report['checks'][0]
    assert report['load_warnings'][0].startswith("cell 2: ran past the notebook's load time"), \
        report['load_warnings']


def test_last_definition_wins_and_its_cell_is_reported(run_cli, tmp_path):
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    broken = engine.replace('self.grad += other.data * out.grad', 'self.grad = other.data * out.grad')
    nb = _notebook(tmp_path / 'nb.ipynb', [engine, broken])
    result = run_cli('grade', nb, '--profile', 'quick', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 1
    assert report['classes']['Value'].startswith('cell 2')


def test_the_readme_s_self_check_is_neither_run_nor_said_when_grading(run_cli, tmp_path):
    """A notebook that carries the README's self-check (its install and its cell) had three load
    warnings: "%pip is not run", "import failed (No module named 'micrograde')" and a NameError
    of `check` (the grader's own package is never importable while grading). The self-check
    previews this very grade: it is not run and not said; a name the notebook binds again is
    its own."""
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    nb = _notebook(tmp_path / 'nb.ipynb', [
        '%pip install "micrograde @ git+https://github.com/YOUR-COURSE/micrograde"', engine,
        'from micrograde import check\nresult = check(Value)\nprint(result.passed)',
        '!pip install micrograde',
        'def check(x):\n    return x\nassert check(2) == 2, "the notebook\'s own check"',
        '%pip install numpy-not-here'])
    result = run_cli('grade', nb, '--profile', 'quick', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 0, result.stdout
    assert report['load_warnings'] == ['cell 6: %pip is not run when grading.']


def test_a_folder_says_which_notebook_it_graded_and_which_it_did_not_run(run_cli, tmp_path):
    """A folder with two notebooks said "2 notebooks found; graded b.ipynb." (not why, nor the
    other's name), and a folder with a module beside a notebook ran none of the notebook and
    said nothing: "no class named 'Value' was found". Each notebook not run is named, with why
    and what to do."""
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    two, mixed = tmp_path / 'two', tmp_path / 'mixed'
    two.mkdir(), mixed.mkdir()
    _notebook(two / 'homework.ipynb', [engine]), _notebook(two / 'scratch.ipynb', [engine])
    _notebook(mixed / 'homework.ipynb', [engine])
    (mixed / 'utils.py').write_text('def helper(x):\n    return x\n')
    said = {}
    for folder in (two, mixed):
        run_cli('grade', folder, '--profile', 'quick', '--json', tmp_path / f'{folder.name}.json')
        said[folder.name] = json.loads((tmp_path / f'{folder.name}.json').read_text())['load_warnings']
    assert said['two'] == ['2 notebooks found; graded scratch.ipynb, the last by name, not '
                           'homework.ipynb: hand in only the notebook to grade, or grade it by its path.']
    assert said['mixed'] == ['homework.ipynb not run: a folder that holds .py modules is graded by '
                             'its modules (utils.py); to grade a notebook, grade it by its path.']


def test_a_script_that_runs_the_self_check_is_told_what_to_do(run_cli, tmp_path):
    """A .py engine ending in the README's self-check failed load 0/51 with "imports
    'micrograde', which is not installed for grading; ... ask your course staff to add the
    module": staff cannot (micrograde is never importable while grading). It says what it is."""
    engine = tmp_path / 'engine.py'
    engine.write_text((SUBMISSIONS / 'lecture_engine.py').read_text()
                      + '\nfrom micrograde import check\ncheck(Value, MLP=MLP)\n')
    run_cli('grade', engine, '--profile', 'quick', '--json', tmp_path / 'r.json')
    load = json.loads((tmp_path / 'r.json').read_text())['checks'][0]['message']
    assert 'the self-check, which grading does not run' in load and 'course staff' not in load
    assert "imports 'micrograde', which is not installed for grading" in load
    assert "if __name__ == '__main__':" in load


def test_slow_cells_cannot_cost_the_whole_load(run_cli, tmp_path):
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    slow = 'import time\nwhile True:\n    time.sleep(0.01)\n'
    nb = _notebook(tmp_path / 'nb.ipynb', [engine] + [slow] * 6)
    result = run_cli('grade', nb, '--profile', 'quick', '--cell-timeout', '2', '--load-timeout',
                     '5', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 0, result.stdout
    assert any('were not run' in w for w in report['load_warnings']), report['load_warnings']


def test_messages_show_no_path_of_the_graders():
    from micrograde.model.redact import grader_paths, redact
    paths = grader_paths('/var/scratch-x')
    venv_file = f'{sys.prefix}/lib/python3/site-packages/numpy/core.py'
    text = (f"No such file: '/submission/hw/moons.csv' (engine.py, line 3); {venv_file}, line 9; "
            f"/var/scratch-x/unzipped/nn.py; 3 / 4; a/b")
    assert redact(text, paths) == ("No such file: 'moons.csv' (engine.py, line 3); core.py, "
                                   "line 9; nn.py; 3 / 4; a/b")


def test_notebooks_are_found_in_folders_and_zips_but_not_through_links(tmp_path):
    from micrograde.load.cells import notebook_cells
    folder = tmp_path / 'hw'
    folder.mkdir()
    nb = _notebook(folder / 'a.ipynb', ['x = 1  # why?\n%time y = 2'])
    secret = _notebook(tmp_path / 'secret.ipynb', ['password = 1'])
    (folder / 'link.ipynb').symlink_to(secret)
    cells = notebook_cells(str(folder))
    assert list(cells.values()) == [{'1': "x = 1  # why?\nget_ipython().run_line_magic('time', 'y = 2')\n"}]
    with zipfile.ZipFile(tmp_path / 'hw.zip', 'w') as z:
        z.write(nb, 'hw/a.ipynb')
    assert notebook_cells(str(tmp_path / 'hw.zip')) == cells


def test_lines_are_numbered_as_the_learner_sees_the_cell():
    ns, loaded = _run('\n  \nclass A:\n    def f(self):\n        pass\nimport math\nmath.nope()',
                      '\n    import math\n    math.nope()',
                      '%%time\n\nimport math\nmath.nope()')
    assert loaded.origins[id(ns['A'])] == 'cell 1, line 3'
    assert methods(ns['A'], None) == {'f': {'file': 'cell 1', 'line': 4, 'rule': False}}
    assert [f[1][-17:] for f in loaded.failures] == ['(cell 1, line 7).', '(cell 2, line 3).',
                                                     '(cell 3, line 4).']


def _notebook_v3(path, *sheets):
    """A format 3 notebook: worksheets of cells, a code cell's source in ``input``."""
    path.write_text(json.dumps({'nbformat': 3, 'nbformat_minor': 0, 'metadata': {}, 'worksheets': [
        {'metadata': {}, 'cells': [{'cell_type': 'code', 'language': 'python', 'input': c,
                                    'outputs': [], 'metadata': {}} if isinstance(c, list) else
                                   {'cell_type': 'heading', 'level': 1, 'source': c}
                                   for c in cells]} for cells in sheets]}))
    return path


def test_format_3_notebooks_are_read_as_jupyter_upgrades_them(tmp_path):
    from micrograde.load.cells import notebook_cells
    nb = _notebook_v3(tmp_path / 'old.ipynb', ['Title', ['%matplotlib inline\n', 'x = 1']],
                      [['y = 2']])
    assert cells_of(nb.read_text(), 'old.ipynb') == [(2, '%matplotlib inline\nx = 1'), (3, 'y = 2')]
    assert list(notebook_cells(str(nb)).values()) == [
        {'2': "get_ipython().run_line_magic('matplotlib', 'inline')\nx = 1\n", '3': 'y = 2\n'}]
    with pytest.raises(LoadError, match='old.ipynb is notebook format 2; only formats 3 and 4'):
        cells_of(json.dumps({'nbformat': 2, 'worksheets': []}), 'old.ipynb')


def test_outputs_do_not_count_towards_the_limit_on_code(tmp_path, monkeypatch):
    from micrograde.load.cells import notebook_cells
    nb = json.loads(_notebook(tmp_path / 'nb.ipynb', ['%matplotlib inline\nx = 1']).read_text())
    nb['cells'][0]['outputs'] = [{'output_type': 'stream', 'name': 'stdout',
                                  'text': '.' * 21 * 2**20}]
    (tmp_path / 'nb.ipynb').write_text(json.dumps(nb))
    assert list(notebook_cells(str(tmp_path / 'nb.ipynb')).values()) == [
        {'1': "get_ipython().run_line_magic('matplotlib', 'inline')\nx = 1\n"}]
    monkeypatch.setattr(notebooks, 'MAX_SOURCE', 10)
    assert notebook_cells(str(tmp_path / 'nb.ipynb')) == {}
    with pytest.raises(LoadError, match=r'nb.ipynb holds 0.0 MiB of code in its cells, over the'):
        notebooks.load_notebook(str(tmp_path / 'nb.ipynb'), Loaded(), 5)
    monkeypatch.setattr(notebooks, 'MAX_FILE', 2**20)
    with pytest.raises(LoadError, match=r'nb.ipynb is 21 MiB, over the 1 MiB a notebook may be: '
                                        r'clear its outputs'):
        notebooks.load_notebook(str(tmp_path / 'nb.ipynb'), Loaded(), 5)


def test_cells_not_transformed_say_why(tmp_path):
    loaded = Loaded()
    notebooks.load_notebook(str(_notebook(tmp_path / 'nb.ipynb', ['x = 1'])), loaded, 5)
    assert loaded.warnings == ['nb.ipynb: cells run as written (IPython syntax such as %magics is '
                               'not understood): the grader transforms at most 20 notebooks, with '
                               '32 MiB of code in all, of a submission.']



@pytest.fixture
def tokenized(monkeypatch):
    """The size in characters of each cell IPython's transformer tokenizes (its one costly step)."""
    from IPython.core import inputtransformer2

    from micrograde.load import cells
    cells._remembered.cache_clear()
    sizes, tokens = [], inputtransformer2.make_tokens_by_line
    monkeypatch.setattr(inputtransformer2, 'make_tokens_by_line',
                        lambda lines: sizes.append(sum(map(len, lines))) or tokens(lines))
    yield sizes
    cells._remembered.cache_clear()


def test_a_cell_without_ipython_syntax_is_not_tokenized(tokenized):
    plain = 'class Value:\n    """x, y -> x // y"""\n    def f(self, a, b):\n        return a[1:]\n'
    assert transform(plain) == (plain, 0) and tokenized == []
    assert transform('x = 7 % 4\n!ls').python == "x = 7 % 4\nget_ipython().system('ls')\n"
    assert len(tokenized) == 2  # once per escape, and once to see that none is left


def test_ipython_is_bounded_per_cell_and_the_load_fails_naming_the_cell(tokenized, tmp_path,
                                                                        monkeypatch):
    """IPython tokenizes a whole cell again for each escape it rewrites (its size times its
    escapes): it stops before ``CELL_WORK`` characters, and the load fails saying which cell."""
    from micrograde.load import cells
    monkeypatch.setattr(cells, 'CELL_WORK', 4000)
    hostile = '!x\n' * 30 + 'y = 1\n' * 100  # 30 escapes, 700 characters: 21,700 to tokenize
    nb = _notebook(tmp_path / 'nb.ipynb', ['z = 1', '%matplotlib inline\nw = 2', hostile])
    with pytest.raises(LoadError) as refused:
        cells.notebook_cells(str(nb))
    assert str(refused.value) == (
        'nb.ipynb, cell 3: IPython reads a cell again for each line of IPython syntax in it (!, %, '
        '?), and for this cell, its 690 characters are more than the grader transforms. Split it '
        'into smaller cells, or write those lines as plain Python.')
    assert sum(tokenized) <= 4000 + 2 * len('%matplotlib inline\nw = 2\n')


def test_ipython_is_bounded_for_all_of_a_submissions_notebooks(tokenized, tmp_path, monkeypatch):
    from micrograde.load import cells
    monkeypatch.setattr(cells, 'WORK', 5000)
    folder = tmp_path / 'hw'
    folder.mkdir()
    for name in ('a', 'b'):  # each cell is within its own bound, not all of them
        _notebook(folder / f'{name}.ipynb', [f'!echo {name}{n}\n' + 'y = 1\n' * 100 for n in range(3)])
    with pytest.raises(LoadError, match=r"^b.ipynb, cell 2: .* and for this cell, with the "
                                        r"notebooks' cells before it, more than the grader"):
        cells.notebook_cells(str(folder))
    assert len(tokenized) == 2 * 5  # two passes a cell (1,241 characters), none after b's cell 2


def test_a_cell_past_the_bound_is_a_load_error_in_the_report(run_cli, tmp_path, monkeypatch):
    from micrograde.load import cells
    monkeypatch.setattr(cells, 'CELL_WORK', 1000)
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    nb = _notebook(tmp_path / 'nb.ipynb', [engine, '!x\n' * 20 + 'y = 1\n' * 50])
    result = run_cli('grade', nb, '--profile', 'quick', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 1 and 'Traceback' not in result.stderr, result.stderr
    assert report['checks'][0]['status'] == 'failed', report['checks'][0]
    assert report['checks'][0]['message'].startswith('nb.ipynb, cell 2: IPython reads a cell again')


def _forged(path, entries, declared=None, flags=0):
    """A zip of ``entries`` (name, text) whose headers declare each file ``declared`` bytes
    (its real size if None) and carry ``flags`` (1: encrypted)."""
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        for name, text in entries:
            z.writestr(name, text)
    raw = bytearray(path.read_bytes())
    for signature, flag_at, size_at in ((b'PK\x03\x04', 6, 22), (b'PK\x01\x02', 8, 24)):
        at = raw.find(signature)
        while at >= 0:
            raw[at + flag_at] |= flags
            if declared is not None:
                raw[at + size_at:at + size_at + 4] = declared.to_bytes(4, 'little')
            at = raw.find(signature, at + 1)
    path.write_bytes(bytes(raw))
    return path


def test_a_zips_notebooks_are_read_only_within_its_declared_sizes(tmp_path, monkeypatch):
    """The grader reads a zip's notebooks only if the sum of the sizes its headers declare is
    within what the worker unpacks (nothing is inflated otherwise), each up to its declared size;
    an entry it cannot read is left to the worker to refuse, never a grader's traceback."""
    from micrograde.load.cells import notebook_cells
    from micrograde.worker.load import archives
    nb = _notebook(tmp_path / 'a.ipynb', ['x = 1']).read_text()
    entries = [(f'{n}.ipynb', nb) for n in 'ab']
    inflated = []
    read = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, 'read', lambda f, n=-1: inflated.append(
        len(data := read(f, n))) or data)
    assert len(notebook_cells(str(_forged(tmp_path / 'ok.zip', entries)))) == 1  # the same twice
    monkeypatch.setattr(archives, 'ZIP_LIMIT', 2 * len(nb) - 1)
    inflated.clear()
    assert notebook_cells(str(_forged(tmp_path / 'big.zip', entries))) == {} and inflated == []
    monkeypatch.undo()
    assert notebook_cells(str(_forged(tmp_path / 'lies.zip', entries, declared=10))) == {}
    assert notebook_cells(str(_forged(tmp_path / 'locked.zip', entries, flags=1))) == {}
    with pytest.raises(LoadError, match=r'big.zip is too large to grade \(over 10000 files or 200 MB'):
        extract(str(_forged(tmp_path / 'big.zip', entries, declared=101 * 2**20)), tmp_path / 'x')

VALUE = ('class Value:\n    def __init__(self, data):\n        self.data, self.grad = data, 0.0\n'
         '    def __add__(self, o):\n        return self\n    __mul__ = __add__\n'
         '    def backward(self):\n        pass\n')


def test_a_class_replaced_by_an_import_that_failed_is_not_graded():
    ns, loaded = _run(VALUE, 'class MLP:\n    pass', 'import math\nfrom mygrad.engine import Value',
                      'from mygrad import nn as MLP')
    with pytest.raises(LoadError, match=r"^the Value of cell 1, line 1 is not graded, as the "
                                        r"notebook replaces it: cell 3, line 2 imports it \(`from "
                                        r"mygrad.engine import Value`\), and that import failed "
                                        r"\(No module named 'mygrad'\). Grade the folder that holds "
                                        r"the module mygrad instead of the notebook.$"):
        loaded.find({'Value': 'Value'})
    ns, loaded = _run(VALUE, 'class MLP:\n    pass', 'from mygrad.nn import MLP', VALUE)
    found = loaded.find({'Value': 'Value', 'MLP': 'MLP'})
    assert found['Value'].origin == 'cell 4, line 1' and 'MLP' not in found
    assert loaded.warnings[-1].startswith('MLP: the MLP of cell 2, line 1 is not graded, as the '
                                          'notebook replaces it: cell 3, line 1 imports it')


def test_a_missing_value_names_the_import_that_failed_to_bring_it():
    ns, loaded = _run('import nn_of_mine\nfrom engine_of_mine import Value as Value, exp', 'x = 1')
    with pytest.raises(LoadError, match=r"^no class named 'Value' was found: cell 1, line 2 imports "
                                        r"it \(`from engine_of_mine import Value as Value, exp`\)"):
        loaded.find({'Value': 'Value'})


def test_reproduce_repeats_every_grading_option(run_cli):
    result = run_cli('grade', SUBMISSIONS / 'broken' / 'no_value.py', '--profile', 'quick',
                     '--class', 'Neuron=Unit', '--check-timeout', '7', '--seed', '3', '--no-color')
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1].endswith(
        'no_value.py --seed 3 --profile quick --class Neuron=Unit --check-timeout 7.0'), result.stdout


def _run_autograder():
    """examples/gradescope/run_autograder as a module (its functions, not its main)."""
    import importlib.machinery
    import importlib.util
    path = str(ROOT / 'examples' / 'gradescope' / 'run_autograder')
    loader = importlib.machinery.SourceFileLoader('run_autograder', path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def test_a_new_format_is_one_row_the_loader_batch_and_gradescope_read(tmp_path, monkeypatch):
    """A course whose learners hand in `.pyw` files (Python on Windows): one row of
    ``formats.FORMATS`` and the batch, the Gradescope script and the loader take them."""
    from micrograde.surfaces import batch
    from micrograde.worker.load import formats, load
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / 'engine.pyw').write_text((SUBMISSIONS / 'lecture_engine.py').read_text())
    (folder / 'notes.txt').write_text('not a submission')
    gradescope = _run_autograder()
    before = [i for i, _ in batch.discover([folder], tmp_path / 'unpacked').submissions]
    assert before == [] and gradescope.candidates(folder, formats) == []
    monkeypatch.setattr(formats, 'FORMATS', (*formats.FORMATS,
                                             formats.Format('.pyw', formats.Kind.MODULE, '.pyw file')))
    assert [i for i, _ in batch.discover([folder], tmp_path / 'unpacked').submissions] == ['engine.pyw']
    assert gradescope.pick(folder, formats) == folder / 'engine.pyw'
    assert formats.kind(str(folder / 'engine.pyw'), b'"""') is formats.Kind.MODULE
    loaded = load(str(folder / 'engine.pyw'), scratch=str(tmp_path))
    assert loaded.find({'Value': 'Value'})['Value'].cls.__name__ == 'Value'


def test_each_format_is_loaded_by_its_kind_whatever_else_its_name_says(tmp_path):
    """A zip is a zip by its content too, a notebook by its JSON; a name no format has is
    Python source (the loader then says what is wrong with it)."""
    from micrograde.worker.load import formats
    zipped = tmp_path / 'engine.py'
    with zipfile.ZipFile(zipped, 'w') as z:
        z.writestr('engine.py', 'x = 1')
    assert formats.kind(str(zipped), zipped.read_bytes()[:4096]) is formats.Kind.ARCHIVE
    assert formats.kind(str(tmp_path / 'a.txt'), b' {"cells": []}') is formats.Kind.NOTEBOOK
    assert formats.kind(str(tmp_path / 'a.txt'), b'class Value:') is formats.Kind.MODULE
    assert formats.kind(str(tmp_path), b'') is formats.Kind.FOLDER
    assert formats.suffixes() == ('.ipynb', '.py', '.zip')  # Gradescope's order of preference
    assert [formats.holds(n) for n in ('a.py', 'b.IPYNB', 'c.zip', 'd.txt')] == [True, True, False, False]


#: Python 3.12's f-strings (PEP 701) that one quote swap makes Python 3.11's: (source, what a
#: 3.12 evaluates ``out`` to, with ``x = ''`` and ``d = {'k': 7}``)
REQUOTABLE = {
    'reused': ("""out = f'{x or 'Value'}'""", 'Value'),  # the NYU course's notebooks
    'double': ('''out = f"{d["k"]}!"''', '7!'),
    'spec': ("""out = f'{d['k']:>{d['k'] - 4}}'""", '  7'),
    'nested': ("""out = f'{f"<{d['k']}>"}'""", None),  # a 3.12 f-string inside: no swap reads it
    'escapes': (r"""out = f'\N{BULLET} {x or 'V'} {{braces}}'""", '\N{BULLET} V {braces}'),
    'two': ("""out = (f'{x or 'a'}'  # 'f'{'\n       f'{x or 'b'}')""", 'ab'),
    # the other quote in it too: the string in its braces takes it instead (tostacam/minigrad)
    'inner': ('''out = f"<{f" -> {len(d)}" if d else ''}>"''', '< -> 1>'),
    'inner_escaped': ("out = f'{x or 'Value'} said \"hi\"'", 'Value said "hi"'),
}


@pytest.mark.skipif(sys.version_info >= (3, 12), reason='grading runs Python 3.12: nothing to do')
@pytest.mark.parametrize('name', sorted(REQUOTABLE))
def test_an_f_string_of_python_3_12_is_read_with_the_other_quote(name):
    """Only the f-string's own two quotes change, so every line and column stays the learner's;
    what the f-string makes is what Python 3.12 makes of it."""
    from micrograde.worker.load.fstrings import requoted
    source, value = REQUOTABLE[name]
    with pytest.raises(SyntaxError):
        compile(source, 'cell', 'exec')
    again = requoted(source)
    if value is None:  # the inner f-string reuses its quote: three quote kinds would be needed
        assert again is None or _fails(again[0])
        return
    text, lines = again
    assert len(text) == len(source) and sum(a != b for a, b in zip(text, source)) == 2 * len(lines)
    ns = {'x': '', 'd': {'k': 7}}
    exec(text, ns)
    assert ns['out'] == value


def _fails(text):
    try:
        compile(text, 'cell', 'exec')
    except SyntaxError:
        return True
    return False


@pytest.mark.parametrize('source', [
    "out = f'{x or 'say \"hi\"'}'",  # the other quote in the string that reuses one
    "out = f'{x or '\\n'}'",  # a backslash in its braces
    "out = 'plain' + f'{x}' + \"'\"",  # nothing of 3.12's
    "elif'x'",  # an identifier's last letter is no prefix
])
def test_what_no_quote_swap_reads_is_left_as_the_learner_wrote_it(source):
    from micrograde.worker.load.fstrings import requoted
    again = requoted(source)
    assert again is None or _fails(again[0])


@pytest.mark.skipif(sys.version_info >= (3, 12), reason='grading runs Python 3.12: nothing to say')
def test_python_3_12_syntax_is_read_where_it_can_be_and_said_where_not(tmp_path):
    """The NYU course's notebooks (Atcold/NYU-DLFL25U-micrograd, saved by Python 3.12.12) write
    f'{self.label or 'Value'}': valid from 3.12 (PEP 701), a syntax error on 3.11, read with the
    other quote (the load says so); one that needs more than that is said to be valid from 3.12."""
    nested = "class Value:\n    def __repr__(self):\n        return f'{self.label or 'Value'}'\n"
    backslash = "class Value:\n    def __repr__(self):\n        return f'{self.label or '\\n'}'\n"
    ns, loaded = _run(nested, backslash, "bad = f'{x'\n")
    assert loaded.warnings[0] == ("cell 1: line 3: an f-string that reuses its quote inside its "
                                  "braces (valid from Python 3.12) was read with the other quote, "
                                  "as the Python 3.11 that grades needs; nothing else was changed.")
    assert 'valid from Python 3.12' in loaded.failures[0][1], loaded.failures
    assert 'Python 3.12' not in loaded.failures[1][1]  # a broken f-string on any Python
    script = tmp_path / 'engine.py'
    script.write_text(nested + 'v = Value()\nv.label = ""\n')
    loaded = Loaded()
    load_file(str(script), loaded)
    assert repr(loaded.namespaces[0][1]['v']) == 'Value' and 'line 3: an f-string' in loaded.warnings[0]
    loaded.root, loaded.submission = str(tmp_path), str(script)
    assert loaded.find({'Value': 'Value'})['Value'].origin == 'engine.py, line 1'  # inspect
    # parses the whole file to find a class: it reads the file as re-quoted
    script.write_text(backslash)
    with pytest.raises(LoadError, match='valid from Python 3.12.*grading runs Python 3.11'):
        load_file(str(script), Loaded())
    notebook = tmp_path / 'nb.ipynb'
    notebook.write_text(json.dumps({
        'nbformat': 4, 'nbformat_minor': 5, 'cells': [{'cell_type': 'code', 'source': 'type X = int'}],
        'metadata': {'language_info': {'name': 'python', 'version': '3.12.12'}}}))
    loaded = Loaded()
    notebooks.load_notebook(str(notebook), loaded, 5)
    assert 'valid from Python 3.12 (the notebook was saved by Python 3.12.12), but grading runs ' \
        'Python 3.11' in loaded.failures[0][1], loaded.failures


@pytest.mark.skipif(sys.version_info >= (3, 12), reason='grading runs Python 3.12: nothing to do')
@pytest.mark.parametrize('layout', ['file', 'package', 'folder'])
def test_a_correct_engine_written_for_python_3_12_passes_however_it_is_handed_in(tmp_path, layout):
    """The lecture's engine with its __repr__ as Python 3.12 lets one write it: as a .py, as a
    package's module, as a module of a folder."""
    source = (SUBMISSIONS / 'lecture_engine.py').read_text()
    line = 'return f"Value(data={self.data})"'
    assert line in source
    engine = source.replace(line, """return f'Value({getattr(self, 'label', 'v')}, data={self.data})'""")
    folder = tmp_path / 'engine'
    folder.mkdir()
    (folder / 'engine.py').write_text(engine)
    graded, where = {'file': (folder / 'engine.py', 'engine.py'),
                     'package': (folder, 'engine/engine.py'),
                     'folder': (folder, 'engine/engine.py')}[layout]
    if layout == 'package':
        (folder / '__init__.py').write_text('from .engine import Value, MLP\n')
    result = in_process('grade', graded, '--profile', 'quick', '--no-color',
                        '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert (result.returncode, report['verdict']) == (0, 'passed'), result.stdout
    assert f'{where}: line 16: an f-string that reuses its quote' in result.stdout, result.stdout


def test_a_package_s_stub_value_is_not_graded_before_its_engine_s(tmp_path):
    """tomstagg/nn-zero-to-hero's micrograd/__init__.py holds a 4-line Value its notebooks
    never use; they import micrograd.engine's. The stub came first in import order and the
    folder got 0/51; of several classes named Value, one shaped like a Value is graded."""
    package = tmp_path / 'grads'
    package.mkdir()
    (package / '__init__.py').write_text('class Value:\n    def __init__(self, data, _op=""):\n'
                                         '        self.data = data\n        self.op = _op\n')
    shutil.copy(SUBMISSIONS / 'lecture_engine.py', package / 'engine.py')
    loaded = load(str(package), scratch=str(tmp_path))
    assert loaded.find({'Value': 'Value'})['Value'].origin == 'grads/engine.py, line 5'


def test_a_package_module_importing_its_sibling_by_bare_name_says_how_to_import_it(tmp_path):
    """tdizhere/smolgrad's smolgrad/nn.py says `from engine import Value`, engine.py beside it:
    right when run from inside that folder, not when imported as the package. The load said
    'engine' is not installed for grading: it is the submission's own, and how to import it
    from there is the fix."""
    package = tmp_path / 'repository' / 'smolgrad'
    shutil.copytree(SUBMISSIONS / 'micrograd', package)
    for module in ('__init__.py', 'nn.py'):
        path = package / module
        path.write_text(path.read_text().replace('from micrograd.engine import', 'from engine import'))
    in_process('grade', package.parent, '--profile', 'quick', '--no-color', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    said = report['checks'][0]['message']
    assert "imports 'engine' as a module of its own" in said and 'smolgrad/engine.py of the ' \
        'package smolgrad' in said and '`from .engine import ...`, or as `smolgrad.engine`' in said, said
    assert 'not installed' not in said, said


def test_a_folder_importing_its_subpackage_util_util_is_a_folder_of_modules(tmp_path):
    """ItsRikan/NanoGrad's repository root holds engine.py saying `from util.util import
    fix_dim` and a package util/ holding util.py: the folder's modules import its subpackage
    `util`, as they do run from the root. The loader took `util.util` for the folder importing
    itself under the name `util` (as micrograd/ says `from micrograd.engine import`), imported
    the root as a package named util, and `util.util` became util/__init__.py: every module
    failed on the import and no Value was found."""
    root = tmp_path / 'NanoGrad'  # names no other test imports: this process keeps modules
    (root / 'nanoutil').mkdir(parents=True)
    (root / 'nanoutil' / '__init__.py').write_text('')
    (root / 'nanoutil' / 'nanoutil.py').write_text('def fix_dim(x):\n    return x\n')
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    (root / 'nanoengine.py').write_text('from nanoutil.nanoutil import fix_dim\n' + engine)
    loaded = load(str(root), scratch=str(tmp_path))
    assert loaded.find({'Value': 'Value'})['Value'].origin == 'NanoGrad/nanoengine.py, line 6'
    assert not loaded.warnings, loaded.warnings


def test_a_download_at_import_says_grading_is_offline():
    """Karpathy's microgpt downloads input.txt when it is not beside it: grading has no network."""
    import urllib.error
    from micrograde.worker.load.errors import explain
    try:
        raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')
    except urllib.error.URLError as e:
        said = explain(e, 'microgpt.py')
    assert said.startswith('URLError: <urlopen error [Errno -3]') and 'grading has no network' in said


@pytest.mark.parametrize('via', ['grade', 'batch'])
def test_a_notebook_of_more_json_values_than_it_may_hold_is_refused_before_it_is_decoded(
        via, run_cli, tmp_path):
    """Decoding builds an object per JSON value: 100 MiB of ``[],`` in a saved output would
    take ~2.5 GB of the grader's memory (a batch's grading process killed, the batch lost)."""
    nb = json.loads((SUBMISSIONS / 'lecture_notebook.ipynb').read_text())
    nb['cells'][0].setdefault('outputs', []).append(
        {'output_type': 'execute_result', 'execution_count': 1, 'metadata': {},
         'data': {'application/json': 'PAYLOAD'}})
    folder = tmp_path / 'class'
    folder.mkdir()
    text = json.dumps(nb).replace('"PAYLOAD"', '[' + '[],' * notebooks.MAX_VALUES + '[]]')
    (folder / 'big.ipynb').write_text(text)
    out = tmp_path / 'out'
    if via == 'grade':
        run_cli('grade', folder / 'big.ipynb', '--out', out)
    else:
        run_cli('batch', folder, '--out', out, '-j', '2')
        out = out / 'big.ipynb'
    load = json.loads((out / 'report.json').read_text())['checks'][0]
    assert load['id'] == 'load' and load['status'] == 'failed'
    assert f'more than a notebook graded may ({notebooks.MAX_VALUES:,})' in load['message']


def test_a_zip_listing_more_entries_than_allowed_is_refused_before_they_are_read(
        tmp_path, monkeypatch):
    """``zipfile`` makes an object of every entry its central directory lists (~0.5 KB each):
    the count in the zip's end record is checked first, by the worker and by the grader."""
    import zipfile

    from micrograde.load.cells import notebook_cells
    from micrograde.worker.load import archives
    path = tmp_path / 'many.zip'
    with zipfile.ZipFile(path, 'w') as z:
        for k in range(archives.ZIP_FILES + 1):
            z.writestr(f'f{k}.txt', '')
    read = []
    real = zipfile.ZipFile._RealGetContents
    monkeypatch.setattr(zipfile.ZipFile, '_RealGetContents',
                        lambda self: read.append(self) or real(self))
    with pytest.raises(LoadError, match=r'many.zip is too large to grade \(over 10000 files'):
        archives.extract(str(path), tmp_path / 'x')
    assert notebook_cells(str(path)) == {} and read == []


def _deep(folder, depth=1500):
    """A folder ``depth`` deep under ``folder``, made a level at a time (its path may be longer
    than a system call takes)."""
    here = os.getcwd()
    os.chdir(folder)
    try:
        for _ in range(depth):
            os.mkdir('d')
            os.chdir('d')
        with open('x.py', 'w') as f:
            f.write('x = 1\n')
    finally:
        os.chdir(here)


@pytest.mark.parametrize('via', ['grade', 'batch'])
def test_a_folder_nested_too_deep_is_refused_with_a_load_error(via, tmp_path):
    """A submission folder 1500 deep: the grader's removal of its copy recursed past Python's
    limit ("micrograde itself failed ... RecursionError"); now refused before it is copied."""
    sub = tmp_path / 'class' / 'deep'
    sub.mkdir(parents=True)
    (sub / 'engine.py').write_text(hostile_engine())
    _deep(sub)
    out = tmp_path / 'out'
    try:
        if via == 'grade':
            in_process('grade', sub, '--profile', 'quick', '--out', out)
        else:
            in_process('batch', sub.parent, '--profile', 'quick', '--out', out, '-j', '2')
            out = out / 'deep'
    finally:
        tree.remove(sub)  # pytest's own clean-up of old temporary folders is shutil.rmtree
    load = json.loads((out / 'report.json').read_text())['checks'][0]
    assert load['id'] == 'load' and load['status'] == 'failed', load
    assert load['message'].startswith('deep nests folders more than 64 deep'), load['message']


def test_a_scratch_folder_deeper_than_pythons_recursion_is_removed(tmp_path):
    """What a worker leaves in its scratch (landlock and process levels write it on the host):
    shutil.rmtree raised RecursionError, which ignore_errors lets through."""
    _deep(tmp_path, depth=sys.getrecursionlimit() + 200)
    tree.remove(tmp_path)
    assert not tmp_path.exists()


def _keyed(*cells):
    """``_run`` with torch and micrograd kept out of reach, as a rubric's answer keys."""
    return _run(*cells, answer_keys=('torch', 'micrograd'))


def test_a_name_the_notebook_binds_again_is_its_own_not_the_answer_keys():
    """tomstagg/nn-zero-to-hero's refresher.ipynb: `from micrograd.engine import Value` (skipped),
    then its own `class Value` whose methods say `Value(...)`: that class is the learner's, and
    so are the cells that use it after (was: the class skipped as a use of micrograd, 0/51)."""
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    ns, loaded = _keyed('from micrograd.engine import Value\nimport torch',
                        'a = Value(2.0)',
                        engine + '\nb = Value(3.0) * 2',
                        'c = Value(1.0) + b\nt = torch.tensor([1.0])\nd = 1')
    assert ns['b'].data == 6.0 and ns['c'].data == 7.0 and 'd' not in ns
    assert 'a' not in ns and [w.split(':')[0] for w in loaded.warnings] == [
        'cell 1, line 1', 'cell 2, line 1', 'cell 4, line 2'], loaded.warnings


@pytest.mark.parametrize('cell', ['class Value(Value):\n    pass',
                                  'class Value:\n    zero = Value(0.0)',
                                  'Value = Value',
                                  '@torch.no_grad\ndef Value():\n    return 1'])
def test_a_binding_that_reads_the_answer_key_as_it_runs_is_still_a_use(cell):
    ns, loaded = _keyed('from micrograd.engine import Value\nimport torch', cell, 'x = Value')
    assert 'x' not in ns and len(loaded.warnings) == 3, loaded.warnings


def test_a_class_replaced_by_an_answer_key_import_is_not_graded():
    """tomstagg/nn-zero-to-hero's refresh.ipynb: a toy Value (a closure demo), then
    `from micrograd.engine import Value` (skipped): the notebook ends with micrograd's Value, so
    the toy is not graded in its place (was: graded, "add is not implemented")."""
    ns, loaded = _keyed(VALUE, 'from micrograd.engine import Value\nfrom micrograd import nn')
    with pytest.raises(LoadError, match=r"^the Value of cell 1, line 1 is not graded, as the "
                                        r"notebook replaces it: cell 2, line 1 imports it \(`from "
                                        r"micrograd.engine import Value`\), which grading skips "
                                        r"\(micrograd is kept out of reach: a library that computes "
                                        r"gradients would be the answer key\). If micrograd is your "
                                        r"own package, grade the folder that holds it instead of the "
                                        r"notebook; if it is the published one, what it brings is "
                                        r"not your own work.$"):
        loaded.find({'Value': 'Value'})
    ns, loaded = _keyed(VALUE, 'from micrograd.engine import Value', VALUE.replace('pass', 'return'))
    assert loaded.find({'Value': 'Value'})['Value'].origin == 'cell 3, line 1'


def test_a_class_defined_again_without_methods_it_had_says_so(tmp_path):
    """gg2001/nn-zero-to-hero's micrograd.ipynb: the lecture's Value (cell 1), then the exercises'
    starter Value without __mul__ (cell 2): that last one is graded, and the load says what it
    lost, so "mul is not implemented" is not a mystery; a Value that only grows says nothing."""
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    starter = ('class Value:\n    def __init__(self, data):\n        self.data, self.grad = data, 0.0\n'
               '    def __add__(self, o):\n        return self\n    def exp(self):\n        return self\n')
    loaded = Loaded()
    notebooks.load_notebook(str(_notebook(tmp_path / 'nb.ipynb', [engine, starter])), loaded, 5)
    said = [w for w in loaded.warnings if 'again' in w]
    assert len(said) == 1 and said[0].startswith(
        'cell 2, line 1 defines Value again, without __repr__, __mul__, __pow__, __rmul__, '
        '__truediv__, __rtruediv__ and 9 more'), said
    assert said[0].endswith('(which cell 1, line 5 defined): the notebook ends with this Value, '
                            'and it is the one graded.'), said
    loaded = Loaded()
    notebooks.load_notebook(str(_notebook(tmp_path / 'nb.ipynb', [starter, engine, 'x = 1'])),
                            loaded, 5)
    assert not [w for w in loaded.warnings if 'again' in w], loaded.warnings


def test_a_name_a_skipped_statement_would_have_bound_says_why_it_is_not_defined():
    """tomstagg/nn-zero-to-hero's refresher.ipynb: `d = a.__mul__(b)` skipped (it uses
    micrograd's Value), then `d._prev` read "NameError: name 'd' is not defined" with no word of
    why; so did `y`, bound after the use in the same skipped cell."""
    ns, loaded = _keyed('import torch', 'x = torch.ones(1)\ny = 2', 'x + 1', 'x = 5\nx + 1')
    said = {w.split(':')[0]: w for w in loaded.warnings}
    assert said['cell 3'].endswith("): cell 2, line 1, which would have bound `x`, was skipped "
                                   "as it uses torch."), said
    assert 'cell 5' not in said and ns['x'] == 5
    # `y`, bound after the use, has the same cause: one warning says both
    ns, loaded = _keyed('import torch', 'x = torch.ones(1)\ny = 2', 'y + 1', 'x + 1')
    said = {w.split(':')[0]: w for w in loaded.warnings}
    assert said['cells 3 and 4'] == (
        "cells 3 and 4: NameError while loading (`y` and `x` left unbound), all of one cause: "
        "cell 2, line 1 was skipped as it uses torch (directly, or through a cell that stopped "
        "for it); the first: NameError: name 'y' is not defined while loading (cell 3, line 1)."
    ), said


def test_a_name_error_says_which_earlier_statement_did_not_bind_the_name():
    """Real notebooks' NameErrors are mostly echoes of an earlier cell that stopped (mastoffel/
    NN_zero_to_hero: `import polars as pl` failed, then `pl` in cell 3; buzaXnov/zero-to-hero:
    training cut at the cell's limit, then `loss_history` in the plot cell; Meeshbhoombah/
    micrograd: one failed `from src.engine import Value`, then 20 bare NameErrors; JohnSimerlink/
    micrograd: a syntax error in the cell of `class Value`, which binds `o` as well)."""
    loaded = Loaded()
    kernel = Kernel(loaded)
    cells = ['import no_such_module_here as pl', 'pl.plot()',
             'a = 1 / 0\nb = 2', 'b + a',
             'c = 1\nwhile True:\n    pass\nd = c', 'd + 1',
             'b = 3\nb + 1',
             '@staticmethod\ndef f():\n    return (\nclass K:\n    x = 1\ne, g = K(), 2', 'e', 'K']
    for number, cell in enumerate(cells, 1):
        kernel.run(number, transform(cell).python, 0.5)
    said = {w.split(':')[0]: w for w in loaded.warnings}
    assert said['cell 2'].endswith(": cell 1, line 1, which would have bound `pl`, failed to "
                                   "import (No module named 'no_such_module_here')."), said
    assert said['cell 4'].endswith(': cell 3, line 2, which would have bound `b`, did not run '
                                   'after line 1 raised ZeroDivisionError.'), said
    assert said['cell 6'].endswith(": cell 5, line 4, which would have bound `d`, did not run "
                                   "after line 2 was stopped at the cell's 0.5 s limit."), said
    assert 'cell 7' not in said and kernel.ns['b'] == 3  # bound again: the cause is gone
    # JohnSimerlink/micrograd: the cell of `class Value` has a syntax error, and binds `o` too
    assert said['cells 9 and 10'].startswith(
        'cells 9 and 10: NameError while loading (`e` and `K` left unbound), all of one cause: '
        'cell 8 was skipped (a syntax error at line 3)'), said


def test_name_errors_of_one_cause_are_one_warning_that_names_it():
    """inspiro-sk/micrograd's part-1.ipynb: `from backprop import Value` failed in cell 1 (the
    module beside the notebook, which was graded alone), and 22 later cells each said their
    NameError at length: `Value`, then `L` and `o` of the cells that stopped for it. One
    warning per cause now, naming the cells; another cause is its own warning, and a NameError
    of a name no cell ever bound is said as before."""
    loaded = Loaded()
    kernel = Kernel(loaded)
    cells = ['import no_such_engine_here as eng\nfrom no_such_nn_here import MLP',
             'a = eng.Value(2.0)\nL = a * 2', 'L.grad = 1.0', 'o = L + 1', 'o.backward()',
             'n = MLP(2, [1])', 'n.parameters()', 'typo_never_bound + 1', 'a.grad',
             # `c` is the number of an earlier cell where the notebook meant its Value
             'c = 2.0', 'c = eng.Value(c)', 'c.grad = 1.0', 'd = 2.0\nd.grad']
    for number, cell in enumerate(cells, 1):
        kernel.run(number, transform(cell).python, 5)
    said = [w for w in loaded.warnings if 'import failed' not in w]
    assert said == [
        "cells 2-5, 9, 11 and 12: NameError or AttributeError while loading (`eng`, `L`, `o`, `a` "
        "and 1 more left unbound), all of "
        "one cause: cell 1, line 1 failed to import (No module named 'no_such_engine_here') "
        "(directly, or through a cell that stopped for it); the first: NameError: name 'eng' is "
        "not defined while loading (cell 2, line 1).",
        "cells 6 and 7: NameError while loading (`MLP` and `n` left unbound), all of one cause: "
        "cell 1, line 2 failed to import (No module named 'no_such_nn_here') (directly, or "
        "through a cell that stopped for it); the first: NameError: name 'MLP' is not defined "
        "while loading (cell 6, line 1).",
        "cell 8: NameError: name 'typo_never_bound' is not defined while loading (cell 8, line 1).",
        "cell 13: AttributeError: 'float' object has no attribute 'grad' while loading (cell 13, "
        "line 2)."
    ], said
    # each cell still failed: a class one of them defines is traced to it
    assert [where for where, _, _ in loaded.failures][2:] == [
        f'cell {n}' for n in [*range(2, 10), 11, 12, 13]]


@pytest.mark.parametrize('cell', ['bug_overwrite_grad.py', 'class Value(:\n    pass\n'])
def test_a_folder_graded_by_its_notebook_is_annotated_at_the_notebook(cell, run_cli, tmp_path):
    """A course repository (GitHub Classroom's submission) holding one notebook is graded by it,
    and its reports named the cell (`cell 2, line 23`) but annotated the folder at line 1, or
    nowhere where the notebook did not load, as no annotator can open a folder
    (Erin-on-Git/backpropagation-from-scratch's micrograd.ipynb, JohnSimerlink/micrograd's, in a
    folder). They now open the notebook at the same line as when the notebook is graded."""
    source = (SUBMISSIONS / cell).read_text() if cell.endswith('.py') else cell
    folder = tmp_path / 'hw'
    folder.mkdir()
    (folder / 'lesson.ipynb').write_text(json.dumps({  # as Jupyter saves it: a line a line
        'nbformat': 4, 'nbformat_minor': 5, 'metadata': {}, 'cells': [
            {'cell_type': 'code', 'metadata': {}, 'outputs': [], 'execution_count': None,
             'source': c.splitlines(True)} for c in ('import math', source)]}, indent=1))
    places = {}
    for given in (folder / 'lesson.ipynb', folder):
        out = tmp_path / f'out-{given.name}'
        run_cli('grade', given, '--profile', 'quick', '--out', out)
        tests = json.loads((out / 'classroom.json').read_text())['tests']
        places[given] = {t['name']: (t['filename'], t['line_no']) for t in tests
                         if t['status'] != 'pass'}
    assert places[folder] == places[folder / 'lesson.ipynb'], places
    assert {file for file, _ in places[folder].values()} == {str(folder / 'lesson.ipynb')}
    assert cell != 'bug_overwrite_grad.py' or {line for _, line in places[folder].values()} - {1}


@pytest.mark.parametrize('inside', ['lesson.ipynb', 'hw/lesson.ipynb'])
def test_a_zip_of_a_notebook_records_the_lines_of_the_notebook_inside_it(inside, run_cli,
                                                                         tmp_path):
    """A zip holding a notebook (alone, or in its folder) was annotated at the zip's line 1: its
    report named no notebook and kept none of its lines, as a notebook graded as itself (or in
    a folder) does. The report now names it as inside the zip and keeps the same lines."""
    source = (SUBMISSIONS / 'bug_overwrite_grad.py').read_text()
    nb = tmp_path / 'lesson.ipynb'
    nb.write_text(json.dumps({'nbformat': 4, 'nbformat_minor': 5, 'metadata': {}, 'cells': [
        {'cell_type': 'code', 'metadata': {}, 'outputs': [], 'execution_count': None,
         'source': c.splitlines(True)} for c in ('import math', source)]}, indent=1))
    with zipfile.ZipFile(tmp_path / 'hw.zip', 'w') as z:
        z.write(nb, inside)
        z.writestr('__MACOSX/._lesson.ipynb', 'junk')
    reports = {}
    for given in (nb, tmp_path / 'hw.zip'):
        out = tmp_path / f'out-{given.name}'
        run_cli('grade', given, '--profile', 'quick', '--out', out)
        reports[given.name] = json.loads((out / 'report.json').read_text())
    assert reports['hw.zip']['notebook'] == inside
    lines = reports['lesson.ipynb']['notebook_lines']
    assert lines and reports['hw.zip']['notebook_lines'] == lines


def test_a_walk_written_as_a_function_named_otherwise_is_pointed_at():
    """AvikYadav/AutoGrad-ScalarVersion's notebook walks the graph in `topo_sort_backtrack(
    target_node)`, a function, and its Value has no backward(): "backward is not implemented"
    said nothing of the walk the learner wrote. The load names it; a function named backward(v)
    is graded as the method, as before."""
    value = ('class Value:\n    def __init__(self, data):\n        self.data, self.grad = data, 0\n'
             '        self._prev, self._backward = (), lambda: None\n'
             '    def __add__(self, other):\n        return Value(self.data + other.data)\n'
             '    def __mul__(self, other):\n        return Value(self.data * other.data)\n')
    walk = 'def topo_sort_backtrack(target_node):\n    target_node.grad = 1\n'
    _, loaded = _run(value, walk)
    loaded.find({'Value': 'Value'})
    assert loaded.warnings == [
        'Value has no backward() method, and the submission has topo_sort_backtrack() (cell 2, '
        'line 1): the grader calls v.backward(); write the walk as that method, or as a function '
        'backward(v).'], loaded.warnings
    _, loaded = _run(value, walk.replace('topo_sort_backtrack', 'backward'))
    loaded.find({'Value': 'Value'})
    assert [w for w in loaded.warnings if 'is graded as it' in w] and \
        not [w for w in loaded.warnings if 'write the walk' in w], loaded.warnings


def test_a_walk_written_as_a_function_is_the_method_of_a_class_whose_metaclass_freezes_it():
    """A correct engine whose metaclass refuses to set class attributes, with its walk written
    as a function backward(v), scored 0/51: "RuntimeError while loading: Value is frozen" (the
    loader set the method through the metaclass's __setattr__, attacker12's frozen_fn)."""
    value = ('class Frozen(type):\n    def __setattr__(cls, name, value):\n'
             '        raise RuntimeError(f"{cls.__name__} is frozen")\n'
             'class Value(metaclass=Frozen):\n    def __init__(self, data):\n'
             '        self.data, self.grad = data, 0\n'
             '        self._prev, self._backward = (), lambda: None\n'
             '    def __add__(self, other):\n        return Value(self.data + other.data)\n'
             '    def __mul__(self, other):\n        return Value(self.data * other.data)\n')
    _, loaded = _run(value, 'def backward(v):\n    v.grad = 1\n')
    found = loaded.find({'Value': 'Value'})
    assert callable(found['Value'].cls.backward)
    assert [w for w in loaded.warnings if 'is graded as it' in w], loaded.warnings


def test_a_zip_that_unpacks_past_the_bound_on_writes_says_so(run_cli, tmp_path):
    """A zip within the 200 MB unpacked limit but over what a sandboxed worker may write (its
    one 128 MB /tmp) read "not a readable zip file ([Errno 28] No space left on device)"
    (redteam11). It is a load error that says what is wrong; where writes are not bounded it
    loads."""
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    with zipfile.ZipFile(tmp_path / 'hw.zip', 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('hw/engine.py', engine)
        z.writestr('hw/data.bin', bytes(150 * 2**20))
    out = tmp_path / 'out'
    run_cli('grade', tmp_path / 'hw.zip', '--profile', 'quick', '--out', out)
    load = json.loads((out / 'report.json').read_text())['checks'][0]
    assert 'Errno' not in load['message'] and 'not a readable zip' not in load['message'], load
    if load['status'] != 'passed':
        assert 'unpacks to more than a submission may write' in load['message'], load


def test_a_leaf_that_does_not_require_grad_by_default_is_said_at_load():
    """BetterThanAny/nanograd, cmsolson75/nanograd, OssamaChrifi/nanograd and
    Arun-Kumar21/minigrad write torch's `Tensor(data, requires_grad=False)`: the grader builds
    every input as Tensor(x), so no input requires grad, and backward() raises ('called backward
    on a tensor that does not require grad') or passes them nothing. The findings then read
    'op add has no backward' or a None gradient in `+`'s rule, where the cause is the
    constructor's default: the load says so."""
    from micrograde.worker.load.classes import Found

    class Tensor:
        def __init__(self, data, requires_grad=False):
            self.data, self.grad, self.requires_grad = data, None, requires_grad

        def __add__(self, other):
            return Tensor(self.data + other.data, self.requires_grad or other.requires_grad)

        def backward(self):
            if not self.requires_grad:
                raise RuntimeError('called backward on a tensor that does not require grad')
    warnings = Found(Tensor, 'engine.py, line 1', 'shape').locate(lambda filename: None)
    assert any('`Tensor(1.5)` makes a leaf whose `requires_grad` is False' in w and
               'requires_grad=True' in w for w in warnings), warnings
    Tensor.__init__.__defaults__ = (True,)  # a leaf that requires grad: nothing to say
    warnings = Found(Tensor, 'engine.py, line 1', 'shape').locate(lambda filename: None)
    assert not any('requires_grad' in w for w in warnings), warnings


def test_an_extension_module_in_c_says_it_is_not_compiled_not_that_it_is_not_installed(tmp_path):
    """goktug97/minigrad writes its Value in C: minigrad/engine.c, built by setup.py, and
    minigrad/__init__.py says `from minigrad.engine import Value`. The load said 'minigrad.engine'
    is not installed for grading, and to ask the course staff to add it: it is the submission's
    own, a C source that no grading compiles."""
    package = tmp_path / 'cgradext'
    package.mkdir()
    (package / '__init__.py').write_text('from cgradext.engine import Value\n')
    (package / 'engine.c').write_text('#include <Python.h>\n')
    with pytest.raises(LoadError) as e:
        load(str(package), scratch=str(tmp_path)).find({'Value': 'Value'})
    said = str(e.value)
    assert "imports 'cgradext.engine'" in said and 'cgradext/engine.c' in said and \
        'compiled' in said and 'not installed' not in said, said


def test_a_module_importing_the_library_it_is_named_after_is_not_told_to_import_itself(tmp_path):
    """avramdj/minigrad's minigrad/core/backends/cupy.py says `import cupy as cp`: the library
    CuPy, which grading does not have. The load said the submission imports 'cupy' as a module
    of its own, that it is that very cupy.py, and to import it relatively, `from .cupy import`:
    the module importing itself. The library is what is missing."""
    package = tmp_path / 'gradpkg'
    (package / 'backends').mkdir(parents=True)
    (package / '__init__.py').write_text('from .backends import cupylike\n')
    (package / 'backends' / '__init__.py').write_text('')
    (package / 'backends' / 'cupylike.py').write_text('import math\nimport cupylike as cp\n')
    with pytest.raises(LoadError) as e:
        load(str(package), scratch=str(tmp_path)).find({'Value': 'Value'})
    said = str(e.value)
    assert "imports 'cupylike', which is not installed for grading (gradpkg/backends/cupylike.py, " \
        "line 2)" in said and 'of its own' not in said, said


def test_a_rule_written_as_a_function_of_another_module_is_located(tmp_path):
    """cancer32/nanograd's Scalar.__pow__ sets `ret.grad_fn = grad.pow_backward`, a function of
    nanograd/grad.py. Its finding (the exponent's gradient left out) named pow_backward, line
    74, and no file: the class's methods were all the report knew, so a reader looked for line
    74 in scalar.py. The submission's functions its methods name are located too."""
    package = tmp_path / 'rulesmod'
    package.mkdir()
    (package / '__init__.py').write_text('from .scalar import Scalar\n')
    (package / 'grad.py').write_text('def helper():\n    return 1\n\n\n'
                                     'def pow_backward(node):\n    child, power = node.children\n'
                                     '    child.grad += power.data * node.grad\n')
    (package / 'scalar.py').write_text(
        'from . import grad\n\n\nclass Scalar:\n    def __init__(self, data, children=()):\n'
        '        self.data, self.grad, self.children = data, 0.0, children\n\n'
        '    def __pow__(self, power):\n        ret = Scalar(self.data ** power.data, (self, power))\n'
        '        ret.grad_fn = grad.pow_backward\n        return ret\n')
    loaded = load(str(package), scratch=str(tmp_path))
    cls = loaded.find({'Value': 'Scalar'})['Value'].cls
    found = methods(cls, str(tmp_path))
    assert found['pow_backward'] == {'file': 'rulesmod/grad.py', 'line': 5, 'rule': True}, found
    assert found['__pow__']['file'] == 'rulesmod/scalar.py' and 'helper' not in found, found


def test_a_value_shaped_class_in_a_module_that_failed_is_said_before_a_lesser_look_alike(tmp_path):
    """Daniel-Sinkin/nanograd's src/nanotensor.py defines NanoTensor, a micrograd Value in all but
    name, and imports micrograd (refused: the answer key), so it never ran; src/cgnode.py ran and
    defines CGNodeLeaf, with a backward() and no arithmetic. The load said 'did you mean
    `CGNodeLeaf`?': the class meant, and why it was not graded, were the failure."""
    package = tmp_path / 'lookalike'
    package.mkdir()
    (package / '__init__.py').write_text('')
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text().replace('Value', 'NanoTensor')
    (package / 'nanotensor.py').write_text('import notinstalledlib_e12\n' + engine)
    (package / 'cgnode.py').write_text('class CGNodeLeaf:\n    def __init__(self, value):\n'
                                       '        self.value = value\n\n    def __add__(self, other):\n'
                                       '        return self.value + other\n\n'
                                       '    def backward(self):\n        return 1.0\n')
    with pytest.raises(LoadError) as e:
        load(str(package), scratch=str(tmp_path)).find({'Value': 'Value'})
    said = str(e.value)
    assert 'NanoTensor' in said and 'notinstalledlib_e12' in said and 'CGNodeLeaf' not in said, said
