"""Draw a computation graph: Graphviz DOT text always, SVG when the ``dot`` program exists.

Works on any Value-like object (``data``, ``grad``, ``_prev``, ``_op``, ``label``), so the same
drawing serves the reference engine and a learner's engine.  ``dot_source`` is the lecture's style
on its own (a record per value, an ellipse per op), so a report can draw a graph kept as data.
"""
import re
import shutil
import subprocess
from dataclasses import dataclass, field


@dataclass
class Box:
    """One value in a drawing: its rows of text, the op that made it, Graphviz attributes."""
    uid: str
    rows: list
    op: str = ''
    attrs: dict = field(default_factory=dict)  # of the value's record
    op_attrs: dict = field(default_factory=dict)  # of its op's ellipse


def trace(root):
    """All nodes and edges reachable from ``root``, in a stable order, without recursion."""
    nodes, edges, seen, stack = [], [], set(), [root]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        nodes.append(v)
        for child in getattr(v, '_prev', ()):
            edges.append((child, v))
            stack.append(child)
    return nodes, edges


_CONTROL = re.compile('[\x00-\x1f\x7f]')


def _quote(text):
    """Text inside a DOT string: no control characters, quotes and backslashes escaped."""
    return _CONTROL.sub('?', str(text)).replace('\\', '\\\\').replace('"', '\\"')


def _escape(text):
    """Text inside one field of a record label: its special characters escaped too."""
    return re.sub(r'([{}|<>])', r'\\\1', _quote(text))


def _attrs(attrs):
    return ''.join(f', {k}="{_quote(v)}"' for k, v in attrs.items())


def dot_source(boxes, edges, rankdir='LR', node_attrs=None):
    """DOT text: a record per ``Box`` and an ellipse per op; ``edges`` are (operand uid, result
    uid) pairs, drawn into the result's op; ``node_attrs`` apply to every node (fonts)."""
    lines = ['digraph G {', f'  rankdir={rankdir};']
    if node_attrs:
        lines.append(f'  node [{_attrs(node_attrs)[2:]}];')
    ops = set()
    for b in boxes:
        label = ' | '.join(_escape(row) for row in b.rows)
        lines.append(f'  {b.uid} [shape=record, label="{{ {label} }}"{_attrs(b.attrs)}];')
        if b.op:
            ops.add(b.uid)
            lines.append(f'  {b.uid}op [label="{_quote(b.op)}"{_attrs(b.op_attrs)}];')
            lines.append(f'  {b.uid}op -> {b.uid};')
    for child, parent in edges:
        lines.append(f'  {child} -> {parent}{"op" if parent in ops else ""};')
    lines.append('}')
    return '\n'.join(lines) + '\n'


def to_dot(root, rankdir='LR'):
    """The graph of ``root`` as DOT text: one record per value, one ellipse per op."""
    nodes, edges = trace(root)
    boxes = [Box(f'v{id(v)}', [getattr(v, 'label', '') or '', f'data {v.data:.4f}',
                               f'grad {v.grad:.4f}'], getattr(v, '_op', '')) for v in nodes]
    return dot_source(boxes, [(f'v{id(c)}', f'v{id(p)}') for c, p in edges], rankdir)


def render(dot, format='svg', timeout=30):
    """``dot`` rendered by Graphviz as bytes, or ``None`` where the ``dot`` program is missing."""
    exe = shutil.which('dot')
    if exe is None:
        return None
    return subprocess.run([exe, f'-T{format}'], input=dot.encode('utf-8', 'replace'), capture_output=True,
                          check=True, timeout=timeout).stdout


def draw_dot(root, format='svg', rankdir='LR'):
    """Rendered image bytes (``format``) when Graphviz's ``dot`` is installed, else DOT text."""
    dot = to_dot(root, rankdir)
    image = render(dot, format)
    return dot if image is None else image
