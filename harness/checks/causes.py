"""One root cause, one finding: link each failure to the check whose misconception explains it.

A misconception's key is the learner's method and line that hold the wrong rule where its check
saw them, else its code and op (``results.Misconception.key``): the first failing check with a
key is that cause's root, and every later one with the same key is listed under it as a
consequence.  A failure without a
misconception of its own is a consequence where a check said what explains it (the repeat
graph's op), or, for the network's gradients, of the first wrong rule or walk found: the MLP's
gradients flow through the same rules and the same backward().
"""
import re
import sys

from micrograde.diagnose.diagnosis import (APPENDED, INDENTED, METHOD_OPS, NONE_OPERAND,
                                           RETURNED_NONE, RULE, UNSEEDED, VALUES, WALK, lacks,
                                           learner_method, no_backward)
from micrograde.isolate.allowlist import ALLOWED_IMPORTS
from micrograde.model.graph import Graph
from micrograde.model.results import Code, Misconception
from micrograde.worker.load.classes import misnamed, unmangled
from micrograde.worker.ops import FORMS, TABLE

#: What a network check says where the engine's ops compute that network right as a graph of the
#: grader's (``fuzz.right_in_network``): no op's rule or value found elsewhere explains it.
RIGHT_IN_NETWORK = 'the engine\'s ops compute this network\'s loss and its gradients right'
#: What the random graphs say of a node of an op failing its own check that is wrong by itself
#: where that check did not look, the op right in between (``fuzz.other_region``).
OTHER_REGION = 'wrong by itself at an input its op\'s own check did not reach'
#: Checks whose failure is wrong gradients of a whole program, explained by any wrong rule or walk.
DOWNSTREAM = ('mlp.gradients', 'mlp.step')
#: Checks of a network's outputs and all that follows them, explained by a wrong value of an op a
#: network computes with (``NETWORK_OPS``): its neurons' sums and activations.
NETWORK = ('mlp.forward',) + DOWNSTREAM
#: The ops a network's forward pass computes with (tanh and sigmoid often made of exp).
NETWORK_OPS = frozenset({'add', 'mul', 'tanh', 'relu', 'sigmoid', 'exp'})
#: What a check says when it saw wrong gradients but no rule or walk that makes them.
VAGUE = frozenset({Code.GRADIENTS_DISAGREE, Code.ORDER_DEPENDENT})
#: Misconceptions of an op's rule: a method that writes no rule cannot hold one.
RULES = frozenset({Code.ASSIGNED, Code.NO_UPSTREAM, Code.NO_BACKWARD, Code.RULE_ON_OPERAND,
                   Code.WRONG_DERIVATIVE})
#: Wrong rules that give the same gradients in any order and on every run: no result that
#: changes between runs is theirs.
ORDERLESS = frozenset({Code.NO_UPSTREAM, Code.NO_BACKWARD, Code.WRONG_DERIVATIVE})
#: Misconceptions placed at a line of the method other than its ``def`` (its class report's key).
STORED = {Code.RULE_ON_OPERAND: 'rule_on_self', Code.BODY_INDENTED: 'indented',
          **dict.fromkeys((Code.WRONG_VALUE, Code.OPERANDS_SWAPPED, Code.REFLECTED_SWAPPED),
                          'computes')}
#: Every op's dunders, as a finding names one the Value lacks.
DUNDERS = tuple(d for op in TABLE for d in (op.dunder, op.reflected_dunder) if d)
#: Misconceptions that spoil gradients wherever the rule or the walk runs: not a backward() that
#: resets the gradients or keeps a visited flag, which spoils only a second call's; a backward()
#: missing spoils them all (the network's, where ``loss.backward()`` runs some attribute).
SPOILS = WALK - {Code.VISITED_FLAG} | RULES | {Code.MERGED, Code.BACKWARD_MISSING, Code.NONZERO_START}


