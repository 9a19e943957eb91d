"""tinyforge.mining on literal strings: problem parsing and validity, de-duplication, decontamination,
completion cleaning, pair records."""

from __future__ import annotations

import ast
import json

import pytest

from tinyforge import execution, mining, tasks
from tinyforge.benchmarks import load_benchmark
from tinyforge.io import DataError, read_jsonl, write_jsonl

GENERATED = '''def running_max(xs: list) -> list:
    """Return the list of running maxima of xs.
    >>> running_max([1, 3, 2])
    [1, 3, 3]
    """
### Tests
assert running_max([1, 3, 2]) == [1, 3, 3]
assert running_max([]) == []
assert running_max([5, 1]) == [5, 5]
assert running_max([5, 1]) == [5, 5]
assert True
assert running_max([2]) == running_max([2])

### Problem
def next_one(x):
'''

SOLUTION_BODY = '''    out, best = [], None
    for x in xs:
        best = x if best is None else max(best, x)
        out.append(best)
    return out
'''


def _problem(text=GENERATED):
    prob, why = mining.parse_generated_problem(text)
    assert why == "ok", why
    return {"task_id": "self/0_0", **prob}


def test_parse_keeps_stub_and_distinct_nontrivial_asserts():
    prob, why = mining.parse_generated_problem(GENERATED)
    assert why == "ok" and prob["entry_point"] == "running_max"
    assert prob["prompt"].startswith("def running_max(xs: list) -> list:\n") and prob["prompt"].endswith('    """\n')
    # the duplicate, the constant and the self-comparison are gone
    assert prob["test"].splitlines() == ["assert running_max([1, 3, 2]) == [1, 3, 3]",
                                         "assert running_max([]) == []", "assert running_max([5, 1]) == [5, 5]"]
    assert prob["n_asserts"] == 3
    ast.parse(prob["prompt"] + "    pass\n" + prob["test"])


def test_parse_chat_reply_drops_the_solution_body_and_keeps_imports():
    reply = ("Here is a problem:\n```python\nfrom typing import List\n\n\ndef total(xs: List[int]) -> int:\n"
             '    """Sum the numbers in xs, ignoring negative ones."""\n    return sum(x for x in xs if x > 0)\n\n'
             "assert total([1, -2, 3]) == 4\nassert total([]) == 0\nassert total([-1]) == 0\n```\nEnjoy!")
    prob, why = mining.parse_generated_problem(reply)
    assert why == "ok"
    assert prob["prompt"] == ('from typing import List\n\n\ndef total(xs: List[int]) -> int:\n'
                              '    """Sum the numbers in xs, ignoring negative ones."""\n')
    assert "return" not in prob["prompt"]


def test_parse_salvages_a_generation_cut_mid_assert():
    cut = GENERATED.split("assert True")[0] + "assert running_max([7, 8]) == [7,"
    prob, why = mining.parse_generated_problem(cut)
    assert why == "ok" and prob["n_asserts"] == 3


def test_parse_check_function_tests():
    text = ('def sq(x):\n    """Square of the number x."""\n\n\ndef check(candidate):\n'
            "    assert candidate(2) == 4\n    assert candidate(-3) == 9\n    assert candidate(0) == 0\n"
            "    assert 1 == 1\n")
    prob, why = mining.parse_generated_problem(text)
    assert why == "ok" and prob["test"].startswith("def check(candidate):") and prob["n_asserts"] == 3
    assert mining.count_test_asserts(prob["test"], "sq") == 3


@pytest.mark.parametrize("text,reason", [
    ("this is not code (", "no_code"),
    ("x = 1\nassert x == 1\n", "no_function"),
    ("def f(x):\n    return x\nassert f(1) == 1\nassert f(2) == 2\nassert f(3) == 3\n", "no_docstring"),
    ('def f(x):\n    """Return x plus one."""\nassert f(1) == 2\nassert f(1) == 2\nassert True\n', "few_asserts"),
    ('@cache\ndef f(x):\n    """Return x plus one, cached."""\n', "decorated"),
    ('def f(x):\n    """Return x plus one."""\nassert f(1, 2) == 2\nassert f(2) == 3\nassert f(3) == 4\n', "bad_call"),
    ('def f(x, y):\n    """Return x plus y."""\nassert f(1) == 2\nassert f(2, 1) == 3\nassert f(3, 1) == 4\n', "bad_call"),
])
def test_parse_rejects_with_a_reason(text, reason):
    assert mining.parse_generated_problem(text) == (None, reason)


