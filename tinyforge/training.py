"""LoRA supervised fine-tuning on (prompt, completion) pairs, over TRL's SFTTrainer and PEFT.

    from tinyforge import training
    pairs = pairs.load_pairs("data/pairs_7b_40.jsonl")               # DataError names file:line
    settings = training.SFTSettings(model="Qwen/Qwen2.5-7B", lora_rank=16, seed=13)
    sft_args = training.make_sft_args(settings, "adapter_7b_seed13")   # sets up the processes first
    metrics = training.train_lora(pairs, settings, "adapter_7b_seed13", sft_args)

What the set-up guarantees, and why:

* Loss on the completion only. Each pair becomes TRL's tokenized prompt-completion example
  (`input_ids`, `completion_mask`, see `encode_pair`); with `completion_only_loss=True` SFTTrainer
  (trl 1.16, `_prepare_dataset`) sets the label of every token whose completion_mask is 0 to -100.
  (For string prompt-completion datasets TRL derives the same mask itself and turns
  completion_only_loss on by default; we pass it explicitly so a future default cannot silently train
  on the prompt, and tokenize ourselves so the prompt's tokens are the ones evaluation feeds.)
* The prompt is what the model will see at evaluation: `raw` is the pair's prompt as raw-completion
  evaluation feeds it (tokenized with the tokenizer's special tokens, as `sampling.encode_prompt`
  does); `chat` is the model's chat template with the prompt as the user turn and the generation
  prompt, the completion being the assistant turn as the template closes it.
* The model learns to stop: every completion ends with the EOS token (appended when the template or
  the pair does not already end with it), and the pad token is a different token (pad == EOS under a
  masked loss teaches a model never to stop; `models.load_tokenizer(for_training=True)`).
* The learning rate is a pure function of the optimizer step (`LRSchedule`): linear warmup, then
  cosine decay. HF Trainer (transformers 5.20) steps its scheduler once per optimizer step and does not
  pass it through `accelerator.prepare` (whose `AcceleratedScheduler` would step it `num_processes`
  times per call, the trap in DESIGN.md "Scale out"); the train-log callback checks the logged lr of every
  step against `LRSchedule`, so a future version that double-steps fails loudly at step 2 instead of
  finishing a cosine twice as fast.
* `train_log.json` holds loss and lr per optimizer step; the adapter directory is PEFT's
  `save_pretrained` layout (adapter_config.json + adapter_model.safetensors, no embedding layers, so
  vLLM's LoRARequest serves it), plus train_log.json, the run's config.json and metrics.json.

Heavy imports (torch, transformers, trl, peft, datasets) happen inside functions, so scripts' --help
stays instant.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tinyforge.io import SettingsError, TinyforgeError, write_json
from tinyforge.pairs import FORMATS

TRAIN_LOG = "train_log.json"
# PEFT's shorthand for every nn.Linear but the output layer: q/k/v/o and gate/up/down on Llama/Qwen,
# which are also the modules vLLM's LoRA kernels serve.
ALL_LINEAR = "all-linear"
# The trackers TrainingArguments.report_to takes that TRL's scripts document.
REPORT_TO = ("none", "wandb", "trackio", "tensorboard")


# ---------------------------------------------------------------------------------------------------
# Pairs -> dataset

def _chat_parts(tokenizer, prompt: str, completion: str) -> tuple[str, str]:
    """(prompt text, assistant-turn text) of a pair under the tokenizer's chat template."""
    if not getattr(tokenizer, "chat_template", None):
        raise TinyforgeError("--format chat needs a tokenizer with a chat template; this model has none "
                             "(use --format raw for base models)")
    user = [{"role": "user", "content": prompt}]
    p_text = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": completion}], tokenize=False)
    if not full.startswith(p_text):
        raise TinyforgeError("this chat template renders the prompt differently alone (with the generation "
                             "prompt) than followed by a reply, so the reply cannot be cut from it: use "
                             "--format raw, or a model whose template keeps the prompt a prefix")
    rest = full[len(p_text):]
    at = rest.rfind(completion)
    if at >= 0:
        # Whitespace the template puts *between* turns, after its end-of-turn token, is not part of the
        # reply: trained on, the model would learn to emit it after the end of its turn.
        end = at + len(completion)
        rest = rest[:end] + rest[end:].rstrip()
    eos = tokenizer.eos_token
    if eos and rest.rstrip().endswith(eos):  # a template that trims the reply: what follows EOS is spacing
        rest = rest.rstrip()
    return p_text, rest


