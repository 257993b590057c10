"""The class page: a score histogram, the misconceptions ranked, a check x submission matrix,
filtered by roster section; one renderer for the batch's ``index.html`` and the service's class page.

Drawn as inline SVG (no network, no script needed to read it).  A section filter is one anchored
``<section>`` per roster section, shown by CSS ``:target`` (the whole class when none is
targeted).  Misconceptions are counted by their code (``results.Code``), once per submission
and root cause: a failure explained by another finding (``consequence_of``) is that finding's,
and a symptom (wrong gradients no model explains) is listed apart, never ranked.  Every string a
submission or a roster influences goes through ``text.clean`` and Jinja2's autoescaping.
"""
import base64
import enum
import functools
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from urllib.parse import quote

from markupsafe import Markup

from micrograde.model.results import Code, Outcome, TITLES
from micrograde.reporters.gradebook import roster_label
from micrograde.reporters.html import ENV
from micrograde.reporters.text import clean

NAME_LIMIT = 300
LABEL = 40  # characters of a name the matrix shows beside its row
#: Codes that say what is wrong, not why: a class page never ranks them as misconceptions.
SYMPTOMS = frozenset({Code.GRADIENTS_DISAGREE})
KNOWN_CODES = frozenset(c.value for c in Code)  # a stored report may name another version's
#: Members a bar's tooltip names before ``…``.
TOOLTIP_NAMES = 20

SORT_SCRIPT = resources.files('micrograde.reporters').joinpath('templates/sort.js').read_text('utf-8')
SORT_HASH = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()


class Mark(enum.StrEnum):
    """How a matrix cell is drawn; each has its own shape, so colour is never the only cue."""
    PASSED = 'passed'        # a small filled dot
    FAILED = 'failed'        # a filled square with a cross
    EXPLAINED = 'explained'  # an outlined square with a cross: a consequence of another root
    ADVICE = 'advice'        # an open ring (blue): advisory, never a cross, never red
    SKIPPED = 'skipped'      # a dash
    ABSENT = 'absent'        # nothing: the check was not run for this submission (its
    # ``Check.not_run``: JUnit's and Gradescope's ``(not run)``), or is not in its report


#: What the legend says of each mark.
LEGEND = {Mark.PASSED: 'passed', Mark.FAILED: 'fails (a root cause)',
          Mark.EXPLAINED: 'fails, explained by another finding\'s root cause',
          Mark.ADVICE: 'advice (advisory: does not count)', Mark.SKIPPED: 'skipped',
          Mark.ABSENT: 'not run'}


#: The mark of each outcome; a failure is ``EXPLAINED`` instead when another root explains it.
MARKS = {Outcome.PASSED: Mark.PASSED, Outcome.FAILED: Mark.FAILED, Outcome.ERROR: Mark.FAILED,
         Outcome.ADVICE: Mark.ADVICE, Outcome.SKIPPED: Mark.SKIPPED}


def mark(check):
    """A check's mark: a check not run is drawn as one the report lacks, never as skipped."""
    if check.not_run:
        return Mark.ABSENT
    outcome = check.outcome
    return Mark.EXPLAINED if outcome.failure and check.consequence_of else MARKS[outcome]


@dataclass
class Member:
    """A submission as the page names it: its shown name and link (``''``: not linked)."""
    name: str
    href: str

    @property
    def short(self):
        """The name as a row label: long names cut (the full one is its tooltip)."""
        return self.name if len(self.name) <= LABEL else self.name[:LABEL - 1] + '…'


@dataclass
class Entry:
    """One submission, read once: what every picture of the page needs of it."""
    member: Member
    section: str
    score: float
    max_score: float
    verdict: str
    marks: dict  # check id -> Mark
    misconceptions: dict  # Code -> [learner's methods], the required roots that name one
    unexplained: list  # ids of required root failures no misconception names (or a symptom)
    advice: list  # ids of advisory findings

    @property
    def percent(self):
        return 100 * self.score / self.max_score if self.max_score else 0.0


