"""Command-line plumbing: every flag of every script is defined here, once, and this is the only module
that reads an argparse Namespace.

* `Parser`: argparse with the underscore spelling of each long option accepted (`--max-new-tokens` and
  `--max_new_tokens`; the reproduction guide spells some flags with underscores and its commands must
  run as written; the aliases are hidden from `--help`), `--config x.yaml` (parser defaults; flags
  override; an unknown key is an error naming file:line) and `--dry-run` on every script.
* `FLAGS`: the one table of flags. A flag means the same in every script; a script may change its
  default (the attempts of a mining run are sampled at 0.8, an evaluation is greedy) but not its
  meaning. A flag also says whether it names the default run dir (`name=`, the short key in
  `runs/<stage>/<model>_<knobs>_s<seed>`) and whether a run dir made with another value of it may be
  resumed (`resume=False` for the settings that change what the dir holds).
* Groups (`add_model_args`, `add_sampler_args`, ...) add a fixed list of flags under a heading.
* Settings builders (`sampler_settings`, `eval_settings`, `mining_settings`, `sft_settings`, ...) turn
  parsed flags into the library's settings dataclasses; a `SettingsError` a library raises about a field
  is rewritten here to name the flag.
* Run dirs (`run_dir`, `open_run`), the dry-run `Plan`, and `run(main, build_parser)`, the `__main__`
  entry point: a `TinyforgeError` becomes one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import random
import re
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from tinyforge.io import SettingsError, TinyforgeError

# ---------------------------------------------------------------------------------------------------
# The parser


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    def _format_action_invocation(self, action):
        alias = getattr(action, "_tf_alias", None)
        if alias:
            action = copy.copy(action)
            action.option_strings = [s for s in action.option_strings if s not in alias]
        return super()._format_action_invocation(action)


def _add_with_aliases(add, names, kw):
    aliases = ["--" + n[2:].replace("-", "_") for n in names
               if n.startswith("--") and "-" in n[2:] and "--" + n[2:].replace("-", "_") not in names]
    action = add(*names, *aliases, **kw)
    action._tf_alias = set(aliases)
    return action


class _Group(argparse._ArgumentGroup):
    def add_argument(self, *names, **kw):
        return _add_with_aliases(super().add_argument, names, kw)


class Parser(argparse.ArgumentParser):
    """ArgumentParser with underscore aliases, `--config`, `--dry-run`, and our help formatter."""

    def __init__(self, *args, **kw):
        kw.setdefault("formatter_class", _Formatter)
        # No prefix matching: `--batch` must not quietly mean `--batch-size` in one script and
        # `--batch-mode` in another.
        kw.setdefault("allow_abbrev", False)
        super().__init__(*args, **kw)
        self.add_argument("--config", default=None, metavar="YAML",
                          help="YAML file of defaults for any flag below; command-line flags override it")
        self.add_argument("--dry-run", action="store_true",
                          help="check the arguments, print the plan (stages, files read and written, the "
                               "model and adapters), load nothing, write nothing, exit 0")

    def add_argument(self, *names, **kw):
        return _add_with_aliases(super().add_argument, names, kw)

    def add_argument_group(self, *args, **kw):
        group = _Group(self, *args, **kw)
        self._action_groups.append(group)
        return group

    def parse_args(self, args: Sequence[str] | None = None, namespace=None):
        argv = list(sys.argv[1:] if args is None else args)
        pre = argparse.ArgumentParser(add_help=False)
        pre.add_argument("--config", default=None)
        known, _ = pre.parse_known_args(argv)
        if known.config:
            self.set_defaults(**load_config_defaults(self, known.config))
        return super().parse_args(argv, namespace)

    def error(self, message):
        # One usage line and one error line, exit 2 (argparse's usage for 60 flags is a screenful).
        self.exit(2, f"usage: {self.prog} [-h] ... (see --help)\n{self.prog}: error: {message}\n")


def load_config_defaults(parser: argparse.ArgumentParser, path: str) -> dict:
    """Read a YAML mapping of flag -> value; keys may use dashes or underscores."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise SystemExit(_fail(f"{p}: config file not found"))
    try:
        root = yaml.compose(p.read_text(encoding="utf-8"))
        values = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise SystemExit(_fail(f"{p}{line}: expected YAML: {getattr(exc, 'problem', exc)}"))
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise SystemExit(_fail(f"{p}:1: expected a mapping of flag names to values"))
    lines = {k.value: k.start_mark.line + 1 for k, _ in root.value} if root is not None else {}
    dests = {a.dest for a in parser._actions} - {"help", "config", "dry_run"}
    out = {}
    for key, value in values.items():
        dest = str(key).replace("-", "_")
        if dest not in dests:
            raise SystemExit(_fail(f"{p}:{lines.get(key, 1)}: unknown key '{key}' "
                                   f"(expected one of the script's flags, e.g. {sorted(dests)[:6]})"))
        out[dest] = value
    return out


def _fail(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def run(main: Callable[[argparse.Namespace], object], build_parser: Callable[[], argparse.ArgumentParser],
        argv: Sequence[str] | None = None) -> None:
    """Entry point for `if __name__ == "__main__":`. User errors exit 2 with one line."""
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "limit", None) is not None and args.limit < 1:
            raise TinyforgeError(f"--limit {args.limit}: expected N >= 1 items (leave it out for all)")
        if not args.dry_run:
            _threads()
        main(args)
    except SettingsError as exc:  # raised past the settings builders (which translate renamed fields)
        sys.exit(_fail(f"{flag_of(exc.field)} {exc.problem}"))
    except TinyforgeError as exc:
        sys.exit(_fail(str(exc)))
    except KeyboardInterrupt:
        print("interrupted: finished records are on disk; run the same command again to resume",
              file=sys.stderr)
        sys.exit(130)


def _threads() -> None:
    # Before anything imports torch: OpenMP reads its wait policy once (tinyforge.cpu).
    from tinyforge import cpu

    cpu.configure_threads()
    print(cpu.thread_line(), flush=True)


# ---------------------------------------------------------------------------------------------------
# The flags, each defined once


@dataclasses.dataclass(frozen=True)
class Flag:
    names: tuple[str, ...]
    kw: dict
    name: str | None = None                      # short key in the default run dir name
    fmt: Callable[[Any], Any] | None = None      # how the value is spelled there
    resume: bool = True                          # False: a changed value refuses to resume a run dir
    aliases: tuple[str, ...] = ()                # other spellings (the guide's), accepted, not shown in --help

    @property
    def dest(self) -> str:
        return self.kw.get("dest") or self.names[0][2:].replace("-", "_")

    @property
    def option(self) -> str:
        return self.names[0]


FLAGS: dict[str, Flag] = {}


