"""Text every reporter shares: safe for XML and UTF-8, and the body of a failure."""
import re

_ILLEGAL_XML = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]')


def clean(text, limit=None):
    """Text safe for XML and UTF-8: control characters and lone surrogates shown, not kept raw."""
    text = _ILLEGAL_XML.sub(lambda m: f'\\x{ord(m.group()):02x}' if ord(m.group()) < 0x100
                            else f'\\u{ord(m.group()):04x}', str(text))
    if limit and len(text) > limit:
        text = text[:limit] + f'\n[... {len(text) - limit} more characters not shown]'
    return text


def failure_text(check):
    """The body of a failure: counterexample code, expected vs actual, the diagnosis."""
    parts = [check.message]
    ce = check.counterexample
    if ce:
        if ce.code:
            parts.append('Reproduce with:\n' + ce.code.rstrip())
        for label, values in (('expected', ce.expected), ('actual', ce.actual)):
            if values:
                parts.append(f'{label}: ' + ', '.join(f'{k} = {v}' for k, v in values.items()))
    if check.diagnosis and check.diagnosis not in check.message:
        parts.append('hint: ' + check.diagnosis)
    return '\n\n'.join(parts)
