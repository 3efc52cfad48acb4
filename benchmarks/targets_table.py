"""Each front point of a study launched on several deployment targets, on every target.

    .venv/bin/python benchmarks/targets_table.py NAME [--run-dir DIR]

Reads the launched study (no timing here: the figures are the study's final re-timing, each
target's ratio timed interleaved with the teacher on that target) and prints a markdown table:
for every point on some target's front, its bytes, and per target its validation accuracy,
latency ratio to the teacher there, whether it is on that target's front, and the kernels that
target runs. Then the points that change rank between targets.
"""

from __future__ import annotations

import argparse

from automl.study.front import study_points
from automl.study.record import open_launched
from automl.study.target_view import point_on, rank_changes, target_front


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name")
    parser.add_argument("--run-dir")
    args = parser.parse_args()
    launched = open_launched(args.name, args.run_dir)
    record, study = launched.record, launched.study
    names = [t.name for t in record.target_list]
    fronts = {t: {p.trial for p in target_front(study, record.objectives, t)} for t in names}
    shown = sorted(set().union(*fronts.values()))
    points = {p.trial: p for p in study_points(study, record.objectives)}
    teacher = record.teacher
    head = ["trial", "bytes"] + [f"{t} {c}" for t in names for c in ("val acc", "latency ×", "front")]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    print("| teacher | " + f"{teacher.size_bytes:,} | "
          + " | ".join(f"{teacher.targets[t].accuracy:.4f} | 1.000 ({teacher.targets[t].latency_ms * 1000:.1f} µs) | "
                       for t in names) + " |")
    for n in sorted(shown, key=lambda n: -points[n].metrics["accuracy"]):
        cells = [str(n), f"{points[n].metrics['size_bytes']:,}"]
        for t in names:
            on = point_on(points[n], t)
            cells += ([f"{on.accuracy:.4f}", f"{on.ratio:.3f}", "yes" if n in fronts[t] else ""] if on.error is None
                      else ["—", "cannot run", ""])
        print("| " + " | ".join(cells) + " |")
    print()
    print("| trial | " + " | ".join(f"kernels on {t}" for t in names) + " |")
    print("|" + "---|" * (len(names) + 1))
    for n in shown:
        print(f"| {n} | " + " | ".join(str(point_on(points[n], t).kernels or point_on(points[n], t).error)
                                       for t in names) + " |")
    changes = rank_changes(study, record.objectives, names)
    print()
    for t in names:
        only = [n for n, on in changes.items() if on[t] and not all(on.values())]
        print(f"on {t}'s front only: {', '.join(map(str, only)) or 'none'}")


if __name__ == "__main__":
    main()
