"""The grading service: submissions over HTTP, a durable queue, workers that scale out.

``api`` (FastAPI) writes each job to ``jobs`` (SQLite, the source of truth) and hands it to
``tasks`` (Dramatiq on Redis); ``micrograde worker`` processes grade it through ``grader``, the
one module here that imports the grader, and report back through the queue.  ``supervisor``
runs a private Redis, the API and the workers on one machine (``make serve``).
"""
