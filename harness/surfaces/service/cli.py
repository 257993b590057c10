"""``micrograde serve``, ``micrograde worker``, ``micrograde token``: plain functions behind click.

Imports nothing heavy at the top, so ``micrograde --help`` stays fast.
"""
from pathlib import Path

import click

from micrograde.surfaces.service.grader import PROFILE_NAMES

STATE = click.option('--state', default='micrograde-state', show_default=True,
                     envvar='MICROGRADE_STATE', type=click.Path(file_okay=False),
                     help='Folder of the service state: the SQLite job and token table, Redis\'s '
                     'append-only file, logs (env MICROGRADE_STATE).')


def api_options(f):
    """Options of the API, shared by ``serve`` and ``api``."""
    for option in reversed([
        click.option('--host', default='127.0.0.1', show_default=True,
                     help='Address the API listens on.'),
        click.option('--port', default=8000, show_default=True, envvar='PORT',
                     help='Port the API listens on (env PORT).'),
        click.option('--upload-limit', default=8, show_default=True,
                     help='Megabytes one upload may have (413 past it).'),
        click.option('--rate', default=20, show_default=True,
                     help='Submissions a learner may make per --rate-window (429 past it).'),
        click.option('--rate-window', default=3600.0, show_default=True, help='Seconds.'),
        click.option('--max-queued', default=500, show_default=True,
                     help='Queued jobs before uploads are refused with 503 and Retry-After.'),
        click.option('--seed', default=0, show_default=True, help='Seed every job is graded with.'),
        click.option('--profile', type=click.Choice(PROFILE_NAMES),
                     default='standard', show_default=True, help='Profile every job is graded with.'),
        click.option('--rubric', type=click.Path(dir_okay=False, exists=True), default=None,
                     help='TOML rubric every job is graded with (default: the lecture).'),
    ]):
        f = option(f)
    return f


def _api_argv(upload_limit, rate, rate_window, max_queued, seed, profile, rubric):
    argv = ['--upload-limit', upload_limit, '--rate', rate, '--rate-window', rate_window,
            '--max-queued', max_queued, '--seed', seed, '--profile', profile]
    if rubric:
        argv += ['--rubric', str(Path(rubric).resolve())]
    return [str(a) for a in argv]


@click.command()
@STATE
@click.option('--workers', '-w', default=2, show_default=True,
              help='Worker processes on this machine (0: the API alone, workers run elsewhere).')
@click.option('--broker', default=None, metavar='URL',
              help='redis://HOST[:PORT][/DB] of an existing Redis; default: a private '
              'redis-server on a loopback port with its data under --state.')
@api_options
def serve(state, workers, broker, host, port, **api):
    """Run the grading service: Redis, the API and workers, restarted if they die.

    Ctrl-C stops everything and leaves no process behind."""
    from micrograde.surfaces.service.supervisor import Supervisor
    try:
        supervisor = Supervisor(state, port, workers, broker, host, _api_argv(**api))
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from None
    supervisor.run()


@click.command()
@click.option('--broker', required=True, envvar='MICROGRADE_BROKER', metavar='URL',
              help='redis://HOST[:PORT][/DB] of the service\'s Redis (env MICROGRADE_BROKER).')
def worker(broker):
    """Grade jobs from the queue, one at a time, keeping a warm sandbox between them.

    Run as many as the machine has cores, on as many machines as needed."""
    from micrograde.surfaces.service.tasks import run_worker
    run_worker(broker)


@click.command()
@STATE
@click.option('--course', required=True, help='Course the token is for.')
@click.option('--role', type=click.Choice(['staff', 'learner']), required=True,
              help='staff: every submission of the course; learner: their own only.')
@click.option('--learner', default=None, help='Who the token belongs to (default: a new id).')
def token(state, course, role, learner):
    """Print a new bearer token for a course (only its hash is stored)."""
    from micrograde.surfaces.service.tokens import Tokens
    Path(state).mkdir(parents=True, exist_ok=True)
    secret, who = Tokens(Path(state, 'service.sqlite3')).create(course, role, learner)
    click.echo(f'{role} token for {who.learner} in {course}:', err=True)
    click.echo(secret)


@click.command(hidden=True)
@STATE
@click.option('--broker', required=True, metavar='URL', help='redis://HOST[:PORT][/DB].')
@api_options
def api(state, broker, host, port, upload_limit, rate, rate_window, max_queued, seed, profile, rubric):
    """The API alone (what ``serve`` runs)."""
    import uvicorn

    from micrograde.surfaces.service.api import ServiceConfig, create_app
    from micrograde.surfaces.service.grader import rubric_text
    config = ServiceConfig(Path(state), broker, upload_limit * 2**20, rate, rate_window, max_queued,
                           seed, profile, rubric_text(rubric))
    uvicorn.run(create_app(config), host=host, port=port, log_level='warning')


@click.group()
def commands():
    """The service's commands on their own (``python -m micrograde.surfaces.service.cli``)."""


for command in (serve, worker, token, api):
    commands.add_command(command)

if __name__ == '__main__':
    commands()
