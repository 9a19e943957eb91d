"""Evaluate: sample a benchmark, grade every sample, summarize. The block all eval CLIs share.

    problems -> prompts (benchmarks.build_prompt)
             -> samples.jsonl  (sampling.sample_to_jsonl: resumable, shardable)
             -> results.jsonl  (one row per sample: id, task_id, passed, status, detail; resumable)
             -> metrics.json   (flat keys: pass@k with bootstrap intervals, maj@k, oracle, tokens, stops)

Code is graded in the sandbox (tinyforge.execution): assertion tests for HumanEval / MBPP, and for
HumanEval+ / MBPP+ the differential base + plus tests evalplus defines (`base_passed` is the base-only
verdict, `passed` base + plus). Math is graded by tinyforge.grading (GSM8K numbers; MATH / AIME answers
through math-verify in worker processes).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from tinyforge.io import DataError, JsonlWriter, TinyforgeError, iter_jsonl, write_jsonl

RESULT_FIELDS = ("id", "task_id", "passed", "status", "detail")


# ---------------------------------------------------------------------------------------------------
# Grading


def _code_rows(samples, problems, *, bench, fmt, plus, timeout, workers, progress) -> list[dict]:
    from tinyforge import execution

    def program(p, completion):
        if bench is None:  # a problem file in the HumanEval schema: prompt + completion
            return p.get("prompt", "") + completion
        from tinyforge.benchmarks import solution_code
        return solution_code(p, completion, bench, fmt)

    def assertion_job(s, test_field="test"):
        p = problems[s["task_id"]]
        return execution.code_job({"prompt": "", "test": p[test_field], "entry_point": p.get("entry_point")},
                                  program(p, s["completion"]), timeout=timeout)

    def run(jobs):
        return execution.run_batch(jobs, workers=workers, progress=progress)

    differential = plus and "base_input" in problems[samples[0]["task_id"]]
    if differential:  # shipped EvalPlus records: outputs compared with the canonical solution's
        needed = list({s["task_id"]: problems[s["task_id"]] for s in samples}.values())
        expected = execution.plus_expected_outputs(needed, progress=progress)
        results = run([execution.plus_job(problems[s["task_id"]], "", expected[s["task_id"]],
                                          solution=program(problems[s["task_id"]], s["completion"]))
                       for s in samples])
    elif plus:  # hub copies carry a self-contained base + plus test instead of inputs
        full, base = run([assertion_job(s, "plus_test") for s in samples]), run([assertion_job(s) for s in samples])
        results = [dataclasses.replace(f, base=b) for f, b in zip(full, base)]
    else:
        results = run([assertion_job(s) for s in samples])
    rows = []
    for s, r in zip(samples, results):
        row = {"id": s["id"], "task_id": s["task_id"], "passed": bool(r.passed), "status": r.status,
               "detail": r.detail[:500], "elapsed": round(r.elapsed, 4)}
        if plus:
            row["base_passed"] = bool(r.base.passed)
        rows.append(row)
    return rows


def _math_rows(samples, problems, *, kind, bench, workers, timeout, progress) -> list[dict]:
    from tinyforge import grading

    def reference(p):
        if bench is not None:
            from tinyforge.benchmarks import reference_answer
            return reference_answer(p, bench)
        return p["answer"]

    pairs = [(s["completion"], reference(problems[s["task_id"]])) for s in samples]
    if kind == "gsm8k":
        graded = grading.grade_gsm8k_batch(pairs)
    else:
        graded = grading.grade_math_batch(pairs, workers=workers, timeout=timeout or 10.0, kind=kind,
                                          progress=progress)
    rows = []
    for s, g in zip(samples, graded):
        row = {"id": s["id"], "task_id": s["task_id"], "passed": bool(g["passed"]), "status": g["status"],
               "detail": str(g.get("detail", ""))[:500], "extracted": g.get("extracted")}
        if "flexible_passed" in g:
            row["flexible_passed"] = bool(g["flexible_passed"])
        rows.append(row)
    return rows


def grade_samples(samples: Sequence[dict], problems: dict[str, dict], *, kind: str, bench: str | None = None,
                  fmt: str = "raw", plus: bool = False, workers: int | None = None,
                  timeout: float | None = None, progress: bool = True) -> list[dict]:
    """One result row per sample, in sample order. `kind`: code, gsm8k, math or aime."""
    if not samples:
        return []
    if kind == "code":
        return _code_rows(samples, problems, bench=bench, fmt=fmt, plus=plus, timeout=timeout,
                          workers=workers, progress=progress)
    if kind in ("gsm8k", "math", "aime"):
        return _math_rows(samples, problems, kind=kind, bench=bench, workers=workers, timeout=timeout,
                          progress=progress)
    raise TinyforgeError(f"unknown grader {kind!r}: expected code, gsm8k, math or aime")


def grade_to_jsonl(path: Path, samples: Sequence[dict], problems: dict[str, dict], **kw) -> list[dict]:
    """Grade the samples that have no row in `path` yet, append their rows, return all rows in sample
    order (a killed grading run resumes like a sampling run)."""
    writer = JsonlWriter(path, required=RESULT_FIELDS)
    have = {r["id"]: r for r in writer.records}
    todo = [s for s in samples if s["id"] not in have]
    for row in grade_samples(todo, problems, **kw):
        writer.append(row)
        have[row["id"]] = row
    writer.close()
    return [have[s["id"]] for s in samples if s["id"] in have]


# ---------------------------------------------------------------------------------------------------
# Metrics


def default_ks(n: int, asked: Iterable[int] = (1, 5, 10, 25, 100)) -> list[int]:
    """The asked k that fit n samples, plus 1 and n (pass@n is the oracle, maj@n self-consistency)."""
    return sorted({k for k in asked if 1 <= k <= n} | {1, n})


def _with_tokens(samples: Sequence[dict], rows: Sequence[dict]) -> list[dict]:
    tokens = {s["id"]: s.get("n_tokens") for s in samples}
    return [{**r, "n_tokens": tokens.get(r["id"])} for r in rows]


def _vote_key(kind: str):
    """What maj@k votes on: GSM8K's canonical number string, or the normalized MATH answer."""
    from tinyforge.grading import normalize_math_answer

    def vote(r):
        a = r.get("extracted")
        return None if a in (None, "") else (a if kind == "gsm8k" else normalize_math_answer(str(a)))
    return vote


