"""The one evaluation path (tinyforge.evaluation.evaluate) on a scripted fake sampler: the right verdicts
and figures when some answers are right, one key set on every benchmark, graded rows that keep the
sample's fields, and run dirs that refuse to mix settings."""

from __future__ import annotations

import json

import pytest

from tests.fakes import fake_factories
from tinyforge import benchmarks
from tinyforge.evaluation import EvalSettings, evaluate, evaluate_models, public
from tinyforge.io import SettingsError, TinyforgeError, read_jsonl


def _settings(**kw) -> EvalSettings:
    s = EvalSettings(**kw)
    s.check()
    return s


def _code_answers(bench: str, right: int, limit: int) -> dict:
    """The first `right` tasks answered with their reference solution, the others with `return None`."""
    out = {}
    for i, p in enumerate(benchmarks.load_benchmark(bench, limit=limit)):
        out[p["prompt"]] = [p["canonical_solution"] if i < right else "    return None\n"]
    return out


def test_humaneval_two_of_three_right(tmp_path):
    s = _settings(bench="humaneval", limit=3, n_samples=2, temperature=0.8)
    m = evaluate(s, fake_factories(_code_answers("humaneval", 2, 3))(None), tmp_path, lora=False, progress=False)
    m = public(m)
    assert m["pass@1"] == pytest.approx(2 / 3) and m["pass@2"] == pytest.approx(2 / 3)
    assert (m["n_tasks"], m["n_samples"], m["n_passed"]) == (3, 6, 4)
    assert json.loads((tmp_path / "metrics.json").read_text()) == m
    rows = read_jsonl(tmp_path / "results.jsonl")
    samples = read_jsonl(tmp_path / "samples.jsonl")
    # graded rows keep every field of their sample (DESIGN.md's graded sample)
    assert [{k: r[k] for k in samples[0]} for r in rows] == samples
    assert [r["passed"] for r in rows] == [True, True, True, True, False, False]
    assert [(t["n"], t["c"]) for t in read_jsonl(tmp_path / "per_task.jsonl")] == [(2, 2), (2, 2), (2, 0)]


def test_plus_benchmark_has_pass_at_1_and_both_verdicts(tmp_path):
    s = _settings(bench="humaneval_plus", limit=2)
    m = public(evaluate(s, fake_factories(_code_answers("humaneval_plus", 1, 2))(None), tmp_path, progress=False))
    assert m["pass@1"] == m["plus/pass@1"] == 0.5 and m["base/pass@1"] == 0.5
    assert all("base_passed" in r for r in read_jsonl(tmp_path / "results.jsonl"))


def test_gsm8k_answers_graded_by_number(tmp_path):
    probs = benchmarks.load_benchmark("gsm8k", limit=2)
    answers = {probs[0]["question"]: [f"So.\n#### {probs[0]['answer']}"], probs[1]["question"]: ["#### -1"]}
    m = public(evaluate(_settings(bench="gsm8k", limit=2), fake_factories(answers)(None), tmp_path, progress=False))
    assert m["pass@1"] == 0.5 and m["flexible/pass@1"] == 0.5


def test_settings_that_cannot_work_name_their_field():
    for kw, field in [({"n_samples": 0}, "n_samples"), ({"limit": 0}, "limit"), ({"temperature": -0.5}, "temperature"),
                      ({"max_new_tokens": 0}, "max_new_tokens"), ({"k": [4], "n_samples": 2}, "k"),
                      ({"bench": "humaneva"}, "bench"), ({"bench": "gsm8k", "format": "chat_continue"}, "format")]:
        with pytest.raises(SettingsError) as e:
            EvalSettings(**kw).check()
        assert e.value.field == field, kw


def test_an_eval_dir_refuses_other_settings_or_adapter(tmp_path):
    f = fake_factories(_code_answers("humaneval", 1, 2))
    evaluate(_settings(bench="humaneval", limit=2), f(None), tmp_path, lora=False, progress=False)
    with pytest.raises(TinyforgeError, match="limit 2 there, 1 now"):  # metrics would cover fewer tasks
        evaluate(_settings(bench="humaneval", limit=1), f(None), tmp_path, lora=False, progress=False)
    with pytest.raises(TinyforgeError, match="adapter None there, 'a' now"):
        evaluate(_settings(bench="humaneval", limit=2), f(["a"]), tmp_path, lora="a", progress=False)


def test_models_share_one_sampler_and_keys_do_not_collide(tmp_path):
    base = _code_answers("humaneval", 0, 2)
    tuned = _code_answers("humaneval", 2, 2)
    made = []
    sampler = fake_factories(base, adapter=tuned, made=made)(["ad/x"])
    flat = evaluate_models(_settings(bench="humaneval", limit=2), sampler, tmp_path, [None, "ad/x"], model="m",
                           progress=False)
    assert flat["base_model/pass@1"] == 0.0 and flat["x/pass@1"] == 1.0 and len(made) == 1
    assert json.loads((tmp_path / "metrics.json").read_text()) == flat
    assert [c["lora"] for c in made[0].calls] == [False, "ad/x"]