def link(report, counts=lambda check: check.required):
    """Set each failure's ``consequence_of`` (its root) and each root's evidence; place each
    misconception at its method's file (and line, unless the rule's own line was seen).
    Findings that say where the rule lives are roots first; one that does not (no model, or
    its rule seen in a correct op) joins a root of its code, else the first wrong rule or walk."""
    failing = [c for c in report.checks if c.status in ('failed', 'error')]
    for check in report.checks:  # advice too: the robustness graphs' say the same
        _indented(check, report.methods)
        _appended(check, report.methods)
        _lacking(check, report)
        _stubbed(check, report)
        _own_stub(check, report)
    _calling(report.checks, report.methods)
    _enclosed(failing, report.methods)
    _constructed(failing, report.methods, frozenset(
        FORMS[c.id.removeprefix('ops.')][0].name for c in report.checks if c.category == 'ops'
        and c.status == 'passed' and c.id.removeprefix('ops.') in FORMS))
    seen = {c.id for c in failing if c.misconception and c.misconception.line}  # the line observed

    def key(check):
        """One bug (``Misconception.key``), its location observed if its check saw the line."""
        return check.misconception.key(observed=check.id in seen)
    # backward() graded through the learner's own name for it (``backprop``): its walk is there
    through = report.class_info.get('Value', {}).get('attributes', {}).get('backward', '')
    for check in (c for c in failing if c.misconception is not None):  # advice is placed too
        m = check.misconception
        where = report.methods.get(m.method) or \
            (report.methods.get(through) if m.method == 'backward' else None) or {}
        # a guess, and that method writes no rule: not there, unless it builds the Value it
        # returns itself (``Value(-self.data)``: its result has no rule, where ``__sub__`` as
        # ``self + (-other)`` returns one another method built)
        if check.id not in seen and where.get('rule') is False and m.code in RULES and \
                not (m.code == Code.NO_BACKWARD and where.get('computes')):
            m.method, where = '', {}
        if m.code == Code.EXCEPTION and where.get('wraps') and UNREAD.search(check.message):
            m.method, m.line = _holding(report.methods, where['file'], where['wraps']), \
                where['wraps']
        m.file = where.get('file', m.file)
        m.line = m.line or where.get(STORED.get(m.code, 'line')) or where.get('line')
        m.evidence.append(check.id)
    # advice is never a root nor a consequence: only failures that decide the verdict are linked
    failures = [c for c in failing if counts(c)]
    for check in failing:
        if not counts(check):
            check.consequence_of = ''
    named = [c for c in failures if c.misconception is not None]
    roots = {}
    located = [c for c in named if c.misconception.method and c.misconception.code not in VAGUE]
    # a bug's root is the check of the op it is in where that check fails with it (ops.mul for a
    # wrong rule in __mul__, not ops.add whose graphs go through a product first)
    # ... but the random graphs' where they saw that rule wrong on a stretch of inputs its
    # check did not reach, right in between (``fuzz.other_region``), or for the other operand
    # (``_other_operand``): a second bug at that rule, which the cause is priced at

    checked = [c for c in located if c.category != 'fuzz']  # (a list is empty while sorted)

    def second(c):
        return c.category == 'fuzz' and (OTHER_REGION in c.message or _other_operand(
            c, [o for o in checked if o.misconception.op == c.misconception.op and
                o.misconception.method == c.misconception.method]))
    located.sort(key=lambda c: (not second(c), c.id != f'ops.{c.misconception.op}'
                                if c.misconception.op else True))
    for check in located:
        root = roots.setdefault(key(check), check)
        if root is not check:
            _under(check, root)
    _nones(roots, report.methods)
    _through(roots, report.methods)
    _undefined(roots)
    _one_raise(roots)
    _one_line(roots)
    _one_forward(roots)
    _one_op(roots)
    _started(roots, report.checks)
    spoiling = next((r for r in roots.values() if r.misconception.code in SPOILS), None)
    computing = next((r for r in roots.values() if r.misconception.code in VALUES and
                      r.misconception.op in NETWORK_OPS), None)
    for check in named:
        if check in located:
            continue
        code = check.misconception.code
        # a wrong rule of an op, read where the walk's models were tried and did not give its
        # gradients: not the walk's bug (fixing the walk leaves it), but its own
        fallback = None if spoiling is not None and spoiling.misconception.code in WALK and \
            code in RULES and check.misconception.op else spoiling
        # a result that changes between runs, where the spoiling rule gives the same in any
        # order and at any time (a wrong derivative): not that rule's (a cheap wrong `*` took a
        # tanh wrong only at its first sight of an input, fuzz.dags keeping its 10 points)
        if code == Code.ORDER_DEPENDENT and spoiling is not None and \
                spoiling.misconception.code in ORDERLESS:
            fallback = None
        root = next((r for r in roots.values() if r.misconception.code == code), fallback)
        if root is None:
            root = roots.setdefault(key(check), check)
        if root is not check:
            _under(check, root)
    for check in failures:
        if check.misconception is not None:
            continue
        said = next((c for c in named if c.id == check.consequence_of), None)
        check.consequence_of = ''
        # a network whose loss and gradients the engine's ops compute right as the grader's
        # graph: its own code's failure, no rule's nor value's found elsewhere
        own = RIGHT_IN_NETWORK in check.message
        root = roots.get(key(said)) if said else None if own else \
            (spoiling if check.id in DOWNSTREAM else None) or \
            (computing if check.id in NETWORK else None)
        if root is not None:
            _under(check, root)
    _flatten(failures, {c.id: c for c in report.checks})


