"""The public API and the package's shape: light imports, one grade after another, no cycles."""
import ast
import subprocess
import sys

from conftest import ROOT, SUBMISSIONS


def _python(code, **env):
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env or None)


def test_public_names_resolve_and_grade_can_be_called_twice():
    result = _python(
        'import micrograde\n'
        f'a = micrograde.grade({str(SUBMISSIONS / "lecture_engine.py")!r}, '
        'config=micrograde.Config(profile="quick"))\n'
        f'b = micrograde.grade({str(SUBMISSIONS / "bug_no_seed.py")!r}, '
        'config=micrograde.Config(profile="quick"))\n'
        'assert isinstance(a, micrograde.Report) and isinstance(a.checks[0], micrograde.Check)\n'
        'print(a.verdict, b.verdict, sorted(micrograde.__all__))\n')
    assert result.stdout.split() == ['passed', 'failed', "['Check',", "'Config',", "'Report',",
                                     "'check',", "'grade']"], result.stderr


def test_help_and_import_do_not_import_torch():
    result = _python(
        'import sys\nfrom click.testing import CliRunner\nimport micrograde\nfrom micrograde.surfaces.cli import main\n'
        'out = CliRunner().invoke(main, ["grade", "--help"])\n'
        'assert out.exit_code == 0 and "--isolation" in out.output, out.output\n'
        'print(sorted(m for m in ("torch", "hypothesis", "micrograde.grader.grading") if m in sys.modules))')
    assert result.stdout.strip() == '[]', result.stdout + result.stderr


def test_unavailable_isolation_is_a_usage_error(tmp_path):
    # without bwrap on PATH, bubblewrap cannot run: asking for it is the user's mistake
    result = subprocess.run([sys.executable, '-m', 'micrograde.surfaces.cli', 'grade',
                             str(SUBMISSIONS / 'lecture_engine.py'), '--isolation', 'bubblewrap'],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={'PATH': str(tmp_path)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert 'bubblewrap' in result.stderr and 'Traceback' not in result.stderr


def _imports(path, package, top_only=False):
    """The modules ``path`` imports at module level (and, unless ``top_only``, in functions)."""
    tree = ast.parse(path.read_text())
    here = package if path.name == '__init__.py' else package.rpartition('.')[0]
    found = set()
    for node in tree.body if top_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parent = here.rsplit('.', node.level - 1)[0] if node.level > 1 else here
                base = f'{parent}.{base}' if base else parent
            found.add(base)
            found |= {f'{base}.{a.name}' for a in node.names}
    return found


def _modules():
    out = {}
    for top, package in (('harness', 'micrograde'), ('reference', 'micrograde.reference')):
        for path in (ROOT / top).rglob('*.py'):
            parts = (package, *path.relative_to(ROOT / top).with_suffix('').parts)
            name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)
            out[name] = path
    return out


def test_no_import_cycle_and_nothing_imports_the_cli():
    modules = _modules()
    graph = {name: {m for m in _imports(path, name) if m in modules and m != name}
             for name, path in modules.items()}
    assert not [m for m, deps in graph.items() if 'micrograde.surfaces.cli' in deps]
    state = {}

    def visit(m, stack):
        state[m] = 'open'
        for dep in sorted(graph[m]):
            if state.get(dep) == 'open':
                raise AssertionError('import cycle: ' + ' -> '.join(stack[stack.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, stack + [dep])
        state[m] = 'done'
    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_worker_package_is_standard_library_only():
    """It is all of micrograde inside the sandbox (the fork server's warm-up of what notebooks
    import is inside functions, and tolerates their absence)."""
    worker = ROOT / 'harness' / 'worker'
    for path in worker.rglob('*.py'):
        name = '.'.join(('micrograde', *path.relative_to(ROOT / 'harness').with_suffix('').parts))
        name = name.removesuffix('.__init__')
        for m in _imports(path, name, top_only=True):
            assert m.startswith('micrograde.worker') or m.split('.')[0] in sys.stdlib_module_names, \
                (path.name, m)


def test_safe_grade_turns_a_grader_bug_into_a_failed_report(monkeypatch):
    from micrograde.grader import grading

    def broken(*args, **kwargs):
        raise KeyError('a bug in micrograde')
    monkeypatch.setattr(grading, 'grade', broken)
    report = grading.safe_grade('anything.py')
    assert report.verdict == 'failed'
    assert [(c.id, c.status) for c in report.checks][:1] == [('grader', 'error')]
    # every check is listed as not run, so the report is out of the rubric's total like any other
    assert {c.status for c in report.checks[1:]} == {'skipped'}
    assert report.score == 0 and report.max_score == grading.Config().rubric.total()
    assert 'a bug in micrograde' in report.checks[0].message
    # built like every report (grading.build): versions, when, and where in micrograde it failed
    # (relative to the package), never a traceback nor a grader path
    assert report.versions['micrograde'] and report.timestamp and report.budgets
    assert 'grading.py' in report.checks[0].message and str(ROOT) not in report.checks[0].message
    assert 'Traceback' not in report.checks[0].message
