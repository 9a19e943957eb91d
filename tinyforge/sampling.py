"""One sampler interface, two backends: vLLM on GPUs, Hugging Face transformers everywhere else.

    sampler = make_sampler("smollm2-135m", backend="auto")
    outs = sampler.generate(["def add(a, b):\\n"], n=4, temperature=0.8, max_new_tokens=128,
                            stop=["\\ndef "], seed=0)
    outs[0][0].text, outs[0][0].finish_reason, outs[0][0].stop_reason

Semantics are vLLM's, so the two backends answer the same question the same way:
* a stop string is cut from the text (the text ends before it), `finish_reason` is "stop" and
  `stop_reason` names the string; EOS gives "stop" with `stop_reason` None; the length limit gives
  "length". `token_ids` keep every generated token (EOS included, as vLLM does);
* `allowed_token_ids` restricts every generated token to that set (EOS only if it is in the set);
* `cumulative_logprob` (with `logprobs=True`) is the sum of the sampled tokens' log-probabilities under
  the model's raw distribution (before temperature, top-p and the allowed-token mask: vLLM's default
  "raw" logprobs mode);
* seeds are per prompt: prompt i uses `seed[i]` (or, given one int, a seed derived from it and the
  prompt text), and its sample j is drawn from its own random stream. A sample therefore does not depend
  on what else shares its batch, on `batch_size`, on which shard it ran in, or on n: `first=4, n=4`
  draws exactly samples 4-7 of an n=8 call, so raising n on a run draws only the new samples. (vLLM:
  one `SamplingParams(seed=...)` per prompt; its engine gives the i-th of a request's n children the
  seed `seed + i` (vllm/v1/engine/parallel_sampling.py), so samples first.. are asked for with
  `seed + first`.)
* prompts are text (raw completion: tokenized with the tokenizer's own special tokens, e.g. a BOS) or
  chat messages (rendered with the model's chat template, then tokenized without adding a second BOS).
  Both backends get the same token ids: the vLLM backend is handed `TokensPrompt`s made here.

Why the HF backend has its own decode loop instead of `model.generate`: `generate` draws every row from
one global random stream, so a sample changes with its batch-mates; it also keeps finished rows in the
batch until the longest one ends and prefills a prompt once per sample. The loop below draws each row
from its own generator, drops finished rows from the KV cache, and prefills each prompt once for its n
samples. See tests/perf/sampling_bench.py for what that buys.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from tinyforge.io import SettingsError, TinyforgeError

Prompt = "str | list[dict]"  # text, or chat messages [{"role": ..., "content": ...}, ...]


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    finish_reason: str  # "stop" | "length"
    stop_reason: str | int | None = None
    cumulative_logprob: float | None = None

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)

    def to_dict(self) -> dict:
        return asdict(self)


def derive_seed(base: int, key: str) -> int:
    """A stable 31-bit seed from a base seed and a key (e.g. a task id): same inputs, same seed, on
    every machine and Python (unlike `hash()`, which is salted per process)."""
    h = hashlib.sha256(f"{base}:{key}".encode("utf-8")).digest()
    return int.from_bytes(h[:8], "little") % (2 ** 31 - 1)


def prompt_key(prompt) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, ensure_ascii=False)


def per_prompt_seeds(prompts: Sequence, seed: int | Sequence[int]) -> list[int]:
    if isinstance(seed, int):
        return [derive_seed(seed, prompt_key(p)) for p in prompts]
    seeds = [int(s) for s in seed]
    if len(seeds) != len(prompts):
        raise ValueError(f"got {len(seeds)} seeds for {len(prompts)} prompts")
    return seeds


def encode_prompt(tokenizer, prompt) -> list[int]:
    """Token ids of a prompt, the same for both backends (see module doc)."""
    if isinstance(prompt, str):
        return tokenizer(prompt, add_special_tokens=True)["input_ids"]
    if not isinstance(prompt, list) or not all(isinstance(m, dict) and "role" in m for m in prompt):
        raise TinyforgeError("a prompt must be a string or a list of {role, content} messages")
    if not getattr(tokenizer, "chat_template", None):
        raise TinyforgeError("chat prompts need a tokenizer with a chat template; this model has none "
                             "(use raw text prompts for base models)")
    # A final assistant message is a prefix the model continues (e.g. a code stub), not a finished turn.
    cont = prompt[-1].get("role") == "assistant"
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=not cont,
                                         continue_final_message=cont)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def eos_token_ids(tokenizer, model_config=None, generation_config=None) -> set[int]:
    ids: set[int] = set()
    for src in (tokenizer.eos_token_id, getattr(generation_config, "eos_token_id", None)):
        if isinstance(src, int):
            ids.add(src)
        elif src:
            ids.update(int(x) for x in src)
    return ids


def find_stop(text: str, stop: Sequence[str], start: int = 0) -> tuple[int, str] | None:
    """Earliest occurrence at or after `start` of any stop string: (index, string), or None."""
    best = None
    for s in stop:
        i = text.find(s, start)
        if i >= 0 and (best is None or i < best[0]):
            best = (i, s)
    return best


class Sampler:
    """The interface both backends implement."""

    backend = "?"
    tokenizer: Any

    def generate(self, prompts: Sequence, n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int = 256, stop: Sequence[str] | None = None,
                 seed: int | Sequence[int] = 0, allowed_token_ids: Sequence[int] | None = None,
                 logprobs: bool = False, lora: str | bool | None = None, first: int = 0) -> list[list[Completion]]:
        """n completions per prompt: the prompt's samples first, ..., first + n - 1 (each drawn from
        the stream of (prompt seed, sample index), so samples 4-7 asked for alone are the ones a call
        with n=8 gives). `lora`: None = the sampler's adapter (if it was given one), False = the base
        model, or an adapter directory loaded at construction."""
        raise NotImplementedError

    def encode(self, prompt) -> list[int]:
        return encode_prompt(self.tokenizer, prompt)

    def describe(self) -> dict:
        return {"backend": self.backend}


def check_decoding(n, temperature, top_p, max_new_tokens, *, names=("n_samples", "temperature", "top_p",
                                                                     "max_new_tokens")) -> None:
    """Decoding values that cannot work, as a SettingsError on the field named by `names` (cli.py turns
    it into the flag): checked before any model is loaded."""
    if n is not None and n < 1:
        raise SettingsError(names[0], f"must be >= 1, got {n}")
    if temperature is not None and temperature < 0:
        raise SettingsError(names[1], f"must be >= 0, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise SettingsError(names[2], f"must be in (0, 1], got {top_p}")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise SettingsError(names[3], f"must be >= 1, got {max_new_tokens}")


def _check_args(n, temperature, top_p, max_new_tokens):
    check_decoding(n, temperature, top_p, max_new_tokens)


def _check_first(first) -> None:
    if int(first) != first or first < 0:
        raise ValueError(f"first (the index of the first sample asked for) must be an int >= 0, got {first!r}")


# ---------------------------------------------------------------------------------------------------
# Hugging Face backend

@dataclass
class _Unit:
    prompt_idx: int
    ids: list[int]
    sample_idx: list[int]   # which of the prompt's n samples this unit produces
    row_seeds: list[int]


class HFSampler(Sampler):
    backend = "hf"

    def __init__(self, model: str, adapter: str | Sequence[str] | None = None, *, dtype: str = "auto",
                 device: str | None = None, batch_size: int = 64, load_in_4bit: bool = False,
                 model_obj=None, tokenizer=None, progress: bool = False):
        from tinyforge import models

        self.model_name = model
        self.tokenizer = tokenizer or models.load_tokenizer(model)
        self.model = model_obj or models.load_model(model, dtype=dtype, device=device,
                                                    load_in_4bit=load_in_4bit)
        self.batch_size = max(1, int(batch_size))
        self.progress = progress
        self.adapters: dict[str, str] = {}  # adapter dir -> PEFT adapter name
        for a in ([adapter] if isinstance(adapter, (str, Path)) else list(adapter or [])):
            self.load_adapter(str(a))
        self.default_lora = next(iter(self.adapters), None) if len(self.adapters) == 1 else None
        self.eos_ids = eos_token_ids(self.tokenizer, self.model.config,
                                     getattr(self.model, "generation_config", None))
        self.max_len = getattr(self.model.config, "max_position_embeddings", None)

    def load_adapter(self, path: str) -> None:
        from tinyforge.models import attach_adapter

        name = f"a{len(self.adapters)}"
        self.model = attach_adapter(self.model, path, name=name)
        self.adapters[path] = name

    def describe(self) -> dict:
        return {"backend": "hf", "dtype": str(self.model.dtype).replace("torch.", ""),
                "device": str(self.model.device), "batch_size": self.batch_size}

    @contextlib.contextmanager
    def _adapter(self, lora):
        path = self.default_lora if lora is None else lora
        if not path:
            ctx = self.model.disable_adapter() if self.adapters else contextlib.nullcontext()
            with ctx:
                yield
            return
        path = str(path)
        if path not in self.adapters:
            raise TinyforgeError(f"adapter {path} was not loaded by this sampler (loaded: "
                                 f"{', '.join(self.adapters) or 'none'})")
        self.model.set_adapter(self.adapters[path])
        yield

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=256, stop=None,
                 seed=0, allowed_token_ids=None, logprobs=False, lora=None, first=0):
        import torch

        _check_args(n, temperature, top_p, max_new_tokens)
        _check_first(first)
        prompts = list(prompts)
        seeds = per_prompt_seeds(prompts, seed)
        stop = [s for s in (stop or []) if s]
        allowed = None
        if allowed_token_ids is not None:
            vocab = self.model.get_output_embeddings().weight.shape[0]
            allowed = torch.zeros(vocab, dtype=torch.bool)
            allowed[torch.tensor(sorted(set(int(t) for t in allowed_token_ids)), dtype=torch.long)] = True
            allowed = allowed.to(self.model.device)

        # A unit is one prompt and up to batch_size of its samples; a batch packs units, longest first.
        units = []
        for i, p in enumerate(prompts):
            ids = self.encode(p)
            if not ids:
                raise TinyforgeError(f"prompt {i} encodes to no tokens (an empty prompt?)")
            for lo in range(0, n, self.batch_size):
                js = list(range(lo, min(n, lo + self.batch_size)))
                units.append(_Unit(i, ids, js, [_row_seed(seeds[i], first + j) for j in js]))
        units.sort(key=lambda u: -len(u.ids))
        batches, cur, rows = [], [], 0
        for u in units:
            if cur and rows + len(u.sample_idx) > self.batch_size:
                batches.append(cur)
                cur, rows = [], 0
            cur.append(u)
            rows += len(u.sample_idx)
        if cur:
            batches.append(cur)

        out: list[list[Completion | None]] = [[None] * n for _ in prompts]
        bar = None
        if self.progress:
            from tqdm import tqdm
            bar = tqdm(total=len(prompts) * n, desc="sampling", unit="sample")
        with self._adapter(lora), torch.inference_mode():
            for batch in batches:
                for u, j, comp in self._decode(batch, temperature, top_p, max_new_tokens, stop,
                                               allowed, logprobs):
                    out[u.prompt_idx][j] = comp
                if bar:
                    bar.update(sum(len(u.sample_idx) for u in batch))
        if bar:
            bar.close()
        return out  # type: ignore[return-value]

    def _decode(self, units: list[_Unit], temperature, top_p, max_new_tokens, stop, allowed, logprobs):
        import torch

        model, tok, dev = self.model, self.tokenizer, self.model.device
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        L = max(len(u.ids) for u in units)
        input_ids = torch.full((len(units), L), pad, dtype=torch.long)
        mask = torch.zeros((len(units), L), dtype=torch.long)
        for i, u in enumerate(units):
            input_ids[i, L - len(u.ids):] = torch.tensor(u.ids)
            mask[i, L - len(u.ids):] = 1
        input_ids, mask = input_ids.to(dev), mask.to(dev)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = _reserved_cache(model.config, L + max_new_tokens)
        logits = model(input_ids=input_ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                       use_cache=True, logits_to_keep=1).logits[:, -1, :]
        # Fan each prompt's prefill out to its sample rows.
        rep = torch.tensor([i for i, u in enumerate(units) for _ in u.sample_idx], device=dev)
        cache.batch_select_indices(rep)
        logits, mask, last = logits[rep], mask[rep], pos[:, -1][rep]
        meta = [(u, j) for u in units for j in u.sample_idx]
        gens = [torch.Generator().manual_seed(s) for u in units for s in u.row_seeds]
        plen = [len(u.ids) for u in units for _ in u.sample_idx]
        gen_ids: list[list[int]] = [[] for _ in meta]
        cum = [0.0] * len(meta)
        active = list(range(len(meta)))  # row ids still decoding, in batch order
        window = 2 * max((len(s) for s in stop), default=0) + 8
        eos = self.eos_ids
        for step in range(max_new_tokens):
            nxt, lp = _next_tokens(logits, temperature, top_p, allowed, [gens[r] for r in active], logprobs)
            nxt_list = nxt.tolist()
            keep = []
            for b, r in enumerate(active):
                t = nxt_list[b]
                gen_ids[r].append(t)
                if lp is not None:
                    cum[r] += float(lp[b])
                done = None
                if t in eos:
                    done = ("stop", None)
                elif stop:
                    tail = tok.decode(gen_ids[r][-window:], skip_special_tokens=True,
                                      clean_up_tokenization_spaces=False)
                    # the window is cheap; a hit is confirmed on the whole text before the row ends
                    if find_stop(tail, stop) and find_stop(
                            tok.decode(gen_ids[r], skip_special_tokens=True,
                                       clean_up_tokenization_spaces=False), stop):
                        done = ("stop", None)
                if done is None and (step + 1 == max_new_tokens or
                                     (self.max_len and plen[r] + step + 1 >= self.max_len)):
                    done = ("length", None)
                if done is None:
                    keep.append(b)
                    continue
                u, j = meta[r]
                yield u, j, self._finish(gen_ids[r], done, stop, cum[r] if logprobs else None)
            if not keep:
                return
            if len(keep) < len(active):
                idx = torch.tensor(keep, device=dev)
                cache.batch_select_indices(idx)
                mask, last, nxt = mask[idx], last[idx], nxt[idx]
                active = [active[b] for b in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=-1)
            last = last + 1
            logits = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=last[:, None],
                           past_key_values=cache, use_cache=True).logits[:, -1, :]

    def _finish(self, ids, done, stop, cum) -> Completion:
        text = self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        reason, stop_reason = done
        if stop:
            hit = find_stop(text, stop)
            if hit:
                text, reason, stop_reason = text[:hit[0]], "stop", hit[1]
        return Completion(text=text, token_ids=list(ids), finish_reason=reason, stop_reason=stop_reason,
                          cumulative_logprob=cum)


def _reserved_cache(config, capacity: int):
    """A DynamicCache whose full-attention layers write into buffers reserved for `capacity` positions.

    transformers' DynamicLayer grows by `torch.cat` at every step, so each step allocates and copies the
    whole KV cache again; on CPU those fresh multi-MB buffers are also page-faulted in each time (the
    profile of a 128-row fp32 step of SmolLM2-135M on 2 cores showed cat and page faults dominating).
    Other layer kinds (sliding window, linear attention) keep transformers' own classes.
    """
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    class ReservedLayer(DynamicLayer):
        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
                self._n = 0
                self._k = self._v = None
            need = self._n + key_states.shape[-2]
            if self._k is None or need > self._k.shape[-2]:
                cap = max(need, capacity)
                k = key_states.new_empty(*key_states.shape[:-2], cap, key_states.shape[-1])
                v = value_states.new_empty(*value_states.shape[:-2], cap, value_states.shape[-1])
                if self._n:
                    k[..., :self._n, :] = self._k[..., :self._n, :]
                    v[..., :self._n, :] = self._v[..., :self._n, :]
                self._k, self._v = k, v
            self._k[..., self._n:need, :] = key_states
            self._v[..., self._n:need, :] = value_states
            self._n = need
            self.keys, self.values = self._k[..., :need, :], self._v[..., :need, :]
            return self.keys, self.values

        def batch_select_indices(self, indices):
            if self.is_initialized and self._k is not None:
                self._k, self._v = self._k[indices, ...], self._v[indices, ...]
                self.keys, self.values = self._k[..., :self._n, :], self._v[..., :self._n, :]

    cache = DynamicCache(config=config)
    if not cache.layers:  # older layouts build layers lazily: one per decoder layer
        cache.layers = [DynamicLayer() for _ in range(config.get_text_config().num_hidden_layers)]
    cache.layers = [ReservedLayer() if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def _row_seed(prompt_seed: int, sample_idx: int) -> int:
    return (prompt_seed * 1_000_003 + sample_idx * 7919 + 1) % (2 ** 63 - 1)


def _next_tokens(logits, temperature, top_p, allowed, gens, want_logprobs):
    """Pick one token per row. Sampling is inverse-CDF with one uniform draw from each row's own
    generator, so a row's token depends only on its own logits and stream."""
    import torch

    raw = logits.float()
    x = raw if allowed is None else raw.masked_fill(~allowed, float("-inf"))
    if temperature <= 0:
        tok = x.argmax(-1)
    else:
        probs = torch.softmax(x / temperature, dim=-1)
        order = None
        if top_p < 1.0:
            probs, order = probs.sort(dim=-1, descending=True, stable=True)
            before = probs.cumsum(-1) - probs
            probs = probs.masked_fill(before >= top_p, 0.0)
        cdf = probs.cumsum(-1)
        u = torch.tensor([torch.rand((), generator=g).item() for g in gens], dtype=cdf.dtype)
        target = (u.to(cdf.device) * cdf[:, -1]).unsqueeze(-1)
        tok = torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp(max=cdf.shape[-1] - 1)
        if order is not None:
            tok = order.gather(-1, tok.unsqueeze(-1)).squeeze(-1)
    lp = None
    if want_logprobs:
        lp = torch.log_softmax(raw, dim=-1).gather(-1, tok.unsqueeze(-1)).squeeze(-1).tolist()
    return tok, lp


