"""Auto-difficulty curriculum for code (reproduction guide §2.3, the code variant): for --iterations
rounds the model solves HumanEval-style problems made at the current difficulty level, the solutions
that pass the problems' tests in the sandbox are kept, a LoRA is trained from the base on every pair
so far, and the next round solves with it; the level moves up when the round's solve rate is above
--band-high and down when below --band-low. HumanEval and HumanEval+ (and MBPP with --eval-mbpp) are
evaluated before and after, in one process.

Problems (--problem-source): synthetic (default; level L = a docstring listing L chained list or string
operations, with a check(candidate) of 5 cases computed by the generator's reference) or mbpp_train
(MBPP train tasks 601-974 as stubs, decontaminated, in 5 levels by reference-solution length).
Attempts, verification, pairs and evaluation are recipe/bootstrap.py's (tinyforge/mining.py).

Stages, per round (skipped when complete, resumed when partial; details in tinyforge/curriculum.py):
    rounds/rNN/{problems,attempts,verified,pairs}.jsonl -> rounds/rNN/adapter/ -> rounds/rNN/round.json
    then eval/{before,after}/<bench>/; curriculum.png is redrawn after each round.
metrics.json (flat): round/<r>/{level,next_level,solve_rate,verified_share,pairs,pairs_total,train/...},
curve/level, curve/solve_rate, rounds, mined_pairs, final_adapter, before|after/<bench>/pass@1,
delta/<bench>/pass@1 (+ base/ and plus/ for HumanEval+). No verified pair in any round stops the run
before the evaluation (exit 2).

Smoke (embedded model, 2 CPU cores, about 4 minutes; SmolLM2-135M solved 4/8 then 3/8 level-1
problems, 7 pairs, and stayed at level 1 inside the 0.3-0.7 band):
    python recipe/curriculum_code.py --model smollm2-135m --format chat --limit 8 \\
        --iterations 2 --n-attempts 4 --max-new-tokens 160 --epochs 1 --eval-max-new-tokens 200 --tag smoke
H100:
    python recipe/curriculum_code.py --model Qwen/Qwen2.5-7B --iterations 16 --tag curr_code_7b
"""

from __future__ import annotations

import argparse

from tinyforge import cli

STAGE = "curriculum_code"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_curriculum_args(p, "code", adaptive=True, per_round=64)
    return p


def main(args: argparse.Namespace, samplers=None) -> dict:
    """`samplers`: adapters -> sampler factory (default: the model of --model; tests pass a fake)."""
    return cli.curriculum_main(args, STAGE, "code", adaptive=True, samplers=samplers)


if __name__ == "__main__":
    cli.run(main, build_parser)
