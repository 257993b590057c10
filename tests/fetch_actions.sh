#!/usr/bin/env bash
# The report consumers' own code, which tests/actions.py runs under Node: GitHub actions checked
# out into MICROGRADE_ACTIONS (default .cache/actions), from a local mirror of GitHub where there
# is one (MICROGRADE_MIRROR: <owner>+<name>/repo git folders) or from GitHub. Never fails the
# build: an action that cannot be had is said here, and its tests skip saying why.
set -u
into=${MICROGRADE_ACTIONS:-.cache/actions}
mirror=${MICROGRADE_MIRROR:-/work/.mirror}
mkdir -p "$into"
# each at the major version that runs on this machine's Node 20 (their newest need node24); the
# shipped Classroom workflow (examples/github-classroom/classroom.yml) pins the same two
for pinned in dorny+test-reporter@v2 mikepenz+action-junit-report@v5 \
              classroom-resources+autograding-grading-reporter@v1 \
              classroom-resources+autograding-python-grader@v1; do
  name=${pinned%@*} ref=${pinned#*@}
  [ -f "$into/$name/action.yml" ] && continue
  src="$mirror/$name/repo"
  [ -d "$src" ] || src="https://github.com/${name/+//}"
  rm -rf "$into/$name.part"
  if git clone -q "$src" "$into/$name.part" 2>/dev/null &&
     git -C "$into/$name.part" checkout -q "$ref" 2>/dev/null; then
    mv "$into/$name.part" "$into/$name"
  else
    rm -rf "$into/$name.part"
    echo "note: $name could not be checked out; the tests of its reading of our reports skip"
  fi
done
# The grading reporter's repository holds no dist/: build it as its package.json does (esbuild)
c="$into/classroom-resources+autograding-grading-reporter"
if [ -f "$c/action.yml" ] && [ ! -f "$c/dist/main.js" ]; then
  if command -v npm >/dev/null && (cd "$c" && npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1 &&
                                   npm run -s build >/dev/null 2>&1); then :; else
    echo "note: the Classroom grading reporter could not be built (npm); its tests skip"
  fi
fi
exit 0