# ---------------------------------------------------------------------------------------------------
# vLLM backend: a thin translation to vLLM's documented API (vllm==0.33.0, pinned in requirements.txt).
# The translation functions are pure so that tests can check them without a GPU.

# vLLM accepts only these LoRA ranks (vllm/config/lora.py, MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def lora_rank_of(adapter_dir: str | Path) -> int:
    cfg = json.loads((Path(adapter_dir) / "adapter_config.json").read_text())
    return int(cfg.get("r", 8))


def vllm_engine_kwargs(model_path: str, *, adapters: Sequence[str] = (), tensor_parallel_size: int = 1,
                       gpu_memory_utilization: float = 0.9, max_model_len: int | None = None,
                       dtype: str = "auto", seed: int = 0, load_in_4bit: bool = False,
                       enable_prefix_caching: bool = True) -> dict:
    """Keyword arguments for `vllm.LLM(...)`."""
    kw: dict[str, Any] = {
        "model": model_path, "tokenizer": model_path, "tensor_parallel_size": tensor_parallel_size,
        "gpu_memory_utilization": gpu_memory_utilization, "dtype": dtype, "seed": seed,
        "enable_prefix_caching": enable_prefix_caching,
    }
    if max_model_len:
        kw["max_model_len"] = max_model_len
    if load_in_4bit:
        kw["quantization"] = "bitsandbytes"
    if adapters:
        need = max(lora_rank_of(a) for a in adapters)
        fits = [r for r in VLLM_LORA_RANKS if r >= need]
        if not fits:
            raise TinyforgeError(f"LoRA rank {need} is above vLLM's largest supported rank "
                                 f"{VLLM_LORA_RANKS[-1]}: use --backend hf")
        kw.update(enable_lora=True, max_lora_rank=fits[0], max_loras=min(len(adapters), 8))
    return kw