def _flag(*names: str, name: str | None = None, fmt=None, resume: bool = True, aliases: tuple[str, ...] = (),
          **kw) -> None:
    f = Flag(names, kw, name, fmt, resume, tuple(aliases))
    assert f.dest not in FLAGS, f"flag {names[0]} defined twice"
    FLAGS[f.dest] = f


def _adapter_tag(adapters) -> str | None:
    """A run-dir name part for the adapters: each one's folder name plus a hash of its resolved path, so
    `--adapter adapter_n10` and `--adapter adapter_n21` in a bash loop get their own run dirs, and two
    dirs both called `adapter` do not collide."""
    import hashlib

    if not adapters:
        return None
    items = [adapters] if isinstance(adapters, str) else list(adapters)
    digest = hashlib.sha1("\n".join(str(Path(a).resolve()) for a in items).encode()).hexdigest()[:6]
    return "+".join(Path(a).name or "adapter" for a in items)[:48] + "-" + digest


def _source_kind(v):
    return v if v in ("self", "mbpp_train", "synthetic", "gsm8k_train") else "file"


# io
_flag("--out-dir", "--out", resume=True, default=None, metavar="DIR",
      help="run directory (default: runs/<stage>/<tag> with --tag, else runs/<stage>/<model>_<knobs>_s<seed>); "
           "re-running resumes")
_flag("--tag", default=None, help="name of the run: the run dir becomes runs/<stage>/<tag>")
_flag("--overwrite", action="store_true", help="start afresh instead of resuming")
_flag("--limit", name="lim", resume=False, type=int, default=None,
      help="use only the first N items (smoke runs)")
# model
# --base-model: the guide's spelling in experiments/recipe_x_tts_synergy.py
_flag("--model", resume=False, default="smollm2-135m", aliases=("--base-model",),
      help="HF hub id, local model directory, or the embedded alias smollm2-135m")
_flag("--adapter", name="ad", fmt=_adapter_tag, resume=False, default=None, metavar="DIR",
      help="PEFT LoRA adapter directory")
_flag("--dtype", resume=False, default="auto", choices=["auto", "float32", "bfloat16", "float16"],
      help="weights dtype; auto = bfloat16 on GPU, and on a CPU that computes bf16 natively, else float32")
_flag("--load-in-4bit", resume=False, action="store_true",
      help="load the base model in 4-bit NF4 (bitsandbytes; CUDA only)")
# sampler (the engine: none of these changes a sample)
_flag("--backend", resume=False, default="auto", choices=["auto", "hf", "vllm"],
      help="sampler backend; auto = vllm when it imports and CUDA is present, else hf")
_flag("--batch-size", type=int, default=64,
      help="hf backend: sequences decoded together (prompts x samples); does not change the samples")
_flag("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs per model")
_flag("--gpu-memory-utilization", type=float, default=0.9, help="vllm: share of GPU memory")
_flag("--max-model-len", type=int, default=None, help="vllm: context length to reserve")
_flag("--seed", resume=False, type=int, default=0, help="base seed; each prompt derives its own from it")
# decoding
# --n: the guide's spelling in tts/ and experiments/ (the pool of samples per task)
_flag("--n-samples", name="n", resume=False, type=int, default=1, aliases=("--n",), help="completions per prompt")
_flag("--temperature", name="t", resume=False, type=float, default=0.0, help="sampling temperature; 0 = greedy")
_flag("--top-p", resume=False, type=float, default=1.0, help="nucleus sampling mass")
_flag("--max-new-tokens", resume=False, type=int, default=512, help="new tokens per completion")
_flag("--stop", resume=False, action="append", default=None, metavar="STR",
      help="stop string (repeatable; default: the benchmark's own set); the text is cut before it, as "
           "vLLM does. Escapes such as \\n are understood")
_flag("--shard", default=None, metavar="I/N",
      help="run only shard I of N (0-based) of the prompts; run again without it to merge")
# prompts and grading
_flag("--bench", resume=False, default="humaneval", help="benchmark")
_flag("--split", resume=False, default=None, help="benchmark split (default: its test split)")
_flag("--format", name="fmt", resume=False, default="raw", choices=["raw", "chat", "chat_continue"],
      help="prompt format: raw completion (base models) or the model's chat template (instruct models)")
_flag("--shots", resume=False, type=int, default=None,
      help="few-shot examples in raw prompts (default: the benchmark's own, 8 for GSM8K)")
_flag("--from-hub", resume=False, action="store_true", help="load the Hugging Face hub copy of the data")
_flag("--k", type=int, nargs="+", default=None,
      help="pass@k values to report, each <= the samples per task (default: 1, 5, 10, 25, 100 where they fit, and n)")
_flag("--workers", type=int, default=None, help="grading / sandbox processes (default: one per core)")
_flag("--timeout", resume=False, type=float, default=None, help="sandbox seconds per graded program")
_flag("--strict-types", resume=False, action="store_true",
      help="HumanEval+ / MBPP+: outputs must also have the reference's types (0 is not False, 1 not 1.0); "
           "default: evalplus's comparison (==, floats within its atol)")
_flag("--with-base", resume=False, action="store_true",
      help="with --adapter: evaluate the base model too (its keys are under base_model/)")
# files
_flag("--prompts", resume=False, default=None, metavar="FILE",
      help="JSONL with task_id (or id) and prompt (text) or messages (chat)")
_flag("--samples", resume=False, default=None, metavar="FILE", help="JSONL: id, task_id, completion")
_flag("--problems", resume=False, default=None, metavar="FILE", help="a problem file in a standard schema")
_flag("--pairs", resume=False, default=None, metavar="FILE", help="pairs JSONL (id, prompt, completion, source)")
_flag("--warmup-pairs-path", resume=False, default=None, metavar="JSONL",
      help="pairs (prompt, completion, ...) to warm up on: see --warmup-mode")
_flag("--warmup-mode", name="warm", resume=False, default="mine", choices=["mine", "mix"],
      help="mine: train a warm-up adapter first and mine with it; mix: only add the pairs to the final "
           "training set")
# problems (mining)
_flag("--problem-source", name="src", fmt=_source_kind, resume=False, default="self",
      metavar="SOURCE", help="where problems come from (the script's help lists its sources)")
_flag("--n-problems", name="np", resume=False, type=int, default=100, help="problems to mine")
_flag("--problem-order", resume=False, default="given", choices=["given", "shortest"],
      help="mbpp_train / FILE: take problems in file order, or those with the shortest reference solution "
           "first (an easy slice for small models, e.g. the CPU demo)")
_flag("--gen-shots", resume=False, type=int, default=3, help="self: seed exemplars per generation prompt")
_flag("--gen-per-prompt", resume=False, type=int, default=4, help="self: problems sampled per generation prompt")
_flag("--gen-oversample", resume=False, type=float, default=4.0,
      help="self: candidates sampled per problem still wanted, in each round")
