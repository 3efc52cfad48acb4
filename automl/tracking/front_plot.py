"""The Pareto-front figure logged to the study's parent run after every finished trial."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from automl.study.front import TrialPoint  # noqa: E402


def front_figure(points: list[TrialPoint], teacher: dict[str, float], title: str) -> Figure:
    """Validation accuracy against artifact size and against latency, front highlighted."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for ax, key, label in ((axes[0], "size_bytes", "artifact size (kB)"),
                           (axes[1], "latency_ms", "latency (ms, batch 1, ORT CPU)")):
        scale = 1e-3 if key == "size_bytes" else 1.0
        rest = [p for p in points if not p.on_front]
        front = sorted((p for p in points if p.on_front), key=lambda p: p.metrics[key])
        ax.scatter([p.metrics[key] * scale for p in rest], [p.metrics["accuracy"] for p in rest],
                   s=18, c=["#bbbbbb" if p.feasible else "#f2b8b8" for p in rest],
                   label="dominated / infeasible (red)")
        ax.scatter([p.metrics[key] * scale for p in front], [p.metrics["accuracy"] for p in front],
                   s=36, c="#1f77b4", label="Pareto front (3 objectives)", zorder=3)
        for p in front:
            ax.annotate(str(p.trial), (p.metrics[key] * scale, p.metrics["accuracy"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        if teacher:
            ax.scatter([teacher[key] * scale], [teacher["accuracy"]], marker="*", s=140, c="#d62728",
                       label="teacher", zorder=4)
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    return fig
