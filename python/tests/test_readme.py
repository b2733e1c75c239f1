"""README.md's Python section runs as shown: its program prints exactly its Output block."""
from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT


def test_the_readme_python_programs_print_their_output(tmp_path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    codes = re.findall(r"```python\n(.*?)```", section, re.S)
    wants = re.findall(r"Output:\n\n```text\n(.*?)```", section, re.S)
    assert len(codes) == len(wants) >= 2  # every program has its Output block
    for i, (code, want) in enumerate(zip(codes, wants)):
        (tmp_path / f"readme{i}.py").write_text(code)
        res = subprocess.run([sys.executable, f"readme{i}.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert res.stdout == want
