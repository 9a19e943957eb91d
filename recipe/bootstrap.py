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

from tinyforge import cli

STAGE = "bootstrap"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    # 100 problems x 8 attempts, one pair each: the guide's 7B run trained on 40 mined pairs.
    cli.add_harvest_args(p, n_problems=100, n_attempts=8, max_pairs=1, lora_rank=16)
    return p


def headline(model: str, m: dict, benches) -> str:
    from tinyforge import comparisons

    line = (f"bootstrap {model}: {m.get('mined_pairs', 0)} pairs from {m.get('problems', 0)} problems "
            f"({m.get('verified_attempts', 0)}/{m.get('attempts', 0)} attempts verified)")
    verdicts = [comparisons.verdict(m, b) for b in benches]
    return "\n".join([line] + [v for v in verdicts if v])


def main(args: argparse.Namespace, samplers=None) -> dict:
    """`samplers`: adapters -> sampler factory (default: the model of --model; tests pass a fake)."""
    from tinyforge import recipes
    from tinyforge.sampling import sampler_factories

    mine, sft, ss = cli.mining_settings(args), cli.sft_settings(args), cli.sampler_settings(args, adapter=None)
    evals = cli.recipe_evals(args, cli.recipe_benches(args))
    run_dir = cli.run_dir(args, STAGE)
    plan = cli.harvest_plan(STAGE, run_dir, args, mine, evals=evals)
    if args.dry_run:
        return plan.show()
    metrics = cli.open_run(args, STAGE, run_dir)
    metrics = recipes.bootstrap(mine, sft, evals, run_dir, samplers or sampler_factories(ss), stage=STAGE, metrics=metrics,
                                config=vars(args))
    print(f"run dir: {run_dir}")
    print(headline(args.model, metrics, cli.recipe_benches(args) if evals else []))
    return metrics


if __name__ == "__main__":
    cli.run(main, build_parser)
