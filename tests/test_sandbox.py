"""Fast unit tests of the sandbox's parts: the import view, the protections table, Landlock."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from micrograde.isolate import allowlist, sandbox
from micrograde.isolate.allowlist import ALLOWED_IMPORTS

ROOT = Path(__file__).resolve().parent.parent


def test_the_view_holds_the_allowed_libraries_and_what_they_need_never_the_grader():
    entries = allowlist.entries((*ALLOWED_IMPORTS, 'torch'), ('micrograde',))
    assert {'numpy', 'torch', 'matplotlib', 'graphviz', 'mgworker'} <= set(entries)
    assert 'jinja2' in entries  # torch needs it: the closure comes from the installed metadata
    for name in entries:
        assert name.split('.')[0] not in ('micrograde', 'harness', 'reference', 'micrograd', 'hypothesis', 'click')
        assert not name.startswith('micrograde-')


def test_no_answer_key_library_is_in_the_view_unless_the_rubric_names_it():
    """torch computes gradients: the answer key to what is graded.  Not importable by default,
    nor as what an allowed library needs."""
    assert 'torch' not in allowlist.entries(ALLOWED_IMPORTS)
    assert not {'torch', 'functorch'} & set(allowlist.entries(('torchvision',) + ALLOWED_IMPORTS))
    assert 'answer-key' in sandbox.protections('bubblewrap', root=True, abi=7)['protected']
    assert 'answer-key' in sandbox.protections('bubblewrap', True, 7, answer_key=True)['unprotected']
    assert 'answer-key' in sandbox.protections('process', root=True, abi=7)['unprotected']


def test_module_adds_that_module_only():
    assert 'micrograd' in allowlist.entries(ALLOWED_IMPORTS, ('micrograd',))
    assert 'micrograd' not in allowlist.entries(ALLOWED_IMPORTS)


def test_every_site_folder_and_the_grader_are_hidden_and_carved_out_of_reads():
    hidden = allowlist.hidden()
    own = str(Path(allowlist.__file__).parent)
    assert any(allowlist.within(own, h) for h in hidden)
    reads = sandbox.system_reads()
    for path in reads:
        assert not any(allowlist.within(path, h) for h in hidden), path


@pytest.mark.parametrize('root', [True, False])
@pytest.mark.parametrize('level', sandbox.LEVELS)
def test_every_level_names_every_protection_once(level, root):
    p = sandbox.protections(level, root=root, abi=7)
    assert sorted(p['protected'] + p['unprotected']) == sorted(sandbox.PROTECTIONS)
    schema = json.loads((ROOT / 'harness/schemas/report.schema.json').read_text())
    assert set(schema['$defs']['protection']['enum']) == set(sandbox.PROTECTIONS)


def test_only_an_unprivileged_bare_process_lets_a_submission_forge_its_grade():
    forgeable = {(level, root) for level in sandbox.LEVELS for root in (True, False)
                 if not ({'writes', 'escape'} & set(sandbox.protections(level, root, 7)['protected']))}
    assert forgeable == {('process', False)}
    # Landlock without signal scoping (ABI < 6): the grader can be killed, but nothing written
    assert 'writes' in sandbox.protections('landlock', root=False, abi=3)['protected']
    assert 'escape' in sandbox.protections('landlock', root=False, abi=3)['unprotected']


LANDLOCKED = '''
import json, os, sys
sys.path.insert(0, {worker!r})
import landlock
landlock.restrict([{readable!r}, *{stdlib!r}], [{scratch!r}])
out = {{}}
for name, path in (('readable', {readable!r} + '/x'), ('secret', {secret!r})):
    try:
        out[name] = open(path).read()
    except OSError as e:
        out[name] = type(e).__name__
try:
    open({scratch!r} + '/w', 'w').write('ok')
    out['scratch'] = 'ok'
except OSError as e:
    out['scratch'] = type(e).__name__
try:
    open({readable!r} + '/w', 'w')
    out['write_elsewhere'] = 'ok'
except OSError as e:
    out['write_elsewhere'] = type(e).__name__
print(json.dumps(out))
'''


def test_landlock_fences_a_process_in(tmp_path):
    if sandbox.landlock_abi() < 1:
        pytest.skip('no Landlock on this kernel')
    readable, scratch, secret = tmp_path / 'lib', tmp_path / 'scratch', tmp_path / 'secret'
    readable.mkdir()
    scratch.mkdir()
    (readable / 'x').write_text('library')
    secret.write_text('grader')
    code = LANDLOCKED.format(worker=str(allowlist.WORKER_PACKAGE), readable=str(readable),
                             stdlib=allowlist.stdlib(), scratch=str(scratch), secret=str(secret))
    out = json.loads(subprocess.run([sys.executable, '-S', '-c', code], capture_output=True,
                                    text=True, check=True).stdout)
    assert out == {'readable': 'library', 'secret': 'PermissionError', 'scratch': 'ok',
                   'write_elsewhere': 'PermissionError'}


def test_worker_output_is_kept_whether_the_stream_ends_before_or_after_stop():
    """A worker that exits by itself the moment the grader hangs up ends its stream before the
    grader stops reading it; one that was killed may never end it.  Both keep all it wrote."""
    import os
    from micrograde.isolate.session import Output
    for ends_first in (True, False):
        r, w = os.pipe()
        output = Output(os.fdopen(r, 'rb', buffering=0))
        os.write(w, b'printed at exit\n')
        if ends_first:
            os.close(w)
            output.thread.join(timeout=5)
        output.stop()
        assert output.text() == 'printed at exit\n'
        if not ends_first:
            os.close(w)


def test_worker_output_and_answers_are_read_on_descriptors_past_1023():
    """A grader holding many files (a service worker, a test session) gets its pipes numbered
    1024 or more, where ``select()`` raises: the output thread died at once (nothing kept) and
    ``waiting`` raised, so a correct engine graded 0/51."""
    import resource
    from micrograde.isolate.session import Output, readable
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1200:
        pytest.skip('this process may not hold descriptors past 1100')
    r, w = os.pipe()
    high_r, high_w = os.dup2(r, 1100, inheritable=False), os.dup2(w, 1101, inheritable=False)
    os.close(r)
    os.close(w)
    try:
        assert not readable(high_r)
        output = Output(os.fdopen(high_r, 'rb', buffering=0))
        os.write(high_w, b'printed\n')
    finally:
        os.close(high_w)
    output.thread.join(timeout=5)
    assert output.text() == 'printed\n'


def test_memory_cgroups_a_killed_grader_left_are_removed_and_live_ones_kept():
    """A grader killed outright never removes its cgroups (its warm template's, its worker's):
    the next grader removes the empty ones, never one a process is in.  (Under a cgroup of the
    test's own: others' fresh ones are not this test's to sweep.)"""
    own = sandbox.MemoryCap.make(1 << 30)
    if own is None:
        pytest.skip('no memory cgroups here')
    left, live = (Path(own.folder, sandbox.MemoryCap.PREFIX + name) for name in ('left', 'live'))
    left.mkdir()
    live.mkdir()
    proc = subprocess.Popen(['sleep', '30'], preexec_fn=sandbox.MemoryCap(str(live)).join)
    try:
        sandbox._swept.__wrapped__(own.folder, stale=-1)
        assert not left.exists() and live.exists()
    finally:
        proc.kill()
        proc.wait()
        for folder in (live, left, Path(own.folder)):
            sandbox.MemoryCap(str(folder)).remove()


def test_memory_is_protected_only_where_a_cgroup_can_be_made(monkeypatch):
    """A cgroup folder that looks writable but refuses a new cgroup (a read-only mount, a
    container's rules): no worker gets a cap, so no report may say ``memory`` is protected."""
    if sandbox._memory_cgroups() is None:
        pytest.skip('no memory cgroups here')

    def refused(path, *args, **kwargs):
        raise PermissionError(13, 'refused', path)
    monkeypatch.setattr(sandbox.os, 'mkdir', refused)
    sandbox._memory_cgroups.cache_clear()
    try:
        assert 'memory' in sandbox.protections('bubblewrap', root=True)['unprotected']
        assert sandbox.MemoryCap.make(1 << 30) is None
    finally:
        monkeypatch.undo()
        sandbox._memory_cgroups.cache_clear()
    assert 'memory' in sandbox.protections('bubblewrap', root=True)['protected']


def test_the_warden_kills_only_whole_lines_of_throwaway_uids_still_watched(monkeypatch):
    """What the warden reads when its grader died mid-write: a line cut short (``+12`` of
    ``+1234567``) names no uid, nor does one outside the throwaway range (a system user's)."""
    killed = []
    monkeypatch.setattr(sandbox, 'kill_uid', killed.append)
    monkeypatch.setattr(sandbox, 'remove_ipc', lambda uid: None)
    low, high = sandbox.UID_RANGE
    lines = [b'+%d\n' % low, b'+%d\n' % (low + 1), b'-%d\n' % low, b'+12\n', b'+%d\n' % high,
             b'+x\n', b'+%d' % (low + 2)]
    sandbox.keep_watch(lines)
    assert killed == [low + 1]


def test_the_warden_removes_only_workers_scratch_folders_of_uids_still_watched(monkeypatch):
    """With its grader gone the warden removes each watched worker's scratch folder (the copy of
    its submission, all it wrote): never a folder a line names that is not one a worker gets,
    nor one of a uid released."""
    monkeypatch.setattr(sandbox, 'kill_uid', lambda uid: None)
    monkeypatch.setattr(sandbox, 'remove_ipc', lambda uid: None)
    low = sandbox.UID_RANGE[0]
    scratch, released = (tempfile.mkdtemp(prefix='micrograde-') for _ in range(2))
    other = tempfile.mkdtemp(prefix='not-ours-')
    Path(scratch, 'deep', 'er').mkdir(parents=True)
    Path(released, 'link').symlink_to(other)  # a link on the way is never followed
    lines = [sandbox._watch_line(low, scratch), sandbox._watch_line(low + 1, released),
             b'-%d\n' % (low + 1), sandbox._watch_line(low + 2, other),
             sandbox._watch_line(low + 4, os.path.join(released, 'link')), b'+%d zz\n' % (low + 3)]
    try:
        sandbox.keep_watch(lines)
        assert not os.path.lexists(scratch)
        assert os.path.isdir(released) and os.path.isdir(other)
    finally:
        for folder in (scratch, released, other):
            shutil.rmtree(folder, ignore_errors=True)
