"""Train a LoRA adapter on mined (prompt, completion) pairs: supervised fine-tuning, loss on the completion.

Pairs are JSONL records `id, prompt, completion, source` (+ `task_id`, `meta`). The prompt is formatted
as it will be evaluated (`--format raw`: plain text, as raw-completion evaluation feeds it; `chat`: the
model's chat template), each completion ends with EOS so the model learns to stop, and the loss covers
the completion tokens only. The out dir is the adapter: PEFT's save_pretrained layout (for
`evals/*.py --adapter` and vLLM's LoRARequest) plus train_log.json (loss and lr per optimizer step),
config.json and metrics.json. Runs unchanged under `accelerate launch` (configs/accelerate/); the lr
schedule is the same for any number of processes. `--batch-size` is per process: the global batch is
batch-size x grad-accum x processes.

Smoke (embedded model, CPU, about a minute):
    python recipe/train_on_pairs.py --model smollm2-135m --pairs data/pairs_7b_40.jsonl --limit 8 \\
        --epochs 1 --max-len 512 --out runs/train_on_pairs/smoke --overwrite
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
from tinyforge.io import TinyforgeError, prepare_run_dir, read_json, save_config, save_metrics

STAGE = "train_on_pairs"
# Settings that change the trained adapter: a finished out dir trained with other values is not
# "resumed" (returned as is) but refused, so a bash loop never evaluates a stale adapter.
KNOBS = ("model", "pairs", "limit", "seed", "format", "lora_rank", "lora_alpha", "lora_dropout",
         "lora_targets", "epochs", "lr", "batch_size", "grad_accum", "max_len", "warmup_ratio",
         "weight_decay", "packing", "dtype", "load_in_4bit")


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    io = p.add_argument_group("io")
    io.add_argument("--pairs", required=True, help="pairs JSONL (id, prompt, completion, source)")
    io.add_argument("--out", "--out-dir", dest="out", default=None,
                    help="adapter / run directory (default: runs/train_on_pairs/<model>_r<rank>_ep<epochs>_s<seed>)")
    io.add_argument("--limit", type=int, default=None, help="train on the first N pairs only (smoke runs)")
    io.add_argument("--overwrite", action="store_true",
                    help="retrain into an out dir that already holds an adapter")
    cli.add_model_args(p, adapters="none")
    fmt = p.add_argument_group("format")
    fmt.add_argument("--format", default="raw", choices=["raw", "chat"],
                     help="raw: prompt text as raw-completion eval feeds it; chat: the model's chat template")
    fmt.add_argument("--max-len", type=int, default=1024,
                     help="tokens per training sequence (prompt + completion); longer pairs keep their start")
    fmt.add_argument("--packing", action="store_true",
                     help="pack whole pairs into rows of --max-len tokens, padding-free (attention stays "
                          "within each pair); a step then holds --batch-size packed rows, so fewer steps")
    lora = p.add_argument_group("lora")
    lora.add_argument("--lora-rank", type=int, default=16, help="LoRA rank r")
    lora.add_argument("--lora-alpha", type=float, default=None, help="LoRA alpha (default: 2 x rank)")
    lora.add_argument("--lora-dropout", type=float, default=0.05, help="dropout on the LoRA input")
    lora.add_argument("--lora-targets", default="all-linear",
                      help="modules to adapt: all-linear (every projection but lm_head) or a comma list, "
                           "e.g. q_proj,v_proj")
    optim = p.add_argument_group("optim")
    optim.add_argument("--seed", type=int, default=0, help="seed of LoRA init, data order and dropout")
    optim.add_argument("--epochs", type=float, default=3.0, help="passes over the pairs")
    # 2e-4: the usual LoRA rate for 7B-14B models (QLoRA, Dettmers et al. 2023, used 2e-4 up to 13B).
    optim.add_argument("--lr", type=float, default=2e-4, help="peak learning rate (AdamW)")
    optim.add_argument("--batch-size", type=int, default=4, help="sequences per process per micro-step")
    optim.add_argument("--grad-accum", type=int, default=1, help="micro-steps per optimizer step")
    # 0.1: a 40-pair run is ~30 steps; 3% would round to a single warmup step.
    optim.add_argument("--warmup-ratio", type=float, default=0.1,
                       help="share of optimizer steps of linear warmup before the cosine decay")
    optim.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay")
    optim.add_argument("--gradient-checkpointing", default="auto", choices=["auto", "on", "off"],
                       help="recompute activations to save memory; auto = on with CUDA, off on CPU")
    return p


def default_out(args) -> Path:
    return cli.default_run_dir(STAGE, args.model, {"r": args.lora_rank, "ep": args.epochs,
                                                   "chat": args.format == "chat", "pack": args.packing},
                               args.seed)


def settings_from_args(args):
    from tinyforge.training import SFTSettings

    return SFTSettings(model=args.model, fmt=args.format, seed=args.seed, lora_rank=args.lora_rank,
                       lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                       lora_targets=args.lora_targets, epochs=args.epochs, lr=args.lr,
                       batch_size=args.batch_size, grad_accum=args.grad_accum, max_len=args.max_len,
                       warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay, packing=args.packing,
                       dtype=args.dtype, load_in_4bit=args.load_in_4bit,
                       gradient_checkpointing={"on": True, "off": False}.get(args.gradient_checkpointing))


def finished_metrics(out: Path, args) -> dict | None:
    """The metrics of a finished run in `out` trained with the same settings; None when there is none.
    Raises when `out` holds an adapter trained otherwise, or files that are not a training run."""
    if not out.exists() or not any(out.iterdir()):
        return None
    cfg = read_json(out / "config.json") if (out / "config.json").exists() else {}
    if cfg.get("stage") != STAGE:
        raise TinyforgeError(f"--out {out} already holds files that are not a {STAGE} run: choose another "
                             f"--out, or pass --overwrite to replace them")
    if not ((out / "metrics.json").exists() and (out / "adapter_config.json").exists()):
        return None  # an unfinished run of this stage: train again from the start
    old = cfg.get("args", {})
    changed = [k for k in KNOBS if k in old and _norm(old[k]) != _norm(getattr(args, k))]
    if changed:
        raise TinyforgeError(f"--out {out} holds an adapter trained with other settings "
                             f"({', '.join(f'{k}={old[k]!r}' for k in changed)}): pass --overwrite to retrain")
    return read_json(out / "metrics.json")


def _norm(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def main(args: argparse.Namespace) -> dict:
    from tinyforge import training

    # Everything the user can get wrong is checked before a model is loaded.
    pairs = training.load_pairs(args.pairs, args.limit)
    training.check_pair_format(pairs, args.format, args.pairs)
    if not pairs:
        raise TinyforgeError(f"{args.pairs}: no pairs to train on (the file has no records"
                             f"{' after --limit' if args.limit is not None else ''}); nothing was trained")
    settings = settings_from_args(args)
    settings.check()
    out = Path(args.out) if args.out else default_out(args)
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
