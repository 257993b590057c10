import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import pytest
from hypothesis import settings

# The suite must give the same answer on every run: Hypothesis tests are derandomized
# (a fixed seed per test) and keep no example database on disk.
settings.register_profile('micrograde', derandomize=True, database=None, deadline=None)
settings.load_profile('micrograde')

# Oracle answers computed during the suite are cached in a folder of its own, never the user's.
os.environ.setdefault('MICROGRADE_CACHE', tempfile.mkdtemp(prefix='micrograde-test-cache-'))

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / 'submissions'
SCHEMAS = Path(__file__).resolve().parent / 'schemas'


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


@pytest.fixture
def run_cli():
    return micrograde


def unnamed(want, checks):
    """The ``[check id, words]`` an example's expected verdict names (``check``/``says`` and
    ``also``) that ``checks`` (id -> (status, message)) does not show failed with those words.
    A ``flaky`` example's bug depends on memory addresses, so one of them shown is enough."""
    pairs = ([(want['check'], want['says'])] if 'check' in want else []) + want.get('also', [])
    missing = [(c, w) for c, w in pairs
               if not (c in checks and checks[c][0] == 'failed' and w in checks[c][1])]
    return [] if want.get('flaky') and len(missing) < len(pairs) else missing


@pytest.fixture(scope='session')
def installed():
    """micrograde installed as a wheel in a scratch environment (``installed.py``)."""
    from installed import Installed, build
    return Installed(build())
