"""MATH answer equivalence classes on literal strings: units, percent, tuples vs sets, other
spellings of one value, word answers, the Minerva final-answer sentence, and the vote key."""

import pytest

from tinyforge.grading import (
    extract_math_answer,
    grade_math,
    grade_math_batch,
    math_answers_equal,
    normalize_math_answer,
)

# Each class: (prediction, reference) pairs that must match, and pairs that must not.

UNITS_MATCH = [
    ("5", "5\\text{ cm}"),  # a unit on one side only: the question fixed it
    ("5\\text{ cm}", "5"),
    ("7\\mbox{ cm}", "7\\text{cm}"),
    ("7 cm", "7\\text{ cm}"),
    ("7cm", "7 \\mathrm{cm}"),
    ("7\\mathrm{cm}", "7 \\text{ centimeters}"),
    ("3\\text{ days}", "3\\text{ day}"),
    ("4 hours", "4\\text{ hr}"),
    ("9\\text{ inches}", "9\\text{ in.}"),
    ("2.5\\text{ lbs}", "2.5\\text{ pounds}"),
    ("12\\text{ ft}^2", "12\\text{ square feet}"),
    ("10\\text{ cm}^{2}", "10 \\text{ sq. centimeters}"),
    ("60\\text{ mph}", "60 \\text{ miles per hour}"),
    ("\\frac{3}{2}\\text{ kilograms}", "1.5\\text{ kg}"),  # same unit, math-verify on the values
    ("2\\sqrt{3}\\text{ cm}", "2\\sqrt3"),
    ("8\\text{ cm} \\text{ long}", "8 cm"),  # filler words are no unit
    ("20\\text{ students}", "20"),  # labels are dropped
    ("15 \\text{ ways}", "15\\text{ arrangements}"),
    ("4\\text{ square units}", "4"),
    ("90", "90^\\circ"),
    ("90 \\text{ degrees}", "90^\\circ"),
]

UNITS_NO_MATCH = [
    ("3\\text{ kg}", "3\\text{ g}"),
    ("2 days", "2 weeks"),
    ("2\\text{ hours}", "2\\text{ minutes}"),
    ("10\\text{ cm}", "10\\text{ m}"),
    ("6\\text{ mm}", "6 \\text{ centimeters}"),
    ("5 km", "5\\text{ mi}"),
    ("10\\text{ cm}^2", "10\\text{ cm}"),
    ("4\\text{ square feet}", "4\\text{ feet}"),
    ("50\\text{ cents}", "50\\text{ dollars}"),
    ("1.5\\text{ hours}", "90\\text{ minutes}"),  # no unit conversion
    ("3\\text{ km/h}", "3\\text{ mph}"),
    ("6\\text{ cm}", "5"),  # a unit on one side does not rescue a wrong value
]

PERCENT_MATCH = [
    ("0.5", "50\\%"),  # x\% is x/100
    ("\\frac12", "50\\%"),
    ("50\\%", "\\frac{1}{2}"),
    ("50\\%", "50\\%"),
    ("12.5\\%", "0.125"),
    ("\\frac18", "12.5\\%"),
    ("150\\%", "1.5"),
    ("100\\%", "1"),
    ("25%", "0.25"),
    ("50 \\text{ percent}", "50\\%"),
    ("\\frac{3}{400}", "\\frac34\\%"),
    ("10\\%, 20\\%", "0.1, 0.2"),
]

PERCENT_NO_MATCH = [
    ("\\frac34\\%", "\\frac34"),
    ("\\frac34", "\\frac34\\%"),
    ("50", "50\\%"),
    ("50\\%", "50"),
    ("25", "25 \\text{ percent}"),
    ("12.5\\%", "12.5"),
    ("0.5\\%", "0.5"),
    ("5\\%", "50\\%"),
]

