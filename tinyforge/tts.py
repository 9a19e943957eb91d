"""Test-time sampling (TTS) from one pool of n samples per task: pass@k for every k in 1..n, maj@k as an
estimate over k-subsets of the pool, oracle best-of-N, mean completion tokens, bootstrap 95% intervals
for every k, a markdown table and a PNG of the curves.

    rows = read_jsonl("runs/x/results.jsonl")          # graded samples (tinyforge.evaluation)
    labels = tts.answer_classes(rows, kind="math")     # sample id -> answer class (the grader's equivalence)
    m = tts.sweep(rows, n=8, labels=labels)            # flat metrics.json keys
    print(tts.table(m)); tts.plot(m, "runs/x/curve.png", title="MATH-500")

    m = tts.run_bench(settings, sampler_factory, out_dir, model="Qwen/Qwen3-4B-Base")   # sample, grade, sweep

Keys (`prefix` in front of each, e.g. `strict/` for GSM8K's strict extraction): `pass@k` for every k with
`pass@k_ci_low` / `pass@k_ci_high`; `maj@k` (+ `_ci_*`) for graded answers; `oracle` (= pass@n = best-of-N
with a perfect verifier, + `_ci_*`) and `n_oracle` (tasks one of whose n samples is right: "152/164");
`maj_estimate` ("exact" or "exact for k <= ..., D seeded draws above"), `maj_draws`, `maj_exact_ks`;
`mean_tokens`, `n`, `n_tasks`, `n_samples`.

pass@k is Chen et al.'s unbiased estimator (tinyforge.metrics.pass_at_k). maj@k is the probability that
the majority answer of k samples drawn without replacement from the task's n is right: every k-subset
is enumerated when there are at most EXACT_SUBSETS of them, otherwise DRAWS subsets are drawn with a
seed of (seed, task, k). It is never "the first k samples": with n=64, lm-eval's maj@8 is the vote of
samples 0-7 only, one draw of the estimate, so it moves with the sampling seed far more than this one.

Votes rest on the grader (tinyforge.grading), not on string equality:
* every sample the grader passed is in the reference's class (they all equal the reference);
* wrong answers are grouped by the grader's equivalence: same normalized string (normalize_math_answer),
  else equal by the grader with the earlier-seen answer as the reference (math-verify for MATH in worker
  processes, integers for AIME, numbers for GSM8K), then merged transitively. So `\\frac12`, `0.5` and
  `50\\%` are one vote, and `(1,3)` and `\\{1,3\\}` are two;
* a sample with no answer the grader can read (`extracted` None; its `detail` says why) is a wrong
  sample that casts no vote; a subset where nobody votes scores 0;
* ties: when t answers share the top count, the subset scores 1/t if the right answer is one of them
  (the expectation of a fair draw between them; no dependence on sample order).
"""

from __future__ import annotations

import math
import re
from itertools import combinations
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

EXACT_SUBSETS = 20_000   # enumerate every k-subset up to this many (C(16, 8) = 12,870 fits: n <= 16 is exact)
DRAWS = 2_000            # seeded k-subsets per (task, k) above it: standard error <= 0.5 / sqrt(2000) ~ 1.1 pp per task
NO_VOTE = None
# Default new tokens of a TTS pool per grading kind: HumanEval functions and GSM8K chains fit in 512;
# MATH-500 solutions of 4B-8B base models run longer, AIME longer still (a cut solution has no answer).
MAX_NEW_TOKENS = {"code": 512, "gsm8k": 512, "math": 1024, "aime": 2048}


# ---------------------------------------------------------------------------------------------------
# Answer classes: the grader's equivalence


_INTEGER = re.compile(r"-?\d+")


def _group_key(kind: str, answer: str) -> str:
    from tinyforge.grading import normalize_math_answer

    return answer if kind == "gsm8k" else normalize_math_answer(answer)


def _equal_pairs(pairs: Sequence[tuple[str, str]], kind: str, workers: int | None, timeout: float,
                 progress: bool = False) -> list[bool]:
    """Whether each (answer, earlier answer) pair is equal by the grader, the earlier one as reference."""
    from tinyforge import grading

    if not pairs:
        return []
    if kind == "gsm8k":
        return [grading.numbers_equal(a, b) for a, b in pairs]
    graded = grading.grade_math_batch([("\\boxed{" + a + "}", b) for a, b in pairs], workers=workers,
                                      timeout=timeout, kind=kind, progress=progress)
    return [bool(g["passed"]) for g in graded]