def encode_pair(tokenizer, prompt: str, completion: str, fmt: str = "raw") -> dict[str, list[int]]:
    """One pair as TRL's tokenized prompt-completion example: `input_ids` = prompt ids + completion ids
    + EOS, `completion_mask` = 0 on the prompt, 1 on the completion and EOS.

    The prompt ids are exactly those the evaluation feeds the model (`sampling.encode_prompt`): raw text
    with the tokenizer's special tokens (BOS where it adds one); chat: the template over one user turn
    with the generation prompt, tokenized as is (the template writes BOS itself). The completion is
    tokenized on its own and appended. Tokenizing prompt + completion as one string instead (what TRL
    does with string pairs) lets BPE merge tokens across the boundary, e.g. a prompt's final "\n" with
    the completion's indentation, so the model would learn to continue a context it never sees at
    inference, where the prompt alone is tokenized. EOS is appended (unless the template already ended
    the turn with it) so the model learns to stop."""
    if fmt not in FORMATS:
        raise TinyforgeError(f"unknown --format {fmt!r}; choose from {', '.join(FORMATS)}")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise TinyforgeError("the tokenizer has no EOS token: a model trained without one never learns to stop")
    if fmt == "raw":
        p_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
        c_text = completion
    else:
        p_text, c_text = _chat_parts(tokenizer, prompt, completion)
        p_ids = tokenizer(p_text, add_special_tokens=False)["input_ids"]
    c_ids = tokenizer(c_text, add_special_tokens=False)["input_ids"]
    if not c_ids or c_ids[-1] != eos:
        c_ids = c_ids + [eos]
    return {"input_ids": list(p_ids) + list(c_ids), "completion_mask": [0] * len(p_ids) + [1] * len(c_ids)}


def build_dataset(pairs: Sequence[dict], tokenizer, fmt: str = "raw"):
    """A `datasets.Dataset` of tokenized prompt-completion examples (`input_ids`, `completion_mask`).

    SFTTrainer treats a dataset with `input_ids` as already tokenized and, with completion_only_loss,
    turns `completion_mask` into labels (-100 on the prompt), then truncates to max_length, drops rows
    left without a completion token, and packs when asked (trl 1.16, `SFTTrainer._prepare_dataset`)."""
    from datasets import Dataset

    return Dataset.from_list([encode_pair(tokenizer, p["prompt"], p["completion"], fmt) for p in pairs])


# ---------------------------------------------------------------------------------------------------
# The learning-rate schedule: a function of the optimizer step only

def warmup_steps_for(total_steps: int, ratio: float) -> int:
    """ceil(ratio * total), leaving at least one step of decay."""
    if not 0.0 <= ratio < 1.0:
        raise SettingsError("warmup_ratio", f"must be in [0, 1), got {ratio}")
    return min(math.ceil(ratio * total_steps), max(total_steps - 1, 0))


@dataclass(frozen=True)
class LRSchedule:
    """Linear warmup to `peak`, then half a cosine towards 0; `lr(k)` is the lr of optimizer step k
    (0-based).

    Unlike transformers' `get_cosine_schedule_with_warmup`, the first step is not spent at lr 0 and the
    last is not at lr 0 either: with 40 pairs at batch 4 a run is ~30 steps, and two wasted steps are a
    noticeable share of it."""

    peak: float
    total_steps: int
    warmup_steps: int = 0

    def factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        decay = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    def lr(self, step: int) -> float:
        return self.peak * self.factor(step)


def schedule_for(peak: float, total_steps: int, warmup_ratio: float) -> LRSchedule:
    return LRSchedule(peak, total_steps, warmup_steps_for(total_steps, warmup_ratio))


def make_lr_scheduler(optimizer, schedule: LRSchedule):
    """A LambdaLR over `schedule.factor`: stepped once per optimizer step, its lr is `schedule.lr(k)`."""
    from torch.optim.lr_scheduler import LambdaLR

    return LambdaLR(optimizer, schedule.factor)