@pytest.mark.parametrize("sig,call,fits", [
    ("def f(a, b=1, *, c, d=2)", "f(1, c=3)", True),
    ("def f(a, b=1, *, c, d=2)", "f(1, 2)", False),  # c is required
    ("def f(a, b=1, *, c, d=2)", "f(1, 2, 3, c=1)", False),
    ("def f(a, b=1, *, c, d=2)", "f(1, c=3, e=4)", False),
    ("def f(*xs, **kw)", "f(1, 2, 3, e=4)", True),
    ("def f(a)", "f(*args)", True),
])
def test_call_fits_the_signature(sig, call, fits):
    fn = ast.parse(sig + ":\n    pass\n").body[0]
    assert mining.call_fits(fn, ast.parse(call).body[0].value) is fits


def test_trivially_true_tests_are_caught_in_the_sandbox():
    weak = _problem('def is_ok(n):\n    """Say whether n is a fine number."""\n'
                    "assert is_ok(1) == True\nassert is_ok(2) == True\nassert is_ok(3) == True\n")
    echo = _problem('def ident(v):\n    """Return v unchanged, as given."""\n'
                    "assert ident(1) == 1\nassert ident('a') == 'a'\nassert ident([]) == []\n")
    real = _problem()
    verdicts = [[r.passed for r in execution.run_batch(mining.trivial_test_jobs(p), workers=1)]
                for p in (weak, echo, real)]
    assert any(verdicts[0]) and any(verdicts[1]) and not any(verdicts[2])
    # and the real problem is solvable: the stub plus a body passes
    assert execution.check_code(real, SOLUTION_BODY).passed


def test_problem_dedup_by_text_and_signature():
    d = mining.ProblemDeduper()
    a = _problem()
    assert d.add(a)
    reformatted = dict(a, prompt=a["prompt"].replace("Return the list", "Return   the LIST"))
    assert not d.add(reformatted)  # same words
    renamed_doc = dict(a, prompt=a["prompt"].replace("running maxima", "prefix maxima"))
    assert not d.add(renamed_doc)  # same entry point and parameters
    other = _problem('def other(a, b):\n    """Return a times b, a new task."""\n'
                     "assert other(1, 2) == 2\nassert other(2, 2) == 4\nassert other(0, 5) == 0\n")
    assert d.add(other)
    assert mining.signature_key(a) == "running_max(xs)"


def test_mbpp_train_as_humaneval_stubs():
    recs = {r["task_id"]: r for r in load_benchmark("mbpp", split="train")}
    assert mining.mbpp_as_humaneval(recs["Mbpp/601"]) is None  # its tests need the reference's class Pair
    p = mining.mbpp_as_humaneval(recs["Mbpp/603"])
    assert p["entry_point"] == "get_ludic" and p["prompt"].startswith("def get_ludic(n):\n")
    assert ">>> get_ludic(10)" in p["prompt"] and p["test"].count("assert ") == 3
    # the reference solution passes the converted problem; a wrong body fails it
    assert execution.check_code({"test": p["test"], "entry_point": p["entry_point"]}, p["canonical_solution"]).passed
    assert not execution.check_code(p, "    return []\n").passed


def test_decontamination_catches_an_edited_humaneval_copy_and_passes_a_novel_problem():
    index = mining.decontam_index()
    he = {p["task_id"]: p for p in load_benchmark("humaneval")}
    src = he["HumanEval/0"]["prompt"]
    edited = (src.replace("has_close_elements", "any_two_close").replace("Check if", "Tell whether")
              .replace("    ", "  ").replace("threshold", "limit"))
    assert edited != src
    assert "humaneval/HumanEval/0" in index.hits(edited)
    novel = _problem()
    assert index.hits(mining.problem_text(novel)) == []
    gsm = load_benchmark("gsm8k")[5]["question"]
    assert any(h.startswith("gsm8k/") for h in index.hits("def f():\n    '''" + gsm.upper() + "'''\n"))


