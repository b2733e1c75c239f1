"""Shared fixtures: unique segment names (this run's id + pid + random), removed after each test, also on failure."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

pytest_plugins = ["procs"]

ROOT = Path(__file__).resolve().parents[2]
RUN = os.environ.get("SHMBUS_TEST_RUN", "py")


def shm_path(name: str) -> Path:
    return Path("/dev/shm") / f"shmbus.{name}"


@pytest.fixture
def unique_name() -> Iterator[Callable[[str], str]]:
    """unique_name("label") -> "test-<run>-py<pid>x<hex>-label"; every name made (and the Rpc response queues
    derived from it) is unlinked when the test ends."""
    made: List[str] = []

    def make(label: str = "n") -> str:
        name = f"test-{RUN}-py{os.getpid()}x{secrets.token_hex(3)}-{label}"
        made.append(name)
        return name

    yield make
    for name in made:
        for p in Path("/dev/shm").glob(f"shmbus.{name}*"):
            try:
                p.unlink()
            except FileNotFoundError:
                pass


TEST_DEADLINE_S = int(os.environ.get("SHMBUS_PYTEST_DEADLINE", "180"))


@pytest.fixture(autouse=True)
def deadline():
    """Fails a test that runs longer than TEST_DEADLINE_S instead of hanging npm test: SIGALRM raises in the main
    thread, which every blocking shmbus call reaches at least every 100 ms (their waits run in slices)."""
    import signal

    def expired(_sig, _frame):
        raise AssertionError(f"test still running after {TEST_DEADLINE_S} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_DEADLINE_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
