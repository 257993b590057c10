"""Text every reporter shares: safe for XML and UTF-8, and the body of a failure."""
import os
import re

from micrograde.diagnose.diagnosis import learner_method
from micrograde.model.names import decodable
from micrograde.model.results import NotRun, Outcome

#: Shown as an escape, never kept raw: what XML 1.0 forbids (controls, lone surrogates,
#: non-characters); a carriage return (``\\r\\n`` is read as ``\\n``; a lone one breaks the
#: line for some readers, GitHub's runner included, not for others); C1 controls, line and
#: paragraph separators, and the invisible format characters that reorder or hide text (bidi
#: controls, zero-width space, word joiners, BOM, tag characters): what a reader sees is what
#: the text says. ZWJ and ZWNJ stay (emoji, Indic scripts).
_SHOWN = re.compile('[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b\u200e\u200f'
                    '\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb'
                    '\ufffe\uffff\U000e0001\U000e0020-\U000e007f]')
#: What a CI log runs as a command, not prints: GitHub's ``::cmd::`` at a line's start (after
#: spaces: the runner trims them) and its legacy ``##[cmd]`` anywhere (``ActionCommand.TryParse``),
#: Azure's ``##vso[``, TeamCity's ``##teamcity[``. A submission's text never starts one: its
#: first character is shown escaped (``\\x3a:error::...``), in every report and on the console.
_COMMAND = re.compile(r'^(\s*):(?=:)|#(?=#(?:\[|vso\[|teamcity\[))', re.M)


def _escaped(m):
    code = ord(m.group())
    return f'\\x{code:02x}' if code < 0x100 else f'\\u{code:04x}' if code < 0x10000 \
        else f'\\U{code:08x}'


def clean(text, limit=None):
    """Text safe for XML, UTF-8, a terminal and a CI log: what ``_SHOWN`` lists shown as an
    escape (a byte that was not UTF-8 as ``names`` shows it, ``\\xff``, as in every other
    report), a log command made inert (``_COMMAND``); past ``limit`` characters, cut, saying so
    (only the first ``limit`` are read: an escape only lengthens text)."""
    text = decodable(str(text)[:limit + 1] if limit else str(text)).replace('\r\n', '\n')
    text = _SHOWN.sub(_escaped, text)
    text = _COMMAND.sub(lambda m: '\\x23' if m.group(1) is None else m.group(1) + '\\x3a', text)
    if limit and len(text) > limit:
        text = text[:limit] + '\n[... the rest not shown]'
    return text


def unpaid(report):
    """Why a failed verdict keeps every point, said beside the score (``FAILED  score 51 / 51``
    reads as a contradiction otherwise): the required checks worth no points that failed."""
    failed = [c.id for c in report.checks if c.outcome.failure and not c.max_score]
    if report.verdict == 'passed' or report.score < report.max_score or not failed:
        return ''
    return f'every point kept, but a required check worth no points failed: {", ".join(failed)}'


def unrun(report):
    """The points of checks not run, said beside the score, where something stopped the grading
    (the worker given up on: a ``tanh`` that hangs; the submission not loaded): every later
    check is ``not run`` at 0 points, which no finding lists (``2 bug(s) found`` for 27 points
    lost). ``24 point(s) in 8 check(s) not run: why``, the first stopped check's reason; ``''``
    where no check was stopped so (checks that need what a submission lacks say so where they
    are listed). Read from ``Check.not_run``, never from a message's words."""
    missed = [c for c in report.checks if c.not_run and c.score < c.max_score]
    stopped = [c for c in missed if c.not_run is NotRun.STOPPED]
    if not stopped:
        return ''
    points = sum(c.max_score - c.score for c in missed)
    return (f'{points:g} point(s) in {len(missed)} check(s) not run: '
            f'{stopped[0].message.removeprefix("not run").lstrip(": ")}')


def skipped_points(report, seen=None):
    """The points of skipped checks that cost points (an op not written, no MLP class, what they
    need missing), which no failure lists, said beside the score where grading did not stop:
    ``10 point(s) in 5 skipped check(s): mlp.build ...``, or ``''``. ``seen(check)``: whether
    the reader may see that check (Gradescope's visibility, as ``bugs``): one it may not is
    counted, not named."""
    lost = [c for c in report.checks if c.outcome is Outcome.SKIPPED and c.score < c.max_score]
    if not lost:
        return ''
    named = [c.id for c in lost if seen is None or seen(c)]
    hidden = len(lost) - len(named)
    return (f'{sum(c.max_score - c.score for c in lost):g} point(s) in {len(lost)} skipped '
            f'check(s): {" ".join(named)}' + (f'{"; " if named else ""}{hidden} in '
                                              f'{"a test" if hidden == 1 else "tests"} not '
                                              f'shown yet' if hidden else ''))


