"""GSM8K answer policy on literal strings: which answer a completion commits to (last marker,
"A: N", words, scientific notation), and lm-eval's strict / flexible readings beside it."""

import pytest

from tinyforge.grading import extract_gsm8k, grade_gsm8k, parse_gsm8k_reference


def answer_of(completion):
    return extract_gsm8k(completion).answer


# ----------------------------------------------------------------------------- last marker wins


@pytest.mark.parametrize(
    "completion, answer",
    [
        ("The answer is 12. Wait, I misread: the answer is 13.", "13"),
        ("The answer is 12, but wait: \\boxed{13}", "13"),
        ("\\boxed{13}. Let me restate: the answer is 12.", "12"),
        ("The answer is 12.\n#### 13", "13"),
        ("#### 13\nThe answer is 12", "12"),
        ("The answer is 12.\nA: 13", "13"),
        ("**Answer**: 14. Checking: 7 * 2 = 14.", "14"),
        # a later marker with nothing readable after it does not erase an earlier answer
        ("The answer is 12. The answer is the sum of both.", "12"),
        ("The answer is 12. So the final answer is below:\n3 + 4 = 7", "12"),
        # the marker's number, not a later number in the working
        ("The answer is 12 apples, since 3 * 4 = 12 and 12 - 0 = 12 and 99 is too many", "12"),
    ],
)
def test_last_marker_wins(completion, answer):
    assert answer_of(completion) == answer


@pytest.mark.parametrize(
    "completion, reference, passed",
    [
        ("The answer is 12. Wait, the answer is 13.", 13, True),
        ("The answer is 12. Wait, the answer is 13.", 12, False),
        ("\\boxed{12} ... no: \\boxed{13}", 12, False),
    ],
)
def test_last_marker_decides_the_verdict(completion, reference, passed):
    assert grade_gsm8k(completion, reference)["passed"] is passed


# ----------------------------------------------------------------------------- several ####


@pytest.mark.parametrize(
    "completion, answer, strict",
    [
        ("3 + 9 = 12\n#### 12\nOops, 3 + 10 = 13\n#### 13", "13", "12"),
        ("#### 5\n#### 6\n#### 7", "7", "5"),
        ("#### 72\n\nQuestion: How many? #### 5", "5", "72"),
        # an empty or unreadable last "####" falls back to the previous one
        ("#### 12\nHmm.\n####", "12", "12"),
        ("#### 12\n#### ?", "12", "12"),
        ("#### 12", "12", "12"),
    ],
)
def test_several_hash_markers_last_one_is_the_answer(completion, answer, strict):
    extraction = extract_gsm8k(completion)
    assert (extraction.answer, extraction.strict) == (answer, strict)


def test_several_hash_markers_passed_and_strict_passed_disagree():
    result = grade_gsm8k("#### 12\nNo, it is 13.\n#### 13", "#### 13")
    assert (result["passed"], result["strict_passed"], result["extracted"]) == (True, False, "13")
    result = grade_gsm8k("#### 12\nNo, it is 13.\n#### 13", "#### 12")
    assert (result["passed"], result["strict_passed"]) == (False, True)


# ----------------------------------------------------------------------------- "A: N" final line

# Final-line shapes of openai/grade-school-math example_model_solutions.jsonl, with the verdict
# ("is_correct") OpenAI gives them against the question's answer.
OPENAI_SOLUTIONS = [
    ("Janet eats 3 duck eggs for breakfast and bakes 4 into muffins so 3 + 4 = <<3+4=7>>7 duck "
     "eggs are used\nEach day Janet's ducks lay 16 eggs and she uses 7, 16 - 7 = <<16-7=9>>9 duck "
     "eggs are for sale\nShe sells her eggs for $2 per egg and has 9 available for sale so 2 * 9 "
     "= $<<2*9=18>>18 per day\nA: 18", 18, True),
    ("Janet eats 3 ducks eggs for breakfast every morning and she sells the rest so she has 16 - 3"
     " = <<16-3=13>>13 ducks eggs left\nShe has 13 ducks eggs and she sells 2 each day so she "
     "makes 13 * 2 = $<<13*2=26>>26\nA: 26", 18, False),
    ("It takes 2 x 0.5 = <<2*0.5=1.0>>1.0 bolts of white fiber.\nSo it takes 2 + 1 = "
     "<<2+1=3>>3.0 bolts of blue and white fiber altogether.\nA: 3", 3, True),
    ("He runs 3*3=<<3*3=9>>9 sprints per week\nSo he runs 9*60=<<9*60=540>>540 meters per week"
     "\nA: 540", 540, True),
    ("Since each cup of feed contains 3 cups, this means the chickens receive 800/3="
     "<<800/3=266.6666666666667>>266.6666666666667 cups of feed each day.\nA: 266", 20, False),
    ("So he made 175,000+17,500=$<<175000+17500=192500>>192,500\nA: 192500", 17500, False),
    ("So he made 32,500+3250=$<<32500+3250=35750.0>>35,750\nA: 35,750", 17500, False),
    ("Skyler has 50-30 = <<50-30=20.0>>20 white hats.\nA: 20", 20, True),
    # cut off by the length limit: no "A:" line, and OpenAI counts it wrong
    ("For the twelfth glass Kylar needs to pay 5 * 1/2 = $<<5*1/2=2.5>>2.5.\nFor the thirteenth "
     "glass Kylar needs to pay 5 * 1", 64, False),
]