def vllm_sampling_kwargs(*, n: int, temperature: float, top_p: float, max_new_tokens: int,
                         stop: Sequence[str] | None, seed: int,
                         allowed_token_ids: Sequence[int] | None, logprobs: bool) -> dict:
    """Keyword arguments for one prompt's `vllm.SamplingParams(...)`."""
    kw: dict[str, Any] = {"n": n, "temperature": temperature, "top_p": top_p,
                          "max_tokens": max_new_tokens, "seed": seed,
                          # our text is cut before the stop string and special tokens are dropped,
                          # which are vLLM's defaults; spelled out so a default change cannot move us
                          "include_stop_str_in_output": False, "skip_special_tokens": True}
    if stop:
        kw["stop"] = list(stop)
    if allowed_token_ids is not None:
        kw["allowed_token_ids"] = sorted(set(int(t) for t in allowed_token_ids))
    if logprobs:
        kw["logprobs"] = 0  # 0 = only the sampled token's logprob (and the cumulative sum)
    return kw


def vllm_request_seed(prompt_seed: int, first: int = 0) -> int:
    """The request seed whose n children are a prompt's samples first, ..., first + n - 1: vLLM seeds
    child i of a request with `seed + i` (vllm/v1/engine/parallel_sampling.py, _get_child_sampling_params)."""
    return int(prompt_seed) + int(first)


