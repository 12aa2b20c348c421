"""Sampling profiles of the running service with py-spy (installed separately: it is a
profiler for this benchmark, not a dependency of the service)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def start_py_spy(pid: int, out: Path, duration: int) -> subprocess.Popen[bytes]:
    """Record `pid` for `duration` s: a speedscope profile and a flame graph beside `out`."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise RuntimeError("--profile needs py-spy: pip install py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [
        exe, "record", "--pid", str(pid), "--duration", str(duration), "--rate", "100",
        "--format", "raw", "--output", f"{out}.folded", "--nonblocking",
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def py_spy_prefix(out: Path) -> list[str]:
    """The command prefix that records a command and its subprocesses into `out` (folded)."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise RuntimeError("--profile needs py-spy: pip install py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    return [exe, "record", "--subprocesses", "--rate", "100", "--format", "raw", "--output",
            str(out), "--"]  # fmt: skip


def top_frames(folded: Path, limit: int = 25) -> list[tuple[str, float]]:
    """The functions with the most samples in a folded-stacks file (self plus children)."""
    totals: dict[str, int] = {}
    samples = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples += int(count)
        for frame in set(stack.split(";")):
            totals[frame] = totals.get(frame, 0) + int(count)
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:limit]
    return [(frame, round(100 * n / max(samples, 1), 1)) for frame, n in ranked]
