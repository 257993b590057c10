"""Time limits in seconds of a whole CPU.  A busy host (``batch -j``, a shared CI runner) gives a
process part of one, so a limit of wall-clock seconds cut there what a quiet host let finish: the
same submission read otherwise.  Past its limit, work is given more time in proportion to the
share of a CPU it had, once that share is measured; work that uses none (it sleeps, or waits on a
lock) is not working and gets none.  The grader's waits for a worker's answers
(``isolate.session``) and a notebook cell's limit in the worker (``load.kernel``) use it alike."""

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