_flag("--gen-rounds", resume=False, type=int, default=3, help="self: rounds of generation before giving up")
_flag("--gen-temperature", resume=False, type=float, default=0.8, help="self: temperature of problem generation")
_flag("--gen-max-new-tokens", resume=False, type=int, default=384, help="self: tokens per generated problem")
_flag("--min-asserts", resume=False, type=int, default=3,
      help="self: distinct non-trivial asserts a generated problem needs (MBPP has 3 per task)")
_flag("--decontam-n", resume=False, type=int, default=13,
      help="word n-gram length of the decontamination against the evaluation benchmarks (GPT-3's 13)")
# attempts
_flag("--n-attempts", name="na", resume=False, type=int, default=8, help="sampled solutions per problem")
_flag("--max-pairs-per-problem", name="mp", resume=False, type=int, default=1,
      help="distinct verified solutions kept per problem")
# curriculum rounds
_flag("--iterations", type=int, default=16, help="rounds of solve -> verify -> train (a finished run can be extended)")
_flag("--start-level", name="L", resume=False, type=int, default=1, help="difficulty level of round 1 (1 = easiest)")
_flag("--band-low", name="bl", resume=False, type=float, default=0.3,
      help="solve rate below which the level goes down")
_flag("--band-high", name="bh", resume=False, type=float, default=0.7,
      help="solve rate above which the level goes up")
_flag("--problems-per-round", name="ppr", resume=False, type=int, default=64, help="problems made in each round")
# training
_flag("--lora-rank", name="r", resume=False, type=int, default=16, help="LoRA rank r")
_flag("--lora-alpha", resume=False, type=float, default=None, help="LoRA alpha (default: 2 x rank)")
_flag("--lora-dropout", resume=False, type=float, default=0.05, help="dropout on the LoRA input")
_flag("--lora-targets", resume=False, default="all-linear",
      help="modules to adapt: all-linear (every projection but lm_head) or a comma list, e.g. q_proj,v_proj")
_flag("--epochs", name="ep", resume=False, type=float, default=3.0, help="passes over the pairs")
# 2e-4: the usual LoRA rate for 7B-14B models (QLoRA, Dettmers et al. 2023, used 2e-4 up to 13B).
_flag("--lr", resume=False, type=float, default=2e-4, help="peak learning rate (AdamW)")
_flag("--train-batch-size", resume=False, type=int, default=4,
      help="training sequences per process per micro-step (global batch: x --grad-accum x processes)")
_flag("--grad-accum", resume=False, type=int, default=1, help="micro-steps per optimizer step")
_flag("--max-len", resume=False, type=int, default=1024,
      help="tokens per training sequence (prompt + completion); longer pairs keep their start")
# 0.1: a 40-pair run is ~30 steps; 3% would round to a single warmup step.
_flag("--warmup-ratio", resume=False, type=float, default=0.1,
      help="share of optimizer steps of linear warmup before the cosine decay")
_flag("--weight-decay", resume=False, type=float, default=0.0, help="AdamW weight decay")
_flag("--packing", name="pack", resume=False, action="store_true",
      help="pack whole pairs into rows of --max-len tokens, padding-free (attention stays within each pair); "
           "a step then holds --train-batch-size packed rows, so fewer steps")
_flag("--gradient-checkpointing", default="auto", choices=["auto", "on", "off"],
      help="recompute activations to save memory; auto = on with CUDA, off on CPU")
_flag("--report-to", default="none", choices=["none", "wandb", "trackio", "tensorboard"],
      help="where the trainer also reports loss and lr (as TRL's scripts do); train_log.json is always written")
_flag("--run-name", default=None, help="the run's name in the --report-to tracker (default: the run dir's name)")
# the before / after evaluation of a recipe
_flag("--eval-limit", resume=False, type=int, default=None,
      help="tasks per benchmark (default: all, or the script's own; --limit N sets it to N)")
_flag("--eval-mbpp", action="store_true", help="also evaluate MBPP (test split, 500 tasks)")
_flag("--eval-n-samples", resume=False, type=int, default=1, help="samples per task")
_flag("--eval-temperature", resume=False, type=float, default=0.0, help="0 = greedy")
_flag("--eval-max-new-tokens", resume=False, type=int, default=512, help="tokens per evaluated completion")
_flag("--skip-eval", action="store_true", help="stop after training")
# sample.py / evaluate.py
_flag("--chunk-size", type=int, default=None,
      help="prompts sampled between two writes (default: one hf batch; 512 for vllm)")
_flag("--logprobs", resume=False, action="store_true", help="record each sample's cumulative logprob")
_flag("--show", type=int, default=0, metavar="K", help="print the first K samples")
_flag("--grader", resume=False, default="auto", choices=["auto", "code", "math", "gsm8k", "aime"],
      help="with --problems: how to grade (auto: from the file's fields)")


def add_flags(parser, title: str | None, *dests: str, **overrides) -> argparse._ArgumentGroup:
    """Add the named flags (FLAGS keys) under `title`. `overrides`: `<dest>=dict(default=..., help=...)`
    for a script's own default, choices or help wording of a flag (its meaning stays the same)."""
    g = parser.add_argument_group(title) if title else parser
    for d in dests:
        f = FLAGS[d]
        kw = {**f.kw, **overrides.get(d, {})}
        action = g.add_argument(*f.names, *f.aliases, **kw)
        action._tf_alias = set(getattr(action, "_tf_alias", ())) | set(f.aliases) | {
            "--" + a[2:].replace("-", "_") for a in f.aliases}
    return g


def add_io_args(parser, *, limit: bool = True, tag: bool = True, limit_help: str | None = None):
    over = {"limit": {"help": limit_help}} if limit_help else {}
    return add_flags(parser, "io", "out_dir", *(["tag"] if tag else []), "overwrite",
                     *(["limit"] if limit else []), **over)


def add_model_args(parser, adapters: str = "one", *, always_4bit: bool = False, **defaults):
    """adapters: "one", "many" (several evaluated one after another on one loaded base) or "none".
    always_4bit: the script exists to load the model in NF4, so the flag is on and says so."""
    over: dict = {k: {"default": v} for k, v in defaults.items()}
    if always_4bit:
        over["load_in_4bit"] = {"default": True, "help": "always on in this script: the model is loaded in "
                                                         "4-bit NF4 (bitsandbytes; CUDA only)"}
    if adapters == "many":
        over["adapter"] = {"nargs": "+", "help": "PEFT adapter dir(s); several are evaluated one after "
                                                 "another on one loaded base"}
    return add_flags(parser, "model", "model", *(["adapter"] if adapters != "none" else []), "dtype",
                     "load_in_4bit", **over)


