"""What a deployment may set, and its defaults, in one place: the API's ``ServiceConfig`` and
the workers' ``SLOW_AFTER``.  The command line's options take their defaults from here, so it
imports nothing heavy (``micrograde --help`` stays fast).
"""
from dataclasses import dataclass, field
from pathlib import Path

from micrograde.surfaces.service import grader

SLOW_AFTER = 3.0  # seconds a run may take while others wait (an engine: 0.2 s idle, 1.9 s at most at load 17)


@dataclass
class ServiceConfig:
    """Where the state lives, which Redis, the limits and what decides a grade."""
    state: Path
    broker: str
    key: str                             # the deployment key: jobs and events are signed with it
    upload_limit: int = 8 * 2**20        # bytes of one upload; 413 past it
    rate_count: int = 20                 # submissions a learner may make per window; 429 past it
    rate_window: float = 3600.0
    max_queued: int = 500                # queued jobs before new uploads get 503 + Retry-After
    course_queued: int = 300             # of them one course's: a course's deadline leaves room
    grading_budget: float = 600.0        # seconds of grading a learner's jobs may take per window
    slow_learner: float = 60.0           # past this many seconds in the window, to the slow lane
    learner_queued: int = 3              # a learner's jobs waiting or running at once; 429 past it
    seed: int = 0
    profile: str = 'standard'
    rubric: str = field(default_factory=grader.rubric_text)
    lost_after: float = 10.0             # seconds a job's message may be missing from Redis
    keep_days: float | None = None       # graded jobs older than this are deleted (not the latest)

    @property
    def database(self):
        return Path(self.state, 'service.sqlite3')
