"""The eval CLIs end to end: tiny models through sampling, the sandbox or the math graders, metrics."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, run_script
from tinyforge import benchmarks, sampling
from tinyforge.io import TinyforgeError, read_jsonl


def _run_main(script: str, argv: list[str]) -> dict:
    return run_script(f"evals/{script}.py", argv)


def _common(model, out):
    return ["--model", str(model), "--limit", "2", "--max-new-tokens", "8", "--out-dir", str(out),
            "--workers", "1"]


@pytest.mark.parametrize("bench", ["humaneval", "mbpp"])
def test_eval_raw_writes_run_dir(tiny_llama, tmp_path, bench):
    m = _run_main("eval_raw", ["--bench", bench, "--n-samples", "2", "--temperature", "1.0",
                               *_common(tiny_llama, tmp_path)])
    for f in ("config.json", "samples.jsonl", "results.jsonl", "metrics.json", "per_task.jsonl"):
        assert (tmp_path / f).exists()
    assert [(r["n"], r["c"]) for r in read_jsonl(tmp_path / "per_task.jsonl")] == [(2, 0), (2, 0)]
    rows = read_jsonl(tmp_path / "results.jsonl")
    assert len(rows) == 4 and all(r["status"] in ("fail", "error", "timeout", "crash") for r in rows)
    assert m["pass@1"] == 0.0 and m["n_tasks"] == 2 and m["bench"] == bench
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["stop"] == benchmarks.default_stop(bench, "raw")
    # a second run resumes: nothing is sampled or graded again
    again = _run_main("eval_raw", ["--bench", bench, "--n-samples", "2", "--temperature", "1.0",
                                   *_common(tiny_llama, tmp_path)])
    assert again == m


def test_eval_plus_reports_base_and_plus(tiny_llama, tmp_path):
    m = _run_main("eval_plus", ["--bench", "humaneval_plus", *_common(tiny_llama, tmp_path)])
    assert {"base/pass@1", "plus/pass@1", "n_tasks"} <= set(m)
    assert m["pass@1"] == m["plus/pass@1"]  # pass@1 on every benchmark: here the plus verdict
    rows = read_jsonl(tmp_path / "results.jsonl")
    assert all("base_passed" in r for r in rows)


@pytest.mark.parametrize("bench,extra", [("gsm8k", "flexible/pass@1"), ("math500", "maj@2")])
def test_eval_math(tiny_llama, tmp_path, bench, extra):
    m = _run_main("eval_math", ["--bench", bench, "--format", "chat", "--n-samples", "2",
                                "--temperature", "1.0", *_common(tiny_llama, tmp_path)])
    assert extra in m and m["n_samples"] == 4
    assert all("extracted" in r for r in read_jsonl(tmp_path / "results.jsonl"))


def test_several_adapters_share_one_base(tiny_llama, tiny_lora, tmp_path, monkeypatch):
    built = []
    real = sampling.make_sampler
    monkeypatch.setattr(sampling, "make_sampler", lambda *a, **k: built.append(1) or real(*a, **k))
    m = _run_main("eval_raw", ["--bench", "humaneval", "--adapter", str(tiny_lora), str(tiny_lora),
                               "--with-base", *_common(tiny_llama, tmp_path)])
    assert len(built) == 1
    labels = [tiny_lora.name, f"{tiny_lora.name}-2"]
    # the base model is `base_model/`: `base/` means HumanEval+'s base tests on every script
    assert {"base_model/pass@1", f"{labels[0]}/pass@1", f"{labels[1]}/pass@1"} <= set(m)
    assert not any(k.startswith("base/") for k in m)
    base = read_jsonl(tmp_path / "base_model" / "samples.jsonl")
    adapted = read_jsonl(tmp_path / labels[0] / "samples.jsonl")
    assert [s["completion"] for s in base] != [s["completion"] for s in adapted]
    assert [s["completion"] for s in adapted] == \
        [s["completion"] for s in read_jsonl(tmp_path / labels[1] / "samples.jsonl")]


def test_sweep_loop_gets_a_run_dir_per_adapter(tiny_llama, tiny_lora, tmp_path, monkeypatch):
    """The pair-count sweep runs `eval_raw.py --adapter adapter_n$N` in a loop with no --out-dir: each
    adapter must get its own default run dir, never the samples of the one before."""
    monkeypatch.chdir(tmp_path)
    argv = ["--bench", "humaneval", "--model", str(tiny_llama), "--limit", "1", "--max-new-tokens", "4",
            "--workers", "1"]
    import shutil

    for n in (10, 21):  # same folder name in two places must not collide either
        shutil.copytree(tiny_lora, tmp_path / f"n{n}" / "adapter")
        _run_main("eval_raw", [*argv, "--adapter", f"n{n}/adapter"])
    _run_main("eval_raw", argv)
    dirs = sorted(p.parent for p in (tmp_path / "runs").rglob("samples.jsonl"))
    assert len(dirs) == 3 and len({p.name for p in dirs}) == 3 and all("adapter-" in p.name for p in dirs[:2])
    with pytest.raises(TinyforgeError, match="other settings.*--max-new-tokens 4 there, 6 now.*another --out-dir"):
        _run_main("eval_raw", [*argv[:-4], "--max-new-tokens", "6", "--workers", "1", "--out-dir", str(dirs[0])])


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_evaluate_grades_canonical_and_wrong_samples(tmp_path):
    probs = benchmarks.load_benchmark("humaneval", limit=6)
    samples = [{"id": f"{p['task_id']}/ok", "task_id": p["task_id"], "completion": p["canonical_solution"]}
               for p in probs]
    samples += [{"id": f"{p['task_id']}/bad", "task_id": p["task_id"], "completion": "    return None\n"}
                for p in probs]
    m = _run_main("evaluate", ["--bench", "humaneval", "--samples", str(_write(tmp_path / "s.jsonl", samples)),
                               "--out-dir", str(tmp_path / "o"), "--workers", "2"])
    rows = {r["id"]: r for r in read_jsonl(tmp_path / "o" / "results.jsonl")}
    assert all(rows[f"{p['task_id']}/ok"]["passed"] for p in probs)
    assert not any(rows[f"{p['task_id']}/bad"]["passed"] for p in probs)
    assert m["n_passed"] == 6 and m["pass@1"] == pytest.approx(0.5)
    assert all(r["n"] == 2 and r["c"] == 1 for r in read_jsonl(tmp_path / "o" / "per_task.jsonl"))


def test_evaluate_problem_files(tmp_path):
    code = [{"task_id": "t1", "prompt": "def inc(x):\n", "entry_point": "inc",
             "test": "def check(f):\n    assert f(1) == 2\n"}]
    s = [{"id": "a", "task_id": "t1", "completion": "    return x + 1\n"},
         {"id": "b", "task_id": "t1", "completion": "    return x\n"}]
    m = _run_main("evaluate", ["--problems", str(_write(tmp_path / "p.jsonl", code)), "--samples",
                               str(_write(tmp_path / "s.jsonl", s)), "--out-dir", str(tmp_path / "o1")])
    assert m["grader"] == "code" and m["n_passed"] == 1
    math = [{"task_id": "m1", "problem": "1/2 as a fraction?", "answer": "\\frac{1}{2}"}]
    s = [{"id": "a", "task_id": "m1", "completion": "So it is \\boxed{0.5}."},
         {"id": "b", "task_id": "m1", "completion": "\\boxed{2}"}]
    m = _run_main("evaluate", ["--problems", str(_write(tmp_path / "pm.jsonl", math)), "--samples",
                               str(_write(tmp_path / "sm.jsonl", s)), "--out-dir", str(tmp_path / "o2"),
                               "--workers", "0"])
    assert m["grader"] == "math" and m["n_passed"] == 1
    gsm = [{"id": "g1", "question": "2+2?", "answer": "2+2=4\n#### 4"}]
    s = [{"id": "a", "task_id": "g1", "completion": "The answer is 4."}]
    m = _run_main("evaluate", ["--problems", str(_write(tmp_path / "pg.jsonl", gsm)), "--samples",
                               str(_write(tmp_path / "sg.jsonl", s)), "--out-dir", str(tmp_path / "o3")])
    assert m["grader"] == "gsm8k" and m["n_passed"] == 1


def test_evaluate_bad_samples_exit_2(tmp_path):
    s = _write(tmp_path / "s.jsonl", [{"id": "a", "task_id": "HumanEval/0", "completion": "x"},
                                      {"id": "b", "task_id": "HumanEval/999", "completion": "x"}])
    r = subprocess.run([sys.executable, str(REPO / "evals" / "evaluate.py"), "--bench", "humaneval",
                        "--samples", str(s), "--out-dir", str(tmp_path / "o")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {s}:2: task_id 'HumanEval/999' is not among the problems"