def _other_operand(drawn, others):
    """Whether the random graphs' wrong derivative of a two-operand op (``drawn``) is of the
    other operand than every other check of that rule (``others``: its op, at its method) saw
    wrong: one rule (one key, its ``def`` where it has two lines that add to a gradient), two
    lines of it wrong.
    ``*`` wrong for its right operand at a left one of 500 (ops.mul, 1 point) beside ``*`` wrong
    for its left one where the right is below -2 (only the random graphs: 10) scored 49/51 at
    seed 3, the second alone 41: one finding, priced as the first."""
    m = drawn.misconception
    if m is None or m.code != Code.WRONG_DERIVATIVE or not others or any(
            o.misconception.code != Code.WRONG_DERIVATIVE for o in others):
        return False
    seen, other = frozenset().union(*(_sides(o, m.op) for o in others)), _sides(drawn, m.op)
    return bool(seen) and bool(other) and not seen & other


def _sides(check, op):
    """Which operands (0: left, 1: right) of ``op``'s blamed nodes in ``check``'s counterexample
    have wrong gradients (a number operand's side taken by the Value)."""
    example = check.counterexample
    if example is None or not example.graph:
        return frozenset()
    try:
        graph = Graph.from_dict(example.graph)
        sides = set()
        for k, node in enumerate(graph.nodes):
            if node.op != op or graph.name(len(graph.inputs) + k) not in example.culprits:
                continue
            for at, arg in enumerate(node.args):
                if 'grad' in (example.wrong.get(graph.name(arg)) or {}):
                    sides.add(1 if node.const is not None and node.left else at)
        return frozenset(sides)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return frozenset()


