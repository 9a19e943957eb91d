"""Evaluate on math benchmarks: GSM8K, GSM8K-Platinum, GSM-Hard, MATH-500, AIME 2024 / 2025.

GSM8K-style answers: `pass@1` grades the answer a completion commits to (its last `#### N`, "the answer
is N", `\\boxed{N}` or final `A: N` line, else its last number); lm-eval's strict-match (`#### N`) and
flexible-extract (last number) are reported beside it as `strict/pass@1` and `flexible/pass@1`. MATH / AIME
answers are the last `\\boxed{}` judged equal by
math-verify plus our normalization, in worker processes with timeouts. Reports pass@k, maj@k
(self-consistency) and oracle best-of-n with bootstrap intervals. Resumable.

Smoke (embedded model, CPU):
    python evals/eval_math.py --model smollm2-135m --bench gsm8k --format chat --limit 8
H100:
    python evals/eval_math.py --model Qwen/Qwen3-4B-Base --bench math500 --n-samples 8 --temperature 0.7
"""

from __future__ import annotations

import argparse

from tinyforge import cli

MATH_BENCHES = ["gsm8k", "gsm8k_platinum", "gsm_hard", "math500", "aime24", "aime25"]


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_eval_script_args(p, MATH_BENCHES, "gsm8k", max_new_tokens=1024)
    return p


def main(args: argparse.Namespace) -> dict:
    return cli.eval_main(args, "eval_math")


if __name__ == "__main__":
    cli.run(main, build_parser)
