"""Where torch's answers are kept, so that grading (and a learner's self-check) need not import
torch: package data shipped with the grader, and a cache on disk.  Storage only: looking an
answer up, checking it and computing what is missing is ``micrograde.oracle.oracles``; what is shipped is
built by ``micrograde.surfaces.build_oracles`` (``make oracles``).

A graph is keyed by its content: ``key(graph)``, a hash of its canonical JSON (input values,
nodes, output; names do not change a result).  The shipped file and the cache are both for one
grader version and ``FORMAT``.

Shipped format (``harness/oracle/data/oracles.json``, compact JSON)::

    {"format": 1, "version": "0.1.0", "torch": "2.13.0",
     "answers": {"<key>": [["values" | "grads", index, number], ...] | {torch's result}},
     "vouched": {"<capability>": graphs, ...}}

A list is torch's answer as the reference engine's answer with these entries replaced, usually
none (``[]``: bit for bit the reference's; tanh, exp and friends may differ in the last ulp):
the reference engine recomputes the rest, which keeps the file small (deep chains).  Where the
two differ in shape (an error, a missing gradient) torch's whole result is kept.  Numbers are
exact float reprs, ``NaN`` and ``Infinity`` as Python's json writes them.

``vouched``: the shipped cross-check of the reference engine against torch.  For each op, how
many graphs of the shipped fuzz pool use it; an op is listed only where torch and the reference
engine agree on every one of them.  A corpus graph of another seed is drawn by the same builder
from the same domains (``micrograde.fuzz.dags``), so where all its ops are vouched for, the
reference engine answers it without torch (``micrograde.oracle.oracles``).

The cache (``$MICROGRADE_CACHE``, else ``$XDG_CACHE_HOME/micrograde``, else
``~/.cache/micrograde``) holds one file per graph, ``oracles-<version>-f<FORMAT>/<key>.json``:
``{"graph": canonical JSON, "torch": result}``, written atomically.  What it returns is not to be
trusted blindly (``micrograde.oracle.oracles`` checks it against the reference engine).
"""
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

from micrograde import __version__

FORMAT = 1
SHIPPED = Path(__file__).with_name('data') / 'oracles.json'


def canonical(graph):
    """The graph as the JSON text its answer depends on."""
    return json.dumps({'inputs': [x for _, x in graph.inputs],
                       'nodes': [n.to_dict() for n in graph.nodes], 'output': graph.output},
                      separators=(',', ':'), sort_keys=True)


@functools.lru_cache(maxsize=16384)
def key(graph):
    return hashlib.sha256(canonical(graph).encode()).hexdigest()[:16]


def default_cache():
    root = os.environ.get('MICROGRADE_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'micrograde')
    return Path(root)


def patched(reference, entry):
    """torch's answer from a shipped entry: a whole result, or patches to the reference's."""
    if isinstance(entry, dict):
        return entry
    if not entry:
        return reference
    result = {field: list(reference[field]) for field in ('values', 'grads')}
    for field, i, x in entry:
        result[field][i] = x
    return result


def read_shipped(path=SHIPPED):
    """``{key: entry}`` of a shipped store; empty when missing or of another version."""
    return _read(path).get('answers', {})


def _read(path):
    """The shipped file's data; empty when missing or of another version."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    if data.get('format') != FORMAT or data.get('version') != __version__:
        return {}
    return data


class Store:
    """The shipped answers (read on first use) and the disk cache (``cache=None``: none)."""

    def __init__(self, shipped=SHIPPED, cache=True):
        self.shipped_path, self._data = shipped, None
        cache = default_cache() if cache is True else cache
        self.cache = Path(cache, f'oracles-{__version__}-f{FORMAT}') if cache else None
        # answers served, by source
        self.sources = {'shipped': 0, 'reference': 0, 'cache': 0, 'torch': 0}

    @property
    def data(self):
        if self._data is None:
            self._data = _read(self.shipped_path)
        return self._data

    def shipped(self, graph):
        """The shipped entry for ``graph`` (see ``patched``), or ``None``."""
        return self.data.get('answers', {}).get(key(graph))

    def vouched(self, graph):
        """For how many shipped graphs the least checked of ``graph``'s ops agreed with torch
        (see ``vouched`` above); 0 where one of them is not vouched for."""
        counts = self.data.get('vouched', {})
        return min(counts.get(c, 0) for c in graph.capabilities)

    def cached(self, graph):
        """torch's result as the cache has it for this very graph, or ``None``."""
        if self.cache is None:
            return None
        try:
            entry = json.loads((self.cache / f'{key(graph)}.json').read_text())
            return entry['torch'] if entry['graph'] == canonical(graph) else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def keep(self, graph, result):
        """Write an answer to the cache atomically; a cache that cannot be written is skipped."""
        if self.cache is None:
            return
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache, prefix='.tmp-')
            with os.fdopen(fd, 'w') as f:
                f.write(json.dumps({'graph': canonical(graph), 'torch': result}))
            os.replace(tmp, self.cache / f'{key(graph)}.json')
        except OSError:
            pass
