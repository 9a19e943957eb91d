"""A scriptable sampler for tests of the stages above sampling (mining, recipes, evaluation, curricula).

    base = {"def triple_sum(": ["    return 0\n"]}               # prompt fragment -> completions
    tuned = {"def triple_sum(": ["    return 3 * (a + b + c)\n"]}
    samplers = fake_factories(base, adapter=tuned)                # adapters -> sampler factory
    recipes.bootstrap(..., samplers=samplers)

A prompt is answered by the answers of the fragment found last in it (an MBPP prompt shows exemplars
before its task), or, when `answers` is a function, by `answers(prompt_text)`; completion j of a prompt
(j counts from the call's `first`) is answers[j % len(answers)]. With an adapter active (the
call's `lora` is an adapter dir, or None on a sampler built with adapters) the `adapter` answers are
used where they have the fragment, so a test can make training change what the model says and check
the before / after delta's sign and label. Unknown prompts get `default`. Every call is recorded.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence, Union

from tinyforge import sampling

Answers = Union[Mapping[str, Sequence[str]], Callable[[str], Sequence[str] | None]]


class FakeSampler(sampling.Sampler):
    backend = "hf"
    batch_size = 64

    def __init__(self, answers: Answers, adapter: Answers | None = None, adapters: Sequence[str] = (),
                 default: str = "    pass\n", finish_reason: str = "stop"):
        self.answers, self.adapter_answers = answers, adapter or {}
        self.adapters, self.default, self.finish_reason = list(adapters), default, finish_reason
        self.calls: list[dict] = []

    def _lookup(self, table: Answers, text: str):
        if callable(table):
            return table(text)
        hits = [(text.rfind(k), v) for k, v in table.items() if k in text]
        return max(hits, key=lambda h: h[0])[1] if hits else None

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=256, stop=None, seed=0,
                 allowed_token_ids=None, logprobs=False, lora=None, first=0):
        tuned = bool(lora) if lora is not None else bool(self.adapters)
        if isinstance(lora, str) and lora not in self.adapters:
            raise AssertionError(f"adapter {lora} was not loaded by this sampler ({self.adapters})")
        self.calls.append({"n_prompts": len(prompts), "n": n, "lora": lora, "tuned": tuned,
                           "temperature": temperature, "max_new_tokens": max_new_tokens,
                           "first": first})
        out = []
        for prompt in prompts:
            text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
            got = (self._lookup(self.adapter_answers, text) if tuned else None) or self._lookup(self.answers, text)
            bodies = list(got) if got else [self.default]
            out.append([sampling.Completion(text=bodies[j % len(bodies)], token_ids=[1, 2],
                                            finish_reason=self.finish_reason) for j in range(first, first + n)])
        return out

    def describe(self) -> dict:
        return {"backend": "fake", "adapters": self.adapters}


def fake_factories(answers: Answers, adapter: Answers | None = None, made: list | None = None,
                   **kw) -> Callable[[Sequence[str] | None], sampling.LazySampler]:
    """`adapters -> LazySampler` of FakeSamplers, as sampling.sampler_factories gives for a real model;
    each sampler built is appended to `made`."""
    def make(adapters=None):
        def build():
            s = FakeSampler(answers, adapter, adapters or (), **kw)
            if made is not None:
                made.append(s)
            return s
        return sampling.LazySampler(None, build=build)
    return make
