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
import time

from tinyforge import cli, mining
from tinyforge.io import TinyforgeError, save_metrics, write_jsonl

STAGE = "multi_pair"
KNOBS = mining.MINING_KNOBS + mining.TRAIN_KNOBS + ("warmup_pairs_path", "warmup_mode")


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    mining.add_run_args(p, STAGE)
    cli.add_model_args(p, adapters="none")
    g = p.add_argument_group("warm-up")
    g.add_argument("--warmup-pairs-path", default=None, metavar="JSONL",
                   help="pairs (prompt, completion, ...) to warm up on: see --warmup-mode")
    g.add_argument("--warmup-mode", default="mine", choices=["mine", "mix"],
                   help="mine: train a warm-up adapter first and mine with it; mix: only add the pairs "
                        "to the final training set")
    # The guide's §3.7 settings: 200 problems x 8 attempts, up to 4 distinct pairs each, rank 32.
    mining.add_mining_args(p, n_problems=200, n_attempts=8, max_pairs=4)
    mining.add_train_args(p, lora_rank=32, epochs=3.0)
    mining.add_eval_args(p)
    return p


def run_knobs(args) -> dict:
    return mining.mining_knobs(args, warm=args.warmup_mode if args.warmup_pairs_path else None, r=args.lora_rank)


def training_set(warmup: list[dict], mined: list[dict]) -> list[dict]:
    """Warm-up pairs first, then the mined ones; ids made unique (a warm-up file may reuse ids)."""
    out, seen = [], set()
    for origin, pairs in (("warmup", warmup), ("mined", mined)):
        for i, p in enumerate(pairs):
            rec = dict(p)
            rid = str(rec.get("id", f"{origin}/{i}"))
            rec["id"] = rid if rid not in seen else f"{origin}/{i}/{rid}"
            rec.setdefault("source", origin)
            seen.add(rec["id"])
            out.append(rec)
    return out


def main(args: argparse.Namespace) -> dict:
    from tinyforge import training

    # The warm-up file is checked (file:line on a bad record) before a model is loaded.
    warmup = training.load_pairs(args.warmup_pairs_path) if args.warmup_pairs_path else []
    if args.warmup_pairs_path and not warmup:
        raise TinyforgeError(f"{args.warmup_pairs_path}: no pairs in the warm-up file")
    if warmup:
        training.check_pair_format(warmup, args.format, args.warmup_pairs_path)
    run_dir = mining.run_dir_for(STAGE, args, run_knobs(args))
    metrics = mining.open_run_dir(run_dir, args, STAGE, KNOBS)
    metrics.update({"model": args.model, "format": args.format, "warmup_pairs": len(warmup),
                    "warmup_mode": args.warmup_mode if warmup else None})
    t0 = time.time()

    warm_dir = None
    if warmup and args.warmup_mode == "mine":
        warm_dir = run_dir / "warmup_adapter"
        m = mining.train_adapter(warmup, args, warm_dir, stage=f"{STAGE}/warmup")
        metrics.update({f"warmup_{k}": v for k, v in m.items()})
        save_metrics(run_dir, metrics)

    # The base writes the problems (lora False); the warm-up adapter, when there is one, solves them.
    sampler = mining.LazySampler(args, adapter=[str(warm_dir)] if warm_dir else None)
    mined, stats = mining.harvest(args, run_dir, sampler, source=f"{STAGE}/{mining.source_kind(args)}", gen_lora=False,
                                  meta={"miner": "warmup_adapter" if warm_dir else "base"})
    sampler.release()
    metrics.update(stats)
    save_metrics(run_dir, metrics)
    if not mined:
        raise mining.no_pairs_error(run_dir, metrics)

    pairs = training_set(warmup, mined)
    write_jsonl(run_dir / "train_pairs.jsonl", pairs)
    metrics["train_pairs"] = len(pairs)
    adapter = run_dir / "adapter"
    metrics.update(mining.train_adapter(pairs, args, adapter, stage=STAGE))
    save_metrics(run_dir, metrics)

    if not args.skip_eval:
        benches = mining.eval_benches(args)
        runs = [("before", False)] + ([("warmup", str(warm_dir))] if warm_dir else []) + [("after", str(adapter))]
        evals = mining.LazySampler(args, adapter=[a for _, a in runs if a])
        flat = mining.evaluate_runs(args, run_dir, evals, runs, benches)
        evals.release()
        flat.update(mining.deltas(flat, run_dir=run_dir))
        metrics.update(flat)
        print(mining.before_after_table(flat, [label for label, _ in runs], benches))
    metrics["time/total_s"] = round(time.time() - t0, 2)
    save_metrics(run_dir, metrics)
    print(f"run dir: {run_dir}")
    line = (f"multi_pair {args.model}: {len(mined)} mined + {len(warmup)} warm-up pairs from "
            f"{metrics.get('problems', 0)} problems")
    verdict = mining.lift_verdict(metrics)
    print(line + (f"\n{verdict}" if verdict else ""))
    return metrics


if __name__ == "__main__":
    cli.run(main, build_parser)