def add_sampler_args(parser, *, trains: bool = False, seed_help: str | None = None):
    """The sampling engine. `trains`: the script trains in the same process after it samples, so vLLM
    reserves less (a released engine's memory is not always all returned at once) and a context length
    is set rather than the model's maximum."""
    over: dict = {}
    if trains:
        over = {"gpu_memory_utilization": {"default": 0.85}, "max_model_len": {"default": 4096}}
    if seed_help:
        over["seed"] = {"help": seed_help}
    return add_flags(parser, "sampler", "backend", "seed", "batch_size", "tensor_parallel_size",
                     "gpu_memory_utilization", "max_model_len", **over)


def add_decoding_args(parser, *, n_samples: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                      max_new_tokens: int = 512, stop: bool = True, shard: bool = True):
    over = {"n_samples": {"default": n_samples}, "temperature": {"default": temperature},
            "top_p": {"default": top_p}, "max_new_tokens": {"default": max_new_tokens}}
    return add_flags(parser, "decoding", "n_samples", "temperature", "top_p", "max_new_tokens",
                     *(["stop"] if stop else []), *(["shard"] if shard else []), **over)


def add_bench_args(parser, benches: Sequence[str], default: str, *, with_base: bool = True):
    return add_flags(parser, "benchmark", "bench", "split", "format", "shots", "from_hub", "k", "workers",
                     "timeout", "strict_types", *(["with_base"] if with_base else []),
                     bench={"default": default, "choices": list(benches)})


def add_problem_args(parser, *, n_problems: int, source: str = "self"):
    return add_flags(parser, "problems", "problem_source", "n_problems", "problem_order", "gen_shots",
                     "gen_per_prompt", "gen_oversample", "gen_rounds", "gen_temperature", "gen_max_new_tokens",
                     "min_asserts", "decontam_n",
                     problem_source={"default": source, "metavar": "self|mbpp_train|FILE",
                                     "help": "self: the model writes problems (few-shot from MBPP train); "
                                             "mbpp_train: MBPP train tasks 601-974 as HumanEval-style stubs; "
                                             "FILE: a JSONL of code problems (task_id, prompt, entry_point, test)"},
                     n_problems={"default": n_problems})


def add_attempt_args(parser, *, n_attempts: int, max_pairs: int, shots: bool = False, sandbox: bool = True):
    """How a recipe samples and verifies its attempts (sampled at 0.8 / 0.95, not greedily: distinct
    solutions are the point)."""
    g = add_flags(parser, "attempts", "n_attempts", "max_pairs_per_problem", "format",
                  *(["shots"] if shots else []), "temperature", "top_p", "max_new_tokens",
                  *(["workers", "timeout"] if sandbox else []),
                  n_attempts={"default": n_attempts}, max_pairs_per_problem={"default": max_pairs},
                  format={"choices": ["raw", "chat"],
                          "help": "prompt format of attempts, pairs, training and evaluation: raw completion "
                                  "(base models) or the model's chat template (instruct models)"},
                  shots={"help": "raw format: GSM8K train exemplars in the prompt (default 8, the GSM8K "
                                 "evaluation's)"},
                  temperature={"default": 0.8, "help": "temperature of the attempts"},
                  top_p={"default": 0.95, "help": "nucleus mass of the attempts"},
                  max_new_tokens={"help": "tokens per attempt"},
                  timeout={"default": 10.0, "help": "sandbox seconds per attempt"})
    return g


def add_train_args(parser, *, lora_rank: int = 16, epochs: float = 3.0, max_len: int = 1024):
    return add_flags(parser, "train", "lora_rank", "lora_alpha", "lora_dropout", "lora_targets", "epochs", "lr",
                     "train_batch_size", "grad_accum", "max_len", "warmup_ratio", "weight_decay", "packing",
                     "gradient_checkpointing", "report_to", "run_name",
                     lora_rank={"default": lora_rank}, epochs={"default": epochs}, max_len={"default": max_len})


def add_recipe_eval_args(parser, *, mbpp: bool = True, limit_help: str | None = None):
    over = {"eval_limit": {"help": limit_help}} if limit_help else {}
    return add_flags(parser, "eval", "eval_limit", *(["eval_mbpp"] if mbpp else []), "eval_n_samples",
                     "eval_temperature", "eval_max_new_tokens", "skip_eval", **over)


def add_round_args(parser, *, adaptive: bool, per_round: int, sources: Sequence[str], source_help: str):
    if adaptive:
        return add_flags(parser, "rounds", "problem_source", "iterations", "start_level", "band_low", "band_high",
                         "problems_per_round",
                         problem_source={"default": sources[0], "choices": list(sources), "metavar": None,
                                         "help": source_help},
                         problems_per_round={"default": per_round})
    return add_flags(parser, "rounds", "iterations", "n_problems",
                     iterations={"default": 1, "help": "rounds (each on fresh GSM8K train items, training on "
                                                       "all pairs so far)"},
                     n_problems={"default": per_round, "help": "GSM8K train questions per round"})


def add_eval_script_args(parser, benches: Sequence[str], default: str, *, max_new_tokens: int = 512) -> None:
    """Every flag of an eval CLI (eval_raw, eval_plus, eval_math)."""
    add_bench_args(parser, benches, default)
    add_io_args(parser)
    add_model_args(parser, adapters="many")
    add_decoding_args(parser, max_new_tokens=max_new_tokens)
    add_sampler_args(parser)


def add_curriculum_args(parser, kind: str, *, adaptive: bool, per_round: int, n_attempts: int = 4) -> None:
    """Every flag of a curriculum script (math_bootstrap: adaptive=False, GSM8K train, no levels)."""
    from tinyforge.problems import CODE_SOURCES, MATH_SOURCES

    add_io_args(parser, limit_help="smoke runs: at most N problems a round, and N tasks per benchmark in "
                                   "the evaluation")
    add_model_args(parser, adapters="none")
    help_ = "synthetic: procedural problems at each level; " + (
        "gsm8k_train: GSM8K train items, level = calculation steps of the reference" if kind == "math"
        else "mbpp_train: MBPP train stubs, level = reference-length quintile")
    add_round_args(parser, adaptive=adaptive, per_round=per_round,
                   sources=MATH_SOURCES if kind == "math" else CODE_SOURCES, source_help=help_)
    add_attempt_args(parser, n_attempts=n_attempts, max_pairs=1, shots=kind == "math", sandbox=kind == "code")
    add_sampler_args(parser, trains=True, seed_help="seed of problems, sampling and training")
    # the raw 8-shot GSM8K prompt alone is ~1000 tokens: 1024 would leave the answer outside
    add_train_args(parser, lora_rank=16, epochs=3.0, max_len=2048 if kind == "math" else 1024)
    add_recipe_eval_args(parser, mbpp=kind == "code",
                         limit_help="GSM8K test questions (default 100, the guide's x/100; --limit N sets N)"
                         if kind == "math" else None)