# ---------------------------------------------------------------------------------------------------
# Settings, TRL config, trainer

@dataclass
class SFTSettings:
    """Everything that changes a LoRA SFT run (the script's flags, minus I/O)."""

    model: str = "smollm2-135m"
    fmt: str = "raw"
    seed: int = 0
    lora_rank: int = 16
    lora_alpha: float | None = None        # None: 2 x rank
    lora_dropout: float = 0.05
    lora_targets: str | list[str] = ALL_LINEAR
    epochs: float = 3.0
    lr: float = 2e-4
    batch_size: int = 4                    # per process; the global batch is x grad_accum x processes
    grad_accum: int = 1
    max_len: int = 1024
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    packing: bool = False
    dtype: str = "auto"
    load_in_4bit: bool = False
    gradient_checkpointing: bool | None = None   # None: on with CUDA (memory), off on CPU (speed)
    report_to: str = "none"                # TRL's trackers: none, wandb, trackio, tensorboard
    run_name: str | None = None            # the tracker's run name (None: the out dir's name)
    extra: dict = field(default_factory=dict)    # further SFTConfig fields (benchmarks, experiments)

    @property
    def alpha(self) -> float:
        return float(self.lora_alpha) if self.lora_alpha is not None else 2.0 * self.lora_rank

    def check(self) -> None:
        if self.fmt not in FORMATS:
            raise SettingsError("fmt", f"{self.fmt!r}: expected one of {', '.join(FORMATS)}")
        for name in ("lora_rank", "batch_size", "grad_accum", "max_len"):
            if int(getattr(self, name)) < 1:
                raise SettingsError(name, f"must be >= 1, got {getattr(self, name)}")
        if not self.epochs > 0:
            raise SettingsError("epochs", f"must be > 0, got {self.epochs}")
        if not self.lr > 0:
            raise SettingsError("lr", f"must be > 0, got {self.lr}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise SettingsError("lora_dropout", f"must be in [0, 1), got {self.lora_dropout}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise SettingsError("warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio}")
        if self.report_to not in REPORT_TO:
            raise SettingsError("report_to", f"{self.report_to!r}: expected one of {', '.join(REPORT_TO)}")


def lora_targets(model, targets: str | Sequence[str] = ALL_LINEAR) -> list[str]:
    """Module names for LoraConfig.target_modules. "all-linear" becomes the short names of every linear
    layer but the output layer (q_proj, k_proj, ..., down_proj): PEFT would otherwise record every full
    path (model.layers.0.self_attn.q_proj, ...) in adapter_config.json, a config tied to one depth and
    harder to read; the short names match the same modules."""
    import torch

    if isinstance(targets, str) and targets != ALL_LINEAR:
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    if not isinstance(targets, str):
        return list(targets)
    out_layer = model.get_output_embeddings()
    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules()
             if isinstance(mod, torch.nn.Linear) and mod is not out_layer}
    out_name = next((n.rsplit(".", 1)[-1] for n, mod in model.named_modules() if mod is out_layer), None)
    names.discard(out_name)
    if not names:
        raise TinyforgeError("the model has no linear layers for LoRA to adapt")
    return sorted(names)


def lora_config(rank: int, alpha: float | None = None, dropout: float = 0.05, targets: Sequence[str] = ()):
    """PEFT LoraConfig for a causal LM (`targets`: module names, see `lora_targets`)."""
    from peft import LoraConfig

    return LoraConfig(r=int(rank), lora_alpha=float(alpha if alpha is not None else 2 * rank),
                      lora_dropout=float(dropout), target_modules=list(targets), bias="none",
                      task_type="CAUSAL_LM")


