"""The one walk and copy of a submission (``harness/load/tree.py``), in-process: what the grader keeps,
leaves out and refuses.  The attacks themselves, on every path, are in ``test_attacks_files.py``."""
import os
import subprocess
import sys

import pytest

from micrograde.grader.config import Config
from micrograde.load import tree
from micrograde.model import names
from micrograde.surfaces.batch import fingerprint
from micrograde.worker.load.errors import LoadError


def _tree(root):
    return {os.path.relpath(os.path.join(d, n), root): os.readlink(os.path.join(d, n))
            if os.path.islink(os.path.join(d, n)) else None
            for d, dirs, names in os.walk(root) for n in dirs + names}


def test_links_inside_are_kept_as_links_and_links_out_are_left_out(tmp_path):
    src = tmp_path / 'hw'
    (src / 'pkg').mkdir(parents=True)
    (src / 'pkg' / 'core.py').write_text('x = 1\n')
    (tmp_path / 'outside.txt').write_text('not theirs')
    links = {'alias.py': 'pkg/core.py', 'pkg/up.py': '../pkg/core.py', 'here': '.',
             'out': '../outside.txt', 'abs': str(tmp_path / 'outside.txt'),
             'via': 'here/../outside.txt', 'loop': 'here/..'}
    for name, target in links.items():
        (src / name).symlink_to(target)
    tree.copy(str(src), str(tmp_path / 'copy'))
    assert _tree(tmp_path / 'copy') == {'pkg': None, 'pkg/core.py': None, 'alias.py': 'pkg/core.py',
                                        'pkg/up.py': '../pkg/core.py', 'here': '.'}
    assert (tmp_path / 'copy' / 'alias.py').read_text() == 'x = 1\n'


@pytest.mark.parametrize('make, message', [
    (lambda p: os.mkfifo(p / 'f'), 'f is a named pipe, not a file or folder.'),
    (lambda p: (p / 'm').symlink_to('/proc/self/mem'), 'm is a link to /proc/self/mem'),
    (lambda p: (p / 'r').symlink_to('../../../../../../../../dev/zero'), 'r is a link to /dev/zero'),
    (lambda p: (p / 'big').write_bytes(b'') or os.truncate(p / 'big', tree.MAX_BYTES + 1),
     'hw is too large to grade'),
    (lambda p: [(p / f'{n}').touch() for n in range(tree.MAX_FILES + 1)], 'hw is too large to grade'),
])
def test_what_a_submission_may_not_hold_is_refused_before_anything_is_opened(tmp_path, make, message):
    src = tmp_path / 'hw'
    src.mkdir()
    make(src)
    with pytest.raises(LoadError) as e:
        tree.copy(str(src), str(tmp_path / 'copy'))
    assert str(e.value).startswith(message)
    assert fingerprint(src, Config()) != fingerprint(tmp_path, Config())  # hashed, not raised


@pytest.mark.parametrize('name', ['a\x1b[2J', 'pipe\n', 'b\udcff', 'c\u202egp.py'])
def test_a_refused_files_name_reads_as_the_reports_show_names(tmp_path, name):
    """Escape codes, a byte that is not UTF-8 (read as a lone surrogate), a bidi override: the
    refusal names the file as every report, the gradebook and the console do (``names.shown``)."""
    (tmp_path / 'hw').mkdir()
    os.mkfifo(os.path.join(tmp_path / 'hw', name))
    with pytest.raises(LoadError) as e:
        tree.copy(str(tmp_path / 'hw'), str(tmp_path / 'copy'))
    assert str(e.value).startswith(f'{names.shown(name)} is a named pipe'), str(e.value)


def test_a_hard_link_to_a_file_only_its_owner_may_read_is_refused(tmp_path):
    (tmp_path / 'secret').write_text('s')
    os.chmod(tmp_path / 'secret', 0o600)
    (tmp_path / 'hw').mkdir()
    os.link(tmp_path / 'secret', tmp_path / 'hw' / 'notes.txt')
    with pytest.raises(LoadError, match='notes.txt is a hard link'):
        tree.copy(str(tmp_path / 'hw'), str(tmp_path / 'copy'))


def test_the_fingerprint_hashes_links_by_their_text_never_their_target(tmp_path):
    src = tmp_path / 'hw'
    src.mkdir()
    (src / 'engine.py').write_text('class Value: pass\n')
    (tmp_path / 'target').write_text('one')
    (src / 'link').symlink_to(tmp_path / 'target')
    base = fingerprint(src, Config())
    (tmp_path / 'target').write_text('two')  # what it points to is not graded
    assert fingerprint(src, Config()) == base
    (src / 'link').unlink()
    (src / 'link').symlink_to('elsewhere')
    assert fingerprint(src, Config()) != base


REMOVE_UNREADABLE = '''
import os, shutil, sys
from micrograde.load import tree
root = sys.argv[1]
os.makedirs(os.path.join(root, 'a', 'b'))
open(os.path.join(root, 'a', 'b', 'f'), 'w').close()
os.symlink('/etc', os.path.join(root, 'a', 'link'))
os.chmod(os.path.join(root, 'a', 'b'), 0)
os.chmod(os.path.join(root, 'a'), 0)
shutil.rmtree(root, ignore_errors=True)
left = os.path.lexists(root)
tree.remove(root)
print(left, os.path.lexists(root), oct(os.stat('/etc').st_mode & 0o777))
'''


def test_a_scratch_folder_the_worker_made_unreadable_is_removed_by_an_unprivileged_grader(tmp_path):
    """A worker that sets its folders to mode 000 left them behind an unprivileged grader
    (redteam7): ``shutil.rmtree`` cannot list them.  As root the test drops the capabilities
    that let root read anything (``setpriv``), which makes it such a grader."""
    import shutil as sh
    drop = ['setpriv', '--bounding-set', '-dac_override,-dac_read_search', '--inh-caps', '-all',
            '--'] if os.geteuid() == 0 and sh.which('setpriv') else []
    mode = oct(os.stat('/etc').st_mode & 0o777)
    result = subprocess.run(drop + [sys.executable, '-c', REMOVE_UNREADABLE, str(tmp_path / 's')],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ['True', 'False', mode], result.stderr  # left by rmtree,
    # gone after remove, and the link's target untouched