def add_harvest_args(parser, *, n_problems: int, n_attempts: int, max_pairs: int, train: bool = True,
                     lora_rank: int = 16) -> None:
    """Every flag of a mining recipe (bootstrap, multi_pair, the 4-bit harvest)."""
    add_io_args(parser, limit_help="smoke runs: at most N problems, and N tasks per benchmark in the evaluation")
    add_model_args(parser, adapters="none", always_4bit=not train)
    add_problem_args(parser, n_problems=n_problems)
    add_attempt_args(parser, n_attempts=n_attempts, max_pairs=max_pairs)
    add_sampler_args(parser, trains=train, seed_help="seed of sampling and training" if train else None)
    if train:
        add_train_args(parser, lora_rank=lora_rank, epochs=3.0)
        add_recipe_eval_args(parser)


def add_multi_pair_args(parser) -> None:
    add_flags(parser, "warm-up", "warmup_pairs_path", "warmup_mode")
    # The guide's §3.7 settings: 200 problems x 8 attempts, up to 4 distinct pairs each, rank 32.
    add_harvest_args(parser, n_problems=200, n_attempts=8, max_pairs=4, lora_rank=32)


# ---------------------------------------------------------------------------------------------------
# Small helpers


def unescape(s: str) -> str:
    """Turn a shell-typed `\\n` into a newline, so `--stop "\\nclass "` means what the guide means."""
    return s.encode("utf-8").decode("unicode_escape") if "\\" in s else s


def stop_list(args) -> list[str] | None:
    return [unescape(s) for s in args.stop] if getattr(args, "stop", None) else None


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """`"i/N"` -> (i, N) with 0 <= i < N."""
    if spec is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if not m or not (0 <= int(m.group(1)) < int(m.group(2))):
        raise TinyforgeError(f"--shard {spec!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    return int(m.group(1)), int(m.group(2))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import numpy as np
        np.random.seed(seed % (2 ** 32))
    except ImportError:
        pass
    try:
        import torch
        torch.manual_seed(seed)
    except ImportError:
        pass


def flag_of(dest: str) -> str:
    """The flag a user types for an argparse dest."""
    return FLAGS[dest].option if dest in FLAGS else "--" + dest.replace("_", "-")


# ---------------------------------------------------------------------------------------------------
# Settings: parsed flags -> the library's dataclasses


def build(cls, args, *, renames: dict[str, str] | None = None, **values):
    """`cls` (a settings dataclass) from the flags of the same name; `renames` maps a field to the dest
    it is read from (SFTSettings.batch_size <- --train-batch-size), `values` set fields directly. The
    settings' `check()` runs here, and a SettingsError it raises names the flag, not the field."""
    renames = renames or {}
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name in values:
            kw[f.name] = values[f.name]
            continue
        dest = renames.get(f.name, f.name)
        if hasattr(args, dest):
            kw[f.name] = getattr(args, dest)
    obj = cls(**kw)
    check = getattr(obj, "check", None)
    if check is not None:
        with flag_names(renames):
            check()
    return obj


class flag_names:
    """Context manager: a SettingsError raised inside becomes a TinyforgeError naming the flag."""

    def __init__(self, renames: dict[str, str] | None = None):
        self.renames = renames or {}

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if isinstance(exc, SettingsError):
            raise TinyforgeError(f"{flag_of(self.renames.get(exc.field, exc.field))} {exc.problem}") from None
        return False


def sampler_settings(args, adapter=None):
    """SamplerSettings of the model + sampler flags; `adapter` (dirs the engine is built with) defaults
    to --adapter."""
    from tinyforge.sampling import SamplerSettings

    if adapter is None:
        adapter = getattr(args, "adapter", None)
    settings = build(SamplerSettings, args, adapter=adapter)
    check_model(args)
    return settings


def check_model(args) -> None:
    """--model names something loadable, before any weight is read: an alias, a model dir, or a hub id
    that is cached or reachable (one short probe; under --dry-run the hub is not asked)."""
    from tinyforge import models

    models.validate_model_name(args.model, check_hub=not getattr(args, "dry_run", False))


def eval_settings(args, bench: str | None = None, *, eval_prefix: bool = False, limit: int | None = None):
    """EvalSettings of the benchmark + decoding flags (`eval_prefix`: a recipe's --eval-* flags)."""
    from tinyforge.evaluation import EvalSettings

    if not eval_prefix:
        return build(EvalSettings, args, stop=stop_list(args),
                     **({"bench": bench} if bench else {}))
    lim = next((x for x in (getattr(args, "eval_limit", None), getattr(args, "limit", None), limit)
                if x is not None), None)
    renames = {"n_samples": "eval_n_samples", "temperature": "eval_temperature",
               "max_new_tokens": "eval_max_new_tokens", "limit": "eval_limit"}
    return build(EvalSettings, args, renames=renames, bench=bench, limit=lim, top_p=1.0, stop=None,
                 k=[1], split=None, from_hub=False, timeout=None, strict_types=False,
                 n_samples=args.eval_n_samples,
                 temperature=args.eval_temperature, max_new_tokens=args.eval_max_new_tokens)


def recipe_benches(args, default: Sequence[str] = ("humaneval", "humaneval_plus")) -> list[str]:
    return list(default) + (["mbpp"] if getattr(args, "eval_mbpp", False) else [])


def mining_settings(args):
    from tinyforge.mining import MiningSettings

    return build(MiningSettings, args)


def sft_settings(args):
    from tinyforge.training import SFTSettings

    ckpt = {"on": True, "off": False}.get(getattr(args, "gradient_checkpointing", "auto"))
    settings = build(SFTSettings, args, renames={"fmt": "format", "batch_size": "train_batch_size"},
                     gradient_checkpointing=ckpt)
    check_model(args)
    return settings


def curriculum_settings(args):
    from tinyforge.curriculum import CurriculumSettings

    return build(CurriculumSettings, args)


# ---------------------------------------------------------------------------------------------------
# Run directories


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(s).rstrip("/").split("/")[-1]).strip("-") or "x"


def default_run_dir(stage: str, model: str, knobs: dict | None = None, seed: int | None = None) -> Path:
    """`runs/<stage>/<model>_<knobs>_s<seed>/`: the name carries the settings that change the result,
    so two runs with different settings never resume into each other."""
    parts = [_slug(model)]
    for k, v in (knobs or {}).items():
        if v is None or v is False:
            continue
        parts.append(k if v is True else f"{k}{_slug(v) if isinstance(v, str) else v}")
    if seed is not None:
        parts.append(f"s{seed}")
    return Path("runs") / stage / "_".join(parts)


