"""The worker side of a warm template: import what notebooks import once, then fork one fresh
worker per job (the grader side is ``harness/warm.py``).

Runs inside the sandbox with only CAP_SETUID/CAP_SETGID/CAP_SYS_ADMIN; it never runs submission
code itself.  Each child first mounts its own /tmp (a tmpfs of the size asked for, in a mount
namespace of its own: also the job's home, gone with its last process) and takes an IPC
namespace of its own (System V shared memory, queues and semaphores outlive the processes that
make them: in the template's they stayed, memory no limit counts, for every later job to see,
until the template ended), then drops, before it
reads anything, to the job's own uid (fresh for every submission) with no capabilities and
no_new_privs, so a submission can neither signal nor trace the template or another submission,
nor read another job's folder (0750, its group that job's uid), nor ask the killer for anything.

Control messages on a Unix socket (JSON, with the job's three pipe fds passed alongside):
``{"op": "spawn", "job", "uid", "tmp"}`` (bytes) -> ``{"pid"}``; ``{"op": "end", "uid", "job", "wait"}``
kills every process of that uid -> ``{"status"}`` (the worker's exit code when ``wait``, else null:
the reply then does not wait for the kernel to free the dead worker's memory, ~8 ms).
"""
import ctypes
import gc
import json
import os
import signal
import socket

from .serve import COLLECTIONS, serve

PRELOAD = ('numpy', 'matplotlib', 'matplotlib.pyplot', 'torch', 'graphviz')
PR_SET_NO_NEW_PRIVS = 38
CAPABILITY_VERSION_3 = 0x20080522  # _LINUX_CAPABILITY_VERSION_3: 64-bit sets, two words
CLONE_NEWNS, CLONE_NEWIPC, MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x20000, 0x8000000, 2, 4, 1 << 14, 1 << 18


def preload():
    """Import what notebooks import, and run each once: a child forked after that pays neither
    for the import nor for the first-call set-up (fonts, autograd engine, dispatch tables)."""
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception:
            pass
    for warm in (_warm_numpy, _warm_matplotlib, _warm_torch, _warm_graphviz):
        try:
            warm()
        except Exception:
            pass


