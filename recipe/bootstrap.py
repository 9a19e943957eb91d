"""Self-bootstrap (reproduction guide §2.1): the model writes code problems, solves them, keeps the
solutions its problems' tests verify in the sandbox, is LoRA-trained on those pairs, and is evaluated
on HumanEval and HumanEval+ (and MBPP with --eval-mbpp) before and after, in one process.

Stages, each a file in the run dir, skipped when complete and resumed when partial:
    problems.jsonl -> attempts.jsonl -> verified.jsonl -> pairs.jsonl -> adapter/ -> eval/{before,after}/<bench>/
metrics.json (flat): problems, attempts, verified_attempts, problems_solved, mined_pairs, gen/*,
train/*, before/<bench>/pass@1, after/<bench>/pass@1, delta/<bench>/pass@1 (+ base/ and plus/ for
HumanEval+). No verified pair stops the run before training (exit 2). Problem sources, filters and
decontamination: tinyforge/mining.py.

Smoke (embedded model, CPU, a few minutes):
    python recipe/bootstrap.py --model smollm2-135m --problem-source mbpp_train --format chat --limit 8 \\
        --n-attempts 4 --max-new-tokens 192 --epochs 1 --eval-max-new-tokens 192 --tag smoke
H100 (reproduction guide §3.10, saturation; §3.11 runs it per model with --tag boundary_<model>):
    python recipe/bootstrap.py --model Qwen/Qwen3-8B-Base --tag sat_check
"""

from __future__ import annotations

import argparse
import time

from tinyforge import cli, mining
from tinyforge.io import save_metrics

STAGE = "bootstrap"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    mining.add_run_args(p, STAGE)
    cli.add_model_args(p, adapters="none")
    # 100 problems x 8 attempts, one pair each: the guide's 7B run trained on 40 mined pairs.
    mining.add_mining_args(p, n_problems=100, n_attempts=8, max_pairs=1)
    mining.add_train_args(p, lora_rank=16, epochs=3.0)
    mining.add_eval_args(p)
    return p


def run_knobs(args) -> dict:
    """The settings the default run dir name carries."""
    return mining.mining_knobs(args, t=args.temperature, r=args.lora_rank)


def pair_source(args) -> str:
    return f"{STAGE}/{mining.source_kind(args)}"


def headline(args, m: dict) -> str:
    line = (f"bootstrap {args.model}: {m.get('mined_pairs', 0)} pairs from {m.get('problems', 0)} problems "
            f"({m.get('verified_attempts', 0)}/{m.get('attempts', 0)} attempts verified)")
    verdicts = [mining.lift_verdict(m, b) for b in mining.eval_benches(args)]
    return "\n".join([line] + [v for v in verdicts if v])


def main(args: argparse.Namespace) -> dict:
    run_dir = mining.run_dir_for(STAGE, args, run_knobs(args))
    metrics = mining.open_run_dir(run_dir, args, STAGE, mining.MINING_KNOBS + mining.TRAIN_KNOBS)
    metrics.update({"model": args.model, "format": args.format, "problem_source": args.problem_source})
    t0 = time.time()

    sampler = mining.LazySampler(args)
    pairs, stats = mining.harvest(args, run_dir, sampler, source=pair_source(args))
    sampler.release()  # the trainer needs the memory
    metrics.update(stats)
    save_metrics(run_dir, metrics)
    if not pairs:
        raise mining.no_pairs_error(run_dir, metrics)

    adapter = run_dir / "adapter"
    metrics.update(mining.train_adapter(pairs, args, adapter, stage=STAGE))
    save_metrics(run_dir, metrics)

    if not args.skip_eval:
        benches = mining.eval_benches(args)
        evals = mining.LazySampler(args, adapter=[str(adapter)])
        flat = mining.evaluate_runs(args, run_dir, evals, [("before", False), ("after", str(adapter))], benches)
        evals.release()
        flat.update(mining.deltas(flat, run_dir=run_dir))
        metrics.update(flat)
        print(mining.before_after_table(flat, ["before", "after"], benches))
    metrics["time/total_s"] = round(time.time() - t0, 2)
    save_metrics(run_dir, metrics)
    print(f"run dir: {run_dir}")
    print(headline(args, metrics))
    return metrics


if __name__ == "__main__":
    cli.run(main, build_parser)