def answer_classes(rows: Sequence[Mapping], kind: str, *, key: str = "extracted", correct_key: str = "passed",
                   workers: int | None = None, timeout: float = 10.0, progress: bool = False) -> dict[str, int | None]:
    """Sample id -> its answer class within its task: 0 for every sample the grader passed (the
    reference's class), 1, 2, ... for wrong answers grouped by the grader's equivalence (module doc),
    None for a sample with no readable answer (it casts no vote). `kind`: gsm8k, math or aime;
    `key` / `correct_key`: the answer and verdict fields (GSM8K: `strict` / `strict_passed` too)."""
    if kind not in ("gsm8k", "math", "aime"):
        raise ValueError(f"answer classes need a graded answer: kind gsm8k, math or aime, got {kind!r}")
    out: dict[str, int | None] = {}
    by_task: dict[Any, list[Mapping]] = {}
    for r in rows:
        by_task.setdefault(r["task_id"], []).append(r)
    # per task: the distinct wrong answers (one representative per normalized key), in first-seen order
    reps: dict[Any, list[str]] = {}
    key_of: dict[str, tuple[Any, int]] = {}
    for task, group in by_task.items():
        seen: dict[str, int] = {}
        for r in group:
            a = r.get(key)
            if r.get(correct_key):
                out[r["id"]] = 0
            elif a is None or not str(a).strip():
                out[r["id"]] = NO_VOTE
            else:
                g = _group_key(kind, str(a))
                if g not in seen:
                    seen[g] = len(seen)
                    reps.setdefault(task, []).append(str(a))
                key_of[r["id"]] = (task, seen[g])
    # equal pairs among the representatives of each task (all pairs in one batch, for the worker pool);
    # two different plain integers need no sympy (the commonest wrong answers: n=64 would be 2,016 pairs)
    def plain(a):
        k = _group_key(kind, a)
        return int(k) if kind != "gsm8k" and _INTEGER.fullmatch(k) else None

    ints = {task: [plain(a) for a in rs] for task, rs in reps.items()}
    jobs = [(task, i, j) for task, rs in reps.items() for j in range(len(rs)) for i in range(j)]
    hard = [(t, i, j) for t, i, j in jobs if ints[t][i] is None or ints[t][j] is None]
    graded = dict(zip(hard, _equal_pairs([(reps[t][j], reps[t][i]) for t, i, j in hard], kind, workers, timeout,
                                         progress)))
    verdicts = [graded[(t, i, j)] if (t, i, j) in graded else ints[t][i] == ints[t][j] for t, i, j in jobs]
    parent = {task: list(range(len(rs))) for task, rs in reps.items()}

    def find(task, i):
        p = parent[task]
        while p[i] != i:
            p[i] = p[p[i]]
            i = p[i]
        return i

    for (task, i, j), equal in zip(jobs, verdicts):
        if equal:
            a, b = find(task, i), find(task, j)
            parent[task][max(a, b)] = min(a, b)
    number: dict[tuple[Any, int], int] = {}
    per_task: dict[Any, int] = {}
    for sid, (task, g) in key_of.items():
        root = (task, find(task, g))
        # classes numbered 1.. per task in first-seen order of their roots
        if root not in number:
            per_task[task] = number[root] = per_task.get(task, 0) + 1
        out[sid] = number[root]
    return out


# ---------------------------------------------------------------------------------------------------
# maj@k over k-subsets


