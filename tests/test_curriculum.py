"""The curricula: problem generators (deterministic, right answers, tests that pass the reference and
fail wrong bodies in the sandbox), the band controller, math pairs, and the three scripts
(curriculum_math, curriculum_code, math_bootstrap) end to end on a tiny random model. The happy paths
use a scripted fake sampler (tests/fakes.py) that answers level-1 problems correctly and everything harder wrongly, so the
level must go 1 -> 2 -> back down; training is real (tinyforge.training on the tiny model)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import load_script, run_script
from tests.fakes import fake_factories
from tinyforge import cli, curriculum, execution, mining, problems, tasks
from tinyforge.benchmarks import load_benchmark
from tinyforge.grading import grade_gsm8k
from tinyforge.io import SettingsError, TinyforgeError, read_jsonl
from tinyforge.pairs import PAIR_FIELDS


def _load(script: str):
    return load_script(f"recipe/{script}.py")


def _main(script: str, argv: list[str]) -> dict:
    return run_script(f"recipe/{script}.py", argv)


# ---------------------------------------------------------------------------------------------------
# Controller

def test_controller_moves_up_down_stays_and_respects_bounds():
    assert curriculum.next_level(3, 0.9, 0.3, 0.7, 10) == 4
    assert curriculum.next_level(3, 0.1, 0.3, 0.7, 10) == 2
    assert curriculum.next_level(3, 0.5, 0.3, 0.7, 10) == 3
    assert curriculum.next_level(3, 0.7, 0.3, 0.7, 10) == 3 and curriculum.next_level(3, 0.3, 0.3, 0.7, 10) == 3
    assert curriculum.next_level(1, 0.0, 0.3, 0.7, 10) == 1
    assert curriculum.next_level(10, 1.0, 0.3, 0.7, 10) == 10
    curriculum.check_band(0.5, 0.5)
    # from Python the error names the settings field; cli.py turns it into the flag (test below)
    with pytest.raises(SettingsError, match="band_low: 0.8 is above the band's high end 0.2") as e:
        curriculum.check_band(0.8, 0.2)
    assert e.value.field == "band_low"
    with pytest.raises(SettingsError, match=r"band_high: 1.5: .*in \[0, 1\]"):
        curriculum.check_band(0.3, 1.5)


# ---------------------------------------------------------------------------------------------------
# Math problems

_LINE = re.compile(r"^(\d+) ([-+*/]) (\d+) = (\d+)$")


@pytest.mark.parametrize("level", [1, 2, 3, 5, 8, 10])
def test_synthetic_math_answers_follow_from_level_many_exact_operations(level):
    for i in range(6):
        p = problems.synthetic_math_problem(7, 2, level, i)
        assert p == problems.synthetic_math_problem(7, 2, level, i)  # deterministic
        lines = p["solution"].splitlines()
        assert lines[-1] == f"#### {p['answer']}"
        assert len(lines) - 1 == level  # one worked line per operation
        value = None
        for ln in lines[:-1]:
            a, op, b, c = _LINE.match(ln).groups()
            a, b, c = int(a), int(b), int(c)
            assert c == {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op] and (op != "/" or a == b * c)
            assert c >= 1
            value = c
        assert str(value) == p["answer"] and p["level"] == level
        assert grade_gsm8k(f"So she has {p['answer']} left.\n#### {p['answer']}", p["answer"])["passed"]
        assert p["problem"].endswith("?") and str(p["meta"]["start"]) in p["problem"]


def test_synthetic_math_problems_vary_and_rounds_differ():
    qs = [problems.synthetic_math_problem(0, 1, 2, i)["problem"] for i in range(30)]
    assert len(set(qs)) == 30
    assert len({q.split()[0] for q in qs}) > 5  # names / openings vary
    assert problems.synthetic_math_problem(0, 1, 2, 0) != problems.synthetic_math_problem(0, 2, 2, 0)
    assert problems.synthetic_math_problem(0, 1, 2, 0) != problems.synthetic_math_problem(1, 1, 2, 0)
    src = problems.problem_source("math", "synthetic", 0)
    r1 = src.draw(2, 3, 1, set())
    r2 = src.draw(3, 3, 2, {p["meta"]["key"] for p in r1})
    assert [p["task_id"] for p in r1] == ["r01/L2/0000", "r01/L2/0001", "r01/L2/0002"]
    assert [p["task_id"] for p in r2][0] == "r02/L3/0000" and all(p["level"] == 3 for p in r2)


def test_gsm8k_train_levels_are_calculation_steps():
    train = load_benchmark("gsm8k", split="train")
    assert problems.gsm8k_steps(train[0]) == 2  # "48/2=24", "48+24=72"
    top = problems.gsm8k_max_level(train)
    assert top == 8  # 43 items have >= 8 steps, 3 have 9
    src = problems.problem_source("math", "gsm8k_train", 0)
    assert src.max_level == top
    a = src.draw(3, 5, 1, set())
    assert a == src.draw(3, 5, 1, set())
    assert [p["task_id"] for p in a] == [f"r01/L3/{i:04d}" for i in range(5)]
    assert all(p["level"] == 3 and p["meta"]["steps"] == 3 and p["meta"]["source_id"].startswith("gsm8k/train/")
               for p in a)
    b = src.draw(3, 5, 2, {p["meta"]["key"] for p in a})
    assert not {p["meta"]["key"] for p in a} & {p["meta"]["key"] for p in b}  # fresh items first
    assert all(p["meta"]["steps"] >= top for p in src.draw(top, 5, 1, set()))  # the top level takes the rest


def test_math_prompts_are_the_gsm8k_ones():
    p = problems.synthetic_math_problem(0, 1, 2, 0)
    raw = tasks.MathTasks(tasks.AttemptSettings(format="raw")).prompt(p)
    assert raw.endswith(f"Question: {p['problem']}\nAnswer:") and raw.count("Question:") == 9
    assert tasks.MathTasks(tasks.AttemptSettings(format="raw", shots=2)).prompt(p).count("Question:") == 3
    chat = tasks.MathTasks(tasks.AttemptSettings(format="chat")).prompt(p)
    assert chat[-1]["content"].startswith(p["problem"]) and "\\boxed{}" in chat[-1]["content"]


def test_mine_math_pairs_keeps_distinct_finished_verified_solutions():
    p = {"task_id": "r01/L1/0000", "problem": "Mia has 2 apples. She buys 3 more. How many apples?",
         "answer": "5", "level": 1}
    rows = [{"id": "a/0", "task_id": p["task_id"], "sample_idx": 0, "passed": True, "finish_reason": "length",
             "completion": " 2 + 3 = 5\n#### 5 and so"},
            {"id": "a/1", "task_id": p["task_id"], "sample_idx": 1, "passed": True, "finish_reason": "stop",
             "completion": " 2 + 3 = 5\n#### 5\nNext one"},
            {"id": "a/2", "task_id": p["task_id"], "sample_idx": 2, "passed": True, "finish_reason": "stop",
             "completion": "  2 + 3 =  5\n####  5\n"},
            {"id": "a/3", "task_id": p["task_id"], "sample_idx": 3, "passed": False, "finish_reason": "stop",
             "completion": " #### 6"}]
    pairs = tasks.MathTasks(tasks.AttemptSettings(format="raw", max_pairs_per_problem=4)).pairs([p], rows, "s")
    assert [x["completion"] for x in pairs] == [" 2 + 3 = 5\n#### 5"]  # cut after the answer; a/2 is a/1
    assert set(PAIR_FIELDS) <= set(pairs[0]) and pairs[0]["meta"]["format"] == "raw"
    assert pairs[0]["prompt"].endswith("Answer:") and pairs[0]["meta"]["n_verified"] == 3


# ---------------------------------------------------------------------------------------------------
# Code problems

def test_synthetic_code_reference_passes_and_wrong_bodies_fail_in_the_sandbox():
    probs = [problems.synthetic_code_problem(3, 1, level, i)
             for level in (1, 2, 4, 7, problems.SYNTH_MAX_LEVEL) for i in range(3)]
    assert probs[0] == problems.synthetic_code_problem(3, 1, 1, 0)
    assert {p["meta"]["family"] for p in probs} == {"list", "text"}
    jobs, wrong = [], []
    for p in probs:
        assert len(p["meta"]["ops"]) == p["level"]
        assert mining.count_test_asserts(p["test"], p["entry_point"]) >= 3
        jobs.append(execution.code_job(p, p["canonical_solution"], timeout=10))
        wrong += mining.trivial_test_jobs(p)  # return None / True / False / the argument
        # every step shows in the tests: a solution that leaves out any one of them fails
        lines = p["canonical_solution"].splitlines(keepends=True)
        wrong += [execution.code_job(p, "".join(lines[:j] + lines[j + 1:]), timeout=10)
                  for j in range(len(lines)) if not lines[j].strip().startswith("return")]
    results = execution.run_batch(jobs + wrong, workers=2)
    ok, bad = results[:len(jobs)], results[len(jobs):]
    assert all(r.passed for r in ok), [r.detail for r in ok if not r.passed]
    assert len(bad) > 4 * len(probs) and not any(r.passed for r in bad)


def test_a_case_sensitive_count_is_not_passed_by_a_case_insensitive_one():
    probs = [p for p in (problems.synthetic_code_problem(0, 1, 1, i) for i in range(400))
             if p["meta"]["ops"] == ["count"]]
    assert probs
    misread = [p["canonical_solution"].replace("text.count(", "text.lower().count(") for p in probs]
    assert all("text.lower().count(" in body for body in misread)
    jobs = [execution.code_job(p, p["canonical_solution"], timeout=10) for p in probs]
    jobs += [execution.code_job(p, body, timeout=10) for p, body in zip(probs, misread)]
    results = execution.run_batch(jobs, workers=2)
    assert all(r.passed for r in results[:len(probs)]) and not any(r.passed for r in results[len(probs):])


def test_mbpp_levels_order_by_reference_length():
    src = problems.problem_source("code", "mbpp_train", 0)
    assert src.max_level == problems.MBPP_LEVELS
    sizes = [[problems._ref_lines(p) for p in b] for b in src.levels]
    assert all(max(a) <= min(b) for a, b in zip(sizes, sizes[1:]))
    got = src.draw(2, 3, 4, set())
    assert [p["task_id"] for p in got] == ["r04/L2/0000", "r04/L2/0001", "r04/L2/0002"]
    assert all(set(mining.PROBLEM_FIELDS) <= set(p) and p["meta"]["source_id"].startswith("Mbpp/") for p in got)


# ---------------------------------------------------------------------------------------------------
# The scripts end to end

GSM8K_EVAL = {p["question"]: p["answer"] for p in load_benchmark("gsm8k", limit=2)}
HE_EVAL = {p["prompt"]: p["canonical_solution"] for p in load_benchmark("humaneval", limit=2)}


def _answers(out_dir: Path, solve):
    """The fake model's rule (tests/fakes.py): the problems of the run (read from its
    rounds/*/problems.jsonl) right when `solve(problem)` says so and wrongly otherwise; the evaluation
    benchmarks' first items always right."""
    def answer(text: str):
        known = {}
        for f in sorted(out_dir.glob("rounds/*/problems.jsonl")):
            for p in read_jsonl(f):
                key = p.get("problem") or p["prompt"]
                right = f"Step by step.\n#### {p['answer']}" if "answer" in p else p["canonical_solution"]
                known[key] = right if solve(p) else ("#### -1" if "answer" in p else "    return None\n")
        known.update({q: f"So.\n#### {a}" for q, a in GSM8K_EVAL.items()})
        known.update(HE_EVAL)
        # the last known text in the prompt is its task (a raw GSM8K prompt shows exemplars first)
        hits = [(text.rfind(k), v) for k, v in known.items() if k in text]
        return [max(hits, key=lambda h: h[0])[1]] if hits else ["no idea"]
    return answer


