"""The mining recipes end to end on tiny models: bootstrap.py, multi_pair.py (+ its 14B alias) and the 4-bit
harvest. A tiny random model verifies nothing, so the happy paths run the library (tinyforge.recipes, no
parser) on a problem file whose problems a scripted fake sampler (tests/fakes.py) solves; training is real
(tinyforge.training on the tiny model)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import load_script, run_script
from tests.fakes import fake_factories
from tinyforge import cli, comparisons, mining, recipes, training
from tinyforge.evaluation import EvalSettings
from tinyforge.benchmarks import load_benchmark
from tinyforge.io import DataError, TinyforgeError, read_jsonl


def _load(script: str):
    return load_script(f"recipe/{script}.py")


def _main(script: str, argv: list[str]) -> dict:
    return run_script(f"recipe/{script}.py", argv)


# Novel problems (not from any benchmark: decontamination would drop a copy). Each lists the bodies the
# stand-in sampler returns for attempts 0, 1, ...
PROBLEMS = [
    ({"task_id": "toy/triple", "entry_point": "triple_sum",
      "prompt": 'def triple_sum(a, b, c):\n    """Return three times the sum of a, b and c."""\n',
      "test": "assert triple_sum(1, 2, 3) == 18\nassert triple_sum(0, 0, 0) == 0\nassert triple_sum(-1, 1, 2) == 6\n"},
     ["    return 3 * (a + b + c)\n", "    # three times the sum\n    return 3 * (a + b + c)\n"]),  # one distinct
    ({"task_id": "toy/vowels", "entry_point": "count_vowels_in",
      "prompt": 'def count_vowels_in(word):\n    """Count the vowels (a, e, i, o, u) in a lowercase word."""\n',
      "test": "assert count_vowels_in('banana') == 3\nassert count_vowels_in('xyz') == 0\n"
              "assert count_vowels_in('queue') == 4\n"},
     ["    return sum(ch in 'aeiou' for ch in word)\n",
      "    n = 0\n    for ch in word:\n        if ch in 'aeiou':\n            n += 1\n    return n\n"]),  # two
    ({"task_id": "toy/sorted", "entry_point": "is_sorted_list",
      "prompt": 'def is_sorted_list(xs):\n    """Say whether the list xs is in non-decreasing order."""\n',
      "test": "assert is_sorted_list([1, 2, 2]) is True\nassert is_sorted_list([3, 1]) is False\n"
              "assert is_sorted_list([]) is True\n"},
     ["    return False\n"]),  # never solved
]


def _answers() -> tuple[dict, dict]:
    """The fake model's answers (tests/fakes.py): the toy problems' scripted bodies; before training a
    wrong body for the first 2 HumanEval and MBPP tasks, after training (an adapter active) their
    reference solutions. So the recipe's before/after must show a lift, under the right labels."""
    base = {p["prompt"]: bodies for p, bodies in PROBLEMS}
    tuned = {}
    for p in load_benchmark("humaneval", limit=2):
        base[p["prompt"]], tuned[p["prompt"]] = ["    return None\n"], [p["canonical_solution"]]
    for p in load_benchmark("mbpp", limit=2):
        base[p["text"]], tuned[p["text"]] = ["def x():\n    return None\n"], [p["canonical_solution"]]
    return base, tuned


@pytest.fixture
def fake():
    """(sampler factories, the samplers they built)."""
    made = []
    base, tuned = _answers()
    return fake_factories(base, adapter=tuned, made=made), made


@pytest.fixture
def problem_file(tmp_path):
    f = tmp_path / "toy_problems.jsonl"
    f.write_text("".join(json.dumps(p) + "\n" for p, _ in PROBLEMS))
    return f


def _tiny_train(model):
    return ["--model", str(model), "--epochs", "1", "--lora-rank", "4", "--max-len", "256", "--workers", "1"]


