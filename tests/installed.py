"""micrograde installed as a wheel in a scratch environment, graded through as a platform would.

The environment is a venv (no pip) of a Python every uid can run, the same version as ours,
whose site folder holds the built wheel and a .pth line pointing at our environment's site
folder for the dependencies (torch, numpy, ...) and the other engines installed there
(``micrograd``).  It is built once per source tree and shared by the suite's processes.
"""
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from engines import hostile_engine

ROOT = Path(__file__).resolve().parent.parent
USER_UID = 1_999_999_000  # the unprivileged grader, when the suite runs as root
#: Uids from ``USER_UID`` one grader may take: RLIMIT_NPROC counts a uid's processes across the
#: machine, so a fork bomb graded by one test (512 processes for 5 s) left another test's worker,
#: on the other xdist process under the same uid, no thread to start ("can't start new thread")
USER_UIDS = 1000


def _runs_for_others(python, uid):
    """Whether ``uid`` can run ``python`` with its own stdlib (a Python under a private /root
    may start, but falls back to another install's stdlib)."""
    if os.geteuid() != 0:
        return True
    probe = [python, '-S', '-c', 'import sys; print(sys.base_prefix)']
    mine = subprocess.run(probe, capture_output=True, text=True).stdout
    theirs = subprocess.run(['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups', *probe],
                            capture_output=True, text=True)
    return theirs.returncode == 0 and theirs.stdout == mine


def shared_python():
    version = f'python{sys.version_info.major}.{sys.version_info.minor}'
    for candidate in (getattr(sys, '_base_executable', None), f'/usr/bin/{version}',
                      shutil.which(version)):
        if candidate and os.path.exists(candidate) and _runs_for_others(candidate, USER_UID):
            return candidate
    return None


def _source_key():
    h = hashlib.sha256()
    for path in sorted([*ROOT.glob('harness/**/*'), *ROOT.glob('reference/**/*'), ROOT / 'pyproject.toml']):
        if path.is_file() and '__pycache__' not in path.parts:
            h.update(str(path.relative_to(ROOT)).encode() + b'\0' + path.read_bytes())
    return h.hexdigest()[:16]


def build():
    """The installed environment's folder (``env/bin/python``), built once per source tree."""
    python = shared_python()
    if python is None:
        pytest.skip('no Python that an unprivileged uid can run, for a scratch install')
    home = Path(tempfile.gettempdir(), f'micrograde-wheel-{_source_key()}')
    with open(f'{home}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / 'ready').exists():
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir(mode=0o755)
            dist = home / 'dist'
            subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                            '--no-build-isolation', '-w', str(dist), str(ROOT)], check=True,
                           capture_output=True)
            subprocess.run([python, '-m', 'venv', '--without-pip', str(home / 'env')], check=True)
            target = subprocess.run([home / 'env/bin/python', '-c', 'import site; print(site.getsitepackages()[0])'],
                                    check=True, capture_output=True, text=True).stdout.strip()
            Path(target, 'grader-dependencies.pth').write_text('\n'.join(site.getsitepackages()) + '\n')
            subprocess.run([sys.executable, '-m', 'pip', '--python', str(home / 'env/bin/python'),
                            'install', '-q', '--no-deps', '--no-index', *map(str, dist.glob('*.whl'))],
                           check=True, capture_output=True)
            (home / 'ready').touch()
    return home


class Grader:
    """The installed CLI forced to one isolation level, as root or as an unprivileged uid."""

    def __init__(self, home, level, root):
        if root and os.geteuid() != 0:
            pytest.skip('needs root')
        self.level, self.root = level, root
        self.python = str(home / 'env/bin/python')
        self.uid = USER_UID + secrets.randbelow(USER_UIDS) if not root and os.geteuid() == 0 \
            else None
        self.work = Path(tempfile.mkdtemp(prefix='micrograde-attack-'))
        os.chmod(self.work, 0o755)
        if self.uid is not None:
            os.chown(self.work, self.uid, self.uid)
        self.site_folders = json.loads(subprocess.run(
            [self.python, '-c', 'import sys, json; print(json.dumps([p for p in sys.path '
             'if p.endswith("-packages")]))'], capture_output=True, text=True, check=True).stdout)

    def start(self, *args, **popen):
        """The installed CLI started with ``args`` as this grader's user, not waited for."""
        argv = [self.python, '-m', 'micrograde.surfaces.cli', *map(str, args)]
        if self.uid is not None:
            argv = ['setpriv', f'--reuid={self.uid}', f'--regid={self.uid}', '--clear-groups',
                    '--inh-caps=-all', '--bounding-set=-all', *argv]
        env = dict(os.environ, HOME=str(self.work), MICROGRADE_SECRET='grader-secret-3141592653')
        return subprocess.Popen(argv, cwd=self.work, env=env, text=True, **popen)

    def run(self, *args, timeout=300):
        with self.start(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            try:
                stdout, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        if result.returncode == 2 and '--isolation' in result.stderr and self.level != 'auto':
            pytest.skip(f'{self.level} is not available here: {result.stderr.strip()[-200:]}')
        assert 'Traceback' not in result.stderr, result.stderr
        return result

    def _own(self, path):
        if self.uid is not None:
            for p in (path, *Path(path).rglob('*')):
                os.lchown(p, self.uid, self.uid)

    def share(self, path):
        """Make ``path`` writable by anyone: no permission stands in an attacker's way."""
        for p in (path, *Path(path).rglob('*')):
            os.chmod(p, 0o777 if p.is_dir() else 0o666)

    def grade(self, code, out=None, check=True):
        path = self.work / 'submission.py'
        path.write_text(hostile_engine(code))
        out = out or self.work / 'reports'
        self._own(self.work)
        result = self.run('grade', path, '--profile', 'quick', '--isolation', self.level,
                          '--out', out, '--no-color')
        if not check and result.returncode == 2:
            return result, None
        return result, json.loads((out / 'report.json').read_text())

    def graded(self, code, via):
        """The report of ``hostile_engine(code)`` graded ``via`` ``grade`` or ``batch`` (``-j 2``:
        as root under bubblewrap, a worker forked from the warm template)."""
        if via == 'grade':
            return self.grade(code)[1]
        from test_attacks import token
        folder = self.work / f'class-{token()}'
        folder.mkdir()
        (folder / 'submission.py').write_text(hostile_engine(code))
        return self.batch(folder)['submission.py']

    def batch(self, folder):
        out = self.work / f'batch-{folder.name}'
        self._own(self.work)
        result = self.run('batch', folder, '--out', out, '-j', '2', '--profile', 'quick',
                          '--isolation', self.level)
        assert result.returncode == 0, result.stdout + result.stderr
        return {p.parent.name: json.loads(p.read_text()) for p in out.glob('*/report.json')}


class Installed:
    def __init__(self, home):
        self.home = home

    def grader(self, level, root=True):
        return Grader(self.home, level, root)