class _Made(list):
    """The samplers made, in order; `rule["solve"]` says which problems they answer right."""


@pytest.fixture
def stand_in():
    made = _Made()
    made.rule = {"solve": lambda p: p.get("level") == 1}
    made.out = None

    def samplers(adapters=None):
        return fake_factories(_answers(made.out, lambda p: made.rule["solve"](p)), made=made)(adapters)

    made.samplers = samplers
    return made


def _main_fake(script: str, argv: list[str], made) -> dict:
    mod = _load(script)
    args = mod.build_parser().parse_args(argv)
    made.out = Path(args.out_dir)
    return mod.main(args, samplers=made.samplers)


def _train(model) -> list[str]:
    return ["--model", str(model), "--epochs", "1", "--lora-rank", "4", "--max-len", "256"]


def _png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _check_rounds(out: Path, m: dict, bench: str):
    assert m["curve/level"] == [1, 2]  # all of level 1 solved (rate 1.0 > 0.7): up; none of level 2: down
    assert (m["round/1/solve_rate"], m["round/2/solve_rate"]) == (1.0, 0.0)
    assert (m["round/1/next_level"], m["round/2/next_level"]) == (2, 1)
    assert (m["round/1/pairs"], m["round/2/pairs"], m["mined_pairs"]) == (2, 0, 2)
    assert m["round/1/trained"] and not m["round/2/trained"] and m["round/1/train/steps"] >= 1
    for f in ("problems.jsonl", "attempts.jsonl", "verified.jsonl", "pairs.jsonl", "round.json",
              "adapter/adapter_config.json"):
        assert (out / "rounds/r01" / f).exists(), f
    assert not (out / "rounds/r02/adapter").exists()  # no pair in round 2: round 1's adapter stays
    assert m["round/2/adapter"] == "rounds/r01/adapter" and m["final_adapter"] == str(out / "rounds/r01/adapter")
    assert [p["task_id"] for p in read_jsonl(out / "rounds/r02/problems.jsonl")] == ["r02/L2/0000", "r02/L2/0001"]
    assert _png(out / "curriculum.png")
    for k in (f"before/{bench}/pass@1", f"after/{bench}/pass@1", f"delta/{bench}/pass@1"):
        assert k in m, k
    assert json.loads((out / "metrics.json").read_text()) == m


