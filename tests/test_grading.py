"""tinyforge.grading on literal strings: GSM8K numbers, MATH/AIME LaTeX, the timed worker pool."""

import time
from fractions import Fraction

import pytest

from tinyforge import grading
from tinyforge.grading import (
    Gsm8kExtraction,
    extract_gsm8k,
    extract_math_answer,
    grade_gsm8k,
    grade_gsm8k_batch,
    grade_math,
    grade_math_batch,
    last_boxed,
    math_answers_equal,
    normalize_math_answer,
    numbers_equal,
    parse_gsm8k_reference,
    parse_number,
)

# ----------------------------------------------------------------------------- GSM8K extraction


@pytest.mark.parametrize(
    "completion, answer, flexible",
    [
        ("Natalia sold 48/2 = 24 clips in May.\n#### 72", "72", "72"),
        # Several "####": the last one is the committed answer (tests/test_grading_gsm8k.py).
        ("She has 3 + 4 = 7.\n#### 72\n\nQuestion: How many? #### 5", "5", "5"),
        ("The answer is $1,000.", "1000", "1000"),
        ("The answer is: **$1,234.50**", "1234.5", "1234.5"),
        ("So the answer is -5.", "-5", "-5"),
        ("It loses -$5 a day. The answer is −7", "-7", "-7"),
        ("Each costs 42.00 dollars. The answer is 42.00", "42", "42"),
        ("Answer: 3/4", "0.75", "0.75"),
        ("Final: \\boxed{18 \\text{ dollars}}", "18", "18"),
        ("$\\boxed{\\frac{3}{4}}$", "0.75", "0.75"),
        ("The final answer is \\boxed{2 \\times 9 = 18}.", "18", "18"),
        ("The answer is 5 cm. Check: 5 + 1 = 6, minus 1 is 5 cm", "5", "5"),
        ("I thought the answer is 3. No: 2 + 2 = 4. The answer is 4.", "4", "4"),
        ("The answer is 12, but wait: \\boxed{13}", "13", "13"),
        ("The answer is 18 minus 3", "18", "3"),
        # No marker: the committed answer is the last number.
        ("She has 18 dollars left.", "18", "18"),
        ("5-3 = 2", "2", "2"),
        ("It is 0.5 or .25", "0.25", "0.25"),
        ("The answer is the sum of them all.", None, None),
        ("No numbers here.", None, None),
    ],
)
def test_extract_gsm8k(completion, answer, flexible):
    extraction = extract_gsm8k(completion)
    assert (extraction.answer, extraction.flexible) == (answer, flexible)
    assert isinstance(extraction, Gsm8kExtraction)


@pytest.mark.parametrize(
    "answer_field, expected",
    [
        ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72", "72"),
        ("Total 1450000 dollars.\n#### 1,450,000", "1450000"),
        ("It fell by 3.\n#### -3", "-3"),
    ],
)
def test_parse_gsm8k_reference(answer_field, expected):
    assert parse_gsm8k_reference(answer_field) == expected


def test_parse_gsm8k_reference_without_number_raises():
    with pytest.raises(ValueError, match="no number after '####'"):
        parse_gsm8k_reference("blah\n#### ?")


@pytest.mark.parametrize(
    "text, expected",
    [("$1,000.00", Fraction(1000)), ("\\frac{3}{4} of it", Fraction(3, 4)),
     ("-.5", Fraction(-1, 2)), ("about 18 cm", Fraction(18)), ("none", None)],
)
def test_parse_number(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    "a, b, equal",
    [
        ("42.00", 42, True),
        ("1/2", "0.5", True),
        ("3", "30", False),
        ("3244047.1", 3244047.0999999996, True),  # GSM-Hard float noise
        ("-9867625", -9867630.0, False),  # no relative slack on large GSM-Hard targets
        ("0.33", 1 / 3, False),
        ("0.3333333", 1 / 3, True),
        ("abc", 1, False),
    ],
)
def test_numbers_equal(a, b, equal):
    assert numbers_equal(a, b) is equal


# ----------------------------------------------------------------------------- GSM8K grading


def test_grade_gsm8k_strict_pass_from_dataset_answer_field():
    result = grade_gsm8k("So 48 + 24 = 72. The answer is 72.", "48+24=<<48+24=72>>72\n#### 72")
    assert result["passed"] and result["flexible_passed"]
    assert result["status"] == "pass"
    assert result["extracted"] == "72" and result["flexible"] == "72"


def test_grade_gsm8k_without_marker_grades_the_last_number():
    result = grade_gsm8k("Natalia sold 72 clips", "#### 72")
    assert result["passed"] is True and result["status"] == "pass"
    assert result["flexible_passed"] is True and result["strict_passed"] is False
    assert result["extracted"] == "72" and result["strict"] is None
    assert "no answer marker" in result["detail"]


