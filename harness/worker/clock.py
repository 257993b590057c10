"""Time limits in seconds of a whole CPU.  A busy host (``batch -j``, a shared CI runner) gives a
process part of one, so a limit of wall-clock seconds cut there what a quiet host let finish: the
same submission read otherwise.  Past its limit, work is given more time in proportion to the
share of a CPU it had, once that share is measured; work that uses none (it sleeps, or waits on a
lock) is not working and gets none.  The grader's waits for a worker's answers
(``isolate.session``) and a notebook cell's limit in the worker (``load.kernel``) use it alike;
the grading's limit for all the checks and a notebook's cells' budget are each a ``Limit``."""
import math
import time

#: Work given part of a CPU is given at most this many times its limit.
STARVED = 4
#: Seconds over which the share of a CPU is first measured, once work is past its limit.
SAMPLE = 0.1
#: Below this share of a CPU, work past its limit is not working: no more time.
IDLE = 0.05


def due(started, limit, first, now, cpu, latest=None):
    """When work begun at ``started`` (a monotonic time) with ``limit`` seconds is next due, never
    past ``latest``; ``None``: it ran out of time.  ``first``: ``(time, CPU seconds)`` when it was
    first due; ``cpu()``: its CPU seconds now (read only once ``SAMPLE`` seconds have passed)."""
    since, used = first
    if now - since < SAMPLE:
        later = since + SAMPLE
    else:
        share = (cpu() - used) / (now - since)
        later = started + limit / max(share, 1 / STARVED) if share >= IDLE else now
    later = min(later, started + STARVED * limit, latest if latest is not None else later)
    return later if later > now else None


class Limit:
    """``seconds`` of a whole CPU from ``started`` (a monotonic time) for work whose CPU seconds
    ``cpu()`` reads: ``due()`` tells when it is next due, measuring the share of a CPU only once
    it is past ``seconds``, and stays run out once it has."""

    def __init__(self, seconds, cpu, started=None, monotonic=time.monotonic):
        self.started = monotonic() if started is None else started
        self.seconds, self.cpu, self.monotonic = seconds, cpu, monotonic
        self.next = self.started + seconds
        self.first = None  # ``(time, CPU seconds)`` when it was first due

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
