"""Plot frame-gap p99 / jitter p99 and server CPU against concurrent calls (BENCHMARKS.md).

.venv/bin/python bench/plot_capacity.py bench-out/results.json BENCHMARKS-capacity.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (gap_ax, cpu_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    colours = {"voxroute": "tab:blue", "baseline": "tab:red"}
    for name, server in results["servers"].items():
        steps = server["steps"]
        calls = [s["calls"] for s in steps]
        colour = colours.get(name, "black")
        gap_ax.plot(
            calls,
            [s["frame_gap_ms"]["p99"] for s in steps],
            "o-",
            color=colour,
            label=f"{name} frame gap p99",
        )
        gap_ax.plot(
            calls,
            [s["frame_jitter_ms"]["p99"] for s in steps],
            "s--",
            color=colour,
            alpha=0.6,
            label=f"{name} jitter p99",
        )
        cpu_ax.plot(
            calls,
            [s["server_cpu_pct"] for s in steps],
            "o-",
            color=colour,
            label=f"{name} server CPU",
        )
        cpu_ax.plot(
            calls,
            [s["load_cpu_pct"] for s in steps],
            ":",
            color=colour,
            alpha=0.5,
            label=f"load side CPU ({name} run)",
        )
    gap_ax.axhline(10, color="grey", lw=0.8, ls="--")
    gap_ax.set_yscale("log")
    gap_ax.set_xlabel("concurrent calls (server pinned to one core)")
    gap_ax.set_ylabel("ms (log)")
    gap_ax.set_title("outbound frame gap p99 and jitter p99")
    gap_ax.legend(fontsize=8)
    cpu_ax.axhline(100, color="grey", lw=0.8, ls="--")
    cpu_ax.set_xlabel("concurrent calls")
    cpu_ax.set_ylabel("% of one core")
    cpu_ax.set_title("server CPU (measured, steady state)")
    cpu_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    plot(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