def completion_from_vllm(c) -> Completion:
    """A `vllm.CompletionOutput` -> our Completion."""
    return Completion(text=c.text, token_ids=list(c.token_ids), finish_reason=c.finish_reason or "length",
                      stop_reason=c.stop_reason, cumulative_logprob=c.cumulative_logprob)


class VLLMSampler(Sampler):
    backend = "vllm"

    def __init__(self, model: str, adapter: str | Sequence[str] | None = None, *, dtype: str = "auto",
                 seed: int = 0, tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.9,
                 max_model_len: int | None = None, load_in_4bit: bool = False, progress: bool = True):
        from vllm import LLM

        from tinyforge import models

        path = models.resolve_model(model)
        self.tokenizer = models.load_tokenizer(model)
        self.adapters = [str(a) for a in ([adapter] if isinstance(adapter, (str, Path)) else adapter or [])]
        for a in self.adapters:
            models._check_adapter_dir(a)
        self.default_lora = self.adapters[0] if len(self.adapters) == 1 else None
        self.engine_kwargs = vllm_engine_kwargs(path, adapters=self.adapters,
                                                tensor_parallel_size=tensor_parallel_size,
                                                gpu_memory_utilization=gpu_memory_utilization,
                                                max_model_len=max_model_len, dtype=dtype, seed=seed,
                                                load_in_4bit=load_in_4bit)
        self.llm = LLM(**self.engine_kwargs)
        self.progress = progress

    def describe(self) -> dict:
        return {"backend": "vllm", **{k: v for k, v in self.engine_kwargs.items() if k != "model"}}

    def _lora_request(self, lora):
        from vllm.lora.request import LoRARequest

        path = self.default_lora if lora is None else lora
        if not path:
            return None
        path = str(path)
        if path not in self.adapters:
            raise TinyforgeError(f"adapter {path} was not given to this sampler")
        # ids must be >= 1 and unique per adapter (vllm/lora/request.py)
        return LoRARequest(lora_name=Path(path).name or path, lora_int_id=self.adapters.index(path) + 1,
                           lora_path=path)

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=256, stop=None,
                 seed=0, allowed_token_ids=None, logprobs=False, lora=None, first=0):
        from vllm import SamplingParams

        _check_args(n, temperature, top_p, max_new_tokens)
        _check_first(first)
        prompts = list(prompts)
        seeds = per_prompt_seeds(prompts, seed)
        params = [SamplingParams(**vllm_sampling_kwargs(
            n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, stop=stop,
            seed=vllm_request_seed(s, first),
            allowed_token_ids=allowed_token_ids, logprobs=logprobs)) for s in seeds]
        inputs = [{"prompt_token_ids": self.encode(p)} for p in prompts]
        outs = self.llm.generate(inputs, params, use_tqdm=self.progress, lora_request=self._lora_request(lora))
        return [[completion_from_vllm(c) for c in sorted(o.outputs, key=lambda c: c.index)] for o in outs]


