"""A learner's install: ``pip install micrograde`` (no extras) in a fresh virtual environment
brings the self-check and nothing of the grader's (no torch, no Hypothesis), and ``check()``
works there."""
import subprocess
import venv

from conftest import ROOT, SUBMISSIONS

RUN = '''
import importlib.util, sys
spec = importlib.util.spec_from_file_location('engine', sys.argv[1])
engine = importlib.util.module_from_spec(spec)
spec.loader.exec_module(engine)
from micrograde import check
result = check(engine.Value, MLP=engine.MLP)
result._repr_html_()
print(result.passed, 'torch' in sys.modules, 'hypothesis' in sys.modules)
'''
#: what the grader needs and a learner must not download
GRADER_ONLY = {'torch', 'hypothesis', 'numpy', 'matplotlib', 'ipython', 'fastapi', 'dramatiq'}


def test_pip_install_without_extras_gives_a_working_self_check_without_torch(tmp_path):
    env = tmp_path / 'learner'
    venv.create(env, with_pip=True)
    python = env / 'bin' / 'python'
    done = subprocess.run([python, '-m', 'pip', 'install', '-q', str(ROOT)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    listed = subprocess.run([python, '-m', 'pip', 'list', '--format=freeze'], capture_output=True,
                            text=True, check=True).stdout
    installed = {line.split('==')[0].lower() for line in listed.split()}
    assert not installed & GRADER_ONLY, installed
    assert 'micrograde' in installed
    site = next((env / 'lib').glob('python*/site-packages'))
    ours = sum(f.stat().st_size for f in site.rglob('*') if f.is_file()
               and f.relative_to(site).parts[0].split('-')[0].lower() not in ('pip', 'setuptools'))
    assert ours < 20 * 2**20, f'{ours / 2**20:.1f} MB'
    for name, passed in (('lecture_engine.py', 'True'), ('bug_overwrite_grad.py', 'False')):
        out = subprocess.run([python, '-c', RUN, str(SUBMISSIONS / name)], capture_output=True,
                             text=True, timeout=300, cwd=tmp_path)
        assert out.stdout.split() == [passed, 'False', 'False'], out.stderr[-2000:]
