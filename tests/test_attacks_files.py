"""Attacks through what a submission *holds* and where it *writes* (issue 20, classes 4 and 5),
on both paths that grade: ``micrograde grade`` (a worker of its own) and ``micrograde batch -j 2``
(as root under bubblewrap: workers forked from the warm template, which the service uses too),
at every isolation level (``test_attacks.CONFIGS``), with micrograde installed as a wheel.

The grader copies a submission as root before a worker sees it, and hashes it for the batch: a
link, a fifo, a hard link or a sparse file is refused there or never followed, whatever the
level.  Where a worker writes (its /tmp and home) is its own, bounded, and gone with it.
"""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import micrograde, needs_templates
from micrograde.surfaces.service.supervisor import stop
from served import wait_for
from engines import GOOD_TANH, hostile_engine
from micrograde.grader.config import Limits
from micrograde.isolate import sandbox
from micrograde.isolate.warm import OWN_MEMORY
from test_attacks import (CONFIGS, HELD, IDS, SECRET, _processes, cpu_group,
                          _waited, has_cpu_groups, holding_argv, token)

pytestmark = pytest.mark.usefixtures('installed')

NEIGHBOUR = 'neighbour-data-1618033'
OWN = 'own-data-1414213'

READER = '''
import os
here = os.path.dirname(os.path.abspath(__file__))
for name in sorted(os.listdir(here)):
    try:
        with open(os.path.join(here, name), errors='replace') as f:
            print('READ', name, f.read(400).replace('\\n', ' '))
    except OSError as e:
        print('NOREAD', name, type(e).__name__)
'''


def grade(grader, path):
    """The report of ``micrograde grade path`` at the grader's level."""
    out = grader.work / f'reports-{token()}'
    grader._own(grader.work)
    grader.run('grade', path, '--profile', 'quick', '--isolation', grader.level, '--out', out,
               '--no-color')
    return json.loads((out / 'report.json').read_text())


def _secret_file(name, text, folders):
    """A file only root may read (in a folder only root may enter, added to ``folders``)."""
    folder = Path(tempfile.mkdtemp(prefix='micrograde-secret-'))
    folders.append(folder)
    path = folder / name
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


@pytest.fixture(scope='module', params=CONFIGS, ids=IDS)
def hostile(request, installed):
    """A class whose every submission holds something the grader must not follow or open."""
    grader, secrets = installed.grader(*request.param), []
    key = _secret_file('key', f'{SECRET}\n', secrets)
    cls = grader.work / 'class'
    alice = cls / 'alice'  # links: out to a secret, /etc/shadow, a neighbour; one of her own
    alice.mkdir(parents=True)
    (alice / 'engine.py').write_text(hostile_engine(READER))
    (alice / 'data.txt').write_text(OWN)
    for name, target in (('key', key), ('shadow', '/etc/shadow'), ('neighbour', '../bob/notes.txt'),
                         ('alias.txt', 'data.txt'), ('here', '.'), ('up', 'here/..')):
        (alice / name).symlink_to(target)
    bob = cls / 'bob'  # a link into /proc: reading it crashed the batch's fingerprint
    bob.mkdir()
    (bob / 'engine.py').write_text(hostile_engine(''))
    (bob / 'notes.txt').write_text(NEIGHBOUR)
    (bob / 'mem').symlink_to('/proc/self/mem')
    carol = cls / 'carol'  # a fifo, its name made of escape codes
    carol.mkdir()
    (carol / 'engine.py').write_text(hostile_engine(''))
    os.mkfifo(carol / 'pipe\n\x1b[2J')
    dave = cls / 'dave'  # a hard link to a file only root may read
    dave.mkdir()
    (dave / 'engine.py').write_text(hostile_engine(READER))
    os.link(_secret_file('engine.py', hostile_engine(f'print({SECRET!r})'), secrets), dave / 'secret.txt')
    erin = cls / 'erin'  # a sparse file of 1 GB: the copy and the fingerprint stay bounded
    erin.mkdir()
    (erin / 'engine.py').write_text(hostile_engine(''))
    with open(erin / 'weights.bin', 'wb') as f:
        f.truncate(1 << 30)
    # the submission itself a link, to a root-only engine that prints the secret
    (cls / 'frank.py').symlink_to(_secret_file('engine.py', hostile_engine(f'print({SECRET!r})'), secrets))
    yield grader, cls  # never ``grader.share``: chmod follows links
    for folder in secrets:
        shutil.rmtree(folder)


@pytest.fixture(scope='module')
def batched(hostile):
    grader, cls = hostile
    return grader.batch(cls)


@pytest.fixture(params=['grade', 'batch'])
def report(request, hostile):
    """``report(name)``: that submission's report on the path of this test."""
    grader, cls = hostile
    if request.param == 'batch':
        reports = request.getfixturevalue('batched')
        return lambda name: reports[name]
    return lambda name: grade(grader, cls / name)


def _load(report):
    return report['checks'][0]['message']