def vllm_available() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def make_sampler(model: str, backend: str = "auto", adapter: str | Sequence[str] | None = None, *,
                 seed: int = 0, dtype: str = "auto", batch_size: int = 64, load_in_4bit: bool = False,
                 tensor_parallel_size: int = 1, gpu_memory_utilization: float = 0.9,
                 max_model_len: int | None = None, progress: bool = False) -> Sampler:
    """`auto` picks vLLM when it imports and CUDA is present, else the HF backend."""
    if backend == "auto":
        backend = "vllm" if vllm_available() else "hf"
    if backend == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise TinyforgeError("--backend vllm: vllm is not installed (pip install -r requirements.txt "
                                 "on a CUDA machine), or use --backend hf")
        return VLLMSampler(model, adapter, dtype=dtype, seed=seed, tensor_parallel_size=tensor_parallel_size,
                           gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                           load_in_4bit=load_in_4bit, progress=progress)
    if backend == "hf":
        return HFSampler(model, adapter, dtype=dtype, batch_size=batch_size, load_in_4bit=load_in_4bit,
                         progress=progress)
    raise TinyforgeError(f"--backend {backend!r}: expected auto, hf or vllm")


@dataclass
class SamplerSettings:
    """Everything that builds a sampler: the model, the adapters loaded with it, the engine. None of
    the engine fields changes a sample (tinyforge.sampling gives a sample that depends on its prompt,
    seed and decoding settings only)."""

    model: str = "smollm2-135m"
    backend: str = "auto"
    adapter: str | list[str] | None = None
    dtype: str = "auto"
    load_in_4bit: bool = False
    seed: int = 0
    batch_size: int = 64
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None

    def check(self) -> None:
        if self.backend not in ("auto", "hf", "vllm"):
            raise SettingsError("backend", f"{self.backend!r}: expected auto, hf or vllm")
        if self.batch_size < 1:
            raise SettingsError("batch_size", f"must be >= 1, got {self.batch_size}")
        if self.tensor_parallel_size < 1:
            raise SettingsError("tensor_parallel_size", f"must be >= 1, got {self.tensor_parallel_size}")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise SettingsError("gpu_memory_utilization", f"must be in (0, 1], got {self.gpu_memory_utilization}")

    def adapters(self) -> list[str]:
        a = self.adapter
        return [] if not a else [a] if isinstance(a, (str, Path)) else [str(x) for x in a]

    def with_adapters(self, adapters) -> "SamplerSettings":
        from dataclasses import replace
        return replace(self, adapter=list(adapters) if adapters else None)

    def make(self, progress: bool = False) -> Sampler:
        return make_sampler(self.model, self.backend, self.adapter, seed=self.seed, dtype=self.dtype,
                            batch_size=self.batch_size, load_in_4bit=self.load_in_4bit,
                            tensor_parallel_size=self.tensor_parallel_size,
                            gpu_memory_utilization=self.gpu_memory_utilization,
                            max_model_len=self.max_model_len, progress=progress)