def _check_k(k: int, n: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if k > n:
        raise ValueError(f"k={k} is larger than n={n}, the samples per task: pass@{k} and maj@{k} need at "
                         f"least {k} samples (raise n, or ask for k <= {n})")


def maj_credit(labels: np.ndarray, correct: int | None) -> np.ndarray:
    """Per row of `labels` (subsets x k, ints; -1 = no vote): the vote's score under the tie rule."""
    if correct is None or labels.size == 0:
        return np.zeros(labels.shape[0])
    n_classes = int(labels.max()) + 1
    if n_classes <= 0:
        return np.zeros(labels.shape[0])
    counts = np.zeros((labels.shape[0], n_classes), dtype=np.int32)
    for c in range(n_classes):
        counts[:, c] = (labels == c).sum(axis=1)
    top = counts.max(axis=1)
    winners = (counts == top[:, None]) & (top[:, None] > 0)
    n_win = winners.sum(axis=1)
    if correct >= n_classes:
        return np.zeros(labels.shape[0])
    return np.where(n_win > 0, winners[:, correct] / np.maximum(n_win, 1), 0.0)


def maj_at_k(labels: Sequence[int | None], k: int, *, correct: int | None = 0, exact_limit: int = EXACT_SUBSETS,
             draws: int = DRAWS, seed: int = 0) -> tuple[float, bool]:
    """(maj@k of one task, whether it is exact): the mean vote score over k-subsets of the task's
    samples. `labels`: each sample's answer class (None: no vote); `correct`: the right class (None
    when no sample is right)."""
    n = len(labels)
    _check_k(k, n)
    lab = np.array([-1 if x is None else int(x) for x in labels], dtype=np.int64)
    if correct is None or not (lab == correct).any():
        return 0.0, True
    if math.comb(n, k) <= exact_limit:
        idx = np.array(list(combinations(range(n), k)), dtype=np.int64).reshape(-1, k)
        exact = True
    else:
        rng = np.random.default_rng(seed)
        idx = np.argsort(rng.random((draws, n)), axis=1)[:, :k]
        exact = False
    return float(maj_credit(lab[idx], correct).mean()), exact


def task_maj(group: Sequence[Mapping], labels: Mapping[str, int | None], ks: Sequence[int], *, task: Any,
             seed: int = 0, exact_limit: int = EXACT_SUBSETS, draws: int = DRAWS) -> tuple[dict, dict]:
    """maj@k of one task's samples for each k ({"maj@k": value}, {k: exact?}); the draws' seed is
    (seed, task, k), so a task's estimate does not depend on the other tasks."""
    from tinyforge.sampling import derive_seed

    lab = [labels.get(r["id"]) for r in group]
    vals, exact = {}, {}
    for k in ks:
        vals[f"maj@{k}"], exact[k] = maj_at_k(lab, k, correct=0, exact_limit=exact_limit, draws=draws,
                                              seed=derive_seed(seed, f"maj:{task}:{k}"))
    return vals, exact


def maj_by_task(rows: Sequence[Mapping], labels: Mapping[str, int | None], ks: Sequence[int], *,
                seed: int = 0) -> tuple[dict[Any, dict], dict[int, bool]]:
    """task_id -> {"maj@k": ...} over each task's own samples (tasks may have different n; every k must
    be <= each n), and {k: exact for every task?}."""
    from tinyforge.metrics import group_by_task

    out, exact_k = {}, {k: True for k in ks}
    for task, group in group_by_task(rows).items():
        out[task], exact = task_maj(group, labels, ks, task=task, seed=seed)
        for k in ks:
            exact_k[k] = exact_k[k] and exact[k]
    return out, exact_k


# ---------------------------------------------------------------------------------------------------
# The sweep


def _pool(rows: Sequence[Mapping], n: int | None) -> tuple[int, dict[Any, list[Mapping]]]:
    from tinyforge.metrics import group_by_task

    groups = group_by_task([r for r in rows if n is None or r.get("sample_idx", 0) < n])
    if not groups:
        raise ValueError("no graded samples to sweep")
    sizes = {t: len(g) for t, g in groups.items()}
    have = min(sizes.values())
    if n is None:
        n = have
    if have < n:
        task = min(sizes, key=sizes.get)
        raise ValueError(f"task {task!r} has {have} samples, the sweep needs n={n} per task")
    return n, groups


def per_task_curves(rows: Sequence[Mapping], *, n: int | None = None, ks: Sequence[int] | None = None,
                    labels: Mapping[str, int | None] | None = None, correct_key: str = "passed", seed: int = 0,
                    exact_limit: int = EXACT_SUBSETS, draws: int = DRAWS) -> tuple[list[dict], dict]:
    """One row per task ({task_id, n, c, pass@k..., maj@k... (with labels), mean_tokens}) and what the
    maj@k estimate was ({k: exact?} over all tasks)."""
    from tinyforge.metrics import pass_at_k

    n, groups = _pool(rows, n)
    ks = list(range(1, n + 1)) if ks is None else sorted(set(int(k) for k in ks))
    for k in ks:
        _check_k(k, n)
    out, exact_k = [], {k: True for k in ks}
    for task, group in groups.items():
        group = group[:n]
        c = sum(bool(r[correct_key]) for r in group)
        row: dict[str, Any] = {"task_id": task, "n": n, "c": c, "oracle": float(c > 0)}
        for k in ks:
            row[f"pass@{k}"] = pass_at_k(n, c, k)
        if labels is not None:
            vals, exact = task_maj(group, labels, ks, task=task, seed=seed, exact_limit=exact_limit, draws=draws)
            row.update(vals)
            for k in ks:
                exact_k[k] = exact_k[k] and exact[k]
        tokens = [r["n_tokens"] for r in group if r.get("n_tokens") is not None]
        if tokens:
            row["mean_tokens"] = float(np.mean(tokens))
        out.append(row)
    return out, exact_k


def sweep(rows: Sequence[Mapping], *, n: int | None = None, ks: Sequence[int] | None = None,
          labels: Mapping[str, int | None] | None = None, correct_key: str = "passed", seed: int = 0,
          prefix: str = "", n_resamples: int = 1000, exact_limit: int = EXACT_SUBSETS,
          draws: int = DRAWS, per_task: list | None = None) -> dict:
    """Flat metrics of the pool (module doc). `rows`: graded samples (task_id, sample_idx, id, passed,
    n_tokens); only sample_idx < n are used, and every task needs n. `labels`: answer_classes(...) for
    maj@k (leave it out for code). `per_task`: a list the per-task rows are appended to."""
    from tinyforge.metrics import bootstrap_ci

    tasks, exact_k = per_task_curves(rows, n=n, ks=ks, labels=labels, correct_key=correct_key, seed=seed,
                                     exact_limit=exact_limit, draws=draws)
    n = tasks[0]["n"]
    ks = sorted(exact_k)
    out: dict[str, Any] = {}

    def put(name, values):
        out[prefix + name] = float(np.mean(values))
        lo, hi = bootstrap_ci(values, n_resamples=n_resamples, seed=seed)
        out[prefix + name + "_ci_low"], out[prefix + name + "_ci_high"] = lo, hi

    for k in ks:
        put(f"pass@{k}", [t[f"pass@{k}"] for t in tasks])
    if labels is not None:
        for k in ks:
            put(f"maj@{k}", [t[f"maj@{k}"] for t in tasks])
        exact = [k for k in ks if exact_k[k]]
        out[prefix + "maj_exact_ks"] = exact
        out[prefix + "maj_draws"] = 0 if len(exact) == len(ks) else draws
        out[prefix + "maj_estimate"] = ("exact" if len(exact) == len(ks) else
                                        f"exact for k in {exact}, {draws} seeded draws per task for the other k"
                                        if exact else f"{draws} seeded draws per task")
    put("oracle", [float(t["c"] > 0) for t in tasks])
    out[prefix + "n_oracle"] = sum(t["c"] > 0 for t in tasks)
    tokens = [t["mean_tokens"] for t in tasks if "mean_tokens" in t]
    if tokens:
        out[prefix + "mean_tokens"] = float(np.mean(tokens))
    out.update({prefix + "n": n, prefix + "n_tasks": len(tasks), prefix + "n_samples": n * len(tasks)})
    if per_task is not None:
        per_task.extend(tasks)
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in out.items()}