def per_task(samples: Sequence[dict], rows: Sequence[dict], *, kind: str, n: int, plus: bool = False,
             ks: Sequence[int] | None = None) -> list[dict]:
    """One row per task (n, c, pass@k, maj@k for math, mean tokens), for per_task.jsonl."""
    from tinyforge import metrics

    ks = default_ks(n, ks or (1, 5, 10, 25, 100))
    maj = [k for k in ks if k > 1] if kind != "code" else []
    return metrics.per_task_table(_with_tokens(samples, rows), ks=ks, maj_ks=maj, vote_key=_vote_key(kind))


def summarize(samples: Sequence[dict], rows: Sequence[dict], *, kind: str, n: int, plus: bool = False,
              ks: Sequence[int] | None = None, stops: Sequence[str] = (), seed: int = 0) -> dict:
    """Flat metrics: pass@k (+ 95% bootstrap interval over tasks), maj@k for math, oracle, mean
    completion tokens, strict/flexible accuracy for GSM8K, base/plus for the + benchmarks, stop shares."""
    from tinyforge import metrics

    ks = default_ks(n, ks or (1, 5, 10, 25, 100))
    recs = _with_tokens(samples, rows)
    out: dict[str, Any] = {}
    if kind == "code" and plus:
        base = metrics.summarize(recs, ks=ks, correct_key="base_passed", seed=seed)
        out.update({f"base/{k}": v for k, v in base.items() if not k.startswith(("n_", "mean_"))})
        full = metrics.summarize(recs, ks=ks, seed=seed)
        out.update({k: v for k, v in full.items() if k.startswith(("n_", "mean_"))})
        out.update({f"plus/{k}": v for k, v in full.items() if not k.startswith(("n_", "mean_"))})
    elif kind == "code":
        out.update(metrics.summarize(recs, ks=ks, seed=seed))
    else:
        maj = [k for k in ks if k > 1]
        out.update(metrics.summarize(recs, ks=ks, maj_ks=maj, vote_key=_vote_key(kind), seed=seed))
        if kind == "gsm8k":
            flex = metrics.summarize(recs, ks=[1], correct_key="flexible_passed", seed=seed)
            out.update({f"flexible/{k}": v for k, v in flex.items() if k.startswith("pass@1")})
    out["n_passed"] = sum(bool(r["passed"]) for r in rows)
    out.update({f"stop_share/{k}": round(v, 4) for k, v in metrics.stop_audit(samples, stops).items()})
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def headline(name: str, m: dict, plus: bool = False) -> str:
    def pct(key):
        lo, hi = m.get(f"{key}_ci_low"), m.get(f"{key}_ci_high")
        ci = f" [{100 * lo:.1f}, {100 * hi:.1f}]" if lo is not None else ""
        return f"{100 * m[key]:.1f}%{ci}"
    if plus:
        return (f"{name}: base pass@1 {pct('base/pass@1')}, plus pass@1 {pct('plus/pass@1')} "
                f"({m['n_tasks']} tasks, {m['n_samples']} samples)")
    extra = f", flexible {100 * m['flexible/pass@1']:.1f}%" if "flexible/pass@1" in m else ""
    return f"{name}: pass@1 {pct('pass@1')}{extra} ({m['n_tasks']} tasks, {m['n_samples']} samples)"


