"""4-bit harvest for large models (reproduction guide §2.1): the self-bootstrap mining stages only, with
the model loaded in 4-bit NF4 (bitsandbytes; vLLM's bitsandbytes quantization with --backend vllm), so
a 14B model mines on one GPU next to nothing else. No training in the loop: the pairs it writes feed
recipe/train_on_pairs.py (or multi_pair.py --warmup-pairs-path) afterwards.

Stages (skipped when complete, resumed when partial): problems.jsonl -> attempts.jsonl ->
verified.jsonl -> pairs.jsonl. metrics.json: problems, attempts, verified_attempts, problems_solved,
mined_pairs, pairs_per_problem, gen/*. NF4 needs CUDA: without a GPU the script stops at once (exit 2);
no verified pair is exit 2 too.

Smoke (a CUDA machine; the embedded model):
    python recipe/bootstrap_14b_4bit_harvest.py --model smollm2-135m --problem-source mbpp_train --limit 8
H100 (reproduction guide §2.1):
    python recipe/bootstrap_14b_4bit_harvest.py --model Qwen/Qwen2.5-14B --tag harvest_14b
"""

from __future__ import annotations

import argparse
import time

from tinyforge import cli
from tinyforge.io import TinyforgeError, save_metrics

STAGE = "bootstrap_14b_4bit_harvest"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    # Settings of the multi-pair harvest whose pairs the 14B adapter was trained on (guide §3.7).
    cli.add_harvest_args(p, n_problems=200, n_attempts=8, max_pairs=4, train=False)
    p.set_defaults(model="Qwen/Qwen2.5-14B")
    return p


def require_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        raise TinyforgeError("bootstrap_14b_4bit_harvest loads the model in 4-bit NF4, which needs a CUDA GPU "
                             "(bitsandbytes); this machine has none. Use recipe/bootstrap.py --skip-eval on CPU")


def main(args: argparse.Namespace) -> dict:
    from tinyforge import mining, recipes
    from tinyforge.sampling import LazySampler

    args.load_in_4bit = True  # NF4 is the point of this script (see --load-in-4bit's help)
    if not args.dry_run:
        require_cuda()  # the first thing a CPU machine needs to hear
    mine = cli.mining_settings(args)
    ss = cli.sampler_settings(args, adapter=None)
    run_dir = cli.run_dir(args, STAGE)
    plan = cli.harvest_plan(STAGE, run_dir, args, mine, train=False)
    if args.dry_run:
        return plan.show()
    metrics = cli.open_run(args, STAGE, run_dir)
    metrics.update({"model": args.model, "format": args.format, "quantization": "nf4"})
    t0 = time.time()
    sampler = LazySampler(ss)
    pairs, stats = mining.harvest(mine, run_dir, sampler, source=f"{STAGE}/{recipes.source_kind(mine.problem_source)}",
                                  meta={"quantization": "nf4"})
    described = sampler().describe() if sampler.sampler is not None else None
    sampler.release()
    metrics.update(stats)
    if described:
        metrics["sampler"] = described
    metrics["time/total_s"] = round(time.time() - t0, 2)
    save_metrics(run_dir, metrics)
    if not pairs:
        raise mining.no_pairs_error(run_dir, metrics)
    print(f"run dir: {run_dir}")
    print(f"harvest {args.model} (nf4): {len(pairs)} pairs from {metrics.get('problems', 0)} problems "
          f"({metrics.get('verified_attempts', 0)}/{metrics.get('attempts', 0)} attempts verified) "
          f"in {run_dir / 'pairs.jsonl'}")
    return metrics


if __name__ == "__main__":
    cli.run(main, build_parser)