def ks_of(m: Mapping, prefix: str = "", what: str = "pass") -> list[int]:
    ks = []
    for key in m:
        if key.startswith(prefix + what + "@") and key[len(prefix + what) + 1:].isdigit():
            ks.append(int(key[len(prefix + what) + 1:]))
    return sorted(ks)


def table(m: Mapping, prefix: str = "", ks: Sequence[int] | None = None) -> str:
    """A markdown table: k, pass@k [95% CI], maj@k [95% CI] (when there), then the oracle."""
    ks = list(ks) if ks is not None else ks_of(m, prefix)
    maj = bool(ks_of(m, prefix, "maj"))

    def cell(name):
        v = m.get(prefix + name)
        if v is None:
            return "-"
        return f"{100 * v:.1f}% [{100 * m[prefix + name + '_ci_low']:.1f}, {100 * m[prefix + name + '_ci_high']:.1f}]"

    lines = ["| k | pass@k [95% CI] |" + (" maj@k [95% CI] |" if maj else ""),
             "|---:|---:|" + ("---:|" if maj else "")]
    for k in ks:
        lines.append(f"| {k} | {cell(f'pass@{k}')} |" + (f" {cell(f'maj@{k}')} |" if maj else ""))
    n, tasks = m.get(prefix + "n"), m.get(prefix + "n_tasks")
    foot = f"\noracle best-of-{n}: {cell('oracle')} ({m.get(prefix + 'n_oracle')}/{tasks} tasks)"
    if maj:
        foot += f"; maj@k: {m.get(prefix + 'maj_estimate')}"
    if prefix + "mean_tokens" in m:
        foot += f"; mean completion tokens {m[prefix + 'mean_tokens']:.1f}"
    return "\n".join(lines) + "\n" + foot