@pytest.mark.parametrize("solution, reference, is_correct", OPENAI_SOLUTIONS)
def test_openai_model_solutions_get_openais_verdict(solution, reference, is_correct):
    assert grade_gsm8k(solution, reference)["passed"] is is_correct


@pytest.mark.parametrize(
    "completion, answer",
    [
        ("Janet makes 9 * 2 = 18\nA: 18", "18"),
        ("A: 266", "266"),  # the A: line, not the 266.666 before it
        ("The profit is 90,000 - 20,000\nA: 90,000", "90000"),
        ("Total: 1000 + 200\nA: $1,200.", "1200"),
        ("A: -129025", "-129025"),
        ("A: 40%", "40"),
        ("A: 18 dollars", "18"),
        ("A: **18**", "18"),
        ("A: Seventeen.", "17"),
        # the A: line beats numbers of a question the model ran on into
        ("So 9 * 2 = 18\nA: 18\n\nQ: Tom has 3 cats and 5 dogs", "18"),
    ],
)
def test_a_line_is_an_answer_marker(completion, answer):
    assert answer_of(completion) == answer


@pytest.mark.parametrize(
    "completion, answer",
    [
        # a chain-of-thought "A:" is not an answer line: the last number is
        ("A: Two trains leave at 5 pm and arrive 3 hours later, so 8 pm", "8"),
        ("A: 5 + 3 = 8", "8"),
        ("A: 3 people went to the store with 4 bags each, 12 bags", "12"),
        # "A:" only counts at the start of a line
        ("Plan A: 5 steps. Plan B takes 7 steps.", "7"),
        ("QA: 3 checks passed, 9 in total", "9"),
    ],
)
def test_a_line_that_is_not_just_a_number_is_not_a_marker(completion, answer):
    assert answer_of(completion) == answer


@pytest.mark.parametrize(
    "reference, expected",
    [
        ("The bag costs $15.00 so each stick will cost 15/30 = $0.50\nA: 50", "50"),
        ("Rose bought five dozens of eggs for $2.40 x 5 = $<<2.40*5=12>>12.\nA: 8", "8"),
        ("He sprints 3*3=<<3*3=9>>9 times\n#### 540", "540"),
        # "####" decides when both are there
        ("A: 1\n#### 2", "2"),
    ],
)
def test_reference_with_a_final_line(reference, expected):
    assert parse_gsm8k_reference(reference) == expected


def test_grading_against_an_openai_ground_truth_field():
    ground_truth = ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = "
                    "$<<9*2=18>>18 every day at the farmer\u2019s market.\nA: 18")
    assert grade_gsm8k("So she makes $18.\nA: 18", ground_truth)["passed"] is True
    assert grade_gsm8k("So she makes $16.\nA: 16", ground_truth)["passed"] is False


# ----------------------------------------------------------------------------- words after markers


