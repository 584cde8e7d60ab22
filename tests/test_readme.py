"""The README's commands are real: every `artgen ...` line parses, and the quickstart's test command is what CI runs."""

import re
import shlex
from pathlib import Path

import pytest

from artgen.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    commands = []
    for block in blocks:
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split(" #", 1)[0].strip()
            for part in re.split(r"&&|;", line):
                words = shlex.split(part.strip())
                if not words:
                    continue
                if words[0] == "artgen":
                    commands.append(words[1:])
                elif "artgen" in words and "-m" in words:  # torchrun ... -m artgen ...
                    commands.append(words[words.index("artgen") + 1 :])
    return commands


COMMANDS = readme_commands()


def test_readme_has_artgen_commands():
    assert len(COMMANDS) >= 5


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c)[:60] for c in COMMANDS])
def test_readme_command_parses(argv):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 0 for --help/--version, 2 for errors
        assert exc.code == 0, f"README command does not parse: artgen {' '.join(argv)}"
        return
    assert hasattr(args, "func"), f"README command names no action: artgen {' '.join(argv)}"


def test_ci_runs_the_readme_install_and_test_commands():
    quick = re.search(r"## Quickstart.*?```bash\n(.*?)```", README, flags=re.S).group(1).strip().splitlines()
    install, test = quick[0], quick[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[dev]"' in install and 'pip install -e ".[dev]"' in ci
    assert test.strip() in ci
