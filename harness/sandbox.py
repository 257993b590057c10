"""How a worker process is launched: under bubblewrap where it runs, as a plain process where not.

``bubblewrap``: no network, own PID/IPC/UTS namespaces, dies with the grader, a read-only view
of the system and of the Python install, the submission read-only, a private scratch folder as
the only writable place; the project, its reports and the rest of the disk are not there.  When
the grader runs as root the worker drops to an unprivileged uid with every capability removed.
``process``: the fallback where bubblewrap cannot start (no user namespaces): a new session, the
same resource limits, scratch as cwd and HOME, and a marker in the environment so that every
process it started can be found and killed.  The report names the level used.
"""
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

WORKER_PACKAGE = Path(__file__).with_name('worker')
NOBODY = 65534
SANDBOX_ROOT = '/opt/micrograde'


@functools.cache
def bubblewrap():
    """The bwrap executable if it can start a sandbox here, else ``None``."""
    exe = shutil.which('bwrap')
    if exe is None:
        return None
    probe = [exe, '--unshare-pid', '--unshare-net', '--die-with-parent', '--ro-bind', '/', '/',
             '--proc', '/proc', '--dev', '/dev', 'true']
    if os.geteuid() != 0:
        probe[1:1] = ['--unshare-user']
    try:
        ok = subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return exe if ok else None


class IsolationUnavailable(ValueError):
    """The isolation level asked for cannot run on this machine."""


def isolation(preferred='auto'):
    """The isolation level a worker gets: ``bubblewrap`` or ``process``."""
    if preferred == 'process':
        return 'process'
    if bubblewrap():
        return 'bubblewrap'
    if preferred == 'bubblewrap':
        raise IsolationUnavailable('bubblewrap cannot start a sandbox on this machine (is it installed, '
                                   'and are user namespaces allowed?)')
    return 'process'


def _environment(home, marker):
    return {'HOME': home, 'TMPDIR': '/tmp', 'PATH': '/usr/local/bin:/usr/bin:/bin',
            'LANG': 'C.UTF-8', 'PYTHONHASHSEED': '0', 'PYTHONDONTWRITEBYTECODE': '1',
            'PYTHONIOENCODING': 'utf-8', 'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1',
            'MPLCONFIGDIR': os.path.join(home, '.matplotlib'), 'MICROGRADE_WORKER': marker}


def command(level, submission, scratch, fds, marker):
    """``(argv, env, path_as_seen_by_worker)`` to start a worker on ``submission``."""
    python = sys.executable
    if level == 'process':
        env = _environment(str(scratch), marker)
        env['PYTHONPATH'] = str(WORKER_PACKAGE.parent.parent)
        argv = [python, '-m', 'harness.worker', *map(str, fds)]
        return argv, env, (str(Path(submission).resolve()) if submission else None)
    argv = _bwrap_base()
    inside = None
    if submission:
        inside = f'/submission/{Path(submission).name}'
        argv += _parents(inside) + ['--ro-bind', str(Path(submission).resolve()), inside]
    argv += ['--bind', str(scratch), '/scratch', '--chdir', '/scratch']
    argv += _setenv(_environment('/scratch', marker)) + ['--']
    if os.geteuid() == 0:
        argv += ['setpriv', f'--reuid={NOBODY}', f'--regid={NOBODY}', '--clear-groups',
                 '--bounding-set=-all', '--inh-caps=-all', '--no-new-privs']
    argv += [python, '-m', 'mgworker', *map(str, fds)]
    return argv, {'PATH': os.environ.get('PATH', '/usr/bin:/bin')}, inside


def template_command(jobs, control_fd):
    """argv of a warm template sandbox (see ``worker/forkserver.py``); ``jobs`` is bound at /jobs.

    Only root can give it the two capabilities it needs to hand each job its own uid."""
    argv = _bwrap_base() + ['--bind', str(jobs), '/jobs', '--chdir', '/tmp', '--cap-drop', 'ALL',
                            '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID']
    argv += _setenv(_environment('/tmp', 'template')) + ['--']
    return argv + [sys.executable, '-m', 'mgworker', 'forkserver', str(control_fd)]


def templates_available():
    return os.geteuid() == 0 and bubblewrap() is not None


def _bwrap_base():
    """The sandbox every worker shares: namespaces, a read-only system and Python, the worker
    package; /tmp, /proc and /dev first, so that binds made later (a venv under /tmp) land on
    top of them."""
    argv = [bubblewrap(), '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts',
            '--unshare-cgroup-try', '--die-with-parent', '--new-session', '--proc', '/proc',
            '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp']
    if os.geteuid() != 0:
        argv.append('--unshare-user')
    for top in ('/bin', '/sbin', '/lib', '/lib32', '/lib64', '/usr', '/etc'):
        if os.path.islink(top):
            argv += ['--symlink', os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ['--ro-bind', top, top]
    python = sys.executable
    binds = {p for p in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(python)))
             if not p.startswith(('/usr/', '/etc/'))}
    for path in sorted(binds):
        argv += _parents(path) + ['--ro-bind', path, path]
    argv += _parents(f'{SANDBOX_ROOT}/mgworker')
    return argv + ['--ro-bind', str(WORKER_PACKAGE), f'{SANDBOX_ROOT}/mgworker', '--clearenv']


def _setenv(env):
    env = dict(env, PYTHONPATH=SANDBOX_ROOT)
    return [a for key, value in env.items() for a in ('--setenv', key, value)]


def _parents(path):
    """bwrap options that create ``path``'s parent folders world-readable (``/root`` is 0700)."""
    out, parts = [], Path(path).parts
    for i in range(2, len(parts)):
        out += ['--perms', '0755', '--dir', str(Path(*parts[:i]))]
    return out


def prepare_scratch(scratch, level):
    """Make ``scratch`` writable by the worker's uid."""
    os.makedirs(scratch, exist_ok=True)
    if level == 'bubblewrap' and os.geteuid() == 0:
        os.chown(scratch, NOBODY, NOBODY)


def kill_marked(marker):
    """Kill every process whose environment carries ``marker`` (escaped daemons included)."""
    needle = f'MICROGRADE_WORKER={marker}'.encode()
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/environ', 'rb') as f:
                if needle in f.read().split(b'\0'):
                    os.kill(int(pid), 9)
        except OSError:
            pass
