"""GitHub Actions' own code, run here as a runner runs it: ``node dist/index.js`` with the
environment a runner sets (inputs as ``INPUT_*`` with the action.yml defaults, the workspace,
the event) and GitHub's API on loopback, recording what the action posts (check runs and their
annotations). The actions are not vendored: ``MICROGRADE_ACTIONS`` (default ``.cache/actions``)
holds ``<owner>+<name>/`` checkouts of them (their ``action.yml`` and ``dist/``); tests skip,
saying so, where one is absent or Node is not installed."""
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = Path(os.environ.get('MICROGRADE_ACTIONS', ROOT / '.cache' / 'actions'))
DORNY = 'dorny+test-reporter'
MIKEPENZ = 'mikepenz+action-junit-report'
CLASSROOM = 'classroom-resources+autograding-grading-reporter'


def missing(action):
    """Why ``action`` cannot run here, or ``''``."""
    if not shutil.which('node'):
        return 'node is not installed'
    folder = ACTIONS / action
    if not (folder / 'action.yml').is_file():
        return f'{action} is not checked out in {ACTIONS} (set MICROGRADE_ACTIONS)'
    return ''


def defaults(action):
    """``{input: default}`` from the action's action.yml (its ``inputs:`` block)."""
    text = (ACTIONS / action / 'action.yml').read_text()
    block = text.split('\ninputs:', 1)[1].split('\noutputs:', 1)[0].split('\nruns:', 1)[0]
    found, name = {}, None
    for line in block.split('\n'):
        m = re.match(r'^  ([\w-]+):\s*$', line)
        if m:
            name = m[1]
        m = re.match(r'^    default:\s*(.*)$', line)
        if m and name:
            value = m[1].strip()
            found[name] = value[1:-1] if value[:1] in '\'"' else value
    return {k: v for k, v in found.items() if '${{' not in v}


class _API(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        size = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(size) if size else b''
        self.server.calls.append((self.command, self.path, json.loads(body) if body else None))
        reply = json.dumps({'id': 1, 'url': 'http://127.0.0.1/check', 'html_url': 'http://127.0.0.1/run',
                            'check_suite_url': 'http://127.0.0.1/check-suites/1',
                            'check_runs': [{'id': 1}], 'total_count': 1}).encode()
        self.send_response(201 if self.command == 'POST' else 200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *args):
        pass


def run(action, workspace, inputs=(), env=()):
    """Run ``action`` in ``workspace`` with ``inputs``; ``(stdout, [(method, path, body)] of its
    API calls, what it wrote to GITHUB_OUTPUT)``."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _API)
    server.calls = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runner = Path(workspace).parent / f'.runner-{action}'
    runner.mkdir(exist_ok=True)
    (runner / 'event.json').write_text(json.dumps({'repository': {'name': 'course',
                                                                  'owner': {'login': 'school'}}}))
    for name in ('output', 'summary', 'state', 'env', 'path'):
        (runner / name).write_text('')
    try:
        values = {**defaults(action), 'token': 'test-token', 'github_token': 'test-token',
                  **dict(inputs)}
        environ = {
            'PATH': os.environ['PATH'], 'HOME': str(runner), 'CI': 'true', 'GITHUB_ACTIONS': 'true',
            'GITHUB_WORKSPACE': str(workspace), 'GITHUB_REPOSITORY': 'school/course',
            'GITHUB_REPOSITORY_OWNER': 'school', 'GITHUB_SHA': '0' * 40, 'GITHUB_REF': 'refs/heads/main',
            'GITHUB_EVENT_NAME': 'push', 'GITHUB_EVENT_PATH': str(runner / 'event.json'),
            'GITHUB_API_URL': f'http://127.0.0.1:{server.server_port}',
            'GITHUB_SERVER_URL': 'https://github.com', 'GITHUB_GRAPHQL_URL': 'http://127.0.0.1:9/graphql',
            'GITHUB_RUN_ID': '1', 'GITHUB_RUN_NUMBER': '1', 'GITHUB_JOB': 'grade', 'GITHUB_ACTOR': 'learner',
            'GITHUB_WORKFLOW': 'Autograding Tests', 'RUNNER_TEMP': str(runner), 'RUNNER_OS': 'Linux',
            'GITHUB_OUTPUT': str(runner / 'output'), 'GITHUB_STEP_SUMMARY': str(runner / 'summary'),
            'GITHUB_STATE': str(runner / 'state'), 'GITHUB_ENV': str(runner / 'env'),
            'GITHUB_PATH': str(runner / 'path'),
            **{f'INPUT_{k.replace(" ", "_").upper()}': str(v) for k, v in values.items()},
            **dict(env)}
        main = (ACTIONS / action / 'action.yml').read_text().split('main:', 1)[1].split()[0].strip('\'"')
        done = subprocess.run(['node', str(ACTIONS / action / main)], cwd=workspace, env=environ,
                              capture_output=True, text=True, timeout=120)
        return done.stdout + done.stderr, server.calls, (runner / 'output').read_text()
    finally:
        server.shutdown()
        server.server_close()


def workflow_commands(stdout, kind):
    """``[(properties, message)]`` of the ``::<kind> file=...,line=...::message`` lines."""
    found = []
    for m in re.finditer(rf'^::{kind}(?: (?P<props>[^:]*))?::(?P<message>.*)$', stdout, re.M):
        props = dict(p.split('=', 1) for p in (m['props'] or '').split(',') if '=' in p)
        found.append((props, m['message']))
    return found


def runner_commands(stdout):
    """The lines of ``stdout`` GitHub's runner takes as workflow commands, not text
    (``ActionCommand``: a line is cut at ``\\n``, ``\\r`` or ``\\r\\n``; ``TryParseV2`` takes
    ``::cmd::`` after leading spaces, the legacy ``TryParse`` ``##[cmd]`` anywhere)."""
    return [line for line in re.split(r'\r\n|\r|\n', stdout)
            if re.match(r'\s*::[^:]*::', line) or re.search(r'##\[[^\]]*\]', line)]
