"""How a worker process is launched, at the strongest isolation level this machine offers.

``bubblewrap``: no network, own PID/IPC/UTS namespaces, dies with the grader, a read-only view
of the system and of the Python install with every site folder emptied, the allowed libraries
(``allowlist.py``) and its copy of the submission read-only, a private /tmp of
``SCRATCH_SIZE`` bytes, its home, as the only writable place (its root and /dev read-only, and
no user namespace of its own, in which it could mount a tmpfs: ``seccomp``); the project, its
reports and the rest of the disk are not there.
``landlock``: where bubblewrap cannot start (no user namespaces, Docker without CAP_SYS_ADMIN),
a plain process that fences itself in with Landlock before it loads anything: it reads only the
system, Python's stdlib, the allowed libraries and its scratch folder, writes only its scratch,
makes no TCP connection and (ABI >= 6) signals no process outside itself.
``process``: the last resort, resource limits only.

At the two process levels the grader is a child subreaper, so nothing a worker starts can
slip away from being killed (unprivileged, a ``KEEPER`` between it and the worker, at every
level, kills it all and removes its scratch folder should the grader itself be killed); as root every worker (at every level) runs as a uid used for
nothing else, with no capabilities and no_new_privs, and everything of that uid is killed before
any report is written.  ``protections(level)`` says, in every report, what a level does and does
not stop.
"""
import ctypes
import errno
import functools
import os
import platform
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from micrograde.isolate import allowlist
from micrograde.load import tree
from micrograde.model.errors import IsolationUnavailable
from micrograde.model.results import Isolation
from micrograde.worker import clock

LEVELS = tuple(level for level in Isolation if level)  # strongest first: what ``auto`` picks from
SANDBOX_ROOT = '/opt/micrograde'
PYTHON = os.path.realpath(getattr(sys, '_base_executable', sys.executable))
SITE = f'{SANDBOX_ROOT}/site'  # the view (allowed libraries + worker package) under bubblewrap
#: Bytes a bubblewrap worker may write: its /tmp, which is also its home (a zip is unpacked
#: there), as a template job's is (``warm.py``).  A home of 96 MB beside a /tmp of 32 held less
#: than a job's: a zip of 100 MB failed graded alone ("No space left on device") and passed in a
#: batch.
SCRATCH_SIZE = 128 * 2**20
#: Files, folders and links a worker's /tmp may hold (tmpfs's ``nr_inodes``): its bound in
#: bytes counts no empty file, and the kernel's default is one inode per two pages of RAM (3.1M
#: on a 24 GB host).  A submission filling that spent 9 s of CPU a million files at load, and
#: the kernel's memory for each (redteam14: 113 s graded in a batch; 40 s alone).  Set by
#: remounting the job's /tmp before it reads anything: bubblewrap has no option for it
#: (``bubblewrap_argv``, ``warm.WarmTemplate.spawn``).
SCRATCH_INODES = 1 << 16
#: The remount's options: a remount keeps the tmpfs's size and mode but not its flags.
SCRATCH_REMOUNT = f'remount,nosuid,nodev,nr_inodes={SCRATCH_INODES}'
TMP_SIZE = 32 * 2**20  # the warm template's own /tmp (each job mounts its own over it)
MOUNT = '/usr/bin/mount' if os.path.exists('/usr/bin/mount') else '/bin/mount'
UID_RANGE = (1 << 20, 1 << 30)  # throwaway uids: no account has one of these
PR_SET_CHILD_SUBREAPER, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG = 36, 24, 38, 1
_libc = ctypes.CDLL(None, use_errno=True)


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


