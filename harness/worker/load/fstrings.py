"""Python 3.12's f-strings read by the Python 3.11 that grades: an f-string that reuses its own
quote inside its braces (``f'{self.label or 'Value'}'``, valid from 3.12, PEP 701, which Colab
runs) is the same f-string written with the other quote (``f"{self.label or 'Value'}"``) when
that quote appears nowhere in it and its braces hold no backslash, comment or line break.
Swapping the two quote characters keeps every line and column where the learner wrote them,
so findings and counterexamples point at the learner's own lines.  Anything else 3.12 reads
and 3.11 does not stays a syntax error, said as such (``errors.newer_python``)."""
import importlib.machinery
import importlib.util
import linecache
import os
import re
import sys

#: A string literal's start: its prefix (``f``, ``rb`` ...) and its quote.
_START = re.compile(r'''(?<![\w])([rRbBuUfF]{0,2})('{3}|"{3}|'|")''')
_OTHER = {"'": '"', '"': "'"}


class _Unread(Exception):
    """Text this scanner does not follow (an unterminated string): nothing is re-quoted."""


def requoted(text):
    """``(text with each such f-string re-quoted, [line of each])``, or ``None`` when there is
    none to re-quote."""
    swaps, i, n = [], 0, len(text)
    try:
        while i < n:
            c = text[i]
            if c == '#':
                i = text.find('\n', i)
                i = n if i < 0 else i
                continue
            start = _START.match(text, i) if c in '\'"rRbBuUfF' else None
            if start is None:
                i += 1
                continue
            prefix, quote = start.groups()
            body = start.end()
            if 'f' not in prefix.lower():
                i = _plain(text, body, quote)
                continue
            inner = []
            i, reuses, stuck = _fstring(text, body, quote, inner)
            if not reuses or stuck or len(quote) != 1:
                continue
            if _OTHER[quote] not in text[body:i - 1]:
                swaps += [body - 1, i - 1]
            elif all(ok and _OTHER[quote] not in text[a + 1:b] for a, b, ok in inner):
                # the other quote is in it (`f"{f" -> {x}" if x else ''}"`): each string in its
                # braces that reuses its quote takes the other one instead
                swaps += [k for a, b, _ in inner for k in (a, b)]
    except (_Unread, ValueError, RecursionError):  # a ``\N{`` never closed; f-strings in
        # f-strings nested deeper than Python parses
        return None
    if not swaps:
        return None
    chars, lines, line, counted = list(text), [], 1, 0
    for k in swaps:
        chars[k] = _OTHER[chars[k]]
    for k in swaps[::2]:  # in order: each line counted from the last
        line, counted = line + text.count('\n', counted, k), k
        lines.append(line)
    return ''.join(chars), lines


def compiled(parse, text, filename, where, warnings):
    """``parse(text)``; where that is a ``SyntaxError`` that ``requoted`` mends, ``parse`` of the
    re-quoted text, which ``filename`` reads as from now on (Python's ``inspect`` parses a
    class's whole file to find its line), with a note in ``warnings``; else the first error."""
    try:
        return parse(text)
    except SyntaxError as first:
        again = requoted(text)
        try:
            result = parse(again[0]) if again else None
        except SyntaxError:
            result = None
        if result is None:
            raise first from None  # Python's own word on the text as it is
    mended, lines = again
    linecache.cache[filename] = (len(mended), None, mended.splitlines(True), filename)  # no
    # mtime: never checked against the file
    shown = sorted(set(lines))
    warnings.append(f'{where}: line{"s" * (len(shown) > 1)} {", ".join(map(str, shown))}: an '
                    f'f-string that reuses its quote inside its braces (valid from Python 3.12) '
                    f'was read with the other quote, as the Python '
                    f'{".".join(map(str, sys.version_info[:2]))} that grades needs; nothing else '
                    f'was changed.')
    return result


