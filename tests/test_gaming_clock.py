"""The CPU-second clock (``worker/clock.py``) read from inside the submission: past its limit,
work is given more time in proportion to the share of a CPU it had, measured once it is past
that limit.  A submission chooses its share then: flat out to its limit, then a quarter of each
100 ms, it got four times its limit of wall time and 1.75 times its limit of CPU (a check that
timed out on a quiet host, run so, passed); a hang using 6% of a CPU (above ``IDLE``) held the
grader four times its limit.  A share the host gave is one the work waited for in the host's run
queue: where the reading says so (``sandbox.usage``: the time its threads ran and waited), work
that did not wait for a CPU is not starved and gets no more time, whatever share it used.

The first tests replay the clock's waits as ``Worker.receive`` does, on a host simulated in
steps of a millisecond (a process runs ``share`` of the time it wants a CPU, and waits the
rest); the last ones read real processes.  Repro on real workers:
``/work/scratch/attacker17/clock/`` (``run.py``, the rules in ``mk.py``)."""
import os
import subprocess
import sys
import time

import pytest

from micrograde.isolate import sandbox
from micrograde.worker import clock

LIMIT = 1.0
STEP = 0.001


def _waited_for(wants, share=1.0, limit=LIMIT, need=None, readings=True, tick=None):
    """``(wall seconds, CPU seconds)`` the clock gives work that wants a CPU ``wants(t)`` of the
    time (``t`` since it began) on a host giving it ``share`` of one while it wants it, until
    it is due (or has used ``need`` CPU seconds: then it answered).  ``readings``: the clock reads
    ``(CPU, run, waited)`` (a grader reading ``/proc``), else CPU seconds only.  ``tick``: the
    CPU seconds are counted in clock ticks (``/proc/<pid>/stat``), the first one ``tick`` seconds
    in (its phase); the run and waited times in nanoseconds (``schedstat``)."""
    t = cpu = waited = 0.0
    deadline, measured = limit, None

    def read():
        spent = cpu if tick is None else (cpu + tick) // 0.01 * 0.01
        return (spent, cpu, waited) if readings else spent
    while True:
        while t < deadline:
            want = wants(t)
            cpu, waited, t = cpu + want * share * STEP, waited + want * (1 - share) * STEP, t + STEP
            if need is not None and cpu >= need:
                return t, cpu
        measured = measured or (t, read())
        deadline = clock.due(0.0, limit, measured, t, read)
        if deadline is None:
            return t, cpu


def _throttled(t):
    """Flat out to just under the limit, then a quarter of the time."""
    return 1.0 if t < 0.95 * LIMIT else 0.25


def test_work_that_slows_down_past_its_limit_gets_no_more_cpu_on_a_quiet_host():
    """Before: 1.75 times its limit of CPU (four times the limit of wall time): work needing
    1.5 times its limit of CPU, which times out run flat out, answered run so."""
    wall, cpu = _waited_for(_throttled)
    assert cpu < LIMIT + 2 * clock.SAMPLE and wall < LIMIT + 3 * clock.SAMPLE, (wall, cpu)
    assert _waited_for(_throttled, need=1.5 * LIMIT)[1] < 1.5 * LIMIT


def test_a_hang_using_a_little_cpu_is_not_waited_for_on_a_quiet_host():
    """Before: a hang using 6% of a CPU (over ``IDLE``) was waited for four times its limit."""
    wall, _ = _waited_for(lambda t: 0.06)
    assert wall < LIMIT + 3 * clock.SAMPLE, wall


@pytest.mark.parametrize('share', [1 / 3, 1 / 2])
def test_work_a_busy_host_starves_still_gets_its_limit_of_cpu(share):
    """What the clock is for, read the new way: flat out on a third (a half) of a CPU, the
    work gets its limit of CPU (three, two times the wall time), and the throttled one no more
    than its limit either."""
    wall, cpu = _waited_for(lambda t: 1.0, share)
    assert LIMIT * 0.95 < cpu < LIMIT + clock.SAMPLE and wall < LIMIT / share + 2 * clock.SAMPLE
    assert _waited_for(_throttled, share)[1] < LIMIT + clock.SAMPLE


def test_a_share_near_idle_is_read_alike_whatever_the_clock_ticks_phase():
    """The share is first measured over ``SAMPLE`` (0.1 s): counted in clock ticks of 10 ms, a
    worker given 7% of a CPU read as 0 or as 0.1 by the phase of the ticks, so it was given no
    more time (``IDLE``) or four times its limit: the same hang one second or four (a strike
    either way; at the grading's limit, the checks after it run or not)."""
    walls = {round(_waited_for(lambda t: 0.28, 1 / 4, tick=phase)[0], 1)
             for phase in (0.0, 0.003, 0.006, 0.009)}
    assert len(walls) == 1, walls


def test_a_clock_reading_cpu_seconds_only_gives_what_it_gave():
    """CPU seconds only (a worker's cell clock, ``load.kernel``): the share is the CPU's."""
    wall, cpu = _waited_for(lambda t: 1.0, 1 / 2, readings=False)
    assert LIMIT * 0.95 < cpu < LIMIT + clock.SAMPLE and 1.9 * LIMIT < wall < 2.2 * LIMIT
    assert _waited_for(lambda t: 0.0, readings=False)[0] < LIMIT + 2 * clock.SAMPLE


def _child(code):
    since = sandbox.last_pid()
    child = subprocess.Popen([sys.executable, '-c', code])
    return since, child


def test_usage_reads_the_time_a_worker_waited_for_a_cpu():
    """``sandbox.usage``: a process pinned with two spinning ones to a CPU waits for it about
    two thirds of the time; one that sleeps neither runs nor waits."""
    cpu = min(os.sched_getaffinity(0))
    spin = f'import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass'
    hogs = [subprocess.Popen([sys.executable, '-c', spin]) for _ in range(2)]
    since, burner = _child(spin)
    _, sleeper = _child('import time\ntime.sleep(30)')
    try:
        time.sleep(0.5)
        first = sandbox.usage(since, burner.pid), sandbox.usage(since, sleeper.pid)
        time.sleep(1.0)
        burnt, slept = sandbox.usage(since, burner.pid), sandbox.usage(since, sleeper.pid)
    finally:
        for each in (*hogs, burner, sleeper):
            each.kill()
            each.wait()
    ran, waited = burnt[1] - first[0][1], burnt[2] - first[0][2]
    assert ran / (ran + waited) < 0.5, (ran, waited)  # a third, or less on a busy host
    assert slept[1] - first[1][1] < 0.05 and slept[2] - first[1][2] < 0.05, (first, slept)