@functools.cache
def _userns_disabled():
    """Whether bubblewrap (>= 0.8, unprivileged) can keep a sandbox from making user namespaces
    of its own (``--disable-userns``).  As root it cannot (it makes no user namespace to nest
    in): what a throwaway uid writes to a tmpfs of a namespace of its own is its memory, bounded
    where it has a memory cgroup (``MemoryCap``; ``protections``: 'memory')."""
    probe = [bubblewrap(), '--unshare-user', '--disable-userns', '--unshare-pid',
             '--die-with-parent', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', 'true']
    try:
        return subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def landlock_abi():
    """The kernel's Landlock ABI version (0: none)."""
    from micrograde.worker import landlock
    return landlock.abi()


_WHY_NOT = {
    'bubblewrap': 'bubblewrap cannot start a sandbox on this machine (is it installed, and are '
                  'user namespaces allowed?)',
    'landlock': 'this kernel has no Landlock (it needs Linux >= 5.13 with landlock among its LSMs)',
    'uid': 'as root, workers run as a throwaway uid, and that uid cannot run this Python (is it '
           'installed under a private folder such as /root?); install micrograde with a Python '
           'every user can run',
    'unprotected': 'no isolation level that protects a grade runs here (bubblewrap cannot start, '
                   'the kernel has no Landlock, and micrograde is not running as root); '
                   '--isolation process runs submissions as you with nothing protected: use it '
                   'for your own code only',
}


def available(level):
    return _why_not(level) is None


def _why_not(level):
    if level == 'bubblewrap':
        return None if bubblewrap() else 'bubblewrap'
    if level == 'landlock' and landlock_abi() < 1:
        return 'landlock'
    return 'uid' if os.geteuid() == 0 and not _runs_as_throwaway() else None


@functools.cache
def _runs_as_throwaway():
    """Whether a throwaway uid can start this Python with its stdlib (a private /root cannot)."""
    uid = throwaway_uid()
    try:
        seen = subprocess.run([PYTHON, "-S", "-c", "import sys; print(sys.base_prefix)"],
                              user=uid, group=uid, extra_groups=[], capture_output=True,
                              text=True, timeout=30)
        return seen.returncode == 0 and seen.stdout.strip() == sys.base_prefix
    except (OSError, subprocess.SubprocessError):
        return False


def isolation(preferred='auto'):
    """The level a worker gets: the one asked for, or for ``auto`` the strongest available;
    ``auto`` never picks a level where a submission could write its own grade."""
    for level in LEVELS if preferred == 'auto' else (Isolation(preferred),):
        why = _why_not(level)
        if why is None and (preferred != 'auto' or not forgeable(level)):
            return level
    raise IsolationUnavailable(_WHY_NOT[why or 'unprotected'])


#: What a submission cannot do, by name: every report lists each as protected or unprotected.
PROTECTIONS = {
    'imports': "imports only the standard library and the rubric's libraries",
    'reads': 'reads no file but the system, Python, the allowed libraries and its own copy',
    'writes': 'writes nowhere but its scratch folder: not the reports, the grader, other submissions',
    'grader-proc': "cannot read the grader's environment, open files or memory in /proc",
    'signals': 'cannot signal or trace the grader or another submission',
    'escape': 'every process it starts is killed before any report is written',
    'network': 'has no network at all',
    'tcp': 'makes no TCP connection and listens on no TCP port',
    'processes': 'starts a bounded number of processes: a fork bomb stops',
    'disk': 'writes a bounded total to disk',
    'memory': 'holds a bounded total of memory, in all its processes, mapped or not',
    'answer-key': 'cannot import a library that computes gradients (the answer key)',
}


def protections(level, root=None, abi=None, answer_key=False, cgroups=None):
    """``{'protected': [...], 'unprotected': [...]}``, names of ``PROTECTIONS``, at ``level``;
    ``answer_key``: the rubric lets a submission import a library that computes gradients;
    ``cgroups``: the grader can make memory cgroups (``MemoryCap``: as root, where its own is
    writable)."""
    root = os.geteuid() == 0 if root is None else root
    abi = landlock_abi() if abi is None else abi
    cgroups = _memory_cgroups() is not None if cgroups is None else cgroups
    if level == 'bubblewrap':
        have = set(PROTECTIONS)
    else:
        # as root: a throwaway uid cannot signal the grader or open its /proc entries, and is
        # killed whole; unprivileged, only Landlock's signal scope (ABI 6) keeps the grader
        # alive to kill what the submission started.  RLIMIT_NPROC bounds processes per uid
        # (unprivileged: shared with the user's own processes)
        have = {'signals', 'escape', 'processes', 'grader-proc'} if root else {'processes'}
        if level == 'landlock':
            have |= {'imports', 'reads', 'writes', 'grader-proc'}
            have |= {'tcp'} if abi >= 4 else set()
            have |= {'signals', 'escape'} if abi >= 6 else set()
    if root and cgroups:  # else the address-space rlimit alone: one process's mappings
        have.add('memory')
    else:
        have.discard('memory')
    if answer_key or 'imports' not in have:  # out of reach only where imports are fenced
        have.discard('answer-key')
    else:
        have.add('answer-key')
    return {'protected': [p for p in PROTECTIONS if p in have],
            'unprotected': [p for p in PROTECTIONS if p not in have]}


def forgeable(level):
    """Whether a submission could write a report of its own at ``level``: it can both write
    where the grader writes and outlive (or kill) the grader."""
    protected = protections(level)['protected']
    return 'writes' not in protected and 'escape' not in protected


def _environment(home):
    return {'HOME': home, 'TMPDIR': home, 'PATH': '/usr/local/bin:/usr/bin:/bin',
            'LANG': 'C.UTF-8', 'PYTHONHASHSEED': '0', 'PYTHONDONTWRITEBYTECODE': '1',
            'PYTHONIOENCODING': 'utf-8', 'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1',
            'MPLCONFIGDIR': os.path.join(home, '.matplotlib')}


def worker_argv(*args):
    """Python without ``site``: no site folder, .pth file or editable finder is ever read, so
    the only imports besides the stdlib are those of the view on PYTHONPATH.  The base
    interpreter, not a virtual environment's: without ``site`` the venv adds nothing, and its
    path (where the grader happens to be checked out) would change the worker's memory layout,
    and with it the set order of a learner's engine and so its report."""
    return [PYTHON, '-S', '-m', allowlist.WORKER_NAME, *map(str, args)]


class Launch:
    """How to start one worker: ``argv``, ``env``, ``preexec``, its ``uid`` (as root), the
    submission's path as the worker sees it (``inside``) and, at the landlock level, the rules
    the worker applies to itself before it loads anything (``landlock``)."""

    def __init__(self, level, submission, scratch, fds, imports, modules=()):
        self.level, self.uid, self.landlock, self.preexec = level, None, None, None
        if os.geteuid() == 0:
            self.uid = throwaway_uid()
        self.inside = copy_submission(submission, scratch)
        if self.uid is not None:  # the warden's to remove, should the grader die (``start``)
            _scratches[self.uid] = str(scratch)
        if level == 'bubblewrap':
            self.argv, self.inside = bubblewrap_argv(self.inside, fds, imports, modules, self.uid)
            self.env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin')}
            if self.uid is None:  # its processes die with bubblewrap, but not its copy: a keeper
                self.argv = kept(self.argv, scratch)
            return
        view = str(allowlist.view(imports, modules))
        self.env = dict(_environment(str(scratch)), PYTHONPATH=view)
        self.argv = worker_argv(*fds)
        if self.uid is not None:
            self.preexec = functools.partial(drop_to, self.uid)
            for path in (scratch, *Path(scratch).rglob('*')):
                os.lchown(path, self.uid, self.uid)
        if level == 'landlock':
            libraries = map(str, allowlist.entries(imports, modules).values())
            self.landlock = {'read': [*system_reads(), view, *libraries],
                             'write': [str(scratch), '/dev/null']}
        if self.uid is None:  # no throwaway uid, so no warden: a keeper of its own
            self.argv = kept(self.argv, scratch)


#: The keeper: the process between an unprivileged grader and its worker (at bubblewrap, the
#: sandbox: its processes die with it, but a killed grader left the worker's copy on the host),
#: a child subreaper (every process the worker starts, however it detaches, is
#: re-parented to it, never to init) that holds the read end of a lifeline only the grader
#: writes to.  When the worker exits it kills what the worker left and exits as the worker did;
#: when the lifeline ends (the grader killed outright: SIGKILL, the OOM killer, a CI timeout)
#: it kills them all, the worker first, and removes the worker's scratch folder (its copy of
#: the submission, all it wrote: at the process levels, without bound).  Without it they ran on for
#: good: the warden kills a throwaway uid's processes, and an unprivileged grader has no uid of
#: the submission's alone.
#: A submission may kill it only where signals are not protected (``protections``): Landlock
#: (ABI >= 6) scopes a worker's signals and ptrace to its own domain, and the keeper is outside.
KEEPER = r'''
import ctypes, os, resource, select, signal, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # it dies of the worker's signal: no core
lifeline, scratch = int(sys.argv[1]), sys.argv[2]
woken, wake = os.pipe()
os.set_blocking(wake, False)
signal.set_wakeup_fd(wake)
signal.signal(signal.SIGCHLD, lambda *_: None)
worker = os.fork()
if worker == 0:
    for fd in (lifeline, woken, wake):
        os.close(fd)
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        os.execv(sys.argv[3], sys.argv[3:])
    finally:
        os._exit(127)
null = os.open(os.devnull, os.O_RDWR)  # the worker's pipes are its own: their ends come with it
for fd in range(3):
    os.dup2(null, fd)
for fd in map(int, os.listdir('/proc/self/fd')):
    if fd > 2 and fd not in (lifeline, woken, wake):
        try:
            os.close(fd)
        except OSError:
            pass

def children():
    me, found = os.getpid(), []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/stat', 'rb') as f:
                if int(f.read().rpartition(b')')[2].split()[1]) == me:
                    found.append(int(pid))
        except (OSError, ValueError, IndexError):
            pass
    return found

def kill_all():
    while True:
        found = children()
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in found:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

status = None
poller = select.poll()  # not select(): the lifeline has the grader's number, maybe past 1023
for fd in (lifeline, woken):
    poller.register(fd, select.POLLIN)
while status is None:
    ready = [fd for fd, _ in poller.poll()]
    if lifeline in ready:
        kill_all()
        os.chdir('/')
        for argv in (['chmod', '-R', 'u+rwx', '--', scratch],
                     ['rm', '-rf', '--one-file-system', '--', scratch]):
            pid = os.fork()
            if pid == 0:
                try:
                    os.execvp(argv[0], argv)
                finally:
                    os._exit(127)
            os.waitpid(pid, 0)
        os._exit(137)
    os.read(woken, 512)
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid == worker:
            status = code
kill_all()
if os.WIFSIGNALED(status):
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(128 + os.WTERMSIG(status))
os._exit(os.waitstatus_to_exitcode(status))
'''
#: Stands in ``kept``'s argv for the lifeline's read end, which ``start`` makes.
LIFELINE = '{lifeline}'


def kept(argv, scratch):
    """``argv`` run by a ``KEEPER``, the worker's ``scratch`` folder its to remove."""
    return [PYTHON, '-S', '-c', KEEPER, LIFELINE, str(scratch), *argv]


def bubblewrap_argv(copy, fds, imports, modules, uid):
    """``(argv, path inside)`` of a one-worker sandbox with the submission's ``copy`` (see
    ``copy_submission``), dropping to ``uid`` when given."""
    argv = bwrap_base(imports, modules, SCRATCH_SIZE)
    inside = None
    if copy:
        inside = f'/submission/{Path(copy).name}'
        argv += _parents(inside) + ['--ro-bind', copy, inside]
    # the sandbox's root and /dev are tmpfs of no bound, their folders the sandbox user's own
    # unprivileged (the uid bubblewrap maps it to): 160 MB written beside its copy passed the
    # bound on what it writes, and as much in /dev/shm; read-only, /tmp (its home) alone takes any
    argv += ['--remount-ro', '/dev', '--remount-ro', '/']
    own_tmp = uid is None and _own_tmp_works()
    if own_tmp:  # for ``OWN_TMP`` alone
        argv += ['--cap-add', 'CAP_SYS_ADMIN']
    argv += ['--chdir', '/tmp'] + _setenv(_environment('/tmp')) + ['--']
    if uid is not None:  # as root, where the sandbox's first process keeps root's capabilities
        argv += ['/bin/sh', '-c', f'{MOUNT} -o {SCRATCH_REMOUNT} /tmp && exec "$@"', 'sh']
        argv += ['setpriv', f'--reuid={uid}', f'--regid={uid}', '--clear-groups',
                 '--bounding-set=-all', '--inh-caps=-all', '--no-new-privs']
    elif own_tmp:  # unprivileged: /tmp is bubblewrap's, whose user namespace it keeps no capability in
        argv += [PYTHON, '-S', '-c', OWN_TMP,
                 f'size={SCRATCH_SIZE},mode=1777,nr_inodes={SCRATCH_INODES}']
    return argv + worker_argv(*fds), inside


@functools.cache
def _own_tmp_works():
    """Whether an unprivileged sandbox's first process can mount a /tmp of its own
    (``OWN_TMP``): a bubblewrap installed setuid refuses ``--cap-add`` to a user, and a kernel
    may refuse the mount.  Where it cannot, /tmp stays bounded in bytes alone (as before)."""
    probe = [bubblewrap(), '--unshare-user', '--unshare-pid', '--die-with-parent', '--ro-bind',
             '/', '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--cap-add',
             'CAP_SYS_ADMIN', '--', PYTHON, '-S', '-c', OWN_TMP, 'size=1048576,nr_inodes=64',
             PYTHON, '-S', '-c', 'import os; os.statvfs("/tmp").f_files == 64 or exit(1)']
    if _userns_disabled():
        probe[2:2] = ['--disable-userns']
    try:
        return subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


#: An unprivileged bubblewrap sandbox's first process (``python -S -c OWN_TMP options argv``):
#: mounts a tmpfs of ``options`` on /tmp, then runs ``argv`` with no capability.  bubblewrap
#: mounts its own /tmp in a user namespace that its sandbox keeps no capability in (it nests a
#: second one, for ``--dev`` and ``--disable-userns``): remounting it with ``nr_inodes`` is
#: EPERM, and without it a job made empty files until the host's tmpfs default (an inode per two
#: pages of RAM), its /tmp's bound in bytes counting none of them (redteam15).  Given
#: CAP_SYS_ADMIN in the inner namespace (``--cap-add``, kept for this process alone: ambient,
#: cleared here before ``exec``), it makes a mount namespace of its own and mounts a fresh tmpfs
#: there, bounded in bytes and files; what bubblewrap bound under /tmp (a Python or virtual
#: environment there) is bound again under the new one.  No code of the submission's has run.
OWN_TMP = r'''
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def check(result, what):
    if result != 0:
        sys.stderr.write(f'sandbox: {what}: {os.strerror(ctypes.get_errno())}\n')
        os._exit(125)
under = []
with open('/proc/self/mountinfo') as f:
    for line in f:
        point = line.split()[4].replace('\\040', ' ')
        if point.startswith('/tmp/') and not any(point.startswith(p + '/') for p in under):
            under.append(point)
check(libc.unshare(0x20000), 'a mount namespace for /tmp')  # CLONE_NEWNS
old = os.open('/tmp', os.O_PATH | os.O_DIRECTORY)  # its copy in this namespace: bound from
check(libc.mount(b'tmpfs', b'/tmp', b'tmpfs', 2 | 4, sys.argv[1].encode()), 'mounting /tmp')
for point in under:  # bind again, whole (MS_BIND | MS_REC), what bubblewrap bound under /tmp
    source = f'/proc/self/fd/{old}/{point[5:]}'
    if os.path.isdir(source):
        os.makedirs(point, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(point), exist_ok=True)
        os.close(os.open(point, os.O_CREAT | os.O_WRONLY, 0o600))
    check(libc.mount(source.encode(), point.encode(), None, 4096 | 16384, None), 'binding ' + point)
os.close(old)
os.chdir('/tmp')
check(libc.prctl(47, 4, 0, 0, 0), 'clearing ambient capabilities')  # PR_CAP_AMBIENT_CLEAR_ALL
header, data = (ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)()
check(libc.capset(header, data), 'dropping capabilities')
os.execv(sys.argv[2], sys.argv[2:])
'''


def template_command(jobs, control_fd, imports):
    """argv of a warm template sandbox (see ``worker/forkserver.py``); ``jobs`` is bound at /jobs.

    Only root can give it the capabilities it needs to hand each job its own uid (SETUID,
    SETGID) and its own /tmp (SYS_ADMIN: a mount namespace and a tmpfs); a job drops them all."""
    argv = bwrap_base(imports) + ['--bind', str(jobs), '/jobs', '--chdir', '/tmp', '--cap-drop',
                                  'ALL', '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID',
                                  '--cap-add', 'CAP_SYS_ADMIN']
    argv += _setenv(_environment('/tmp')) + ['--']
    return argv + worker_argv('forkserver', control_fd)


def templates_available():
    """Root and bubblewrap, and a Python outside /tmp (each job mounts its own /tmp over it)."""
    return os.geteuid() == 0 and bubblewrap() is not None and \
        not allowlist.within(sys.base_prefix, '/tmp')


def bwrap_base(imports, modules=(), tmp_size=TMP_SIZE):
    """The sandbox every worker shares: namespaces, a read-only system and Python with every
    site folder (and the grader's packages) under an empty tmpfs, and the view of allowed
    libraries at ``SITE``.  /tmp (``tmp_size`` bytes), /proc and /dev first, so that binds made
    later (a venv under /tmp) land on top of them."""
    argv = [bubblewrap(), '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts',
            '--unshare-cgroup-try', '--die-with-parent', '--new-session', '--proc', '/proc',
            '--dev', '/dev', '--size', str(tmp_size), '--perms', '1777', '--tmpfs', '/tmp']
    if os.geteuid() != 0:
        argv.append('--unshare-user')
        if _userns_disabled():  # else a submission makes a namespace of its own and mounts
            argv.append('--disable-userns')  # a tmpfs in it: no bound on what it writes
    roots = []
    for top in ('/bin', '/sbin', '/lib', '/lib32', '/lib64', '/usr', '/etc'):
        if os.path.islink(top):
            argv += ['--symlink', os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ['--ro-bind', top, top]
            roots.append(top)
    python = sys.executable
    binds = {p for p in (sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(python)))
             if not p.startswith(('/usr/', '/etc/'))}
    for path in sorted(binds):
        argv += _parents(path) + ['--ro-bind', path, path]
    for folder in allowlist.hidden():
        if any(allowlist.within(folder, root) for root in [*roots, *binds]):
            argv += ['--perms', '0755', '--tmpfs', folder, '--remount-ro', folder]
    argv += _parents(f'{SITE}/x')
    for name, real in sorted(allowlist.entries(imports, modules).items()):
        argv += ['--ro-bind', str(real), f'{SITE}/{name}']
    return argv + ['--clearenv']


def _setenv(env):
    env = dict(env, PYTHONPATH=SITE)
    return [a for key, value in env.items() for a in ('--setenv', key, value)]


def _parents(path):
    """bwrap options that create ``path``'s parent folders world-readable (``/root`` is 0700)."""
    out, parts = [], Path(path).parts
    for i in range(2, len(parts)):
        out += ['--perms', '0755', '--dir', str(Path(*parts[:i]))]
    return out


def system_reads():
    """What a Landlock worker may read besides its libraries: the system (shared libraries,
    fonts, time zones, CPU facts) and Python's install, with every site folder carved out."""
    roots = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/usr', '/etc', sys.base_prefix,
             sys.prefix, os.path.dirname(os.path.realpath(sys.executable)), *allowlist.stdlib()]
    return allowlist.readable(roots) + ['/dev/zero', '/dev/urandom', '/dev/random',
                                        '/proc/cpuinfo', '/proc/meminfo', '/sys/devices/system/cpu']