def plot(m: Mapping, path: Path | str, *, title: str = "", prefix: str = "") -> Path:
    """pass@k and maj@k (when there) against k on a log2 axis, with the 95% bands; a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a GPU box or in CI
    import matplotlib.pyplot as plt

    ks = ks_of(m, prefix)
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    for what, color in (("pass", "tab:blue"), ("maj", "tab:orange")):
        kk = [k for k in ks if f"{prefix}{what}@{k}" in m]
        if not kk:
            continue
        y = [100 * m[f"{prefix}{what}@{k}"] for k in kk]
        lo = [100 * m[f"{prefix}{what}@{k}_ci_low"] for k in kk]
        hi = [100 * m[f"{prefix}{what}@{k}_ci_high"] for k in kk]
        ax.plot(kk, y, marker="o", ms=3, color=color, label=f"{what}@k")
        ax.fill_between(kk, lo, hi, color=color, alpha=0.15, linewidth=0)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks if len(ks) <= 8 else [k for k in ks if k & (k - 1) == 0 or k == ks[-1]])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("k (samples per task)")
    ax.set_ylabel("% of tasks")
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    ax.set_title(title or "test-time sampling", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------------
# One benchmark: sample (through the one evaluation path), grade, sweep


def vote_fields(kind: str) -> list[tuple[str, str, str]]:
    """(metrics prefix, answer field, verdict field) of each vote a benchmark kind reports: the
    committed answer, and for GSM8K lm-eval's strict and flexible extractions beside it."""
    if kind == "code":
        return []
    out = [("", "extracted", "passed")]
    if kind == "gsm8k":
        out += [("strict/", "strict", "strict_passed"), ("flexible/", "flexible", "flexible_passed")]
    return out


def sweep_rows(rows: Sequence[Mapping], kind: str, *, n: int, ks: Sequence[int] | None = None, seed: int = 0,
               workers: int | None = None, timeout: float | None = None, plus: bool = False,
               per_task: list | None = None, labels: Mapping | None = None) -> dict:
    """Every sweep a benchmark reports from its graded rows: pass@k (code: HumanEval+ / MBPP+ also
    `base/`), maj@k, and GSM8K's strict / flexible. `labels`: the committed answers' classes, when the
    caller has them (evaluation.evaluate's)."""
    m: dict[str, Any] = {}
    if kind == "code":
        m.update(sweep(rows, n=n, ks=ks, seed=seed, per_task=per_task))
        if plus:
            m.update(sweep(rows, n=n, ks=ks, seed=seed, correct_key="base_passed", prefix="base/"))
        return m
    for prefix, key, correct in vote_fields(kind):
        if not all(correct in r for r in rows):
            continue
        lab = labels if (not prefix and labels is not None) else answer_classes(
            rows, kind, key=key, correct_key=correct, workers=workers, timeout=timeout or 10.0)
        m.update(sweep(rows, n=n, ks=ks, seed=seed, labels=lab, correct_key=correct, prefix=prefix,
                       per_task=per_task if not prefix else None))
    return m


