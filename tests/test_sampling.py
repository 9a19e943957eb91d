"""The HF sampler: correctness against transformers' own generate, vLLM's stop semantics, seeds that do
not depend on the batch, allowed_token_ids, logprobs, adapters and chat prompts."""

from __future__ import annotations

import pytest
import torch

from tinyforge.io import TinyforgeError
from tinyforge.models import ModelError
from tinyforge.sampling import HFSampler, encode_prompt, find_stop

PROMPTS = ["def add(a, b):\n", "import os\nclass Parser:\n    def __init__(self", "x = [",
           "# compute the mean of a list\ndef mean(xs):\n    return"]


@pytest.fixture(scope="module")
def sampler(tiny_llama):
    return HFSampler(str(tiny_llama), batch_size=64)


def texts(outs):
    return [[c.text for c in o] for o in outs]


def test_greedy_matches_transformers_generate(sampler):
    """Batched, left-padded, cache-pruning decoding gives the tokens HF's generate gives one by one."""
    outs = sampler.generate(PROMPTS, n=1, temperature=0.0, max_new_tokens=12)
    model, tok = sampler.model, sampler.tokenizer
    for p, o in zip(PROMPTS, outs):
        ids = torch.tensor([tok(p)["input_ids"]])
        ref = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=12,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        assert o[0].token_ids == ref[0, ids.shape[1]:].tolist()


def test_n_samples_and_lengths(sampler):
    outs = sampler.generate(PROMPTS, n=3, temperature=1.0, max_new_tokens=10, seed=3)
    assert len(outs) == len(PROMPTS) and all(len(o) == 3 for o in outs)
    eos = sampler.eos_ids
    for o in outs:
        for c in o:
            ended = c.token_ids[-1] in eos
            assert c.finish_reason == ("stop" if ended else "length")
            assert 1 <= c.n_tokens <= 10 and (ended or c.n_tokens == 10)
    # n samples of a prompt are distinct draws, not copies
    assert any(len({c.text for c in o}) > 1 for o in outs)


def test_seed_independent_of_batch_size_and_batch_mates(tiny_llama, sampler):
    kw = dict(n=3, temperature=1.0, max_new_tokens=16, seed=11)
    big = sampler.generate(PROMPTS, **kw)
    one = HFSampler(str(tiny_llama), batch_size=1, model_obj=sampler.model,
                    tokenizer=sampler.tokenizer).generate(PROMPTS, **kw)
    assert texts(big) == texts(one)
    # a prompt's samples do not change with the other prompts of the call
    alone = sampler.generate(PROMPTS[2:3], **kw)
    assert texts(alone)[0] == texts(big)[2]
    other_seed = sampler.generate(PROMPTS, **{**kw, "seed": 12})
    assert texts(other_seed) != texts(big)


def test_explicit_per_prompt_seeds(sampler):
    a = sampler.generate(PROMPTS[:2], n=2, temperature=1.0, max_new_tokens=8, seed=[5, 6])
    b = sampler.generate(PROMPTS[1:2], n=2, temperature=1.0, max_new_tokens=8, seed=[6])
    assert texts(a)[1] == texts(b)[0]
    with pytest.raises(ValueError):
        sampler.generate(PROMPTS[:2], seed=[1])


def test_stop_string_cuts_text_like_vllm(sampler):
    kw = dict(n=1, temperature=1.0, max_new_tokens=40, seed=2)
    full = sampler.generate(PROMPTS[:1], **kw)[0][0]
    assert len(full.text) > 8
    stop = full.text[5:8]
    first = full.text.find(stop)
    cut = sampler.generate(PROMPTS[:1], stop=[stop, "\u2603never"], **kw)[0][0]
    assert cut.text == full.text[:first]
    assert cut.finish_reason == "stop" and cut.stop_reason == stop
    # the tokens up to the one that completed the stop string are kept, as vLLM keeps them
    assert cut.token_ids == full.token_ids[:cut.n_tokens]
    assert stop in sampler.tokenizer.decode(cut.token_ids)


def test_eos_and_length_finish_reasons(tiny_llama, sampler):
    """Rows that reach EOS end there ("stop", EOS kept as the last token id); the others run to the
    length limit, their tokens unchanged by batch-mates that stopped. The tiny random model never
    samples its EOS on its own, so the test makes an ordinary token that some samples contain (and
    others do not) an extra EOS id, as generation_config may list several (Llama 3's <|eot_id|>)."""
    import copy

    kw = dict(n=4, temperature=1.0, max_new_tokens=30, seed=0)
    free = [c.token_ids for o in sampler.generate(PROMPTS, **kw) for c in o]
    counts = {t: sum(t in row[1:] for row in free) for row in free for t in row[1:]}
    t_eos = max((t for t, k in counts.items() if k < len(free)), key=lambda t: (counts[t], -t))
    model = copy.deepcopy(sampler.model)
    model.generation_config.eos_token_id = [sampler.tokenizer.eos_token_id, t_eos]
    eos_sampler = HFSampler(str(tiny_llama), model_obj=model, tokenizer=sampler.tokenizer)
    assert eos_sampler.eos_ids == {sampler.tokenizer.eos_token_id, t_eos}
    got = [c for o in eos_sampler.generate(PROMPTS, **kw) for c in o]
    reasons = []
    for row, c in zip(free, got):
        if t_eos in row:
            assert c.token_ids == row[:row.index(t_eos) + 1] and c.stop_reason is None
        else:
            assert c.token_ids == row and c.n_tokens == 30
        assert c.text == sampler.tokenizer.decode(c.token_ids, skip_special_tokens=True)
        reasons.append(c.finish_reason)
    assert reasons == ["stop" if t_eos in row else "length" for row in free]
    assert "stop" in reasons and "length" in reasons
    # the tokenizer's own EOS (a special token) ends a row too, and leaves no text
    only_eos = sampler.generate(PROMPTS, n=2, temperature=1.0, max_new_tokens=5, seed=0,
                                allowed_token_ids=[sampler.tokenizer.eos_token_id])
    assert {(c.finish_reason, tuple(c.token_ids), c.text) for o in only_eos for c in o} == \
        {("stop", (sampler.tokenizer.eos_token_id,), "")}


