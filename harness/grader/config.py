"""Everything that decides a grade besides the submission itself, in one torch-free module.

The command line's option defaults, the batch, the benchmark and the Python API all read their
defaults from here, so a default is written once.
"""
import hmac
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from micrograde.grader.rubric import Rubric
from micrograde.model.results import Isolation

#: Where a worker runs: ``auto`` picks the strongest of bubblewrap, landlock, process that runs here.
ISOLATION_LEVELS = ('auto', *(level.value for level in Isolation if level))

#: The class each role is looked up by, unless ``--class ROLE=NAME`` says otherwise.
CLASS_NAMES = {'Value': 'Value', 'Neuron': 'Neuron', 'Layer': 'Layer', 'MLP': 'MLP'}


@dataclass(frozen=True)
class Budget:
    """How hard to look, per profile; stated in every report."""
    examples: int        # fuzzed graphs run on the submission
    max_nodes: int       # nodes per fuzzed graph (before pruning)
    shrink_seconds: float  # time a failing graph may be shrunk for at most (harness/fuzz/shrink.py):
    # a safety net for a slow engine, where a report that hits it may differ from run to run
    shrink_runs: int     # candidate graphs a failure may be shrunk with at most: the budget that
    # binds first (a count, the same on a busy host: one grade on every surface)
    reruns: int          # extra runs of a failing example to detect non-determinism
    chain: int           # depth of the robustness chain
    search: int = 0      # graphs a Hypothesis search draws after the corpus passes
    # (harness/fuzz/search.py): boundary inputs, shapes the corpus does not reach; it imports
    # Hypothesis and torch, so the quick and standard profiles do not search

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def summary(self) -> str:
        """What a grade under this budget does, in words (``--profile``'s help)."""
        said = (f'{self.examples} random graphs of up to {self.max_nodes} nodes, a '
                f'{self.chain}-node chain')
        if self.search:
            said += (f', then, once those pass, a Hypothesis search of {self.search} graphs '
                     f'from boundary inputs (0, -0.0, tiny and huge magnitudes, integers), its '
                     f'failures shrunk (imports Hypothesis and torch)')
        return said


PROFILES = {
    'quick': Budget(examples=60, max_nodes=6, shrink_seconds=5.0, shrink_runs=200, reruns=2,
                    chain=2000),
    'standard': Budget(examples=200, max_nodes=8, shrink_seconds=8.0, shrink_runs=500, reruns=3,
                       chain=5000),
    # Hypothesis's candidates are judged by torch: ~30-50 ms each, 1000 within a minute
    'thorough': Budget(examples=1000, max_nodes=12, shrink_seconds=60.0, shrink_runs=1000,
                       reruns=3, chain=20000, search=300),
}


@dataclass(frozen=True)
class Limits:
    """Resource limits applied by the worker to itself before it loads anything."""
    memory: int = 6 * 2**30        # address space, bytes
    cpu_seconds: int = 900
    processes: int = 512           # threads count too, and torch starts some
    file_size: int = 256 * 2**20
    open_files: int = 512

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Settings:
    """What a session needs to start workers; the same for every submission of a batch."""
    classes: dict[str, str] = field(default_factory=lambda: dict(CLASS_NAMES))
    load_timeout: float = 60.0
    cell_timeout: float = 10.0
    check_timeout: float = 10.0  # seconds one graph or MLP task may take
    # seconds all the checks together may take (a submission slow everywhere, each task within
    # check_timeout, would otherwise hold its grader for hours); what is left then is not run
    grade_timeout: float = 300.0
    isolation: str = 'auto'
    limits: Limits = field(default_factory=Limits)


#: The environment variable that holds a course's secret (``course_secret``).
SECRET = 'MICROGRADE_SECRET'


def course_secret() -> bytes | None:
    """The course's secret, ``$MICROGRADE_SECRET``, if set.  A seed anyone can read (0, or one a
    report shows) lets a learner collect the inputs the grader will ask and hand in an engine
    that memorised the right answers at them; with the secret each submission is graded at a
    seed derived from it and from the submission's content (``grading.seeded``), which the
    learner cannot know before handing that content in."""
    value = os.environ.get(SECRET, '')
    return value.encode() if value else None


def seeding(seed: int | None) -> dict[str, Any]:
    """``Config``'s seed fields for a seed given, graded as given (a report's seed grades it
    again), or for none (``None``): the default seed, from which the course's secret, if set,
    draws each submission's."""
    return {'seed': seed} if seed is not None else {'secret': course_secret()}


@dataclass
class Config:
    """The seed, the profile, the rubric and the worker settings of a grading.  ``secret``: the
    course's (``course_secret``), which then picks each submission's seed from ``seed``; never
    shown, and never in what a worker is given."""
    seed: int = 0
    profile: str = 'standard'
    rubric: Rubric = field(default_factory=Rubric.load)
    settings: Settings = field(default_factory=Settings)
    secret: bytes | None = field(default=None, repr=False)

    @property
    def course(self) -> str:
        """Which secret picks the seeds, as a fingerprint may hold it (a keyed hash of a fixed
        text, never the secret), or '' for none."""
        return hmac.digest(self.secret, b'micrograde-course', 'sha256').hex() if self.secret else ''

    @property
    def budget(self) -> Budget:
        return PROFILES[self.profile]
