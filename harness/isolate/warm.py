"""The grader's side of a warm template sandbox (the worker side is ``worker/forkserver.py``).

One per grading process: notebooks then pay for their own code only, not for importing torch,
numpy and matplotlib again.  Each job runs as a uid used for nothing else, with a read-only copy
of its submission that only that uid's group may read (so jobs cannot see one another), and its
own /tmp, which is also its home: a tmpfs of ``sandbox.SCRATCH_SIZE`` bytes in a mount namespace
of its own, gone with the job's last process (nothing one job leaves there reaches another).
"""
import contextlib
import json
import os
import select
import signal
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from micrograde.isolate import allowlist, sandbox


#: Bytes the template itself may hold beside a job's (numpy, matplotlib, graphviz; torch where
#: the rubric allows it): with ``memory``, the template and its jobs share one cgroup.
OWN_MEMORY = 1 << 30

#: Seconds a template may take to answer a request (a busy host) before it is called wedged.
REPLY_TIMEOUT = 30

#: A job's ``oom_score_adj``, set from here (as root, so the job can never lower it): the
#: template and its jobs share one cgroup, and past its cap the kernel's OOM killer takes the
#: process holding most memory by its own count, which memory held where no process maps it
#: (``memfd_create``, a job's /tmp) is not: before, that was the template (redteam14), every job
#: of the grading process then waiting for a new one.  At 1000 every process of the job comes
#: first, whatever it holds; jobs are killed until the cgroup fits, the template never.
JOB_OOM_SCORE = 1000

#: Seconds between looks at whether a template slow to answer is stopped (SIGSTOP, a tracer):
#: such a template never answers, and every later spawn would wait ``REPLY_TIMEOUT`` for it.
STOPPED_EVERY = 0.25