def make_sft_args(settings: SFTSettings, out_dir: str | Path):
    """TRL's SFTConfig for these settings. Creating it sets up the process group under `accelerate
    launch` / torchrun (gloo on CPU), so make it before loading the model: DeepSpeed ZeRO-3 must be
    configured when the weights are loaded."""
    import torch
    from trl import SFTConfig

    settings.check()
    cuda = torch.cuda.is_available()
    ckpt = cuda if settings.gradient_checkpointing is None else bool(settings.gradient_checkpointing)
    bf16 = cuda and torch.cuda.is_bf16_supported() and settings.dtype in ("auto", "bfloat16")
    kw: dict[str, Any] = dict(
        output_dir=str(out_dir),
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        num_train_epochs=settings.epochs,
        learning_rate=settings.lr,
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        seed=settings.seed,
        data_seed=settings.seed,
        max_length=settings.max_len,
        completion_only_loss=True,
        packing=settings.packing,
        packing_strategy="bfd",          # best-fit decreasing: whole pairs per row, padding-free
        gradient_checkpointing=ckpt,
        bf16=bf16,
        fp16=False,
        use_cpu=not cuda,
        logging_steps=1,                 # train_log.json has one row per optimizer step
        save_strategy="no",              # the adapter is saved once, at the end
        report_to=settings.report_to,
        run_name=settings.run_name or Path(out_dir).name,
        # every LoRA parameter receives a gradient; searching for unused ones breaks with checkpointing
        ddp_find_unused_parameters=False,
    )
    kw.update(settings.extra)
    cfg = SFTConfig(**kw)
    _ = cfg.device  # set up the process group now, before anyone asks PartialState who is main
    return cfg


def is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def wait_for_everyone() -> None:
    from accelerate import PartialState

    PartialState().wait_for_everyone()


def with_step_schedule(trainer_cls):
    """`trainer_cls` (TRL's SFTTrainer, DPOTrainer, GRPOTrainer, ...) with tinyforge's two overrides:
    the lr schedule is `schedule_for(lr, steps, warmup_ratio)` defined per optimizer step (the same
    for any number of processes), and saving writes the adapter only. The trainer takes a
    `warmup_ratio=` keyword of its own. One piece for every trainer, so SFT, DPO and GRPO runs get the
    same lr behaviour."""

    class StepScheduled(trainer_cls):
        def __init__(self, *a, warmup_ratio: float = 0.0, **kw):
            self.tf_warmup_ratio = warmup_ratio
            super().__init__(*a, **kw)

        def create_scheduler(self, num_training_steps: int, optimizer=None):
            # Also reached through a shallow copy of the trainer under DeepSpeed (deepspeed_optim_sched).
            if self.lr_scheduler is None:
                schedule = schedule_for(self.args.learning_rate, num_training_steps, self.tf_warmup_ratio)
                self.lr_scheduler = make_lr_scheduler(optimizer or self.optimizer, schedule)
                self._created_lr_scheduler = True
            return self.lr_scheduler

        def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
            # Trainer._save also writes the tokenizer and a pickled training_args.bin, and PEFT's default
            # save_embedding_layers="auto" can add embedding matrices to the adapter, which vLLM refuses.
            # The pad token (the only vocabulary change) is never attended to nor trained, so the base
            # model's embeddings serve the adapter as they are.
            out = Path(output_dir or self.args.output_dir)
            if self.args.should_save:
                out.mkdir(parents=True, exist_ok=True)
                model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
                model.save_pretrained(str(out), state_dict=state_dict, save_embedding_layers=False)

    StepScheduled.__name__ = f"StepScheduled{trainer_cls.__name__}"
    return StepScheduled