@pytest.mark.parametrize(
    "completion, answer",
    [
        ("The answer is seventeen.", "17"),
        ("The answer is: **Twenty-one** apples.", "21"),
        ("The answer is twenty one", "21"),
        ("#### three hundred", "300"),
        ("#### one thousand two hundred", "1200"),
        ("The answer is three hundred and five dollars.", "305"),
        ("The answer is two million five hundred thousand.", "2500000"),
        ("The answer is a hundred.", "100"),
        ("The answer is a dozen.", "12"),
        ("The answer is two dozen eggs.", "24"),
        ("The answer is zero.", "0"),
        ("The answer is negative five.", "-5"),
        ("\\boxed{\\text{seven}}", "7"),
        ("A: nineteen", "19"),
        # words after a later marker override an earlier number
        ("The answer is 5. Rechecking, the answer is six.", "6"),
    ],
)
def test_words_after_a_marker(completion, answer):
    assert answer_of(completion) == answer


@pytest.mark.parametrize(
    "completion, answer",
    [
        # the phrase does not end the statement: no answer from the marker
        ("The answer is one of them.", None),
        ("The answer is two more than the first.", None),
        ("The answer is ten times bigger.", None),
        ("The answer is a lot.", None),
        ("The answer is one-third.", None),
        ("The answer is seventeenth.", None),
        ("The answer is seventeen apples left over after lunch.", None),
        # the marker gives nothing, so the last digit number is the answer
        ("The answer is one of the totals: 3 + 4 = 7", "7"),
        ("The answer is two more than 5, so 7", "7"),
    ],
)
def test_words_that_are_not_an_answer(completion, answer):
    assert answer_of(completion) == answer


@pytest.mark.parametrize(
    "completion, answer",
    [
        # words never change the answer of a completion that has digits
        ("She gives one of them away, so 8 - 1 = 7 are left.", "7"),
        ("18 apples in all. One of them is red.", "18"),
        ("She had 18 apples. Seventeen were eaten.", "18"),
        # no digits at all: the last number in words that ends its statement
        ("She has seventeen apples.", "17"),
        ("First there were three, then twenty-one cars left.", "21"),
        ("Two of them went home.", None),
        ("No numbers here.", None),
    ],
)
def test_words_in_the_fallback_only_without_digits(completion, answer):
    assert answer_of(completion) == answer


def test_words_are_not_flexible():
    extraction = extract_gsm8k("The answer is seventeen.")
    assert (extraction.answer, extraction.flexible, extraction.strict) == ("17", None, None)
    result = grade_gsm8k("The answer is seventeen.", "#### 17")
    assert (result["passed"], result["flexible_passed"]) == (True, False)


# ----------------------------------------------------------------------------- scientific notation


@pytest.mark.parametrize(
    "completion, answer",
    [
        ("The answer is 4.5e2", "450"),
        ("The answer is 4.5E+2.", "450"),
        ("The answer is 4.5 \\times 10^2", "450"),
        ("The answer is $4.5 \\times 10^{2}$", "450"),
        ("The answer is 4.5 × 10^2", "450"),
        ("The answer is 3*10^3", "3000"),
        ("The answer is 1.5 \\cdot 10^{-1}", "0.15"),
        ("The answer is 10^6 grains", "1000000"),
        ("#### 2.5e3", "2500"),
        ("It costs 3 x 10^2 = 300 dollars", "300"),
    ],
)
def test_scientific_notation(completion, answer):
    assert answer_of(completion) == answer


@pytest.mark.parametrize(
    "completion, answer",
    [
        ("The answer is 2^10", "2"),  # a power of 2 is not scientific notation
        ("There are 2^10 = 1024 ways", "1024"),
        ("She bought 5 eggs", "5"),  # "e" in a word is not an exponent
        ("Room 4e is 12 steps away", "12"),
        ("The answer is 1e999999999", None),  # absurd exponents are no number (and no hang)
        ("1" * 5000, None),  # nor are absurdly long digit runs
    ],
)
def test_not_scientific_notation(completion, answer):
    assert answer_of(completion) == answer


def test_scientific_notation_is_not_in_strict():
    extraction = extract_gsm8k("#### 4.5e2")
    assert (extraction.strict, extraction.answer, extraction.flexible) == ("4.5", "450", "450")


# ----------------------------------------------------------------------------- strict is lm-eval's


