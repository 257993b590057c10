"""The grader's side of a warm template sandbox (the worker side is ``worker/forkserver.py``).

One per grading process: notebooks then pay for their own code only, not for importing torch,
numpy and matplotlib again.  Each job runs as a uid used for nothing else, with a read-only copy
of its submission that only that uid's group may read (so jobs cannot see one another), and its
own /tmp, which is also its home: a tmpfs of ``sandbox.SCRATCH_SIZE`` bytes in a mount namespace
of its own, gone with the job's last process (nothing one job leaves there reaches another).
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from micrograde.isolate import sandbox


#: Bytes the template itself may hold beside a job's (numpy, matplotlib, graphviz; torch where
#: the rubric allows it): with ``memory``, the template and its jobs share one cgroup.
OWN_MEMORY = 1 << 30


class WarmTemplate:

    def __init__(self, imports, memory=None):
        """``memory``: bytes a job may hold in all (``sandbox.MemoryCap``), the template's own
        beside."""
        self.jobs = Path(tempfile.mkdtemp(prefix='micrograde-jobs-'))
        os.chmod(self.jobs, 0o711)
        # one record per message (a spawn's descriptors ride with its own): replies to ends
        # not waited for are read before the next request's
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.unread = 0  # replies to ends sent without waiting
        self.proc = sandbox.start(sandbox.template_command(self.jobs, theirs.fileno(), imports),
                                  memory and memory + OWN_MEMORY, pass_fds=(theirs.fileno(),),
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        theirs.close()
        self.uids = {}
        self.broken = False  # it did not answer an end: gone (killed, out of memory) or wedged

    def spawn(self, submission):
        """``(job, path inside, (to_worker, from_worker, output))`` of a fresh forked worker."""
        uid = sandbox.throwaway_uid()
        job = f'job{uid}'
        folder = self.jobs / job
        folder.mkdir()
        os.chmod(folder, 0o750)  # the job reads its copy here and writes nothing
        os.chown(folder, -1, uid)
        try:
            copy = sandbox.copy_submission(submission, folder, group=uid)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        inside = copy and f'/jobs/{job}/submission/{Path(copy).name}'
        to_worker_r, to_worker = os.pipe()
        from_worker, from_worker_w = os.pipe()
        out_r, out_w = os.pipe()
        theirs = (to_worker_r, from_worker_w, out_w)
        try:
            self._ask({'op': 'spawn', 'job': job, 'uid': uid, 'tmp': sandbox.SCRATCH_SIZE}, theirs)
        except OSError:
            for fd in (to_worker, from_worker, out_r):
                os.close(fd)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        self.uids[job] = uid
        sandbox.warden().watch(uid, folder)
        return job, inside, (to_worker, from_worker, out_r)

    def end(self, job, wait=True):
        """Kill every process of the job, delete its folder; the worker's exit code, if
        ``wait`` for it.  Without ``wait`` (its answers are in) the kill is asked for and not
        waited on: the template kills the job's processes before it serves the next request, so
        the uid is never handed out while one of them lives."""
        uid = self.uids.pop(job)
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
        self.control.settimeout(30)
        data = self.control.recv(65536)
        if not data:
            raise OSError('the template closed its control socket')
        return json.loads(data)

    def close(self):
        try:
            self._caught_up()  # the last jobs' kills are done before the template goes
        except OSError:
            pass
        self.control.close()
        self.proc.kill()
        self.proc.wait()
        sandbox.stop(self.proc)
        shutil.rmtree(self.jobs, ignore_errors=True)
