"""Every ``python`` block of docs/readers.md and docs/judgers.md runs as written.

Blocks fenced ```python skip need an LLM endpoint; their behaviour is covered by test_llm_judge.py
and test_generated_reader.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks():
    for name in ("readers.md", "judgers.md"):
        text = (DOCS / name).read_text(encoding="utf-8")
        for number, match in enumerate(BLOCK.finditer(text), start=1):
            yield pytest.param(match.group(1), id=f"{name}#{number}")


@pytest.mark.parametrize("code", list(blocks()))
def test_doc_example_runs(code, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (
        f"example failed:\n{code}\n--- stderr ---\n{result.stderr[-3000:]}"
    )
    assert result.stdout.strip(), "an example should show its result"
