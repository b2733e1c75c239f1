"""README.md's Python section runs as shown: its program prints exactly its Output block."""
from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT


def test_the_readme_python_program_prints_its_output(tmp_path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    want = re.search(r"Output:\n\n```text\n(.*?)```", section, re.S).group(1)
    (tmp_path / "readme.py").write_text(code)
    res = subprocess.run([sys.executable, "readme.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == want