def test_grade_gsm8k_wrong_answer():
    result = grade_gsm8k("#### 30", "#### 3")
    assert (result["passed"], result["flexible_passed"], result["status"]) == (False, False, "fail")
    assert result["detail"] == "#### 30 != 3"


@pytest.mark.parametrize(
    "completion, target, passed",
    [
        ("The answer is -9867630", -9867630.0, True),
        ("The answer is -9,867,630.", -9867630.0, True),
        ("The answer is -9867631", -9867630.0, False),
        ("The answer is 3244047.1", 3244047.0999999996, True),
    ],
)
def test_grade_gsm8k_hard_float_targets(completion, target, passed):
    assert grade_gsm8k(completion, target)["passed"] is passed


def test_grade_gsm8k_unreadable_reference_is_an_error_not_a_crash():
    result = grade_gsm8k("The answer is 5", "no number here")
    assert result["status"] == "error" and result["passed"] is False


def test_grade_gsm8k_batch_keeps_order():
    results = grade_gsm8k_batch([("The answer is 1", "#### 1"), ("The answer is 2", "#### 3")])
    assert [r["passed"] for r in results] == [True, False]


# ----------------------------------------------------------------------------- MATH extraction


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so \\boxed{\\frac{1}{\\sqrt{2}}} and more", "\\frac{1}{\\sqrt{2}}"),
        ("first \\boxed{1}, finally \\boxed{2}.", "2"),
        ("\\fbox{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}",
         "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
        ("\\boxed{1} then cut off \\boxed{2", "1"),  # the truncated box is not an answer
        ("hence $\\boxed 5$.", "5"),
        ("\\boxed{}", ""),
        ("no box here", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    "completion, answer, method",
    [
        ("We get $x=2$, so \\boxed{2}.", "2", "boxed"),
        ("Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.", "\\frac{1}{2}",
         "final_answer"),
        ("The final answer is 12.", "12", "final_answer"),
        ("We get $x=3$. Then $y = 4$.", "y = 4", "last_math"),
        ("Thus \\(7\\) apples.", "7", "last_math"),
        ("It costs $5 in total.\nSo $x = 2$.", "x = 2", "last_math"),
        ("It costs \\$5 and more.", None, "none"),
        ("no math at all", None, "none"),
    ],
)
def test_extract_math_answer(completion, answer, method):
    assert extract_math_answer(completion) == (answer, method)


def test_extract_math_answer_without_fallback_needs_a_box():
    assert extract_math_answer("The final answer is 12.", fallback=False) == (None, "none")


# ----------------------------------------------------------------------------- MATH equivalence

MATCH = [  # (prediction, reference)
    ("10", "10\\text{ cm}"),
    ("10 \\mbox{ cm}", "10"),
    ("864", "864 \\mbox{ inches}^2"),
    ("B", "\\text{(B)}"),
    ("(B)", "\\text{(B)}"),
    ("\\textbf{(C) } 12", "\\text{(C)}"),
    ("\\text{A, C}", "A, C"),
    ("Evelyn", "\\text{Evelyn}"),
    ("evelyn", "Evelyn"),
    ("[1,3)", "[1, 3)"),
    ("(-\\infty, 0]", "\\left(-\\infty,0\\right]"),
    ("(2,\\infty)\\cup(-\\infty,-2)", "(-\\infty, -2) \\cup (2, \\infty)"),
    ("2, 1", "1, 2"),  # a bare list in the reference is unordered
    ("\\{2, 1\\}", "1,2"),
    ("1, 2", "(1, 2)"),  # same order as the ordered pair
    ("(3, -0.5)", "\\left( 3, -\\frac{1}{2} \\right)"),
    ("(6, 31, -1)", "(6,31,-1)"),
    ("0.5", "50\\%"),  # a percent is its value (x\% = x/100)
    ("90", "90^\\circ"),
    ("90^{\\circ}", "90"),
    ("1000", "1{,}000"),
    ("1,000", "1000"),
    ("10080", "10,\\!080"),
    ("10\\,000", "10000"),
    ("10 000", "10000"),
    ("\\$32,348", "\\$32,\\!348"),
    ("3", "x=3"),
    ("x = 3", "3"),
    ("2x+3", "y = 2x + 3"),
    ("\\frac12", "\\dfrac{1}{2}"),
    ("0.5", "\\frac12"),
    ("\\tfrac{3}{4}", "0.75"),
    ("18.90", "\\$18.90"),
    ("\\$18.9", "18.90"),
    ("10.", "10"),
    ("\\$18.90.", "\\$18.90"),
    ("\\frac{\\sqrt3}{2}", "\\frac{1}{2}\\sqrt{3}"),
    ("\\sqrt{8}", "2\\sqrt2"),
    ("\\frac{275}{2}", "137 \\frac{1}{2}"),
    ("\\frac{270}{7}", "\\frac{270}7\\text{ degrees}"),
    ("(x+2)(x+5)", "x^2+7x+10"),
    ("-2, 1+\\sqrt5, 1-\\sqrt5", "\\{1\\pm\\sqrt{5},-2\\}"),
    ("\\begin{pmatrix} -\\frac13 \\\\ \\frac23 \\end{pmatrix}",
     "\\begin{pmatrix} -1/3 \\\\ 2/3 \\end{pmatrix}"),
    ("\u22125", "-5"),
    ("0.0000672", ".0000672"),
    ("1.250", "1.25"),
    ("2i+3", "3+2i"),
    ("$\\frac{1}{2}$", "\\frac{1}{2}"),
]

NO_MATCH = [  # (prediction, reference)
    ("3", "30"),
    ("30", "3"),
    ("-2", "2"),
    ("(2,1)", "(1,2)"),  # ordered pair
    ("(1,-2)", "(-2,1)"),
    ("\\{2,1\\}", "(1,2)"),
    ("(1,3)", "[1,3)"),
    ("[1,3]", "[1,3)"),
    ("y = 3", "x = 3"),
    ("\\text{(C)}", "\\text{(B)}"),
    ("(B) 12", "\\text{(C)}"),
    ("10\\,000", "0"),  # math-verify alone reads 10\,000 as 10*0
    ("10 000", "0"),
    ("1,000", "1"),
    ("12", "1,2"),
    ("2 3", "23"),
    ("0.5", "50"),
    ("50", "50\\%"),  # the percent sign changes the value (tests/test_grading_math.py)
    ("50\\%", "50"),
    ("0.5\\%", "0.5"),
    ("2.5", "2,5"),
    ("0.333", "\\frac13"),
    ("\\$50", "\\$5"),
    ("\\text{Devon}", "\\text{Evan}"),
    ("1+\\sqrt{19}", "1 \\pm \\sqrt{19}"),
    ("90\\text{ minutes}", "1.5\\text{ hours}"),
    ("x-1", "x+1"),
    ("1-i", "1+i"),
    ("\\frac{2}{1}", "\\frac12"),
    ("3.01", "3"),
    ("\\text{even}", "\\text{odd}"),
    ("(0,36)", "(0,9) \\cup (9,36)"),
    ("\\pi r", "\\pi"),
    ("", "1"),
]


@pytest.mark.parametrize("pred, reference", MATCH)
def test_math_answers_equal(pred, reference):
    equal, detail = math_answers_equal(pred, reference)
    assert equal, detail


@pytest.mark.parametrize("pred, reference", NO_MATCH)
def test_math_answers_not_equal(pred, reference):
    equal, detail = math_answers_equal(pred, reference)
    assert not equal, detail


@pytest.mark.parametrize(
    "variants",
    [
        ["\\dfrac{1}{2}", "\\frac12", "\\frac{1}{2}", "$\\frac 12$"],
        ["x=3", "3", "3.", "3.00", "\\text{3}"],
        ["\\$1{,}000.00", "1000", "1,000", "1\\,000"],
        ["\\text{(B)}", "(B)", "B", "\\textbf{B}"],
        ["90^\\circ", "90", "90^{\\circ}"],
        ["\\text{Evelyn}", "Evelyn", "evelyn"],
        ["\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"],
    ],
)
def test_normalize_math_answer_agrees_on_variants(variants):
    assert len({normalize_math_answer(v) for v in variants}) == 1, variants


@pytest.mark.parametrize("a, b", [("2 3", "23"), ("(1,2)", "(2,1)"), ("x=3", "y=4"),
                                  ("0.5", "\\frac12")])  # the last: votes are on strings
def test_normalize_math_answer_keeps_distinct_answers_apart(a, b):
    assert normalize_math_answer(a) != normalize_math_answer(b)


# ----------------------------------------------------------------------------- AIME


@pytest.mark.parametrize(
    "completion, reference, passed",
    [
        ("\\boxed{025}", 25, True),
        ("\\boxed{25}", "025", True),
        ("\\boxed{25.0}", 25, True),
        ("\\boxed{x = 25}", 25, True),
        ("$100 + 13 = \\boxed{\\textbf{(113) }}$", 113, True),  # AoPS style
        ("so $180 + 24 = 204$", 204, True),
        ("\\boxed{250}", 25, False),
        ("\\boxed{24.5}", 25, False),
        ("\\boxed{\\frac{50}{2}}", 25, False),  # AIME answers are written as integers
        ("no answer", 25, False),
    ],
)
def test_grade_aime_compares_integers(completion, reference, passed):
    result = grade_math(completion, reference, kind="aime")
    assert result["passed"] is passed
    assert result["status"] == ("pass" if passed else "fail")


def test_grade_aime_bad_reference_is_an_error():
    assert grade_math("\\boxed{3}", "three", kind="aime")["status"] == "error"


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="kind must be"):
        grade_math("\\boxed{3}", "3", kind="gsm8k")
    with pytest.raises(ValueError, match="kind must be"):
        grade_math_batch([("\\boxed{3}", "3")], kind="gsm8k")