def freeze():
    """Put every object made so far where the collector never looks, and keep full collections
    as rare as they are in a process whose objects are not frozen.

    Children must not walk (and so copy-on-write) the template's millions of objects at every
    collection.  But frozen objects leave CPython's long-lived count, which keeps full
    collections to one per 25% growth of the survivors; at ~0 one would run at every 10th
    middle collection, each walking all a worker made (a 5000-node graph, a notebook's
    training run): ~20 ms a grade.  One per 100 is about what the unfrozen count would give."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTIONS)


def _warm_numpy():
    import numpy as np
    np.arange(-5, 5, 0.25) ** 2


def _warm_matplotlib():
    import io
    import matplotlib.pyplot as plt
    plt.plot([0.0, 1.0], [1.0, 0.0])
    plt.savefig(io.BytesIO(), format='png')
    plt.close('all')


def _warm_torch():
    import torch
    x = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    (x * 3).tanh().sum().backward()
    torch.Tensor([2.0]).double()


def _warm_graphviz():
    from graphviz import Digraph
    dot = Digraph(format='svg', graph_attr={'rankdir': 'LR'})
    dot.node('a', label='{ a | data 1.0 }', shape='record')
    dot.edge('a', 'a')
    return dot.source


def serve_template(control_fd):
    killer = _start_killer(control_fd)  # before the imports: forking it stays cheap
    preload()
    freeze()
    control = socket.socket(fileno=control_fd)
    children = {}
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, 65536, 3)
        except OSError:
            return
        if not data:
            return
        msg = json.loads(data)
        if msg['op'] == 'spawn':
            pid = os.fork()
            if pid == 0:
                control.close()
                for fd in killer:
                    os.close(fd)
                _become_worker(msg, *fds)
            for fd in fds:
                os.close(fd)
            children[msg['job']] = pid
            reply = {'pid': pid, 'inodes': msg.get('inodes')}  # its /tmp's bound: see _own_tmp
        else:
            reply = {'status': _end(killer, msg['uid'], children.pop(msg['job'], None),
                                    msg.get('wait', True))}
        control.sendall(json.dumps(reply).encode())


def _become_worker(msg, rfd, wfd, outfd):
    try:
        os.dup2(outfd, 1)
        os.dup2(outfd, 2)
        os.close(outfd)
        os.setsid()
        libc = ctypes.CDLL(None, use_errno=True)
        _own_tmp(libc, int(msg['tmp']), int(msg.get('inodes') or 0))
        uid = msg['uid']
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)  # from root to a non-zero uid: every capability it could use is gone
        _no_inheritable(libc)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        os.chdir('/tmp')
        os.environ.update(HOME='/tmp', TMPDIR='/tmp', MPLCONFIGDIR='/tmp/.matplotlib')
        serve(rfd, wfd)
    except BaseException:
        pass
    finally:
        os._exit(0)


class _CapHeader(ctypes.Structure):
    _fields_ = [('version', ctypes.c_uint32), ('pid', ctypes.c_int)]


def _no_inheritable(libc):
    """Clear the inheritable capabilities ``setuid`` leaves (the template's SETUID, SETGID and
    SYS_ADMIN): a worker of its own (bubblewrap's ``--cap-drop ALL``) has none, and a job
    forked from here has no more.  Its effective and permitted sets are empty already."""
    header = _CapHeader(CAPABILITY_VERSION_3, 0)
    empty = (ctypes.c_uint32 * 6)()  # two (effective, permitted, inheritable) words, all 0
    if libc.capset(ctypes.byref(header), empty) != 0:
        raise OSError(ctypes.get_errno(), 'capset')


def _own_tmp(libc, size, inodes=0):
    """A fresh tmpfs of ``size`` bytes over /tmp, seen by this job alone, and an IPC namespace
    of its own (both die with its last process, and the tmpfs and any System V object with
    them); nothing serves the job if this fails."""
    def check(result, what):
        if result != 0:
            raise OSError(ctypes.get_errno(), what)
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), 'unshare')
    check(libc.mount(b'none', b'/', None, MS_REC | MS_PRIVATE, None), 'private mounts')
    options = b'size=%d,mode=1777' % size + (b',nr_inodes=%d' % inodes if inodes else b'')
    check(libc.mount(b'tmpfs', b'/tmp', b'tmpfs', MS_NOSUID | MS_NODEV, options), 'mount /tmp')


def _start_killer(control_fd):
    """``(to, from)`` pipes of a small process that kills all processes of a uid on request.

    Killing as that uid needs a process that becomes it; forked from the template (torch and
    all imported) that costs ~13 ms of page tables per job, forked from this small process,
    started before the imports, well under one."""
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    if os.fork() == 0:
        try:
            for fd in (to_w, from_r, control_fd):
                os.close(fd)
            while True:
                uid = os.read(to_r, 64)
                if not uid:
                    break
                _kill_all(int(uid))
                os.write(from_w, b'k')
        finally:
            os._exit(0)
    os.close(to_r)
    os.close(from_w)
    return to_w, from_r


def _kill_all(uid):
    """SIGKILL every process of ``uid``, from a child that becomes it: exactly its own."""
    helper = os.fork()
    if helper == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(helper, 0)


def _end(killer, uid, pid, wait):
    """Kill every process of ``uid`` (escaped daemons included); with ``wait``, reap the worker
    for its exit code (else it is reaped with the orphans, here or at a later end).  A worker
    ended right after its spawn may not have taken ``uid`` yet: a kill as that uid misses it, so
    the worker itself, still this process's unreaped child, is killed first (redteam14)."""
    if pid is not None:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)  # not reaped yet
            os.kill(pid, signal.SIGKILL)
        except OSError:  # reaped already, or its uid already (no CAP_KILL): killed as that uid
            pass
    try:
        os.write(killer[0], b'%d' % uid)
        if os.read(killer[1], 1) != b'k':
            raise OSError('the killer has gone')
    except OSError:
        _kill_all(uid)  # slower from here, never skipped
    status = None
    if pid is not None and wait:
        try:
            _, raw = os.waitpid(pid, 0)
            status = os.waitstatus_to_exitcode(raw)
        except ChildProcessError:
            pass
    while True:  # reap orphans re-parented to us
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break
    return status
