"""Train a LoRA adapter on mined (prompt, completion) pairs: supervised fine-tuning, loss on the completion.

Pairs are JSONL records `id, prompt, completion, source` (+ `task_id`, `meta`). The prompt is formatted
as it will be evaluated (`--format raw`: plain text, as raw-completion evaluation feeds it; `chat`: the
model's chat template), each completion ends with EOS so the model learns to stop, and the loss covers
the completion tokens only. The out dir is the adapter: PEFT's save_pretrained layout (for
`evals/*.py --adapter` and vLLM's LoRARequest) plus train_log.json (loss and lr per optimizer step),
config.json and metrics.json. Runs unchanged under `accelerate launch` (configs/accelerate/); the lr
schedule is the same for any number of processes. `--train-batch-size` is per process: the global batch
is train-batch-size x grad-accum x processes. `--report-to wandb|trackio|tensorboard` also reports to
that tracker, as TRL's scripts do.

Smoke (embedded model, CPU, about a minute):
    python recipe/train_on_pairs.py --model smollm2-135m --pairs data/pairs_smollm2_135m_mbpp_chat.jsonl \\
        --format chat --limit 8 --epochs 1 --max-len 512 --out runs/train_on_pairs/smoke --overwrite
H100 (reproduction guide, fast path and pair-count sweep):
    python recipe/train_on_pairs.py --model Qwen/Qwen2.5-7B --pairs data/pairs_7b_40.jsonl --seed 13 \\
        --lora-rank 16 --out adapter_7b_seed13
    python recipe/train_on_pairs.py --model Qwen/Qwen2.5-7B --pairs /tmp/pairs_$N.jsonl --out adapter_n$N --epochs 2
Several GPUs:
    accelerate launch --config_file configs/accelerate/ddp.yaml recipe/train_on_pairs.py --model ... --out ...
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from tinyforge import cli
from tinyforge.io import TinyforgeError, changed_settings, prepare_run_dir, read_json, save_config, save_metrics

STAGE = "train_on_pairs"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_flags(p, "data", "pairs", pairs={"required": True})
    cli.add_io_args(p, limit_help="train on the first N pairs only (smoke runs)")
    cli.add_model_args(p, adapters="none")
    cli.add_flags(p, "format", "format", "seed",
                  format={"choices": ["raw", "chat"], "help": "raw: prompt text as raw-completion eval feeds it; "
                                                              "chat: the model's chat template"},
                  seed={"help": "seed of LoRA init, data order and dropout"})
    cli.add_train_args(p, lora_rank=16, epochs=3.0)
    return p


def finished_metrics(out: Path, args) -> dict | None:
    """The metrics of a finished run in `out` trained with the same settings; None when there is none.
    Raises when `out` holds an adapter trained otherwise, or files that are not a training run."""
    if not out.exists() or not any(out.iterdir()):
        return None
    cfg = read_json(out / "config.json") if (out / "config.json").exists() else {}
    if cfg.get("stage") != STAGE:
        raise TinyforgeError(f"--out-dir {out} already holds files that are not a {STAGE} run: choose another "
                             f"--out-dir, or pass --overwrite to replace them")
    if not ((out / "metrics.json").exists() and (out / "adapter_config.json").exists()):
        return None  # an unfinished run of this stage: train again from the start
    changed = changed_settings(cfg.get("args", {}), cli.resume_knobs(args))
    if changed:
        raise TinyforgeError(f"--out-dir {out} holds an adapter trained with other settings ("
                             + ", ".join(f"{cli.flag_of(k)} {old!r} there, {new!r} now" for k, old, new in changed)
                             + "): pass --overwrite to retrain, or another --out-dir")
    return read_json(out / "metrics.json")


def main(args: argparse.Namespace) -> dict:
    settings = cli.sft_settings(args)  # every flag checked before a file is read or a model loaded
    out = cli.run_dir(args, STAGE)
    if args.dry_run:
        return (cli.Plan(STAGE, out, model=args.model).reads(args.pairs, "--pairs")
                .step("train", f"LoRA r{settings.lora_rank} on {args.format} pairs, {settings.epochs:g} epochs, "
                               f"lr {settings.lr:g}")
                .writes(out, "adapter_config.json, adapter_model.safetensors, train_log.json, metrics.json")
                .show())
    from tinyforge import training
    from tinyforge.pairs import load_pairs

    pairs = load_pairs(args.pairs, args.limit, fmt=args.format)
    if not pairs:
        raise TinyforgeError(f"{args.pairs}: no pairs to train on (the file has no records"
                             f"{' after --limit' if args.limit is not None else ''}); nothing was trained")
    if not args.overwrite:
        done = finished_metrics(out, args)
        if done is not None:
            print(f"already trained: {out} (pass --overwrite to retrain)")
            print(f"adapter {out}: {done.get('train/steps')} steps, final loss "
                  f"{done.get('train/final_loss', math.nan):.4f}")
            return done

    sft_args = training.make_sft_args(settings, out)  # sets up the process group under accelerate
    main_proc = training.is_main_process()
    if main_proc:
        prepare_run_dir(out, overwrite=True)  # a stale train_log.json must not outlive a new run
        save_config(out, args, stage=STAGE, settings=training.settings_dict(settings),
                    num_processes=int(sft_args.world_size))
    training.wait_for_everyone()

    metrics = training.train_lora(pairs, settings, out, sft_args, log_meta={"pairs_file": str(args.pairs)})
    metrics["train/adapter"] = str(out)
    if main_proc:
        save_metrics(out, metrics)
        print(f"loss {metrics['train/initial_loss']:.4f} -> {metrics['train/final_loss']:.4f} over "
              f"{metrics['train/steps']} steps; {metrics['train/tokens']} tokens in {metrics['train/wall_s']:.1f} s "
              f"({metrics['train/tokens_per_s']:.0f} tokens/s)")
        print(f"adapter {out}: {metrics['train/steps']} steps, final loss {metrics['train/final_loss']:.4f}")
    return metrics


if __name__ == "__main__":
    cli.run(main, build_parser)