# ----------------------------------------------------------------------------- MATH grading


def test_grade_math_result_shape():
    result = grade_math("So the answer is $\\boxed{\\dfrac{1}{2}}$.", "\\frac12")
    assert result == {"passed": True, "status": "pass", "extracted": "\\dfrac{1}{2}",
                      "method": "boxed", "detail": "boxed: normalized strings equal"}


def test_grade_math_reference_with_a_full_solution_uses_its_last_box():
    solution = "Half of 10 is $\\boxed{5}$ so the total is $\\boxed{15}$."
    assert grade_math("\\boxed{15}", solution)["passed"]
    assert not grade_math("\\boxed{5}", solution)["passed"]


def test_grade_math_in_process_timeout():
    # 9^(9^9) makes sympy compute a huge power; the SIGALRM timer interrupts it.
    start = time.monotonic()
    result = grade_math("\\boxed{9^{9^{9}}}", "1", timeout=1)
    assert result["status"] == "timeout" and result["passed"] is False
    assert time.monotonic() - start < 30


BATCH = [
    ("\\boxed{\\frac12}", "0.5", "pass"),
    ("\\boxed{9^{9^{9}}}", "1", "timeout"),
    ("\\boxed{(2,1)}", "(1,2)", "fail"),
    ("no box, no math", "3", "fail"),
    ("\\boxed{10\\,000}", "0", "fail"),
    ("The final answer is $x = 3$.", "3", "pass"),
    ("\\boxed{\\frac12}", "0.5", "pass"),  # a duplicate pair is graded once and reported twice
]