@pytest.mark.parametrize("script", ["bootstrap", "multi_pair", "multi_pair_14b", "bootstrap_14b_4bit_harvest"])
def test_help(script, capsys):
    with pytest.raises(SystemExit) as e:
        _load(script).build_parser().parse_args(["--help"])
    assert e.value.code == 0 and "--problem-source" in capsys.readouterr().out


def test_guide_commands_parse():
    boot = _load("bootstrap")
    a = boot.build_parser().parse_args("--model Qwen/Qwen3-8B-Base --tag sat_check".split())
    assert str(cli.run_dir(a, "bootstrap")) == "runs/bootstrap/sat_check"
    multi = _load("multi_pair_14b")
    a = multi.build_parser().parse_args(
        "--model Qwen/Qwen2.5-14B --warmup_pairs_path data/pairs_7b_40.jsonl --n_problems 200 --n_attempts 8 "
        "--max_pairs_per_problem 4 --lora_rank 32 --tag multi_rerun".split())
    assert (a.warmup_pairs_path, a.n_problems, a.n_attempts, a.max_pairs_per_problem, a.lora_rank, a.tag) == \
        ("data/pairs_7b_40.jsonl", 200, 8, 4, 32, "multi_rerun")


def test_bootstrap_zero_pairs_stops_before_training(tiny_llama, tmp_path, capsys):
    argv = ["--problem-source", "mbpp_train", "--limit", "2", "--n-attempts", "2", "--max-new-tokens", "8",
            "--temperature", "1.0", "--out-dir", str(tmp_path), *_tiny_train(tiny_llama)]
    with pytest.raises(TinyforgeError, match="no verified pairs"):
        _main("bootstrap", argv)
    for f in ("config.json", "problems.jsonl", "attempts.jsonl", "verified.jsonl", "pairs.jsonl", "metrics.json"):
        assert (tmp_path / f).exists(), f
    assert not (tmp_path / "adapter").exists()
    assert len(read_jsonl(tmp_path / "problems.jsonl")) == 2 and len(read_jsonl(tmp_path / "attempts.jsonl")) == 4
    rows = read_jsonl(tmp_path / "verified.jsonl")
    assert len(rows) == 4 and not any(r["passed"] for r in rows) and read_jsonl(tmp_path / "pairs.jsonl") == []
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert (m["problems"], m["attempts"], m["verified_attempts"], m["mined_pairs"]) == (2, 4, 0, 0)
    # as a command: one line on stderr, exit 2 (the finished stages are resumed, not redone)
    mod = _load("bootstrap")
    with pytest.raises(SystemExit) as e:
        cli.run(mod.main, mod.build_parser, argv)
    assert e.value.code == 2 and "error: no verified pairs" in capsys.readouterr().err


def test_bootstrap_self_generated_problems_from_a_tiny_model(tiny_llama, tmp_path):
    with pytest.raises(TinyforgeError, match="no verified pairs: 0 problems"):
        _main("bootstrap", ["--limit", "2", "--gen-per-prompt", "2", "--gen-rounds", "1", "--gen-max-new-tokens", "16",
                            "--out-dir", str(tmp_path), *_tiny_train(tiny_llama)])
    cands = read_jsonl(tmp_path / "problem_candidates.jsonl")
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["gen/candidates"] == len(cands) == 8 and m["problems"] == 0
    assert sum(v for k, v in m.items() if k.startswith("gen/rejected/")) == 8
    assert all(c["prompt"].endswith("### Problem\n") and len(c["exemplars"]) == 3 for c in cands)


def _settings(tiny, problem_file, **mine):
    """Settings made in Python, no parser: what a researcher calls the library with."""
    m = mining.MiningSettings(model=str(tiny), problem_source=str(problem_file), workers=1, **mine)
    m.check()
    sft = training.SFTSettings(model=str(tiny), epochs=1, lora_rank=4, max_len=256)
    evals = [EvalSettings(bench=b, limit=2, k=[1]) for b in ("humaneval", "humaneval_plus", "mbpp")]
    for e in evals:
        e.check()
    return m, sft, evals


