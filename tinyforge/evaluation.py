"""Evaluate: sample a benchmark, grade every sample, summarize. The one evaluation path: the eval CLIs,
the recipes' before / after, test-time sampling and the experiments all call `evaluate`.

    settings = evaluation.EvalSettings(bench="humaneval_plus", n_samples=4, temperature=0.8)
    m = evaluation.evaluate(settings, sampler_factory, "runs/x/after/humaneval_plus", lora="adapter")

One evaluated (model or adapter, benchmark) is one directory:
    eval.json      the settings it was sampled with (a resume with other settings is refused)
    samples.jsonl  sampling.sample_to_jsonl: resumable, shardable
    results.jsonl  graded samples: each sample's fields + passed, status, detail (+ base_passed for the
                   + benchmarks, extracted for math; GSM8K also strict / flexible (+ _passed)); resumable
    per_task.jsonl one row per task: n, c, pass@k (maj@k for math), mean tokens
    metrics.json   flat keys: pass@k with 95% bootstrap intervals, maj@k, oracle, tokens, stop shares.
                   `pass@1` is on every benchmark; for HumanEval+ / MBPP+ it is the plus verdict (base +
                   extra tests), and `base/pass@k` / `plus/pass@k` stand beside it.

Code is graded in the sandbox (tinyforge.execution): assertion tests for HumanEval / MBPP, and for
HumanEval+ / MBPP+ the differential base + plus tests evalplus defines (`base_passed` is the base-only
verdict, `passed` base + plus). Math is graded by tinyforge.grading (GSM8K numbers; MATH / AIME answers
through math-verify in worker processes).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from tinyforge.io import DataError, JsonlWriter, SettingsError, TinyforgeError, iter_jsonl, write_jsonl

RESULT_FIELDS = ("id", "task_id", "passed", "status", "detail")


# ---------------------------------------------------------------------------------------------------
# Grading


def _code_rows(samples, problems, *, bench, fmt, plus, timeout, workers, progress, strict_types) -> list[dict]:
    from tinyforge import execution

    def program(p, s):
        if "solution" in s:  # evalplus's samples format: the whole program, graded as given
            return s["solution"]
        if bench is None:  # a problem file in the HumanEval schema: prompt + completion
            return p.get("prompt", "") + s["completion"]
        from tinyforge.benchmarks import solution_code
        return solution_code(p, s["completion"], bench, fmt)

    def assertion_job(s, test_field="test"):
        p = problems[s["task_id"]]
        return execution.code_job({"prompt": "", "test": p[test_field], "entry_point": p.get("entry_point")},
                                  program(p, s), timeout=timeout)

    def run(jobs):
        return execution.run_batch(jobs, workers=workers, progress=progress)

    differential = plus and "base_input" in problems[samples[0]["task_id"]]
    if differential:  # shipped EvalPlus records: outputs compared with the canonical solution's
        needed = list({s["task_id"]: problems[s["task_id"]] for s in samples}.values())
        expected = execution.plus_expected_outputs(needed, progress=progress)
        results = run([execution.plus_job(problems[s["task_id"]], "", expected[s["task_id"]],
                                          solution=program(problems[s["task_id"]], s),
                                          strict_types=strict_types)
                       for s in samples])
    elif plus:  # hub copies carry a self-contained base + plus test instead of inputs
        full, base = run([assertion_job(s, "plus_test") for s in samples]), run([assertion_job(s) for s in samples])
        results = [dataclasses.replace(f, base=b) for f, b in zip(full, base)]
    else:
        results = run([assertion_job(s) for s in samples])
    rows = []
    for s, r in zip(samples, results):
        row = {**s, "passed": bool(r.passed), "status": r.status, "detail": r.detail[:500],
               "elapsed": round(r.elapsed, 4)}
        if plus:
            row["base_passed"] = bool(r.base.passed)
        rows.append(row)
    return rows


def _text(sample: dict) -> str:
    """What a sample says: its completion, else its `solution` (evalplus's field name)."""
    return sample["completion"] if "completion" in sample else sample["solution"]


def _math_rows(samples, problems, *, kind, bench, workers, timeout, progress) -> list[dict]:
    from tinyforge import grading

    def reference(p):
        if bench is not None:
            from tinyforge.benchmarks import reference_answer
            return reference_answer(p, bench)
        return p["answer"]

    pairs = [(_text(s), reference(problems[s["task_id"]])) for s in samples]
    if kind == "gsm8k":
        graded = grading.grade_gsm8k_batch(pairs)
    else:
        graded = grading.grade_math_batch(pairs, workers=workers, timeout=timeout or 10.0, kind=kind,
                                          progress=progress)
    rows = []
    for s, g in zip(samples, graded):
        row = {**s, "passed": bool(g["passed"]), "status": g["status"],
               "detail": str(g.get("detail", ""))[:500], "extracted": g.get("extracted")}
        for name in ("strict", "flexible"):  # GSM8K: lm-eval's two filters beside the verdict
            if f"{name}_passed" in g:
                row[name], row[f"{name}_passed"] = g.get(name), bool(g[f"{name}_passed"])
        rows.append(row)
    return rows


def grade_samples(samples: Sequence[dict], problems: dict[str, dict], *, kind: str, bench: str | None = None,
                  fmt: str = "raw", plus: bool = False, workers: int | None = None,
                  timeout: float | None = None, progress: bool = True, strict_types: bool = False) -> list[dict]:
    """One graded row per sample, in sample order: the sample's fields plus the verdict (DESIGN.md's
    graded sample). `kind`: code, gsm8k, math or aime. `strict_types`: HumanEval+ / MBPP+ outputs
    must have the reference's types too (default: evalplus's `==` comparison)."""
    if not samples:
        return []
    if kind == "code":
        return _code_rows(samples, problems, bench=bench, fmt=fmt, plus=plus, timeout=timeout,
                          workers=workers, progress=progress, strict_types=strict_types)
    if kind in ("gsm8k", "math", "aime"):
        return _math_rows(samples, problems, kind=kind, bench=bench, workers=workers, timeout=timeout,
                          progress=progress)
    raise TinyforgeError(f"unknown grader {kind!r}: expected code, gsm8k, math or aime")


GRADE_CHUNK = 2000  # samples graded between appends: what a killed grading run can lose at most


def grade_to_jsonl(path: Path, samples: Sequence[dict], problems: dict[str, dict], *,
                   chunk: int = GRADE_CHUNK, prepare=None, **kw) -> list[dict]:
    """Grade the samples that have no row in `path` yet (each through `prepare` first, if given),
    append their rows every `chunk` samples, return all rows in sample order (a killed grading run
    resumes like a sampling run). Keywords are grade_samples'."""
    writer = JsonlWriter(path, required=RESULT_FIELDS)
    have = {r["id"]: r for r in writer.records}
    todo = [s for s in samples if s["id"] not in have]
    try:
        for lo in range(0, len(todo), chunk):
            part = todo[lo:lo + chunk]
            for row in grade_samples([prepare(s) for s in part] if prepare else part, problems, **kw):
                writer.append(row)
                have[row["id"]] = row
    finally:
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


def vote_labels(rows: Sequence[dict], kind: str, *, workers: int | None = None,
                timeout: float | None = None, progress: bool = False) -> dict | None:
    """What maj@k votes on (math kinds; None for code): each sample's answer class by the grader's
    equivalence (tinyforge.tts.answer_classes), so `\\frac12` and `0.5` are one vote."""
    if kind == "code":
        return None
    from tinyforge import tts
    return tts.answer_classes(rows, kind, workers=workers, timeout=timeout or 10.0, progress=progress)


def _maj_rows(rows, kind, maj, labels, seed):
    """task -> {"maj@k"} for the maj ks: a vote of k samples drawn from the task's (tinyforge.tts: every
    k-subset where few, else seeded draws), never the first k."""
    from tinyforge import tts

    if labels is None:
        labels = vote_labels(rows, kind)
    return tts.maj_by_task(rows, labels, maj, seed=seed)


def per_task(samples: Sequence[dict], rows: Sequence[dict], *, kind: str, n: int, plus: bool = False,
             ks: Sequence[int] | None = None, labels: dict | None = None, seed: int = 0) -> list[dict]:
    """One row per task (n, c, pass@k, maj@k for math, mean tokens), for per_task.jsonl. `labels`:
    vote_labels(rows, kind), when the caller has them already."""
    from tinyforge import metrics

    ks = default_ks(n, ks or (1, 5, 10, 25, 100))
    maj = [k for k in ks if k > 1] if kind != "code" else []
    out = metrics.per_task_table(_with_tokens(samples, rows), ks=ks)
    if maj:
        by_task, _ = _maj_rows(rows, kind, maj, labels, seed)
        for row in out:
            row.update(by_task[row["task_id"]])
    return out


def summarize(samples: Sequence[dict], rows: Sequence[dict], *, kind: str, n: int, plus: bool = False,
              ks: Sequence[int] | None = None, stops: Sequence[str] = (), seed: int = 0,
              labels: dict | None = None) -> dict:
    """Flat metrics: pass@k (+ 95% bootstrap interval over tasks), maj@k for math (k samples drawn from
    each task's, answers grouped by the grader: tinyforge.tts; `labels`: vote_labels(rows, kind) when the
    caller has them), oracle, mean completion tokens, strict/flexible accuracy for GSM8K, base/plus for
    the + benchmarks, stop shares."""
    from tinyforge import metrics

    ks = default_ks(n, ks or (1, 5, 10, 25, 100))
    recs = _with_tokens(samples, rows)
    out: dict[str, Any] = {}
    if kind == "code" and plus:
        base = metrics.summarize(recs, ks=ks, correct_key="base_passed", seed=seed)
        out.update({f"base/{k}": v for k, v in base.items() if not k.startswith(("n_", "mean_"))})
        full = metrics.summarize(recs, ks=ks, seed=seed)
        out.update(full)  # pass@k on every benchmark: here the plus verdict, as evalplus reports it
        out.update({f"plus/{k}": v for k, v in full.items() if not k.startswith(("n_", "mean_"))})
    elif kind == "code":
        out.update(metrics.summarize(recs, ks=ks, seed=seed))
    else:
        maj = [k for k in ks if k > 1]
        out.update(metrics.summarize(recs, ks=ks, seed=seed))
        if maj:
            by_task, exact = _maj_rows(rows, kind, maj, labels, seed)
            for k in maj:
                values = [v[f"maj@{k}"] for v in by_task.values()]
                out[f"maj@{k}"] = float(sum(values) / len(values))
                out[f"maj@{k}_ci_low"], out[f"maj@{k}_ci_high"] = metrics.bootstrap_ci(values, seed=seed)
            out["maj_estimate"] = "exact" if all(exact.values()) else \
                f"exact for k in {[k for k in maj if exact[k]]}, seeded draws for the other k"
        if kind == "gsm8k":  # lm-eval's strict-match and flexible-extract, beside the committed answer
            for name in ("strict", "flexible"):
                if all(f"{name}_passed" in r for r in recs):
                    alt = metrics.summarize(recs, ks=[1], correct_key=f"{name}_passed", seed=seed)
                    out.update({f"{name}/{k}": v for k, v in alt.items() if k.startswith("pass@1")})
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
    extra = "".join(f", {name} {100 * m[f'{name}/pass@1']:.1f}%" for name in ("strict", "flexible")
                    if f"{name}/pass@1" in m)
    return f"{name}: pass@1 {pct('pass@1')}{extra} ({m['n_tasks']} tasks, {m['n_samples']} samples)"


# ---------------------------------------------------------------------------------------------------
# One benchmark for one sampler (+ adapter)

EVAL_FORMATS = ("raw", "chat", "chat_continue")
DEFAULT_KS = (1, 5, 10, 25, 100)


@dataclasses.dataclass
class EvalSettings:
    """What an evaluation samples and how it is scored. `stop` None: the benchmark's own stop set;
    `k` None: DEFAULT_KS where they fit n_samples (plus 1 and n)."""

    bench: str = "humaneval"
    split: str | None = None
    format: str = "raw"
    shots: int | None = None
    from_hub: bool = False
    limit: int | None = None
    n_samples: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    stop: list[str] | None = None
    seed: int = 0
    k: list[int] | None = None
    workers: int | None = None
    timeout: float | None = None
    strict_types: bool = False

    def check(self) -> None:
        from tinyforge import benchmarks
        from tinyforge.sampling import check_decoding

        try:
            spec = benchmarks.benchmark_spec(self.bench)
        except TinyforgeError as exc:
            raise SettingsError("bench", str(exc).replace("unknown benchmark ", "")) from None
        self.bench = spec.name
        if self.format not in EVAL_FORMATS:
            raise SettingsError("format", f"{self.format!r}: expected one of {', '.join(EVAL_FORMATS)}")
        if self.format == "chat_continue" and spec.kind != "code":
            raise SettingsError("format", f"chat_continue continues a code stub; {spec.name} is not code")
        if self.split is not None and self.split not in spec.splits:
            raise SettingsError("split", f"{self.split!r}: {spec.name} has {', '.join(spec.splits)}")
        if self.limit is not None and self.limit < 1:
            raise SettingsError("limit", f"must be >= 1 (tasks to evaluate), got {self.limit}")
        if self.shots is not None and self.shots < 0:
            raise SettingsError("shots", f"must be >= 0, got {self.shots}")
        check_decoding(self.n_samples, self.temperature, self.top_p, self.max_new_tokens)
        for k in self.k or ():
            if not 1 <= k <= self.n_samples:
                raise SettingsError("k", f"{k}: pass@k needs 1 <= k <= the samples per task "
                                         f"(--n-samples {self.n_samples})")
        if self.timeout is not None and not self.timeout > 0:
            raise SettingsError("timeout", f"must be > 0, got {self.timeout}")

    @property
    def kind(self) -> str:
        from tinyforge.benchmarks import grading_kind
        return grading_kind(self.bench)

    @property
    def plus(self) -> bool:
        return self.bench.endswith("_plus")

    def stops(self) -> list[str]:
        from tinyforge.benchmarks import default_stop
        return list(self.stop) if self.stop is not None else default_stop(self.bench, self.format)

    def sampled_with(self) -> dict:
        """The settings a samples file depends on (a resume with other values is refused)."""
        return {"bench": self.bench, "split": self.split, "format": self.format, "shots": self.shots,
                "from_hub": self.from_hub, "limit": self.limit, "n_samples": self.n_samples,
                "temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
                "stop": self.stops(), "seed": self.seed}


def problems_and_prompts(settings: EvalSettings) -> tuple[dict[str, dict], list[dict]]:
    from tinyforge import benchmarks

    problems = benchmarks.load_benchmark(settings.bench, split=settings.split, limit=settings.limit,
                                         from_hub=settings.from_hub)
    items = [{"task_id": p["task_id"], "prompt": benchmarks.build_prompt(p, settings.bench, settings.format,
                                                                         settings.shots)} for p in problems]
    return {p["task_id"]: p for p in problems}, items


def guard_eval_dir(out_dir: Path, settings: EvalSettings, adapter: str | None, model: str | None = None) -> None:
    """eval.json records what `out_dir` was sampled with; another setting, model (when given) or adapter
    is refused (its samples would be mixed into a new run's metrics). Another n_samples is not."""
    from tinyforge.io import changed_settings, read_json, write_json

    mark = Path(out_dir) / "eval.json"
    now = {**settings.sampled_with(), "adapter": adapter, "strict_types": settings.strict_types}
    if model is not None:
        now["model"] = model
    if mark.exists():
        # n_samples is not compared: sample j of a task is a function of (task seed, j) alone
        # (tinyforge.sampling), so a run asked for more samples draws only the new ones, and one asked
        # for fewer reads the first n (metrics then cover those n; the others stay in samples.jsonl).
        changed = [c for c in changed_settings(read_json(mark), now) if c[0] != "n_samples"]
        if changed:
            raise TinyforgeError(f"{out_dir} holds an evaluation made with other settings ("
                                 + ", ".join(f"{k} {old!r} there, {new!r} now" for k, old, new in changed)
                                 + "): pass --overwrite, or another --out-dir")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_json(mark, now)


def _seed_from(src: Sequence[dict], dst: Path, items: Sequence[dict], n: int) -> None:
    """Copy samples of identical prompts (same task id, so same per-prompt seed) into another
    benchmark's samples file: HumanEval+ shares 163 of its 164 prompts with HumanEval, and a sample is
    a function of prompt, seed and settings only (tinyforge.sampling), so it is not drawn twice."""
    prompts = {it["task_id"]: it["prompt"] for it in items}
    writer = JsonlWriter(dst, required=("id", "task_id", "sample_idx"))
    have = {r["id"] for r in writer.records}
    for r in src:
        if r["id"] not in have and prompts.get(r["task_id"]) == r["prompt"] and r["sample_idx"] < n:
            writer.append(r)
            have.add(r["id"])  # `src` may hold one sample twice (two runs' pools)
    writer.close()


def evaluate(settings: EvalSettings, get_sampler, out_dir: Path | str, *, lora: str | bool | None = None,
             adapter_label: str | None = None, reuse: Sequence[dict] = (), shard: tuple[int, int] | None = None,
             progress: bool = True, extra: dict | None = None, model: str | None = None) -> dict:
    """Sample, grade and summarize one benchmark into `out_dir` (layout in the module docstring);
    returns its metrics. `get_sampler`: a zero-argument factory, called only if samples are missing.
    `lora`: False = the base model, a directory = that adapter (the sampler was built with it), None =
    the sampler's own. `reuse`: samples of another benchmark with the same prompts (HumanEval for
    HumanEval+). With `shard`, only that shard is sampled and nothing is graded ({} is returned).
    `model`: recorded in eval.json (and checked on a resume) so other runs can tell whose samples these are."""
    from tinyforge.io import save_metrics
    from tinyforge.sampling import sample_to_jsonl

    out = Path(out_dir)
    adapter = lora if isinstance(lora, str) else None
    guard_eval_dir(out, settings, adapter, model)
    by_id, items = problems_and_prompts(settings)
    if reuse:
        _seed_from(reuse, out / "samples.jsonl", items, settings.n_samples)
    stop = settings.stops()
    res = sample_to_jsonl(out / "samples.jsonl", items, get_sampler, n=settings.n_samples,
                          temperature=settings.temperature, top_p=settings.top_p,
                          max_new_tokens=settings.max_new_tokens, stop=stop, seed=settings.seed, lora=lora,
                          shard=shard, progress=progress)
    if res["dropped_torn"]:
        print(f"resume: dropped 1 torn last line left by a killed run in {res['path']}")
    if shard:
        return {}
    kind, plus, n = settings.kind, settings.plus, settings.n_samples
    rows = grade_to_jsonl(out / "results.jsonl", res["records"], by_id, kind=kind, bench=settings.bench,
                          fmt=settings.format, plus=plus, workers=settings.workers, timeout=settings.timeout,
                          progress=progress, strict_types=settings.strict_types)
    labels = vote_labels(rows, kind, workers=settings.workers, timeout=settings.timeout, progress=progress)
    m = summarize(res["records"], rows, kind=kind, n=n, plus=plus, ks=settings.k, stops=stop, seed=settings.seed,
                  labels=labels)
    write_jsonl(out / "per_task.jsonl", per_task(res["records"], rows, kind=kind, n=n, plus=plus, ks=settings.k,
                                                 labels=labels, seed=settings.seed))
    m.update({"bench": settings.bench, "format": settings.format, "adapter": adapter,
              **({"label": adapter_label} if adapter_label else {}), **(extra or {})})
    save_metrics(out, m)
    m["_records"] = res["records"]  # for `reuse` by the caller; not in metrics.json
    m["_labels"] = labels           # maj@k's answer classes (tinyforge.tts), for a caller's own sweep
    return m


def public(m: dict) -> dict:
    return {k: v for k, v in m.items() if not k.startswith("_")}


def evaluate_runs(specs: Sequence[EvalSettings], get_sampler, root: Path | str,
                  runs: Sequence[tuple[str, Any]], *, progress: bool = False) -> dict:
    """Each benchmark in `specs` for each (label, lora) run on one sampler, into `root/<label>/<bench>/`;
    flat keys `<label>/<bench>/<metric>` (tinyforge.comparisons reads them). lora False is the base
    model, a directory an adapter the sampler was built with."""
    flat: dict[str, Any] = {}
    for label, lora in runs:
        done: dict[str, list] = {}
        for es in specs:
            twin = es.bench.replace("_plus", "")
            m = evaluate(es, get_sampler, Path(root) / label / es.bench, lora=lora, adapter_label=label,
                         reuse=done.get(twin, ()) if es.plus else (), progress=progress)
            done[es.bench] = m.pop("_records")
            flat.update({f"{label}/{es.bench}/{k}": v for k, v in public(m).items()})
            print(headline(f"{es.bench} {label}", m, es.plus), flush=True)
    return flat


def run_labels(adapters: Sequence[str | None]) -> list[str]:
    """A label per evaluated model: `base_model` for the base, else the adapter dir's name (numbered
    when two share one). Not `base`: that prefix is the base tests of HumanEval+ / MBPP+."""
    labels, seen = [], {}
    for a in adapters:
        name = "base_model" if a is None else (re.sub(r"[^\w.-]+", "-", Path(a).name) or "adapter")
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return labels


def evaluate_models(settings: EvalSettings, get_sampler, run_dir: Path | str, adapters: Sequence[str | None],
                    *, model: str, shard: tuple[int, int] | None = None, progress: bool = True) -> dict:
    """The eval CLIs' body: `settings` for each of `adapters` (None = the base model) on one sampler.
    One model: its files and unprefixed keys in `run_dir`; several: `run_dir/<label>/` each, and
    `run_dir/metrics.json` with `<label>/<metric>` keys. Prints a table and one headline per model."""
    from tinyforge.io import save_metrics

    run_dir = Path(run_dir)
    labels, flat, table = run_labels(adapters), {}, []
    for label, adapter in zip(labels, adapters):
        sub = run_dir if len(adapters) == 1 else run_dir / label
        m = evaluate(settings, get_sampler, sub, lora=adapter if adapter else False, shard=shard,
                     progress=progress, extra={"model": model})
        if shard:
            print(f"{label}: shard {shard[0]}/{shard[1]} sampled; run again without --shard to merge and grade")
            continue
        m = public(m)
        flat.update(m if len(adapters) == 1 else {f"{label}/{k}": v for k, v in m.items()})
        table.append((label, m))
    if shard:
        return {}
    if len(adapters) > 1:
        save_metrics(run_dir, flat)
        plus = settings.plus
        print(f"\n{'run':24s} {'pass@1':>8s}" + ("  base@1" if plus else ""))
        for label, m in table:
            print(f"{label:24s} {100 * m['pass@1']:7.1f}%" + (f" {100 * m['base/pass@1']:7.1f}%" if plus else ""))
    print("stops: " + ", ".join(f"{k.split('/', 1)[1]!r} {v:.0%}" for k, v in table[-1][1].items()
                                if k.startswith("stop_share/")))
    for label, m in table:
        print(headline(f"{settings.bench} {model}" + (f" + {label}" if label != "base_model" else ""), m,
                       settings.plus))
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
    """Samples whose task ids all belong to `problems`: `task_id` and `completion` (the HumanEval
    convention: prompt + completion) or `solution` (evalplus's: the whole program; code is graded from
    it when a sample has both, as evalplus does), and `id`. A file
    without ids (human-eval's and evalplus's formats have none) gets `<task_id>#<i>`, i counting
    that task's samples in file order."""
    out, seen, per_task = [], set(), {}
    for i, rec in enumerate(iter_jsonl(path, required=("task_id",)), start=1):
        rec["task_id"] = str(rec["task_id"]) if str(rec["task_id"]) in problems else rec["task_id"]
        if rec["task_id"] not in problems:
            raise DataError(f"{path}:{i}: task_id {rec['task_id']!r} is not among the problems")
        fields = [f for f in ("completion", "solution") if f in rec]
        if not fields:
            raise DataError(f"{path}:{i}: expected a 'completion' (appended to the prompt) or a 'solution' "
                            f"(the whole program) field")
        for f in fields:
            if not isinstance(rec[f], str):
                raise DataError(f"{path}:{i}: expected {f!r} to be a string")
        idx = per_task.get(rec["task_id"], 0)
        per_task[rec["task_id"]] = idx + 1
        if "id" not in rec:
            rec["id"] = f"{rec['task_id']}#{idx}"
        if rec["id"] in seen:
            raise DataError(f"{path}:{i}: duplicate id {rec['id']!r}")
        seen.add(rec["id"])
        out.append(rec)
    return out
