import atexit
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import jsonschema
import pytest
from hypothesis import settings

from micrograde.isolate import sandbox
from micrograde.surfaces import examples

#: The grading service's fixtures (``redis_url_``, ``graded_by_a_worker``) for every test module.
pytest_plugins = ['served']

# The suite must give the same answer on every run: Hypothesis tests are derandomized
# (a fixed seed per test) and keep no example database on disk.
settings.register_profile('micrograde', derandomize=True, database=None, deadline=None)
settings.load_profile('micrograde')

# Oracle answers computed during the suite are cached in a folder of its own, never the user's.
os.environ.setdefault('MICROGRADE_CACHE', tempfile.mkdtemp(prefix='micrograde-test-cache-'))

ROOT = Path(__file__).resolve().parent.parent
#: Every example submission in one folder: submissions/'s files and the examples its table makes
#: by an edit (``micrograde.surfaces.examples``), written for each test process.
SUBMISSIONS = examples.assemble(tempfile.mkdtemp(prefix='micrograde-examples-'), ROOT / 'submissions')
# rm, not shutil.rmtree: an attack test's deeply nested folder raised RecursionError at exit
atexit.register(subprocess.run, ['rm', '-rf', '--', str(SUBMISSIONS)], check=False)
#: What grading each example must give (``submissions/examples.toml``), by its path in SUBMISSIONS.
EXPECTED = examples.table(ROOT / 'submissions')
SCHEMAS = Path(__file__).resolve().parent / 'schemas'

#: What differs between two gradings of one submission by nature (when, how long, a batch's cache
#: key, a lost worker): one grade is everything else of the report, and of every format rendered
#: from it (JUnit's times and host aside).
PER_RUN = ('timestamp', 'timings', 'fingerprint', 'restarts')


def one_grade(report):
    """The report (``report.json``'s dict) without what differs from run to run."""
    return {**{k: v for k, v in report.items() if k not in PER_RUN},
            'checks': [{k: v for k, v in c.items() if k != 'duration'} for c in report['checks']]}


def one_junit(text):
    """A JUnit file without its per-run attributes (times, timestamps, the host)."""
    import re
    return re.sub(r' (time|timestamp|hostname)="[^"]*"', '', text)


# What only bubblewrap stops is tested where it runs (``auto`` picks it wherever it can), and
# skipped up front elsewhere, before paying for a grade; the test still asserts the level it got.
needs_bubblewrap = pytest.mark.skipif(not sandbox.bubblewrap(), reason='needs the bubblewrap sandbox')
needs_templates = pytest.mark.skipif(not sandbox.templates_available(),
                                     reason='warm templates need bubblewrap as root')


def validate_junit(path):
    """Validate a JUnit file against every XSD shipped in tests/schemas (Jenkins xunit's rules)."""
    import xmlschema
    for xsd in sorted(SCHEMAS.glob('*.xsd')):
        xmlschema.XMLSchema(str(xsd)).validate(str(path))


def validate_json(data, schema_name):
    """Validate data against a JSON Schema shipped in tests/schemas."""
    schema = json.loads((SCHEMAS / schema_name).read_text())
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)


def micrograde(*args, timeout=300):
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def in_process(*args):
    """The CLI run in this process by click's ``CliRunner``, from the project's folder, as
    ``micrograde`` runs it but without a Python start and the grader's imports every time.
    Like a process's end, an exception that escapes the command is in ``stderr`` with its
    traceback. Tests where a fresh process is the point use ``micrograde``."""
    from click.testing import CliRunner

    from micrograde.surfaces.cli import main
    with contextlib.chdir(ROOT):
        result = CliRunner().invoke(main, [str(a) for a in args], prog_name='micrograde')
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += ''.join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, stderr)


@pytest.fixture
def run_cli():
    return in_process


def unnamed(want, checks):
    """The ``[check id, words]`` an example's expected verdict names (``check``/``says`` and
    ``also``) that ``checks`` (id -> (status, message)) does not show failed with those words
    (with one of them, where a list: what a random graph shows may depend on the seed).
    A ``flaky`` example's bug depends on memory addresses, so one of them shown is enough."""
    pairs = ([(want['check'], want['says'])] if 'check' in want else []) + want.get('also', [])
    missing = [(c, w) for c, w in pairs
               if not (c in checks and checks[c][0] == 'failed' and
                       any(said in checks[c][1] for said in ([w] if isinstance(w, str) else w)))]
    return [] if want.get('flaky') and len(missing) < len(pairs) else missing


@pytest.fixture(scope='session')
def installed():
    """micrograde installed as a wheel in a scratch environment (``installed.py``)."""
    from installed import Installed, build
    return Installed(build())


# --- a real browser: Debian's chromium, driven by Playwright ---------------------------------

CHROMIUM = '/usr/bin/chromium'
ARTEFACTS = ROOT / 'reports' / 'screenshots'


@pytest.fixture(scope='module')
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip('Debian chromium is not installed (make install installs it)')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            '--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run'])
        yield b
        b.close()


@pytest.fixture
def page_of(browser):
    """Open a file in a fresh page; fail on console errors, page errors, dialogs, any request
    that is not for a local file."""
    pages = []

    def open_(path):
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        problems = []
        page.on('console', lambda m: problems.append(f'console {m.type}: {m.text}')
                if m.type in ('error', 'warning') else None)
        page.on('pageerror', lambda e: problems.append(f'page error: {e}'))
        page.on('dialog', lambda d: (problems.append(f'dialog: {d.message}'), d.dismiss()))
        page.on('request', lambda r: None if r.url.startswith('file://') else
                problems.append(f'request: {r.url}'))
        page.goto(Path(path).resolve().as_uri())
        page.wait_for_load_state('load')
        pages.append((page, problems))
        return page, problems
    yield open_
    for page, problems in pages:
        assert not problems, problems
        page.close()


def screenshot(page, name, selector=None):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    target = page.locator(selector).first if selector else page
    target.screenshot(path=str(ARTEFACTS / name))
    return ARTEFACTS / name