def _trainer_class():
    from transformers import ProgressCallback
    from trl import SFTTrainer

    LoraSFTTrainer = with_step_schedule(SFTTrainer)

    class _Progress(ProgressCallback):
        """tqdm bar with loss and lr beside it, instead of one printed dict per step."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and self.training_bar is not None and logs and "loss" in logs:
                self.training_bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs.get('learning_rate', 0):.2e}")

    return LoraSFTTrainer, _Progress, ProgressCallback


def make_train_log_callback(path: str | Path, warmup_ratio: float, meta: dict | None = None):
    """A TrainerCallback that records loss and lr of every optimizer step into `path` (train_log.json,
    rewritten atomically at each step, so a killed run leaves its log so far) and checks each step's lr
    against `schedule_for(learning_rate, max_steps, warmup_ratio)`, the schedule the trainer builds."""
    from transformers import TrainerCallback

    class TrainLog(TrainerCallback):
        def __init__(self):
            self.path = Path(path)
            self.rows: list[dict] = []
            self.meta = dict(meta or {})
            self.schedule: LRSchedule | None = None
            self.t0 = time.time()

        def on_train_begin(self, args, state, control, **kwargs):
            self.t0 = time.time()
            self.schedule = schedule_for(args.learning_rate, int(state.max_steps), warmup_ratio)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs or "learning_rate" not in logs:
                return
            step = int(state.global_step)
            lr = float(logs["learning_rate"])  # taken by Trainer before it steps the scheduler
            want = self.schedule.lr(step - 1)
            if not math.isclose(lr, want, rel_tol=1e-6, abs_tol=1e-12):
                raise RuntimeError(
                    f"optimizer step {step} ran at lr {lr:.6g} but the schedule gives {want:.6g}: the lr "
                    f"scheduler is not stepped once per optimizer step (an accelerate-prepared scheduler "
                    f"steps num_processes times per call); refusing to train on a distorted schedule")
            row = {"step": step, "loss": float(logs["loss"]), "lr": lr,
                   "epoch": float(logs.get("epoch", state.epoch or 0))}
            for k in ("grad_norm", "num_tokens", "mean_token_accuracy", "entropy"):
                if logs.get(k) is not None:
                    row[k] = float(logs[k])
            self.rows.append(row)
            if state.is_world_process_zero:
                self.write(state)

        def write(self, state) -> dict:
            log = {**self.meta,
                   "total_steps": int(state.max_steps),
                   "warmup_steps": self.schedule.warmup_steps if self.schedule else None,
                   "peak_lr": self.schedule.peak if self.schedule else None,
                   "wall_s": round(time.time() - self.t0, 3),
                   "steps": self.rows}
            write_json(self.path, log)
            return log

    return TrainLog()


def read_train_log(path: str | Path) -> dict:
    from tinyforge.io import read_json

    return read_json(path)


def check_padding_free(model, tokenizer) -> float:
    """Max |logit difference| between two short sequences run separately and run packed the way TRL's
    padding-free collator packs them (one row, position_ids restarting at 0, no attention mask).

    Padding-free training is only correct when the attention implementation turns restarting
    position_ids into a block-diagonal mask (flash-attention varlen, or transformers' sdpa/eager mask
    for packed sequences); otherwise the second pair silently attends to the first. Raises a
    TinyforgeError when the two disagree."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    vocab = model.get_input_embeddings().weight.shape[0]
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randint(0, vocab, (n,), generator=g).tolist() for n in (5, 7)]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batch = DataCollatorForLanguageModeling(pad_token_id=pad, padding_free=True)(
        [{"input_ids": s} for s in seqs])
    batch.pop("labels")
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        # use_cache=False as in training (TRL's compute_loss): with a KV cache transformers does not look
        # for packed sequences in position_ids at all.
        packed = model(**{k: v.to(dev) if torch.is_tensor(v) else v for k, v in batch.items()},
                       use_cache=False).logits[0].float()
        alone = torch.cat([model(input_ids=torch.tensor([s], device=dev), use_cache=False).logits[0].float()
                           for s in seqs])
    model.train(was_training)
    delta = float((packed - alone).abs().max())
    scale = float(alone.abs().max()) or 1.0
    tol = 1e-3 if next(model.parameters()).dtype == torch.float32 else 2e-2
    if delta > tol * max(1.0, scale):
        impl = getattr(model.config, "_attn_implementation", "?")
        raise TinyforgeError(
            f"--packing: this model's attention ({impl}) does not keep packed pairs apart on "
            f"{dev.type} (max logit difference {delta:.3g} against unpacked): drop --packing, or use an "
            f"attention implementation that supports padding-free batches (flash_attention_2, sdpa)")
    return delta


# ---------------------------------------------------------------------------------------------------
# The run

def _sharded_launch(sft_args) -> bool:
    """Launched with FSDP or DeepSpeed: they shard and place the weights themselves."""
    import os

    return getattr(sft_args, "deepspeed_plugin", None) is not None or \
        os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true")


