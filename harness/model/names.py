"""A file's name as a report shows it: always valid text that prints as what it is.

A name on disk may be any bytes but ``/`` and NUL: Python gives the bytes that are not UTF-8 as
lone surrogates (``surrogateescape``), which no UTF-8 file, CSV or strict JSON parser takes, and
a name may hold a terminal's escape codes or a bidi override that shows it reversed.  ``shown``
writes each of those as a Python escape (``\\xff``, ``\\x1b``, ``\\u202e``), so one name reads
the same in the gradebook, the class page, every report and the console; the grader still opens
the file by its real name.  ``decodable`` escapes the surrogates alone, for any text a report
carries (a message keeps its line breaks); ``shell`` quotes a name for a command to copy, which
bash's ``$'…'`` turns back into the very name.
"""
import re
import shlex

#: Lone surrogates: a byte that was not UTF-8 (``U+DC80`` to ``U+DCFF``), or no character.
SURROGATES = '\ud800-\udfff'
#: What a shown name never holds besides: controls (C0, DEL, C1), bidi marks, embeddings,
#: overrides and isolates.
CONTROLS = '\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069'
_LONE = re.compile(f'[{SURROGATES}]')
_UNSHOWN = re.compile(f'[{CONTROLS}{SURROGATES}]')
#: Python's ``surrogateescape`` keeps the byte ``b`` that is not UTF-8 as ``U+DC00 + b``.
ESCAPED_BYTES = range(0xdc80, 0xdd00)


def _escape(match):
    code = ord(match.group())
    if code in ESCAPED_BYTES:
        return f'\\x{code - 0xdc00:02x}'
    return f'\\x{code:02x}' if code < 0x100 else f'\\u{code:04x}'


def shown(name):
    """``name`` as valid, printable text: ``b'\\xff.py'`` (read as ``'\\udcff.py'``) is
    ``'\\\\xff.py'``; a name with nothing to escape is itself."""
    return _UNSHOWN.sub(_escape, str(name))


def decodable(text):
    """``text`` with each lone surrogate escaped as ``shown`` does: valid UTF-8."""
    return _LONE.sub(_escape, text)


def shell(word):
    """``word`` quoted for a shell, as valid text: ``shlex.quote``, or bash's ``$'…'`` (its
    escapes ``shown``'s) when it holds a byte or character ``shown`` escapes."""
    if not _UNSHOWN.search(word):
        return shlex.quote(word)
    quoted = re.sub(r"[\\']", lambda m: '\\' + m.group(), word)
    return "$'" + _UNSHOWN.sub(_escape, quoted) + "'"