def copy_submission(submission, folder, group=None):
    """The worker's own copy of the submission under ``folder`` (``tree.copy``: no link
    followed, links out of it left out; ``LoadError`` for what a submission may not hold): a
    throwaway uid may not read the original, under Landlock nothing outside scratch is readable,
    and the grader, as root, must never read for a submission what it may not read itself."""
    if not submission:
        return None
    target = Path(folder, 'submission', os.path.basename(os.path.abspath(submission)))
    target.parent.mkdir(exist_ok=True)
    os.chmod(target.parent, 0o755 if group is None else 0o750)
    if group is not None:
        os.chown(target.parent, -1, group)
    tree.copy(submission, str(target), group)
    return str(target)


def throwaway_uid():
    """A uid no account and no running process has: this worker's alone."""
    while True:
        uid = secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) + UID_RANGE[0]
        if not uid_processes(uid):
            return uid


def drop_to(uid):
    """In the worker before exec (as root): become ``uid`` with no groups, no capabilities and
    no way to gain any back."""
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to a non-zero uid: every capability is gone
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), 'no_new_privs')


def uid_processes(uid):
    """Pids of the live processes (zombies are dead) whose real uid is ``uid``."""
    found = []
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                with open(f'/proc/{pid}/status') as f:
                    status = f.read()
                real = int(status[status.index('\nUid:') + 5:].split(None, 1)[0])
                state = status[status.index('\nState:') + 7:].lstrip()[:1]
            except (OSError, ValueError):
                continue
            if real == uid and state != 'Z':
                found.append(int(pid))
    return found


