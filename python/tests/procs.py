"""Real peer processes for the cross-language tests: Python (peers/pypeer.py in this venv), Node (the compiled
fixtures in dist/test/fixtures) and C (c/build/bin). Each speaks lines on stdout; `line(prefix)` waits for one."""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, List, Optional

import pytest

from conftest import ROOT

PYPEER = Path(__file__).resolve().parent / "peers" / "pypeer.py"
NODE = shutil.which("node") or "node"
LINE_TIMEOUT = 60.0


def node_fixture(name: str) -> Path:
    p = ROOT / "dist" / "test" / "fixtures" / f"{name}.js"
    if not p.is_file():
        pytest.fail(f"{p} is missing: compile the Node side first (npx tsc -p tsconfig.json)")
    return p


def c_program(name: str) -> Path:
    """c/build/bin/<name>. Skips (with the reason) only while its source does not exist yet in c/tests/peers;
    a source without a build is a failure (npm test builds the C side before pytest)."""
    src = ROOT / "c" / "tests" / "peers" / f"{name}.c"
    exe = ROOT / "c" / "build" / "bin" / name
    if not src.is_file():
        pytest.skip(f"no C peer program {src.relative_to(ROOT)} in this tree")
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe} is missing: build the C side first (make -C c)")
    return exe


class Peer:
    def __init__(self, argv: List[str], label: str) -> None:
        self.label = label
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, bufsize=1, cwd=str(ROOT))
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.out: List[str] = []
        self.err: List[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            line = line.rstrip("\n")
            self.out.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.p.stderr is not None
        for line in self.p.stderr:
            self.err.append(line)

    def line(self, prefix: str, timeout: float = LINE_TIMEOUT) -> str:
        """The next stdout line that starts with `prefix` (others are skipped); fails if the peer exits first."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"{self.label}: no line {prefix!r} within {timeout} s; stderr: {''.join(self.err)[-2000:]}")
            if line is None:
                self.p.wait(5)
                raise AssertionError(f"{self.label} exited ({self.p.returncode}) before {prefix!r}; stderr: {''.join(self.err)[-2000:]}")
            if line.startswith(prefix):
                return line

    def send(self, text: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()

    def wait_ok(self, timeout: float = LINE_TIMEOUT) -> None:
        rc = self.p.wait(timeout)
        assert rc == 0, f"{self.label} exited {rc}; stderr: {''.join(self.err)[-2000:]}"

    def kill9(self) -> None:
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)


def py(role: str, *args: Any) -> Peer:
    return Peer([sys.executable, str(PYPEER), role, *[_arg(a) for a in args]], f"python {role}")


def node(fixture: str, *args: Any) -> Peer:
    return Peer([NODE, str(node_fixture(fixture)), *[_arg(a) for a in args]], f"node {fixture}")


def c(program: str, *args: Any) -> Peer:
    return Peer([str(c_program(program)), *[_arg(a) for a in args]], f"c {program}")


def _arg(a: Any) -> str:
    return json.dumps(a) if isinstance(a, (dict, list)) else str(a)


@pytest.fixture
def peers():
    """Collects the peers a test starts and kills whatever is left at the end (also on failure)."""
    started: List[Peer] = []

    class Starter:
        def py(self, *a: Any) -> Peer:
            started.append(py(*a))
            return started[-1]

        def node(self, *a: Any) -> Peer:
            started.append(node(*a))
            return started[-1]

        def c(self, *a: Any) -> Peer:
            started.append(c(*a))
            return started[-1]

    yield Starter()
    for p in started:
        p.stop()
