"""Auto-difficulty curriculum for math (reproduction guide §2.3, §3.8): for --iterations rounds the model
solves word problems made at the current difficulty level, the solutions whose answer is right are
kept, a LoRA is trained from the base on every pair so far, and the next round solves with it; the
level moves up when the round's solve rate is above --band-high and down when below --band-low. GSM8K
test (first 100 questions) is evaluated before and after, in one process.

Problems (--problem-source): synthetic (default; level L = L arithmetic operations in a generated word
problem whose answer the generator computes) or gsm8k_train (GSM8K train items, level = calculation
steps of the reference solution). Prompts, answer grading and the evaluation are the GSM8K ones
(tinyforge.benchmarks, tinyforge.grading), so the model trains in the format it is tested in.
recipe/math_bootstrap.py is the same loop without the curriculum.

Stages, per round (skipped when complete, resumed when partial; details in tinyforge/curriculum.py):
    rounds/rNN/{problems,attempts,verified,pairs}.jsonl -> rounds/rNN/adapter/ -> rounds/rNN/round.json
    then eval/{before,after}/gsm8k/; curriculum.png is redrawn after each round.
metrics.json (flat): round/<r>/{level,next_level,solve_rate,verified_share,pairs,pairs_total,train/...},
curve/level, curve/solve_rate, rounds, mined_pairs, final_adapter, before|after/gsm8k/pass@1,
delta/gsm8k/pass@1 (+ its paired interval). No verified pair in any round stops the run before the
evaluation (exit 2).

Smoke (embedded model, 2 CPU cores, under 2 minutes a round with --skip-eval; SmolLM2-135M got 1 of
32 level-1 attempts right, so expect one pair or none, and with none the run stops with exit 2):
    python recipe/curriculum_math.py --model smollm2-135m --format chat --limit 8 \\
        --iterations 1 --n-attempts 4 --max-new-tokens 320 --epochs 1 --skip-eval --tag smoke
H100 (reproduction guide §3.8; the guide reports GSM8K 32/100 -> 66/100):
    python recipe/curriculum_math.py --model Qwen/Qwen2.5-3B --iterations 16 --tag curr_3b_rerun
"""

from __future__ import annotations

import argparse

from tinyforge import cli

STAGE = "curriculum_math"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_curriculum_args(p, "math", adaptive=True, per_round=64)
    return p


def main(args: argparse.Namespace, samplers=None) -> dict:
    """`samplers`: adapters -> sampler factory (default: the model of --model; tests pass a fake)."""
    return cli.curriculum_main(args, STAGE, "math", adaptive=True, samplers=samplers)


if __name__ == "__main__":
    cli.run(main, build_parser)
