"""docs/cli.md covers every command of the ``trustmesh --help`` tree, and the README shows how
to get the command (issue 13)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from trustmesh.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def _paths(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            out += _paths(command, path + " ")
        else:
            out.append(path)
    return out


def test_every_command_has_a_heading_in_docs_cli_md():
    headings = [line for line in (ROOT / "docs" / "cli.md").read_text().splitlines() if line.startswith("#")]
    commands = _paths(cli)
    assert len(commands) > 30 and "deal pending" in commands and "contact add" in commands
    missing = [c for c in commands if not any(re.search(f"`{c}[ `]", line) for line in headings)]
    assert not missing, f"commands without a heading in docs/cli.md: {missing}"


def test_every_option_of_every_command_is_named_in_docs_cli_md():
    text = (ROOT / "docs" / "cli.md").read_text()
    missing = []

    def walk(group: click.Group, prefix: str = "") -> None:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                walk(command, f"{prefix}{name} ")
                continue
            for param in command.params:
                opts = getattr(param, "opts", [])
                if isinstance(param, click.Option) and not any(re.search(re.escape(o) + r"[ `=\]|,)]", text) for o in opts):
                    missing.append(f"{prefix}{name} {opts}")
    walk(cli)
    assert not missing, missing


def test_the_readme_starts_with_make_run_make_test_and_how_to_get_the_command():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```sh", 1)[1].split("```", 1)[0].strip().splitlines()
    assert block[0].startswith("make run") and block[1].startswith("make test")
    assert any(line.startswith("make install") for line in block[2:4]), block
    makefile = (ROOT / "Makefile").read_text()
    assert "\ninstall:" in makefile and "pipx" in makefile and ".local/bin" in makefile