def test_links_out_of_a_submission_show_nothing_and_its_own_links_work(report):
    alice = report('alice')
    seen = alice['checks'][0]['output']
    assert SECRET not in json.dumps(alice) and 'root:' not in seen and NEIGHBOUR not in seen, seen
    names = {line.split()[1] for line in seen.splitlines() if line.startswith(('READ', 'NOREAD'))}
    # key, shadow, the neighbour's notes and up (here/.., here -> .) lead out: left out
    assert names == {'alias.txt', 'data.txt', 'engine.py', 'here'}, seen
    assert f'READ alias.txt {OWN}' in seen, seen


def test_a_submission_that_is_a_link_is_refused_not_followed(report):
    frank = report('frank.py')
    assert SECRET not in json.dumps(frank)
    assert _load(frank) == 'frank.py is a symbolic link: grade the file it points to, not a file or folder.'


@pytest.mark.parametrize('name, message', [
    ('bob', 'mem is a link to /proc/self/mem: a submission holds files, folders and links '
            'between them, nothing of the system.'),
    ('carol', 'pipe\\x0a\\x1b[2J is a named pipe, not a file or folder.'),
    ('dave', 'secret.txt is a hard link to a file only its owner may read: submit a copy of '
             'the file instead.'),
    ('erin', 'erin is too large to grade (over 10000 files or 200 MB).')])
def test_what_a_submission_may_not_hold_is_refused_with_a_clear_load_error(report, name, message):
    got = report(name)
    assert got['verdict'] == 'failed' and _load(got) == message
    assert SECRET not in json.dumps(got)


# -- where a worker writes: its own /tmp and home, bounded, gone with it -------------------------

WRITER = '''
import importlib, os
found = {{}}
try:
    found['saw'] = importlib.import_module({module!r}).WHO
except ImportError:
    found['saw'] = None
me = os.path.basename(__file__)
here = os.path.dirname(os.path.abspath(__file__))
for where in ('/tmp', os.path.expanduser('~'), os.getcwd(), here):
    try:
        with open(os.path.join(where, {module!r} + '.py'), 'w') as f:
            f.write('WHO = %r\\n' % me)
    except OSError:
        pass
def fill(path, mb):
    written = 0
    try:
        with open(path, 'wb') as f:
            for _ in range(mb):
                f.write(b'x' * 2**20)
                f.flush()
                written += 1
    except OSError:
        pass
    return written
paths = [os.path.join(w, {module!r} + n) for w, n in (('/tmp', 'tmp'), (os.path.expanduser('~'), 'home'),
                                                       (here, 'copy'), ('/dev/shm', 'shm'))]
found['mb'] = [fill(p, {mb}) for p in paths]
for p in paths:
    try:
        os.unlink(p)
    except OSError:
        pass
print('FOUND' + __import__('json').dumps(found) + 'FOUND')
'''


@pytest.fixture(params=CONFIGS, ids=IDS)
def writers(request, installed):
    """Three submissions that each import a module left by an earlier one, leave one of their own
    in /tmp, home and the working folder, and write 160 MB to each of /tmp, home, their copy's
    folder and /dev/shm."""
    grader = installed.grader(*request.param)
    module = f'planted_{token().replace(".", "_")}'
    cls = grader.work / 'writers'
    cls.mkdir()
    for name in ('a.py', 'b.py', 'c.py'):  # -j 2: some pool process grades two in a row
        (cls / name).write_text(hostile_engine(WRITER.format(module=module, mb=160)))
    yield grader, cls
    for leftover in Path(tempfile.gettempdir()).glob(f'{module}*'):  # the process level's /tmp
        leftover.unlink()


def _found(report):
    return json.loads(report['checks'][0]['output'].split('FOUND')[1])


def _disk_claim_holds(reports):
    for found, report in reports:
        unprotected = set(report['protections']['unprotected'])
        if 'writes' not in unprotected:
            assert found['saw'] is None, found  # nothing another submission left
        if 'disk' not in unprotected:  # 128 MB in all: /tmp and home; the copy, /dev read-only
            assert sum(found['mb']) <= 129 and found['mb'][2] == 0, found


def test_each_batch_job_has_its_own_bounded_tmp_and_home(writers):
    grader, cls = writers
    reports = grader.batch(cls)
    _disk_claim_holds([(_found(r), r) for r in reports.values()])


def test_each_graded_submission_has_its_own_bounded_tmp_and_home(writers):
    grader, cls = writers
    _disk_claim_holds([(_found(r), r) for r in (grade(grader, cls / n) for n in ('a.py', 'b.py'))])