def name_knobs(args, unnamed: Sequence[str] = ()) -> dict:
    """The default run dir's name parts: every flag with a `name=` that this script has (but those in
    `unnamed`, dests)."""
    out = {}
    for dest, f in FLAGS.items():
        if f.name and hasattr(args, dest) and dest not in unnamed:
            v = getattr(args, dest)
            out[f.name] = f.fmt(v) if f.fmt and v is not None else v
    return out


def resume_knobs(args, growable: Sequence[str] = ()) -> dict:
    """dest -> value of every flag of this script that changes what its run dir holds (but the dests in
    `growable`: a run may resume with another value of those, e.g. a TTS pool with a larger --n)."""
    return {d: getattr(args, d) for d, f in FLAGS.items()
            if not f.resume and hasattr(args, d) and d not in growable}


def run_dir(args, stage: str, unnamed: Sequence[str] = ()) -> Path:
    """--out-dir, else runs/<stage>/<tag>, else the default name from the flags' name parts (but the
    dests in `unnamed`: a TTS pool's dir does not carry n, so a larger --n grows the same pool)."""
    if getattr(args, "out_dir", None):
        return Path(args.out_dir)
    if getattr(args, "tag", None):
        return Path("runs") / stage / _slug(args.tag)
    return default_run_dir(stage, args.model, name_knobs(args, unnamed), getattr(args, "seed", None))


def refuse_changed(args, path: Path, what: str, growable: Sequence[str] = ()) -> None:
    """Refuse to resume `path` when it was made with other values of this script's resume knobs; the
    message names the flags, both values, and the ways out this script has."""
    from tinyforge.io import refuse_changed_run

    if getattr(args, "overwrite", False):
        return
    ways = ["pass --overwrite"] + [f"another {flag_of(d)}" for d in ("out_dir", "tag") if hasattr(args, d)]
    refuse_changed_run(path, resume_knobs(args, growable), what, name=flag_of, hint=", or ".join(ways))


def open_run(args, stage: str, path: Path, *, growable: Sequence[str] = (), **config) -> dict:
    """Create (or, with --overwrite, clear) the run dir after refusing a changed resume (`growable`:
    dests that may change), write config.json; returns the metrics already there."""
    from tinyforge.io import prepare_run_dir, read_json, save_config

    refuse_changed(args, path, stage, growable)
    prepare_run_dir(path, getattr(args, "overwrite", False))
    save_config(path, args, stage=stage, **config)
    m = path / "metrics.json"
    return read_json(m) if m.exists() else {}


# ---------------------------------------------------------------------------------------------------
# The dry-run plan


class Plan:
    """What a script would do: its run dir, the model and adapters it would load, its stages and the
    files each reads and writes. Inputs that do not exist yet are listed as missing (an earlier command
    of the same chain may make them), not an error."""

    def __init__(self, stage: str, run_dir: Path | str | None = None, *, model: str | None = None,
                 adapters: Sequence[str] = (), **notes):
        self.stage, self.run_dir, self.model = stage, run_dir, model
        self.adapters = [str(a) for a in adapters if a]
        self.notes = notes
        self.stages: list[tuple[str, str]] = []
        self.inputs: list[tuple[str, str]] = []
        self.outputs: list[tuple[str, str]] = []

    def reads(self, path, what: str = "") -> "Plan":
        if path:
            self.inputs.append((str(path), what))
        return self

    def writes(self, path, what: str = "") -> "Plan":
        self.outputs.append((str(path), what))
        return self

    def step(self, name: str, detail: str = "") -> "Plan":
        self.stages.append((name, detail))
        return self

    def missing(self) -> list[str]:
        return [p for p, _ in self.inputs if not Path(p).exists()] + \
               [a for a in self.adapters if not (Path(a) / "adapter_config.json").exists()]

    def show(self) -> dict:
        def state(p, want_dir=False):
            q = Path(p)
            if want_dir:
                return "" if (q / "adapter_config.json").exists() else "  (missing: an earlier command must make it)"
            return "" if q.exists() else "  (missing: an earlier command must make it)"

        print(f"plan: {self.stage}" + (f" -> {self.run_dir}" + ("  (exists: resumes)" if self.run_dir and
                                                               Path(self.run_dir).exists() else "")
                                      if self.run_dir else ""))
        if self.model:
            print(f"  model: {self.model}")
        for a in self.adapters:
            print(f"  adapter: {a}{state(a, want_dir=True)}")
        for k, v in self.notes.items():
            print(f"  {k}: {v}")
        for p, what in self.inputs:
            print(f"  reads: {p}" + (f" ({what})" if what else "") + state(p))
        for i, (name, detail) in enumerate(self.stages, 1):
            print(f"  stage {i}: {name}" + (f": {detail}" if detail else ""))
        for p, what in self.outputs:
            print(f"  writes: {p}" + (f" ({what})" if what else ""))
        missing = self.missing()
        print(f"dry run: nothing loaded or written; {len(self.stages)} stages"
              + (f", {len(missing)} inputs still missing" if missing else ""))
        return {"dry_run": True, "stage": self.stage, "run_dir": str(self.run_dir) if self.run_dir else None,
                "stages": [s for s, _ in self.stages], "missing": missing}


def check_inputs(args, *paths_and_flags: tuple[str | None, str], adapters: Sequence[str] = ()) -> None:
    """Before any weight is read: each (path, flag) names a file that must exist, each adapter a PEFT
    dir; under --dry-run nothing is required (the plan lists what is missing)."""
    if getattr(args, "dry_run", False):
        return
    for path, flag in paths_and_flags:
        if path and not Path(path).exists():
            raise TinyforgeError(f"{flag} {path}: no such file")
    for a in adapters:
        if a and not (Path(a) / "adapter_config.json").exists():
            what = "no such directory" if not Path(a).exists() else "not a PEFT adapter dir (no adapter_config.json)"
            raise TinyforgeError(f"--adapter {a}: {what}")


# ---------------------------------------------------------------------------------------------------
# Script bodies that several scripts share (the eval CLIs; the curricula; multi_pair and its guide
# name). They read the Namespace, so they live here; the work itself is the library's.


