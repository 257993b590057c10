#!/usr/bin/env bash
# Gradescope autograder setup (Ubuntu image): install micrograde and its sandbox once per image.
set -euo pipefail
apt-get update -qq
apt-get install -y -qq python3 python3-venv python3-pip git bubblewrap >/dev/null
python3 -m venv /opt/micrograde
/opt/micrograde/bin/pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
  || /opt/micrograde/bin/pip install -q torch==2.13.0
# The course's copy of micrograde, uploaded beside this script (or a git URL of your fork).
/opt/micrograde/bin/pip install -q /autograder/source/micrograde
