"""Vanilla math self-bootstrap, the baseline of the curriculum (reproduction guide §3.8: "compare to
recipe/math_bootstrap.py, which regresses"): the model solves GSM8K train questions drawn without regard
to difficulty, the solutions whose answer is right are kept, a LoRA is trained on them, and GSM8K test
(first 100 questions) is evaluated before and after, in one process.

It is recipe/curriculum_math.py's round loop with the controller off (tinyforge/curriculum.py): same
prompts, grading, pairs, training and evaluation, so the two runs differ only in the curriculum. One
round by default; --iterations N runs N rounds, each on fresh questions and training from the base on
all pairs so far (the curriculum's schedule at a fixed, unselected difficulty).

Stages (skipped when complete, resumed when partial): rounds/r01/{problems,attempts,verified,pairs}.jsonl
-> rounds/r01/adapter/ -> rounds/r01/round.json -> eval/{before,after}/gsm8k/, and curriculum.png.
metrics.json (flat): round/<r>/{solve_rate,verified_share,pairs,mean_steps,train/...} (round/<r>/level is
null: no level is chosen), curve/solve_rate, mined_pairs, final_adapter, before|after/gsm8k/pass@1,
delta/gsm8k/pass@1. No verified pair stops the run before the evaluation (exit 2).

Smoke (embedded model, 2 CPU cores; SmolLM2-135M rarely gets a GSM8K train question right, so expect
few or no pairs, and with none the run stops before the evaluation with exit 2, which says so):
    python recipe/math_bootstrap.py --model smollm2-135m --format chat --limit 8 \\
        --n-attempts 4 --max-new-tokens 320 --epochs 1 --skip-eval --tag smoke
H100 (the baseline beside §3.8's curriculum run):
    python recipe/math_bootstrap.py --model Qwen/Qwen2.5-3B --tag vanilla_3b
"""

from __future__ import annotations

import argparse

from tinyforge import cli

STAGE = "math_bootstrap"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    # 200 questions x 4 attempts: about the pairs the curriculum's first rounds yield
    cli.add_curriculum_args(p, "math", adaptive=False, per_round=200)
    return p


def main(args: argparse.Namespace, samplers=None) -> dict:
    """`samplers`: adapters -> sampler factory (default: the model of --model; tests pass a fake)."""
    return cli.curriculum_main(args, STAGE, "math", adaptive=False, samplers=samplers)


if __name__ == "__main__":
    cli.run(main, build_parser)