def _load_model_and_tokenizer(settings: SFTSettings, sft_args):
    from tinyforge import models

    tok = models.load_tokenizer(settings.model, for_training=True, padding_side="right")
    device = str(sft_args.device)
    dtype = models.pick_dtype(settings.dtype, device)  # auto: bf16 where the training runs on a GPU
    if _sharded_launch(sft_args) and not settings.load_in_4bit:
        # No `.to(device)`: under ZeRO-3 the weights are partitioned as they load (the SFTConfig made
        # before this registered the DeepSpeed config), and FSDP moves its shards itself.
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(models.resolve_model(settings.model), dtype=dtype)
    else:
        model = models.load_model(settings.model, dtype=dtype, device=device,
                                  load_in_4bit=settings.load_in_4bit)
    emb = model.get_input_embeddings().num_embeddings  # not weight.shape: ZeRO-3 leaves it empty
    # Only grow: Qwen's embedding matrix already has spare rows beyond len(tokenizer).
    if len(tok) > emb:
        model.resize_token_embeddings(len(tok), mean_resizing=True)
    model.config.pad_token_id = tok.pad_token_id
    model.config.use_cache = False
    return model, tok


def build_trainer(pairs: Sequence[dict], settings: SFTSettings, out_dir: str | Path, sft_args=None,
                  *, log_meta: dict | None = None):
    """Load model and tokenizer, build the dataset and the LoRA SFT trainer (not yet trained). The
    trainer's `train_dataset` is the tokenized dataset with its labels (-100 on prompt tokens);
    `trainer.tf_log` is the train-log callback."""
    import datasets
    from transformers import set_seed

    if not pairs:
        raise TinyforgeError("no pairs to train on")
    # TRL's map/filter passes over an already tokenized dataset take milliseconds; their five progress
    # bars per process would bury the training bar.
    datasets.disable_progress_bars()
    out = Path(out_dir)
    sft_args = sft_args if sft_args is not None else make_sft_args(settings, out)
    model, tok = _load_model_and_tokenizer(settings, sft_args)
    dataset = build_dataset(pairs, tok, settings.fmt)
    if settings.packing:
        check_padding_free(model, tok)

    Trainer, Progress, DefaultProgress = _trainer_class()
    n_proc = int(sft_args.world_size)
    meta = {"model": settings.model, "format": settings.fmt, "pairs": len(pairs), "num_processes": n_proc,
            "per_device_batch": settings.batch_size, "grad_accum": settings.grad_accum,
            "global_batch": settings.batch_size * settings.grad_accum * n_proc, "packing": settings.packing,
            **(log_meta or {})}
    log_cb = make_train_log_callback(out / TRAIN_LOG, settings.warmup_ratio, meta)
    set_seed(settings.seed)  # the LoRA A matrices are drawn when the trainer wraps the model
    trainer = Trainer(model=model, args=sft_args, train_dataset=dataset, processing_class=tok,
                      peft_config=lora_config(settings.lora_rank, settings.alpha, settings.lora_dropout,
                                              lora_targets(model, settings.lora_targets)),
                      callbacks=[log_cb], warmup_ratio=settings.warmup_ratio)
    trainer.tf_log = log_cb
    trainer.tf_source = dataset  # before TRL's truncation and packing
    if len(trainer.train_dataset) == 0:
        raise TinyforgeError(f"every pair's prompt is at least --max-len {settings.max_len} tokens long, so no "
                             f"completion token is left to learn from: raise --max-len")
    if trainer.pop_callback(DefaultProgress) is not None:
        trainer.add_callback(Progress())
    return trainer