def test_allowed_token_ids(sampler):
    allowed = sampler.tokenizer("0123456789 +-", add_special_tokens=False)["input_ids"]
    outs = sampler.generate(PROMPTS, n=2, temperature=1.5, max_new_tokens=20, seed=4,
                            allowed_token_ids=allowed)
    for o in outs:
        for c in o:
            assert set(c.token_ids) <= set(allowed)
            assert c.finish_reason == "length"  # EOS is not in the set, so only the length limit ends it
    greedy = sampler.generate(PROMPTS[:1], max_new_tokens=5, allowed_token_ids=allowed[:1])[0][0]
    assert greedy.token_ids == allowed[:1] * 5


def test_top_p_tiny_is_greedy(sampler):
    greedy = sampler.generate(PROMPTS, max_new_tokens=10)
    nucleus = sampler.generate(PROMPTS, temperature=1.0, top_p=1e-6, max_new_tokens=10, seed=9)
    assert texts(greedy) == texts(nucleus)


def test_cumulative_logprob_is_sum_of_raw_logprobs(sampler):
    c = sampler.generate(PROMPTS[:1], temperature=0.7, max_new_tokens=8, seed=1, logprobs=True)[0][0]
    prompt = sampler.tokenizer(PROMPTS[0])["input_ids"]
    ids = torch.tensor([prompt + c.token_ids])
    with torch.no_grad():
        lp = torch.log_softmax(sampler.model(ids).logits[0].float(), -1)
    want = sum(lp[len(prompt) - 1 + i, t].item() for i, t in enumerate(c.token_ids))
    assert c.cumulative_logprob == pytest.approx(want, abs=1e-3)
    assert sampler.generate(PROMPTS[:1], max_new_tokens=3)[0][0].cumulative_logprob is None


def test_adapter_changes_output_and_base_stays_reachable(tiny_llama, tiny_lora, sampler):
    lora = HFSampler(str(tiny_llama), adapter=str(tiny_lora))
    with_adapter = lora.generate(PROMPTS, max_new_tokens=12)
    base = lora.generate(PROMPTS, max_new_tokens=12, lora=False)
    assert texts(with_adapter) != texts(base)
    assert texts(base) == texts(sampler.generate(PROMPTS, max_new_tokens=12))
    with pytest.raises(TinyforgeError, match="not loaded"):
        lora.generate(PROMPTS, lora="/elsewhere")


def test_zero_adapter_is_refused(tiny_llama, zero_lora):
    with pytest.raises(ModelError, match="does not change the logits"):
        HFSampler(str(tiny_llama), adapter=str(zero_lora))


def test_chat_prompts_use_template_without_double_bos(tiny_llama_bos):
    from tinyforge.models import load_tokenizer

    tok = load_tokenizer(str(tiny_llama_bos))
    bos = tok.bos_token_id
    raw = encode_prompt(tok, "def f():")
    assert raw[0] == bos and raw.count(bos) == 1  # raw completion keeps the tokenizer's BOS
    msgs = [{"role": "user", "content": "hi"}]
    chat = encode_prompt(tok, msgs)
    assert tok.decode(chat).endswith("<|im_start|>assistant\n")
    assert chat.count(bos) == 0
    # a final assistant message is continued, not closed
    cont = encode_prompt(tok, msgs + [{"role": "assistant", "content": "def f():"}])
    assert tok.decode(cont).endswith("def f():")


def test_chat_generation_decodes_the_templated_prompt(sampler):
    msgs = [{"role": "user", "content": "Write add."}]
    tok = sampler.tokenizer
    ids = encode_prompt(tok, msgs)
    assert tok.decode(ids) == "<|im_start|>user\nWrite add.<|im_end|>\n<|im_start|>assistant\n"
    out = sampler.generate([msgs], n=2, max_new_tokens=6)[0]
    x = torch.tensor([ids])
    ref = sampler.model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=6,
                                 pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id)[0, len(ids):].tolist()
    assert [c.token_ids for c in out] == [ref, ref]
    sampled = sampler.generate([msgs], n=2, temperature=1.0, max_new_tokens=6, seed=1)[0]
    assert sampled[0].token_ids != sampled[1].token_ids  # n samples are draws, not copies


def test_bad_arguments(sampler):
    for kw in ({"n": 0}, {"temperature": -1}, {"top_p": 0}, {"max_new_tokens": 0}):
        with pytest.raises(TinyforgeError):
            sampler.generate(PROMPTS[:1], **kw)
    with pytest.raises(TinyforgeError):
        sampler.generate([{"not": "a prompt"}])
    with pytest.raises(TinyforgeError, match="no tokens"):
        sampler.generate([""])


def test_find_stop_earliest():
    assert find_stop("abc\nclass X\ndef y", ["\ndef", "\nclass"]) == (3, "\nclass")
    assert find_stop("abc", ["x"]) is None