# ---------------------------------------------------------------------------------------------------
# The eval CLIs


def add_eval_args(parser: argparse.ArgumentParser, benches: Sequence[str], default_bench: str, *,
                  n_samples: int = 1, temperature: float = 0.0, max_new_tokens: int = 512) -> None:
    from tinyforge import cli

    g = parser.add_argument_group("benchmark")
    g.add_argument("--bench", default=default_bench, choices=list(benches), help="benchmark")
    g.add_argument("--split", default=None, help="benchmark split (default: its test split)")
    g.add_argument("--format", default="raw", choices=["raw", "chat", "chat_continue"],
                   help="raw completion (base models) or the model's chat template (instruct models)")
    g.add_argument("--shots", type=int, default=None, help="few-shot examples (benchmark default if unset)")
    g.add_argument("--from-hub", action="store_true", help="load the Hugging Face hub copy of the data")
    g.add_argument("--k", type=int, nargs="+", default=[1, 5, 10, 25, 100],
                   help="pass@k values to report (those <= n-samples)")
    g.add_argument("--workers", type=int, default=None, help="grading processes (default: one per core)")
    g.add_argument("--timeout", type=float, default=None, help="seconds per graded sample")
    g.add_argument("--with-base", action="store_true", help="with --adapter: evaluate the base model too")
    cli.add_io_args(parser)
    cli.add_model_args(parser, adapters="many")
    cli.add_sampling_args(parser, n_samples=n_samples, temperature=temperature, max_new_tokens=max_new_tokens)


def _labels(adapters: Sequence[str | None]) -> list[str]:
    labels, seen = [], {}
    for a in adapters:
        base = "base" if a is None else (re.sub(r"[^\w.-]+", "-", Path(a).name) or "adapter")
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return labels


# Settings that change an evaluation's samples: a run dir sampled with other values is not resumed.
RESUME_KNOBS = ("model", "adapter", "with_base", "format", "shots", "n_samples", "temperature", "top_p",
                "max_new_tokens", "stop", "seed", "dtype", "load_in_4bit", "backend")


def adapter_tag(adapters) -> str | None:
    """A short run-dir name part for the adapters evaluated: each one's folder name plus a hash of its
    resolved path, so `--adapter adapter_n10` and `--adapter adapter_n21` in a bash loop get their own
    default run dirs, and two dirs both called `adapter` do not collide."""
    import hashlib

    if not adapters:
        return None
    items = [adapters] if isinstance(adapters, str) else list(adapters)
    digest = hashlib.sha1("\n".join(str(Path(a).resolve()) for a in items).encode()).hexdigest()[:6]
    return "+".join(Path(a).name or "adapter" for a in items)[:48] + "-" + digest