class WarmTemplate:

    def __init__(self, imports, memory=None):
        """``memory``: bytes a job may hold in all (``sandbox.MemoryCap``), the template's own
        beside."""
        self.jobs = allowlist.own_folder('jobs')
        os.chmod(self.jobs, 0o711)
        # one record per message (a spawn's descriptors ride with its own): replies to ends
        # not waited for are read before the next request's
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.control.settimeout(REPLY_TIMEOUT)  # a send to a template that reads no more
        self.unread = 0  # replies to ends sent without waiting
        self.proc = sandbox.start(sandbox.template_command(self.jobs, theirs.fileno(), imports),
                                  memory and memory + OWN_MEMORY, pass_fds=(theirs.fileno(),),
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        theirs.close()
        self.uids = {}
        self._watchers = {}  # job -> (thread, write end that stops it): see _watch
        self.broken = False  # it did not answer an end: gone (killed, out of memory) or wedged

    def spawn(self, submission):
        """``(job, path inside, (to_worker, from_worker, output))`` of a fresh forked worker."""
        uid = sandbox.throwaway_uid()
        job = f'job{uid}'
        folder = self.jobs / job
        folder.mkdir()
        # watched from here: a grader killed outright while the template starts (the first
        # spawn waits seconds for it) leaves no copy of the submission behind
        sandbox.warden().watch(uid, folder)
        try:
            os.chmod(folder, 0o750)  # the job reads its copy here and writes nothing
            os.chown(folder, -1, uid)
            copy = sandbox.copy_submission(submission, folder, group=uid)
        except BaseException:
            self._forget(uid, folder)
            raise
        inside = copy and f'/jobs/{job}/submission/{Path(copy).name}'
        to_worker_r, to_worker = os.pipe()
        from_worker, from_worker_w = os.pipe()
        out_r, out_w = os.pipe()
        theirs = (to_worker_r, from_worker_w, out_w)
        try:
            reply = self._ask({'op': 'spawn', 'job': job, 'uid': uid, 'tmp': sandbox.SCRATCH_SIZE,
                               'inodes': sandbox.SCRATCH_INODES}, theirs)
            self._bound(job, reply.get('pid'), uid, remount=reply.get('inodes') != sandbox.SCRATCH_INODES)
        except OSError:  # gone, wedged or stopped: no later job is forked from it either
            self.broken = True
            for fd in (to_worker, from_worker, out_r):
                os.close(fd)
            self._unwatch(job)
            self._forget(uid, folder)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        self.uids[job] = uid
        return job, inside, (to_worker, from_worker, out_r)

    def _bound(self, job, pid, uid, remount=True):
        """Bound the job forked as ``pid`` (in the template's pid namespace) before it reads
        the submission (it waits for the grader's first request): every process it will start
        is the OOM killer's first choice (``JOB_OOM_SCORE``), and its /tmp holds at most
        ``sandbox.SCRATCH_INODES`` files.  A template that does not say it mounted the job's
        /tmp so (``inodes`` in its answer) has it remounted here, in the job's mount namespace
        (~8 ms: a mount program), once the job runs as ``uid`` (it mounts its /tmp before:
        remounted sooner, the template's own /tmp was).  A mount that fails leaves the kernel's
        default, the memory cap still counting them.  A job already gone is skipped."""
        if not isinstance(pid, int):
            raise OSError('the template answered a spawn with no pid')
        host = self._host_pid(pid)
        if host is None:
            return
        try:  # as root, which also sets the job's floor (``oom_score_adj_min``)
            with open(f'/proc/{host}/oom_score_adj', 'w') as f:
                f.write(str(JOB_OOM_SCORE))
        except OSError:
            return  # gone already
        self._watch(job, host, uid)
        if not remount:
            return
        deadline = time.monotonic() + REPLY_TIMEOUT
        while not self._runs_as(host, uid):
            if time.monotonic() > deadline or not os.path.exists(f'/proc/{host}/ns/mnt'):
                return  # gone (its /tmp could not be mounted), or wedged: its end kills it
            time.sleep(0.001)
        try:
            subprocess.run([sandbox.MOUNT, '-N', f'/proc/{host}/ns/mnt', '-o',
                            sandbox.SCRATCH_REMOUNT, '/tmp'], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=REPLY_TIMEOUT, check=False)
        except subprocess.SubprocessError:
            pass

    def _watch(self, job, host, uid):
        """Kill every process of the job once its worker (``host``) is gone, until ``end``.
        A worker of its own dies with its sandbox's pid namespace, everything it started with
        it, so the grader reads its end at once ("killed by SIGKILL (out of memory?)"); a job's
        processes share the template's, and any child it forked kept the worker's pipes open:
        a worker killed for memory beside a child read as a load that hung, 60 s later."""
        try:
            watched = os.pidfd_open(host)
        except (OSError, AttributeError):
            return  # gone already (its end is read), or no pidfd here
        stop_r, stop_w = os.pipe()

        def watch():
            try:
                poller = select.poll()
                poller.register(watched, select.POLLIN)
                poller.register(stop_r, select.POLLIN)
                if any(fd == watched for fd, _ in poller.poll()):
                    for _ in range(10):  # as root, no fork of this grader (``end`` kills all)
                        left = sandbox.uid_processes(uid)
                        for pid in left:
                            with contextlib.suppress(OSError):
                                os.kill(pid, signal.SIGKILL)
                        if not left:
                            break
            finally:
                os.close(watched)
                os.close(stop_r)
        thread = threading.Thread(target=watch, name=f'watch-{job}', daemon=True)
        thread.start()
        self._watchers[job] = thread, stop_w

    def _unwatch(self, job):
        """Stop the job's watcher (``_watch``) before its uid is released or handed out again."""
        thread, stop = self._watchers.pop(job, (None, None))
        if thread is not None:
            os.close(stop)
            thread.join()

    @staticmethod
    def _runs_as(host, uid):
        try:
            with open(f'/proc/{host}/status') as f:
                return next(line.split()[1] for line in f if line.startswith('Uid:')) == str(uid)
        except (OSError, StopIteration, IndexError):
            return False

    def _host_pid(self, pid):
        """The host's pid of the template's child ``pid``: the process of the template's tree
        (bubblewrap, its pid 1, the template, its children) whose innermost pid is ``pid``."""
        level = [self.proc.pid]
        for _ in range(4):
            below = []
            for parent in level:
                try:
                    with open(f'/proc/{parent}/task/{parent}/children') as f:
                        below += map(int, f.read().split())
                except OSError:
                    continue
            for child in below:
                try:
                    with open(f'/proc/{child}/status') as f:
                        ids = next(line.split()[1:] for line in f if line.startswith('NSpid:'))
                except (OSError, StopIteration):
                    continue
                if len(ids) > 1 and ids[-1] == str(pid):
                    return child
            level = below
        return None

    @staticmethod
    def _forget(uid, folder):
        shutil.rmtree(folder, ignore_errors=True)
        sandbox.warden().release(uid)

    def end(self, job, wait=True):
        """Kill every process of the job, delete its folder; the worker's exit code, if
        ``wait`` for it.  Without ``wait`` (its answers are in) the kill is asked for and not
        waited on: the template kills the job's processes before it serves the next request, so
        the uid is never handed out while one of them lives."""
        uid = self.uids.pop(job)
        self._unwatch(job)
        message = {'op': 'end', 'job': job, 'uid': uid, 'wait': wait}
        status = None
        try:
            if wait:
                status = self._ask(message).get('status')
            else:
                self._send(message)
                self.unread += 1
        except OSError:  # the template, not the job, is lost: no later job is forked from it
            self.broken = True
        shutil.rmtree(self.jobs / job, ignore_errors=True)
        sandbox.warden().release(uid)
        return status

    def _ask(self, message, fds=()):
        self._send(message, fds)
        self._caught_up()
        return self._reply()

    def _caught_up(self):
        """Read the replies to the ends not waited for (they come first, in order)."""
        while self.unread:
            self._reply()
            self.unread -= 1

    def _send(self, message, fds=()):
        if self.proc.poll() is not None:
            raise OSError('the template has exited')
        socket.send_fds(self.control, [json.dumps(message).encode()], list(fds))

    def _reply(self):
        """The template's next answer; ``OSError`` if it closed its socket, has not answered
        within ``REPLY_TIMEOUT`` seconds, or is stopped (it would never answer)."""
        poller = select.poll()
        poller.register(self.control, select.POLLIN)
        deadline = time.monotonic() + REPLY_TIMEOUT
        while not poller.poll(STOPPED_EVERY * 1000):
            if self._stopped():
                raise OSError('the template is stopped')
            if time.monotonic() > deadline:
                raise TimeoutError('the template did not answer')
        data = self.control.recv(65536)
        if not data:
            raise OSError('the template closed its control socket')
        return json.loads(data)

    def _stopped(self):
        """Whether a process of the template's own (this grader's uid, not a job's) is stopped
        or traced: the template itself, bubblewrap above it, or its killer of jobs.  A job that
        stops itself is its own business (another uid), and ends with its time limit.  One pass
        over /proc (each process's parent and state), then the uids of the template's tree."""
        kids, states = {}, {}
        for entry in os.listdir('/proc'):
            if entry.isdigit():
                try:
                    with open(f'/proc/{entry}/stat', 'rb') as f:
                        state, parent = f.read().rpartition(b')')[2].split()[:2]
                except (OSError, ValueError):
                    continue
                states[int(entry)] = state
                kids.setdefault(int(parent), []).append(int(entry))
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:  # its real uid (/proc/<pid>'s owner is root for a job made from root)
                with open(f'/proc/{pid}/status') as f:
                    uid = next(line.split()[1] for line in f if line.startswith('Uid:'))
            except (OSError, StopIteration, IndexError):
                continue
            if int(uid) != os.getuid():
                continue  # a job, and all it started
            if states.get(pid) in (b'T', b't'):
                return True
            todo += kids.get(pid, [])
        return False

    def close(self):
        for job in list(self._watchers):
            self._unwatch(job)
        try:
            if not self.broken:
                self._caught_up()  # the last jobs' kills are done before the template goes
        except OSError:
            pass
        self.control.close()
        self.proc.kill()
        self.proc.wait()
        sandbox.stop(self.proc)
        shutil.rmtree(self.jobs, ignore_errors=True)
