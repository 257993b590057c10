"""A file's name as a report shows it: always valid text that prints as what it is.

A name on disk may be any bytes but ``/`` and NUL: Python gives the bytes that are not UTF-8 as
lone surrogates (``surrogateescape``), which no UTF-8 file, CSV or JSON parser takes, and a
name may hold a terminal's escape codes or a bidi override that shows it reversed.  ``shown``
writes each of those as a Python escape (``\\xff``, ``\\x1b``, ``\\u202e``), so one name reads
the same in the gradebook, the class page, every report and the console; the grader still opens
the file by its real name.
"""
import re

#: What a shown name never holds: controls (C0, DEL, C1), bidi marks, embeddings, overrides and
#: isolates, and surrogates (a lone one is a byte that was not UTF-8, or no character at all).
UNSHOWN = re.compile('[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069'
                     '\ud800-\udfff]')
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
    return UNSHOWN.sub(_escape, str(name))