def eval_main(args, stage: str) -> dict:
    """main() of evals/eval_raw.py, eval_plus.py and eval_math.py: one benchmark for the base model
    and/or each --adapter, on one loaded base."""
    from tinyforge import evaluation
    from tinyforge.sampling import LazySampler

    es = eval_settings(args)
    adapters: list[str | None] = list(args.adapter or [])
    if not adapters or args.with_base:
        adapters = [None] + adapters
    ss = sampler_settings(args, adapter=[a for a in adapters if a] or None)
    shard = parse_shard(args.shard)
    path = run_dir(args, f"{stage}/{es.bench}")
    plan = Plan(f"{stage} {es.bench}", path, model=args.model, adapters=[a for a in adapters if a],
                sampler=f"{ss.backend}, dtype {ss.dtype}" + (", 4-bit" if ss.load_in_4bit else ""))
    plan.notes["data"] = f"{es.bench} (shipped)" + (f", first {es.limit} tasks" if es.limit else "")
    for label in evaluation.run_labels(adapters):
        sub = path if len(adapters) == 1 else path / label
        plan.step(f"{label}: sample", f"{es.n_samples} per task, temperature {es.temperature}, "
                                      f"<= {es.max_new_tokens} tokens, format {es.format}" +
                  (f", shard {args.shard}" if shard else ""))
        plan.step(f"{label}: grade", "sandbox" if es.kind == "code" else f"{es.kind} answers")
        plan.writes(sub / "samples.jsonl").writes(sub / "results.jsonl").writes(sub / "metrics.json")
    if args.dry_run:
        return plan.show()
    check_inputs(args, adapters=[a for a in adapters if a])
    open_run(args, stage, path, stop=es.stops())
    return evaluation.evaluate_models(es, LazySampler(ss), path, adapters, model=args.model, shard=shard)


def recipe_evals(args, benches: Sequence[str], default_limit: int | None = None) -> list | None:
    """A recipe's before / after benchmarks as EvalSettings (None with --skip-eval)."""
    if getattr(args, "skip_eval", False):
        return None
    return [eval_settings(args, b, eval_prefix=True, limit=default_limit) for b in benches]


def recipe_plan(stage: str, path: Path, args, *, stages: Sequence[tuple[str, str]], inputs=(),
                evals=None, adapters=()) -> Plan:
    plan = Plan(stage, path, model=args.model, adapters=adapters,
                sampler=f"{args.backend}, dtype {args.dtype}" + (", 4-bit" if args.load_in_4bit else ""))
    for p, flag in inputs:
        plan.reads(p, flag)
    for name, out in stages:
        plan.step(name, out)
    if evals:
        plan.step("evaluate before / after", ", ".join(f"{e.bench} ({e.limit or 'all'} tasks x {e.n_samples})"
                                                       for e in evals))
        plan.writes(path / "eval", "<label>/<bench>/{samples,results,per_task}.jsonl, metrics.json")
    plan.writes(path / "metrics.json")
    return plan


def curriculum_main(args, stage: str, kind: str, *, adaptive: bool, samplers=None) -> dict:
    """main() of recipe/curriculum_math.py, curriculum_code.py and math_bootstrap.py."""
    from tinyforge import curriculum
    from tinyforge.sampling import sampler_factories

    cs = build(curriculum.CurriculumSettings, args, kind=kind, adaptive=adaptive)
    sft = sft_settings(args)
    ss = sampler_settings(args, adapter=None)
    task = cs.task()
    evals = recipe_evals(args, task.eval_benches, task.eval_limit)
    path = run_dir(args, stage)
    plan = recipe_plan(stage, path, args, evals=evals, stages=[
        (f"rounds 1-{cs.iterations}", f"{cs.per_round()} {cs.source_name()} problems a round"
                                      + (f" from level {cs.start_level}, band {cs.band_low}-{cs.band_high}"
                                         if adaptive else "") + f", {cs.n_attempts} attempts each, verify, "
                                      "train a LoRA on all pairs so far"),
    ])
    plan.writes(path / "rounds", "rNN/{problems,attempts,verified,pairs}.jsonl, rNN/adapter/, rNN/round.json")
    plan.writes(path / "curriculum.png")
    if args.dry_run:
        return plan.show()
    metrics = open_run(args, stage, path)
    with flag_names():
        return curriculum.run(cs, stage, path, samplers or sampler_factories(ss), sft, evals, metrics)


def harvest_plan(stage: str, path: Path, args, mine, *, evals=None, train: bool = True, warmup=None) -> Plan:
    src = mine.problem_source
    stages = [("problems", f"{mine.wanted()} from {src}" + (" (the model writes them)" if src == "self" else "")
               + f" -> {path / 'problems.jsonl'}"),
              ("attempts", f"{mine.n_attempts} per problem, temperature {mine.temperature} -> attempts.jsonl"),
              ("verify", "each attempt's tests in the sandbox -> verified.jsonl"),
              ("pairs", f"<= {mine.max_pairs_per_problem} distinct per problem -> pairs.jsonl")]
    if warmup:
        stages.insert(0, ("warm-up", warmup))
    if train:
        stages.append(("train", f"LoRA r{args.lora_rank}, {args.epochs:g} epochs -> {path / 'adapter'}"))
    inputs = [(p, "--problem-source") for p in mine.inputs()]
    if getattr(args, "warmup_pairs_path", None):
        inputs.append((args.warmup_pairs_path, "--warmup-pairs-path"))
    return recipe_plan(stage, path, args, stages=stages, inputs=inputs, evals=evals)


def multi_pair_main(args, stage: str = "multi_pair", samplers=None) -> dict:
    """main() of recipe/multi_pair.py and recipe/multi_pair_14b.py (the guide's name for it)."""
    from tinyforge import comparisons, recipes
    from tinyforge.pairs import load_pairs
    from tinyforge.sampling import sampler_factories

    mine, sft, ss = mining_settings(args), sft_settings(args), sampler_settings(args, adapter=None)
    evals = recipe_evals(args, recipe_benches(args))
    path = run_dir(args, stage)
    wp = args.warmup_pairs_path
    plan = harvest_plan(stage, path, args, mine, evals=evals, warmup=None if not wp else (
        f"train a warm-up LoRA on {wp} -> {path / 'warmup_adapter'}, which then mines" if args.warmup_mode == "mine"
        else f"mix {wp} into the final training set"))
    if args.dry_run:
        return plan.show()
    # The warm-up file is checked (file:line on a bad record) before a model is loaded.
    warmup = load_pairs(wp, fmt=args.format) if wp else []
    if wp and not warmup:
        raise TinyforgeError(f"{wp}: no pairs in the warm-up file")
    metrics = open_run(args, stage, path)
    m = recipes.multi_pair(mine, sft, evals, path, samplers or sampler_factories(ss), warmup=warmup,
                           warmup_mode=args.warmup_mode, stage=stage, metrics=metrics, config=vars(args))
    print(f"run dir: {path}")
    verdict = comparisons.verdict(m)
    print(f"{stage} {args.model}: {m.get('mined_pairs', 0)} mined + {len(warmup)} warm-up pairs from "
          f"{m.get('problems', 0)} problems" + (f"\n{verdict}" if verdict else ""))
    return m


# ---------------------------------------------------------------------------------------------------
# Test-time sampling: tts/ and the experiments built on its pools


