"""What a submission says (its exceptions' messages, what it prints) reaches the console a CI
job logs.  GitHub's runner reads every line of a step's output, its leading spaces trimmed, as
a workflow command when it starts with ``::`` (``::error``, ``::add-mask::``,
``::stop-commands::``; actions/runner ``ActionCommand.TryParseV2``): a submission's text must
never start a line there (``text.clean`` escapes the command's first character)."""
from engines import hostile_engine

FORGED = "raise ValueError('x\\n::error title=micrograde::all 51 checks passed\\n::add-mask::FAILED')"


def test_a_submission_s_message_starts_no_workflow_command(run_cli, tmp_path):
    path = tmp_path / 'commands.py'
    path.write_text(hostile_engine('', in_backward=FORGED))
    result = run_cli('grade', path, '--profile', 'quick', '--out', tmp_path / 'out', '--no-color')
    commands = [line for line in result.stdout.splitlines() if line.lstrip().startswith('::')]
    assert not commands, commands[:3]
