"""Type checkers understand output classes: mypy accepts the keyword and positional constructors of
user and built-in classes and rejects wrong field names and types (tests/typing/constructors.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent / "typing" / "constructors.py"


def expected_errors() -> set[tuple[int, str]]:
    """(line, error code) for every line marked ``# E: <code>``."""
    marked = set()
    for number, line in enumerate(EXAMPLES.read_text().splitlines(), start=1):
        match = re.search(r"# E: ([\w-]+)", line)
        if match:
            marked.add((number, match.group(1)))
    return marked


# fastoutput's annotations name torch and transformers types; analysing those packages would take a
# minute and say nothing about fastoutput.
MYPY_CONFIG = """\
[mypy]
strict = True
[mypy-torch.*,transformers.*]
follow_imports = skip
"""


def test_mypy_understands_constructors(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    config = tmp_path / "mypy.ini"
    config.write_text(MYPY_CONFIG)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), "--no-incremental", "--show-error-codes",
         str(EXAMPLES)],
        capture_output=True,
        text=True,
        check=False,
    )
    reported = {
        (int(match.group(1)), match.group(2))
        for match in re.finditer(r"constructors\.py:(\d+): error: .*\[([\w-]+)\]$", result.stdout, re.M)
    }
    assert reported == expected_errors(), result.stdout
