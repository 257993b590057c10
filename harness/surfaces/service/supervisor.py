"""``micrograde serve``: a private redis-server, the API and N workers on one machine.

Each program runs in its own session, so Ctrl-C reaches the supervisor only, which then stops
them in order (API, workers, Redis last so that it writes its append-only file) and leaves no
process behind.  A program that exits on its own is started again (with a growing pause if it
keeps dying), on the same port, so workers and the API find Redis where it was.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

STOP_SECONDS = 15.0
RESTART_PAUSE_MAX = 10.0


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def redis_command(folder, port):
    """argv of a private redis-server: loopback only, append-only file in ``folder``.

    Redis writes the file before it answers, so what it acknowledged survives a crash of Redis;
    it syncs the file to disk every second (a power loss may lose that second)."""
    exe = shutil.which('redis-server')
    if exe is None:
        raise FileNotFoundError('redis-server is not installed (make install installs it; or use '
                                '--broker redis://HOST to use an existing Redis)')
    return [exe, '--bind', '127.0.0.1', '--port', str(port), '--protected-mode', 'yes',
            '--dir', str(folder), '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '',
            '--daemonize', 'no', '--loglevel', 'warning']


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


class Program:
    """One supervised process: how to start it, and its restarts."""

    def __init__(self, name, argv, log):
        self.name, self.argv, self.log = name, argv, log
        self.proc, self.restarts, self.pause = None, 0, 0.5

    def start(self):
        self.started = time.monotonic()
        with open(self.log, 'ab') as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def check(self):
        """Start it again if it exited; a program that dies young waits longer each time."""
        if self.proc.poll() is None:
            return
        code = self.proc.returncode
        self.pause = 0.5 if time.monotonic() - self.started > 30 else min(self.pause * 2,
                                                                          RESTART_PAUSE_MAX)
        print(f'{self.name} exited ({code}); restarting in {self.pause:g} s (log: {self.log})',
              file=sys.stderr, flush=True)
        time.sleep(self.pause)
        stop([self.proc])
        self.restarts += 1
        self.start()


class Supervisor:
    def __init__(self, state, port, workers, broker=None, host='127.0.0.1', api_args=()):
        self.state = Path(state).resolve()
        self.logs = self.state / 'logs'
        self.logs.mkdir(parents=True, exist_ok=True)
        self.running = []
        if broker is None:
            folder = self.state / 'redis'
            folder.mkdir(exist_ok=True)
            redis_port = free_port()
            broker = f'redis://127.0.0.1:{redis_port}/0'
            self.redis = Program('redis', redis_command(folder, redis_port), self.logs / 'redis.log')
        else:
            self.redis = None
        self.broker = broker
        python = [sys.executable, '-m', 'micrograde.surfaces.service.cli']
        self.api = Program('api', [*python, 'api', '--state', str(self.state), '--broker', broker,
                                   '--host', host, '--port', str(port), *api_args],
                           self.logs / 'api.log')
        self.workers = [Program(f'worker{i}', [*python, 'worker', '--broker', broker],
                                self.logs / f'worker{i}.log') for i in range(workers)]
        self.url = f'http://{host}:{port}'

    def start(self):
        """Start Redis (and wait for it), the API and the workers."""
        self.running = []
        if self.redis:
            self.redis.start()
            self.running.append(self.redis)
            wait_for_redis(self.broker)
        for program in (self.api, *self.workers):
            program.start()
            self.running.append(program)

    def wait_ready(self, timeout=60.0):
        """Wait until the API answers its health check."""
        import httpx
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + '/v1/health', timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.api.proc.poll() is not None:
                    raise
            time.sleep(0.1)

    def stop(self):
        """Stop the API and the workers, then Redis (which writes its append-only file)."""
        stop([p.proc for p in self.running if p is not self.redis])
        if self.redis and self.redis.proc:
            stop([self.redis.proc])

    def run(self):
        """Until SIGINT or SIGTERM: start everything, restart what dies; then stop it all."""
        stopping = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopping.append(True))
        try:
            self.start()
            print(f'micrograde service on {self.url} (docs {self.url}/docs); broker {self.broker}; '
                  f'{len(self.workers)} workers; state {self.state}; Ctrl-C stops it',
                  file=sys.stderr, flush=True)
            while not stopping:
                time.sleep(0.5)
                for program in self.running:
                    if not stopping:
                        program.check()
        finally:
            print('stopping...', file=sys.stderr, flush=True)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            self.stop()
            print('stopped', file=sys.stderr, flush=True)
