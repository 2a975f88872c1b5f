"""`bulkupload report --runs` and `--api-usage`: the runs the state remembers, and what each cost
in API calls: calls per file, by route, and the error and 429 rates. The figures Procore's API
Review Board asks for when an app requests a higher rate limit ("Request a Rate Limit Increase":
its traffic of the last 30 days, its error distribution by status and endpoint).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from .human import human_bytes, human_duration

__all__ = ["render_api_usage", "render_runs", "run_usage"]


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    summary = run.get("summary")
    return summary if isinstance(summary, dict) else {}


def run_usage(run: dict[str, Any]) -> dict[str, Any]:
    """One run's API figures: files it dealt with (uploaded or failed: each cost calls), calls,
    calls per file, and per route the calls, errors and 429s with their rates."""
    summary = _summary(run)
    routes: dict[str, dict[str, int]] = summary.get("api_usage") or {}
    calls = sum(r.get("calls", 0) for r in routes.values()) or int(summary.get("api_calls", 0))
    errors = sum(r.get("errors", 0) for r in routes.values())
    limited = sum(r.get("rate_limited", 0) for r in routes.values()) or int(
        summary.get("rate_limited_429", 0)
    )
    # A file a stop left unsent counts as failed but cost no call (`not_started`).
    files = sum(int(summary.get(k, 0)) for k in ("uploaded", "failed")) - int(
        summary.get("not_started", 0)
    )
    return {
        "run": run["id"],
        "target": run["target"],
        "started_at": run["started_at"],
        "files": files,
        "api_calls": calls,
        "calls_per_file": round(calls / files, 3) if files else None,
        "error_rate": round(errors / calls, 4) if calls else 0.0,
        "rate_limited_rate": round(limited / calls, 4) if calls else 0.0,
        "routes": {
            route: {
                **figures,
                "error_rate": round(figures.get("errors", 0) / figures["calls"], 4)
                if figures.get("calls")
                else 0.0,
            }
            for route, figures in sorted(routes.items())
        },
    }


def render_api_usage(runs: Sequence[dict[str, Any]], fmt: str, out: TextIO) -> None:
    """Every run's API figures: one JSON object per run (json), or a table per run."""
    usages = [run_usage(run) for run in runs if run.get("summary")]
    if fmt == "json":
        for usage in usages:
            out.write(json.dumps(usage, ensure_ascii=False) + "\n")
        return
    if not usages:
        out.write("no finished run in this state\n")
        return
    total_calls = sum(u["api_calls"] for u in usages)
    total_files = sum(u["files"] for u in usages)
    for usage in usages:
        per_file = usage["calls_per_file"]
        out.write(
            f"run {usage['run']} ({usage['target']}, {usage['started_at']}): "
            f"{usage['api_calls']:,} API calls for {usage['files']:,} files"
            + (f" = {per_file:.2f} per file" if per_file is not None else "")
            + f"; errors {usage['error_rate']:.1%}, 429s {usage['rate_limited_rate']:.1%}\n"
        )
        for route, figures in usage["routes"].items():
            out.write(
                f"    {figures['calls']:>8,}  {route}"
                + (f"  ({figures['errors']:,} errors)" if figures.get("errors") else "")
                + (f"  ({figures['rate_limited']:,} x 429)" if figures.get("rate_limited") else "")
                + "\n"
            )
    if total_files:
        out.write(
            f"all {len(usages)} runs: {total_calls:,} API calls for {total_files:,} files "
            f"= {total_calls / total_files:.2f} per file\n"
        )


def render_runs(runs: Sequence[dict[str, Any]], fmt: str, out: TextIO) -> None:
    """The runs the state remembers, oldest first: when, what they did, how they ended."""
    if fmt == "json":
        for run in runs:
            out.write(json.dumps(run, ensure_ascii=False) + "\n")
        return
    for run in runs:
        summary = _summary(run)
        if not summary:
            out.write(f"run {run['id']} ({run['target']}, {run['started_at']}): unfinished\n")
            continue
        ended = (
            "stopped by the time limit"
            if summary.get("stopped_by_time_limit")
            else "interrupted"
            if summary.get("interrupted")
            else "finished"
        )
        out.write(
            f"run {run['id']} ({run['target']}, {run['started_at']}, "
            f"{human_duration(float(summary.get('duration_s', 0)))}, {ended}): "
            f"{summary.get('uploaded', 0):,} uploaded "
            f"({human_bytes(int(summary.get('bytes_uploaded', 0)))}), "
            f"{summary.get('skipped', 0):,} skipped, {summary.get('failed', 0):,} failed; "
            f"{summary.get('api_calls', 0):,} API calls\n"
        )
