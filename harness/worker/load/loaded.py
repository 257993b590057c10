"""What loading found: namespaces to search for classes, and what went wrong on the way."""
import inspect
import os
import time


class Loaded:
    """Namespaces to search for classes, in priority order, and what went wrong on the way."""

    def __init__(self, budget=None):
        self.deadline = time.monotonic() + budget if budget else None  # for notebook cells
        self.namespaces = []  # (where, dict)
        self.warnings = []
        self.origins = {}  # class object id -> 'cell 7, line 3'
        self.root = None  # folder the submission's files are shown relative to

    def own(self, filename):
        """How the learner knows ``filename`` (``engine.py``, ``cell 3``), or ``None`` when it is
        not the submission's code (the grader, Python, other installed packages)."""
        if filename.startswith('<cell '):
            return filename.strip('<>')
        filename = os.path.abspath(filename)
        if self.root:
            inside = filename.startswith(self.root + os.sep)
            return os.path.relpath(filename, self.root) if inside else None
        origin = self.namespaces[0][1].get('__file__') if self.namespaces else None
        if not origin:
            return None
        origin = os.path.abspath(origin)  # an installed module graded as the submission
        package = os.path.dirname(origin) if os.path.basename(origin) == '__init__.py' else origin
        if filename == origin or filename.startswith(package + os.sep):
            return os.path.relpath(filename, os.path.dirname(package))
        return None

    def find(self, names):
        """``{role: (class, origin)}`` for each role whose class name is bound somewhere."""
        found = {}
        for role, name in names.items():
            for where, ns in self.namespaces:
                obj = ns.get(name)
                if isinstance(obj, type):
                    found[role] = (obj, self.origins.get(id(obj)) or _origin(obj, where, self.root))
                    break
        for role, (cls, origin) in found.items():
            if self.root and origin.startswith(f'{cls.__module__} ('):
                self.warnings.append(f'{role} is not defined in the submission: it is imported '
                                     f'from the installed module {cls.__module__}.')
        return found


def _origin(cls, where, root):
    """``file, line N`` of a class, the file relative to the submission where it lies there."""
    try:
        filename = os.path.abspath(inspect.getsourcefile(cls))
        line = inspect.getsourcelines(cls)[1]
    except (TypeError, OSError):
        return where
    if root and filename.startswith(root + os.sep):
        return f'{os.path.relpath(filename, root)}, line {line}'
    return f'{cls.__module__} ({os.path.basename(filename)}), line {line}'