def run_eval(args: argparse.Namespace, stage: str, plus: bool = False) -> dict:
    """Sample + grade + summarize one benchmark for the base model and/or each adapter."""
    from tinyforge import benchmarks, cli
    from tinyforge.io import prepare_run_dir, refuse_changed_run, save_config, save_metrics
    from tinyforge.sampling import sampler_from_args, sample_to_jsonl

    bench = args.bench
    kind = benchmarks.grading_kind(bench)
    problems = benchmarks.load_benchmark(bench, split=args.split, limit=args.limit, from_hub=args.from_hub)
    by_id = {p["task_id"]: p for p in problems}
    items = [{"task_id": p["task_id"], "prompt": benchmarks.build_prompt(p, bench, args.format, args.shots)}
             for p in problems]
    stop = cli.stop_list(args) if args.stop is not None else benchmarks.default_stop(bench, args.format)
    adapters: list[str | None] = list(args.adapter or [])
    if not adapters or args.with_base:
        adapters = [None] + adapters
    run_dir = Path(args.out_dir or cli.default_run_dir(
        f"{stage}/{bench}", args.model, {"fmt": args.format, "n": args.n_samples, "t": args.temperature,
                                         "ad": adapter_tag(args.adapter)}, args.seed))
    refuse_changed_run(run_dir, args, RESUME_KNOBS, f"{stage} {bench}")
    prepare_run_dir(run_dir, args.overwrite)
    save_config(run_dir, args, stop=stop, stage=stage)
    shard = cli.parse_shard(args.shard)
    state: dict = {}

    def get_sampler():
        if "s" not in state:
            state["s"] = sampler_from_args(args, adapter=[a for a in adapters if a] or None, progress=False)
        return state["s"]

    labels, flat, table = _labels(adapters), {}, []
    for label, adapter in zip(labels, adapters):
        sub = run_dir if len(adapters) == 1 else run_dir / label
        sub.mkdir(parents=True, exist_ok=True)
        res = sample_to_jsonl(sub / "samples.jsonl", items, get_sampler, n=args.n_samples,
                              temperature=args.temperature, top_p=args.top_p,
                              max_new_tokens=args.max_new_tokens, stop=stop, seed=args.seed,
                              lora=adapter if adapter else False, shard=shard)
        if res["dropped_torn"]:
            print(f"resume: dropped 1 torn last line left by a killed run in {res['path']}")
        if shard:
            print(f"{label}: shard {args.shard} sampled ({res['new']} new); run again without --shard to "
                  f"merge and grade")
            continue
        rows = grade_to_jsonl(sub / "results.jsonl", res["records"], by_id, kind=kind, bench=bench,
                              fmt=args.format, plus=plus, workers=args.workers, timeout=args.timeout)
        m = summarize(res["records"], rows, kind=kind, n=args.n_samples, plus=plus, ks=args.k, stops=stop,
                      seed=args.seed)
        write_jsonl(sub / "per_task.jsonl", per_task(res["records"], rows, kind=kind, n=args.n_samples,
                                                     plus=plus, ks=args.k))
        m.update({"bench": bench, "model": args.model, "adapter": adapter, "format": args.format})
        save_metrics(sub, m)
        flat.update(m if len(adapters) == 1 else {f"{label}/{k}": v for k, v in m.items()})
        table.append((label, m))
    if state.get("s"):
        save_config(run_dir, args, stop=stop, stage=stage, sampler=state["s"].describe())
    if shard:
        return {}
    if len(adapters) > 1:
        save_metrics(run_dir, flat)
        print(f"\n{'run':24s} {'pass@1':>8s}" + ("  plus@1" if plus else ""))
        for label, m in table:
            key = "base/pass@1" if plus else "pass@1"
            print(f"{label:24s} {100 * m[key]:7.1f}%" + (f" {100 * m['plus/pass@1']:7.1f}%" if plus else ""))
    print("stops: " + ", ".join(f"{k.split('/', 1)[1]!r} {v:.0%}" for k, v in table[-1][1].items()
                                if k.startswith("stop_share/")))
    for label, m in table:
        print(headline(f"{bench} {args.model}" + (f" + {label}" if label != "base" else ""), m, plus))
    print(f"metrics: {run_dir / 'metrics.json'}")
    return flat


def load_problem_file(path: str) -> tuple[dict[str, dict], str]:
    """Problems in a standard schema and the grader they imply: code (task_id, prompt, entry_point,
    test), math (task_id, problem, answer) or GSM8K style (question, answer with `#### N`)."""
    probs, kinds = {}, set()
    for i, rec in enumerate(iter_jsonl(path), start=1):
        tid = rec.get("task_id", rec.get("id"))
        if tid is None:
            raise DataError(f"{path}:{i}: missing field 'task_id'")
        if "test" in rec:
            if "entry_point" not in rec or "prompt" not in rec:
                raise DataError(f"{path}:{i}: a code problem needs 'prompt', 'entry_point' and 'test'")
            kinds.add("code")
        elif "question" in rec and "####" in str(rec.get("answer", "")):
            kinds.add("gsm8k")
        elif "problem" in rec and "answer" in rec:
            kinds.add("math")
        else:
            raise DataError(f"{path}:{i}: expected a code problem (task_id, prompt, entry_point, test), a "
                            f"math problem (task_id, problem, answer) or GSM8K style (question, answer)")
        probs[str(tid)] = rec
    if len(kinds) > 1:
        raise DataError(f"{path}: mixes problem kinds ({', '.join(sorted(kinds))}); use one file per kind")
    return probs, (kinds.pop() if kinds else "code")


def load_samples(path: str, problems: dict[str, Any]) -> list[dict]:
    """Samples (`id, task_id, completion`) whose task ids all belong to `problems`."""
    out, seen = [], set()
    for i, rec in enumerate(iter_jsonl(path, required=("id", "task_id", "completion")), start=1):
        rec["task_id"] = str(rec["task_id"]) if str(rec["task_id"]) in problems else rec["task_id"]
        if rec["task_id"] not in problems:
            raise DataError(f"{path}:{i}: task_id {rec['task_id']!r} is not among the problems")
        if not isinstance(rec["completion"], str):
            raise DataError(f"{path}:{i}: expected 'completion' to be a string")
        if rec["id"] in seen:
            raise DataError(f"{path}:{i}: duplicate id {rec['id']!r}")
        seen.add(rec["id"])
        out.append(rec)
    return out