def test_decontam_index_n_and_short_items():
    idx = mining.DecontamIndex.build([("a/1", "one two three four five six seven"), ("b/1", "tiny item")], n=5)
    assert idx.hits("zero one two three four five nine") == ["a/1"]
    assert idx.hits("one two three four nine five") == []  # no 5 words in a row
    assert idx.hits("a TINY-item here") == ["b/1"]  # shorter than n: matched whole
    assert idx.hits("tiny other item") == []


def test_clean_raw_completion_keeps_body_and_used_helpers():
    p = _problem()
    raw = ("    return _scan(xs)\n\n\ndef _scan(xs):\n    # running maximum\n" + SOLUTION_BODY +
           "\n\ndef unused():\n    return 1\n\n\nprint(running_max([1]))\n### Problem\ndef next_one(x):\n")
    clean = mining.clean_completion(p, raw, "raw")
    assert clean.startswith("    return _scan(xs)\n") and "def _scan(xs):" in clean
    assert "unused" not in clean and "print" not in clean and "next_one" not in clean
    assert execution.check_code(p, clean).passed


def test_clean_chat_reply_is_one_fenced_function():
    p = _problem()
    reply = ("Sure! Here it is:\n```python\nimport os\n\ndef running_max(xs):\n" + SOLUTION_BODY +
             "\nprint(running_max([3, 1]))\nassert running_max([1]) == [2]\n```\nThis works.")
    clean = mining.clean_completion(p, reply, "chat")
    assert clean.startswith("```python\ndef running_max(xs):") and clean.endswith("\n```")
    assert "import os" not in clean and "print" not in clean and "assert" not in clean
    program = mining.solution_program(p, clean, "chat")
    assert execution.run_batch([execution.code_job({"test": p["test"], "entry_point": "running_max"}, program)],
                               workers=1)[0].passed


def test_clean_drops_top_level_values_named_like_a_parameter():
    p = _problem()
    reply = ("```python\nLIMIT = 10\nxs = [1, 2, 3]\n\ndef running_max(xs):\n    assert len(xs) < LIMIT\n"
             + SOLUTION_BODY + "\n\nxs = [4, 5]\n```")
    clean = mining.clean_completion(p, reply, "chat")
    assert "LIMIT = 10" in clean and "xs = [" not in clean  # the global it reads stays, the stray value goes


def test_equivalent_solutions_normalize_alike():
    p = _problem()
    a = SOLUTION_BODY
    b = SOLUTION_BODY.replace("    out, best", "    # two accumulators\n    out,best").replace("out.append(best)",
                                                                                           "out.append( best )")
    c = SOLUTION_BODY.replace("max(best, x)", "max(x, best)")
    assert mining.normalized_solution(p, a, "raw") == mining.normalized_solution(p, b, "raw")
    assert mining.normalized_solution(p, a, "raw") != mining.normalized_solution(p, c, "raw")
    chat_a = "```python\ndef running_max(xs):\n" + a + "```"
    chat_b = '```python\ndef running_max(xs):\n    """Docs differ."""\n' + b + "```"
    assert mining.normalized_solution(p, chat_a, "chat") == mining.normalized_solution(p, chat_b, "chat")


