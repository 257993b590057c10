"""A ``.py`` file: read as the learner saved it, run as a module of its own name."""
import io
import os
import sys
import tokenize
import types

from .errors import LoadError, explain, syntax_error
from .fstrings import compiled
from .kernel import Kernel


def source(path):
    """The text of a source file in its declared encoding (PEP 263), or a ``LoadError``."""
    name = os.path.basename(path)
    with open(path, 'rb') as f:
        data = f.read()
    if b'\0' in data:
        raise LoadError(f'{name} is a binary file, not Python source.')
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError) as e:
        raise LoadError(f'{name} is not readable text ({e}); save it as UTF-8.') from None


def _compile(text, filename, label, loaded):
    def parse(source):
        return compile(source, filename, 'exec', dont_inherit=True)
    try:
        return compiled(parse, text, filename, label, loaded.warnings)
    except SyntaxError as e:
        raise LoadError(syntax_error(e, label)) from None
    except ValueError as e:  # e.g. NUL bytes
        raise LoadError(f'{label} cannot be compiled: {e}.') from None


def load_file(path, loaded):
    name = os.path.splitext(os.path.basename(path))[0]
    text = source(path)
    code = _compile(text, path, os.path.basename(path), loaded)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    mod = types.ModuleType(name)
    mod.__file__ = path
    sys.modules[name] = mod
    if 'get_ipython' in text:  # a notebook exported as a script: its magics need a shell
        Kernel(loaded, mod.__dict__, os.path.basename(path), path)
    try:
        exec(code, mod.__dict__)
    except BaseException as e:
        raise LoadError(explain(e, os.path.basename(path), path,
                                answer_keys=loaded.answer_keys)) from None
    loaded.namespaces.append((os.path.basename(path), mod.__dict__))
