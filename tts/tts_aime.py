"""Test-time sampling on AIME 2024 and AIME 2025 (30 problems each): n samples per problem, pass@k for every
k in 1..n, maj@k over k-subsets of the n (integer answers: "025" and "25" are one vote), the oracle
best-of-n, mean tokens, 95% bootstrap intervals, a table and a figure per year (REPRODUCE.md §3.3). With
n = 32 the maj@k above C(32, k) > 20,000 subsets is a seeded estimate; metrics.json says which k are exact.

Writes runs/tts_aime/<model>_t<T>_s<seed>/{aime24,aime25}/ (samples, results, per_task.jsonl, table.md,
curve.png, metrics.json) and a metrics.json with `aime24/pass@k`, `aime24/oracle`, `aime25/...` keys.

Smoke (embedded model, CPU, a few minutes):
    python tts/tts_aime.py --model smollm2-135m --format chat --n 4 --limit 2 --max-new-tokens 128
H100 (the guide: pass@k curve, 25.6 / 38.9% best-of-32 for Qwen3-8B-Base):
    python tts/tts_aime.py --model Qwen/Qwen3-8B-Base --n 32
"""

from __future__ import annotations

import argparse

from tinyforge import cli

STAGE = "tts_aime"
YEARS = ["aime24", "aime25"]


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_tts_args(p, n=32, temperature=0.7, max_new_tokens=2048)
    cli.add_flags(p, "prompts", "format", "shots")
    return p


def main(args: argparse.Namespace) -> dict:
    return cli.tts_main(args, STAGE, YEARS)


if __name__ == "__main__":
    cli.run(main, build_parser)
