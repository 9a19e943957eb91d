"""The reproduction guide's name for recipe/multi_pair.py (§2.1 "aggressive multi-pair mining", §3.7 the
14B 80.5% pipeline): the same flags, defaults and outputs; see that script's docstring.

Smoke (embedded model, CPU; warms up on the pairs of recipe/bootstrap.py's smoke):
    python recipe/multi_pair_14b.py --model smollm2-135m --warmup-pairs-path runs/bootstrap/smoke/pairs.jsonl \\
        --problem-source mbpp_train --format chat --limit 8 --n-attempts 4 --max-new-tokens 192 --epochs 1 \\
        --eval-max-new-tokens 192 --tag smoke14

H100 (reproduction guide §3.7):
    python recipe/multi_pair_14b.py --model Qwen/Qwen2.5-14B --warmup_pairs_path data/pairs_7b_40.jsonl \\
        --n_problems 200 --n_attempts 8 --max_pairs_per_problem 4 --lora_rank 32 --tag multi_rerun
"""

from __future__ import annotations

import argparse

from tinyforge import cli

STAGE = "multi_pair"  # the same stage: one run dir family, whichever name ran it


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_multi_pair_args(p)
    return p


def main(args: argparse.Namespace, samplers=None) -> dict:
    """`samplers`: adapters -> sampler factory (default: the model of --model; tests pass a fake)."""
    return cli.multi_pair_main(args, STAGE, samplers=samplers)


if __name__ == "__main__":
    cli.run(main, build_parser)
