"""Expression DAGs as plain data: what every check builds, sends to a worker and prints back.

A graph has named scalar inputs (``a``, ``b`` …), a list of nodes and an output node.  Entries are
indexed inputs first, then nodes, so a node's operands are earlier indices.  A node is one op of
the op table (``harness/worker/ops.py``):

* a binary op (``add sub mul truediv``) on two entries, or on one entry and a constant, with the
  constant on the right (``a / 3``) or the left (``2 - a``, the reflected ops);
* ``pow`` with a number exponent (``a ** -0.5``), a number base (``2 ** a``) or both Values;
* a unary op: a prefix operator (``-a``) or a method (``a.exp()``).

``Graph.parse`` reads the same small language that ``Graph.code`` prints, so checks are written as
readable text and every counterexample can be pasted into a notebook and run.
"""
import ast
import json
from dataclasses import dataclass, field
from functools import cached_property

from micrograde.worker.ops import OPS, TABLE, capability


def _ast_operator(op):
    """The ``ast`` operator class of an operator op: ``ast.Div`` for ``/``."""
    tree = ast.parse(f'a {op.symbol} b' if op.arity == 2 or op.numbers else f'{op.symbol}a',
                     mode='eval').body
    return type(tree.op)


#: ``ast`` operator class -> op, for the parser: binary operators and prefix operators apart.
_INFIX = {_ast_operator(op): op for op in TABLE if not op.method and (op.arity == 2 or op.numbers)}
_PREFIX = {_ast_operator(op): op for op in TABLE if not op.method and op.arity == 1 and not op.numbers}


@dataclass(frozen=True)
class Node:
    op: str
    args: tuple
    const: float | None = None
    left: bool = False  # the constant stands on the left: ``2 - a``

    @property
    def capability(self):
        """The op in the form the submission must support to build this node."""
        return capability(self.op, len(self.args), self.left)

    def to_dict(self):
        d = {'op': self.op, 'args': list(self.args)}
        if self.const is not None:
            d['const'] = self.const
        if self.left:
            d['left'] = True
        return d

    @classmethod
    def from_dict(cls, d):
        return cls(d['op'], tuple(d['args']), d.get('const'), d.get('left', False))


@dataclass(frozen=True)
class Graph:
    inputs: tuple  # ((name, value), ...)
    nodes: tuple
    output: int
    names: tuple = field(default=(), compare=False)  # names of the nodes, for printing

    # What a graph is asked again and again (for every check of every submission of a batch) is
    # computed once: cached_property keeps it in the instance's __dict__, beside the frozen fields.
    @cached_property
    def _hash(self):
        return hash((self.inputs, self.nodes, self.output))

    def __hash__(self):
        """Hashed once: a graph is a key of every oracle and wire cache."""
        return self._hash

    @property
    def size(self):
        return len(self.inputs) + len(self.nodes)

    @cached_property
    def capabilities(self):
        """What the submission must support to build and run it."""
        return frozenset(n.capability for n in self.nodes) | {'backward'}

    def name(self, i):
        if i < len(self.inputs):
            return self.inputs[i][0]
        k = i - len(self.inputs)
        if self.names:
            return self.names[k]
        return 'out' if i == self.output else f'n{k + 1}'

    def node(self, i):
        """The node at entry index ``i`` (``None`` for an input)."""
        return self.nodes[i - len(self.inputs)] if i >= len(self.inputs) else None

    def consumers(self):
        """For each entry, the indices of the nodes that use it (with repeats for ``a*a``)."""
        users = [[] for _ in range(self.size)]
        for k, n in enumerate(self.nodes):
            for a in n.args:
                users[a].append(len(self.inputs) + k)
        return users

    def live(self):
        """Indices the output depends on (itself included), ascending."""
        return self._live

    @cached_property
    def _live(self):
        keep, stack = set(), [self.output]
        while stack:
            i = stack.pop()
            if i not in keep:
                keep.add(i)
                if i >= len(self.inputs):
                    stack.extend(self.node(i).args)
        return tuple(sorted(keep))

    def pruned(self):
        """The same computation without the inputs and nodes the output does not depend on."""
        n = len(self.inputs)
        live = self.live()
        index = {old: new for new, old in enumerate(i for i in live if i < n)}
        inputs = tuple(self.inputs[i] for i in index)
        nodes = []
        for old in (i for i in live if i >= n):
            node = self.node(old)
            nodes.append(Node(node.op, tuple(index[a] for a in node.args), node.const, node.left))
            index[old] = len(inputs) + len(nodes) - 1
        names = tuple(self.name(i) for i in live if i >= n) if self.names else ()
        return Graph(inputs, tuple(nodes), index[self.output], names)

    def unscaled(self):
        """The same computation without its final ``* k`` (``k`` a leaf), for an engine that
        has no ``*``: ``None`` when the graph does not end so."""
        n = len(self.inputs)
        last = self.nodes[-1] if self.nodes else None
        if last is None or self.output != self.size - 1 or last.op != 'mul' or \
                last.const is not None or len(last.args) != 2:
            return None
        x, k = last.args
        if not (k < n and self.inputs[k][0] == 'k' and x >= n and k not in self.node(x).args):
            return None
        names = tuple('out' if i == x else self.name(i) for i in range(n, self.size - 1))
        return Graph(self.inputs, self.nodes[:-1], x, names).pruned()

    def numbers_as_inputs(self, forms):
        """The same computation for an engine without plain numbers: each number operand of a
        node whose capability is in ``forms`` becomes a leaf input (one per distinct number,
        named ``c``, ``c2`` …)."""
        if not forms:  # an engine with plain numbers: a deep chain's 20 000 nodes not walked
            return self
        leaves = {}
        for n in self.nodes:
            if n.const is not None and n.capability in forms:
                leaves.setdefault(n.const, f'c{len(leaves) + 1}' if leaves else 'c')
        n_old, n_new = len(self.inputs), len(self.inputs) + len(leaves)
        index = {c: n_old + k for k, c in enumerate(leaves)}

        def moved(i):
            return i if i < n_old else i + len(leaves)
        nodes = []
        for n in self.nodes:
            args = tuple(moved(a) for a in n.args)
            if n.const is not None and n.capability in forms:
                c = index[n.const]
                nodes.append(Node(n.op, (c,) + args if n.left else args + (c,)))
            else:
                nodes.append(Node(n.op, args, n.const, n.left))
        inputs = self.inputs + tuple((name, c) for c, name in leaves.items())
        names = tuple(self.name(i) for i in range(n_old, self.size)) if self.names else ()
        return Graph(inputs, tuple(nodes), moved(self.output), names) if n_new > n_old else self

    def expression(self, i):
        """The Python expression that builds entry ``i`` from its operands' names."""
        n = self.node(i)
        op = OPS[n.op]
        x = self.name(n.args[0])
        if op.method:
            return f'{x}.{n.op}()'
        if len(n.args) == 1 and n.const is None:
            return f'{op.symbol}{x}'
        y = self.name(n.args[1]) if len(n.args) == 2 else _num(n.const)
        lhs, rhs = (y, x) if n.left else (x, y)
        return f'{lhs} {op.symbol} {rhs}'

    def code(self, class_name='Value', backward=True, show=()):
        """Runnable Python that builds the graph; ``show`` names entries whose grad to print."""
        lines = [f'{name} = {class_name}({_num(x)})' for name, x in self.inputs]
        lines += [f'{self.name(i)} = {self.expression(i)}'
                  for i in range(len(self.inputs), self.size)]
        if backward:
            lines.append(f'{self.name(self.output)}.backward()')
        if show:
            lines.append('print(' + ', '.join(f'{self.name(i)}.grad' for i in show) + ')')
        return '\n'.join(lines) + '\n'

    def wire(self):
        """``to_dict()`` made once and shared (read it, never change it): the same graphs go
        to every submission of a batch and to the oracles."""
        return self._wire

    @cached_property
    def _wire(self):
        return self.to_dict()

    def to_dict(self):
        d = {'inputs': [[n, x] for n, x in self.inputs], 'nodes': [n.to_dict() for n in self.nodes],
             'output': self.output}
        if self.names:
            d['names'] = list(self.names)
        return d

    @classmethod
    def from_dict(cls, d):
        return cls(tuple((n, x) for n, x in d['inputs']), tuple(Node.from_dict(n) for n in d['nodes']),
                   d['output'], tuple(d.get('names', ())))

    def to_json(self):
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    @classmethod
    def parse(cls, source, **inputs):
        """Build a graph from statements such as ``"n1 = a*b; out = n1 + n1*c"``.

        Keyword arguments give the inputs' values, in order; the last statement is the output.
        Sub-expressions become nodes of their own, named ``_1``, ``_2`` … in printed code.
        """
        return _Parser(inputs).parse(source)