def path_hook(loaded):
    """A ``sys.path_hooks`` entry for the submission's own folders (``loaded.own``): their
    modules (a package's, a notebook's sibling ``engine.py``) are read as a ``.py`` submission
    is, ``requoted`` where they need it, and the load notes each.  Any other folder is left to
    Python's own finder."""
    machinery = importlib.machinery

    class Loader(machinery.SourceFileLoader):
        def source_to_code(self, data, path, *, _optimize=-1):
            def parse(text):
                return super(Loader, self).source_to_code(text, path, _optimize=_optimize)
            return compiled(parse, importlib.util.decode_source(data), path,
                            loaded.own(path) or os.path.basename(path), loaded.warnings)

    kinds = ((machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
             (Loader, machinery.SOURCE_SUFFIXES),
             (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES))

    def hook(entry):
        if not (entry and os.path.isdir(entry) and loaded.own(os.path.join(entry, '_'))):
            raise ImportError('not a folder of the submission\'s')
        return machinery.FileFinder(entry, *kinds)
    return hook


def _plain(text, i, quote):
    """The index after the closing ``quote`` of a string (not an f-string) whose body starts at
    ``i``; a backslash keeps the next character in it, raw or not."""
    while True:
        j = _next(text, i, quote)
        if text.startswith(quote, j):
            return j + len(quote)
        i = j + 2  # a backslash and what it escapes


def _next(text, i, quote, also=''):
    """The index of the next ``quote``, backslash or character of ``also`` from ``i``."""
    found = re.compile('|'.join(map(re.escape, [quote, '\\', *also]))).search(text, i)
    if found is None or len(quote) == 1 and '\n' in text[i:found.start()]:
        raise _Unread
    return found.start()


def _fstring(text, i, quote, inner=None):
    """Scan an f-string's body from ``i``: ``(index after its closing quote, whether a string in
    its braces opens with ``quote``, whether its braces hold what no quote swap fixes)``; each
    string in its braces that opens with ``quote`` is added to ``inner`` as ``(index of its
    opening quote, of its closing one, whether swapping those two alone reads it)``."""
    reuses = stuck = False
    while True:
        j = _next(text, i, quote, '{')
        if text.startswith(quote, j):
            return j + len(quote), reuses, stuck
        if text[j] == '\\':  # an escape: ``\N{name}`` whole, a ``{`` after it still a field's
            i = text.index('}', j) + 1 if text.startswith('N{', j + 1) else \
                j + 1 if text.startswith('{', j + 1) else j + 2
        elif text.startswith('{{', j):
            i = j + 2
        else:
            i, r, s = _field(text, j + 1, quote, inner)
            reuses, stuck = reuses or r, stuck or s


def _field(text, i, quote, inner=None):
    """Scan a replacement field from after its ``{`` to after its ``}`` (a format spec's own
    fields included): ``(index, reuses, stuck)`` as ``_fstring``'s."""
    reuses = stuck = False
    depth, n = 0, len(text)
    while i < n:
        c = text[i]
        start = _START.match(text, i) if c in '\'"rRbBuUfF' else None
        if start is not None:
            prefix, opens = start.groups()
            same = opens[0] == quote[0]
            reuses = reuses or same
            r = s = False
            if 'f' in prefix.lower():
                i, r, s = _fstring(text, start.end(), opens)
                stuck = stuck or r or s
            else:
                i = _plain(text, start.end(), opens)
            if same and inner is not None:
                inner.append((start.end() - 1, i - 1, len(opens) == 1 and not r and not s))
            continue
        if c in '\\#\n':
            stuck = True
        elif c in '([{':
            depth += 1
        elif c in ')]' or c == '}' and depth:
            depth -= 1
        elif c == '}':
            return i + 1, reuses, stuck
        elif c == ':' and not depth:  # the format spec: text, and fields of its own
            i += 1
            while True:
                j = _next(text, i, quote, '{}')
                if text[j] == '{':
                    i, r, s = _field(text, j + 1, quote, inner)
                    reuses, stuck = reuses or r, stuck or s
                elif text[j] == '}':
                    return j + 1, reuses, stuck
                else:
                    raise _Unread  # the f-string closed inside a spec, or a backslash there
        i += 1
    raise _Unread
