"""Time limits in seconds of a whole CPU.  A busy host (``batch -j``, a shared CI runner) gives a
process part of one, so a limit of wall-clock seconds cut there what a quiet host let finish: the
same submission read otherwise.  Past its limit, work is given more time in proportion to the
share of a CPU it had, once that share is measured; work that uses none (it sleeps, or waits on a
lock) is not working and gets none.  The grader's waits for a worker's answers
(``isolate.session``) and a notebook cell's limit in the worker (``load.kernel``) use it alike;
the grading's limit for all the checks and a notebook's cells' budget are each a ``Limit``.

The share is the larger of the CPU seconds per second of the wall clock and, where the reading
says so, the share of a CPU the work got while it wanted one (its run time over its run time
and the time it waited in the host's run queue, ``/proc/<pid>/task/<tid>/schedstat``).  Work that
sleeps part of the time is not starved: on a quiet host its tasks never wait for a CPU, so it
gets no more time, however little CPU it uses.  Before: measured past the limit only, a
submission that ran flat out to its limit and then used a quarter of each 100 ms got four times
the limit of wall time, 1.75 times its limit of CPU (a check a quiet host timed out passed); one
hanging that used 6% of a CPU held its grader four times its limit (attacker17)."""
import math
import os
import time

#: Work given part of a CPU is given at most this many times its limit.
STARVED = 4
#: Seconds over which the share of a CPU is first measured, once work is past its limit.
SAMPLE = 0.1
#: Below this share of a CPU, work past its limit is not working: no more time.
IDLE = 0.05


def due(started, limit, first, now, cpu, latest=None):
    """When work begun at ``started`` (a monotonic time) with ``limit`` seconds is next due, never
    past ``latest``; ``None``: it ran out of time.  ``first``: ``(time, reading)`` when it was
    first due; ``cpu()``: its reading now (read only once ``SAMPLE`` seconds have passed), CPU
    seconds or ``(CPU seconds, seconds run, seconds waited for a CPU)`` (``sandbox.usage``)."""
    since, used = first
    if now - since < SAMPLE:
        later = since + SAMPLE
    else:
        (spent, ran, waited), (was, had, queued) = _reading(cpu()), _reading(used)
        share = (spent - was) / (now - since)  # in clock ticks (10 ms: 0.1 of a share here)
        given = share
        if ran is not None and had is not None:  # in nanoseconds; threads that ended are not counted
            share = max(share, (ran - had) / (now - since))
            given = (ran - had) / max(ran - had + waited - queued, 1e-9)
        later = started + limit / max(share, given, 1 / STARVED) if share >= IDLE else now
    later = min(later, started + STARVED * limit, latest if latest is not None else later)
    return later if later > now else None


def _reading(reading):
    """``(CPU seconds, seconds run or None, seconds waited or None)`` of a reading."""
    return (reading, None, None) if isinstance(reading, (int, float)) else tuple(reading)


def schedstat(tasks='/proc/self/task', listdir=os.listdir, read=open):
    """``(nanoseconds run, nanoseconds waited for a CPU)`` summed over a process's threads (its
    ``tasks`` folder in ``/proc``), or ``(None, None)`` where the kernel keeps no such count."""
    ran = waited = 0
    try:
        for tid in listdir(tasks):
            try:
                with read(f'{tasks}/{tid}/schedstat') as f:
                    fields = f.read().split()
            except OSError:  # a thread that ended meanwhile
                continue
            ran, waited = ran + int(fields[0]), waited + int(fields[1])
    except (OSError, ValueError, IndexError):
        return None, None
    return ran, waited


def usage(process_time=time.process_time, schedstat=schedstat):
    """``(CPU seconds, seconds run, seconds waited for a CPU)`` of this process, or ``(CPU
    seconds, None, None)`` where the kernel keeps no such count: a notebook's cells' clock in
    the worker, read as the grader reads the worker's (``sandbox.usage``), so that the two
    agree."""
    ran, waited = schedstat()
    if ran is None:
        return process_time(), None, None
    return process_time(), ran / 1e9, waited / 1e9


class Limit:
    """``seconds`` of a whole CPU from ``started`` (a monotonic time) for work whose use of a CPU
    ``cpu()`` reads (CPU seconds, or ``usage``'s triple): ``due()`` tells when it is next due,
    measuring the share of a CPU only once it is past ``seconds``, and stays run out once it
    has."""

    def __init__(self, seconds, cpu, started=None, monotonic=time.monotonic):
        self.started = monotonic() if started is None else started
        self.seconds, self.cpu, self.monotonic = seconds, cpu, monotonic
        self.next = self.started + seconds
        self.first = None  # ``(time, cpu())`` when it was first due

    def due(self):
        """When it is next due (``time.monotonic()``); ``-inf`` once it has run out: long past,
        not "now", which a moment later reads to a waiter as time left (a wait that spun)."""
        now = self.monotonic()
        if now < self.next or self.next == -math.inf:
            return self.next
        self.first = self.first or (now, self.cpu())
        later = due(self.started, self.seconds, self.first, now, self.cpu)
        self.next = -math.inf if later is None else later
        return self.next

    def out(self):
        """Whether it has run out."""
        return self.due() == -math.inf