#: A namespace of the submission's own, with a tmpfs of no bound mounted over its /tmp, and
#: 160 MB written there (by a process of its own: a threaded one cannot make a user namespace).
NESTED = r"""
import subprocess, sys
CHILD = '''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
uid, gid = os.getuid(), os.getgid()
if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
    print(0, 'unshare:', os.strerror(ctypes.get_errno()))
    raise SystemExit
for name, line in (('setgroups', 'deny'), ('uid_map', f'0 {uid} 1'), ('gid_map', f'0 {gid} 1')):
    with open(f'/proc/self/{name}', 'w') as f:  # root of its namespace: it owns the tmpfs
        f.write(line)
if libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) != 0:
    print(0, 'mount:', os.strerror(ctypes.get_errno()))
else:
    written = 0
    for n in range(4):
        try:
            with open('/tmp/fill%d' % n, 'wb') as f:
                for _ in range(40):
                    f.write(b'x' * 2**20)
                    f.flush()
                    written += 1
        except OSError:
            break
    print(written, 'written')
'''
seen = subprocess.run([sys.executable, '-S', '-c', CHILD], capture_output=True, text=True)
print('FOUND' + (seen.stdout.strip() or '0 ' + seen.stderr[-200:]).replace(' ', ',', 1) + 'FOUND')
"""


@pytest.mark.parametrize('via', ['grade', 'batch'])
def test_a_namespace_of_its_own_is_no_way_past_the_bound_on_writes(any_grader, via):
    """Bubblewrap let the sandbox make a user namespace of its own, in which it mounted a tmpfs
    of no size bound and wrote 160 MB where every report claims a bound (disk): unprivileged,
    in memory no bound holds; as root, up to its memory cgroup's, where it has one.  Now it may
    make none (``sandbox.seccomp``; unprivileged, ``--disable-userns`` too)."""
    report = any_grader.graded(NESTED, via)
    written, why = report['checks'][0]['output'].split('FOUND')[1].split(',', 1)
    if 'disk' not in set(report['protections']['unprotected']):
        assert int(written) <= 128, (written, why)


#: Empty files in /tmp until refused (at most 200 000), and what /tmp is mounted with.
INODES = """
import os
made = 0
try:
    while made < 200_000:
        os.close(os.open(f'/tmp/f{made}', os.O_CREAT | os.O_WRONLY, 0o600))
        made += 1
except OSError:
    pass
options = [line.split(' - ')[1].split()[-1] for line in open('/proc/self/mountinfo')
           if line.split()[4] == '/tmp'][-1]
print('MADE', made, options, 'MADE')
"""


@pytest.mark.parametrize('via', ['grade', 'batch'])
@pytest.mark.parametrize('root', [True, False], ids=['root', 'user'])
def test_a_bubblewrap_worker_s_tmp_holds_a_bounded_number_of_files(installed, root, via):
    """A tmpfs's bound in bytes counts no empty file (test_batch's inode tests, as root).
    Unprivileged, bubblewrap mounts /tmp in a user namespace its sandbox keeps no capability
    in, so it was never remounted: a worker made all 200 000 files (the kernel's default is an
    inode per two pages of RAM: 3.1M here, ~9 s of CPU a million).  Its first process now
    mounts a /tmp of its own, bounded in bytes and files (``sandbox.OWN_TMP``)."""
    grader = installed.grader('bubblewrap', root)
    report = grader.graded(INODES, via)
    said = report['checks'][0]['output'].split('MADE ')[1].split(' MADE')[0].split()
    made, options = int(said[0]), said[1]
    assert sandbox.SCRATCH_INODES - 16 < made <= sandbox.SCRATCH_INODES, (made, options)
    assert f'nr_inodes={sandbox.SCRATCH_INODES}' in options and 'size=131072k' in options, options
    assert report['checks'][0]['status'] == 'passed', report['checks'][0]


# -- what a job leaves in System V IPC: gone with it, never seen by the next -------------------

IPC = '''
import json, os, subprocess, sys
try:
    with open('/proc/sysvipc/shm') as f:
        others = [int(row.split()[7]) for row in f.read().splitlines()[1:]]
except OSError:  # Landlock keeps it out of reach; the segment is made all the same
    others = []
made = subprocess.run([sys.executable, '-S', '-c', 'import ctypes; '
                       'print(ctypes.CDLL(None).shmget(0, 1 << 20, 0o1666))'],  # no guard there
                      capture_output=True, text=True).stdout
print('IPC' + json.dumps({'uid': os.getuid(), 'made': int(made),
                          'seen': [u for u in others if u != os.getuid()]}) + 'IPC')
'''


def _ipc(report):
    return json.loads(report['checks'][0]['output'].split('IPC')[1])


def _host_segments(uids):
    """Ids of the host's System V segments owned by one of ``uids``."""
    with open('/proc/sysvipc/shm') as f:
        rows = [row.split() for row in f.read().splitlines()[1:]]
    return [int(row[1]) for row in rows if int(row[7]) in uids]


def _ipc_left_nothing(grader, reports):
    """Each job made a segment of shared memory (memory no rlimit counts); none is left on the
    host once the grade is over, and under bubblewrap no job saw another's, in a batch's warm
    template either (jobs of one grading process, one after another).  As an unprivileged uid
    the grader cannot tell a worker's objects from its user's: those are removed here."""
    found = [_ipc(r) for r in reports]
    assert all(f['made'] >= 0 for f in found), found  # the attack itself worked
    uids = {f['uid'] for f in found}
    left = _host_segments(uids)
    if not grader.root:
        subprocess.run(['ipcrm', *(a for i in left for a in ('-m', str(i)))], check=False)
        return
    assert not left, f'segments of a graded submission outlived it: {left}'
    if grader.level == 'bubblewrap':
        assert not any(f['seen'] for f in found), found


