"""Every command's help has an example, and every argument and option a description."""

from __future__ import annotations

from typer.main import get_command

from tenantctl.cli.main import app


def _commands(command, path=()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), command


def test_every_command_has_an_example_and_every_parameter_a_description() -> None:
    commands = dict(_commands(get_command(app)))
    assert len(commands) > 40
    assert [name for name, command in commands.items() if "Example" not in (command.help or "")] == []
    assert [(name, param.name) for name, command in commands.items() for param in command.params if not getattr(param, "help", None)] == []
