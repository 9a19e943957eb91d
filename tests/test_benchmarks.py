"""tinyforge.benchmarks: shipped data and its sha256 check, record layout, prompts, stops,
completion -> program (run in plain subprocesses; the sandbox has its own tests), hub mapping."""

import gzip
import json
import shutil
import subprocess
import sys
import types

import pytest

from tinyforge.benchmarks import (
    BENCHMARKS,
    benchmark_spec,
    build_prompt,
    default_stop,
    extract_code,
    grading_kind,
    load_benchmark,
    reference_answer,
    solution_code,
    test_code,
    verify_data,
)
from tinyforge.benchmarks import code_tasks, data
from tinyforge.io import TinyforgeError

_CACHE: dict = {}


def load(name, split=None):
    """Loads shared across tests (records are read-only here)."""
    key = (name, split)
    if key not in _CACHE:
        _CACHE[key] = load_benchmark(name, split=split)
    return _CACHE[key]


def by_id(name, task_id, split=None):
    return next(p for p in load(name, split) if p["task_id"] == task_id)


def runs_ok(program: str, tmp_path, timeout: float = 60) -> tuple[bool, str]:
    path = tmp_path / "prog.py"
    path.write_text(program, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode == 0, proc.stderr[-500:]


def cut_at_stops(text: str, stops) -> str:
    """vLLM's semantics: the text ends before the earliest stop string."""
    idx = [i for i in (text.find(s) for s in stops) if i >= 0]
    return text[:min(idx)] if idx else text


# ----------------------------------------------------------------------------- data and loading


@pytest.mark.parametrize("name, split, n", [
    ("humaneval", None, 164), ("humaneval_plus", None, 164), ("mbpp", None, 500),
    ("mbpp", "train", 374), ("mbpp", "validation", 90), ("mbpp", "prompt", 10),
    ("mbpp_plus", None, 378), ("gsm8k", None, 1319), ("gsm8k", "train", 7473),
    ("gsm8k_platinum", None, 1209), ("gsm_hard", None, 1319), ("math500", None, 500),
    ("aime24", None, 30), ("aime25", None, 30),
])
def test_row_counts_and_unique_ids(name, split, n):
    recs = load(name, split)
    assert len(recs) == n
    assert len({r["task_id"] for r in recs}) == n
    spec = benchmark_spec(name)
    assert spec.rows[split or spec.splits[0]] == n
    fields = ("task_id", "prompt", "entry_point", "test") if spec.kind == "code" else \
        ("task_id", "problem", "answer")
    assert all(all(r.get(f) not in (None, "") for f in fields) for r in recs)


def test_task_ids_are_stable_names():
    assert load("humaneval")[0]["task_id"] == "HumanEval/0"
    assert [load("mbpp")[0]["task_id"], load("mbpp")[-1]["task_id"]] == ["Mbpp/11", "Mbpp/510"]
    assert {int(p["task_id"][5:]) for p in load("mbpp", "train")} == set(range(601, 975))
    assert load("gsm8k")[5]["task_id"] == "gsm8k/test/5"
    assert load("gsm8k", "train")[0]["task_id"] == "gsm8k/train/0"
    assert load("math500")[0]["task_id"] == "math500/test/precalculus/807.json"
    assert [p["task_id"] for p in load("aime24")][:2] == ["aime24/2024-I-1", "aime24/2024-I-2"]
    assert load("aime24")[15]["task_id"] == "aime24/2024-II-1"
    assert load("aime25")[-1]["task_id"] == "aime25/2025-II-15"


def test_math_records_and_reference_answers():
    g = load("gsm8k")[0]
    assert g["answer"] == "18" and g["answer_raw"].endswith("#### 18") and g["question"] == g["problem"]
    assert reference_answer(g, "gsm8k") == "18" and grading_kind("gsm8k") == "gsm8k"
    # GSM8K-Platinum: the 10 relabelled answers differ from GSM8K's at the linked index.
    gsm = load("gsm8k")
    changed = [p for p in load("gsm8k_platinum") if p["answer_changed_vs_gsm8k"]]
    assert sorted(p["gsm8k_test_index"] for p in changed) == [288, 403, 454, 649, 749, 823, 952,
                                                               1035, 1071, 1309]
    assert all(p["answer"] != gsm[p["gsm8k_test_index"]]["answer"] for p in changed)
    # GSM-Hard: float targets, 146 negative and 303 non-integer, flagged.
    hard = load("gsm_hard")
    assert hard[0]["answer"] == -9867630.0 and hard[0]["irregular_target"]
    assert sum(p["answer"] < 0 for p in hard) == 146
    assert sum(p["answer"] != int(p["answer"]) for p in hard) == 303
    assert sum(p["irregular_target"] for p in hard) == sum(
        p["answer"] < 0 or p["answer"] != int(p["answer"]) for p in hard)
    # AIME: integer answers; MATH-500 keeps level/subject.
    a = load("aime24")[0]
    assert a["answer"] == 204 and reference_answer(a, "aime24") == 204 and grading_kind("aime24") == "aime"
    assert all(isinstance(p["answer"], int) and 0 <= p["answer"] <= 999 for p in load("aime25"))
    m = load("math500")[0]
    assert m["level"] == 2 and m["subject"] == "Precalculus" and reference_answer(m, "math500") == m["answer"]
    with pytest.raises(TinyforgeError, match="code benchmark"):
        reference_answer(load("humaneval")[0], "humaneval")


def test_limit_split_and_name_errors():
    assert [p["task_id"] for p in load_benchmark("humaneval", limit=2)] == ["HumanEval/0", "HumanEval/1"]
    assert benchmark_spec("HumanEval+").name == "humaneval_plus"
    assert benchmark_spec("math-500").name == "math500"
    with pytest.raises(TinyforgeError, match="no split 'train'"):
        load_benchmark("humaneval", split="train")
    with pytest.raises(TinyforgeError, match="unknown benchmark"):
        load_benchmark("hunameval")


def test_shipped_data_matches_the_shared_copies(shared_bench):
    # The shared files are uncompressed; the shipped manifest's content hashes must verify them.
    hashes = verify_data(shared_bench)
    assert len(hashes) == len(data.manifest()) == 11
    assert hashes["humaneval.jsonl"] == "1d49078ba3e2b196b9344535bef34a43021f038fad9561d6ee7c53450609a6a2"
    assert len(load_benchmark("aime25", data_dir=shared_bench)) == 30


def test_tampered_copy_is_rejected_with_both_hashes(tmp_path):
    raw = gzip.open(data.DATA_DIR / "aime25.jsonl.gz").read()
    good = data.manifest()["aime25.jsonl.gz"]["sha256"]
    shutil.copy(data.DATA_DIR / "aime25.jsonl.gz", tmp_path / "aime25.jsonl.gz")
    assert len(load_benchmark("aime25", data_dir=tmp_path)) == 30  # the untouched copy loads
    tampered = raw.replace(b'"answer": 70', b'"answer": 71', 1)
    assert tampered != raw
    (tmp_path / "aime25.jsonl.gz").write_bytes(gzip.compress(tampered))
    with pytest.raises(TinyforgeError) as err:
        load_benchmark("aime25", data_dir=tmp_path)
    msg = str(err.value)
    import hashlib
    assert "aime25.jsonl.gz" in msg and good in msg and hashlib.sha256(tampered).hexdigest() in msg
    # A damaged gzip stream is also one clear error, not a traceback from zlib.
    blob = bytearray(gzip.compress(raw))
    blob[len(blob) // 2] ^= 0xFF
    (tmp_path / "aime25.jsonl.gz").write_bytes(bytes(blob))
    with pytest.raises(TinyforgeError, match="aime25.jsonl.gz"):
        load_benchmark("aime25", data_dir=tmp_path)
    (tmp_path / "aime25.jsonl.gz").unlink()
    with pytest.raises(TinyforgeError, match="no aime25.jsonl"):
        load_benchmark("aime25", data_dir=tmp_path)


# ----------------------------------------------------------------------------- prompts and stops


def test_mbpp_raw_prompt_is_austin_three_shot():
    target = by_id("mbpp", "Mbpp/11")
    prompt = build_prompt(target, "mbpp", "raw")
    shots = {p["task_id"]: p for p in load("mbpp", "prompt")}
    pos = [prompt.index(shots[f"Mbpp/{i}"]["text"]) for i in (2, 3, 4)]
    assert pos == sorted(pos)
    assert prompt.count("[BEGIN]") == 4 and prompt.count("[DONE]") == 3
    assert code_tasks.reference_code(shots["Mbpp/3"]) in prompt and "\r" not in prompt
    assert prompt.endswith(target["test_list"][-1] + "\n[BEGIN]\n")
    assert code_tasks.reference_code(target) not in prompt
    assert prompt.startswith("You are an expert Python programmer, and here is your task: ")
    assert build_prompt(target, "mbpp", "raw", shots=1).count("[DONE]") == 1
    # MBPP+ contains task 2 itself: it is never its own exemplar.
    p2 = build_prompt(by_id("mbpp_plus", "Mbpp/2"), "mbpp_plus", "raw")
    assert p2.count("[DONE]") == 3 and shots["Mbpp/2"]["text"] not in p2
    assert shots["Mbpp/1"]["text"] in p2  # the next task of the prompt split stands in
    assert "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))" in p2


def test_gsm8k_raw_prompt_uses_first_train_items_without_calculator_marks():
    train = load("gsm8k", "train")
    prompt = build_prompt(load("gsm8k")[0], "gsm8k", "raw")
    assert prompt.count("Question: ") == 9 and prompt.endswith("\nAnswer:")
    assert prompt.startswith(f"Question: {train[0]['question']}\nAnswer: ")
    assert "<<" not in prompt and "#### 72\n\n" in prompt
    assert train[7]["question"] in prompt and train[8]["question"] not in prompt
    # A train item among the exemplars is skipped when it is the target.
    p = build_prompt(train[1], "gsm8k", "raw")
    assert p.count(train[1]["question"]) == 1 and train[8]["question"] in p
    assert build_prompt(load("gsm_hard")[0], "gsm_hard", "raw", shots=0) == \
        f"Question: {load('gsm_hard')[0]['problem']}\nAnswer:"


def test_chat_and_math_prompts():
    he = load("humaneval")[0]
    msgs = build_prompt(he, "humaneval", "chat")
    assert len(msgs) == 1 and msgs[0]["role"] == "user" and "```python\n" + he["prompt"] in msgs[0]["content"]
    cont = build_prompt(he, "humaneval", "chat_continue")
    assert cont[-1] == {"role": "assistant", "content": "```python\n" + he["prompt"]}
    assert build_prompt(he, "humaneval", "raw") == he["prompt"]
    mb = build_prompt(load("mbpp")[0], "mbpp", "chat_continue")
    assert mb[-1]["content"] == "```python\n" and "Your code should pass these tests" in mb[0]["content"]
    m = build_prompt(load("math500")[0], "math500", "chat")
    assert "\\boxed{}" in m[0]["content"] and "step by step" in m[0]["content"]
    raw = build_prompt(load("aime24")[0], "aime24", "raw")
    assert raw.endswith("\n\nSolution:") and "Problem:\n" in raw and "\\boxed{}" in raw
    ex = [{"problem": "1+1?", "solution": "It is $\\boxed{2}$."}]
    assert "Problem:\n1+1?\n\nSolution:\nIt is $\\boxed{2}$.\n\n" in build_prompt(
        load("aime24")[0], "aime24", "raw", shots=ex)
    with pytest.raises(TinyforgeError, match="raw format"):
        build_prompt(load("gsm8k")[0], "gsm8k", "chat", shots=2)
    with pytest.raises(TinyforgeError, match="code benchmarks"):
        build_prompt(load("math500")[0], "math500", "chat_continue")
    with pytest.raises(TinyforgeError, match="exemplar"):
        build_prompt(load("math500")[0], "math500", "raw", shots=4)


def test_default_stops():
    assert default_stop("humaneval", "raw") == ["\nclass ", "\nif __name__", "\nprint(", "\nassert "]
    assert default_stop("mbpp_plus", "raw") == ["[DONE]"]
    assert default_stop("gsm8k", "raw") == ["Question:", "\n\n\n"]
    assert default_stop("math500", "raw") == ["\nProblem:"]
    assert default_stop("aime25", "chat") == [] and default_stop("humaneval", "chat") == []
    assert default_stop("mbpp", "chat_continue") == ["\n```"]


def test_humaneval_raw_stops_keep_helper_functions(tmp_path):
    # The reproduction guide's lesson: "\ndef" would cut this helper and fail a correct answer.
    he = by_id("humaneval", "HumanEval/0")
    completion = ("    return _close(sorted(numbers), threshold)\n\n\n"
                  "def _close(xs, t):\n    return any(b - a < t for a, b in zip(xs, xs[1:]))\n\n\n"
                  "print(has_close_elements([1.0, 2.0], 0.5))\nassert has_close_elements([], 1.0) is True\n")
    kept = cut_at_stops(completion, default_stop("humaneval", "raw"))
    assert "def _close" in kept and "print(" not in kept and "assert" not in kept
    ok, err = runs_ok(solution_code(he, kept, "humaneval", "raw") + test_code(he, "humaneval"), tmp_path)
    assert ok, err
    chen = cut_at_stops(completion, ["\nclass", "\ndef", "\n#", "\nif", "\nprint"])
    ok, _ = runs_ok(solution_code(he, chen, "humaneval", "raw") + test_code(he, "humaneval"), tmp_path)
    assert not ok


# ----------------------------------------------------------------------------- completion -> program

_HE2_BODY = "    return number % 1.0\n"


def test_extract_code_choice_rules():
    reply = ("Try this:\n```python\ndef f(x):\n    return 1\n```\nBetter:\n```py\ndef f(x):\n    return 2\n```"
             "\nUsage:\n```python\nprint(f(3))\n```\n```bash\npython f.py\n```")
    assert extract_code(reply, "f") == "def f(x):\n    return 2\n"
    assert extract_code("```\n    return x\n```\n```python\nf(1)\n```") == "    return x\n"
    assert extract_code("```python\ndef f(x):\n    return [", "f") == "def f(x):\n    return ["  # unclosed
    assert extract_code("def f():\n    pass\n") == "def f():\n    pass"
    assert extract_code("```sh\nls\n```") == "ls\n"  # only other languages: take what there is


@pytest.mark.parametrize("fmt, completion", [
    ("chat", "Sure!\n```python\ndef truncate_number(number: float) -> float:\n" + _HE2_BODY + "```\n"),
    ("chat", "def truncate_number(number: float) -> float:\n" + _HE2_BODY),  # unfenced
    ("chat", "```python\n" + _HE2_BODY + "```"),                          # body: continues the stub
    ("chat", "```python\ndef truncate_number(number: float) -> float:\n" + _HE2_BODY +
     "\nassert truncate_number(3.5) == 0.4  # a wrong example\nif __name__ == '__main__':\n"
     "    print(truncate_number(float(input())))\n```"),
    ("chat_continue", _HE2_BODY + "```\n\nThis returns the decimal part."),
    ("raw", _HE2_BODY),
])
def test_solution_code_on_literal_completions(fmt, completion, tmp_path):
    he = by_id("humaneval", "HumanEval/2")
    program = solution_code(he, completion, "humaneval", fmt)
    assert program.count("def truncate_number") == 1
    ok, err = runs_ok(program + test_code(he, "humaneval"), tmp_path)
    assert ok, err


def test_solution_code_keeps_prompt_helpers_and_imports(tmp_path):
    # HumanEval/32's find_zero calls the prompt's `poly`; a reply that rewrites only find_zero
    # needs the prompt's preamble (imports + helpers) but not its stub.
    he = by_id("humaneval", "HumanEval/32")
    reply = ("```python\ndef find_zero(xs: list):\n    lo, hi = -1.0, 1.0\n"
             "    while poly(xs, lo) * poly(xs, hi) > 0:\n        lo, hi = lo * 2, hi * 2\n"
             "    for _ in range(100):\n        mid = (lo + hi) / 2\n"
             "        if poly(xs, lo) * poly(xs, mid) <= 0:\n            hi = mid\n"
             "        else:\n            lo = mid\n    return lo\n```")
    program = solution_code(he, reply, "humaneval", "chat")
    assert program.startswith("import math\n") and "def poly(" in program
    assert program.count("def find_zero") == 1
    ok, err = runs_ok(program + test_code(he, "humaneval"), tmp_path)
    assert ok, err


def test_mbpp_solution_code(tmp_path):
    p = by_id("mbpp", "Mbpp/17")
    code = "def square_perimeter(a):\n  return 4 * a\n"
    raw = solution_code(p, code + "[DONE]\nYou are an expert Python programmer", "mbpp", "raw")
    assert raw == code
    assert solution_code(p, "```python\n" + code + "```\n[DONE]", "mbpp", "raw") == code
    chat = solution_code(p, "Here:\n```python\n" + code + "print(square_perimeter(3))\n```", "mbpp", "chat")
    assert chat == code
    assert solution_code(p, code + "```", "mbpp", "chat_continue") == code
    assert test_code(p, "mbpp").strip() == "\n".join(p["test_list"]).strip()
    ok, err = runs_ok(raw + test_code(p, "mbpp"), tmp_path)
    assert ok, err
    ok, _ = runs_ok("def square_perimeter(a):\n  return a\n" + test_code(p, "mbpp"), tmp_path)
    assert not ok


@pytest.mark.parametrize("bench, ids", [
    ("humaneval", ["HumanEval/0", "HumanEval/32", "HumanEval/38", "HumanEval/64", "HumanEval/163"]),
    ("humaneval_plus", ["HumanEval/10", "HumanEval/32"]),
    ("mbpp", ["Mbpp/11", "Mbpp/367", "Mbpp/200", "Mbpp/450", "Mbpp/510"]),
    ("mbpp_plus", ["Mbpp/2", "Mbpp/120", "Mbpp/596"]),
])
def test_canonical_solutions_pass(bench, ids, tmp_path):
    for task_id in ids:
        p = by_id(bench, task_id)
        done = "\n[DONE]" if bench.startswith("mbpp") else ""
        program = solution_code(p, p["canonical_solution"] + done, bench, "raw") + test_code(p, bench)
        ok, err = runs_ok(program, tmp_path)
        assert ok, (task_id, err)
        # ... and a wrong solution fails the same tests (they really run).
        stub = p["prompt"] if bench.startswith("humaneval") else ""
        bad = stub + f"\ndef {p['entry_point']}(*args, **kwargs):\n    return None\n"
        ok, _ = runs_ok(bad + test_code(p, bench), tmp_path)
        assert not ok, task_id


def test_mbpp_test_import_fixes(tmp_path):
    # MBPP+ 120 (and 293, 742; 596 in MBPP and MBPP+) test with math./sys. but never import them.
    for bench, task_id, mod in [("mbpp_plus", "Mbpp/120", "math"), ("mbpp_plus", "Mbpp/293", "math"),
                                ("mbpp_plus", "Mbpp/742", "math"), ("mbpp_plus", "Mbpp/596", "sys"),
                                ("mbpp", "Mbpp/596", "sys")]:
        assert by_id(bench, task_id, None if bench == "mbpp_plus" else "validation")["test"].startswith(
            f"import {mod}\n"), (bench, task_id)
    p = by_id("mbpp_plus", "Mbpp/120")
    solution = "def max_product_tuple(pairs):\n    return max(abs(a * b) for a, b in pairs)\n"
    ok, err = runs_ok(solution + test_code(p, "mbpp_plus"), tmp_path)
    assert ok, err
    ok, _ = runs_ok(solution + "\n" + p["test"].replace("import math\n", "", 1), tmp_path)
    assert not ok  # without the fix a correct solution fails
    assert code_tasks.add_missing_imports("import math\nassert math.isclose(1, 1)\n").count("import math") == 1


def test_mbpp_plus_set_valued_assertions(tmp_path):
    # The prompt promises set comparison (`assert set(f(...)) == set(...)`); so does the test now.
    p = by_id("mbpp_plus", "Mbpp/2")
    assert "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))" in p["test"]
    solution = "def similar_elements(a, b):\n    return sorted(set(a) & set(b), reverse=True)\n"
    ok, err = runs_ok(solution + test_code(p, "mbpp_plus"), tmp_path)
    assert ok, err
    assert "set(extract_singly(" in by_id("mbpp_plus", "Mbpp/140")["test"]
    wrong = "def similar_elements(a, b):\n    return sorted(set(a) | set(b))\n"
    ok, _ = runs_ok(wrong + test_code(p, "mbpp_plus"), tmp_path)
    assert not ok  # set comparison still checks the elements


# evalplus 0.3.1 eval/_special_oracle.py, MBPP_OUTPUT_SET_EQ_TASKS: entry points, with the task ids
# of its comments. Written out here, as the upstream fact, so that a change to our list is deliberate.
EVALPLUS_SET_EQ = {"Mbpp/2": "similar_elements", "Mbpp/7": "find_char_long",
                   "Mbpp/111": "common_in_nested_lists", "Mbpp/140": "extract_singly",
                   "Mbpp/232": "larg_nnum", "Mbpp/249": "intersection_array",
                   "Mbpp/579": "find_dissimilar", "Mbpp/769": "Diff"}


def test_set_output_tasks_are_evalplus_list():
    assert code_tasks.SET_OUTPUT_TASKS == set(EVALPLUS_SET_EQ)
    from tinyforge import benchmarks
    assert benchmarks.SET_OUTPUT_TASKS is code_tasks.SET_OUTPUT_TASKS
    # EvalPlus matches by entry point: the shipped tasks with those ids have those entry points
    # (Mbpp/249 is not in MBPP+ v0.2.0), and no other shipped task has one of those names.
    shipped = {p["task_id"]: p["entry_point"] for p in load("mbpp_plus")}
    named = {t: e for t, e in shipped.items() if e in EVALPLUS_SET_EQ.values()}
    assert named == {t: e for t, e in EVALPLUS_SET_EQ.items() if t != "Mbpp/249"}
    assert "Mbpp/249" not in shipped


def test_test_code_plus_needs_a_hub_record():
    with pytest.raises(TinyforgeError, match="differentially"):
        test_code(load("humaneval_plus")[0], "humaneval_plus", plus=True)


# ----------------------------------------------------------------------------- --from-hub

_HE_ROW = {"task_id": "HumanEval/32", "prompt": "def find_zero(xs):\n    \"\"\"z\"\"\"\n",
           "entry_point": "find_zero", "canonical_solution": "    return 0.0\n",
           "test": "def check(candidate):\n    assert _poly(*candidate(*inp), inp) <= 0.0001\n"}


def _fake_hub(calls):
    rows = {
        "openai/openai_humaneval": [dict(_HE_ROW, test="def check(candidate):\n    assert True\n")],
        "evalplus/humanevalplus": [dict(_HE_ROW)],
        "google-research-datasets/mbpp": [{"task_id": 11, "text": "Remove chars.", "code": "def rm(s):\r\n  return s",
                                           "test_list": ["assert rm('a') == 'a'"], "test_setup_code": "",
                                           "challenge_test_list": []}],
        "evalplus/mbppplus": [{"task_id": 120, "code": "def mp(x):\n  return x\n",
                               "prompt": "Find it. https://example.org/page", "source_file": "x",
                               "test_imports": [], "test_list": ["assert math.isclose(mp(1), 1)"],
                               "test": "inputs = [[1]]\nfor i in inputs:\n    assert mp(*i) == i[0]\n"}],
        "openai/gsm8k": [{"question": "Q1?", "answer": "So 2+2=<<2+2=4>>4.\n#### 1,004"}],
        "madrylab/gsm8k-platinum": [{"question": load("gsm8k")[3]["question"], "answer": "x\n#### 7",
                                     "cleaning_status": "revised"}],
        "reasoning-machines/gsm-hard": [{"input": "Q?", "code": "def solution():\n    return -2.5",
                                         "target": -2.5}],
        "HuggingFaceH4/MATH-500": [{"problem": "P", "solution": "so $\\boxed{3}$", "answer": "3",
                                    "subject": "Algebra", "level": 1, "unique_id": "test/algebra/1.json"}],
        "HuggingFaceH4/aime_2024": [
            {"id": 61, "problem": "B", "solution": "", "answer": "033", "year": "2024",
             "url": "https://artofproblemsolving.com/wiki/index.php/2024_AIME_II_Problems/Problem_4"},
            {"id": 60, "problem": "A", "solution": "s", "answer": "204", "year": "2024",
             "url": "https://artofproblemsolving.com/wiki/index.php/2024_AIME_I_Problems/Problem_1"}],
        "yentinglin/aime_2025": [{"problem": "C", "answer": "70", "url": ""}],
    }

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return rows[path]
    return types.SimpleNamespace(load_dataset=load_dataset)


def test_from_hub_maps_to_the_same_records(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "datasets", _fake_hub(calls))
    he = load_benchmark("humaneval_plus", from_hub=True)[0]
    assert he["test"] == "def check(candidate):\n    assert True\n"  # HumanEval's base test
    assert "_poly(*inp, candidate(*inp))" in he["plus_test"] and "_poly(*candidate" not in he["plus_test"]
    assert test_code(he, "humaneval_plus", plus=True).endswith("check(find_zero)\n")
    mb = load_benchmark("mbpp", from_hub=True)[0]
    assert mb["task_id"] == "Mbpp/11" and mb["entry_point"] == "rm"
    assert ("google-research-datasets/mbpp", "full", "test") in calls
    mp = load_benchmark("mbpp_plus", from_hub=True)[0]
    assert mp["task_id"] == "Mbpp/120" and mp["prompt"] == '"""\nFind it. \nassert math.isclose(mp(1), 1)\n"""\n'
    assert mp["test"].startswith("import math\n") and mp["plus_test"].startswith("inputs")
    g = load_benchmark("gsm8k", from_hub=True)[0]
    assert g == {"task_id": "gsm8k/test/0", "problem": "Q1?", "question": "Q1?", "answer": "1004",
                 "answer_raw": "So 2+2=<<2+2=4>>4.\n#### 1,004"}
    pl = load_benchmark("gsm8k_platinum", from_hub=True)[0]
    assert pl["gsm8k_test_index"] == 3 and pl["answer"] == "7" and pl["cleaning_status"] == "revised"
    assert pl["answer_changed_vs_gsm8k"] is (load("gsm8k")[3]["answer"] != "7")
    assert load_benchmark("gsm_hard", from_hub=True)[0]["answer"] == -2.5
    assert ("reasoning-machines/gsm-hard", None, "train") in calls
    assert load_benchmark("math500", from_hub=True)[0]["task_id"] == "math500/test/algebra/1.json"
    aime = load_benchmark("aime24", from_hub=True)
    assert [a["task_id"] for a in aime] == ["aime24/2024-I-1", "aime24/2024-II-4"]
    assert aime[1]["answer"] == 33 and aime[1]["answer_str"] == "033"
    assert load_benchmark("aime25", from_hub=True)[0]["task_id"] == "aime25/2025-I-1"


def test_from_hub_errors_are_one_line(monkeypatch):
    def broken(path, name=None, split=None):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (LocalEntryNotFoundError)\n"
                              "Traceback detail that must not leak")
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=broken))
    with pytest.raises(TinyforgeError) as err:
        load_benchmark("gsm8k", from_hub=True)
    assert "\n" not in str(err.value) and "openai/gsm8k" in str(err.value)
    assert "ConnectionError" in str(err.value)

    def renamed(path, name=None, split=None):
        return [{"query": "Q", "answer": "#### 1"}]
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=renamed))
    with pytest.raises(TinyforgeError, match="lacks field.*question"):
        load_benchmark("gsm8k", from_hub=True)