def add_tts_args(parser, *, n: int = 8, temperature: float = 0.7, max_new_tokens: int | None = 512,
                 adapters: str = "one") -> None:
    """Every flag of a TTS script but the benchmark choice: the pool (--n samples per task at
    --temperature), the model, the sampler, io."""
    add_io_args(parser)
    add_model_args(parser, adapters=adapters)
    add_flags(parser, "pool", "n_samples", "temperature", "top_p", "max_new_tokens", "stop", "shard", "k",
              "workers", "timeout",
              n_samples={"default": n, "help": "samples per task: the pool every k <= n is estimated from "
                                               "(also spelled --n); a larger n on an existing run draws only "
                                               "the new samples"},
              temperature={"default": temperature},
              max_new_tokens={"default": max_new_tokens,
                              **({"help": "new tokens per completion (default: 512 for code and GSM8K, "
                                          "1024 for MATH-500, 2048 for AIME)"} if max_new_tokens is None else {})},
              k={"help": "the k shown in the printed table (default: all of 1..n; metrics.json has every k); "
                         "each <= --n"})
    add_sampler_args(parser)


def _tts_specs(args, benches: Sequence[str]) -> list:
    from tinyforge import tts
    from tinyforge.benchmarks import grading_kind
    from tinyforge.evaluation import EvalSettings

    out = []
    for b in benches:
        with flag_names():
            try:
                kind = grading_kind(b)
            except TinyforgeError as exc:
                raise SettingsError("bench", str(exc)) from None
        mnt = args.max_new_tokens or tts.MAX_NEW_TOKENS[kind]
        out.append(build(EvalSettings, args,
                         stop=stop_list(args), bench=b, max_new_tokens=mnt, k=None))
    for k in args.k or ():
        if k < 1:
            raise TinyforgeError(f"--k {k}: expected k >= 1")
        if k > args.n_samples:
            raise TinyforgeError(f"--k {k} is larger than --n {args.n_samples}: a pool of {args.n_samples} "
                                 f"samples per task gives pass@k and maj@k for k <= {args.n_samples}")
    return out


def tts_pools(args, stage: str, benches: Sequence[str], runs: Sequence[tuple[str | None, Any]] | None = None,
              *, notes: dict | None = None) -> tuple[Path, list[dict]] | dict:
    """The body every TTS script shares: one pool of --n samples per task for each benchmark (and each
    (label, lora) of `runs`: None, False = the base model, a dir = that adapter, on one loaded base),
    sampled and graded through the one evaluation path, swept (tinyforge.tts). Pools other runs under
    runs/ drew with the same model, adapter and settings are reused. Returns (run dir, one dict per
    (label, bench): label, bench, dir, metrics), or the dry-run plan."""
    from tinyforge import tts
    from tinyforge.sampling import LazySampler

    adapter = getattr(args, "adapter", None)
    if runs is None:
        runs = [(None, adapter if adapter else False)]
    specs = _tts_specs(args, benches)
    loras = [lo for _, lo in runs if isinstance(lo, str)]
    ss = sampler_settings(args, adapter=loras or None)
    shard = parse_shard(getattr(args, "shard", None))
    path = run_dir(args, stage, unnamed=("n_samples",))

    def sub(label, es):
        d = path if label is None else path / label
        return d if len(specs) == 1 else d / es.bench

    plan = Plan(stage, path, model=args.model, adapters=loras,
                sampler=f"{ss.backend}, dtype {ss.dtype}" + (", 4-bit" if ss.load_in_4bit else ""), **(notes or {}))
    for label, lora in runs:
        for es in specs:
            who = label or ("adapter" if lora else "model")
            plan.step(f"{who}: {es.bench}", f"{es.n_samples} samples per task" + (f" ({es.limit} tasks)" if es.limit
                      else "") + f", T={es.temperature}, top-p {es.top_p}, <= {es.max_new_tokens} tokens, "
                      f"grade, pass@k / " + ("maj@k / " if es.kind != "code" else "") + "oracle for k = 1.."
                      f"{es.n_samples}" + (f", shard {args.shard}" if shard else ""))
            d = sub(label, es)
            plan.writes(d, "samples.jsonl, results.jsonl, per_task.jsonl, table.md, curve.png, metrics.json")
    plan.notes["reuse"] = "samples that runs under runs/ drew with the same model, adapter and settings"
    if args.dry_run:
        return plan.show()
    check_inputs(args, adapters=loras)
    open_run(args, stage, path, growable=("n_samples",))
    sampler = LazySampler(ss)
    out = []
    for label, lora in runs:
        done: dict[str, list] = {}
        for es in specs:
            d = sub(label, es)
            ad = lora if isinstance(lora, str) else None
            reuse = tts.pooled_samples(tts.find_pools("runs", es, model=args.model, adapter=ad, exclude=d))
            if es.plus and es.bench.replace("_plus", "") in done:
                reuse = reuse + done[es.bench.replace("_plus", "")]
            if shard:
                from tinyforge import evaluation
                evaluation.evaluate(es, sampler, d, lora=lora, reuse=reuse, shard=shard, model=args.model)
                print(f"{label or ''} {es.bench}: shard {args.shard} sampled; run again without --shard to "
                      f"merge, grade and sweep".strip())
                continue
            m = tts.run_bench(es, sampler, d, model=args.model, lora=lora, reuse=reuse,
                              title=f"{es.bench} {args.model}" + (f" + {Path(ad).name}" if ad else ""))
            done[es.bench] = m["_records"]
            out.append({"label": label, "bench": es.bench, "dir": d, "metrics": m, "settings": es})
    return path, out


def tts_main(args, stage: str, benches: Sequence[str]) -> dict:
    """main() of tts/tts_humaneval.py, tts_math500.py, tts_aime.py and tts_scaling.py."""
    from tinyforge import tts
    from tinyforge.evaluation import public
    from tinyforge.io import save_metrics

    got = tts_pools(args, stage, benches)
    if isinstance(got, dict):
        return got
    path, results = got
    if not results:  # a shard: sampled only
        return {}
    flat: dict = {}
    for r in results:
        m = public(r["metrics"])
        print(f"\n{r['dir'] / 'table.md'}:\n")
        print(tts.table(m, ks=args.k))
        print(f"figure: {r['dir'] / 'curve.png'}")
        flat.update(m if len(results) == 1 else {f"{r['bench']}/{k}": v for k, v in m.items()})
    if len(results) > 1:
        save_metrics(path, flat)
    print(f"metrics: {path / 'metrics.json'}")
    for r in results:
        print(tts.headline(f"{r['bench']} {args.model}", r["metrics"]))
    if len(results) > 1:
        n = results[0]["metrics"]["n"]
        print(f"{stage} {args.model}, n={n}, T={args.temperature}: oracle best-of-{n} " + ", ".join(
            f"{r['bench']} {r['metrics']['n_oracle']}/{r['metrics']['n_tasks']}" for r in results))
    return flat
