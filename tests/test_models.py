"""Model resolution and loading, pad tokens, new tokens, adapters (check and merge), 4-bit and size errors."""

from __future__ import annotations

import json
import shutil
import socket
import time

import pytest
import torch

from tinyforge import models
from tinyforge.models import ModelError


def test_resolve_errors_name_what_was_tried(tmp_path, tiny_lora):
    with pytest.raises(ModelError, match="unknown model 'qwen-7b'.*smollm2-135m.*org/name"):
        models.resolve_model("qwen-7b")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        models.resolve_model(str(tmp_path / "empty"))
    with pytest.raises(ModelError, match="is a PEFT adapter.*--adapter"):
        models.resolve_model(str(tiny_lora))
    assert models.resolve_model("Qwen/Qwen2.5-7B") == "Qwen/Qwen2.5-7B"  # a name check, no network


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The hub as the test says it is: an empty private HF cache, HF_HUB_OFFLINE off, no proxy, and a
    fake connect whose outcome the test sets (`hub.up`) and whose calls it counts."""
    class Hub:
        up = False
        calls: list = []

    def connect(host, port, timeout):
        Hub.calls.append((host, port))
        if not Hub.up:
            raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "https://huggingface.co")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    for v in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(models, "_connect", connect)
    monkeypatch.setattr(models, "_HUB_PROBES", {})
    Hub.calls = []
    return Hub


def _fake_hub_cache(src, cache, repo_id: str) -> None:
    """Lay out `src` as huggingface_hub's cache does after a download of `repo_id` (main revision)."""
    sha = "0" * 40
    root = cache / f"models--{repo_id.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(sha)
    shutil.copytree(src, root / "snapshots" / sha)


def test_hub_id_offline_is_one_line(monkeypatch, hub):
    # the hub library reads HF_HUB_OFFLINE once at import; patch the constant so no request is tried
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    t0 = time.time()
    for load in (models.load_tokenizer, models.load_config, models.load_model):
        with pytest.raises(ModelError) as err:
            load("tinyforge-test/does-not-exist")
        assert str(err.value) == ("--model tinyforge-test/does-not-exist: not in the local cache and the "
                                  "hub cannot be reached (offline: HF_HUB_OFFLINE is set)")
    assert hub.calls == [] and time.time() - t0 < 5  # decided without a probe, let alone retries


def test_unreachable_hub_fails_fast_with_one_probe(hub):
    t0 = time.time()
    for load in (models.load_config, models.load_tokenizer, models.load_model):
        with pytest.raises(ModelError, match=r"^--model org/name: not in the local cache and the hub "
                                             r"cannot be reached \(offline: no connection to "
                                             r"huggingface.co:443 within 3 s: gaierror\)$"):
            load("org/name")
    assert hub.calls == [("huggingface.co", 443)]  # once per process, not once per load
    assert time.time() - t0 < 5
    with pytest.raises(ModelError, match="not in the local cache"):
        models.validate_model_name("org/name")