def _nones(roots, methods):
    """An exception over a ``None`` operand (``'float' and 'NoneType'``) where an op returned
    ``None`` (a ``return out`` missing): that op's bug, where the None was used (``a / b`` as
    ``self * other**-1`` breaks in __mul__ on the None ``__pow__`` returned), not one of its own.
    So is a ``None`` returned by a method that writes no rule of its own (``__sub__`` as
    ``self + (-other)`` returns what __add__ returned) where a method that writes one returned
    ``None`` too.  Only where that op's result can be what was used (``_fed``): its method is
    one the failing one is made of (its class report's ``calls``), its node is in the failing
    graph, or the network's code (which the class report does not read) computes with it.  A
    ``None`` of the learner's own (``self.grad += None * out.grad`` in four rules, beside relu's
    missing ``return out``; four ops written ``def tanh(self): pass``) is each method's bug: one
    finding, 49/51, where four wrong rules and relu's scored 45/51."""
    def writes(root):
        return (methods.get(root.misconception.method) or {}).get('rule') is not False
    nones = [r for r in roots.values() if RETURNED_NONE in r.message]
    nones.sort(key=lambda r: not writes(r))  # a method that writes a rule first
    for key, root in list(roots.items()):
        if root in nones and writes(root) or root.misconception.code != Code.EXCEPTION:
            continue
        if not (NONE_OPERAND in root.message or RETURNED_NONE in root.message and not writes(root)):
            continue
        source = next((s for s in nones if s is not root and _fed(root, s, methods)), None)
        if source is not None:
            del roots[key]
            _under(root, source)


def made_of(names, methods):
    """Every method the methods ``names`` are made of, through their class report's ``calls``
    (``__sub__``: ``__neg__``, ``__add__``, and ``__mul__`` where ``__neg__`` is ``self * -1``)."""
    seen, todo = set(), [n for n in names if n]
    while todo and len(seen) < 64:
        name = todo.pop()
        for called in (methods.get(name) or {}).get('calls') or ():
            if called not in seen:
                seen.add(called)
                todo.append(called)
    return seen


def _fed(root, source, methods):
    """Whether the ``None`` ``source``'s op returned can be what ``root`` used: ``source``'s
    method is one ``root``'s method, or its check's op's, is made of; or a node of ``source``'s
    op is in ``root``'s failing graph (another op fed its result); or ``root`` is the network's
    and ``source``'s op one a network computes with."""
    m, s = root.misconception, source.misconception
    checked = learner_method(root.id.removeprefix('ops.')) if root.category == 'ops' else None
    if s.method and s.method in made_of((m.method, checked), methods):
        return True
    graph = (root.counterexample.graph if root.counterexample else None) or {}
    ops = {FORMS[n.get('op')][0].name for n in graph.get('nodes') or ()
           if isinstance(n, dict) and n.get('op') in FORMS}
    if NONE_OPERAND in root.message and s.op and s.op in ops:
        return True
    return root.id in NETWORK and s.op in NETWORK_OPS


def _through(roots, methods):
    """A wrong value of an op written through others (``__sub__`` as ``self + (-other)``, its
    class report's ``calls``), or an exception there, where one of those has a root of its own
    (a wrong ``+``, or ``__neg__`` returning -1): that one's bug, not one more at every op made of
    it.  Through a method that is itself made of others (``__neg__`` as ``self * -1``, where
    ``*`` is wrong), to the root of that one.  A wrong value only under a wrong value, or an
    exception computing one (``__neg__`` returning -1): a rule runs after every value is
    computed (tanh made of ``exp``, its value wrong of its own, was listed under exp's wrong
    derivative, a rule wrong at x < -0.4 only)."""
    owners = {}
    for r in roots.values():
        if r.misconception.method:
            owners.setdefault(r.misconception.method, []).append(r)

    def explains(source, m):
        s = source.misconception
        return m.code not in VALUES or s.code in VALUES or \
            s.code == Code.EXCEPTION and not IN_BACKWARD.search(source.message)
    for key, root in list(roots.items()):
        m = root.misconception
        if m.code not in VALUES | {Code.EXCEPTION}:
            continue
        calls = (methods.get(m.method) or {}).get('calls') or ()
        source = next((s for c in calls for s in reversed(owners.get(c, ()))
                       if s is not root and explains(s, m)), None)
        if source is None:
            continue
        del roots[key]  # under a root that is itself listed under another: ``_flatten``
        _under(root, source)
        owners[m.method] = [source]


#: The Value's constructor, through which every op builds its result.
CONSTRUCTOR = '__init__'