def test_curriculum_math_moves_the_level_trains_evaluates_and_resumes(tiny_llama, tmp_path, stand_in):
    out = tmp_path / "run"
    argv = ["--format", "chat", "--limit", "2", "--iterations", "2", "--n-attempts", "2", "--out-dir", str(out),
            *_train(tiny_llama)]
    m = _main_fake("curriculum_math", argv, stand_in)
    _check_rounds(out, m, "gsm8k")
    assert m["before/gsm8k/pass@1"] == m["after/gsm8k/pass@1"] == 1.0 and m["before/gsm8k/n_tasks"] == 2
    pairs = read_jsonl(out / "rounds/r01/pairs.jsonl")
    assert all(p["meta"]["format"] == "chat" and p["completion"].endswith("#### " + p["meta"]["answer"]) and
               p["source"] == "curriculum_math/synthetic" for p in pairs)
    # round 1 solves with the base, round 2 with round 1's adapter; the evaluation holds the final one
    adapter = str(out / "rounds/r01/adapter")
    assert [s.adapters for s in stand_in] == [[], [adapter], [adapter]]
    assert [c["lora"] for c in stand_in[2].calls] == [False, adapter]
    # a re-run loads no model; a killed round 2 (no round.json, torn verification) is finished from its files
    assert _main_fake("curriculum_math", argv, stand_in)["curve/level"] == [1, 2] and len(stand_in) == 3
    (out / "rounds/r02/round.json").unlink()
    ver = out / "rounds/r02/verified.jsonl"
    lines = ver.read_text().splitlines(keepends=True)
    ver.write_text(lines[0] + lines[1][:15])
    again = _main_fake("curriculum_math", argv, stand_in)
    assert len(stand_in) == 3 and len(read_jsonl(ver)) == 4
    assert {k: v for k, v in again.items() if not k.startswith("time/")} == \
        {k: v for k, v in m.items() if not k.startswith("time/")}
    # more rounds extend the run: round 3 starts at the level round 2 chose, with round 1's adapter
    more = _main_fake("curriculum_math", [*argv[:5], "3", *argv[6:]], stand_in)
    assert more["curve/level"] == [1, 2, 1] and more["round/3/pairs"] == 2 and more["round/3/train/pairs"] == 4
    final = str(out / "rounds/r03/adapter")
    assert stand_in[3].adapters == [adapter] and more["final_adapter"] == final
    # the new final adapter is evaluated afresh; the base's samples are kept
    assert stand_in[4].adapters == [final] and [c["lora"] for c in stand_in[4].calls] == [final]
    with pytest.raises(TinyforgeError, match="other settings"):
        _main_fake("curriculum_math", [*argv, "--band-high", "0.9"], stand_in)


