"""``micrograde serve``, ``micrograde worker``, ``micrograde token``: plain functions behind click.

Imports nothing heavy at the top, so ``micrograde --help`` stays fast.
"""
from pathlib import Path

import click

from micrograde.surfaces.service import config
from micrograde.surfaces.service.grader import PROFILE_NAMES

#: the API's defaults, which its options show
DEFAULT = config.ServiceConfig

STATE = click.option('--state', default='micrograde-state', show_default=True,
                     envvar='MICROGRADE_STATE', type=click.Path(file_okay=False),
                     help='Folder of the service state: the SQLite job and token table, Redis\'s '
                     'append-only file, logs (env MICROGRADE_STATE).')


def api_options(f):
    """Options of the API, shared by ``serve`` and ``api``; their defaults are
    ``ServiceConfig``'s."""
    for option in reversed([
        click.option('--host', default='127.0.0.1', show_default=True,
                     help='Address the API listens on.'),
        click.option('--port', default=8000, show_default=True, envvar='PORT',
                     help='Port the API listens on (env PORT).'),
        click.option('--upload-limit', default=DEFAULT.upload_limit >> 20, show_default=True,
                     help='Megabytes one upload may have (413 past it).'),
        click.option('--rate', default=DEFAULT.rate_count, show_default=True,
                     help='Submissions a learner may make per --rate-window (429 past it).'),
        click.option('--rate-window', default=DEFAULT.rate_window, show_default=True, help='Seconds.'),
        click.option('--max-queued', default=DEFAULT.max_queued, show_default=True,
                     help='Queued jobs before uploads are refused with 503 and Retry-After.'),
        click.option('--course-queued', default=DEFAULT.course_queued, show_default=True,
                     help='Queued jobs of one course before its uploads get 503.'),
        click.option('--grading-budget', default=DEFAULT.grading_budget, show_default=True,
                     help='Seconds of grading a learner\'s submissions may take per --rate-window '
                     '(429 past it).'),
        click.option('--learner-queued', default=DEFAULT.learner_queued, show_default=True,
                     help='A learner\'s submissions waiting or being graded at once (429 past it).'),
        click.option('--slow-learner', default=DEFAULT.slow_learner, show_default=True,
                     help='Seconds of grading in the --rate-window past which a learner\'s new '
                     'submissions go straight to the slow lane (graded while no other job waits).'),
        click.option('--keep-days', default=DEFAULT.keep_days, type=float,
                     help='Delete graded jobs (submission and reports) older than this many days, '
                     'except each learner\'s latest (default: keep everything).'),
        click.option('--seed', default=DEFAULT.seed, show_default=True, help='Seed every job is graded with.'),
        click.option('--profile', type=click.Choice(PROFILE_NAMES),
                     default=DEFAULT.profile, show_default=True,
                     help='Profile every job is graded with.'),
        click.option('--rubric', type=click.Path(dir_okay=False, exists=True), default=None,
                     help='TOML rubric every job is graded with (default: the lecture).'),
    ]):
        f = option(f)
    return f


def _api_argv(upload_limit, rate, rate_window, max_queued, course_queued, grading_budget,
              learner_queued, slow_learner, keep_days, seed, profile, rubric):
    argv = ['--upload-limit', upload_limit, '--rate', rate, '--rate-window', rate_window,
            '--max-queued', max_queued, '--course-queued', course_queued, '--grading-budget',
            grading_budget, '--learner-queued', learner_queued, '--slow-learner', slow_learner,
            '--seed', seed, '--profile', profile]
    if keep_days is not None:
        argv += ['--keep-days', keep_days]
    if rubric:
        argv += ['--rubric', str(Path(rubric).resolve())]
    return [str(a) for a in argv]


KEY_FILE = click.option('--key-file', required=True, envvar='MICROGRADE_KEY_FILE',
                        type=click.Path(dir_okay=False, exists=True),
                        help='The deployment key (deployment.key in the service\'s state folder; '
                        'env MICROGRADE_KEY_FILE): jobs and reports are signed with it.')
BROKER = click.option('--broker', required=True, envvar='MICROGRADE_BROKER', metavar='URL',
                      help='redis://:PASSWORD@HOST[:PORT][/DB] of the service\'s Redis (env '
                      'MICROGRADE_BROKER; the password is in redis.password in the state folder).')


SLOW_AFTER = click.option('--slow-after', default=config.SLOW_AFTER, show_default=True,
                          help='Seconds a job may grade while others wait (or 3 times the worker\'s '
                          'median run, if longer) before it gives way to them: it is stopped and '
                          'goes to the slow lane.')


