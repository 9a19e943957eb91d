"""The vLLM backend cannot run here (no GPU, no wheel), so its translation of our arguments into vLLM's is
checked against a stand-in `vllm` module that accepts exactly what vllm==0.33.0 (requirements.txt)
documents and rejects anything else.

The field lists below were read from the vllm 0.33.0 wheel: `vllm/sampling_params.py` (SamplingParams
fields), `vllm/entrypoints/llm.py` (LLM.__init__ keywords) plus the EngineArgs fields it forwards
(`vllm/engine/arg_utils.py`), `vllm/lora/request.py` (LoRARequest), `vllm/config/lora.py`
(MaxLoRARanks) and `vllm/outputs.py` (CompletionOutput).
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from dataclasses import dataclass

import pytest

from tinyforge import sampling
from tinyforge.io import TinyforgeError

SAMPLING_FIELDS = {
    "n", "presence_penalty", "frequency_penalty", "repetition_penalty", "temperature", "top_p", "top_k",
    "min_p", "seed", "stop", "stop_token_ids", "ignore_eos", "max_tokens", "min_tokens", "logprobs",
    "prompt_logprobs", "detokenize", "skip_special_tokens", "spaces_between_special_tokens",
    "include_stop_str_in_output", "logit_bias", "allowed_token_ids", "bad_words", "extra_args",
    "structured_outputs", "output_kind"}
LLM_KWARGS = {
    "model", "tokenizer", "tokenizer_mode", "trust_remote_code", "tensor_parallel_size", "dtype",
    "quantization", "revision", "seed", "gpu_memory_utilization", "enforce_eager", "chat_template",
    # EngineArgs fields passed through **kwargs
    "enable_lora", "max_loras", "max_lora_rank", "max_cpu_loras", "enable_prefix_caching", "max_model_len"}
MAX_LORA_RANKS = {1, 8, 16, 32, 64, 128, 256, 320, 512}


class FakeSamplingParams:
    def __init__(self, **kw):
        unknown = set(kw) - SAMPLING_FIELDS
        assert not unknown, f"SamplingParams has no field {unknown}"
        assert isinstance(kw.get("max_tokens"), int) and kw["max_tokens"] >= 1
        if kw.get("logprobs") is not None:
            assert isinstance(kw["logprobs"], int) and kw["logprobs"] >= 0
        if "stop" in kw:
            assert isinstance(kw["stop"], list) and all(isinstance(s, str) for s in kw["stop"])
        self.kw = kw


@dataclass
class FakeLoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str = ""

    def __post_init__(self):
        assert self.lora_int_id >= 1 and self.lora_path


@dataclass
class FakeCompletion:
    index: int
    text: str
    token_ids: list
    cumulative_logprob: float | None
    logprobs: object = None
    finish_reason: str | None = None
    stop_reason: object = None


class FakeLLM:
    last = None

    def __init__(self, **kw):
        unknown = set(kw) - LLM_KWARGS
        assert not unknown, f"LLM() has no keyword {unknown}"
        if kw.get("enable_lora"):
            assert kw["max_lora_rank"] in MAX_LORA_RANKS
        self.kw, self.calls = kw, []
        FakeLLM.last = self

    def generate(self, prompts, sampling_params=None, *, use_tqdm=True, lora_request=None, **kw):
        assert len(prompts) == len(sampling_params)
        self.calls.append((prompts, sampling_params, lora_request))
        outs = []
        for p, sp in zip(prompts, sampling_params):
            assert set(p) == {"prompt_token_ids"}
            n = sp.kw["n"]
            # return the n outputs out of order, as a scheduler may
            comps = [FakeCompletion(i, f"s{i}", [7, i], -1.5 * i, finish_reason="stop",
                                    stop_reason="\ndef" if i else None) for i in reversed(range(n))]
            outs.append(types.SimpleNamespace(outputs=comps))
        return outs


@pytest.fixture
def fake_vllm(monkeypatch):
    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = FakeLLM, FakeSamplingParams
    lora = types.ModuleType("vllm.lora")
    req = types.ModuleType("vllm.lora.request")
    req.LoRARequest = FakeLoRARequest
    for name, mod in {"vllm": vllm, "vllm.lora": lora, "vllm.lora.request": req}.items():
        mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
        monkeypatch.setitem(sys.modules, name, mod)
    return vllm


def test_sampling_kwargs_translation():
    kw = sampling.vllm_sampling_kwargs(n=4, temperature=0.7, top_p=0.95, max_new_tokens=512,
                                       stop=["\nclass "], seed=13, allowed_token_ids=[5, 3, 5],
                                       logprobs=True)
    FakeSamplingParams(**kw)
    assert kw["n"] == 4 and kw["max_tokens"] == 512 and kw["seed"] == 13 and kw["stop"] == ["\nclass "]
    assert kw["allowed_token_ids"] == [3, 5] and kw["logprobs"] == 0
    assert kw["include_stop_str_in_output"] is False and kw["skip_special_tokens"] is True
    plain = sampling.vllm_sampling_kwargs(n=1, temperature=0.0, top_p=1.0, max_new_tokens=8, stop=None,
                                          seed=0, allowed_token_ids=None, logprobs=False)
    assert "stop" not in plain and "logprobs" not in plain and "allowed_token_ids" not in plain


def test_engine_kwargs_lora_rank_rounds_up(tiny_llama, tmp_path):
    from tests.tiny import make_lora

    a12 = make_lora(tiny_llama, tmp_path / "r12", r=12)
    kw = sampling.vllm_engine_kwargs("m", adapters=[str(a12)], tensor_parallel_size=2, max_model_len=4096,
                                     load_in_4bit=True)
    FakeLLM(**kw)
    assert kw["enable_lora"] and kw["max_lora_rank"] == 16 and kw["max_loras"] == 1
    assert kw["tensor_parallel_size"] == 2 and kw["max_model_len"] == 4096
    assert kw["quantization"] == "bitsandbytes" and kw["enable_prefix_caching"] is True
    assert "enable_lora" not in sampling.vllm_engine_kwargs("m")


def test_vllm_sampler_end_to_end_translation(fake_vllm, tiny_llama, tiny_lora):
    s = sampling.make_sampler(str(tiny_llama), backend="vllm", adapter=str(tiny_lora), seed=3,
                              tensor_parallel_size=1)
    llm = FakeLLM.last
    assert llm.kw["model"] == str(tiny_llama) and llm.kw["enable_lora"] and llm.kw["seed"] == 3
    prompts = ["def f(x):", [{"role": "user", "content": "hi"}]]
    outs = s.generate(prompts, n=3, temperature=0.8, max_new_tokens=32, stop=["\ndef"], seed=[11, 12])
    sent, params, lora = llm.calls[-1]
    # the same token ids the HF backend would feed (chat template applied once, no double BOS)
    assert [p["prompt_token_ids"] for p in sent] == [sampling.encode_prompt(s.tokenizer, p) for p in prompts]
    assert [sp.kw["seed"] for sp in params] == [11, 12]
    assert all(sp.kw["n"] == 3 and sp.kw["max_tokens"] == 32 for sp in params)
    assert lora.lora_path == str(tiny_lora) and lora.lora_int_id == 1
    # outputs come back in sample order with vLLM's finish/stop reasons
    assert [c.text for c in outs[0]] == ["s0", "s1", "s2"]
    assert outs[0][1].stop_reason == "\ndef" and outs[0][0].stop_reason is None
    assert outs[0][2].cumulative_logprob == -3.0 and outs[0][2].token_ids == [7, 2]
    # base model: no LoRARequest
    s.generate(prompts[:1], lora=False)
    assert llm.calls[-1][2] is None
    # an int seed derives the same per-prompt seeds as the HF backend
    s.generate(prompts[:1], seed=5)
    assert llm.calls[-1][1][0].kw["seed"] == sampling.per_prompt_seeds(prompts[:1], 5)[0]
    # samples 4..7 alone: vLLM seeds child i of a request with seed + i, so the request seed is seed + 4
    s.generate(prompts, n=4, first=4, seed=[11, 12])
    assert [sp.kw["seed"] for sp in llm.calls[-1][1]] == [15, 16] and llm.calls[-1][1][0].kw["n"] == 4


def test_vllm_missing_is_a_clear_error(monkeypatch, tiny_llama):
    monkeypatch.setattr(sampling.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TinyforgeError, match="vllm is not installed"):
        sampling.make_sampler(str(tiny_llama), backend="vllm")
    assert sampling.vllm_available() is False