def _num(x):
    """A constant as it appears in printed code: ``2.0``, ``-0.5``, ``1e-05``."""
    return repr(float(x))


class _Parser:

    def __init__(self, inputs):
        self.inputs = tuple((n, float(x)) for n, x in inputs.items())
        self.index = {n: i for i, (n, _) in enumerate(self.inputs)}
        self.nodes, self.names, self.temp = [], [], 0

    def parse(self, source):
        body = ast.parse(source).body
        if not body:
            raise ValueError('empty graph')
        last = None
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
                    stmt.targets[0], ast.Name):
                target, expr = stmt.targets[0].id, stmt.value
            elif isinstance(stmt, ast.Expr) and i == len(body) - 1:
                target, expr = 'out', stmt.value
            else:
                raise ValueError(f'unsupported statement: {ast.unparse(stmt)}')
            last = self.expr(expr)
            k = last - len(self.inputs)
            if k < 0 or not self.names[k].startswith('_'):
                raise ValueError(f'{target} = ...: a statement must compute a new value')
            self.names[k] = target
            self.index[target] = last
        return Graph(self.inputs, tuple(self.nodes), last, tuple(self.names))

    def add(self, node):
        self.nodes.append(node)
        self.temp += 1
        self.names.append(f'_{self.temp}')
        return len(self.inputs) + len(self.nodes) - 1

    def const(self, e):
        if isinstance(e, ast.Constant) and isinstance(e.value, (int, float)):
            return float(e.value)
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
            c = self.const(e.operand)
            return None if c is None else -c
        return None

    def expr(self, e):
        if isinstance(e, ast.Name):
            if e.id not in self.index:
                raise ValueError(f'unknown name {e.id!r}')
            return self.index[e.id]
        if isinstance(e, ast.BinOp) and type(e.op) in _INFIX:
            op = _INFIX[type(e.op)]
            lc, rc = self.const(e.left), self.const(e.right)
            if lc is not None:
                return self.add(Node(op.name, (self.expr(e.right),), lc, True))
            if rc is not None:
                return self.add(Node(op.name, (self.expr(e.left),), rc))
            return self.add(Node(op.name, (self.expr(e.left), self.expr(e.right))))
        if isinstance(e, ast.UnaryOp) and type(e.op) in _PREFIX:
            return self.add(Node(_PREFIX[type(e.op)].name, (self.expr(e.operand),)))
        if (isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and not e.args
                and e.func.attr in OPS and OPS[e.func.attr].method):
            return self.add(Node(e.func.attr, (self.expr(e.func.value),)))
        raise ValueError(f'unsupported expression: {ast.unparse(e)}')
