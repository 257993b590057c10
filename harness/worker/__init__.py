"""Code that runs beside a submission, in the worker process.

Standard library only, and no import of the rest of ``harness``: inside the sandbox this package is
all of micrograde that exists.  It returns raw facts (numbers, exceptions, call orders); every
verdict is made in the grader.
"""
