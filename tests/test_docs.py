"""The user guide (docs/) stays true to the code.

1. ``docs/cli.md`` is what ``scripts/gen_cli_docs.py`` generates from ``build_parser()``.
2. Every relative Markdown link in ``docs/*.md`` and ``README.md`` points at a file that exists
   (and at a heading of it, for ``page.md#anchor`` and ``#anchor`` links to Markdown pages).
3. Every ``humimic <subcommand>`` written in code (blocks or backticks) in ``docs/*.md`` is a
   real subcommand.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from humimic.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GENERATOR = ROOT / "scripts" / "gen_cli_docs.py"

_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r'!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)')
# `humimic` then optional global options, then the word in the subcommand position
_COMMAND = re.compile(r"(?<![\w./-])humimic(?:[ \t]+(?:--debug|--verbose|-v))*[ \t]+([a-z][\w-]*)")
_GENERATED_WITH = re.compile(r"with Python (\d+\.\d+)")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_cli_docs"] = module
    spec.loader.exec_module(module)
    return module


def _doc_pages() -> list[Path]:
    pages = sorted(DOCS.glob("*.md"))
    assert pages, f"no Markdown pages in {DOCS}"
    return pages


def _strip_code(text: str) -> str:
    """The prose of a page: fenced blocks and inline code removed (links there are not links)."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def _code_spans(text: str) -> list[str]:
    """Fenced blocks and inline code spans of a page."""
    fenced = [m.group(0) for m in _FENCE.finditer(text)]
    return fenced + _INLINE_CODE.findall(_FENCE.sub("", text))


def _subcommand_names() -> set[str]:
    gen = _generator()
    return set(gen.subcommands(build_parser()))


# -- 1. docs/cli.md is generated from the parser ------------------------------------------------
def test_cli_md_is_up_to_date() -> None:
    gen = _generator()
    expected = gen.render()
    current = (DOCS / "cli.md").read_text(encoding="utf-8")
    recorded = _GENERATED_WITH.search(current)
    assert recorded, "docs/cli.md has no generator header; run python scripts/gen_cli_docs.py"
    if recorded.group(1) == gen.python_version():
        assert current == expected, "docs/cli.md is stale: run python scripts/gen_cli_docs.py"
        return
    # argparse lays help out differently in other Python versions: check the content instead
    for name, sub in gen.subcommands(gen.build_parser()).items():
        heading = f"## `humimic {name}`"
        assert heading in current, f"docs/cli.md lacks {heading}"
        section = current.split(heading, 1)[1].split("\n## ", 1)[0]
        for action in sub._actions:
            for option in action.option_strings:
                assert option in section, f"docs/cli.md: humimic {name} lacks {option}"
    pytest.skip(
        f"docs/cli.md was generated with Python {recorded.group(1)}; byte-for-byte check "
        f"needs it (this is {gen.python_version()}); content checked"
    )


def test_generator_check_flags_a_stale_page(tmp_path: Path) -> None:
    gen = _generator()
    stale = tmp_path / "cli.md"
    stale.write_text("# Command-line reference\n\nold text\n", encoding="utf-8")
    assert gen.main(["--check", "-o", str(stale)]) == 1
    assert gen.main(["-o", str(stale)]) == 0
    assert gen.main(["--check", "-o", str(stale)]) == 0


def test_cli_md_is_machine_independent() -> None:
    text = _generator().render()
    assert str(ROOT) not in text, "an absolute path of this checkout leaked into docs/cli.md"
    assert "(default: the number of CPUs)" in text  # retarget --workers


# -- 2. relative links ---------------------------------------------------------------------------
def _relative_links(page: Path) -> list[str]:
    links = _LINK.findall(_strip_code(page.read_text(encoding="utf-8")))
    return [t for t in links if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.IGNORECASE)]


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown page (duplicates get ``-1``, ``-2``, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for line in _FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).replace("`", "").lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


@pytest.mark.parametrize("page", [*_doc_pages(), ROOT / "README.md"], ids=lambda p: p.name)
def test_relative_links_point_at_files(page: Path) -> None:
    broken = []
    for target in _relative_links(page):
        path, _, anchor = target.partition("#")
        dest = page.parent / path if path else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def test_anchor_slugs() -> None:
    page = DOCS / "deploy.md"
    anchors = _anchors(page)
    assert {"recording-to-rosbag2-mcap", "bring-up-on-a-real-g1", "the-policy-artifact"} <= anchors


def test_link_pattern_sees_links() -> None:
    page = "see [a](retarget.md#x), ![img](pic.png) and `[no](code.md)`, [web](https://x.org)"
    assert _LINK.findall(_strip_code(page)) == ["retarget.md#x", "pic.png", "https://x.org"]


# -- 3. commands named in code are real ----------------------------------------------------------
def _commands_in(text: str) -> list[str]:
    return [m.group(1) for span in _code_spans(text) for m in _COMMAND.finditer(span)]


@pytest.mark.parametrize("page", _doc_pages(), ids=lambda p: p.name)
def test_commands_in_code_are_subcommands(page: Path) -> None:
    valid = _subcommand_names()
    unknown = sorted(set(_commands_in(page.read_text(encoding="utf-8"))) - valid)
    assert not unknown, (
        f"{page.relative_to(ROOT)}: `humimic {unknown[0]}` is not a subcommand "
        f"(unknown: {unknown}; valid: {sorted(valid)})"
    )


def test_command_pattern() -> None:
    text = (
        "```bash\nhumimic retarget a.bvh -o a.npz\npython -m humimic deploy p\n"
        "humimic -v --debug train run\nimport humimic\nfrom humimic.cli import main\n```\n"
        "1. a list item:\n\n   ```bash\n   humimic sim-robot --network lo\n   ```\n\n"
        "Run `humimic frobnicate x` or `humimic/data/policy`; prose humimic render is ignored."
    )
    assert _commands_in(text) == ["retarget", "deploy", "train", "sim-robot", "frobnicate"]
