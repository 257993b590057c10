"""A counterexample's graph drawn as the lecture draws it: each value's data and grad, each op.

Values whose gradient (or data) is wrong are filled red and labelled with what they got and what
was expected; the op the mismatch is localised to is marked as the culprit.  Graphviz renders the
DOT to SVG, which is parsed and rebuilt from an allow-list before it is inlined in a page, so
nothing a submission printed can become markup.  Where ``dot`` is missing or fails, the same
facts are given as a table and the page says why.
"""
import math
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from micrograde.reference.draw import Box, dot_source, render

from micrograde.reporters.text import clean
from micrograde.model.compare import show
from micrograde.model.graph import Graph
from micrograde.worker.ops import OPS

MAX_DRAWN = 60  # entries; larger graphs are listed, not drawn
MAX_LISTED = 200

SVG_NS = 'http://www.w3.org/2000/svg'
SVG_TAGS = {'svg', 'g', 'title', 'polygon', 'polyline', 'ellipse', 'path', 'text'}
SVG_ATTRIBUTES = {'class', 'width', 'height', 'viewBox', 'transform', 'points', 'fill', 'stroke',
                  'stroke-width', 'stroke-dasharray', 'cx', 'cy', 'rx', 'ry', 'd', 'x', 'y',
                  'text-anchor', 'font-family', 'font-size', 'font-weight', 'font-style'}

FONT = {'fontname': 'Helvetica', 'fontsize': '13'}
WRONG = {'style': 'filled', 'fillcolor': '#ffd6d6', 'color': '#b00020', 'penwidth': '2',
         'class': 'wrong'}
CULPRIT = {'style': 'filled,bold', 'fillcolor': '#ffcc80', 'color': '#b00020', 'penwidth': '2',
           'class': 'culprit'}


@dataclass
class Row:
    """One entry of the graph, for the table form."""
    name: str
    expression: str
    data: str
    grad: str
    expected: str = ''  # what it should have been, where it is wrong
    culprit: bool = False


@dataclass
class Drawing:
    svg: str | None = None  # sanitised inline SVG
    note: str = ''  # why there is no SVG
    rows: list = field(default_factory=list)
    more: int = 0  # entries not listed


def number(x, exact=False):
    """A stored result as text: 4 decimals like the lecture's drawing, or every digit."""
    if x is None:
        return 'not computed'
    if isinstance(x, str):  # JSON-safe forms of non-finite floats
        return x if x in ('nan', 'inf', '-inf') else 'not a number'
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return clean(show(x), 60)  # e.g. 'not a number (T)', T named by the submission
    x = float(x)
    if exact or not math.isfinite(x):
        return show(x)
    return f'{x:.4f}' if x == 0 or 1e-3 <= abs(x) < 1e6 else f'{x:.4g}'


def op_label(node):
    """The op as the lecture labels it, with its constant: ``*``, ``tanh``, ``+ 2``, ``2 -``, ``** -0.5``."""
    op = OPS[node.op]
    if node.const is None:
        return op.symbol if op.arity == 2 else op.name
    return f'{node.const:g} {op.symbol}' if node.left else f'{op.symbol} {node.const:g}'


def draw(ce):
    """The ``Drawing`` of a counterexample with a graph (``None`` when it has none)."""
    laid = _laid_out(ce)
    if laid is None:
        return None
    drawing, dot = laid
    if dot is None:
        return drawing
    svg = render_svg(dot)
    if svg is None:
        drawing.note = ('Graphviz (the dot program) is not installed where this report was written, '
                        'so the graph is listed as a table instead of drawn.')
    elif not svg:
        drawing.note = 'Graphviz could not draw this graph; it is listed as a table instead.'
    else:
        drawing.svg = svg
    return drawing


def undrawn(counterexamples):
    """The DOT sources of these counterexamples' drawings that no earlier report drew, once each:
    what is worth a ``dot`` process of its own."""
    sources = (laid[1] for ce in counterexamples if (laid := _laid_out(ce)) is not None)
    program = shutil.which('dot')
    return [dot for dot in dict.fromkeys(sources) if dot is not None and (program, dot) not in _DRAWN]