class LazySampler:
    """A sampler factory: `factory()` builds the sampler on first use (a finished stage loads no model)
    and returns the same one after; `release()` frees it, so a trainer that follows in the same process
    gets the accelerator's memory. Library stages take any zero-argument callable returning a Sampler:
    tests pass a scripted fake."""

    def __init__(self, settings: SamplerSettings | Any, build: Any = None):
        self.settings = settings
        self._build = build or (lambda: settings.make(progress=False))
        self.sampler: Sampler | None = None

    def __call__(self) -> Sampler:
        if self.sampler is None:
            self.sampler = self._build()
        return self.sampler

    def release(self) -> None:
        s, self.sampler = self.sampler, None
        if s is None:
            return
        import gc

        llm = getattr(s, "llm", None)
        if llm is not None:
            # vLLM runs its engine core in a child process; shutting it down returns its GPU memory.
            core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
            try:
                if core is not None and hasattr(core, "shutdown"):
                    core.shutdown()
                from vllm.distributed.parallel_state import (destroy_distributed_environment,
                                                             destroy_model_parallel)
                destroy_model_parallel()
                destroy_distributed_environment()
            except Exception as exc:  # noqa: BLE001 - best effort; training reports an OOM clearly
                print(f"note: vLLM shutdown was incomplete ({type(exc).__name__}: {exc})")
        del s, llm
        gc.collect()
        try:
            import torch
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass


