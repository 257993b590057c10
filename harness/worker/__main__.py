"""``python -m <this package> READ_FD WRITE_FD``: one worker (``serve.py``);
``python -m <this package> forkserver SOCKET_FD``: a warm template that forks workers
(``forkserver.py``)."""
import sys

from .forkserver import serve_template
from .serve import serve

if sys.argv[1] == 'forkserver':
    serve_template(int(sys.argv[2]))
else:
    serve(int(sys.argv[1]), int(sys.argv[2]))
