"""The self-bootstrap recipes as Python calls: harvest -> train -> evaluate before / after, in one run dir.

    from tinyforge import mining, recipes, sampling, training
    m = recipes.bootstrap(mining.MiningSettings(problem_source="mbpp_train", n_problems=32, format="chat"),
                          training.SFTSettings(fmt="chat", epochs=2), evals, "runs/x",
                          sampling.sampler_factories(sampling.SamplerSettings(model="smollm2-135m")))

recipe/bootstrap.py, recipe/multi_pair.py (and its guide name multi_pair_14b.py) are thin wiring over
these. `samplers(adapters)` returns a sampler factory with those adapters loaded (sampling.
sampler_factories; tests pass a scripted fake); `evals` is a list of EvalSettings (None: no evaluation).
Run dir layout: problems.jsonl -> attempts.jsonl -> verified.jsonl -> pairs.jsonl (tinyforge.mining)
-> adapter/ (tinyforge.training) -> eval/<label>/<bench>/ (tinyforge.evaluation), each stage skipped
when complete and resumed when partial; metrics.json holds the harvest stats, train/*,
<label>/<bench>/<metric> and delta/<bench>/... (tinyforge.comparisons).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from tinyforge import comparisons, mining
from tinyforge.io import TinyforgeError, save_metrics, write_jsonl


def _evaluate(run_dir: Path, evals, samplers, runs: Sequence[tuple[str, object]]) -> dict:
    from tinyforge.evaluation import evaluate_runs

    factory = samplers([a for _, a in runs if a])
    flat = evaluate_runs(evals, factory, run_dir / "eval", runs)
    factory.release()
    flat.update(comparisons.deltas(flat, root=run_dir / "eval"))
    print(comparisons.table(flat, [label for label, _ in runs], [e.bench for e in evals]))
    return flat


def bootstrap(mine: mining.MiningSettings, sft, evals, run_dir: Path | str, samplers, *, stage: str = "bootstrap",
              metrics: dict | None = None, config: dict | None = None) -> dict:
    """Harvest pairs with the base model, train a LoRA on them, evaluate base and adapter."""
    from tinyforge.training import train_adapter

    run_dir = Path(run_dir)
    metrics = dict(metrics or {})
    metrics.update({"model": mine.model, "format": mine.format, "problem_source": mine.problem_source})
    t0 = time.time()
    sampler = samplers(None)
    pairs, stats = mining.harvest(mine, run_dir, sampler, source=f"{stage}/{source_kind(mine.problem_source)}")
    sampler.release()  # the trainer needs the memory
    metrics.update(stats)
    save_metrics(run_dir, metrics)
    if not pairs:
        raise mining.no_pairs_error(run_dir, metrics)
    adapter = run_dir / "adapter"
    metrics.update(train_adapter(pairs, sft, adapter, stage=stage, config=config))
    save_metrics(run_dir, metrics)
    if evals:
        metrics.update(_evaluate(run_dir, evals, samplers, [("before", False), ("after", str(adapter))]))
    metrics["time/total_s"] = round(time.time() - t0, 2)
    save_metrics(run_dir, metrics)
    return metrics


def source_kind(problem_source: str) -> str:
    """self, mbpp_train or file: the problem source as pair sources spell it."""
    return problem_source if problem_source in ("self", "mbpp_train") else "file"


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


def multi_pair(mine: mining.MiningSettings, sft, evals, run_dir: Path | str, samplers, *, warmup: list[dict],
               warmup_mode: str = "mine", stage: str = "multi_pair", metrics: dict | None = None,
               config: dict | None = None) -> dict:
    """Aggressive multi-pair mining (guide §2.1, §3.7). `warmup_mode` mine: a warm-up LoRA trained on
    `warmup` solves the problems the base writes, and the final adapter is trained from the base on
    warm-up + mined pairs; mix: the base mines and the warm-up pairs only join the final training set."""
    from tinyforge.training import train_adapter

    if warmup_mode not in ("mine", "mix"):
        raise TinyforgeError(f"warm-up mode {warmup_mode!r}: expected mine or mix")
    run_dir = Path(run_dir)
    metrics = dict(metrics or {})
    metrics.update({"model": mine.model, "format": mine.format, "warmup_pairs": len(warmup),
                    "warmup_mode": warmup_mode if warmup else None})
    t0 = time.time()
    warm_dir = None
    if warmup and warmup_mode == "mine":
        warm_dir = run_dir / "warmup_adapter"
        m = train_adapter(warmup, sft, warm_dir, stage=f"{stage}/warmup", config=config)
        metrics.update({f"warmup_{k}": v for k, v in m.items()})
        save_metrics(run_dir, metrics)
    # The base writes the problems (gen_lora False); the warm-up adapter, when there is one, solves them.
    sampler = samplers([str(warm_dir)] if warm_dir else None)
    mined, stats = mining.harvest(mine, run_dir, sampler, source=f"{stage}/{source_kind(mine.problem_source)}",
                                  gen_lora=False, meta={"miner": "warmup_adapter" if warm_dir else "base"})
    sampler.release()
    metrics.update(stats)
    save_metrics(run_dir, metrics)
    if not mined:
        raise mining.no_pairs_error(run_dir, metrics)
    pairs = training_set(warmup, mined)
    write_jsonl(run_dir / "train_pairs.jsonl", pairs)
    metrics["train_pairs"] = len(pairs)
    adapter = run_dir / "adapter"
    metrics.update(train_adapter(pairs, sft, adapter, stage=stage, config=config))
    save_metrics(run_dir, metrics)
    if evals:
        runs = [("before", False)] + ([("warmup", str(warm_dir))] if warm_dir else []) + [("after", str(adapter))]
        metrics.update(_evaluate(run_dir, evals, samplers, runs))
    metrics["time/total_s"] = round(time.time() - t0, 2)
    save_metrics(run_dir, metrics)
    return metrics