def entry(sub_id, report, section, href):
    misconceptions, unexplained = defaultdict(list), []
    for root, _ in report.causes():
        m = root.misconception
        if root.outcome is Outcome.ADVICE:
            continue
        if m is None or m.code in SYMPTOMS or m.code not in KNOWN_CODES:
            unexplained.append(root.id)
        elif m.method not in misconceptions[Code(m.code)]:
            misconceptions[Code(m.code)].append(m.method)
    return Entry(Member(clean(sub_id, NAME_LIMIT), href(sub_id) if href else ''), section,
                 report.score, report.max_score, report.verdict,
                 {c.id: mark(c) for c in report.checks}, dict(misconceptions), unexplained,
                 [c.id for c in report.checks if c.outcome is Outcome.ADVICE])


# --- the pictures: geometry in SVG user units, computed here so the template only places ---

@dataclass
class Bin:
    low: int  # percent of the maximum score
    high: int
    members: list
    x: float = 0.0
    y: float = 0.0
    height: float = 0.0

    @property
    def label(self):
        return f'{self.low}–{self.high}%'

    @property
    def tooltip(self):
        return _tooltip(f'{self.label}: {len(self.members)}', self.members)


@dataclass
class Histogram:
    """Scores as a percent of the maximum in ten bins; the last holds full marks."""
    bins: list
    top: int  # the y axis' highest count
    BIN = 46
    GAP = 6
    LEFT = 34
    PLOT = 150  # height of the tallest bar
    TOP = 18

    @property
    def width(self):
        return self.LEFT + len(self.bins) * (self.BIN + self.GAP) + 8

    @property
    def base(self):
        return self.TOP + self.PLOT

    @property
    def height(self):
        return self.base + 34