def sampler_factories(settings: SamplerSettings):
    """`adapters -> LazySampler` for the model of `settings` with those adapters loaded: what the round
    loops and recipes take, so a test passes its own (tests/fakes.py) instead."""
    def make(adapters=None) -> LazySampler:
        return LazySampler(settings.with_adapters(adapters))
    return make


# ---------------------------------------------------------------------------------------------------
# Resumable, shardable sampling into a JSONL file: the loop every sampling script shares.

def sample_id(task_id, j: int) -> str:
    return f"{task_id}/{j}"


def shard_path(path: Path, shard: tuple[int, int] | None) -> Path:
    """`samples.jsonl` -> `samples.shard<i>of<N>.jsonl` for shard (i, N)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.shard{shard[0]}of{shard[1]}{path.suffix}") if shard else path


def _sample_part(sampler, part, writer, done, stats, *, first, n, temperature, top_p, max_new_tokens, stop,
                 seed, logprobs, lora, extra) -> None:
    """Samples first, ..., first + n - 1 of each item of `part`, appended to `writer` (those not done)."""
    seeds = [derive_seed(seed, str(it["task_id"])) for it in part]
    kw = {"first": first} if first else {}  # samplers written before `first` existed still work from 0
    outs = sampler.generate([it["prompt"] for it in part], n=n, temperature=temperature, top_p=top_p,
                            max_new_tokens=max_new_tokens, stop=stop, seed=seeds, logprobs=logprobs, lora=lora,
                            **kw)
    for it, s, comps in zip(part, seeds, outs):
        for j, c in enumerate(comps, start=first):
            sid = sample_id(it["task_id"], j)
            if sid in done:
                continue
            rec = {"id": sid, "task_id": it["task_id"], "sample_idx": j, "prompt": it["prompt"],
                   "completion": c.text, "finish_reason": c.finish_reason,
                   "stop_reason": c.stop_reason, "n_tokens": c.n_tokens, "seed": s,
                   **{k: it[k] for k in extra if k in it}}
            if logprobs:
                rec["cumulative_logprob"] = c.cumulative_logprob
            writer.append(rec)
            done.add(sid)
            stats["new"] += 1
            stats["new_tokens"] += c.n_tokens


def sample_to_jsonl(path: Path, items: Sequence[dict], get_sampler, *, n: int, temperature: float,
                    top_p: float = 1.0, max_new_tokens: int = 512, stop: Sequence[str] | None = None,
                    seed: int = 0, logprobs: bool = False, lora: str | bool | None = None,
                    shard: tuple[int, int] | None = None, chunk_size: int | None = None,
                    extra: Sequence[str] = (), progress: bool = True) -> dict:
    """Sample n completions for each item ({task_id, prompt, ...}) into `path`, resuming what is there.

    Records are appended as each chunk of prompts finishes, so a run killed at any point resumes with
    only the missing samples. With `shard=(i, N)`, only items[i::N] are sampled, into the shard's own
    file; without it, shard files beside `path` are merged in first. Each prompt's seed derives from
    `seed` and its task_id, and sample j of it from (that seed, j), so samples do not depend on chunking,
    batching, sharding or n: a larger n on the same file draws only the samples it lacks, a smaller n
    returns the first n and keeps the rest on disk. `get_sampler` is
    called only if there is work left (a finished run loads no model). Fields named in `extra` are
    copied from the item into each sample. Returns the records in item order plus run statistics.
    """
    import time

    from tinyforge.io import JsonlWriter, iter_jsonl, write_jsonl

    if shard:
        items = list(items)[shard[0]::shard[1]]
    out = shard_path(path, shard)
    writer = JsonlWriter(out, required=("id", "task_id", "sample_idx"))
    done = {r["id"] for r in writer.records}
    if not shard:
        for f in sorted(out.parent.glob(f"{out.stem}.shard*of*{out.suffix}")):
            for rec in iter_jsonl(f, allow_torn_tail=True):
                if rec["id"] not in done:
                    writer.append(rec)
                    done.add(rec["id"])
    # A prompt's samples are drawn from index `first` (its first missing one) on: a run extended from
    # n=4 to n=8 draws samples 4-7 only (samples depend on (prompt seed, index), not on n).
    groups: dict[int, list[dict]] = {}
    for it in items:
        missing = [j for j in range(n) if sample_id(it["task_id"], j) not in done]
        if missing:
            groups.setdefault(missing[0], []).append(it)
    todo = [it for first in sorted(groups) for it in groups[first]]
    stats = {"resumed": len(done), "dropped_torn": writer.dropped_torn, "todo_prompts": len(todo),
             "new": 0, "new_tokens": 0, "sampler": None}
    t0 = time.time()
    if todo:
        sampler = get_sampler()
        stats["sampler"] = sampler.describe()
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(todo), desc="prompts", unit="prompt")
        for first in sorted(groups):
            m = n - first
            chunk = chunk_size or (512 if sampler.backend == "vllm" else max(1, getattr(sampler, "batch_size", 64) // m))
            for lo in range(0, len(groups[first]), chunk):
                part = groups[first][lo:lo + chunk]
                _sample_part(sampler, part, writer, done, stats, first=first, n=m, temperature=temperature,
                             top_p=top_p, max_new_tokens=max_new_tokens, stop=stop, seed=seed,
                             logprobs=logprobs, lora=lora, extra=extra)
                if bar:
                    bar.update(len(part))
        if bar:
            bar.close()
    writer.close()
    stats["wall_s"] = time.time() - t0
    # The finished file is put in item order (appends arrive in completion order).
    wanted = [sample_id(it["task_id"], j) for it in items for j in range(n)]
    keyed = {r["id"]: r for r in iter_jsonl(out)}
    records = [keyed[w] for w in wanted if w in keyed]
    stats["complete"] = len(records) == len(wanted)
    # Samples past n (a run made with a larger n, then asked for fewer) stay on disk, after the others.
    wanted_set = set(wanted)
    rest = [r for k, r in keyed.items() if k not in wanted_set]
    if stats["complete"] and list(keyed) != wanted + [r["id"] for r in rest]:
        write_jsonl(out, records + rest)
    stats["records"], stats["path"], stats["wanted"] = records, out, len(wanted)
    return stats
