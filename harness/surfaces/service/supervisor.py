"""``micrograde serve``: a private redis-server, the API and N workers on one machine.

One supervisor per state folder (a lock in it).  Each program runs in its own session, so
Ctrl-C reaches the supervisor only, which then stops them in order (API, workers, Redis last so
that it writes its append-only file) and leaves no process behind.  Each also gets a parent-death
signal: if the supervisor is killed outright (``kill -9``), the kernel stops them too, and the
next supervisor on the folder waits for any that are still going before it starts its own.  A
program that exits on its own is started again (with a growing pause if it keeps dying), with
the same Redis address, so workers and the API find Redis where it was.

Secrets never appear on a command line (``ps`` shows those to every user): Redis reads its
password from a 0600 config file, the API and workers get the broker URL and the key file's path
in their environment.
"""
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import redis

from micrograde.surfaces.service.keys import (DEPLOYMENT_KEY, FILE_MODE, REDIS_PASSWORD, UMASK, private_folder, secret,
                   write_private)

STOP_SECONDS = 15.0
RESTART_PAUSE_MAX = 10.0
PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before a fork: a child only calls it
LOCK, CHILDREN = 'supervisor.lock', 'children.json'


class Busy(RuntimeError):
    """Another supervisor runs on this state folder."""


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def redis_command(folder, port, password):
    """argv of a private redis-server: loopback only, a password, append-only file in ``folder``.

    The settings go to ``folder/redis.conf`` (0600), so the password is on no command line.
    Redis writes the file before it answers, so what it acknowledged survives a crash of Redis;
    it syncs the file to disk every second (a power loss may lose that second)."""
    exe = shutil.which('redis-server')
    if exe is None:
        raise FileNotFoundError('redis-server is not installed (make install installs it; or use '
                                '--broker redis://HOST to use an existing Redis)')
    settings = {'bind': '127.0.0.1', 'port': port, 'protected-mode': 'yes', 'requirepass': password,
                'dir': str(folder), 'appendonly': 'yes', 'appendfsync': 'everysec', 'save': '""',
                'daemonize': 'no', 'loglevel': 'warning'}
    conf = Path(folder, 'redis.conf')
    write_private(conf, ''.join(f'{name} {value}\n' for name, value in settings.items()))
    return [exe, str(conf)]


def redis_url(port, password):
    return f'redis://:{password}@127.0.0.1:{port}/0'


def wait_for_redis(url, timeout=20.0):
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)
    finally:
        client.close()


def stop(procs, timeout=STOP_SECONDS):
    """SIGTERM each process's group, then SIGKILL what is left after ``timeout``."""
    for proc in procs:
        if proc.poll() is None:
            _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pass
        _signal(proc, signal.SIGKILL)  # stragglers of its group, and itself if it is still there
        proc.wait()


