"""The README's and the guides' commands are real: every `artgen ...` line in a shell block of README.md or docs/*.md
parses, every `python -m benchmarks.NAME` names a runner that takes the flags shown, and the quickstart's
commands are what CI runs."""

import re
import shlex
from pathlib import Path

import pytest

from artgen.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = [ROOT / "README.md", ROOT / "benchmarks" / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def shell_lines(text):
    """Each command of each ```bash block: (words), split at && and ;, comments and line continuations removed."""
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("#"):
                continue
            for part in re.split(r"&&|;", line):
                words = shlex.split(part.strip())
                if words:
                    yield words


def readme_commands(text=README):
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
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


COMMANDS = [c for page in PAGES for c in readme_commands(page.read_text(encoding="utf-8"))]
BENCHMARK_RUNS = [
    w
    for page in PAGES
    for w in shell_lines(page.read_text(encoding="utf-8"))
    if w[:2] == ["python", "-m"] and len(w) > 2 and w[2].startswith("benchmarks.")
]
SCRIPT_RUNS = [
    w
    for page in PAGES
    for w in shell_lines(page.read_text(encoding="utf-8"))
    if w[0].startswith("python") and len(w) > 1 and w[1].endswith(".py")
]


def test_readme_has_artgen_commands():
    assert len(readme_commands()) >= 3
    assert len(COMMANDS) >= 30  # the guides hold the rest


def test_readme_fits_a_front_page():
    assert len(README.splitlines()) <= 250 and len(README.encode()) <= 16_000


def test_readme_links_resolve():
    """Every relative link and picture of README.md and docs/*.md points at a file that exists."""
    missing = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)}: {target}")
    assert not missing, missing


@pytest.mark.parametrize("words", BENCHMARK_RUNS, ids=[" ".join(w)[:60] for w in BENCHMARK_RUNS])
def test_benchmark_command_names_a_runner_and_its_flags(words):
    """Cheap: the runner's file exists and defines every flag shown (no import, nothing run)."""
    _defines_flags(ROOT / "benchmarks" / (words[2].split(".", 1)[1] + ".py"), words, words[3:])


@pytest.mark.parametrize("words", SCRIPT_RUNS, ids=[" ".join(w)[:60] for w in SCRIPT_RUNS])
def test_script_command_names_a_script_and_its_flags(words):
    _defines_flags(ROOT / words[1], words, words[2:])


def _defines_flags(path, words, args):
    """The file ``path`` exists and its source names every ``--flag`` among ``args`` (as a quoted string; ``--record``
    also through ``benchmarks._results.add_record_flag``, which defines it)."""
    assert path.is_file(), f"no {path.relative_to(ROOT)} for {' '.join(words)}"
    source = path.read_text(encoding="utf-8")
    for flag in (w.split("=", 1)[0] for w in args if w.startswith("--")):
        shared = flag == "--record" and "add_record_flag(" in source
        assert shared or f'"{flag}"' in source, f"{path.name} has no {flag}: {' '.join(words)}"


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
    assert 'pip install -e ".[dev]"' in install
    assert 'pip install -e ".[dev,studio]"' in ci  # the README's install, plus what the studio's browser tests need
    assert test.strip() in ci
