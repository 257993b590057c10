"""Loading: notebook noise is neutralised, zips unpack safely, a hanging cell costs its limit."""
import json
import zipfile

from conftest import SUBMISSIONS
from harness.worker.load import LoadError
from harness.worker.load.archives import extract
from harness.worker.load.notebooks import neutralise


def test_magics_and_shell_lines_become_inert():
    cell = '%matplotlib inline\n!pip install x\nfiles = !ls\nx = 1\nfor i in range(2):\n    %time y = 2\nlen?\n'
    out = neutralise(cell)
    assert 'x = 1' in out and 'files = None' in out
    compile(out, 'cell', 'exec')
    assert neutralise('%%bash\necho hi\n') == ''
    assert neutralise('%%time\nz = 3\n').strip() == 'z = 3'


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
    assert any('cell 1 ran past its 1 s limit' in w for w in report['load_warnings'])
    assert report['classes']['Value'].startswith('cell 2')


def test_last_definition_wins_and_its_cell_is_reported(run_cli, tmp_path):
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    broken = engine.replace('self.grad += other.data * out.grad', 'self.grad = other.data * out.grad')
    nb = _notebook(tmp_path / 'nb.ipynb', [engine, broken])
    result = run_cli('grade', nb, '--profile', 'quick', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 1
    assert report['classes']['Value'].startswith('cell 2')


def test_slow_cells_cannot_cost_the_whole_load(run_cli, tmp_path):
    engine = (SUBMISSIONS / 'lecture_engine.py').read_text()
    slow = 'import time\nwhile True:\n    time.sleep(0.01)\n'
    nb = _notebook(tmp_path / 'nb.ipynb', [engine] + [slow] * 6)
    result = run_cli('grade', nb, '--profile', 'quick', '--cell-timeout', '2', '--load-timeout',
                     '5', '--json', tmp_path / 'r.json')
    report = json.loads((tmp_path / 'r.json').read_text())
    assert result.returncode == 0, result.stdout
    assert any('were not run' in w for w in report['load_warnings']), report['load_warnings']
