"""Every command the README shows exists, and its ``--help`` works; the two commands (``make
demo``, ``make test``) are Makefile targets and CI calls the test one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from humimic.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _subcommands() -> dict[str, object]:
    parser = build_parser()
    for action in parser._actions:  # argparse keeps subparsers here
        if action.__class__.__name__ == "_SubParsersAction":
            return dict(action.choices)  # type: ignore[attr-defined]
    raise AssertionError("humimic has no subcommands")


def _readme_commands() -> list[str]:
    """``humimic X`` in code (fenced blocks and backticks) of the README."""
    code = re.findall(r"```.*?```", README, flags=re.S) + re.findall(r"`[^`\n]+`", README)
    found = set()
    for chunk in code:
        found.update(re.findall(r"(?:^|[\s`$(])humimic ([a-z][a-z0-9-]*)", chunk))
    return sorted(found)


def test_the_readme_shows_commands() -> None:
    # the README documents the main stages; if this drops, the parsing below broke
    assert {"demo", "retarget", "train", "eval", "export", "deploy", "sim-robot"} <= set(
        _readme_commands()
    )


@pytest.mark.parametrize("command", _readme_commands())
def test_every_readme_command_exists_and_has_help(command: str, capsys) -> None:
    subs = _subcommands()
    assert command in subs, f"README shows `humimic {command}`; valid: {sorted(subs)}"
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: humimic {command}") and len(text.splitlines()) > 3


def test_the_two_commands_are_make_targets_and_ci_runs_the_test_one() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in README and "make test" in README
    assert re.search(r"^demo:", makefile, flags=re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