def test_bootstrap_happy_path_trains_and_evaluates(tiny_llama, tmp_path, problem_file, fake):
    """mining -> training -> evaluation from Python with no parser; the fake model answers the
    evaluation tasks right only with the adapter, so the before/after is a lift of the right sign."""
    samplers, made = fake
    mine, sft, evals = _settings(tiny_llama, problem_file, n_attempts=2, max_pairs_per_problem=2)
    m = recipes.bootstrap(mine, sft, evals, tmp_path, samplers)
    for f in ("problems.jsonl", "attempts.jsonl", "verified.jsonl", "pairs.jsonl", "adapter/adapter_config.json",
              "adapter/train_log.json", "eval/before/humaneval/results.jsonl", "eval/after/mbpp/metrics.json"):
        assert (tmp_path / f).exists(), f
    assert (m["problems"], m["attempts"], m["verified_attempts"], m["problems_solved"], m["mined_pairs"]) == \
        (3, 6, 4, 2, 3)
    pairs = read_jsonl(tmp_path / "pairs.jsonl")
    assert [p["task_id"] for p in pairs] == ["toy/triple", "toy/vowels", "toy/vowels"]
    assert all(p["prompt"] == dict((q["task_id"], q) for q, _ in PROBLEMS)[p["task_id"]]["prompt"] for p in pairs)
    assert pairs[0]["source"] == "bootstrap/file" and pairs[0]["meta"]["format"] == "raw"
    assert m["train/pairs"] == 3 and m["train/steps"] >= 1
    for bench in ("humaneval", "humaneval_plus", "mbpp"):
        assert (m[f"before/{bench}/pass@1"], m[f"after/{bench}/pass@1"]) == (0.0, 1.0), bench
        assert m[f"delta/{bench}/pass@1"] == 1.0
        assert m[f"delta/{bench}/pass@1_ci_low"] > 0 and m[f"delta/{bench}/n_tasks"] == 2
        assert comparisons.verdict(m, bench).startswith("lift: ")
    assert m["before/humaneval_plus/pass@1"] == m["before/humaneval_plus/plus/pass@1"]
    # graded rows keep the sample's fields: no re-join of samples and verdicts
    row = read_jsonl(tmp_path / "eval" / "after" / "humaneval" / "results.jsonl")[0]
    assert {"prompt", "completion", "sample_idx", "passed", "status"} <= set(row) and row["passed"]
    assert json.loads((tmp_path / "metrics.json").read_text()) == m
    # mining sampler, then one eval sampler holding the adapter; before = base, after = the adapter
    mine_s, ev = made
    adapter = str(tmp_path / "adapter")
    assert mine_s.adapters == [] and ev.adapters == [adapter]
    assert [c["lora"] for c in ev.calls] == [False, False, adapter, adapter]  # humaneval+ reused humaneval's
    # a re-run resumes: a killed verification (torn last line) is finished, the rest is reused as is
    verified = tmp_path / "verified.jsonl"
    lines = verified.read_text().splitlines(keepends=True)
    verified.write_text("".join(lines[:3]) + lines[3][:20])
    (tmp_path / "pairs.jsonl").unlink()
    again = recipes.bootstrap(mine, sft, evals, tmp_path, samplers)
    assert again["mined_pairs"] == 3 and len(read_jsonl(verified)) == 6
    assert read_jsonl(tmp_path / "pairs.jsonl") == pairs
    assert len(made) == 2  # no model was built again
    # an evaluation dir sampled with other settings is refused, not mixed into new metrics
    more = [EvalSettings(bench="humaneval", limit=1, k=[1])]
    with pytest.raises(TinyforgeError, match="other settings.*limit 2 there, 1 now"):
        recipes.bootstrap(mine, sft, more, tmp_path, samplers)


