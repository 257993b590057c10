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


def test_a_submission_s_message_starts_no_workflow_command_in_a_batch(tmp_path):
    """``batch`` prints its class's summary, never a submission's words: none starts a line."""
    from conftest import micrograde
    folder = tmp_path / 'class'
    folder.mkdir()
    (folder / 'commands.py').write_text(hostile_engine('', in_backward=FORGED))
    result = micrograde('batch', folder, '--out', tmp_path / 'out', '--profile', 'quick', '-j', '1')
    assert result.returncode == 0, result.stderr[-2000:]
    commands = [line for line in (result.stdout + result.stderr).splitlines()
                if line.lstrip().startswith('::')]
    assert not commands, commands[:3]