def _signal(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with(parent):
    """A ``preexec_fn``: the child makes its files private (umask 077) and gets SIGTERM when
    ``parent`` dies (Linux's parent-death signal), and exits at once if it already has."""
    def arm():
        os.umask(UMASK)
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
    return arm


def _birth(pid):
    """When process ``pid`` started (clock ticks since boot), or ``None`` if there is none: with
    the pid it names one process, whatever pids the system has reused since."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return None
    return int(stat.rsplit(')', 1)[1].split()[19])


class Program:
    """One supervised process: how to start it, and its restarts."""

    def __init__(self, name, argv, log, env=None):
        self.name, self.argv, self.log, self.env = name, argv, log, env
        self.proc, self.restarts, self.pause = None, 0, 0.5

    def start(self):
        self.started = time.monotonic()
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        with os.fdopen(fd, 'ab') as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env=self.env, preexec_fn=_die_with(os.getpid()))

    def check(self):
        """Start it again if it exited; a program that dies young waits longer each time.
        Whether it was restarted."""
        if self.proc.poll() is None:
            return False
        code = self.proc.returncode
        self.pause = 0.5 if time.monotonic() - self.started > 30 else min(self.pause * 2,
                                                                          RESTART_PAUSE_MAX)
        print(f'{self.name} exited ({code}); restarting in {self.pause:g} s (log: {self.log})',
              file=sys.stderr, flush=True)
        time.sleep(self.pause)
        stop([self.proc])
        self.restarts += 1
        self.start()
        return True


class Supervisor:
    def __init__(self, state, port, workers, broker=None, host='127.0.0.1', api_args=(),
                 worker_args=()):
        self.state = private_folder(Path(state).resolve())
        self.logs = private_folder(self.state / 'logs')
        self.key_file = self.state / DEPLOYMENT_KEY
        secret(self.state, DEPLOYMENT_KEY)
        self.running, self.lock = [], None
        if broker is None:
            folder = private_folder(self.state / 'redis')
            password, redis_port = secret(self.state, REDIS_PASSWORD), free_port()
            broker = redis_url(redis_port, password)
            self.redis = Program('redis', redis_command(folder, redis_port, password),
                                 self.logs / 'redis.log')
        else:
            self.redis = None
        self.broker = broker
        env = {**os.environ, 'MICROGRADE_BROKER': broker, 'MICROGRADE_KEY_FILE': str(self.key_file)}
        python = [sys.executable, '-m', 'micrograde.surfaces.service.cli']
        self.api = Program('api', [*python, 'api', '--state', str(self.state), '--host', host,
                                   '--port', str(port), *api_args], self.logs / 'api.log', env)
        self.workers = [Program(f'worker{i}', [*python, 'worker', *worker_args],
                                self.logs / f'worker{i}.log', env)
                        for i in range(workers)]
        self.url = f'http://{host}:{port}'

    def _lock(self):
        """Hold the state folder's lock (released by the kernel when this process dies)."""
        fd = os.open(self.state / LOCK, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors='replace').strip() or '?'
            os.close(fd)
            raise Busy(f'another supervisor (pid {holder}) runs on {self.state}; stop it first') from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
        self.lock = fd

    def _reap(self):
        """Stop what a supervisor killed outright left running on this folder (its programs
        get a parent-death signal; this waits for them, and stops any that linger)."""
        try:
            left = json.loads((self.state / CHILDREN).read_text())
        except (OSError, ValueError):
            return
        alive = [c['pid'] for c in left if isinstance(c, dict) and _birth(c.get('pid')) == c.get('birth')]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in alive:
                try:
                    os.killpg(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.monotonic() + STOP_SECONDS
            while alive and time.monotonic() < deadline:
                alive = [pid for pid in alive if _birth(pid) is not None]
                time.sleep(0.1)

    def _remember(self):
        """Write down the programs running now, for ``_reap`` after a ``kill -9``."""
        children = [{'pid': p.proc.pid, 'birth': _birth(p.proc.pid)} for p in self.running]
        write_private(self.state / CHILDREN, json.dumps(children))

    def start(self):
        """Take the folder's lock, then start Redis (and wait for it), the API and the workers."""
        if self.lock is None:
            self._lock()
        self._reap()
        self.running = []
        if self.redis:
            self.redis.start()
            self.running.append(self.redis)
            self._remember()
            wait_for_redis(self.broker)
        for program in (self.api, *self.workers):
            program.start()
            self.running.append(program)
        self._remember()

    def wait_ready(self, timeout=60.0, grading=False):
        """Wait until the API answers its health check (with ``grading``: until it says grading
        can happen, a worker being ready)."""
        import httpx
        wanted = (200,) if grading else (200, 503)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + '/v1/health', timeout=2).status_code in wanted:
                    return
            except httpx.HTTPError:
                if self.api.proc.poll() is not None:
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f'the service at {self.url} was not ready in {timeout:g} s')
            time.sleep(0.1)

    def stop(self):
        """Stop the API and the workers, then Redis (which writes its append-only file); then
        let go of the folder."""
        stop([p.proc for p in self.running if p is not self.redis])
        if self.redis and self.redis.proc:
            stop([self.redis.proc])
        if self.lock is not None:
            (self.state / CHILDREN).unlink(missing_ok=True)
            os.close(self.lock)
            self.lock = None

    def tend(self, stopping=()):
        """Start again what exited (unless ``stopping``), and write down what runs now."""
        if any([p.check() for p in self.running if not stopping]):
            self._remember()

    @contextmanager
    def tending(self):
        """While the block runs, start again what exits, as ``run`` does (for a supervisor run
        from Python: the bench, the tests)."""
        done = threading.Event()

        def tend():
            while not done.wait(0.5):
                self.tend()
        thread = threading.Thread(target=tend, name='tending', daemon=True)
        thread.start()
        try:
            yield self
        finally:
            done.set()
            thread.join()

    def run(self):
        """Until SIGINT or SIGTERM: start everything, restart what dies; then stop it all."""
        stopping = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopping.append(True))
        self._lock()  # before anything starts: Busy leaves the other supervisor's programs be
        try:
            self.start()
            print(f'micrograde service on {self.url} (docs {self.url}/docs); '
                  f'{len(self.workers)} workers; state {self.state}; Ctrl-C stops it',
                  file=sys.stderr, flush=True)
            while not stopping:
                time.sleep(0.5)
                self.tend(stopping)
        finally:
            print('stopping...', file=sys.stderr, flush=True)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            self.stop()
            print('stopped', file=sys.stderr, flush=True)