def _laid_out(ce):
    """``(Drawing without its SVG, DOT source or None when too large to draw)``, or ``None``
    for a counterexample without a graph."""
    if not ce or not ce.graph:
        return None
    graph = Graph.from_dict(ce.graph)
    computed = ce.nodes or [{} for _ in range(graph.size)]
    boxes, rows = [], []
    for i in range(graph.size):
        name, node = graph.name(i), graph.node(i)
        got = computed[i] if i < len(computed) else {}
        want = ce.wrong.get(name, {})
        culprit = name in ce.culprits
        text = {k: number(got.get(k), exact=k in want) for k in ('data', 'grad')}
        cells = [name]
        for k in ('data', 'grad'):
            cells += [f'{k} got {text[k]}', f'{k} expected {number(want[k], exact=True)}'] \
                if k in want else [f'{k} {text[k]}']
        op = op_label(node) if node else ''
        boxes.append(Box(f'e{i}', cells, ('culprit: ' + op) if culprit else op,
                         WRONG if want else {}, CULPRIT if culprit else {}))
        rows.append(Row(name, graph.expression(i) if node else 'input', text['data'], text['grad'],
                        ', '.join(f'{k} {number(v, exact=True)}' for k, v in want.items()), culprit))
    # an edge per use: `a + a` has two, the reuse an accumulation bug is about
    edges = [(f'e{a}', f'e{i}') for i in range(len(graph.inputs), graph.size)
             for a in graph.node(i).args]
    drawing = Drawing(rows=rows[:MAX_LISTED], more=max(0, len(rows) - MAX_LISTED))
    if graph.size > MAX_DRAWN:
        drawing.note = f'The graph has {graph.size} values, too many to draw; they are listed below.'
        return drawing, None
    return drawing, dot_source(boxes, edges, node_attrs=FONT)


#: (``dot`` program, DOT source) -> sanitised SVG (``''``: Graphviz failed; ``None``: no
#: Graphviz), the last ``DRAWN`` drawings: a class's reports repeat the same advice graphs, so
#: each distinct one costs one ``dot`` process and one sanitising per grader process.
_DRAWN = {}
DRAWN = 256
_DRAWING = threading.Lock()


def render_svg(dot):
    """The sanitised SVG of ``dot`` (``None`` without Graphviz, ``''`` where it fails)."""
    key = (shutil.which('dot'), dot)
    with _DRAWING:
        if key in _DRAWN:
            return _DRAWN[key]
    svg = _drawn(dot) if key[0] else None
    _keep({key: svg})
    return svg


def _keep(drawn):
    """Keep ``drawn`` (``(program, DOT source) -> SVG``), the oldest dropped past ``DRAWN``."""
    with _DRAWING:
        for key, svg in drawn.items():
            while len(_DRAWN) >= DRAWN:
                del _DRAWN[next(iter(_DRAWN))]
            _DRAWN[key] = svg


def render_all(sources):
    """Draw ``sources`` (``undrawn``'s) in one ``dot`` process, for ``render_svg`` to find: a
    process of its own for each cost ~40 ms of CPU apiece to start (31 graphs of a failing
    report: 1.2 s in threads, 0.12 s in one).  Graphviz writes one SVG document per graph, in
    order; where its output does not split into as many (one it could not draw), or it fails,
    each is drawn by a process of its own, as before."""
    program = shutil.which('dot')
    drawn = None
    if program and len(sources) > 1:
        try:
            data = render('\n'.join(sources), timeout=10 + len(sources))
            drawn = data.split(b'</svg>')[:-1] if data else None
        except (OSError, subprocess.SubprocessError):
            drawn = None
    if drawn is None or len(drawn) != len(sources):
        for dot in sources:
            render_svg(dot)
        return
    _keep({(program, dot): sanitise_svg(svg + b'</svg>') or '' for dot, svg in zip(sources, drawn)})


def _drawn(dot):
    """One ``dot`` process: its SVG, sanitised, or ``''`` where it fails."""
    try:
        data = render(dot, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ''
    return (sanitise_svg(data) if data else None) or ''


def sanitise_svg(data):
    """Graphviz's SVG rebuilt from an allow-list of shapes and attributes, or ``None``."""
    text = data.decode('utf-8', 'replace')
    start = text.find('<svg')
    try:
        root = ET.fromstring(text[start:]) if start >= 0 else None
    except ET.ParseError:
        return None
    if root is None or root.tag != f'{{{SVG_NS}}}svg':
        return None
    svg = _copy(root)
    for k in ('width', 'height'):  # one unit a CSS pixel, not a point: 3/4 of the size, as in Jupyter
        if k in svg.attrib:
            svg.set(k, svg.get(k).removesuffix('pt'))
    svg.set('xmlns', SVG_NS)
    svg.set('role', 'img')
    return ET.tostring(svg, encoding='unicode', short_empty_elements=True)


def _copy(element):
    """The element without namespaces, foreign tags or attributes outside the allow-list."""
    tag = element.tag.removeprefix(f'{{{SVG_NS}}}')
    out = ET.Element(tag, {k: v for k, v in element.attrib.items() if k in SVG_ATTRIBUTES})
    out.text = element.text if tag in ('text', 'title') else None
    for child in element:
        if child.tag.removeprefix(f'{{{SVG_NS}}}') in SVG_TAGS:
            out.append(_copy(child))
    return out