def _constructed(failing, methods, built=frozenset()):
    """An exception raised in the Value's constructor by one op alone (``Value(x, None)`` in
    exp: ``set(None)`` raises in ``__init__``) is that op's: the inputs and every other op build
    their Values through the same constructor without it, so what this op passes it is the bug.
    Placed at the op's method, at the line that builds its result where the class report saw it.
    Raised there by several ops, each is its own where another op builds its result there
    (``built``: the ops whose own checks passed), else the constructor's: four ops each passing
    ``None`` were one finding at ``set(_children)``, 49/51 against 46/51 for four wrong rules."""
    raised = [c for c in failing if c.misconception is not None and c.misconception.code ==
              Code.EXCEPTION and c.misconception.method == CONSTRUCTOR and c.misconception.op]
    ops = {c.misconception.op for c in raised}
    if not ops or len(ops) > 1 and not built - ops:
        return
    for check in raised:
        op = check.misconception.op
        method = next((o.dunder or o.name for o in TABLE if o.name == op), None)
        where = methods.get(method) or {}
        if not where:
            continue
        line = where.get('computes') or where.get('line')
        said = f' (raised in {CONSTRUCTOR} from what {method} passes it at line {line}: ' + (
            'no other op and no input raises there)' if len(ops) == 1 else
            'other ops and the inputs build theirs there)')
        check.misconception = Misconception(Code.EXCEPTION, op, method, line=line)
        check.message += said
        check.diagnosis += said


#: Python's words for a name no scope defines (a module never imported: ``math``).
UNDEFINED = re.compile(r"NameError\b.*?: name '(?P<name>\w+)' is not defined")


#: The usual names of the allowed libraries' modules, as a missing ``import ... as`` leaves them.
ALIASES = {'np': 'numpy', 'plt': 'matplotlib.pyplot'}


def _undefined(roots):
    """Exceptions of one undefined name read as a module in several methods (``math.exp`` in
    exp and in tanh, ``import math`` missing) are one bug, the first one's: one line defines the
    name.  Only a module one ``import`` defines, read for what it has: a name defined nowhere
    (``d.tanh(t)``, ``d.exp(x)``: the learner's four unknown derivatives left to it) or a
    module's function it lacks (``math.dtanh``) is no line missing, and each method's is its own
    bug (four wrong rules so written scored 49/51, written wrong 46/51)."""
    def name(root):
        found = UNDEFINED.search(root.message) if root.misconception.code == Code.EXCEPTION \
            else None
        read = found and re.search(rf"line \d+: .*\b{found['name']}\.(\w+)", root.message)
        if not read or not _defines(found['name'], read[1]):
            return None
        return found['name']
    _merged(roots, name)


def _defines(name, attribute):
    """Whether ``import name`` (or the usual alias's import) defines a module with
    ``attribute``: the standard library's and the allowed libraries' only, read for the
    attribute where the grader has the module loaded (nothing is imported for a name the
    submission chose: ``antigravity`` opens a browser)."""
    module = ALIASES.get(name, name)
    if module not in sys.stdlib_module_names and module.partition('.')[0] not in ALLOWED_IMPORTS:
        return False
    loaded = sys.modules.get(module)
    return loaded is None or hasattr(loaded, attribute)


def _merged(roots, same):
    """Each root ``same(root)`` gives the key of another's before it (``None``: none) listed
    under that first one: one bug, not one per check that saw it."""
    first = {}
    for key, root in list(roots.items()):
        shared = same(root)
        if shared is None:
            continue
        source = first.setdefault(shared, root)
        if source is not root:
            del roots[key]
            _under(root, source)


#: An exception as ``describe_error`` words one raised in backward() itself: its type, message.
IN_BACKWARD = re.compile(r"\b(?P<type>\w+) in backward\(\): (?P<message>.*?) \(at ")


