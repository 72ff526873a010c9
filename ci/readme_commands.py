"""Print the set-up commands of the README: the lines of its first fenced code block.

CI runs what this prints, so that the README and CI cannot drift apart. Comment lines (``#``)
and blank lines are left out; anything else is a command, one a line. The README promises
exactly two (install and run the demo; install and run the tests), so any other count is an
error: exit status 1 and a message on stderr.

    python3 ci/readme_commands.py [README.md]
"""

from __future__ import annotations

import sys
from pathlib import Path

EXPECTED_COMMANDS = 2


def first_fenced_block(text: str) -> list[str]:
    """The lines between the first opening fence (```) and the fence that closes it."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("```")), None)
    if start is None:
        raise ValueError("no fenced code block (```) in the README")
    for end in range(start + 1, len(lines)):
        if lines[end].lstrip().startswith("```"):
            return lines[start + 1 : end]
    raise ValueError(f"the code block opened on line {start + 1} is never closed")


def commands(text: str) -> list[str]:
    """The commands of the README's first fenced block: its lines that are not comments."""
    found = [line.strip() for line in first_fenced_block(text)]
    found = [line for line in found if line and not line.startswith("#")]
    if len(found) != EXPECTED_COMMANDS:
        raise ValueError(
            f"expected {EXPECTED_COMMANDS} commands in the README's first code block; "
            f"got {len(found)}: {found}"
        )
    return found


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "README.md")
    try:
        found = commands(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
