"""Evaluate on HumanEval+ or MBPP+: base and plus pass@k, as evalplus reports them.

The base verdict runs the original inputs, the plus verdict base + EvalPlus's extra inputs; outputs are
compared with the canonical solution's (computed once in the sandbox, cached by data hash) as evalplus
compares them (`==`, so `0 == False`; floats within its atol; `--strict-types` also requires the types),
under evalplus's per-test time limits. Resumable; several
`--adapter`s share one loaded base.

Smoke (embedded model, CPU):
    python evals/eval_plus.py --model smollm2-135m --bench humaneval_plus --format chat --limit 8
H100 (reproduction guide, §3.2):
    python evals/eval_plus.py --model Qwen/Qwen2.5-14B --adapter adapter_14b_multi
"""

from __future__ import annotations

import argparse

from tinyforge import cli


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_eval_script_args(p, ["humaneval_plus", "mbpp_plus"], "humaneval_plus", max_new_tokens=512)
    return p


def main(args: argparse.Namespace) -> dict:
    return cli.eval_main(args, "eval_plus")


if __name__ == "__main__":
    cli.run(main, build_parser)
