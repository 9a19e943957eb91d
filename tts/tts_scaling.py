"""The full test-time sampling sweep for one model (the guide's Table 2, §2.2 / §3.3): HumanEval, HumanEval+,
MATH-500, AIME 2024 and AIME 2025, one pool of n samples per task each; pass@k for every k in 1..n,
maj@k for the math benchmarks, oracle best-of-n, mean tokens, 95% intervals, a table and a figure per
benchmark. HumanEval+ grades HumanEval's samples (same prompts) with its extra tests; pools that
tts_humaneval.py / tts_math500.py / tts_aime.py (or evals/) drew with the same model and settings are
reused, and a larger --n draws only the new samples.

Writes runs/tts_scaling/<model>_t<T>_s<seed>/<bench>/ each, and metrics.json with `<bench>/pass@k`,
`<bench>/oracle`, `<bench>/n_oracle`, `<bench>/maj@k` (HumanEval+: `humaneval_plus/base/pass@k` too).

Smoke (embedded model, CPU, ~10 min):
    python tts/tts_scaling.py --model smollm2-135m --n 2 --limit 2 --max-new-tokens 96
H100 (~30 min):
    python tts/tts_scaling.py --model Qwen/Qwen3-4B-Base
"""

from __future__ import annotations

import argparse

from tinyforge import cli

STAGE = "tts_scaling"
BENCHES = ["humaneval", "humaneval_plus", "math500", "aime24", "aime25"]


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_tts_args(p, n=8, temperature=0.7, max_new_tokens=None)
    cli.add_flags(p, "prompts", "format", "strict_types")
    return p


def main(args: argparse.Namespace) -> dict:
    return cli.tts_main(args, STAGE, BENCHES)


if __name__ == "__main__":
    cli.run(main, build_parser)