#: System V IPC objects (``/proc/sysvipc/<kind>``): the columns of their owner's and creator's
#: uids (an owner may give one away: its creator stays), and the call that removes one by its
#: id.  They outlive the processes that made them (a segment of shared memory is memory no
#: rlimit counts); bubblewrap gives every worker and template job an IPC namespace of its own,
#: gone with it, but at the two process levels they are the host's.
IPC_RMID = 0
_IPC = {'shm': ((7, 9), lambda i: _libc.shmctl(i, IPC_RMID, None)),
        'msg': ((7, 9), lambda i: _libc.msgctl(i, IPC_RMID, None)),
        'sem': ((4, 6), lambda i: _libc.semctl(i, 0, IPC_RMID))}


def remove_ipc(uid):
    """Remove every System V IPC object ``uid`` owns or made (as root, after its processes are
    dead)."""
    for kind, (columns, remove) in _IPC.items():
        try:
            with open(f'/proc/sysvipc/{kind}') as f:
                rows = [line.split() for line in f.read().splitlines()[1:]]
        except OSError:
            continue
        for row in rows:
            if any(len(row) > c and row[c] == str(uid) for c in columns):
                remove(int(row[1]))


def kill_uid(uid):
    """Kill every process of ``uid`` until none is left: ``kill(-1)`` sent as that uid reaches
    exactly its processes, all in one atomic sweep (no fork slips through)."""
    for _ in range(50):
        if not uid_processes(uid):
            return True
        helper = os.fork()
        if helper == 0:
            try:
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(helper, 0)
    return not uid_processes(uid)


