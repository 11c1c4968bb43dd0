"""Every `manage.py` command line of the README names a real command with options it accepts."""
import re
import shlex
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

README = Path(__file__).resolve().parents[1] / "README.md"


def command_lines():
    text = README.read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if "manage.py " in line:
                lines.append(line.split("manage.py ", 1)[1].split("  #")[0].strip())
    return lines


def test_the_readme_has_command_lines():
    assert len(command_lines()) > 15


@pytest.mark.parametrize("line", command_lines())
def test_readme_command_line_parses(line):
    args = shlex.split(re.sub(r"<[^>]*>", "X", line))
    name, args = args[0], args[1:]
    commands = get_commands()
    assert name in commands, f"{name} is not a command"
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    parser.parse_args(args)  # a CommandError names an unknown option or a missing argument