def test_bootstrap_script_refuses_a_changed_resume(tiny_llama, tmp_path):
    """The script's refusal names the flag the user typed, both values, and the script's own ways out."""
    argv = ["--problem-source", "mbpp_train", "--limit", "1", "--n-attempts", "1", "--max-new-tokens", "4",
            "--out-dir", str(tmp_path), "--skip-eval", *_tiny_train(tiny_llama)]
    with pytest.raises(TinyforgeError, match="no verified pairs"):
        _main("bootstrap", argv)
    with pytest.raises(TinyforgeError, match=r"--n-attempts 1 there, 3 now\): pass --overwrite, or another "
                                             r"--out-dir, or another --tag"):
        _main("bootstrap", [*argv, "--n-attempts", "3"])


def test_multi_pair_warmup_mines_and_trains_on_the_union(tiny_llama, tmp_path, problem_file, fake):
    samplers, made = fake
    warm = [{"id": "w0", "prompt": "def one():\n", "completion": "    return 1\n", "source": "given"}]
    out = tmp_path / "run"
    mine, sft, evals = _settings(tiny_llama, problem_file, n_attempts=2, max_pairs_per_problem=4)
    m = recipes.multi_pair(mine, sft, evals[:2], out, samplers, warmup=warm, warmup_mode="mine")
    for adapter in ("warmup_adapter", "adapter"):
        assert (out / adapter / "adapter_config.json").exists()
    assert (m["warmup_pairs"], m["mined_pairs"], m["train_pairs"]) == (1, 3, 4)
    assert [p["id"] for p in read_jsonl(out / "train_pairs.jsonl")][0] == "w0"
    assert {"before/humaneval/pass@1", "warmup/humaneval/pass@1", "after/humaneval_plus/pass@1",
            "delta/humaneval/pass@1"} <= set(m)
    mine_s, ev = made
    warm_dir, final = str(out / "warmup_adapter"), str(out / "adapter")
    assert mine_s.adapters == [warm_dir] and all(c["lora"] is None for c in mine_s.calls)  # the warm-up solves
    assert ev.adapters == [warm_dir, final]


def test_multi_pair_bad_warmup_file_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "prompt": "p", "completion": "c", "source": "s"}) + "\n"
                   + json.dumps({"id": "b", "prompt": "p", "source": "s"}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: missing field 'completion'"):
        _main("multi_pair", ["--warmup-pairs-path", str(bad), "--out-dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_harvest_without_cuda_exits_2_at_once(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this checks the CPU-only refusal")
    mod = _load("bootstrap_14b_4bit_harvest")
    with pytest.raises(SystemExit) as e:
        cli.run(mod.main, mod.build_parser, ["--limit", "2", "--out-dir", str(tmp_path / "h")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "needs a CUDA GPU" in err[0]
    assert not (tmp_path / "h").exists()


def test_harvest_asks_for_a_4bit_model_and_trains_nothing(tiny_llama, tmp_path, problem_file, fake):
    """The 4-bit harvest's settings always load NF4 (even when --load-in-4bit is not typed), and its
    stages write pairs and no adapter."""
    mod = _load("bootstrap_14b_4bit_harvest")
    a = mod.build_parser().parse_args(["--model", str(tiny_llama), "--problem-source", str(problem_file),
                                       "--limit", "2", "--n-attempts", "2", "--workers", "1"])
    assert cli.sampler_settings(a).load_in_4bit is True
    samplers, made = fake
    pairs, stats = mining.harvest(cli.mining_settings(a), tmp_path / "h", samplers(None), source="harvest/file",
                                  meta={"quantization": "nf4"})
    assert stats["mined_pairs"] == 3 and [p["task_id"] for p in pairs] == ["toy/triple", "toy/vowels", "toy/vowels"]
    assert all(p["meta"]["quantization"] == "nf4" for p in read_jsonl(tmp_path / "h" / "pairs.jsonl"))
    assert not (tmp_path / "h" / "adapter").exists()