def test_curriculum_code_moves_the_level_trains_evaluates(tiny_llama, tmp_path, stand_in):
    out = tmp_path / "run"
    m = _main_fake("curriculum_code", ["--limit", "2", "--iterations", "2", "--n-attempts", "2", "--workers", "1",
                                       "--out-dir", str(out), *_train(tiny_llama)], stand_in)
    _check_rounds(out, m, "humaneval")
    assert m["before/humaneval_plus/pass@1"] == m["after/humaneval/pass@1"] == 1.0
    rows = read_jsonl(out / "rounds/r01/verified.jsonl")
    assert len(rows) == 4 and all(r["passed"] for r in rows)  # the reference bodies pass their own tests
    assert not any(r["passed"] for r in read_jsonl(out / "rounds/r02/verified.jsonl"))
    pairs = read_jsonl(out / "rounds/r01/pairs.jsonl")
    assert [p["id"] for p in pairs] == ["r01/L1/0000/pair0", "r01/L1/0001/pair0"]
    assert pairs[0]["meta"]["format"] == "raw" and pairs[0]["source"] == "curriculum_code/synthetic"


def test_math_bootstrap_is_the_loop_without_levels(tiny_llama, tmp_path, stand_in):
    stand_in.rule["solve"] = lambda p: p["task_id"] == "r01/any/0000"
    out = tmp_path / "run"
    argv = ["--format", "chat", "--limit", "2", "--iterations", "2", "--n-attempts", "2", "--out-dir", str(out),
            *_train(tiny_llama)]
    m = _main_fake("math_bootstrap", argv, stand_in)
    probs = [read_jsonl(out / f"rounds/r0{r}/problems.jsonl") for r in (1, 2)]
    assert all(p["source"] == "gsm8k_train" and p["meta"]["source_id"].startswith("gsm8k/train/")
               for ps in probs for p in ps)
    assert not {p["meta"]["key"] for p in probs[0]} & {p["meta"]["key"] for p in probs[1]}
    assert m["curve/level"] == [None, None] and m["round/1/next_level"] is None
    assert m["curve/solve_rate"] == [0.5, 0.0] and m["mined_pairs"] == 1 and m["round/1/mean_steps"] >= 1
    assert m["final_adapter"] == str(out / "rounds/r01/adapter") and "delta/gsm8k/pass@1" in m
    assert _png(out / "curriculum.png")
    assert _main_fake("math_bootstrap", argv, stand_in)["mined_pairs"] == 1 and len(stand_in) == 3


