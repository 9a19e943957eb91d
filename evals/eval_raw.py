"""Evaluate a model (and LoRA adapters) on HumanEval or MBPP: sample, run the tests in the sandbox, pass@k.

Raw completion is the default prompt format (base models; the stop set is the reproduction guide's,
`\\nclass ` and `\\nif __name__`, plus ones that only cut example code); `--format chat` uses the model's
chat template and takes the code from the reply. Several `--adapter`s are evaluated on one loaded base,
one metrics row each. Writes config.json, samples.jsonl, results.jsonl, metrics.json; resumable.

Smoke (embedded model, CPU):
    python evals/eval_raw.py --model smollm2-135m --bench humaneval --format chat --limit 8
H100 (reproduction guide, §3.2):
    python evals/eval_raw.py --model Qwen/Qwen2.5-7B --adapter adapter_7b_seed13 --bench humaneval
"""

from __future__ import annotations

import argparse

from tinyforge import cli


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_eval_script_args(p, ["humaneval", "mbpp"], "humaneval", max_new_tokens=512)
    return p


def main(args: argparse.Namespace) -> dict:
    return cli.eval_main(args, "eval_raw")


if __name__ == "__main__":
    cli.run(main, build_parser)