def histogram(entries):
    bins = [Bin(10 * k, 10 * k + (10 if k == 9 else 9), []) for k in range(10)]
    for e in entries:
        bins[min(int(e.percent // 10), 9)].members.append(e.member)
    top = max((len(b.members) for b in bins), default=0) or 1
    shape = Histogram(bins, top)
    for k, b in enumerate(bins):
        b.height = shape.PLOT * len(b.members) / top
        b.x = shape.LEFT + k * (shape.BIN + shape.GAP) + shape.GAP / 2
        b.y = shape.base - b.height
    return shape


@dataclass
class Ranked:
    """One misconception (or one check, for what no misconception names) and who shows it."""
    key: str
    title: str
    members: list
    places: list = field(default_factory=list)  # ('__add__', 3): the methods holding it
    width: float = 0.0  # its bar, on the scale of the class's most common

    @property
    def tooltip(self):
        return _tooltip(f'{self.title}: {len(self.members)}', self.members)


BAR = 180  # the longest bar of a ranking


def ranked(entries, found, title=str):
    """``[Ranked]`` most common first (ties by key) from ``found(entry) -> {key: places}``."""
    who, places = defaultdict(list), defaultdict(lambda: defaultdict(int))
    for e in entries:
        for key, where in found(e).items():
            who[key].append(e.member)
            for method in where:
                places[key][method] += 1
    rows = [Ranked(str(key), title(key), members,
                   sorted(((m or 'backward()', n) for m, n in places[key].items()),
                          key=lambda p: (-p[1], p[0])))
            for key, members in who.items()]
    rows.sort(key=lambda r: (-len(r.members), r.key))
    most = max((len(r.members) for r in rows), default=1)
    for r in rows:
        r.width = BAR * len(r.members) / most
    return rows


@dataclass
class Matrix:
    """Rows of submissions, columns of checks grouped by category (a gap between groups)."""
    columns: list  # (check id, x)
    rows: list  # (Entry, y, [(Mark, x)])
    left: float
    CELL = 12
    GROUP_GAP = 7
    CHAR = 6.2  # width of a character of a row's label (11px), for the margin
    HEAD_CHAR = 6.0  # of a column's label (10px)

    @property
    def header(self):
        return self.HEAD_CHAR * max((len(c) for c, _ in self.columns), default=1) + 8

    @property
    def width(self):
        return (self.columns[-1][1] + self.CELL if self.columns else self.left) + 4

    @property
    def height(self):
        return self.header + len(self.rows) * self.CELL + 4


def matrix(entries, checks):
    left = Matrix.CHAR * max((len(e.member.short) for e in entries), default=1) + 12
    columns, x, category = [], left, None
    for check in checks:
        if category is not None and check.split('.')[0] != category:
            x += Matrix.GROUP_GAP
        category = check.split('.')[0]
        columns.append((check, x))
        x += Matrix.CELL
    shape = Matrix(columns, [], left)
    for k, e in enumerate(entries):
        shape.rows.append((e, shape.header + k * Matrix.CELL,
                           [(e.marks.get(c, Mark.ABSENT), cx) for c, cx in columns]))
    return shape


def _tooltip(head, members):
    names = [m.name for m in members[:TOOLTIP_NAMES]]
    return f'{head} ({", ".join(names)}{", …" if len(members) > TOOLTIP_NAMES else ""})'


# --- the page ----------------------------------------------------------------------------------

@dataclass
class Cohort:
    """The class, or one roster section of it: everything the pictures show of those entries."""
    anchor: str
    name: str
    entries: list
    checks: list
    missing: list = field(default_factory=list)  # [Member]: the roster's, with no graded submission

    @functools.cached_property
    def histogram(self):
        return histogram(self.entries)

    @functools.cached_property
    def misconceptions(self):
        return ranked(self.entries, lambda e: e.misconceptions, TITLES.get)

    @functools.cached_property
    def unexplained(self):
        return ranked(self.entries, lambda e: dict.fromkeys(e.unexplained, ()))

    @functools.cached_property
    def advice(self):
        return ranked(self.entries, lambda e: dict.fromkeys(e.advice, ()))

    @functools.cached_property
    def matrix(self):
        return matrix(self.entries, self.checks)

    @property
    def passed(self):
        return sum(e.verdict == 'passed' for e in self.entries)


NO_SECTION = '(no section in the roster)'


def cohorts(reports, roster=None, href=None):
    """The whole class (last, the one shown when no section is targeted), after one cohort per
    roster section in the roster's order (its submissions not in the roster last);
    ``href(sub_id)`` links a submission's report."""
    roster = roster or {}

    def section(sub_id):
        return clean((roster.get(sub_id) or {}).get('section') or NO_SECTION, NAME_LIMIT)

    entries = [entry(sub_id, r, section(sub_id), href) for sub_id, r in reports.items()]
    # the roster's students with nothing graded (a batch: nothing handed in; the service: no
    # submission graded yet), each named in their section's part and the whole class's
    missing = [(section(sub_id), Member(clean(roster_label(sub_id, row), NAME_LIMIT), ''))
               for sub_id, row in roster.items() if sub_id not in reports]
    checks = list(dict.fromkeys(c.id for r in reports.values() for c in r.checks))
    # the roster's sections in its order, then the submissions it does not name
    order = [clean(row.get('section') or NO_SECTION, NAME_LIMIT) for row in roster.values() if row]
    present = {e.section for e in entries} | {name for name, _ in missing}
    sections = [s for s in dict.fromkeys([*order, NO_SECTION]) if s in present] if roster else []
    return [*(Cohort(f'class-section-{k}', name, [e for e in entries if e.section == name], checks,
                     [m for s, m in missing if s == name])
              for k, name in enumerate(sections, 1)),
            Cohort('class-all', 'the whole class', entries, checks, [m for _, m in missing])]


def fragment(reports, roster=None, href=None):
    """The class pictures as HTML (with their own style): what both pages embed."""
    return Markup(ENV.get_template('classpage.html.j2').render(
        cohorts=cohorts(reports, roster, href), legend=LEGEND, bar=BAR))


def report_href(sub_id):
    """The link to a submission's folder in a batch; a name that is not UTF-8 (from a zip)
    keeps its bytes."""
    return f'{quote(sub_id, errors="surrogateescape")}/report.html'


def render(reports, roster=None):
    """The batch's ``index.html`` (bytes): the class pictures, then a sortable table of
    submissions."""
    roster = roster or {}
    rows = [{'id': clean(sub_id, NAME_LIMIT), 'href': report_href(sub_id), 'verdict': r.verdict,
             'section': clean((roster.get(sub_id) or {}).get('section', ''), NAME_LIMIT),
             'score': r.score, 'max_score': r.max_score,
             'failing': sum(c.outcome.failure for c in r.checks),
             'advice': sum(c.outcome is Outcome.ADVICE for c in r.checks)}
            for sub_id, r in reports.items()]
    return ENV.get_template('index.html.j2').render(
        rows=rows, sections=bool(roster), classpage=fragment(reports, roster, report_href),
        passed=sum(r.verdict == 'passed' for r in reports.values()),
        script=Markup(SORT_SCRIPT), script_hash=SORT_HASH).encode('utf-8')
