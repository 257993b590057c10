"""How much the grader keeps of what a submission says.

Every text a submission influences (what it prints, its exceptions, its class and file names,
the loader's warnings) is cut where the grader receives it (``answers.py``), and again where a
report is assembled (``bounded``), so that ``report.json`` stays under ``MAX_REPORT`` bytes
whatever the submission does: one that prints 100 kB per graph, or sends a 1 MB warning.
"""
import json
import re

MAX_REPORT = 1_000_000  # bytes of report.json
REST = 400_000  # bytes a report holds besides its texts, at most (its numbers, graphs, ids)

#: Characters kept of one text of each kind.
KEEP = {
    'output': 8192,     # printed during one answer, or one check
    'report_output': 16384,  # printed outside the checks, all workers together
    'message': 2000,    # an exception's text, a check's message or diagnosis
    'warning': 2000,    # one load warning
    'error': 4000,      # why loading failed
    'name': 200,        # a class, method, attribute or exception type name
    'where': 400,       # a file and line: 'engine.py, line 4: return ...'
    'value': 400,       # a shown number, or a counterexample's entry
    'code': 8000,       # a counterexample's code (it quotes the learner's class names)
}
#: How many of each listed thing are kept.
KEEP_COUNT = {'warnings': 50, 'methods': 300, 'roles': 16, 'similar': 50}
#: What all the checks' outputs together may hold; later checks' output is dropped past it.
OUTPUT_BUDGET = 200_000
#: The cut moves back to the start of a word (up to this far) so that no path is cut in half:
#: half a grader path is no longer one the redactor knows.
_WORD = re.compile(r'[^\s\'"(),;<>\[\]]{1,256}$')


def capped(text, limit):
    """``text`` cut to about ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    if not text[limit].isspace():
        word = _WORD.search(head)
        if word:
            head = head[:word.start()]
    return f'{head}\n[... {len(text) - len(head)} more characters not kept]'


def each_text(report, fn):
    """Replace every text of ``report`` that a submission influences by ``fn(text, kind)``, in
    place (``kind``: its ``KEEP`` entry).  The one list of them: redaction and caps both walk it."""
    report.load_warnings = [fn(w, 'warning') for w in report.load_warnings]
    report.classes = {role: fn(where, 'where') for role, where in report.classes.items()}
    for info in report.class_info.values():
        info['name'], info['origin'] = fn(info.get('name', ''), 'name'), fn(info.get('origin', ''), 'where')
        for part in ('similar', 'attributes'):
            info[part] = {k: fn(v, 'name') for k, v in info.get(part, {}).items()}
    for where in report.methods.values():
        where['file'] = fn(where['file'], 'where')
    report.output = fn(report.output, 'report_output')
    for check in report.checks:
        check.message, check.diagnosis = fn(check.message, 'message'), fn(check.diagnosis, 'message')
        check.output = fn(check.output, 'output')
        ce = check.counterexample
        if ce is not None:
            ce.code = fn(ce.code, 'code')
            for shown in (ce.expected, ce.actual):
                shown.update({k: fn(v, 'value' if k != 'error' else 'message')
                              for k, v in shown.items() if isinstance(v, str)})
    return report


def size(report):
    """Bytes of the report as ``report.json`` holds it."""
    return len(json.dumps(report.to_dict(), separators=(',', ':')).encode())


def bounded(report):
    """``report`` cut to ``KEEP`` per text and ``OUTPUT_BUDGET`` for the checks' outputs, then,
    should it still exceed ``MAX_REPORT``, every text to ever shorter lengths.  The rest of a
    report (numbers, graphs) is the grader's, far under ``REST``: only a report whose texts
    come near the limit is measured as JSON."""
    each_text(report, lambda text, kind: capped(text, KEEP[kind]))
    spent = 0
    for check in report.checks:
        spent += len(check.output)
        if spent > OUTPUT_BUDGET:
            check.output = (f'[{len(check.output)} characters of output not kept: the report '
                            f'already holds {OUTPUT_BUDGET} of output]') if check.output else ''
    texts = []
    each_text(report, lambda text, kind: texts.append(len(text)) or text)
    if sum(texts) + REST < MAX_REPORT:
        return report
    for limit in (1000, 200, 40):
        if size(report) <= MAX_REPORT:
            break
        each_text(report, lambda text, kind, limit=limit: capped(text, limit))
    return report
