"""Comparisons between evaluated runs: before / after a recipe, adapter A vs B, sampling budget vs budget.

Runs are read from the flat keys tinyforge.evaluation.evaluate_runs writes (`<label>/<bench>/<metric>`)
and from each run's `per_task.jsonl` under `<root>/<label>/<bench>/`:

    flat = evaluation.evaluate_runs(specs, sampler, run_dir / "eval", [("before", False), ("after", adapter)])
    flat.update(comparisons.deltas(flat, "before", "after", root=run_dir / "eval"))
    print(comparisons.table(flat, ["before", "after"], benches))
    print(comparisons.verdict(flat, "humaneval"))

The interval of a change is paired over tasks: both runs answer the same prompts with the same
per-prompt seeds, and the interval of a difference of two independent scores would be far wider than
the truth. A verdict says "lift" only when that 95% interval excludes zero.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

from tinyforge.io import read_json, read_jsonl, write_json

# The pass@1 metrics a comparison reports: plain, and HumanEval+ / MBPP+'s base and plus verdicts.
PASS_KEYS = ("pass@1", "base/pass@1", "plus/pass@1")


def deltas(flat: dict, before: str = "before", after: str = "after", root: Path | str | None = None,
           seed: int = 0) -> dict:
    """`delta/<bench>/<metric>` = after - before for the pass@1 metrics (and n_passed) both runs have;
    with `root`, also each bench's paired interval (`paired_delta`). With labels other than
    before/after, keys are `delta/<after>-<before>/<bench>/...`."""
    prefix = "delta" if (before, after) == ("before", "after") else f"delta/{after}-{before}"
    out, benches = {}, set()
    for key, v in flat.items():
        if not key.startswith(before + "/"):
            continue
        rest = key[len(before) + 1:]
        bench, metric = rest.split("/", 1)
        other = flat.get(f"{after}/{rest}")
        if metric in PASS_KEYS + ("n_passed",) and isinstance(v, (int, float)) and isinstance(other, (int, float)):
            out[f"{prefix}/{rest}"] = round(other - v, 6)
            benches.add(bench)
    if root is not None:
        for bench in sorted(benches):
            got = paired_delta(Path(root) / before / bench, Path(root) / after / bench, seed=seed)
            out.update({f"{prefix}/{bench}/{k}": v for k, v in got.items()})
    return out


def paired_delta(before_dir: Path | str, after_dir: Path | str, seed: int = 0) -> dict:
    """after - before of per-task pass@1 on the tasks both runs have, with a bootstrap interval over
    tasks: `pass@1_ci_low`, `pass@1_ci_high`, `n_tasks` ({} when a run has no per_task.jsonl)."""
    from tinyforge.metrics import bootstrap_ci

    rows = []
    for d in (before_dir, after_dir):
        path = Path(d) / "per_task.jsonl"
        if not path.exists():
            return {}
        rows.append({r["task_id"]: r["pass@1"] for r in read_jsonl(path) if "pass@1" in r})
    common = sorted(set(rows[0]) & set(rows[1]))
    if not common:
        return {}
    low, high = bootstrap_ci([rows[1][t] - rows[0][t] for t in common], seed=seed)
    return {"pass@1_ci_low": round(low, 6), "pass@1_ci_high": round(high, 6), "n_tasks": len(common)}


def verdict(flat: dict, bench: str = "humaneval", before: str = "before", after: str = "after",
            metric: str = "pass@1") -> str | None:
    """One plain sentence on what changed `bench` `metric` (pass@1; the TTS synergy: oracle): a lift only
    when the paired 95% interval excludes zero; zero and negative changes are called what they are."""
    prefix = "delta" if (before, after) == ("before", "after") else f"delta/{after}-{before}"
    b, a = flat.get(f"{before}/{bench}/{metric}"), flat.get(f"{after}/{bench}/{metric}")
    if b is None or a is None:
        return None
    d = a - b
    lo, hi = flat.get(f"{prefix}/{bench}/{metric}_ci_low"), flat.get(f"{prefix}/{bench}/{metric}_ci_high")
    n = flat.get(f"{prefix}/{bench}/n_tasks")
    ci = f" (paired 95% CI over {n} tasks: {100 * lo:+.1f} to {100 * hi:+.1f} pp)" if lo is not None else ""
    move = f"{bench} {metric} {100 * b:.1f}% -> {100 * a:.1f}%"
    if lo is not None and lo > 0:
        return f"lift: {move}, {100 * d:+.1f} pp{ci}"
    if lo is not None and hi < 0:
        return f"regression: {move}, {100 * d:+.1f} pp{ci}"
    if d == 0:
        return f"no lift: {move}, unchanged{ci}"
    if d < 0:
        return f"no lift: {move}, {100 * d:+.1f} pp, within noise{ci}"
    return f"no clear lift: {move}, {100 * d:+.1f} pp, not distinguishable from zero{ci}"


def paired_rows(before: Sequence[dict], after: Sequence[dict], column: str, seed: int = 0) -> dict:
    """after - before of one per-task column (rows with task_id, e.g. tinyforge.tts's curve rows) on the
    tasks both have: `delta`, `ci_low`, `ci_high` (paired bootstrap over tasks), `n_tasks`."""
    from tinyforge.metrics import bootstrap_ci

    b = {r["task_id"]: r[column] for r in before if column in r}
    a = {r["task_id"]: r[column] for r in after if column in r}
    common = [t for t in b if t in a]
    if not common:
        return {}
    diffs = [a[t] - b[t] for t in common]
    low, high = bootstrap_ci(diffs, seed=seed)
    return {"delta": round(sum(diffs) / len(diffs), 6), "ci_low": round(low, 6), "ci_high": round(high, 6),
            "n_tasks": len(common)}


def table(flat: dict, labels: Sequence[str], benches: Sequence[str]) -> str:
    """pass@1 per benchmark and label, then last - first in points."""
    head = f"{'bench':16s}" + "".join(f"{lab:>10s}" for lab in labels) + f"{'delta':>9s}"
    lines = [head]
    for b in benches:
        vals = [flat.get(f"{lab}/{b}/pass@1") for lab in labels]
        d = (vals[-1] - vals[0]) if len(vals) > 1 and None not in (vals[0], vals[-1]) else None
        lines.append(f"{b:16s}" + "".join(f"{100 * v:9.1f}%" if v is not None else f"{'-':>10s}" for v in vals)
                     + (f"{100 * d:+8.1f}pp" if d is not None else ""))
    return "\n".join(lines)


def forget_stale(run_dir: Path | str, adapter: str) -> bool:
    """A run dir evaluated for one adapter (named in its adapter.json, written here before sampling):
    when a longer run made a newer adapter, the old adapter's samples are removed so they are never
    scored as the new one's. Returns whether anything was removed."""
    d = Path(run_dir)
    mark = d / "adapter.json"
    stale = d.exists() and (not mark.exists() or read_json(mark).get("adapter") != adapter)
    if stale:
        shutil.rmtree(d)
        print(f"eval: {d} held another adapter's samples; evaluating {adapter} afresh")
    d.mkdir(parents=True, exist_ok=True)
    write_json(mark, {"adapter": adapter})
    return stale