def test_mine_pairs_distinct_verified_solutions_and_fields():
    p = _problem()
    c = SOLUTION_BODY.replace("max(best, x)", "max(x, best)")
    def row(j, passed, completion):
        return {"id": f"self/0_0/{j}", "task_id": "self/0_0", "sample_idx": j, "passed": passed,
                "completion": completion}

    rows = [row(0, False, "    return xs\n"), row(1, True, SOLUTION_BODY),
            row(2, True, SOLUTION_BODY.replace("    return out", "    # done\n    return out")), row(3, True, c)]
    def code(fmt, k=1):
        return tasks.CodeTasks(tasks.AttemptSettings(format=fmt, max_pairs_per_problem=k))

    one = code("raw").pairs([p], rows, "bootstrap/self")
    assert [x["meta"]["attempt_id"] for x in one] == ["self/0_0/1"]
    many = code("raw", 4).pairs([p], rows, "bootstrap/self")
    assert [x["meta"]["attempt_id"] for x in many] == ["self/0_0/1", "self/0_0/3"]  # /2 is /1 plus a comment
    pair = many[0]
    assert {"id", "prompt", "completion", "source", "task_id", "meta"} <= set(pair)
    assert pair["prompt"] == p["prompt"] and pair["completion"] == SOLUTION_BODY
    assert pair["source"] == "bootstrap/self" and pair["meta"]["format"] == "raw"
    assert pair["meta"]["n_verified"] == 3 and pair["meta"]["n_distinct"] == 2
    assert len({x["id"] for x in many}) == 2
    fenced = "```python\ndef running_max(xs):\n" + SOLUTION_BODY + "```"
    chat = code("chat").pairs([p], [dict(rows[1], completion=fenced)], "s")[0]
    assert chat["meta"]["format"] == "chat" and "```python\n" + p["prompt"].rstrip() in chat["prompt"]


def test_generation_prompt_formats():
    seeds = mining.seed_problems()
    ex = mining.pick_exemplars(seeds, 3, seed=1)
    assert ex == mining.pick_exemplars(seeds, 3, seed=1) and ex != mining.pick_exemplars(seeds, 3, seed=2)
    raw = mining.generation_prompt(ex, "raw")
    assert raw.startswith(mining.GEN_HEADER) and raw.endswith("### Problem\n") and raw.count("### Tests") == 3
    # every exemplar is itself a valid problem under the parser the model's output goes through
    for e in ex:
        assert mining.parse_generated_problem(mining.format_example(e))[1] == "ok"
    chat = mining.generation_prompt(ex, "chat")
    assert chat[0]["role"] == "user" and all(e["prompt"].rstrip() in chat[0]["content"] for e in ex)


def test_problem_file_errors_name_file_and_line(tmp_path):
    f = tmp_path / "probs.jsonl"
    good = {"task_id": "t/1", "prompt": 'def f(x):\n    """Return x."""\n', "entry_point": "f",
            "test": "assert f(1) == 1\n"}
    f.write_text(json.dumps(good) + "\n\n" + json.dumps({k: v for k, v in good.items() if k != "test"}) + "\n")
    with pytest.raises(DataError, match=r"probs\.jsonl:3: missing field 'test'"):
        mining.load_problem_file(f)
    f.write_text(json.dumps(good) + "\n" + json.dumps(dict(good, prompt="def (:")) + "\n")
    with pytest.raises(DataError, match=r"probs\.jsonl:2: field 'prompt'"):
        mining.load_problem_file(f)


def test_shortest_reference_first():
    probs = [{"task_id": "long", "canonical_solution": "def f(x):\n    y = x\n    return y\n"},
             {"task_id": "none"},
             {"task_id": "short", "canonical_solution": "def f(x):\n    return x\n"},
             {"task_id": "short2", "canonical_solution": "def f(x):\n\n    return x + 1\n"}]
    assert [p["task_id"] for p in mining.order_by_reference_length(probs)] == ["short", "short2", "long", "none"]


def test_shipped_pairs_pass_their_tasks_tests():
    """data/pairs_smollm2_135m_mbpp_chat.jsonl: every pair is a solution its MBPP task's asserts verify."""
    from tests.conftest import REPO
    from tinyforge.evaluation import grade_samples

    pairs = read_jsonl(REPO / "data" / "pairs_smollm2_135m_mbpp_chat.jsonl")
    by_id = {p["task_id"]: p for p in mining.seed_problems("train")}
    samples = [{"id": p["id"], "task_id": p["task_id"], "completion": p["completion"]} for p in pairs]
    rows = grade_samples(samples, by_id, kind="code", bench="humaneval", fmt="chat", workers=2, progress=False)
    assert len(rows) == len(pairs) and all(r["passed"] for r in rows)
    broken = [{**s, "completion": f"```python\ndef {p['meta']['entry_point']}(*args):\n    return object()\n```"}
              for s, p in zip(samples[:3], pairs)]
    assert not any(r["passed"] for r in grade_samples(broken, by_id, kind="code", bench="humaneval", fmt="chat",
                                                     workers=2, progress=False))