@click.command()
@STATE
@click.option('--workers', '-w', default=2, show_default=True,
              help='Worker processes on this machine (0: the API alone, workers run elsewhere).')
@click.option('--broker', default=None, metavar='URL',
              help='redis://:PASSWORD@HOST[:PORT][/DB] of an existing Redis; default: a private '
              'redis-server on a loopback port, with a generated password and its data under --state.')
@SLOW_AFTER
@api_options
def serve(state, workers, broker, slow_after, host, port, **api):
    """Run the grading service: Redis, the API and workers, restarted if they die.

    Ctrl-C stops everything and leaves no process behind; so does killing this process."""
    from micrograde.surfaces.service.supervisor import Busy, Supervisor
    try:
        Supervisor(state, port, workers, broker, host, _api_argv(**api),
                   ['--slow-after', str(slow_after)]).run()
    except (FileNotFoundError, Busy) as e:
        raise click.ClickException(str(e)) from None


@click.command()
@BROKER
@KEY_FILE
@SLOW_AFTER
def worker(broker, key_file, slow_after):
    """Grade jobs from the queue, one at a time, keeping a warm sandbox between them.

    Run as many as the machine has cores, on as many machines as needed."""
    import os

    from micrograde.surfaces.service.keys import read_secret
    from micrograde.surfaces.service.tasks import run_worker
    for name in ('MICROGRADE_BROKER', 'MICROGRADE_KEY_FILE'):  # not inherited by what it starts
        os.environ.pop(name, None)
    run_worker(broker, read_secret(key_file), slow_after=slow_after)


@click.command()
@STATE
@click.option('--course', help='Course the token is for.')
@click.option('--role', type=click.Choice(['staff', 'learner']),
              help='staff: every submission of the course; learner: their own only.')
@click.option('--learner', default=None, help='Who the token belongs to (default: a new id).')
@click.option('--days', default=180.0, show_default=True, help='Days until the token expires.')
@click.option('--revoke', metavar='TOKEN', default=None,
              help='Revoke this token instead (it stops working at once).')
def token(state, course, role, learner, days, revoke):
    """Print a new bearer token for a course (only its hash is stored), or revoke one."""
    from micrograde.surfaces.service.keys import private_file, private_folder
    from micrograde.surfaces.service.tokens import Tokens
    tokens = Tokens(private_file(Path(private_folder(state), 'service.sqlite3')))
    if revoke is not None:
        who = tokens.revoke(revoke.strip())
        if who is None:
            raise click.ClickException('no such token')
        click.echo(f'revoked the {who.role} token of {who.learner} in {who.course}', err=True)
        return
    if not course or not role:
        raise click.UsageError('--course and --role are needed to make a token')
    try:
        secret, who = tokens.create(course, role, learner, days)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint='--course') from None
    click.echo(f'{role} token for {who.learner} in {course}, valid {days:g} days:', err=True)
    click.echo(secret)


@click.command(hidden=True)
@STATE
@BROKER
@KEY_FILE
@api_options
def api(state, broker, key_file, host, port, upload_limit, rate, rate_window, max_queued,
        course_queued, grading_budget, learner_queued, slow_learner, keep_days, seed, profile,
        rubric):
    """The API alone (what ``serve`` runs); logs with timestamps, one access line a request."""
    import logging

    import uvicorn

    from micrograde.surfaces.service.api import ServiceConfig, create_app
    from micrograde.surfaces.service.grader import rubric_text
    from micrograde.surfaces.service.keys import read_secret
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(levelname)s %(message)s')
    logging.getLogger('dramatiq').setLevel(logging.WARNING)
    config = ServiceConfig(Path(state), broker, read_secret(key_file), upload_limit=upload_limit * 2**20,
                           rate_count=rate, rate_window=rate_window, max_queued=max_queued,
                           course_queued=course_queued, grading_budget=grading_budget,
                           learner_queued=learner_queued, slow_learner=slow_learner, seed=seed,
                           profile=profile, rubric=rubric_text(rubric), keep_days=keep_days)
    uvicorn.run(create_app(config), host=host, port=port, log_config=None, access_log=False)


@click.group()
def commands():
    """The service's commands on their own (``python -m micrograde.surfaces.service.cli``)."""


for command in (serve, worker, token, api):
    commands.add_command(command)

if __name__ == '__main__':
    commands()
