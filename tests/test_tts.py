"""tinyforge.tts: the test-time sampling math on literal pools, and the sampler's (task, index) seeds
that let a run grow its pool (issue 10)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from tinyforge import metrics, sampling, tts


def brute_maj(labels, k, correct=0):
    """maj@k by hand: every k-subset, the tie rule of tinyforge.tts (1/t for t tied top answers)."""
    total, count = Fraction(0), 0
    for sub in itertools.combinations(labels, k):
        votes = {}
        for a in sub:
            if a is not None:
                votes[a] = votes.get(a, 0) + 1
        count += 1
        if not votes:
            continue
        top = max(votes.values())
        winners = [a for a, v in votes.items() if v == top]
        if correct in winners:
            total += Fraction(1, len(winners))
    return total / count


@pytest.mark.parametrize("labels", [
    [0, 1, 1, None],
    [0, 0, 1, 2, 1, None, 0, 3],
    [1, 1, 1, 0, 0, None, None, 2, 0],
    [None, None, 0, 1],
    [2, 1, 0, 1, 2, 0, 0, 1, 2, 3, 3, 0],
])
def test_maj_at_k_exact_equals_brute_force(labels):
    for k in range(1, len(labels) + 1):
        got, exact = tts.maj_at_k(labels, k)
        assert exact
        assert got == pytest.approx(float(brute_maj(labels, k)), abs=1e-12), k


def test_maj_at_k_ties_split_and_no_votes_score_zero():
    # one right and one wrong answer: a tie, half a point, whatever the order
    assert tts.maj_at_k([0, 1], 2)[0] == 0.5 == tts.maj_at_k([1, 0], 2)[0]
    assert tts.maj_at_k([None, None], 2)[0] == 0.0
    assert tts.maj_at_k([None, 0], 2)[0] == 1.0          # a no-answer sample does not vote
    assert tts.maj_at_k([1, 1, 2], 3, correct=None)[0] == 0.0


def test_maj_at_k_draws_estimate_the_exact_value_and_say_so():
    labels = [0] * 7 + [1] * 6 + [2] * 4 + [None] * 3      # n = 20; C(20, 10) = 184,756 subsets
    exact, e1 = tts.maj_at_k(labels, 10, exact_limit=10 ** 6)
    est, e2 = tts.maj_at_k(labels, 10, exact_limit=1000, draws=4000, seed=3)
    assert e1 and not e2
    assert est == pytest.approx(exact, abs=0.03)
    assert est == tts.maj_at_k(labels, 10, exact_limit=1000, draws=4000, seed=3)[0]  # seeded


def test_k_larger_than_n_is_an_error_naming_both():
    with pytest.raises(ValueError, match="k=9 is larger than n=8"):
        tts.maj_at_k([0] * 8, 9)
    rows = [{"id": f"a/{j}", "task_id": "a", "sample_idx": j, "passed": j == 0} for j in range(8)]
    with pytest.raises(ValueError, match="k=16 is larger than n=8"):
        tts.sweep(rows, n=8, ks=[1, 16])
    with pytest.raises(ValueError, match="has 8 samples, the sweep needs n=16"):
        tts.sweep(rows, n=16)


def _rows(task, answers, right):
    return [{"id": f"{task}/{j}", "task_id": task, "sample_idx": j, "extracted": a, "passed": j in right,
             "n_tokens": 10 + j} for j, a in enumerate(answers)]


def test_answer_classes_use_the_graders_equivalence():
    # reference 2 (sample 2 passed); \frac12, 0.5 and 50\% are one wrong answer; a tuple is not a set
    rows = _rows("t", ["0.5", "\\frac12", "2", None, "(1,3)", "\\{1,3\\}", "50\\%"], right={2})
    labels = tts.answer_classes(rows, "math", workers=0)
    assert labels["t/2"] == 0 and labels["t/3"] is None
    assert labels["t/0"] == labels["t/1"] == labels["t/6"] != 0
    assert len({labels["t/0"], labels["t/4"], labels["t/5"]}) == 3
    # three samples: two say one half in two spellings, one is right. String votes would tie three
    # ways (1/3); the grader's vote is one half, wrong.
    three = _rows("u", ["0.5", "\\frac{1}{2}", "2"], right={2})
    assert tts.sweep(three, n=3, labels=tts.answer_classes(three, "math", workers=0))["maj@3"] == 0.0
    gsm = _rows("g", ["3", "3.0", "4"], right={2})
    lab = tts.answer_classes(gsm, "gsm8k")
    assert lab["g/0"] == lab["g/1"] != lab["g/2"] == 0
    aime = _rows("a", ["025", "25", "\\frac{50}{2}", "7"], right={3})
    lab = tts.answer_classes(aime, "aime")
    assert lab["a/0"] == lab["a/1"] and len({lab["a/0"], lab["a/2"], lab["a/3"]}) == 3


def test_sweep_on_a_literal_pool():
    rows = (_rows("A", ["1", "2", "2", "9"], right={0}) + _rows("B", ["5", "5", "5", "6"], right={0, 1, 2})
            + _rows("C", [None, "4", "3", "8"], right=set()))
    labels = tts.answer_classes(rows, "math", workers=0)
    per_task = []
    m = tts.sweep(rows, n=4, labels=labels, per_task=per_task)
    for k in range(1, 5):
        want = (metrics.pass_at_k(4, 1, k) + metrics.pass_at_k(4, 3, k) + 0.0) / 3
        assert m[f"pass@{k}"] == pytest.approx(want, abs=1e-6)
        assert m[f"pass@{k}_ci_low"] <= m[f"pass@{k}"] <= m[f"pass@{k}_ci_high"]
    assert m["maj@1"] == pytest.approx(m["pass@1"], abs=1e-6)      # one sample: its own vote
    # A: 1 right vs 2 x "2" -> maj@4 = 0; B: 3 of 4 right -> 1; C: nothing right -> 0
    assert m["maj@4"] == pytest.approx(1 / 3, abs=1e-6)
    assert m["oracle"] == pytest.approx(2 / 3, abs=1e-6) and m["oracle"] == m["pass@4"]
    assert m["n_oracle"] == 2 and m["n_tasks"] == 3 and m["n"] == 4
    assert m["maj_estimate"] == "exact" and m["maj_draws"] == 0
    assert m["mean_tokens"] == pytest.approx(11.5)
    assert [t["c"] for t in per_task] == [1, 3, 0]
    # the first n of a larger pool
    assert tts.sweep(rows, n=2)["pass@2"] == pytest.approx((1 + 1 + 0) / 3, abs=1e-6)  # A: samples 0-1 hold its right one


def test_table_and_plot(tmp_path):
    rows = _rows("A", ["1", "2", "1", "3"], right={0, 2}) + _rows("B", ["7", "8", "8", "8"], right={0})
    m = tts.sweep(rows, n=4, labels=tts.answer_classes(rows, "math", workers=0))
    md = tts.table(m)
    assert md.count("\n| ") == 4 and "| 1 | 37.5%" in md and "oracle best-of-4: 100.0%" in md
    assert "maj@k: exact" in md
    png = tts.plot(m, tmp_path / "c.png", title="t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_headline_names_the_oracle_count():
    rows = _rows("A", ["1", "2"], right={1}) + _rows("B", ["3", "4"], right=set())
    m = tts.sweep(rows, n=2, labels=tts.answer_classes(rows, "math", workers=0))
    line = tts.headline("math500 m", m)
    assert line.startswith("math500 m: pass@1 25.0%") and "maj@2" in line and "= 1/2 tasks" in line


# ---------------------------------------------------------------------------------------------------
# Seeds of (task, sample index): a pool grows


def test_raising_n_draws_only_the_new_samples(tmp_path):
    from tests.fakes import FakeSampler

    fake = FakeSampler({"q": ["a", "b", "c", "d", "e", "f", "g", "h"]})
    items = [{"task_id": "t1", "prompt": "q1"}, {"task_id": "t2", "prompt": "q2"}]
    path = tmp_path / "samples.jsonl"
    first = sampling.sample_to_jsonl(path, items, lambda: fake, n=4, temperature=0.8, progress=False)
    assert [c["n"] for c in fake.calls] == [4] and first["new"] == 8
    again = sampling.sample_to_jsonl(path, items, lambda: fake, n=8, temperature=0.8, progress=False)
    assert again["new"] == 8 and fake.calls[-1]["n"] == 4 and fake.calls[-1]["first"] == 4
    assert again["records"][:4] == first["records"][:4]
    assert [r["completion"] for r in again["records"][:8]] == list("abcdefgh")
    # fewer: the first n are read, nothing is drawn, and the other samples stay on disk
    fewer = sampling.sample_to_jsonl(path, items, lambda: fake, n=2, temperature=0.8, progress=False)
    assert fewer["new"] == 0 and len(fewer["records"]) == 4 and len(path.read_text().splitlines()) == 16


def test_hf_samples_depend_on_the_index_not_on_n(tiny_llama):
    s = sampling.make_sampler(str(tiny_llama), backend="hf", dtype="float32")
    kw = dict(temperature=1.0, max_new_tokens=6, seed=[123])
    eight = s.generate(["def f(x):"], n=8, **kw)[0]
    four = s.generate(["def f(x):"], n=4, **kw)[0]
    rest = s.generate(["def f(x):"], n=4, first=4, **kw)[0]
    assert [c.token_ids for c in four + rest] == [c.token_ids for c in eight]
    assert len({tuple(c.token_ids) for c in eight}) > 1


def test_vllm_request_seed_follows_the_engines_child_seeds():
    # vLLM gives child i of a request the seed `seed + i`: samples 4.. of a prompt are asked for with +4
    s = 1234
    assert [sampling.vllm_request_seed(s, 4) + i for i in range(4)] == \
           [sampling.vllm_request_seed(s, 0) + i for i in range(4, 8)]
    assert sampling.vllm_sampling_kwargs(n=4, temperature=0.7, top_p=1.0, max_new_tokens=8, stop=None,
                                         seed=sampling.vllm_request_seed(s, 4), allowed_token_ids=None,
                                         logprobs=False)["seed"] == s + 4
    assert math.comb(16, 8) <= tts.EXACT_SUBSETS  # n <= 16 pools are exact at every k


def test_every_evaluations_maj_at_k_is_the_subset_vote_over_the_graders_classes():
    from tinyforge import evaluation

    rows = _rows("t", ["0.5", "\\frac12", "2"], right={2})
    samples = [{k: r[k] for k in ("id", "task_id", "sample_idx", "n_tokens")} for r in rows]
    labels = evaluation.vote_labels(rows, "math", workers=0)
    m = evaluation.summarize(samples, rows, kind="math", n=3, ks=[1, 2], labels=labels)
    # subsets of 2: {0.5, 1/2} one wrong vote -> 0; {0.5, 2} and {1/2, 2} ties -> 1/2 each. The first two
    # samples' string vote would say 0.
    assert m["maj@2"] == pytest.approx(1 / 3, abs=1e-6) and m["maj@3"] == 0.0
    assert m["maj_estimate"] == "exact"
    rows_pt = evaluation.per_task(samples, rows, kind="math", n=3, ks=[1, 2], labels=labels)
    assert rows_pt[0]["maj@2"] == pytest.approx(1 / 3)