def beside_score(report):
    """What the score needs said beside it (``unpaid``, ``unrun`` or else ``skipped_points``),
    ``'; '``-joined, or ``''``."""
    return '; '.join(filter(None, (unpaid(report), unrun(report) or skipped_points(report))))


def suffix(check):
    """What a check's name adds where a consumer shows a check by name (a JUnit testcase,
    a Gradescope test), so that it is told from a pass and from a new failure: action-junit-report
    (``include_passed``, ``annotate_notice``) makes a skipped test a notice titled by its name
    alone and messaged by it (the ``skipped`` element's text is never read), exactly as a passed
    one; dorny lists a skipped test by name only (``⚪ dags``); Gradescope colours a test that
    costs points red, whatever it says. Advice says ``(advisory)``, a check not run (the worker
    given up on, the submission not loaded, what it needs missing) ``(not run)``, another
    skipped check ``(skipped)``. Like ``(advisory)``, the suffix changes the name when the
    outcome changes (a CI's history of that test starts again)."""
    if check.outcome is Outcome.ADVICE:
        return ' (advisory)'
    if check.outcome is Outcome.SKIPPED:
        return ' (not run)' if check.not_run else ' (skipped)'
    return ''


def problem(check):
    """What a failure is, to count across a class: its misconception's title and the learner's
    method holding it (``gradient assigned instead of accumulated (__add__)``); a failure no
    misconception names is its check."""
    m = check.misconception
    if m is None:
        return f'{check.id} fails'
    return f'{m.title} ({m.method})' if m.method else m.title


def bugs(report, shown=3, seen=None):
    """The bugs a failed grade found, as the console counts them (each root failure: its check
    and its misconception with the learner's method, else its message's first line) and the
    checks they explain: ``1 bug: ops.add, gradient assigned instead of accumulated (__add__);
    7 more failing checks are its consequences``; ``''`` with none. ``seen(check)``: whether the
    reader may see that check (Gradescope's visibility); a root it may not is counted, not named,
    and a consequence it may not is left out."""
    failed = [c for c in report.checks if c.outcome.failure]
    roots = [c for c in failed if not c.consequence_of]
    if not roots:
        return ''
    seen = seen or (lambda check: True)
    named = [c for c in roots if seen(c)]

    def said(check):
        m = check.misconception
        what = f'{m.title} ({m.method})' if m and m.method else m.title if m else \
            shortened(check.message.split('\n', 1)[0], 120)
        return f'{check.id}, {what}'
    parts = [said(c) for c in named[:shown]] + \
        ([f'and {len(named) - shown} more'] if len(named) > shown else [])
    if len(named) < len(roots):
        hidden = len(roots) - len(named)
        parts.append(f'{hidden} in test{"s" * (hidden != 1)} not shown yet' if named else
                     'in tests not shown yet' if hidden != 1 else 'in a test not shown yet')
    text = f'{len(roots)} bug{"s" * (len(roots) != 1)}: ' + '; '.join(parts)
    more = sum(1 for c in failed if c.consequence_of and seen(c))
    if more:
        text += (f'; {more} more failing check{"s are" if more != 1 else " is"} '
                 f'{"their" if len(roots) != 1 else "its"} consequence{"s" * (more != 1)}')
    return text


def shortened(line, limit):
    """``line`` within ``limit`` characters, cut where a word ends and saying so (``…``, one
    character: a summary that ends the sentence with a full stop reads "checks…." not
    "checks...."): cut at a character, a message read as another ("--grade-timeou.")."""
    if len(line) <= limit:
        return line
    cut = line[:limit - 1]
    cut = cut[:cut.rfind(' ')] if ' ' in cut else cut
    return cut.rstrip(' ,;:(') + '…'


#: What a newline of the submission's text goes on with in a failure's body.
CONTINUED = '    '


def continued(text):
    """``text`` (the submission's to write: a message, an exception) as the line it is on in a
    failure's body: a newline in it goes on indented, so it cannot start a line of its own in
    pytest's output or a CI log (a verdict above the real one: ``micrograde: PASSED``)."""
    return clean(text).replace('\n', '\n' + CONTINUED)


