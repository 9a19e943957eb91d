"""tts/ and the experiments built on its pools, end to end on a tiny random model (issue 10): the files and
metrics.json keys they write, a pool that grows with --n, reuse of another run's pool, and bad input."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_script
from tinyforge.io import TinyforgeError, read_jsonl

TINY = ["--backend", "hf", "--dtype", "float32", "--max-new-tokens", "8", "--limit", "2"]


def test_tts_humaneval_sweeps_and_grows_its_pool(tiny_llama, tmp_path):
    out = tmp_path / "he"
    m = run_script("tts/tts_humaneval.py", ["--model", str(tiny_llama), "--n", "2", *TINY, "--out-dir", str(out)])
    for key in ("pass@1", "pass@2", "pass@2_ci_low", "pass@2_ci_high", "oracle", "n_oracle", "mean_tokens", "n"):
        assert key in m, key
    assert m["n"] == 2 and m["n_tasks"] == 2 and "maj@2" not in m  # code: no vote
    for f in ("samples.jsonl", "results.jsonl", "per_task.jsonl", "table.md", "curve.png", "metrics.json", "eval.json"):
        assert (out / f).exists(), f
    assert json.loads((out / "metrics.json").read_text())["oracle"] == m["oracle"]
    assert {"pass@1", "pass@2", "oracle", "c"} <= set(read_jsonl(out / "per_task.jsonl")[0])
    before = read_jsonl(out / "samples.jsonl")
    m4 = run_script("tts/tts_humaneval.py", ["--model", str(tiny_llama), "--n", "4", *TINY, "--out-dir", str(out)])
    after = {r["id"]: r for r in read_jsonl(out / "samples.jsonl")}
    assert len(after) == 8 and m4["n"] == 4 and "pass@4" in m4
    assert all(after[r["id"]] == r for r in before)  # the first samples are kept as they were
    # another temperature in the same dir is refused, naming both values
    with pytest.raises(TinyforgeError, match="temperature.*0.7.*0.5"):
        run_script("tts/tts_humaneval.py", ["--model", str(tiny_llama), "--n", "4", "--temperature", "0.5", *TINY,
                                            "--out-dir", str(out)])


def test_k_larger_than_n_names_both(tiny_llama, tmp_path):
    with pytest.raises(TinyforgeError, match=r"--k 4 is larger than --n 2"):
        run_script("tts/tts_humaneval.py", ["--model", str(tiny_llama), "--n", "2", "--k", "4", *TINY,
                                            "--out-dir", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()


def test_self_consistency_reports_strict_and_flexible(tiny_llama, tmp_path):
    m = run_script("experiments/self_consistency.py", ["--model", str(tiny_llama), "--bench", "gsm8k", "--n", "2",
                                                       *TINY, "--out-dir", str(tmp_path / "sc")])
    for key in ("pass@1", "maj@2", "oracle", "maj_estimate", "delta/maj@2-pass@1", "delta/oracle-maj@2_ci_low",
                "strict/maj@2", "flexible/maj@2", "strict/pass@1", "flexible/oracle"):
        assert key in m, key
    assert m["maj_estimate"] == "exact"
    # a random model writes no readable answer: wrong samples with a detail, never a crash
    rows = read_jsonl(tmp_path / "sc" / "results.jsonl")
    assert all(r["detail"] for r in rows if not r["passed"])


def test_synergy_cells_and_reuse_of_a_tts_pool(tiny_llama, tiny_lora, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # pools are looked for under ./runs
    run_script("tts/tts_humaneval.py", ["--model", str(tiny_llama), "--n", "2", *TINY])
    pool = next((tmp_path / "runs" / "tts_humaneval").iterdir()) / "samples.jsonl"
    marked = [{**r, "completion": "    return 'REUSED'\n"} for r in read_jsonl(pool)]
    pool.write_text("".join(json.dumps(r) + "\n" for r in marked))
    m = run_script("experiments/recipe_x_tts_synergy.py", ["--base-model", str(tiny_llama), "--adapter",
                                                           str(tiny_lora), "--n", "2", *TINY,
                                                           "--out-dir", str(tmp_path / "syn")])
    for key in ("raw/humaneval/pass@1", "raw/humaneval/oracle", "trained/humaneval/pass@1",
                "trained/humaneval/oracle", "synergy/humaneval", "synergy/humaneval_ci_low",
                "delta/trained-raw/humaneval/pass@1_ci_high", "delta/trained-raw/humaneval/n_tasks"):
        assert key in m, key
    assert m["synergy/humaneval"] == pytest.approx(m["trained/humaneval/oracle"] - m["raw/humaneval/oracle"], abs=1e-6)
    raw = read_jsonl(tmp_path / "syn" / "raw" / "samples.jsonl")
    trained = read_jsonl(tmp_path / "syn" / "trained" / "samples.jsonl")
    assert all(r["completion"] == "    return 'REUSED'\n" for r in raw)       # the tts pool, not redrawn
    assert not any("REUSED" in r["completion"] for r in trained)            # another adapter: its own pool


def test_synergy_needs_its_adapter(tmp_path):
    with pytest.raises(TinyforgeError, match="--adapter is required"):
        run_script("experiments/recipe_x_tts_synergy.py", ["--base-model", "smollm2-135m", "--n", "2",
                                                           "--out-dir", str(tmp_path / "s")])