def run_bench(settings, get_sampler, out_dir: Path | str, *, model: str | None = None,
              lora: str | bool | None = None, reuse: Sequence[dict] = (), title: str = "",
              progress: bool = True, extra: dict | None = None) -> dict:
    """`settings` (evaluation.EvalSettings, n_samples = the pool's n) sampled and graded by
    evaluation.evaluate into `out_dir`, then swept: metrics.json gets the sweep's keys for every k (evaluate
    wrote the same estimators for its default ks), `per_task.jsonl` one row per task with every k,
    plus `table.md` and `curve.png`. Returns the metrics (+ `_records`, `_rows`, `_per_task`)."""
    from tinyforge import evaluation
    from tinyforge.io import read_jsonl, save_metrics, write_jsonl

    out = Path(out_dir)
    m = evaluation.evaluate(settings, get_sampler, out, lora=lora, reuse=reuse, progress=progress,
                            extra={**({"model": model} if model else {}), **(extra or {})}, model=model)
    records, labels = m.pop("_records"), m.pop("_labels", None)
    want = {r["id"] for r in records}
    rows = [r for r in read_jsonl(out / "results.jsonl") if r["id"] in want]
    tasks: list[dict] = []
    m.update(sweep_rows(rows, settings.kind, n=settings.n_samples, ks=None, seed=settings.seed,
                        workers=settings.workers, timeout=settings.timeout, plus=settings.plus, per_task=tasks,
                        labels=labels))
    m["temperature"] = settings.temperature
    write_jsonl(out / "per_task.jsonl", tasks)  # every k (evaluate's has its default ks only)
    head = title or f"{settings.bench} {model or ''}".strip()
    md = f"## {head}, n={settings.n_samples}, T={settings.temperature}\n\n" + table(m)
    if settings.plus:
        md += "\n\nbase tests only (HumanEval / MBPP tests):\n\n" + table(m, prefix="base/")
    for prefix in ("strict/", "flexible/"):
        if prefix + "pass@1" in m:
            md += f"\n\n{prefix.rstrip('/')} extraction:\n\n" + table(m, prefix=prefix)
    (out / "table.md").write_text(md + "\n", encoding="utf-8")
    plot(m, out / "curve.png", title=f"{head} (n={settings.n_samples}, T={settings.temperature})")
    save_metrics(out, m)
    m["_records"], m["_rows"], m["_per_task"] = records, rows, tasks
    return m


def headline(name: str, m: Mapping, prefix: str = "") -> str:
    """One line: pass@1, maj@n (math), oracle best-of-n with its count."""
    n = m[prefix + "n"]

    def pct(key):
        return (f"{100 * m[prefix + key]:.1f}% [{100 * m[prefix + key + '_ci_low']:.1f}, "
                f"{100 * m[prefix + key + '_ci_high']:.1f}]")
    maj = f", maj@{n} {pct(f'maj@{n}')}" if prefix + f"maj@{n}" in m else ""
    return (f"{name}: pass@1 {pct('pass@1')}{maj}, oracle best-of-{n} {pct('oracle')} = "
            f"{m[prefix + 'n_oracle']}/{m[prefix + 'n_tasks']} tasks")


# ---------------------------------------------------------------------------------------------------
# Reuse: pools other runs drew with the same settings


def find_pools(root: Path | str, settings, *, model: str, adapter: str | None, exclude: Path | None = None) -> list[Path]:
    """Eval dirs under `root` (any script's: evals/, tts/, experiments/) whose eval.json says their
    samples were drawn with `settings` (n_samples and limit aside), by `model` and `adapter`: their
    samples are this pool's samples (a sample depends on prompt, seed, index and settings only)."""
    from tinyforge.io import read_json

    want = {**settings.sampled_with(), "adapter": adapter}
    want.pop("n_samples"), want.pop("limit")
    out = []
    for mark in sorted(Path(root).glob("**/eval.json")):
        d = mark.parent
        if exclude is not None and d.resolve() == Path(exclude).resolve():
            continue
        try:
            got = read_json(mark)
        except Exception:  # noqa: BLE001 - a stray or torn file is simply not a pool
            continue
        who = got.get("model")
        if who is None and (d / "metrics.json").exists():
            who = read_json(d / "metrics.json").get("model")
        if who != model or not (d / "samples.jsonl").exists():
            continue
        same_adapter = (got.get("adapter") is None and adapter is None) or (
            got.get("adapter") is not None and adapter is not None
            and Path(got["adapter"]).resolve() == Path(adapter).resolve())
        if same_adapter and all(got.get(k) == v for k, v in want.items() if k != "adapter"):
            out.append(d)
    return out


def pooled_samples(dirs: Sequence[Path]) -> list[dict]:
    from tinyforge.io import iter_jsonl

    out = []
    for d in dirs:
        out.extend(iter_jsonl(Path(d) / "samples.jsonl", allow_torn_tail=True))
    return out