#: A plain number read as a Value, where an op's method meant to make it one (``wraps``).
UNREAD = re.compile(r"\bAttributeError(?: computing `[^`]*`)?: '(?:int|float)' object has no "
                    r"attribute ")


def _enclosed(failing, methods):
    """An exception raised in a rule's closure (``_backward``, no owner: the network's checks
    name the function that raised) is in the Value's method that defines that closure, the one
    whose ``def`` holds its line (``other.data / out.grad`` in __mul__'s rule raising
    ZeroDivisionError where a relu left out.grad 0 in the network: sweeper13), so that it is one
    bug with that method's rule seen wrong (``_one_op``), not a second root at no method."""
    for check in failing:
        m = check.misconception
        if m is not None and m.code == Code.EXCEPTION and m.method == RULE and m.file and m.line:
            method = _holding(methods, m.file, m.line)
            if method and '.' not in method:
                m.method, m.op = method, m.op or METHOD_OPS.get(method, '')


def _holding(methods, file, line):
    """The method whose ``def`` holds ``line`` of ``file``: the last one defined before it."""
    return max(((where['line'], name) for name, where in methods.items()
                if where.get('file') == file and where.get('line', line + 1) <= line),
               default=(0, ''))[1]


def _one_raise(roots):
    """One exception raised in backward() itself at several of its lines, by no op's rule (a
    walk that applies each rule by the node's ``_op``, its children a ``set``: ``a + a`` and
    ``a * a`` each have one child, and `children[1]` raises IndexError in the branch of each):
    one bug of backward(), the first line's, not one per line."""
    def raised(root):
        m = root.misconception
        found = IN_BACKWARD.search(root.message) if m.code == Code.EXCEPTION and not m.op \
            else None
        return None if found is None else (m.method, m.file, found['type'], found['message'])
    _merged(roots, raised)


def _one_line(roots):
    """One line that raises, seen as an exception by one check and as an operator the Value
    lacks by another (evintunador/autograd_engine_tutorial: tanh's rule `1 - out**2` with no
    ``__rsub__``, an exception of tanh's check where its rule ran, and ``'int' - 'Value'`` of
    the network's, raised in a rule named `_backward`), or as a wrong value by a third (tanh's
    `math.exp(3 * x)`: a wrong value of its check, an OverflowError of the network's): one bug,
    the first check's."""
    def line(root):
        m = root.misconception
        if m.code not in (Code.EXCEPTION, Code.MISSING_OP, *VALUES) or not m.line or not m.file:
            return None
        return m.file, m.line
    _merged(roots, line)


#: An exception as ``describe_error`` words one raised computing a node: its type.
COMPUTING = re.compile(r"\b(?P<type>\w+) computing `")


def _one_forward(roots):
    """One exception type raised by one op's method as it computes, at several lines (a
    recursion, ``return self - (-other)`` in ``__sub__``, ends wherever the stack runs out):
    one bug, the first check's."""
    def raised(root):
        m = root.misconception
        found = COMPUTING.search(root.message) if m.code == Code.EXCEPTION and m.method \
            else None
        return None if found is None else (m.file, m.method, found['type'])
    _merged(roots, raised)


def _one_op(roots):
    """A wrong forward value of an op and any finding of its rule (an exception raised in it
    included): one bug, the value's.  A gradient is the derivative of what the op computes, so
    one of a wrong value is no finding of its own (`a + b` computing `a + a` keeps no `b` to
    propagate to: 'add has no backward' too).  And a rule seen wrong by one check and raising in
    backward() by another (`1.0 / out.grad` for `1.0 * out.grad`: a wrong derivative, and a
    ZeroDivisionError where out.grad is 0) is one bug of that method's rule, the first check's."""
    valued = {r.misconception.op: r for r in roots.values()
              if r.misconception.code in VALUES and r.misconception.op}
    ruled = {(r.misconception.file, r.misconception.method): r for r in roots.values()
             if r.misconception.code in RULES and r.misconception.method}
    for key, root in list(roots.items()):
        m = root.misconception
        raised = m.code == Code.EXCEPTION and (IN_BACKWARD.search(root.message) is not None or
                                               root.id in DOWNSTREAM and bool(m.op))
        if m.code in RULES or raised:
            source = valued.get(m.op) or (ruled.get((m.file, m.method)) if raised else None)
            if source is not None and source is not root:
                del roots[key]
                _under(root, source)