def test_unreachable_hub_loads_a_cached_model_from_the_cache(hub, tiny_llama, tmp_path):
    _fake_hub_cache(tiny_llama, tmp_path / "hf", "tinyforge-test/cached")
    assert models.hub_access("tinyforge-test/cached") == {"local_files_only": True}
    assert models.validate_model_name("tinyforge-test/cached") == "hub-cached"
    m = models.load_model("tinyforge-test/cached", dtype="float32")
    tok = models.load_tokenizer("tinyforge-test/cached")
    ref = models.load_model(str(tiny_llama), dtype="float32")
    ids = torch.tensor([tok("hello world")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(m(ids).logits, ref(ids).logits)


def test_reachable_hub_downloads_as_before(hub):
    hub.up = True
    assert models.hub_access("org/name") == {}  # transformers downloads as usual
    assert models.validate_model_name("org/name") == "hub" and len(hub.calls) == 1


def test_probe_goes_through_the_proxy_unless_bypassed(monkeypatch):
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert models._probe_target("https://huggingface.co") == ("proxy.internal", 3128)
    monkeypatch.setenv("no_proxy", "huggingface.co")
    assert models._probe_target("https://huggingface.co") == ("huggingface.co", 443)
    assert models._probe_target("http://mirror.local:8080") == ("mirror.local", 8080)


def test_validate_model_name_loads_nothing(hub, tiny_llama, tiny_lora, monkeypatch):
    import transformers

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        lambda *a, **k: pytest.fail("validation must not load weights"))
    assert models.validate_model_name(str(tiny_llama)) == "local"
    assert models.validate_model_name("smollm2-135m") == "alias"
    assert models.validate_model_name("org/name", check_hub=False) == "hub" and hub.calls == []
    with pytest.raises(ModelError, match="is a PEFT adapter"):
        models.validate_model_name(str(tiny_lora))
    with pytest.raises(ModelError, match="unknown model"):
        models.validate_model_name("no-slash")


def test_validate_alias_names_the_missing_package(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYFORGE_CACHE", str(tmp_path))  # not converted yet: the package is needed
    monkeypatch.setitem(models.EMBEDDED, "smollm2-135m", ("tinyforge-no-such-dist", "x.gguf", "?"))
    with pytest.raises(ModelError, match="needs the package tinyforge-no-such-dist"):
        models.validate_model_name("smollm2-135m")


def test_check_adapter_dir(tiny_lora, tmp_path):
    assert models.check_adapter_dir(str(tiny_lora)) == tiny_lora
    (tmp_path / "plain").mkdir()
    (tmp_path / "file").write_text("x")
    for path, what in (("missing", "does not exist"), ("plain", "has no adapter_config.json"),
                       ("file", "is not a directory")):
        with pytest.raises(ModelError, match=f"adapter .*{path} {what}"):
            models.check_adapter_dir(tmp_path / path)


def test_load_dtype_and_device(tiny_qwen2, monkeypatch):
    monkeypatch.setenv("TINYFORGE_CPU_BF16", "0")  # a CPU without native bf16: auto is fp32
    m = models.load_model(str(tiny_qwen2))
    assert m.dtype == torch.float32 and m.device.type == "cpu" and not m.training
    monkeypatch.setenv("TINYFORGE_CPU_BF16", "1")  # native bf16 (AVX512-BF16 / AMX): auto is bf16
    assert models.load_model(str(tiny_qwen2)).dtype == torch.bfloat16
    monkeypatch.setenv("TINYFORGE_CPU_BF16", "0")
    assert models.load_model(str(tiny_qwen2), dtype="bfloat16").dtype == torch.bfloat16
    assert models.pick_dtype("auto", "cuda:0") == torch.bfloat16
    with pytest.raises(ModelError, match="--dtype"):
        models.pick_dtype("int3")


def test_training_pad_token_differs_from_eos(tiny_llama):
    tok = models.load_tokenizer(str(tiny_llama), for_training=True)
    assert tok.pad_token != tok.eos_token
    # a tokenizer whose pad is EOS (as SmolLM2's and base Qwen's are) gets an existing unused token
    tok.pad_token = tok.eos_token
    assert models.ensure_distinct_pad(tok) is False
    assert tok.pad_token == "<|endoftext|>" != tok.eos_token


def test_add_tokens_are_regular_and_resized(tiny_llama):
    m = models.load_model(str(tiny_llama), dtype="float32")  # the mean compared at fp32 precision
    tok = models.load_tokenizer(str(tiny_llama))
    old = m.get_input_embeddings().weight.detach().clone()
    ids = models.add_tokens(m, tok, ["<mul_7x8>", "<mul_9x9>"])
    emb = m.get_input_embeddings().weight
    assert ids == [old.shape[0], old.shape[0] + 1] and emb.shape[0] == old.shape[0] + 2
    assert torch.allclose(emb[ids[0]], old.mean(0), atol=1e-2)
    text = "3 <mul_7x8> 56"
    enc = tok(text, add_special_tokens=False)["input_ids"]
    assert ids[0] in enc
    # regular tokens survive decoding with special tokens skipped (special ones would vanish)
    assert "<mul_7x8>" in tok.decode(enc, skip_special_tokens=True)


def test_merge_adapter_matches_attached_adapter(tiny_llama, tiny_lora, tmp_path):
    # fp32 whatever `auto` is on this CPU: 1e-4 is a merge-correctness bound, not a bf16 one
    out = models.merge_adapter(str(tiny_llama), tiny_lora, tmp_path / "merged", dtype="float32")
    merged = models.load_model(str(out), dtype="float32")
    peft_model = models.attach_adapter(models.load_model(str(tiny_llama), dtype="float32"), tiny_lora)
    ids = torch.tensor([[1, 5, 9, 30, 2]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, peft_model(ids).logits, atol=1e-4)
    assert (out / "tokenizer_config.json").exists()


def test_adapter_errors(tiny_llama, zero_lora, tmp_path):
    base = models.load_model(str(tiny_llama))
    with pytest.raises(ModelError, match="does not change the logits"):
        models.attach_adapter(base, zero_lora)
    with pytest.raises(ModelError, match="does not exist"):
        models.attach_adapter(base, tmp_path / "missing")
    assert models.adapter_base_name(zero_lora) == str(tiny_llama)


def test_4bit_needs_cuda(tiny_llama):
    if torch.cuda.is_available():
        pytest.skip("this check is for CPU machines")
    with pytest.raises(ModelError, match="--load-in-4bit needs a CUDA GPU"):
        models.load_model(str(tiny_llama), load_in_4bit=True)


def test_too_large_model_names_the_flag(tmp_path):
    from transformers import LlamaConfig

    big = LlamaConfig(vocab_size=150_000, hidden_size=16384, intermediate_size=53248,
                      num_hidden_layers=126, num_attention_heads=128, num_key_value_heads=8)
    big.save_pretrained(tmp_path)  # a config alone: the check must refuse before any weight is read
    with pytest.raises(ModelError, match=r"B parameters.*GiB free: use --dtype bfloat16"):
        models.load_model(str(tmp_path))
    assert json.loads((tmp_path / "config.json").read_text())["hidden_size"] == 16384