TUPLE_SET_MATCH = [  # bare lists and intervals keep their old policies
    ("\\{3,1\\}", "\\{1,3\\}"),
    ("\\left\\{1,3\\right\\}", "\\{1, 3\\}"),
    ("\\lbrace 2,5 \\rbrace", "\\{5,2\\}"),
    ("3, 1", "\\{1,3\\}"),  # a bare list against a set is unordered
    ("1, 3", "(1,3)"),  # ... and matches an ordered pair in order
    ("(1,3)", "\\left( 1, 3 \\right)"),
    ("[1,3)", "[1, 3)"),
]

TUPLE_SET_NO_MATCH = [
    ("(1,3)", "\\{1,3\\}"),
    ("\\{1,3\\}", "(1,3)"),
    ("\\left(2, 5\\right)", "\\{2,5\\}"),
    ("\\lbrace 2,5 \\rbrace", "(2,5)"),
    ("\\{-1, 4\\}", "(-1,4)"),
    ("(0,1,2)", "\\{0,1,2\\}"),
    ("\\{3, 1\\}", "(1, 3)"),
    ("3, 1", "(1,3)"),
    ("(1,3)", "[1,3)"),
    ("[1,3)", "(1,3)"),
]

SPELLINGS_MATCH = [
    # repeating decimals
    ("0.\\overline{3}", "\\frac13"),
    ("0.1\\overline{6}", "\\frac16"),
    ("0.\\overline{142857}", "\\frac17"),
    ("1.\\overline{3}", "\\frac43"),
    ("-0.\\overline{6}", "-\\frac23"),
    ("0.\\bar{6}", "\\frac23"),
    ("0.\\overline{9}", "1"),
    ("0.(3)", "\\frac{1}{3}"),
    ("0.2(7)", "\\frac{5}{18}"),
    # pi without a backslash
    ("2pi", "2\\pi"),
    ("4pi", "4 \\pi"),
    ("pi/2", "\\frac{\\pi}{2}"),
    ("3pi/4", "\\frac{3\\pi}{4}"),
    ("\\frac{pi}{3}", "\\frac{\\pi}{3}"),
    ("\u03c0", "\\pi"),
    # the empty set
    ("\\varnothing", "\\emptyset"),
    ("\\{\\}", "\\varnothing"),
    ("\\{ \\}", "\\emptyset"),
    ("\\left\\{ \\right\\}", "\\varnothing"),
    ("{}", "\\emptyset"),
    ("\\text{the empty set}", "\\emptyset"),
    ("\u2205", "\\varnothing"),
    # scientific notation
    ("2.5e2", "250"),
    ("1.2E-3", "0.0012"),
    ("1e6", "1000000"),
    ("4E2", "400"),
    ("1.5e1", "\\frac{30}{2}"),
    ("2.5\\times10^{2}", "250"),
    ("3 \\times 10^{-2}", "0.03"),
    ("6.02\\cdot10^{3}", "6020"),
]

SPELLINGS_NO_MATCH = [
    ("0.\\overline{6}", "0.6"),
    ("0.\\overline{3}", "0.33"),
    ("0.(6)", "\\frac35"),
    ("0.1\\overline{6}", "\\frac{1}{9}"),
    ("2pi", "2"),
    ("pi", "3.14"),
    ("\\{0\\}", "\\emptyset"),
    ("\\{\\emptyset\\}", "\\varnothing"),
    ("0", "\\emptyset"),
    ("2.5e2", "25"),
    ("1.2E-3", "1.2"),
    ("2.5\\times10^{3}", "250"),
    ("2e-1", "0.2"),  # may be 2e - 1 (Euler's e): left to math-verify, which reads it so
]

WORDS_MATCH = [
    ("a hyperbola.", "hyperbola"),
    ("The circle", "\\text{circle}"),
    ("an ellipse!", "\\text{ellipse}"),
    ("\\text{a parabola}", "parabola"),
    ("\\text{The line}", "line"),
    ("Parabola.", "\\text{parabola}"),
    ("A.", "A"),  # a choice letter keeps its letter
    ("A", "\\text{(A)}"),
    ("(B)", "\\text{(B)}"),
]

