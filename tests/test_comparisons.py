"""Comparisons between evaluated runs: deltas, the paired interval over tasks, verdict sentences, tables,
and the stale-adapter guard."""

from __future__ import annotations

from tinyforge import comparisons
from tinyforge.io import read_json, write_jsonl


def test_deltas_and_table():
    flat = {"before/humaneval/pass@1": 0.25, "after/humaneval/pass@1": 0.5, "before/humaneval/n_tasks": 4,
            "after/humaneval/n_tasks": 4, "before/humaneval_plus/plus/pass@1": 0.2,
            "after/humaneval_plus/plus/pass@1": 0.1}
    d = comparisons.deltas(flat)
    assert d == {"delta/humaneval/pass@1": 0.25, "delta/humaneval_plus/plus/pass@1": -0.1}
    table = comparisons.table({**flat, **d}, ["before", "after"], ["humaneval"])
    assert "25.0%" in table and "50.0%" in table and "+25.0pp" in table


def test_deltas_between_other_labels_name_both():
    flat = {"base_model/gsm8k/pass@1": 0.5, "tts8/gsm8k/pass@1": 0.75}
    assert comparisons.deltas(flat, "base_model", "tts8") == {"delta/tts8-base_model/gsm8k/pass@1": 0.25}
    assert comparisons.verdict({**flat, **comparisons.deltas(flat, "base_model", "tts8")}, "gsm8k",
                               "base_model", "tts8").startswith("no clear lift: gsm8k pass@1 50.0% -> 75.0%")


def _per_task(root, label, bench, values):
    d = root / label / bench
    d.mkdir(parents=True)
    write_jsonl(d / "per_task.jsonl", [{"task_id": f"T/{i}", "n": 1, "c": int(v), "pass@1": float(v)}
                                        for i, v in enumerate(values)])


def test_paired_delta_interval_is_over_task_differences(tmp_path):
    _per_task(tmp_path, "before", "humaneval", [0, 0, 1, 1, 0, 0, 0, 0])
    _per_task(tmp_path, "after", "humaneval", [1, 1, 1, 1, 1, 1, 1, 1])
    d = comparisons.paired_delta(tmp_path / "before" / "humaneval", tmp_path / "after" / "humaneval")
    assert d["n_tasks"] == 8
    assert 0 < d["pass@1_ci_low"] <= 0.75 <= d["pass@1_ci_high"] <= 1
    assert comparisons.paired_delta(tmp_path / "before" / "mbpp", tmp_path / "after" / "mbpp") == {}
    flat = {"before/humaneval/pass@1": 0.25, "after/humaneval/pass@1": 1.0}
    d = comparisons.deltas(flat, root=tmp_path)
    assert d["delta/humaneval/n_tasks"] == 8 and d["delta/humaneval/pass@1_ci_low"] > 0


def test_verdict_says_zero_and_negative_plainly(tmp_path):
    _per_task(tmp_path, "before", "humaneval", [1, 0, 0, 0, 0, 0, 0, 0])
    _per_task(tmp_path, "after", "humaneval", [1, 0, 0, 0, 0, 0, 0, 0])
    flat = {"before/humaneval/pass@1": 0.125, "after/humaneval/pass@1": 0.125}
    flat.update(comparisons.deltas(flat, root=tmp_path))
    assert comparisons.verdict(flat).startswith("no lift:") and "unchanged" in comparisons.verdict(flat)
    worse = {"before/humaneval/pass@1": 0.125, "after/humaneval/pass@1": 0.0,
             "delta/humaneval/pass@1_ci_low": -0.375, "delta/humaneval/pass@1_ci_high": 0.0, "delta/humaneval/n_tasks": 8}
    assert comparisons.verdict(worse).startswith("no lift:") and "-12.5 pp" in comparisons.verdict(worse)
    noisy = {"before/humaneval/pass@1": 0.0, "after/humaneval/pass@1": 0.125,
             "delta/humaneval/pass@1_ci_low": 0.0, "delta/humaneval/pass@1_ci_high": 0.375, "delta/humaneval/n_tasks": 8}
    assert comparisons.verdict(noisy).startswith("no clear lift:")
    real = {**noisy, "delta/humaneval/pass@1_ci_low": 0.05}
    assert comparisons.verdict(real).startswith("lift:")
    down = {**worse, "delta/humaneval/pass@1_ci_high": -0.05}
    assert comparisons.verdict(down).startswith("regression:")
    assert comparisons.verdict({}) is None


def test_forget_stale_removes_another_adapters_samples(tmp_path):
    d = tmp_path / "eval" / "after"
    assert comparisons.forget_stale(d, "r01/adapter") is False  # nothing there yet
    (d / "adapter.json").unlink()
    (d / "samples.jsonl").write_text("{}\n")
    assert comparisons.forget_stale(d, "r01/adapter") is True  # samples without a mark are not trusted
    (d / "samples.jsonl").write_text("{}\n")
    assert comparisons.forget_stale(d, "r01/adapter") is False and (d / "samples.jsonl").exists()
    assert comparisons.forget_stale(d, "r03/adapter") is True and not (d / "samples.jsonl").exists()
    assert read_json(d / "adapter.json") == {"adapter": "r03/adapter"}
