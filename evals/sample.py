"""Sample n completions per prompt from a prompts file and write them to `samples.jsonl`.

The prompts file is JSONL; each record has `task_id` (or `id`) and either `prompt` (text, for raw
completion) or `messages` (chat messages, rendered with the model's chat template).

Resumable: records are appended as each chunk of prompts finishes, so a run killed at any point (even
`kill -9`) and started again with the same `--out-dir` samples only what is missing. Shardable:
`--shard i/N` samples every N-th prompt into `samples.shard<i>of<N>.jsonl`; running the same command
without `--shard` merges the shards into `samples.jsonl` and fills any gap.

Smoke (embedded model, CPU):
    python evals/sample.py --model smollm2-135m --prompts data/prompts_example.jsonl --limit 8 \\
        --n-samples 2 --temperature 0.8 --max-new-tokens 64 --stop "\\ndef "
H100:
    python evals/sample.py --model Qwen/Qwen2.5-7B --prompts prompts.jsonl --n-samples 8 \\
        --temperature 0.7 --max-new-tokens 512 --backend vllm
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyforge import cli
from tinyforge.io import DataError, iter_jsonl, save_config, save_metrics
from tinyforge.metrics import stop_audit
from tinyforge.sampling import LazySampler, check_decoding, sample_to_jsonl, shard_path


STAGE = "sample"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_flags(p, "data", "prompts", "chunk_size", prompts={"required": True})
    cli.add_io_args(p)
    cli.add_model_args(p, adapters="one")
    cli.add_decoding_args(p, n_samples=1, temperature=0.0, max_new_tokens=512)
    cli.add_sampler_args(p)
    cli.add_flags(p, "output", "logprobs", "show")
    return p


def load_prompts(path: str, limit: int | None = None) -> list[dict]:
    """[{task_id, prompt}] from a prompts file; ids must be unique."""
    out, seen = [], set()
    for i, rec in enumerate(iter_jsonl(path), start=1):
        tid = rec.get("task_id", rec.get("id"))
        prompt = rec.get("prompt", rec.get("messages"))
        if tid is None:
            raise DataError(f"{path}:{i}: missing field 'task_id' (or 'id')")
        if not isinstance(prompt, (str, list)):
            raise DataError(f"{path}:{i}: expected 'prompt' (a string) or 'messages' (a list of "
                            f"{{role, content}})")
        if tid in seen:
            raise DataError(f"{path}:{i}: duplicate task_id {tid!r}")
        seen.add(tid)
        out.append({"task_id": tid, "prompt": prompt})
    return out[:limit] if limit else out


def main(args: argparse.Namespace) -> dict:
    ss = cli.sampler_settings(args)
    with cli.flag_names():
        check_decoding(args.n_samples, args.temperature, args.top_p, args.max_new_tokens)
    shard = cli.parse_shard(args.shard)
    run_dir = cli.run_dir(args, STAGE)
    if args.dry_run:
        return (cli.Plan(STAGE, run_dir, model=args.model, adapters=[args.adapter] if args.adapter else [])
                .reads(args.prompts, "--prompts")
                .step("sample", f"{args.n_samples} per prompt, temperature {args.temperature}, <= "
                                f"{args.max_new_tokens} tokens" + (f", shard {args.shard}" if shard else ""))
                .writes(shard_path(run_dir / "samples.jsonl", shard)).writes(run_dir / "metrics.json").show())
    cli.check_inputs(args, adapters=[args.adapter] if args.adapter else [])
    prompts = load_prompts(args.prompts, args.limit)
    if not prompts:
        raise DataError(f"{args.prompts}: no prompts" + (" after --limit" if args.limit is not None else ""))
    cli.open_run(args, STAGE, run_dir, shard=args.shard)
    res = sample_to_jsonl(run_dir / "samples.jsonl", prompts, LazySampler(ss),
                          n=args.n_samples, temperature=args.temperature, top_p=args.top_p,
                          max_new_tokens=args.max_new_tokens, stop=cli.stop_list(args), seed=args.seed,
                          logprobs=args.logprobs, shard=shard,
                          chunk_size=args.chunk_size)
    if res["dropped_torn"]:
        print(f"resume: dropped 1 torn last line left by a killed run in {res['path']}")
    if res["sampler"]:
        save_config(run_dir, args, shard=args.shard, sampler=res["sampler"])
    records, new, wall = res["records"], res["new"], res["wall_s"]
    for r in records[:args.show]:
        shown = r["prompt"] if isinstance(r["prompt"], str) else r["prompt"][-1]["content"]
        print(f"\n=== {r['id']} ({r['finish_reason']}, {r['n_tokens']} tokens) ===\n"
              f"{shown.rstrip()[-300:]}\n--- completion ---\n{r['completion']}")
    audit = stop_audit(records, cli.stop_list(args) or ())
    metrics = {"n_prompts": res["wanted"] // args.n_samples, "n_samples": len(records), "new_samples": new,
               "mean_tokens": sum(r["n_tokens"] for r in records) / max(1, len(records)),
               "wall_s": round(wall, 2), "new_tokens_per_s": round(res["new_tokens"] / wall, 1) if new else None,
               **{f"stop_share/{k}": round(v, 4) for k, v in audit.items()}}
    # shards run side by side, so each keeps its own metrics file; the merging run writes metrics.json
    save_metrics(run_dir, metrics, shard_path(Path("metrics.json"), shard).name)
    # which stop cut how many samples: a wrong stop set silently fakes a low score
    print("stops: " + ", ".join(f"{k!r} {round(v * len(records))}" for k, v in audit.items()))
    print(f"sampled {new} new ({len(records)}/{res['wanted']} on disk) in {wall:.1f}s"
          + (f", {metrics['new_tokens_per_s']} new tok/s" if new else "") + f" -> {res['path']}")
    return metrics


if __name__ == "__main__":
    cli.run(main, build_parser)
