import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / 'submissions'


def micrograde(*args, timeout=300):
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run([sys.executable, '-m', 'harness.cli', *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def run_cli():
    return micrograde