def _started(roots, checks):
    """A rule of an op seen wrong on another op's graphs, where that op's own check found every
    rule right but gradients starting above 0 (``NONZERO_START``): that start's.  An op made of
    others (`self + (-other)`, `self * -1`) makes Values no graph entry names, each starting
    there too, so its gradients cannot be modelled; the op whose rule they blame was."""
    start = next((r for r in roots.values() if r.misconception.code == Code.NONZERO_START), None)
    if start is None:
        return
    own = {c.id: c for c in checks}
    for key, root in list(roots.items()):
        m = root.misconception
        checked = own.get(f'ops.{m.op}') if m.code in RULES and m.op else None
        if checked is not None and checked.misconception is not None and \
                checked.misconception.code == Code.NONZERO_START and root is not start:
            del roots[key]
            _under(root, start)


def _flatten(failures, by_id):
    """A consequence of a consequence listed under the root of both: a check that says it is a
    consequence as it fails (``without_backward``: of ``capability.backward``) may have been made
    a root above, and what was listed under it was then no bug's (the score charged it, where a
    consequence keeps its points: a backward() stub's network checks)."""
    for check in failures:
        root, seen = by_id.get(check.consequence_of), {check.id}
        while root is not None and root.consequence_of and root.id not in seen:
            seen.add(root.id)
            root = by_id.get(root.consequence_of)
        if root is not None and root.id != check.consequence_of and not root.consequence_of:
            _under(check, root)


def _lacking(check, report):
    """An op said to be missing (``(no __pow__)``) where the Value has a method meant as it
    (``__power__``): the finding says so, and where."""
    if check.misconception is None or check.misconception.code != Code.MISSING_OP:
        return
    for dunder in DUNDERS:
        note = misnamed_note(report, dunder) if lacks(dunder) in check.message else ''
        if note:
            check.message, check.diagnosis = (text.replace(lacks(dunder), lacks(dunder, note))
                                              for text in (check.message, check.diagnosis))


def _stubbed(check, report):
    """A wrong rule seen running in a method whose rules all do nothing (``def _backward():
    pass``, the worker's ``rule`` false of a method that holds a function): that rule is a stub,
    an op with no backward, whatever model of a wrong rule gave the same gradients (no gradient
    reaches a leaf either where mul multiplies by the other operand's gradient)."""
    m = check.misconception
    if m is None or m.code not in RULES - {Code.NO_BACKWARD} or not m.line or not m.op:
        return
    where = report.methods.get(m.method) or {}
    if where.get('rule') is not False or where.get('line', m.line) >= m.line:
        return  # a rule written, or the line seen is not a function inside the method
    said = no_backward(m.op, 'its _backward does nothing (a stub), so no gradient reaches its '
                             'operands') + '.'
    check.message = check.message.replace(check.diagnosis, said) if check.diagnosis else said
    check.diagnosis, m.code = said, Code.NO_BACKWARD


def _own_stub(check, report):
    """A failing op check whose own method's rules are all stubs (``stub`` in its class report:
    ``def _backward(): pass``) is that op's bug, at that line, whatever op its graphs blamed:
    with every rule a stub, each graph's ``* k`` blames mul's, and every other op's check was
    mul's consequence, its point kept (a template left unfilled scored 33/51)."""
    cap = check.id.removeprefix('ops.')
    if check.category != 'ops' or cap not in FORMS or check.status not in ('failed', 'error'):
        return
    op, _, left = FORMS[cap]
    method = (op.reflected_dunder if left else op.dunder) or op.name
    stub = (report.methods.get(method) or {}).get('stub')
    m = check.misconception
    if not stub or (m is not None and m.method == method):
        return
    said = no_backward(op.name, 'its _backward does nothing (a stub), so no gradient reaches '
                                'its operands') + '.'
    check.message = check.message.replace(check.diagnosis, said) if check.diagnosis else said
    check.diagnosis = said
    check.misconception = Misconception(Code.NO_BACKWARD, op=op.name, method=method, line=stub)
    check.consequence_of = ''