def test_no_pair_in_any_round_stops_before_the_evaluation(tiny_llama, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--format", "chat", "--limit", "2", "--iterations", "2", "--n-attempts", "1", "--max-new-tokens", "8",
            "--out-dir", str(out), *_train(tiny_llama)]
    with pytest.raises(TinyforgeError, match=r"no verified pairs in 2 round\(s\) \(levels 1, 1"):
        _main("curriculum_math", argv)  # the real tiny model: nothing it writes is right
    m = json.loads((out / "metrics.json").read_text())
    assert m["curve/level"] == [1, 1] and m["curve/solve_rate"] == [0.0, 0.0] and m["mined_pairs"] == 0
    assert not (out / "eval").exists() and not list(out.glob("rounds/*/adapter"))
    assert _png(out / "curriculum.png")
    # as a command: the finished rounds are read back (no model is loaded), one line on stderr, exit 2
    capsys.readouterr()
    mod = _load("curriculum_math")
    with pytest.raises(SystemExit) as e:
        cli.run(mod.main, mod.build_parser, argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and err[0].startswith("error: no verified pairs")


def test_bad_band_is_one_clear_error_before_anything_is_written(tmp_path, capsys):
    mod = _load("curriculum_code")
    with pytest.raises(SystemExit) as e:
        cli.run(mod.main, mod.build_parser,
                ["--band-low", "0.8", "--band-high", "0.2", "--out-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and err == ["error: --band-low 0.8 is above the band's high end 0.2: the band is "
                                         "the solve-rate range [low, high] the level is held in"]
    assert not (tmp_path / "r").exists()
    with pytest.raises(TinyforgeError, match="--start-level 9: the gsm8k_train source has levels 1-8"):
        _main("curriculum_math", ["--problem-source", "gsm8k_train", "--start-level", "9",
                                  "--out-dir", str(tmp_path / "m")])


@pytest.mark.parametrize("script", ["curriculum_math", "curriculum_code", "math_bootstrap"])
def test_help(script, capsys):
    with pytest.raises(SystemExit) as e:
        _load(script).build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--iterations" in out and ("--band-low" in out) == (script != "math_bootstrap")
    assert ("--workers" in out) == (script == "curriculum_code")


def test_guide_command_parses():
    mod = _load("curriculum_math")
    a = mod.build_parser().parse_args("--model Qwen/Qwen2.5-3B --iterations 16 --tag curr_3b_rerun".split())
    assert (a.model, a.iterations, a.problems_per_round, a.band_low, a.band_high, a.max_len) == \
        ("Qwen/Qwen2.5-3B", 16, 64, 0.3, 0.7, 2048)
    assert str(cli.run_dir(a, "curriculum_math")) == "runs/curriculum_math/curr_3b_rerun"
    assert mod.build_parser().parse_args(["--problems_per_round", "8", "--band_low", "0.2"]).problems_per_round == 8


def test_raw_math_pair_needs_its_first_hash_answer_right():
    # The grader passes a completion that corrects itself ("#### 6 ... #### 5"); a raw pair is cut after
    # its first "#### N" line, so it would teach the wrong answer: left out. Chat pairs keep the verdict.
    from tinyforge.evaluation import grade_samples

    p = {"task_id": "r01/L1/0001", "problem": "Mia has 2 apples. She buys 3 more. How many apples?",
         "answer": "5", "level": 1}
    attempts = [{"id": f"b/{i}", "task_id": p["task_id"], "sample_idx": i, "finish_reason": "stop", "completion": c}
                for i, c in enumerate([" 2 + 3 = 6\n#### 6\nNo: 2 + 3 = 5\n#### 5", " 2 + 3 = 5\n#### 5",
                                       " 2 + 3 = 5, so she has 5 apples."])]
    rows = grade_samples(attempts, {p["task_id"]: p}, kind="gsm8k", progress=False)
    assert [r["passed"] for r in rows] == [True, True, True]
    raw = tasks.MathTasks(tasks.AttemptSettings(format="raw", max_pairs_per_problem=4)).pairs([p], rows, "s")
    assert [x["completion"] for x in raw] == [" 2 + 3 = 5\n#### 5"]
    chat = tasks.MathTasks(tasks.AttemptSettings(format="chat", max_pairs_per_problem=4)).pairs([p], rows, "s")
    assert len(chat) == 3