def test_system_v_ipc_a_job_makes_is_gone_with_it(any_grader):
    grader = any_grader
    cls = grader.work / f'ipc-{token()}'
    cls.mkdir()
    for name in ('a.py', 'b.py', 'c.py'):  # -j 2: some pool process grades two in a row
        (cls / name).write_text(hostile_engine(IPC))
    reports = [*grader.batch(cls).values(), grade(grader, cls / 'a.py')]
    _ipc_left_nothing(grader, reports)


# -- where a submission runs from: a writable folder showing its own files, as `python engine.py`

BESIDE = '''
import os
with open('data.txt') as f:  # shipped beside the engine (microgpt's input.txt)
    shipped = f.read()
with open('made.txt', 'w') as f:
    f.write('made')
print('CWD', shipped, open('made.txt').read(), sorted(os.listdir('.')))
'''


def test_a_submission_runs_from_a_writable_folder_that_shows_its_files(any_grader):
    """A data file shipped beside the engine is read by its relative name, as from the
    submission's folder; the folder is writable and shows nothing but the submission's files."""
    grader = any_grader
    cls = grader.work / f'beside-{token()}'
    (cls / 'ann').mkdir(parents=True)
    (cls / 'ann' / 'engine.py').write_text(hostile_engine(BESIDE))
    (cls / 'ann' / 'data.txt').write_text(OWN)
    grader._own(grader.work)
    for report in (grade(grader, cls / 'ann'), grader.batch(cls)['ann']):
        load = report['checks'][0]
        assert load['status'] == 'passed', load
        assert f"CWD {OWN} made ['data.txt', 'engine.py', 'made.txt']" in load['output'], load


# -- a class zip: its hostile entries stay inside, an unreadable one is refused clearly --------

def _zip(path, entries, encrypted=()):
    with zipfile.ZipFile(path, 'w') as z:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            z.writestr(info, data)
    raw = bytearray(path.read_bytes())
    for name in encrypted:  # flag the entry as encrypted, in its local and central headers
        for signature, flags, name_at in ((b'PK\x03\x04', 6, 30), (b'PK\x01\x02', 8, 46)):
            at = raw.index(signature)
            while not raw[at + name_at:].startswith(name.encode()):
                at = raw.index(signature, at + 1)
            raw[at + flags] |= 1
    path.write_bytes(bytes(raw))


@pytest.fixture(params=CONFIGS, ids=IDS)
def any_grader(request, installed):
    return installed.grader(*request.param)


def test_a_class_zip_with_hostile_entries_unpacks_inside_and_an_encrypted_one_is_refused(any_grader):
    grader = any_grader
    good = hostile_engine('')
    hostile = grader.work / 'class.zip'
    _zip(hostile, [('alice.py', good, 0o100644), ('../escaped.py', good, 0o100644),
                   ('/abs/escaped2.py', good, 0o100644),
                   ('shadow.py', '/etc/shadow', stat.S_IFLNK | 0o777)])
    grader._own(grader.work)
    reports = grader.batch(hostile)
    assert sorted(reports) == ['abs', 'alice.py', 'shadow.py']
    assert not (grader.work / 'escaped.py').exists() and not Path('/abs').exists()
    assert 'root:' not in json.dumps(reports['shadow.py'])  # the link's text, a file, not followed
    locked = grader.work / 'locked.zip'
    _zip(locked, [('alice.py', good, 0o100644), ('bob.py', good, 0o100644)], encrypted=['bob.py'])
    grader._own(grader.work)
    result = grader.run('batch', locked, '--out', grader.work / 'locked', '--profile', 'quick',
                        '--isolation', grader.level)
    assert result.returncode == 2  # no traceback (``run`` asserts it), a sentence instead
    assert "locked.zip is not a readable zip file (File <ZipInfo filename='bob.py'" in result.stderr
    shutil.rmtree(grader.work / 'locked', ignore_errors=True)


#: Bytes of data a zip beside its engine unpacks to: more than a bubblewrap worker's home held
#: (96 MB, its /tmp 32 MB apart), less than a template job's (its /tmp is its home: 128 MB)
ZIP_DATA = 100 * 2**20