@pytest.mark.parametrize(
    "completion, strict",
    [
        ("So 5 + 7 = 12\n#### 12", "12"),
        ("#### 1,000", "1000"),
        ("#### 1,000.", "1000"),  # lm-eval ignores a trailing "."
        ("#### -3", "-3"),
        ("#### .5", "0.5"),
        ("#### 12\n#### 13", "12"),  # the first match
        ("#### the answer\n#### 12", "12"),  # the first match of the regex, not of "####"
        ("####12", None),  # lm-eval needs "#### " with one space
        ("####  12", None),
        ("#### $12", None),
        ("#### **12**", None),
        ("#### \u221212", None),
        ("#### 1.2.3", None),
        ("#### 5..", None),
        ("The answer is 12.", None),
        ("\\boxed{12}", None),
        ("A: 12", None),
    ],
)
def test_strict_is_lm_eval_strict_match(completion, strict):
    assert extract_gsm8k(completion).strict == strict


@pytest.mark.parametrize(
    "completion, reference, strict_passed",
    [
        ("#### 72", "#### 72", True),
        ("#### 72.00", 72, True),  # numbers, not lm-eval's strings (see the module docstring)
        ("#### 3244047.1", 3244047.0999999996, True),
        ("The answer is 72", "#### 72", False),
        ("#### 70\n#### 72", "#### 72", False),
    ],
)
def test_strict_passed(completion, reference, strict_passed):
    assert grade_gsm8k(completion, reference)["strict_passed"] is strict_passed


# ----------------------------------------------------------------------------- flexible = last number


@pytest.mark.parametrize(
    "completion, flexible",
    [
        ("The answer is 12.\nCheck: 3 * 4 = 12, plus 0 is 12, and 5", "5"),
        ("#### 12\n\nQuestion: Tom has 3 cats", "3"),
        ("5-3 = 2", "2"),
        ("5-3", "3"),  # not -3
        ("It is 0.5 or .25", "0.25"),
        ("Total $1,200.", "1200"),
        ("A: 18\n...", "18"),
        ("It is 7...", "7"),
        ("No numbers here.", None),
    ],
)
def test_flexible_is_the_last_number(completion, flexible):
    assert extract_gsm8k(completion).flexible == flexible


# ----------------------------------------------------------------------------- no marker: last number


@pytest.mark.parametrize(
    "completion, reference, passed",
    [
        ("Natalia sold 48 + 24 = 72 clips", "#### 72", True),
        ("She has 18 dollars left.", 18, True),
        ("18 in May, 24 in June.", 18, False),  # the last number, not the first
        ("First 5 - 3 = 2", 2, True),
        ("First 5 - 3 = 2", -3, False),
        ("It is -7 degrees", -7, True),
    ],
)
def test_without_marker_passed_is_the_last_number(completion, reference, passed):
    result = grade_gsm8k(completion, reference)
    assert result["passed"] is passed
    assert result["passed"] is result["flexible_passed"]
    assert "no answer marker" in result["detail"]


# ----------------------------------------------------------------------------- kept behaviours


@pytest.mark.parametrize(
    "completion, answer",
    [
        ("The answer is $1,000.", "1000"),
        ("The answer is \\$1{,}000", "1000"),
        ("The answer is 10,\\!080", "10080"),
        ("The answer is \\frac{3}{4}", "0.75"),
        ("The answer is \\dfrac{6}{3}.", "2"),
        ("So the answer is \u22125.", "-5"),
        ("It loses -$5 a day. The answer is -$7", "-7"),
        ("The answer is 42.", "42"),
        ("The answer is 42.00", "42"),
    ],
)
def test_kept_number_formats(completion, answer):
    assert answer_of(completion) == answer


# ----------------------------------------------------------------------------- contract


def test_grade_gsm8k_returns_the_contract_fields():
    result = grade_gsm8k("#### 12\nSorry: 13.\n#### 13", "#### 13")
    assert result == {
        "passed": True, "status": "pass", "detail": "#### 13 == 13", "extracted": "13",
        "strict": "12", "strict_passed": False, "flexible": "13", "flexible_passed": True,
    }


def test_grade_gsm8k_error_has_the_same_fields():
    result = grade_gsm8k("#### 12", "no number here")
    assert set(result) == {"passed", "status", "detail", "extracted", "strict", "strict_passed",
                           "flexible", "flexible_passed"}
    assert (result["status"], result["passed"], result["strict_passed"]) == ("error", False, False)


def test_grade_gsm8k_no_number_at_all():
    result = grade_gsm8k("I do not know.", 3)
    assert (result["passed"], result["extracted"], result["status"]) == (False, None, "fail")
