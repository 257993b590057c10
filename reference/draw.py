"""Draw a computation graph: Graphviz DOT text always, SVG when the ``dot`` program exists.

Works on any Value-like object (``data``, ``grad``, ``_prev``, ``_op``, ``label``), so the same
drawing serves the reference engine and a learner's engine.
"""
import shutil
import subprocess


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


def _escape(text):
    return str(text).replace('\\', '\\\\').replace('"', '\\"').replace('{', '\\{').replace(
        '}', '\\}').replace('|', '\\|').replace('<', '\\<').replace('>', '\\>')


def to_dot(root, rankdir='LR'):
    """The graph of ``root`` as DOT text: one record per value, one ellipse per op."""
    nodes, edges = trace(root)
    lines = ['digraph G {', f'  rankdir={rankdir};']
    for v in nodes:
        uid = f'v{id(v)}'
        label = _escape(getattr(v, 'label', '') or '')
        lines.append(f'  {uid} [shape=record, label="{{ {label} | data {v.data:.4f} | '
                     f'grad {v.grad:.4f} }}"];')
        op = getattr(v, '_op', '')
        if op:
            lines.append(f'  {uid}op [label="{_escape(op)}"];')
            lines.append(f'  {uid}op -> {uid};')
    for child, parent in edges:
        target = f'v{id(parent)}op' if getattr(parent, '_op', '') else f'v{id(parent)}'
        lines.append(f'  v{id(child)} -> {target};')
    lines.append('}')
    return '\n'.join(lines) + '\n'


def draw_dot(root, format='svg', rankdir='LR'):
    """Rendered image bytes (``format``) when Graphviz's ``dot`` is installed, else DOT text."""
    dot = to_dot(root, rankdir)
    exe = shutil.which('dot')
    if exe is None:
        return dot
    return subprocess.run([exe, f'-T{format}'], input=dot.encode(), capture_output=True,
                          check=True, timeout=30).stdout