@functools.cache
def _setarch():
    """``setarch ARCH -R`` where it works here (a container may forbid personality changes)."""
    exe = shutil.which('setarch')
    prefix = [exe, platform.machine(), '-R'] if exe else []
    try:
        ok = exe and subprocess.run([*prefix, 'true'], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return prefix if ok else []


def _fixed_addresses(argv):
    return [*_setarch(), *argv]


_started = {}  # pid -> start time of what this process started on purpose: never orphans
_caps = {}  # pid -> its ``MemoryCap``, removed once it has stopped
_watched = {}  # pid -> the uid the ``warden`` kills should this process die before ``stop``
_lifelines = {}  # pid of a ``KEEPER`` -> the write end of its lifeline, closed by ``stop``
_scratches = {}  # throwaway uid -> the scratch folder of the worker it runs (``Launch``)


def start(argv, memory=None, watched=None, **popen):
    """``subprocess.Popen`` for a worker or a template, remembered as this process's own; with
    ``memory``, it and everything it starts share a cgroup of at most that many bytes
    (``MemoryCap``), joined before it runs anything; with ``watched`` (the throwaway uid it runs
    as), the ``warden`` kills that uid's processes if this process dies before ``stop``.

    Address-space randomisation is off for it (``setarch -R``): an engine that keeps children in
    a ``set`` walks them in an order set by memory addresses, and without randomisation those
    are the same on every run, so the same submission and seed give the same report."""
    argv, options = _options_by_fd(argv)
    lifeline = None
    if argv[4:5] == [LIFELINE] and argv[3] == KEEPER:
        lifeline, held = os.pipe()  # ``held`` is not inherited: only this process writes
        argv = [*argv[:4], str(lifeline), *argv[5:]]
        popen['pass_fds'] = (*popen.get('pass_fds', ()), lifeline)
    if watched is not None:
        warden().watch(watched, _scratches.pop(watched, None))
    cap = MemoryCap.make(memory) if memory else None
    if cap is not None:
        popen['preexec_fn'] = functools.partial(cap.join, popen.get('preexec_fn'))
    try:
        popen['pass_fds'] = (*popen.get('pass_fds', ()), *options)
        proc = subprocess.Popen(_fixed_addresses(argv), **popen)
    except BaseException:
        if cap is not None:
            cap.remove()
        if watched is not None:
            warden().release(watched)
        if lifeline is not None:
            os.close(held)
        raise
    finally:
        for fd in (*options, lifeline):
            if fd is not None:
                os.close(fd)
    _started[proc.pid] = start_time(proc.pid)
    if lifeline is not None:
        _lifelines[proc.pid] = held
    if cap is not None:
        _caps[proc.pid] = cap
    if watched is not None:
        _watched[proc.pid] = watched
    return proc


class Warden:
    """A small process that outlives this one: it kills the processes of the throwaway uids this
    process still watches when this process dies outright (``kill -9``, the host's OOM killer,
    a service worker exiting as its run gives way, a CI job's timeout).

    At the two process levels nothing else would: the grader is their subreaper only while it
    lives (bubblewrap's sandbox dies with its parent, and its PID namespace with it), so a
    submission that hangs in an item, and whatever it started, ran on for good, holding its
    memory.  The warden reads ``+uid``/``-uid`` lines on a pipe whose write end only this process
    holds (it is not inherited by what this process executes); at its end, the grader gone, it
    does what ``stop`` would have.  It is in a session of its own, so what stops the grader's
    process group (a supervisor's ``killpg``) leaves it to do that."""

    def __init__(self):
        self.watched, self.proc = {}, None

    def watch(self, uid, scratch=None):
        """Watch ``uid``; with ``scratch``, its worker's scratch folder is removed with it."""
        self.watched[uid] = _watch_line(uid, scratch)
        self._tell(self.watched[uid])

    def release(self, uid):
        self.watched.pop(uid, None)
        self._tell(b'-%d\n' % uid)

    def _tell(self, line):
        """Tell the warden, starting one (told every uid watched) if none runs: an operator may
        have killed it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.write(self.lifeline, line)
                    return
                except OSError:
                    pass
            os.close(self.lifeline)
        lifeline, self.lifeline = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, '-c', 'from micrograde.isolate.sandbox import keep_watch; keep_watch()'],
            stdin=lifeline, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        os.close(lifeline)
        os.write(self.lifeline, b''.join(self.watched.values()))


@functools.cache
def warden():
    """This process's ``Warden``, started on first use."""
    return Warden()


def _watch_line(uid, scratch=None):
    """The line that tells the warden to watch ``uid``, with its ``scratch`` folder's path in
    hex (a path may hold any byte but the line's end)."""
    return b'+%d%s\n' % (uid, b'' if scratch is None else b' ' + os.fsencode(scratch).hex().encode())


def keep_watch(lifeline=None):
    """The warden's life: the uids watched, until the lifeline ends; then none may live on,
    and the scratch folders of their workers (a copy of the submission, all it wrote) go.
    Only whole lines name a uid, and only a throwaway one (``UID_RANGE``): never a system
    user's processes; only a folder of a worker's (``micrograde-`` under the temporary folder)
    is removed."""
    watched = {}
    for line in lifeline or sys.stdin.buffer:
        uid, _, folder = line[1:-1].partition(b' ')
        if line.endswith(b'\n') and uid.isdigit() and UID_RANGE[0] <= int(uid) < UID_RANGE[1]:
            if line.startswith(b'+'):
                watched[int(uid)] = _scratch_folder(folder)
            else:
                watched.pop(int(uid), None)
    for uid, folder in watched.items():
        kill_uid(uid)
        remove_ipc(uid)
        if folder is not None:
            tree.remove(folder)


def _scratch_folder(written):
    """The folder a watch line names in hex, if it is one a worker gets (in a ``micrograde-``
    folder of the temporary folder, no link on the way), else ``None``."""
    try:
        folder = os.fsdecode(bytes.fromhex(written.decode('ascii')))
    except ValueError:
        return None
    top = os.path.realpath(tempfile.gettempdir())
    real = os.path.realpath(folder)
    ours = os.path.relpath(real, top).split(os.sep)[0].startswith('micrograde-') and \
        not os.path.relpath(real, top).startswith('..')
    ok = os.path.isabs(folder) and real == os.path.normpath(folder) and ours and \
        os.path.isdir(folder)
    return real if ok else None


class MemoryCap:
    """A memory cgroup that a worker and every process it starts are charged to, as root where
    the grader's own memory cgroup is writable (v1, or v2 with the memory controller given to
    its children).  The address-space rlimit counts one process's mappings only: memory a
    submission holds in many processes, or where no process maps it (``memfd_create``, System V
    segments, a tmpfs), is counted here, and past the cap the kernel stops it in its cgroup,
    never elsewhere on the host.

    Where the grader's cpu cgroup is writable too, the worker also gets a cpu cgroup of its own
    (``cpu``, at the default weight; under cgroup v2 the memory cgroup is one where the cpu
    controller is delegated): the scheduler shares the CPU between groups, not processes, so
    a submission that starts 500 spinning processes takes one worker's part of the CPU, not
    500 parts of what a submission graded beside it (``batch -j 2``, the service's workers)
    needs to answer within its time limits."""

    #: Bytes a cgroup holds beyond its ``limit``: the files its workers read (page cache) and
    #: the kernel's own, so one process meets its address-space rlimit (a ``MemoryError``, said
    #: in the report) before the cgroup, which stops what no rlimit counts.
    SLACK = 256 << 20
    PREFIX = 'micrograde-'
    #: Seconds after which an empty cgroup of ours is a leftover: a grader killed outright
    #: (its template's, its worker's) never removed it; a fresh one is joined at once.
    STALE = 60

    def __init__(self, folder, cpu=None):
        self.folder, self.cpu = folder, cpu

    @classmethod
    def make(cls, limit):
        """A fresh cgroup of ``limit`` bytes (and ``SLACK``), with its cpu cgroup where one can
        be made, or ``None`` where no memory cgroup can be made here."""
        found = _memory_cgroups()
        if found is None:
            return None
        parent, limit_file = found
        _swept(parent)
        name = f'{cls.PREFIX}{secrets.token_hex(8)}'
        cap = cls(os.path.join(parent, name), _cpu_group(name))
        try:
            os.mkdir(cap.folder)
            with open(os.path.join(cap.folder, limit_file), 'w') as f:
                f.write(str(limit + cls.SLACK))
        except OSError:
            cap.remove()
            return None
        return cap

    def join(self, then=None):
        """In the child before it runs anything (a ``preexec_fn``): join the cgroups, then
        ``then()``.  Not joined, the child does not start."""
        for folder in filter(None, (self.folder, self.cpu)):
            with open(os.path.join(folder, 'cgroup.procs'), 'w') as f:
                f.write('0')
        if then is not None:
            then()

    def remove(self):
        """Remove the cgroups once their processes are gone (a killed one may take a moment)."""
        for folder in filter(None, (self.folder, self.cpu)):
            for _ in range(100):
                try:
                    os.rmdir(folder)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


@functools.cache
def _swept(parent, stale=MemoryCap.STALE):
    """Remove, once per process, the empty cgroups of ours under ``parent`` older than
    ``stale`` seconds (a cgroup with a process in it cannot be removed)."""
    now = time.time()
    for entry in os.scandir(parent):
        try:
            if entry.name.startswith(MemoryCap.PREFIX) and now - entry.stat().st_ctime > stale:
                os.rmdir(entry.path)
        except OSError:
            pass


@functools.cache
def _memory_cgroups():
    """``(folder, limit file)``: where this process may make memory cgroups (one made and
    removed to be sure: a report says so), or ``None``."""
    found = _memory_hierarchy() if os.geteuid() == 0 else None
    if found is None:
        return None
    probe = os.path.join(found[0], f'{MemoryCap.PREFIX}probe-{secrets.token_hex(4)}')
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError:
        return None
    return found


def _cpu_group(name):
    """A fresh cpu cgroup ``name`` (cgroup v1: a hierarchy of its own) at the default weight,
    or ``None`` where the grader's cpu cgroup is not writable, or is the memory one (v2)."""
    parent = _cpu_hierarchy()
    if parent is None:
        return None
    _swept(parent)
    folder = os.path.join(parent, name)
    try:
        os.mkdir(folder)
    except OSError:
        return None
    return folder


@functools.cache
def _cpu_hierarchy():
    """This process's cpu cgroup under cgroup v1 (``cpu`` or ``cpu,cpuacct``), if writable."""
    for _, controllers, path in _own_cgroups():
        if 'cpu' in controllers.split(','):
            folder = f'/sys/fs/cgroup/{controllers}{path}'
            if os.access(os.path.join(folder, 'cgroup.procs'), os.W_OK):
                return folder
    return None


def _own_cgroups():
    """``[(id, controllers, path)]`` of this process's cgroups (``/proc/self/cgroup``)."""
    try:
        with open('/proc/self/cgroup') as f:
            return [line.rstrip('\n').split(':', 2) for line in f]
    except OSError:
        return []


def _memory_hierarchy():
    """``(folder, limit file)`` of this process's memory cgroup, if it looks writable."""
    rows = _own_cgroups()
    for _, controllers, path in rows:
        if 'memory' in controllers.split(','):  # v1: a hierarchy of its own
            folder = f'/sys/fs/cgroup/memory{path}'
            if os.access(os.path.join(folder, 'memory.limit_in_bytes'), os.W_OK):
                return folder, 'memory.limit_in_bytes'
    for _, controllers, path in rows:
        folder = f'/sys/fs/cgroup{path}'
        if not controllers and os.path.exists(os.path.join(folder, 'cgroup.subtree_control')):
            try:
                with open(os.path.join(folder, 'cgroup.subtree_control')) as f:
                    if 'memory' in f.read().split() and os.access(folder, os.W_OK):
                        return folder, 'memory.max'
            except OSError:
                pass
    return None


def _options_by_fd(argv):
    """``(argv, fds)``: bubblewrap's options handed over in a memory file (``--args FD``) rather
    than on its command line, which the sandbox's /proc/1/cmdline shows to the submission: they
    name every host folder bound in (the project, the virtual environment, the home folder);
    with them, in another, the ``seccomp`` filter the sandbox runs under (``--seccomp FD``)."""
    at = 6 if argv[3:5] == [KEEPER, LIFELINE] else 0  # bubblewrap ``kept`` (unprivileged)
    if argv[at:at + 1] != [bubblewrap()] or argv[at] is None or '--' not in argv[at:]:
        return argv, ()
    end = argv.index('--', at)
    fds, options = [], argv[at + 1:end]
    program = seccomp()
    if program:
        fds.append(os.memfd_create('bwrap-seccomp', 0))  # not close-on-exec: bubblewrap reads it
        os.write(fds[-1], program)
        os.lseek(fds[-1], 0, os.SEEK_SET)
        options = [*options, '--seccomp', str(fds[-1])]
    fds.append(os.memfd_create('bwrap-options', 0))
    os.write(fds[-1], b''.join(os.fsencode(a) + b'\0' for a in options))
    os.lseek(fds[-1], 0, os.SEEK_SET)
    return [*argv[:at + 1], '--args', str(fds[-1]), *argv[end:]], tuple(fds)


#: The seccomp filter's parts (``linux/filter.h``, ``linux/seccomp.h``, ``linux/audit.h``).
_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _ERRNO = 0x7fff0000, 0x00050000
CLONE_NEWUSER = 0x10000000
#: machine -> (its audit arch, unshare, clone, clone3, the first number of another ABI or None)
_SYSCALLS = {'x86_64': (0xc000003e, 272, 56, 435, 0x40000000),  # x32's numbers: refused
             'aarch64': (0xc00000b7, 97, 220, 435, None)}


@functools.cache
def seccomp():
    """The classic BPF program every bubblewrap sandbox runs under, or ``b''`` on a machine it
    does not know: no user namespace of the submission's own (``unshare`` or ``clone`` with
    ``CLONE_NEWUSER``: EPERM; ``clone3``, whose flags a filter cannot read: ENOSYS, and the C
    library falls back to ``clone``), and no system call of another ABI (x32, i386: ENOSYS).
    In a namespace of its own a submission is root: it mounted a tmpfs of no bound and wrote
    what it liked there, past the bound on what it writes (as root, also past its memory's
    where the grader has no memory cgroup)."""
    known = _SYSCALLS.get(platform.machine())
    if known is None:
        return b''
    arch, unshare, clone, clone3, other_abi = known
    enosys, eperm = _ERRNO | errno.ENOSYS, _ERRNO | errno.EPERM
    # (code, jump if true, jump if false, k); jumps count the instructions skipped
    program = [(_LD_ABS, 0, 0, 4),  # seccomp_data.arch
               (_JEQ, 1, 0, arch),
               (_RET, 0, 0, enosys),
               (_LD_ABS, 0, 0, 0)]  # seccomp_data.nr
    if other_abi is not None:
        program += [(_JGE, 0, 1, other_abi), (_RET, 0, 0, enosys)]
    program += [(_JEQ, 0, 1, clone3), (_RET, 0, 0, enosys),
                (_JEQ, 1, 0, unshare), (_JEQ, 0, 3, clone),
                (_LD_ABS, 0, 0, 16),  # the low half of args[0]: the flags
                (_JSET, 0, 1, CLONE_NEWUSER), (_RET, 0, 0, eperm),
                (_RET, 0, 0, _ALLOW)]
    return b''.join(struct.pack('=HBBI', *op) for op in program)


def stop(proc, uid=None, subreaper=False):
    """After ``proc`` ended: kill every process of its ``uid`` and, when this process is its
    ``subreaper``, every orphan it left; when this returns, nothing it started is running."""
    born = _started.pop(proc.pid, 0)
    _scratches.pop(uid, None)
    if proc.pid in _lifelines:
        os.close(_lifelines.pop(proc.pid))
    if uid is not None:
        kill_uid(uid)
        remove_ipc(uid)
    if proc.pid in _watched:
        warden().release(_watched.pop(proc.pid))
    if subreaper:
        kill_orphans(born)
    cap = _caps.pop(proc.pid, None)
    if cap is not None:
        cap.remove()


def last_pid():
    """The pid the kernel handed out last in this process's pid namespace (``/proc/loadavg``):
    a worker started after this is read, and every process it starts, has a higher pid until
    the pids wrap (``peak_memory``)."""
    with open('/proc/loadavg') as f:
        return int(f.read().split()[-1])


def peak_memory(since, top=None, uid=None):
    """The largest peak resident size (``VmHWM``, bytes) of a worker's processes alive now
    (``_workers``).  Read from outside, whatever the worker says: a process's peak is what it
    really held in memory (the pages it touched), never what it asked for and was refused."""
    return max((fields['VmHWM'] for fields in _workers(since, top, uid)), default=0)


def cpu_seconds(since, top=None, uid=None):
    """The CPU time (user and system, seconds) a worker's processes alive now have used
    (``_workers``), read from outside as ``peak_memory`` is: how much of a CPU a busy host gave
    the worker (``session.Worker.receive``)."""
    return sum(fields['cpu'] for fields in _workers(since, top, uid)) / _TICKS


def usage(since, top=None, uid=None):
    """``(CPU seconds, seconds run, seconds waited for a CPU)`` of a worker's processes alive
    now: ``cpu_seconds``, and the sums over their threads of the time they ran and the time they
    were ready to run but waited in the host's run queue (``/proc/<pid>/task/<tid>/schedstat``,
    in nanoseconds; ``(CPU seconds, None, None)`` where the kernel keeps no such count): how much
    of a CPU the host gave the worker while it wanted one (``clock.due``)."""
    found = _workers(since, top, uid, queued=True)
    cpu = sum(fields['cpu'] for fields in found) / _TICKS
    if any(fields['run'] is None for fields in found):
        return cpu, None, None
    return cpu, sum(f['run'] for f in found) / 1e9, sum(f['waited'] for f in found) / 1e9


def thread_usage():
    """``usage`` of the calling thread alone: ``(CPU seconds, seconds run, seconds waited)``."""
    cpu = time.thread_time()
    try:
        with open('/proc/thread-self/schedstat') as f:
            ran, waited = f.read().split()[:2]
        return cpu, int(ran) / 1e9, int(waited) / 1e9
    except (OSError, ValueError):
        return cpu, None, None


_TICKS = os.sysconf('SC_CLK_TCK')


def _workers(since, top=None, uid=None, queued=False):
    """The ``/proc`` fields (``VmHWM`` in bytes, ``cpu`` in clock ticks) of a worker's processes
    alive now: those of its throwaway ``uid`` (as root), else ``top`` (the process the grader
    started) and every process under it.  ``since``: ``last_pid()`` before the worker started;
    only the processes born after it are read (a few, where every ``/proc/<pid>/status`` of a
    host costs ~3-5 ms), all of them once the pids have wrapped (``kernel.pid_max`` may be
    32768).  ``status`` and ``stat`` are read by anyone, no ptrace access needed; the kernel
    escapes a newline in a process's name, and ``stat``'s fields are read after its last ``)``.
    ``queued``: each also with ``run`` and ``waited`` (``clock.schedstat``)."""
    newest = last_pid()
    born = range(since + 1, newest + 1) if newest >= since else None  # None: the pids wrapped
    table = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or born is not None and int(entry) not in born:
            continue
        try:
            with open(f'/proc/{entry}/status') as f:
                fields = dict(line.split(':', 1) for line in f.read().splitlines() if ':' in line)
            with open(f'/proc/{entry}/stat') as f:
                ticks = f.read().rpartition(')')[2].split()[11:13]  # utime, stime
            table[int(entry)] = (int(fields['Uid'].split()[0]), int(fields['PPid']), {
                'VmHWM': int(fields.get('VmHWM', '0 kB').split()[0]) * 1024,
                'cpu': int(ticks[0]) + int(ticks[1])})
            if queued:
                fields = table[int(entry)][2]
                fields['run'], fields['waited'] = clock.schedstat(f'/proc/{entry}/task')
        except (OSError, KeyError, ValueError, IndexError):  # gone meanwhile, or a kernel thread
            continue
    if uid is not None:
        return [fields for owner, _, fields in table.values() if owner == uid]
    below = {}
    for pid, (_, parent, _) in table.items():
        below.setdefault(parent, []).append(pid)
    todo, found = [top], []
    while todo:
        pid = todo.pop()
        if pid in table:
            found.append(table[pid][2])
            todo += below.get(pid, [])
    return found


def die_with(parent):
    """This process is killed (SIGKILL) when ``parent``, the process that started it, dies; if
    it is gone already, this process exits.  A batch's grading process is killed with the batch
    (killed outright: a CI job's timeout, the OOM killer), and with it, by the warden or keeper
    it holds, every worker and scratch folder: it graded on alone, its submission hung in an item
    for up to the grade's time limit, and wrote a report for a batch that was gone."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


@functools.cache
def become_subreaper():
    """Orphans of every worker this process starts are re-parented here, not to init: none
    slips away, whatever environment, session or process group it gave itself."""
    return _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def kill_orphans(since):
    """Kill and reap the children of this process it did not start itself and that were born
    after ``since`` (a worker's start): descendants of workers, re-parented here as their
    parents died.  Until none is left."""
    me = os.getpid()
    for _ in range(500):
        orphans = [pid for pid in children(me) if pid not in _started and start_time(pid) >= since]
        if not orphans:
            return True
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in orphans:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return False


def start_time(pid):
    """When ``pid`` started, in clock ticks since boot (0 when it is gone)."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            return int(f.read().rpartition(b')')[2].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


def children(pid):
    """Pids of the processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat', 'rb') as f:
                    fields = f.read().rpartition(b')')[2].split()
                if int(fields[1]) == pid:
                    found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found
