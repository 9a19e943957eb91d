"""Test-time sampling on HumanEval: n samples per task, pass@k for every k in 1..n (Chen et al.'s unbiased
estimator) with 95% bootstrap intervals, the oracle best-of-n (a task counts when one of its n samples
passes the tests in the sandbox), mean completion tokens, a markdown table and a figure of pass@k
against k (REPRODUCE.md §3.3). Raising --n on a finished run draws only the new samples.

Writes into the run dir (default runs/tts_humaneval/<model>_t<T>_s<seed>/, no n in the name):
samples.jsonl, results.jsonl, per_task.jsonl (every k), table.md, curve.png and metrics.json (`pass@1` ..
`pass@n`, `oracle`, `n_oracle`, `mean_tokens`).

Smoke (embedded model, CPU: 12 min on one core of a busy 2-core machine; 0/16 at this size):
    python tts/tts_humaneval.py --model smollm2-135m --n 8 --limit 16
H100 (the guide's §3.3: best-of-8 = 152/164 for Qwen3-4B-Base, 151/164 for Qwen3-8B-Base):
    python tts/tts_humaneval.py --model Qwen/Qwen3-4B-Base --n 8 --temperature 0.7
"""

from __future__ import annotations

import argparse

from tinyforge import cli

STAGE = "tts_humaneval"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_tts_args(p, n=8, temperature=0.7, max_new_tokens=512)
    cli.add_flags(p, "prompts", "format")
    return p


def main(args: argparse.Namespace) -> dict:
    return cli.tts_main(args, STAGE, ["humaneval"])


if __name__ == "__main__":
    cli.run(main, build_parser)
