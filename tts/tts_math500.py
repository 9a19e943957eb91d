"""Test-time sampling on MATH-500: n samples per problem, pass@k for every k in 1..n, maj@k (self-consistency:
the vote of k samples drawn from the n, answers grouped by the grader's equivalence), the oracle best-of-n,
mean completion tokens, 95% bootstrap intervals, a markdown table and a figure (REPRODUCE.md §3.3).
Answers are the last \\boxed{} (or the Minerva "final answer" sentence), judged by math-verify in worker
processes. Raising --n on a finished run draws only the new samples.

Writes samples.jsonl, results.jsonl, per_task.jsonl, table.md, curve.png and metrics.json (`pass@k`, `maj@k`,
`maj_estimate`, `oracle`, `n_oracle`, `mean_tokens`) into runs/tts_math500/<model>_t<T>_s<seed>/.

Smoke (embedded model, CPU, a few minutes):
    python tts/tts_math500.py --model smollm2-135m --format chat --n 4 --limit 4 --max-new-tokens 256
H100 (the guide's §3.3: best-of-8 = 397/500 for Qwen3-4B-Base, 405/500 for Qwen3-8B-Base):
    python tts/tts_math500.py --model Qwen/Qwen3-4B-Base --n 8
"""

from __future__ import annotations

import argparse

from tinyforge import cli

STAGE = "tts_math500"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_tts_args(p, n=8, temperature=0.7, max_new_tokens=1024)
    cli.add_flags(p, "prompts", "format", "shots")
    return p


def main(args: argparse.Namespace) -> dict:
    return cli.tts_main(args, STAGE, ["math500"])


if __name__ == "__main__":
    cli.run(main, build_parser)