def train_lora(pairs: Sequence[dict], settings: SFTSettings, out_dir: str | Path, sft_args=None,
               *, log_meta: dict | None = None, verbose: bool = True) -> dict:
    """Train a LoRA adapter on `pairs` and save it (+ train_log.json) to `out_dir`. Returns metrics
    with flat `train/...` keys. `out_dir` must exist; config.json and metrics.json are the caller's."""
    import torch

    out = Path(out_dir)
    trainer = build_trainer(pairs, settings, out, sft_args, log_meta=log_meta)
    log_cb = trainer.tf_log
    tok = trainer.processing_class
    source = trainer.tf_source
    truncated = sum(len(ids) > settings.max_len for ids in source["input_ids"])
    # keep_start truncation leaves these pairs without a single completion token: no loss, no signal
    unlearnable = sum(mask.index(1) >= settings.max_len for mask in source["completion_mask"])
    n_proc = int(trainer.args.world_size)
    global_batch = settings.batch_size * settings.grad_accum * n_proc
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    n_rows = len(trainer.train_dataset)
    if verbose and trainer.is_world_process_zero():
        print(f"train: {len(pairs)} pairs ({n_rows} rows{' packed' if settings.packing else ''}) x "
              f"{settings.epochs:g} epochs, global batch {global_batch} over {n_proc} process(es), "
              f"LoRA r={settings.lora_rank} alpha={settings.alpha:g}, {trainable / 1e6:.2f}M trainable params"
              + (f"; {truncated} pairs longer than --max-len {settings.max_len} are cut" if truncated else "")
              + (f", {unlearnable} of them to their prompt alone (nothing to learn)" if unlearnable else ""),
              flush=True)

    t0 = time.time()
    result = trainer.train()
    wall = time.time() - t0
    trainer.save_model(str(out))
    wait_for_everyone()

    rows = log_cb.rows
    if trainer.is_world_process_zero():
        log_cb.write(trainer.state)
    tokens = int(rows[-1].get("num_tokens", 0)) if rows else 0
    metrics = {
        "train/final_loss": rows[-1]["loss"] if rows else float("nan"),
        "train/initial_loss": rows[0]["loss"] if rows else float("nan"),
        "train/mean_loss": float(result.training_loss),
        "train/steps": int(trainer.state.global_step),
        "train/epochs": float(settings.epochs),
        "train/pairs": len(pairs),
        "train/rows": n_rows,
        "train/truncated": truncated,
        "train/prompt_only": unlearnable,
        "train/tokens": tokens,
        "train/tokens_per_s": tokens / wall if wall > 0 else 0.0,
        "train/wall_s": round(wall, 3),
        "train/global_batch": global_batch,
        "train/num_processes": n_proc,
        "train/peak_lr": settings.lr,
        "train/final_lr": rows[-1]["lr"] if rows else float("nan"),
        "train/trainable_params": int(trainable),
        "train/lora_rank": settings.lora_rank,
        "train/lora_alpha": settings.alpha,
    }
    # The caller may go on in the same process (mine -> train -> evaluate): drop the trainer, its
    # optimizer state and the model now.
    del trainer
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return metrics


def settings_dict(settings: SFTSettings) -> dict:
    d = asdict(settings)
    d["lora_alpha"] = settings.alpha
    return d


def train_adapter(pairs: Sequence[dict], settings: SFTSettings, out_dir: str | Path, *, stage: str,
                  config: dict | None = None) -> dict:
    """LoRA SFT on `pairs` into `out_dir` inside a recipe's run (config.json records `config` and the
    settings); a finished adapter there is kept and its metrics returned."""
    from tinyforge.io import prepare_run_dir, read_json, save_config, save_metrics

    out = Path(out_dir)
    if (out / "adapter_config.json").exists() and (out / "metrics.json").exists():
        print(f"adapter: already trained in {out}")
        return read_json(out / "metrics.json")
    settings.check()
    sft_args = make_sft_args(settings, out)
    prepare_run_dir(out, overwrite=True)  # an unfinished adapter dir is trained again from scratch
    save_config(out, config or {}, stage=stage, settings=settings_dict(settings))
    metrics = train_lora(list(pairs), settings, out, sft_args, log_meta={"stage": stage})
    save_metrics(out, metrics)
    return metrics


__all__ = ["ALL_LINEAR", "FORMATS", "LRSchedule", "REPORT_TO", "SFTSettings", "TRAIN_LOG", "build_dataset",
           "build_trainer", "check_padding_free", "encode_pair", "is_main_process", "lora_config", "lora_targets",
           "make_lr_scheduler", "make_sft_args", "make_train_log_callback", "read_train_log", "schedule_for",
           "settings_dict", "train_adapter", "train_lora", "wait_for_everyone", "warmup_steps_for",
           "with_step_schedule"]