WORDS_NO_MATCH = [
    ("a hyperbola", "\\text{parabola}"),
    ("the circle", "\\text{ellipse}"),
    ("A", "\\text{(B)}"),
    ("A, C", "C"),
    ("A B", "B"),
]

MATCH = UNITS_MATCH + PERCENT_MATCH + TUPLE_SET_MATCH + SPELLINGS_MATCH + WORDS_MATCH
NO_MATCH = (UNITS_NO_MATCH + PERCENT_NO_MATCH + TUPLE_SET_NO_MATCH + SPELLINGS_NO_MATCH
            + WORDS_NO_MATCH)


@pytest.mark.parametrize("pred, reference", UNITS_MATCH)
def test_units_match(pred, reference):
    equal, detail = math_answers_equal(pred, reference)
    assert equal, detail


@pytest.mark.parametrize("pred, reference", UNITS_NO_MATCH)
def test_units_differ(pred, reference):
    equal, detail = math_answers_equal(pred, reference)
    assert not equal, detail


def test_different_units_fail_without_sympy():
    assert math_answers_equal("3\\text{ kg}", "3\\text{ g}") == (False, "units differ: kg != g")


@pytest.mark.parametrize("pred, reference", PERCENT_MATCH)
def test_percent_is_its_value(pred, reference):
    equal, detail = math_answers_equal(pred, reference)
    assert equal, detail


@pytest.mark.parametrize("pred, reference", PERCENT_NO_MATCH)
def test_percent_sign_changes_the_value(pred, reference):
    equal, detail = math_answers_equal(pred, reference)
    assert not equal, detail


@pytest.mark.parametrize("pred, reference", TUPLE_SET_MATCH)
def test_sets_lists_and_intervals_keep_their_policies(pred, reference):
    equal, detail = math_answers_equal(pred, reference)
    assert equal, detail


@pytest.mark.parametrize("pred, reference", TUPLE_SET_NO_MATCH)
def test_tuple_is_not_a_set(pred, reference):
    equal, detail = math_answers_equal(pred, reference)
    assert not equal, detail


@pytest.mark.parametrize("pred, reference", SPELLINGS_MATCH)
def test_other_spellings_of_one_value(pred, reference):
    equal, detail = math_answers_equal(pred, reference)
    assert equal, detail


@pytest.mark.parametrize("pred, reference", SPELLINGS_NO_MATCH)
def test_other_spellings_do_not_merge_other_values(pred, reference):
    equal, detail = math_answers_equal(pred, reference)
    assert not equal, detail


@pytest.mark.parametrize("pred, reference", WORDS_MATCH)
def test_word_answers_without_articles_and_punctuation(pred, reference):
    equal, detail = math_answers_equal(pred, reference)
    assert equal, detail


@pytest.mark.parametrize("pred, reference", WORDS_NO_MATCH)
def test_word_answers_and_letters_stay_apart(pred, reference):
    equal, detail = math_answers_equal(pred, reference)
    assert not equal, detail


def test_grading_in_process_sees_the_resolved_values():
    # These pairs reach math-verify (no string shortcut): it must get values, not units or "%".
    pairs = [("\\boxed{50\\%}", "\\frac12"), ("\\boxed{\\frac34\\%}", "\\frac34"),
             ("\\boxed{\\frac{3}{2}\\text{ kilograms}}", "1.5\\text{ kg}"),
             ("\\boxed{\\{1,3\\}}", "(1,3)"), ("\\boxed{pi/2}", "\\frac{\\pi}{2}")]
    results = grade_math_batch(pairs, workers=0, timeout=10)
    assert [r["passed"] for r in results] == [True, False, True, False, True]


@pytest.mark.parametrize(
    "completion, reference, passed",
    [("\\boxed{25\\%}", 25, True),  # AIME: the question fixed what the integer counts
     ("\\boxed{25 \\text{ ways}}", 25, True),
     ("\\boxed{25\\text{ cm}}", "025", True),
     ("\\boxed{26\\%}", 25, False)],
)
def test_aime_ignores_units_and_percent(completion, reference, passed):
    assert grade_math(completion, reference, kind="aime")["passed"] is passed


