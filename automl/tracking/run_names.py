"""Readable MLflow run names: the trial number and a short summary of the candidate."""

from __future__ import annotations

from typing import Any


def run_name(number: int, candidate: dict[str, Any]) -> str:
    """E.g. ``trial-0007 · cnn[8,16] · prune 0.5 ch · w4a8 · share k16 · kd``; per-layer widths
    read ``w8:4,4:8a32`` (edge : per-group widths : edge), per-layer shared values ``k0:4,16:0``."""
    arch = candidate.get("arch", {})
    choices = arch.get("choices", {})
    widths = choices.get("widths")
    parts = [f"trial-{number:04d}", arch.get("family", "?") + (f"[{','.join(map(str, widths))}]" if widths else "")]
    pruning = candidate.get("pruning", {})
    if pruning.get("ratio"):
        short = {"channel": "ch", "unstructured": "unstr"}.get(pruning.get("granularity"), pruning.get("granularity"))
        parts.append(f"prune {pruning['ratio']:g} {short}")
    quant = candidate.get("quant", {})
    wb, ab = quant.get("weight_bits", 32), quant.get("activation_bits", 32)
    wtext = str(wb)
    if quant.get("layer_bits") or quant.get("edge_bits"):
        inner = ",".join(map(str, quant.get("layer_bits") or [wb]))
        edge = quant.get("edge_bits")
        wtext = f"{edge}:{inner}:{edge}" if edge else inner
    parts.append(f"w{wtext}a{ab}" + (" qat" if quant.get("mode") == "qat" and wb < 16 else ""))
    share = candidate.get("share", {})
    if share.get("clusters") or any(share.get("layer_clusters") or ()) or share.get("edge_clusters"):
        inner = ",".join(map(str, share.get("layer_clusters") or [share.get("clusters", 0)]))
        edge = share.get("edge_clusters")
        parts.append("share k" + (f"{edge}:{inner}:{edge}" if edge is not None else inner))
    if candidate.get("distill", {}).get("enabled"):
        parts.append("kd")
    return " · ".join(parts)