def failure_text(check, place=None):
    """The body of a failure: the message, counterexample code, expected vs actual, the hint and,
    last, the learner's method that the check exercises (``place``, from ``location``); every
    newline of the submission's text in it indented (``continued``)."""
    parts = [continued(check.message)]
    if check.consequence_of:
        parts.insert(0, f'a consequence of {check.consequence_of} ({problem(check)}): not a bug of '
                        f'its own, fixed with it')
    ce = check.counterexample
    if ce and ce.code:
        parts.append('Reproduce with:\n' + ce.code.rstrip())
    lines = comparison(check)
    if lines:
        parts.append('\n'.join(continued(line) for line in lines))
    if check.diagnosis and check.diagnosis not in check.message:
        parts.append('hint: ' + check.diagnosis)
    if place:
        parts.append(at(place))
    return clean('\n\n'.join(parts))


def at(place):
    """``at Value.__add__ (engine.py:22)``, or ``(cell 7, line 22)`` in a notebook: the form CI
    annotators read a file and line from."""
    spot = f'{place["cell"]}, line {place["line"]}' if place['cell'] else \
        f'{place["file"]}:{place["line"]}'
    return f'at {place["method"]} ({spot})'


def comparison(check):
    """``['out.data: expected 6.0, got 6.0', 'a.grad: expected -4.0, got -2.0']``: the output's
    value, then everything that differs (each wrong gradient, an exception)."""
    ce = check.counterexample
    if not ce:
        return []
    lines = []
    for key, want in ce.expected.items():
        got = ce.actual.get(key, 'not computed')
        if got != want or key.endswith('.data'):
            lines.append(f'{key}: expected {want}, got {got}')
    lines += [f'{key}: {value}' for key, value in ce.actual.items() if key not in ce.expected]
    return [clean(line) for line in lines]


def location(report, check):
    """Where the learner's code behind a check is: ``{'method', 'file', 'line', 'cell'}``
    (``resolved``), or ``None``: the method and line its misconception names (where the wrong
    rule lives), else the method the check exercises."""
    found = spot(report, check)
    return found and resolved(report, *found)


def spot(report, check):
    """``(label, file, line)`` of ``location``, the file as the worker names it."""
    m = check.misconception
    if m and '.' in m.method and m.file and m.line:  # a network class's method, where it is
        return m.method, m.file, m.line
    name = m.method if m and m.method else method(check.id)
    where = report.methods.get(name) if name else None
    if not where:
        return None
    return (f'{value_class(report)}.{name}', where['file'],
            m.line if m and m.method == name and m.line else where['line'])


def value_class(report):
    """The learner's name for the Value class (``Scalar``), as a location names its methods."""
    return report.class_info.get('Value', {}).get('name') or 'Value'


def notebook_file(report):
    """The file of ``report.notebook``, the notebook a folder or a zip was graded by: inside the
    folder, or named as inside the zip, as a zip's other files are (``resolved``)."""
    submission = report.submission.rstrip('/')
    if submission.lower().endswith('.zip'):
        return report.notebook
    return os.path.join(submission, report.notebook)


def resolved(report, label, where, line):
    """``{'method', 'file', 'line', 'cell'}`` for ``label`` at ``line`` of ``where``, a file as
    the worker names it (inside the folder the submission is in, or inside its .zip) or
    ``cell N`` of a notebook: ``file`` is the path to open, never one outside the submission
    (the worker's names and messages are the submission's to write)."""
    submission = report.submission.rstrip('/')
    cell = where if where.startswith('cell ') else None
    if cell and report.notebook:  # a folder (or a zip) graded by its notebook
        path = notebook_file(report)
    elif cell or submission.lower().endswith('.py') or os.path.isabs(where) or \
            '..' in where.split('/'):
        path = submission
    elif submission.lower().endswith('.zip'):
        path = where
    else:
        path = os.path.join(os.path.dirname(submission), where)
    return {'method': label, 'file': path, 'line': line, 'cell': cell}


def kind(check):
    """What sort of bug a failed check found, in words a CI's summary can show: its
    misconception's title, else the kind of mismatch."""
    ce = check.counterexample
    if check.misconception is not None:
        return check.misconception.title
    if check.status == 'error':
        return 'could not finish'
    if 'not implemented' in check.message:
        return 'missing op'
    if ce and 'error' in ce.actual:
        return 'exception'
    if ce:
        wrong = [k for k, v in ce.expected.items() if ce.actual.get(k) != v]
        if any(k.endswith('.data') or k == 'outputs' for k in wrong):
            return 'wrong value'
        if any(k.endswith('.grad') for k in wrong):
            return 'wrong gradient'
    return 'wrong result'


def method(check_id):
    """The learner's method a check exercises (``ops.radd`` -> ``__radd__``), or ``None``."""
    category, _, cap = check_id.partition('.')
    if category == 'backward':
        return 'backward'
    return learner_method(cap) if category == 'ops' and cap != 'backward' else None