def test_hub_copy_of_humaneval_plus_matches_native_and_task_32_passes(shared_bench, monkeypatch, tmp_path):
    # The shared OriginFmt file has the HF dataset's layout: map it as the hub copy would be.
    files = {"evalplus/humanevalplus": "humaneval_plus_originfmt.jsonl",
             "openai/openai_humaneval": "humaneval.jsonl"}

    def load_dataset(path, name=None, split=None):
        return [json.loads(line) for line in (shared_bench / files[path]).open()]
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    hub = load_benchmark("humaneval_plus", from_hub=True)
    native = load("humaneval_plus")
    for h, n in zip(hub, native):
        assert {k: h[k] for k in ("task_id", "prompt", "entry_point", "canonical_solution", "test")} == \
               {k: n[k] for k in ("task_id", "prompt", "entry_point", "canonical_solution", "test")}
    p = hub[32]
    program = solution_code(p, p["canonical_solution"], "humaneval_plus", "raw")
    ok, err = runs_ok(program + test_code(p, "humaneval_plus", plus=True), tmp_path, timeout=120)
    assert ok, err


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_benchmark_has_prompts_and_stops_in_all_its_formats(name):
    spec = BENCHMARKS[name]
    recs = load(name)
    code = spec.kind == "code"
    # what a model that answers like the reference would write: no stop set may cut it (DESIGN.md:
    # a wrong stop set cuts code and fakes a low score)
    refs = [p["canonical_solution"] if code else p.get("solution") or p.get("answer_raw") for p in recs]
    fmts = ("raw", "chat", "chat_continue") if code else ("raw", "chat")
    for fmt in fmts:
        stops = default_stop(name, fmt)
        assert all(type(s) is str and s for s in stops), (fmt, stops)
        assert [p["task_id"] for p, r in zip(recs, refs) if r and cut_at_stops(r, stops) != r] == [], fmt
        for p in recs[:3]:
            prompt = build_prompt(p, name, fmt)
            if fmt == "raw":
                assert type(prompt) is str
                text = prompt
            else:
                assert prompt[-1]["role"] == ("assistant" if fmt == "chat_continue" else "user")
                text = "\n".join(m["content"] for m in prompt)
            own = p["problem"] if not code else p["prompt"] if spec.family == "humaneval" else p["text"]
            assert own in text, (fmt, p["task_id"])
    # every record has a reference to check, except where the data has none: GSM-Hard carries a
    # program, AIME 2025 answers only
    assert all(refs) or name in ("gsm_hard", "aime25"), name
