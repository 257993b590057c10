#!/usr/bin/env bash
# Gradescope autograder setup, run once per image as root on Gradescope's default base image
# (Ubuntu 22.04, whose python3 is 3.10; micrograde needs 3.11+).
#
# Python 3.11 comes from Ubuntu 22.04's own archive (universe: python3.11, python3.11-venv);
# where an image lacks it, from the deadsnakes PPA. The virtual environment lives in
# /opt/micrograde-venv: NOT /opt/micrograde, where micrograde's sandbox mounts its worker inside
# each bubblewrap jail (a venv there hides the worker: "the worker exited with code 1").
set -euo pipefail
VENV=/opt/micrograde-venv
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq bubblewrap >/dev/null
if ! apt-get install -y -qq python3.11 python3.11-venv >/dev/null 2>&1; then
  apt-get install -y -qq software-properties-common >/dev/null
  add-apt-repository -y ppa:deadsnakes/ppa
  apt-get update -qq
  apt-get install -y -qq python3.11 python3.11-venv >/dev/null
fi
python3.11 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# torch CPU from PyTorch's CPU wheel index, as pytorch.org documents it (no fallback to PyPI,
# whose torch is the multi-gigabyte CUDA build)
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
"$VENV/bin/pip" install -q torch==2.13.0 --index-url "$TORCH_INDEX"
# The course's copy of micrograde, uploaded beside this script as micrograde/, with the
# grader's dependencies (torch is already there: the CPU build stays)
"$VENV/bin/pip" install -q "/autograder/source/micrograde[grader]"
"$VENV/bin/micrograde" --version