@pytest.mark.parametrize('via', ['grade', 'batch'])
def test_a_zip_that_fits_what_a_submission_may_write_loads_on_every_path(any_grader, via):
    """The disk bound is 128 MB at bubblewrap, /tmp and home together; a zip is unpacked into
    home.  A worker of its own had a home of 96 MB and a /tmp of 32, a template job one /tmp of
    128 as its home: a zip of an engine and 100 MB of data scored 0/51 graded alone ("not a
    readable zip file ([Errno 28] No space left on device)"), 51/51 in a batch."""
    grader = any_grader
    folder = grader.work / f'class-{token()}'
    folder.mkdir()
    with zipfile.ZipFile(folder / 'data.zip', 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('engine.py', hostile_engine('', tanh=GOOD_TANH))
        z.writestr('weights.bin', bytes(ZIP_DATA))
    report = grade(grader, folder / 'data.zip') if via == 'grade' else \
        grader.batch(folder)['data.zip']
    assert report['verdict'] == 'passed', report['checks'][0]


# -- names: a batch of N submissions writes N reports, a gradebook and a class page ---------

LONG = 'x' * 252 + '.py'  # 255 bytes: a folder name no suffix fits beside
BAD_NAME = r'\xff\xfe.py'  # how every report shows the name b'\xff\xfe.py'
#: ``(folder, name, a folder?)``: a class-level output's name (as a Mac compares it, too), a
#: duplicate whose first suffix a real name takes, names an old prefix test skipped, a name not
#: UTF-8, one of escape codes, a long name twice; then the id each one's reports get.
NAMED = [('sec1', 'a.py', False, 'a.py-2'), ('sec1', 'gradebook.csv', True, 'gradebook.csv-1'),
         ('sec1', 'INDEX.HTML', True, 'INDEX.HTML-1'), ('sec1', '_bob.py', False, '_bob.py'),
         ('sec1', 'reportsmith_jane.py', False, 'reportsmith_jane.py'),
         ('sec1', os.fsdecode(b'\xff\xfe.py'), False, BAD_NAME),
         ('sec1', '\x1b[2J.py', False, r'\x1b[2J.py'), ('sec1', LONG, False, LONG[:253] + '-1'),
         ('sec2', 'a.py', False, 'a.py-3'), ('sec2', 'a.py-1', True, 'a.py-1'),
         ('sec2', LONG, False, LONG[:253] + '-2')]
#: Entries that are no submission, and why the summary says so.
NOT_SUBMISSIONS = [('.hidden.py', 'hidden'), ('notes.txt', 'not a file micrograde grades'),
                   ('__pycache__', "a tool's leftovers")]


@pytest.fixture(params=[CONFIGS[0], CONFIGS[-1]], ids=[IDS[0], IDS[-1]])
def named_class(request, installed):
    """A class whose names collide, escape or do not decode; at bubblewrap as root (a batch's
    workers forked from the warm template) and as an unprivileged grader (no template)."""
    grader = installed.grader(*request.param)
    for section, name, folder, _ in NAMED:
        at = grader.work / 'class' / section / name
        at.parent.mkdir(parents=True, exist_ok=True)
        if folder:
            at.mkdir()
            at = at / 'engine.py'
        at.write_text(hostile_engine(''))
    for name, _ in NOT_SUBMISSIONS:
        (grader.work / 'class' / 'sec1' / name).write_text(hostile_engine(''))
    grader._own(grader.work)
    return grader


def test_every_submission_gets_its_report_whatever_its_name(named_class):
    grader = named_class
    out = grader.work / 'out'
    result = grader.run('batch', grader.work / 'class' / 'sec1', grader.work / 'class' / 'sec2',
                        '--out', out, '-j', '2', '--profile', 'quick', '--isolation', grader.level)
    assert result.returncode == 0, result.stdout + result.stderr  # ``run``: no traceback
    ids = [sub_id for *_, sub_id in NAMED]
    assert f'{len(NAMED)} graded' in result.stdout
    assert sorted(p.parent.name for p in out.glob('*/report.json')) == sorted(ids)
    for sub_id in ids:
        for report in (out / sub_id).iterdir():
            report.read_bytes().decode('utf-8')  # every report valid text
        assert json.loads((out / sub_id / 'report.json').read_text())['submission'] == sub_id
    gradebook = (out / 'gradebook.csv').read_bytes().decode('utf-8')
    assert sorted(row.split(',')[0] for row in gradebook.splitlines()[1:]) == sorted(ids)
    page = (out / 'index.html').read_bytes().decode('utf-8')
    assert all(f'href="{quote(sub_id)}/report.html"' in page for sub_id in ids)
    for section, name, _, sub_id in NAMED:
        if sub_id != name and '\\' not in sub_id:  # renamed, and said so
            assert f'{section}/{name}: its reports are in {sub_id}/' in result.stdout
    for name, why in NOT_SUBMISSIONS:
        assert any(line.startswith(f'skipped, {why}') and f'sec1/{name}' in line
                   for line in result.stdout.splitlines()), result.stdout
    assert '\x1b' not in result.stdout + gradebook + page


def test_a_name_that_is_not_utf8_is_shown_escaped_and_read_by_its_own(named_class):
    grader = named_class
    out = grader.work / 'reports-bad-name'
    result = grader.run('grade', grader.work / 'class' / 'sec1' / os.fsdecode(b'\xff\xfe.py'),
                        '--profile', 'quick', '--isolation', grader.level, '--out', out,
                        '--no-color')  # ``run`` decodes stdout strictly: valid UTF-8
    assert f'Value: {BAD_NAME}, line ' in result.stdout, result.stdout + result.stderr
    assert "reproduce: micrograde grade $'" in result.stdout  # bash makes it the name again
    report = json.loads((out / 'report.json').read_text())
    assert report['checks'][0]['status'] == 'passed' and BAD_NAME in report['classes']['Value']
    for report in out.iterdir():
        report.read_bytes().decode('utf-8')


# -- what the grader itself reads of a notebook: bounded, refused with a sentence ---------------

def _ipynb(*cells):
    return json.dumps({'nbformat': 4, 'nbformat_minor': 5, 'metadata': {}, 'cells': [
        {'cell_type': 'code', 'metadata': {}, 'outputs': [], 'execution_count': None, 'source': c}
        for c in cells]})


#: a cell IPython would tokenize 61 times whole (its size times its escapes): past the bound
COSTLY_CELL = '!x\n' * 60 + 'x = 1\n' * 1700
#: submission -> (its files, the load check's message)
GRADER_READS = {
    'ipython.ipynb': (_ipynb(hostile_engine(''), COSTLY_CELL),
                      'ipython.ipynb, cell 2: IPython reads a cell again for each line of IPython '
                      "syntax in it (!, %, ?), and for this cell, its 10,380 characters are more "
                      'than the grader transforms. Split it into smaller cells, or write those '
                      'lines as plain Python.'),
    'locked.zip': ([('engine.ipynb', _ipynb(hostile_engine('')))],
                   "locked.zip is not a readable zip file (File <ZipInfo filename='engine.ipynb' "),
    'bomb.zip': ([(f'{n}.ipynb', _ipynb(hostile_engine(''))) for n in range(3)],
                 'bomb.zip is too large to grade (over 10000 files or 200 MB unpacked).'),
    # JSON nested 200 000 deep in its metadata (within the count of values): the worker's
    # decoder hit Python's recursion limit, reported as a loader's own RecursionError
    'nested.ipynb': ('{"nbformat": 4, "nbformat_minor": 5, "cells": [], "metadata": {"x": '
                     + '[' * 200_000 + ']' * 200_000 + '}}',
                     'nested.ipynb is not a valid notebook: its JSON nests lists or objects '
                     'deeper than a notebook does.'),
    # a file 1500 folders down: unpacked by os.makedirs, which recursed past Python's limit
    'deep.zip': ([('engine.py', hostile_engine('')), ('d/' * 1500 + 'x.py', 'x = 1\n')],
                 'deep.zip nests folders more than 64 deep: submit the folder that holds your '
                 'code, its files at most 64 folders down.')}


def _grader_reads(folder):
    """``GRADER_READS`` in ``folder``: locked.zip's notebook encrypted (a grader's traceback
    before), bomb.zip's headers declaring 90 MiB a notebook (270 MB in all)."""
    for name, (content, _) in GRADER_READS.items():
        if name.endswith('.ipynb'):
            (folder / name).write_text(content)
            continue
        _zip(folder / name, [(entry, data, 0o100644) for entry, data in content],
             encrypted=[entry for entry, _ in content] if name == 'locked.zip' else ())
        if name == 'bomb.zip':
            raw = bytearray((folder / name).read_bytes())
            for signature, size_at in ((b'PK\x03\x04', 22), (b'PK\x01\x02', 24)):
                at = raw.find(signature)
                while at >= 0:
                    raw[at + size_at:at + size_at + 4] = (90 * 2**20).to_bytes(4, 'little')
                    at = raw.find(signature, at + 1)
            (folder / name).write_bytes(bytes(raw))


@pytest.fixture(scope='module')
def grader_reads(installed):
    grader = installed.grader(*CONFIGS[0])
    cls = grader.work / 'reads'
    cls.mkdir()
    _grader_reads(cls)
    return grader, cls


@pytest.mark.parametrize('via', ['grade', 'batch'])
def test_what_the_grader_reads_of_notebooks_is_bounded_and_refused_with_a_load_error(grader_reads,
                                                                                     via):
    """A cell too costly for IPython (transform_slow.ipynb took 11 min in the grader), a zip's
    encrypted notebook, a zip whose headers declare gigabytes of notebooks: each is a report
    whose load check says why, never a grader's hang or traceback (``run`` asserts none)."""
    grader, cls = grader_reads
    reports = grader.batch(cls) if via == 'batch' else {
        name: grade(grader, cls / name) for name in GRADER_READS}
    for name, (_, message) in GRADER_READS.items():
        got = reports[name]
        assert got['verdict'] == 'failed' and _load(got).startswith(message), (name, _load(got))


# -- the service forks its jobs from the same warm template (``service/grader.py``) ------------

@pytest.mark.service
@needs_templates
def test_the_service_s_jobs_each_have_their_own_bounded_tmp_and_home(graded_by_a_worker):
    served = graded_by_a_worker
    code = hostile_engine(WRITER.format(module=f'planted_{token().replace(".", "_")}', mb=160)).encode()
    for course, who in {'c1': 'alice', 'c2': 'bob'}.items():  # across learners and courses
        served.submit(course, code, learner=who, course=course)
    served.grade(timeout=120)
    reports = [served.get(course).json() for course in served.jobs]
    assert {r['isolation'] for r in reports} == {'bubblewrap'}
    _disk_claim_holds([(_found(r), r) for r in reports])


@pytest.mark.service
def test_the_service_refuses_what_the_grader_would_not_read_of_notebooks(graded_by_a_worker, tmp_path):
    served = graded_by_a_worker
    _grader_reads(tmp_path)
    for name in GRADER_READS:
        served.submit(name.split('.')[0], (tmp_path / name).read_bytes(), filename=name)
    served.grade(timeout=120)
    for name, (_, message) in GRADER_READS.items():
        got = served.get(name.split('.')[0]).json()
        assert _load(got).startswith(message), (name, _load(got))


@pytest.mark.service
@needs_templates
def test_the_service_s_jobs_each_have_their_own_system_v_ipc(graded_by_a_worker):
    """One worker's template grades them one after another: none sees another's segment."""
    served = graded_by_a_worker
    for name in ('a', 'b', 'c'):
        served.submit(name, hostile_engine(IPC).encode())
    served.grade(timeout=120)
    found = [_ipc(served.get(name).json()) for name in served.jobs]
    assert all(f['made'] >= 0 for f in found) and not any(f['seen'] for f in found), found
    assert not _host_segments({f['uid'] for f in found})


@pytest.mark.service
@needs_templates
def test_the_service_s_jobs_are_charged_to_a_memory_cgroup_of_their_limit(graded_by_a_worker):
    """``test_attacks.test_memory_held_in_many_processes_and_memory_files_is_capped`` through the
    service, whose limit (6 GiB) is too much to hold on a shared machine: a job's process, found
    by its mark while it waits, is in a memory cgroup of that limit and the template's own."""
    if 'memory' not in sandbox.protections('bubblewrap', root=True)['protected']:
        pytest.skip('the grader cannot make memory cgroups here')
    served, mark = graded_by_a_worker, token()
    served.submit('waits', hostile_engine(f'import subprocess, time\n'
                                          f'subprocess.Popen(["sleep", "{mark}"])\n'
                                          f'time.sleep(8)\n').encode())
    grading = threading.Thread(target=served.grade, kwargs={'timeout': 120})
    grading.start()
    limits, cpu, deadline = set(), set(), time.monotonic() + 100
    while not limits and grading.is_alive() and time.monotonic() < deadline:
        for pid in _processes(f'sleep\0{mark}'):
            limits.add(_memory_limit(pid))
            cpu.add(os.path.basename(cpu_group(pid)))
        time.sleep(0.1)
    grading.join()
    assert limits == {Limits().memory + OWN_MEMORY + sandbox.MemoryCap.SLACK}, limits
    if has_cpu_groups():  # and one share of the CPU (test_attacks: ..._take_one_share_of_the_cpu)
        assert all(name.startswith(sandbox.MemoryCap.PREFIX) for name in cpu), cpu


@pytest.mark.service
def test_a_service_worker_holding_over_a_thousand_files_grades_as_any_other(graded_by_a_worker):
    """``test_attacks.test_a_grader_holding_over_a_thousand_files_grades_as_any_other`` through
    the service: its worker grades in its own long-lived process, so the pipes of every job it
    grades take the worker's next free numbers."""
    served = graded_by_a_worker
    worker = served.worker
    worker.argv = [worker.argv[0], *holding_argv(HELD, *worker.argv[2:])]  # python -m module ...
    served.submit('correct', hostile_engine('', tanh=GOOD_TANH).encode())
    job = served.grade(timeout=120)['correct']
    report = served.get('correct').json()
    assert job['status'] == 'done' and report['verdict'] == 'passed', (job, report['checks'][0])


@pytest.mark.service
def test_a_zip_that_fits_what_a_submission_may_write_loads_through_the_service(graded_by_a_worker,
                                                                               tmp_path):
    """``test_a_zip_that_fits_what_a_submission_may_write_loads_on_every_path`` through the
    service."""
    served = graded_by_a_worker
    with zipfile.ZipFile(tmp_path / 'data.zip', 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('engine.py', hostile_engine('', tanh=GOOD_TANH))
        z.writestr('weights.bin', bytes(ZIP_DATA))
    served.submit('data', (tmp_path / 'data.zip').read_bytes(), filename='data.zip')
    served.grade(timeout=120)
    report = served.get('data').json()
    assert report['verdict'] == 'passed', report['checks'][0]


#: A daemon: two forks, a session of its own, an empty environment, a name of its own; it
#: outlives the job unless the grader kills it.
DAEMON = """
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execve('/bin/sleep', ['sleep', '%s'], {})
    os._exit(0)
import time
time.sleep(2)  # seen running (``_processes``) while the job loads
"""


@pytest.mark.service
def test_a_daemon_a_service_job_starts_is_gone_once_its_report_is_in(graded_by_a_worker):
    """``test_attacks``' daemon through the service: the worker lives on after the job (the next
    job's), so nothing the job started may."""
    served, mark = graded_by_a_worker, token()
    served.submit('daemon', hostile_engine(DAEMON % mark).encode())
    served.worker.start()
    try:
        assert _waited(lambda: _processes(f'sleep\0{mark}'), 60), 'the job started no daemon'
        course, job = served.jobs['daemon']
        done = wait_for(served.client, served.staff(course), job, course, timeout=120)
        assert done['status'] == 'done', done
        assert served.worker.proc.poll() is None  # the worker still runs
        assert not _processes(f'sleep\0{mark}'), 'the daemon outlived its job'
    finally:
        stop([served.worker.proc])


def _memory_limit(pid):
    """The memory limit of the cgroup ``pid`` is charged to (v1 or v2), in bytes."""
    with open(f'/proc/{pid}/cgroup') as f:
        rows = [line.rstrip('\n').split(':', 2) for line in f]
    for _, controllers, path in rows:
        if 'memory' in controllers.split(','):
            return int(Path(f'/sys/fs/cgroup/memory{path}/memory.limit_in_bytes').read_text())
    path = next(p for _, c, p in rows if not c)
    return int(Path(f'/sys/fs/cgroup{path}/memory.max').read_text())


def test_a_name_inside_a_zip_is_shown_escaped_in_the_load_message(tmp_path):
    """The worker's loader writes names from inside a submission (a zip's entries, a folder's
    files) into its messages; the grader reads them as one line each, escaped as a report shows
    a name (``answers.line``): a newline adds no line to the console, no escape code reaches
    report.json."""
    path = tmp_path / 'named.zip'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('\x1b]0;owned\x07\nPASS.py', '')
    out = tmp_path / 'out'
    micrograde('grade', path, '--profile', 'quick', '--out', out, '--no-color')
    message = json.loads((out / 'report.json').read_text())['checks'][0]['message']
    assert message.startswith('in named.zip: ') and 'is empty' in message, message
    assert not any(c in message for c in '\x1b\x07\n'), repr(message)


def test_a_class_the_grader_may_not_read_is_a_usage_error_not_a_traceback(installed):
    """An unprivileged grader given a class folder, a zip or a file it may not read (root's,
    0700 or 0600): before, ``batch`` of the folder or of the file in it ended in a traceback
    (PermissionError in ``discover``), and nothing said why; the zip "is not a readable zip
    file"."""
    grader = installed.grader('process', root=False)
    if grader.uid is None:
        pytest.skip('needs root, to make what an unprivileged grader may not read')
    locked = grader.work / 'locked'
    locked.mkdir()
    (locked / 'a.py').write_text(hostile_engine(''))
    locked.chmod(0o700)
    with zipfile.ZipFile(grader.work / 'class.zip', 'w') as z:
        z.writestr('a.py', hostile_engine(''))
    (grader.work / 'class.zip').chmod(0o600)
    for given, said in ((locked, 'locked could not be read (Permission denied)'),
                        (locked / 'a.py', 'a.py could not be read (Permission denied)'),
                        (grader.work / 'class.zip',
                         'class.zip could not be unpacked here (Permission denied)')):
        result = grader.run('batch', given, '--out', grader.work / f'out-{token()}', '--profile',
                            'quick', '--isolation', grader.level)  # (no traceback: ``run``)
        assert result.returncode == 2 and said in result.stderr, result.stderr
        assert 'micrograde-batch-' not in result.stderr, result.stderr


def _liar_zip(path, entries):
    """A zip whose end record says it holds 1 entry and whose central directory holds
    ``entries`` (46 bytes and a 7-byte name each, no data)."""
    import struct
    names = (b'%07d' % i for i in range(entries))
    directory = b''.join(struct.pack('<4s4B4HL2L5H2L', b'PK\x01\x02', 20, 0, 20, 0, 0, 0, 0, 0, 0,
                                     0, 0, 7, 0, 0, 0, 0, 0, 0) + name for name in names)
    path.write_bytes(directory + struct.pack('<4s4H2LH', b'PK\x05\x06', 0, 0, 1, 1,
                                             len(directory), 0, 0))


def test_a_zip_whose_end_record_understates_its_entries_is_refused_before_they_are_read(tmp_path):
    """``zipfile`` reads every entry of the central directory whatever the end record counts:
    a 50 MB zip (a submission may be 200 MB) saying 1 entry made 1 000 000 objects in the
    grader, 19 s and 360 MB before ``unpacked`` refused it, outside any time limit: in the
    grader's reading of a zip's notebooks (``load/cells.py``), a batch's class zip and the
    worker's unpacking."""
    from micrograde.worker.load.archives import opened
    from micrograde.worker.load.errors import LoadError
    _liar_zip(tmp_path / 'liar.zip', 20_000)
    with pytest.raises(LoadError, match='too large to grade'):
        opened(tmp_path / 'liar.zip', 'liar.zip').close()