def misnamed_note(report, dunder):
    """``there is __power__ (engine.py, line 56): Python calls __pow__ only`` where the Value's
    methods (the worker's ``methods`` map) hold one meant as the op dunder it lacks; else ``''``."""
    owner = report.class_info.get('Value', {}).get('name', 'Value')
    names = {unmangled(name, owner): name for name in report.methods if '.' not in name}
    written = misnamed(set(names)).get(dunder)
    if written is None:
        return ''
    where = report.methods[names[written]]
    return f'there is {written} ({where.get("file")}, line {where.get("line")}): Python calls ' \
        f'{dunder} only'


def _indented(check, methods):
    """Every gradient 0 from a backward() whose body the worker saw indented into a function
    it defines and never calls (``indented`` in its class report) is that, not an unseeded root:
    said so, at that line."""
    m = check.misconception
    line = (methods.get(m.method if m else 'backward') or {}).get('indented')
    if line and UNSEEDED in check.message and (m is None or m.code == Code.NOT_SEEDED):
        said = INDENTED.format(line=line)
        if m is not None:
            m.code = Code.BODY_INDENTED
        check.message = check.message.replace(UNSEEDED, said)
        check.diagnosis = check.diagnosis.replace(UNSEEDED, said)


def _appended(check, methods):
    """A repeated propagation from a backward() whose build function adds its node to the order
    outside the ``if`` that checks the visited set (``appended`` in its class report): said so,
    at that line."""
    m = check.misconception
    line = (methods.get(m.method) or {}).get('appended') if m and m.code == Code.REPEATED else None
    if line and APPENDED not in check.message:
        said = APPENDED.format(line=line)
        m.line = line
        check.message += said
        check.diagnosis += said


def _calling(checks, methods):
    """A repeated propagation where an op's rule calls another node's rule itself
    (``self._backward()`` inside ``_backward``: ``calls_rules`` in its class report) while
    backward() runs every rule too: that rule's call, not backward(), whose walk is right
    (unless its build function adds nodes outside its ``if``: ``appended``).  A wrong
    gradient seen in that same rule (`a - b` as `self + (-other)`: the hidden `-b` propagates
    twice, read as subtraction's derivative) is the same bug."""
    method = next((name for name, where in methods.items() if where.get('calls_rules')), None)
    repeated = [c for c in checks if c.misconception is not None and
                c.misconception.code == Code.REPEATED and c.misconception.method == 'backward']
    if method is None or not repeated or (methods.get('backward') or {}).get('appended'):
        return
    line = methods[method]['calls_rules']
    said = f' ({method}\'s rule calls another node\'s rule itself, at line {line}: a node that ' \
        f'call reaches and backward() reaches too, or that two paths reach, propagates twice; ' \
        f'leave the order to backward())'
    walks = {id(c.misconception) for c in repeated}
    for check in checks:
        m = check.misconception
        if m is None or not (id(m) in walks or
                             m.method == method and m.code in RULES - {Code.NO_BACKWARD}):
            continue
        m.code, m.method, m.line = Code.REPEATED, method, line
        check.message += said
        check.diagnosis += said


def _under(check, root):
    """List ``check`` under ``root``: its misconception is the root's (one code, one method, on
    every surface that reads it)."""
    check.consequence_of = root.id
    check.misconception = root.misconception
    if check.id not in root.misconception.evidence:
        root.misconception.evidence.append(check.id)
