"""Aggressive multi-pair mining (reproduction guide §2.1, §3.7): warm up on given pairs, mine several
distinct verified solutions for each of many problems, train one LoRA on warm-up + mined pairs, and
evaluate base, warm-up and final adapters on HumanEval / HumanEval+ (+ MBPP) in one process.

Warm-up (`--warmup-pairs-path`, any pairs JSONL, e.g. data/pairs_7b_40.jsonl):
  --warmup-mode mine (default): a warm-up LoRA is trained on those pairs first (warmup_adapter/) and
      solves the problems (the base model writes them), so the mined solutions come from the
      stronger model; the final adapter is then trained from the base on warm-up + mined pairs.
  --warmup-mode mix: no warm-up training; the base mines, and the warm-up pairs are only mixed into
      the final training set (the guide's `cat pairs_7b_40.jsonl pairs_14b_multi_new60.jsonl`).
Without --warmup-pairs-path this is bootstrap.py with several pairs per problem.

Stages (skipped when complete, resumed when partial): warmup_adapter/ -> problems.jsonl ->
attempts.jsonl -> verified.jsonl -> pairs.jsonl -> train_pairs.jsonl -> adapter/ ->
eval/{before,warmup,after}/<bench>/. metrics.json: warmup_pairs, mined_pairs, train_pairs, problems,
verified_attempts, train/*, before|warmup|after/<bench>/pass@1, delta/<bench>/pass@1.

Smoke (embedded model, CPU):
    python recipe/multi_pair.py --model smollm2-135m --warmup-pairs-path runs/bootstrap/smoke/pairs.jsonl \\
        --problem-source mbpp_train --format chat --limit 8 --n-attempts 4 --max-new-tokens 192 --epochs 1 \\
        --eval-max-new-tokens 192 --tag smoke
H100 (reproduction guide §3.7, the 14B 80.5% pipeline; recipe/multi_pair_14b.py is this script):
    python recipe/multi_pair_14b.py --model Qwen/Qwen2.5-14B --warmup_pairs_path data/pairs_7b_40.jsonl \\
        --n_problems 200 --n_attempts 8 --max_pairs_per_problem 4 --lora_rank 32 --tag multi_rerun
"""

from __future__ import annotations

import argparse

from tinyforge import cli

STAGE = "multi_pair"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_multi_pair_args(p)
    return p


def main(args: argparse.Namespace, samplers=None) -> dict:
    """`samplers`: adapters -> sampler factory (default: the model of --model; tests pass a fake)."""
    return cli.multi_pair_main(args, STAGE, samplers=samplers)


if __name__ == "__main__":
    cli.run(main, build_parser)