@pytest.mark.parametrize("workers", [0, 1])
def test_grade_math_batch_survives_a_hang(workers):
    start = time.monotonic()
    results = grade_math_batch([(c, r) for c, r, _ in BATCH], workers=workers, timeout=1)
    assert [r["status"] for r in results] == [s for _, _, s in BATCH]
    assert [r["passed"] for r in results] == [s == "pass" for _, _, s in BATCH]
    assert results[1]["detail"] == "boxed: grading exceeded 1s"
    assert results[3]["extracted"] is None and results[5]["method"] == "final_answer"
    assert time.monotonic() - start < 60


def test_grade_math_batch_empty():
    assert grade_math_batch([]) == []


def test_grade_math_batch_aime_bad_reference_costs_one_item():
    results = grade_math_batch([("\\boxed{3}", "three"), ("\\boxed{3}", 3)], kind="aime")
    assert [r["status"] for r in results] == ["error", "pass"]


# ----------------------------------------------------------------------------- worker pool
# `eval` is the pooled function so the spawned workers need not import this test module.

SLEEP_30 = "__import__('time').sleep(30)"
# SIGALRM blocked, then a sleep: like a hang inside C code, the in-worker timer never fires.
DEAF_SLEEP_30 = ("(__import__('signal').pthread_sigmask(__import__('signal').SIG_BLOCK,"
                 " {__import__('signal').SIGALRM}), __import__('time').sleep(30))")


def test_pool_soft_timeout_keeps_the_worker_going():
    start = time.monotonic()
    out = grading._pool_map(eval, [("1 + 1",), (SLEEP_30,), ("2 * 3",)], workers=1, timeout=0.5)
    assert out == [("ok", 2), ("timeout", None), ("ok", 6)]
    assert time.monotonic() - start < 20


def test_pool_kills_and_replaces_a_worker_deaf_to_the_timer():
    start = time.monotonic()
    out = grading._pool_map(eval, [(DEAF_SLEEP_30,), ("7",)], workers=1, timeout=0.5, grace=0.5)
    assert out == [("timeout", None), ("ok", 7)]
    assert time.monotonic() - start < 20


def test_pool_replaces_a_dead_worker_and_reports_errors():
    out = grading._pool_map(eval, [("__import__('os')._exit(3)",), ("1/0",), ("'x' * 2",)],
                            workers=1, timeout=5)
    assert out[0] == ("error", "grading worker died (exit code 3)")
    assert out[1][0] == "error" and out[1][1].startswith("ZeroDivisionError")
    assert out[2] == ("ok", "xx")


def test_pool_leaves_no_worker_behind():
    import multiprocessing

    out = grading._pool_map(eval, [(SLEEP_30,), ("1",)], workers=2, timeout=0.5, grace=0.5)
    assert out == [("timeout", None), ("ok", 1)]  # the workers really ran (and one hung)
    assert multiprocessing.active_children() == []
