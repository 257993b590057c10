"""The grader's side of a warm template sandbox (the worker side is ``worker/forkserver.py``).

One per grading process: notebooks then pay for their own code only, not for importing torch,
numpy and matplotlib again.  Each job gets a folder of its own (a copy of the submission and a
home) owned by a uid used for nothing else, so jobs cannot see one another.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from micrograde.isolate import sandbox


class WarmTemplate:

    def __init__(self, imports):
        self.jobs = Path(tempfile.mkdtemp(prefix='micrograde-jobs-'))
        os.chmod(self.jobs, 0o711)
        self.control, theirs = socket.socketpair()
        self.proc = sandbox.start(sandbox.template_command(self.jobs, theirs.fileno(), imports),
                                  pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        theirs.close()
        self.uids = {}

    def spawn(self, submission):
        """``(job, path inside, (to_worker, from_worker, output))`` of a fresh forked worker."""
        uid = sandbox.throwaway_uid()
        job = f'job{uid}'
        folder = self.jobs / job
        home = folder / 'home'
        home.mkdir(parents=True)
        inside = None
        if submission is not None:
            src = Path(submission)
            target = folder / 'submission' / src.name
            target.parent.mkdir()
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, target)
            inside = f'/jobs/{job}/submission/{src.name}'
        for path in (folder, *folder.rglob('*')):
            os.lchown(path, uid, uid)
        os.chmod(folder, 0o700)
        to_worker_r, to_worker = os.pipe()
        from_worker, from_worker_w = os.pipe()
        out_r, out_w = os.pipe()
        theirs = (to_worker_r, from_worker_w, out_w)
        try:
            self._ask({'op': 'spawn', 'job': job, 'uid': uid, 'home': f'/jobs/{job}/home'}, theirs)
        except OSError:
            for fd in (to_worker, from_worker, out_r):
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        self.uids[job] = uid
        return job, inside, (to_worker, from_worker, out_r)

    def end(self, job, wait=True):
        """Kill every process of the job, delete its folder; the worker's exit code, if
        ``wait`` for it (SIGKILL has reached every process of the job either way)."""
        uid = self.uids.pop(job)
        try:
            status = self._ask({'op': 'end', 'job': job, 'uid': uid, 'wait': wait}).get('status')
        except OSError:
            status = None
        shutil.rmtree(self.jobs / job, ignore_errors=True)
        return status

    def _ask(self, message, fds=()):
        if self.proc.poll() is not None:
            raise OSError('the template has exited')
        socket.send_fds(self.control, [json.dumps(message).encode()], list(fds))
        self.control.settimeout(30)
        data = self.control.recv(65536)
        if not data:
            raise OSError('the template closed its control socket')
        return json.loads(data)

    def close(self):
        self.control.close()
        self.proc.kill()
        self.proc.wait()
        sandbox.stop(self.proc)
        shutil.rmtree(self.jobs, ignore_errors=True)
