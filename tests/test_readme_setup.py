"""The README's set-up block, as CI reads it (``ci/readme_commands.py``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _reader():
    path = ROOT / "ci" / "readme_commands.py"
    spec = importlib.util.spec_from_file_location("readme_commands", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_starts_with_the_two_setup_commands():
    install_demo, install_test = _reader().commands((ROOT / "README.md").read_text())
    assert install_demo.startswith("python -m pip install ") and '".[demo]"' in install_demo
    assert install_demo.endswith("&& kmeans-xp demo")
    assert '-e ".[test]"' in install_test and install_test.endswith("&& python -m pytest")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# title\nno code here\n", "no fenced code block"),
        ("```bash\necho one\n", "never closed"),
        ("```bash\n# only a comment\necho one\n```\n", "got 1"),
        ("```\na\nb\nc\n```\n```\nd\n```\n", "got 3"),
    ],
)
def test_anything_but_two_commands_in_the_first_block_is_an_error(text, message):
    with pytest.raises(ValueError, match=message):
        _reader().commands(text)


def test_comments_and_blank_lines_are_not_commands():
    text = "intro\n```bash\n# 1. demo\n\n  first && second  \n# 2. tests\nthird\n```\n```\nx\n```"
    assert _reader().commands(text) == ["first && second", "third"]
