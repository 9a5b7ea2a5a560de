"""`--help` is complete: every option of every command says what it does, and `naftiko --help` shows
every command's summary whole."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from naftiko_runtime.cli import main


def commands(command: click.Command = main, path: tuple[str, ...] = ("naftiko",)) -> Iterator[
        tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from commands(sub, (*path, name))


ALL = list(commands())


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_option_has_help_text(path: tuple[str, ...], command: click.Command) -> None:
    missing = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not p.hidden
               and not (p.help or "").strip()]
    assert not missing, f"{' '.join(path)}: options without help: {missing}"
    assert (command.help or "").strip(), f"{' '.join(path)} has no description"


@pytest.mark.parametrize(("path", "command"), ALL[1:], ids=[" ".join(p) for p, _ in ALL[1:]])
def test_every_summary_is_whole(path: tuple[str, ...], command: click.Command) -> None:
    summary = command.get_short_help_str(limit=60)  # what a group's --help prints at 80 columns
    assert not summary.endswith("..."), f"{' '.join(path)}: {summary!r} is cut; give it a short_help"
    assert len(summary) <= 66, f"{' '.join(path)}: {summary!r} wraps at 80 columns"


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=[" ".join(p) for p, _ in ALL])
def test_every_help_page_renders(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path[1:], "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    if "Commands:" in result.output:  # a group: no summary in its list is cut
        assert "..." not in result.output.split("Commands:", 1)[1]


def test_the_group_help_lists_every_command_in_full() -> None:
    result = CliRunner().invoke(main, ["--help"], terminal_width=80)
    listed = result.output.split("Commands:", 1)[1]
    for name, command in main.commands.items():
        assert f"  {name} " in listed and command.get_short_help_str(limit=200) in listed