# ----------------------------------------------------------------------------- Minerva format

RAMBLING = (
    "So the answer is $\\boxed{16}$.\n"
    "Final Answer: The final answer is $16$. I hope it is correct.\n\n"
    "Problem:\nWhat is $1+1$?\n\nSolution:\nWe have $1+1=\\boxed{2}$.\n"
    "Final Answer: The final answer is $2$. I hope it is correct."
)


@pytest.mark.parametrize(
    "completion, answer, method",
    [
        (RAMBLING, "16", "final_answer"),  # the first sentence, as lm-eval's minerva_math
        ("Final Answer: The final answer is $[2,5)$. I hope it is correct.\n\nProblem: Find x."
         "\n\nSolution: $x = \\boxed{7}$.", "[2,5)", "final_answer"),
        ("Final Answer: The final answer is $\\boxed{5}$. I hope it is correct.", "5",
         "final_answer"),
        ("Final Answer: The final answer is 12. I hope it is correct. The final answer is 13.",
         "12", "final_answer"),
        ("final answer: the final answer is $-\\frac{2}{3}$.  I hope it is correct.",
         "-\\frac{2}{3}", "final_answer"),
        ("The final answer is $x=3$. I hope it is correct. \\boxed{4}", "x=3", "final_answer"),
        # an empty sentence is no answer; a chat model's box still works
        ("Final Answer: The final answer is . I hope it is correct. So \\boxed{4}", "4", "boxed"),
        ("First \\boxed{3}, then \\boxed{4}.", "4", "boxed"),
        # no "I hope it is correct": the loose "final answer is" comes after the box
        ("So \\boxed{4}. The final answer is 5.", "4", "boxed"),
        ("The final answer is $5$.\nI hope it is correct.", "5", "final_answer"),
    ],
)
def test_extract_minerva_sentence_first(completion, answer, method):
    assert extract_math_answer(completion) == (answer, method)


def test_minerva_sentence_counts_without_fallback():
    assert extract_math_answer(RAMBLING, fallback=False) == ("16", "final_answer")
    assert extract_math_answer("The final answer is 5.", fallback=False) == (None, "none")


@pytest.mark.parametrize("reference, passed", [("16", True), ("2", False)])
def test_grade_math_rambling_minerva_completion(reference, passed):
    assert grade_math(RAMBLING, reference)["passed"] is passed


# ----------------------------------------------------------------------------- vote key


@pytest.mark.parametrize(
    "variants",
    [
        ["50\\%", "0.5", "50 \\text{ percent}", "$50\\%$"],
        ["0.\\overline{6}", "\\frac23", "0.(6)", "0.6\\overline{6}"],
        ["2.5e2", "250", "2.5\\times10^{2}", "2.5 \\cdot 10^2"],
        ["\\varnothing", "\\emptyset", "\\{\\}", "\\{ \\}", "\\text{the empty set}"],
        ["2pi", "2\\pi", "2\u03c0"],
        ["a hyperbola.", "Hyperbola", "\\text{the hyperbola}"],
        ["3\\text{ kg}", "3 kilograms", "3\\mbox{ kg}", "3kg"],
        ["2 days", "2\\text{ day}", "2\\text{ Days}"],
        ["12 \\text{ students}", "12"],
        ["\\lbrace 1,3 \\rbrace", "\\left\\{1, 3\\right\\}", "\\{1,3\\}"],
    ],
)
def test_vote_key_agrees_on_variants(variants):
    assert len({normalize_math_answer(v) for v in variants}) == 1, variants


@pytest.mark.parametrize("pred, reference", NO_MATCH)
def test_vote_key_never_merges_answers_the_grader_tells_apart(pred, reference):
    assert normalize_math_answer(pred) != normalize_math_answer(reference)
