"""Answer extraction and equivalence: GSM8K numbers, MATH / AIME LaTeX (via math-verify).

Every grader returns one dict per item (the "graded sample" fields of DESIGN.md):

    {"passed": bool, "status": "pass" | "fail" | "timeout" | "error",
     "detail": str, "extracted": str | None, ...}

GSM8K, GSM-Hard, GSM8K-Platinum (pure Python, cheap, safe in any thread):

    extract_gsm8k(completion) -> Gsm8kExtraction(strict, flexible, answer)   each str | None,
        a canonical number string ("$1,000.00" -> "1000", "3/4" -> "0.75", "4.5e2" -> "450"):
        answer    the committed answer: the number after the LAST answer marker ("#### N",
                  "the answer is N" / "answer: N", \\boxed{N}, a line "A: N"), else the last
                  number in the text, else (no digits at all) the last number in words.
        strict    lm-eval's gsm8k strict-match: the FIRST "#### N" ("#### " then [-0-9.,]).
        flexible  the last number anywhere (lm-eval's flexible-extract, with our tokenizer).
    parse_gsm8k_reference(answer_field) -> str       "...\\n#### 1,000" -> "1000"
        (without "####", a final line "A: 18" as in the GSM8K paper's solutions -> "18")
    parse_number(text) -> Fraction | None            first number in text
    numbers_equal(a, b, rel_tol=1e-9, abs_tol=1e-4) -> bool
    grade_gsm8k(completion, reference, rel_tol=..., abs_tol=...) -> dict
        reference: the dataset's `answer` field, a bare number string, or a number (GSM-Hard
        `target`). "passed" / "extracted" judge `answer`. Extra keys: "strict" (str | None),
        "strict_passed" (bool), "flexible" (str | None), "flexible_passed" (bool).
    grade_gsm8k_batch(pairs, rel_tol=..., abs_tol=...) -> list[dict]
        pairs: (completion, reference)

GSM8K policies:
 - the last marker wins, "####" included: a model that writes "#### 12" and then corrects itself
   to "#### 13" is graded on 13 (strict keeps lm-eval's first match). A base model running on
   into a new few-shot question is the sampler's stop sequences' job, not the grader's.
 - "A: N" counts only at the start of a line holding nothing but the number (currency, "%",
   a trailing period and up to three unit words allowed): the GSM8K paper's released model
   solutions end on "A: 26"; a chain-of-thought "A: Two trains leave ..." is no answer.
 - numbers in words ("seventeen", "twenty-one", "three hundred and five", "one thousand two
   hundred", "a hundred", "a dozen" = 12, "two dozen" = 24, "negative five") are read right after
   a marker, and as the fallback only when the completion has no digits at all, so they never
   change the verdict of a completion that contains a number. A phrase counts only if it ends
   its statement: at most two more words, none of "of / or / and / more / less / fewer / than /
   times / plus / minus / over / out / divided / multiplied", then punctuation or a line end
   ("one of them" and "two more than" are no answer; "seventeen apples." is 17). Not read:
   ordinals, fractions in words ("three quarters"), plurals ("thousands of").
 - scientific notation: "4.5e2", "4.5 \\times 10^{2}", "4.5 × 10^2", "4.5*10^2" and "10^6"
   read as one number (450, 1e6), in the answer and in flexible; not in strict (lm-eval).
 - kept: currency signs, thousands separators ("1,000", "1{,}000"), \\frac{a}{b}, the Unicode
   minus, "5-3" reads 5 and 3 (not -3), "is 42." reads 42, "\\boxed{2 \\times 9 = 18}" reads 18.
 - strict_passed compares numbers, not lm-eval's strings: "#### 72.00" passes against 72 here
   and fails in lm-eval's exact_match; the extraction itself is lm-eval's.

MATH, MATH-500, AIME:

    last_boxed(text) -> str | None          content of the last complete \\boxed{} / \\fbox{}
    extract_math_answer(completion, fallback=True) -> (answer | None, method)
        method: "boxed", "final_answer", "last_math" or "none" (see below).
    normalize_math_answer(answer) -> str             canonical string, used as the maj@k vote key
    math_answers_equal(pred, reference, kind="math") -> (bool, detail)     no timeout of its own
    grade_math(completion, reference, kind="math", timeout=None, fallback=True) -> dict
        Extra key: "method". kind="aime" compares integers ("025" == 25). A reference holding
        a \\boxed{} (a full solution) is reduced to its last boxed answer.
    grade_math_batch(pairs, workers=None, timeout=10.0, kind="math", fallback=True,
                     progress=False) -> list[dict]   pairs: (completion, reference)

Why worker processes: math-verify guards sympy with SIGALRM, which only works in a main thread,
and sympy can hang (`9^{9^{9}}`) inside C code where no signal is ever handled. grade_math_batch
therefore runs math-verify in spawned worker processes, each grading in its own main thread with
a SIGALRM timer of `timeout` seconds (status "timeout"); a worker that still has not answered a
grace period later is killed and replaced (also "timeout"), and a worker that dies is replaced
(status "error"). The batch always finishes. Extraction, the string shortcut and AIME integer
comparison run in the parent; only distinct (answer, reference) pairs that need sympy are sent
to workers. workers=0 grades in-process (SIGALRM timeout only; no protection against C hangs).
Workers are spawned, so a script calling grade_math_batch needs its `if __name__ == "__main__":`
guard (STYLE.md asks for one anyway).

AIME: both sides are read as integers ("025" == 25, "25.0" == 25); "x = 25" and a chain such as
"180 + 24 = 204" give their last right-hand side, and AoPS's "\\textbf{(113) }" reads 113.
Anything else ("\\frac{50}{2}") is not an integer answer and fails. Units and a percent sign are
ignored here ("25\\%" reads 25): the question fixed what the integer counts.

MATH extraction order:
 1. the FIRST Minerva sentence "Final Answer: The final answer is X. I hope it is correct." (one
    line; any case; the "Final Answer:" prefix optional), even with fallback=False. This is the
    only rule of lm-eval's minerva_math (get_unnormalized_answer), which ignores \\boxed{}: a
    base model that boxes, writes the sentence and then runs on into a made-up problem with its
    own box and sentence is graded on its first sentence, as the harness grades it. X is its
    first $...$ span (a \\boxed{} inside is opened), else the text, without a final period.
 2. the last complete \\boxed{...} / \\fbox{...} (nested braces allowed): chat models, which
    never write the "I hope it is correct" sentence;
 3. with fallback=True: the text after the last "final answer is" (no "I hope"), then the last
    $...$, \\(...\\) or \\[...\\] span.

MATH equivalence, in order:
 1. both answers carry a known unit and the units differ: not equal ("3\\text{ kg}" != "3 g");
 2. normalized strings equal (see normalize_math_answer, units aside; case-insensitive for
    purely alphabetic answers, so "Evelyn" == "\\text{evelyn}");
 3. an ordered tuple against a set ("(1,3)" vs "\\{1,3\\}", either side): not equal;
 4. a reference that is a lone choice letter ("\\text{(C)}") matches a completion answer that
    starts with that choice, as in "(C) 12";
 5. math-verify: parse both values (each wrapped in \\boxed{}), verify(gold=reference, pred).
Policies (the reference's notation decides):
 - "1, 2" or \\{1,2\\} in the reference is unordered: "2, 1" matches.
 - "(1, 2)" in the reference is an ordered pair: "(2, 1)" does not match; "1, 2" does.
 - an ordered tuple is not a set: "(1,3)" != "\\{1,3\\}" whichever side is the reference.
 - intervals keep their brackets: "[1,3)" != "(1,3)".
 - "x = 3" == "3" (either side), but "x = 3" != "y = 3".
 - percent: "x\\%" is x/100, so "50\\%" == "0.5" == "\\frac12" and "50\\%" != "50";
   "\\frac34\\%" is \\frac{3}{400}. "50 percent" and "\\text{\\%}" are percent signs too.
 - units are compared, not converted. A unit is text after the value ("5\\text{ cm}", "\\mbox{
   cm}", "\\mathrm{cm}", "5 cm", a glued "5cm"), "^2"/"^3" or "square"/"cubic" included. Known
   units (lengths, masses, times, volumes, money words, degrees/radians, mph; see _UNITS) are
   spelled canonically: case, plurals ("days" = "day"), full names and abbreviations ("cm" =
   "centimeters", "hr" = "hours", "lbs" = "pounds"), "square feet" = "ft^2", "miles per hour" =
   "mph". Two known units must be equal ("2 days" != "2 weeks", "cm" != "cm^2"); a unit on one
   side only is ignored ("5" == "5\\text{ cm}": the question fixed it). Other words after a
   number ("ways", "students", "square units") are labels and dropped; filler ("long", "each",
   "in total") too. No conversion: "1.5 hours" != "90 minutes". Degrees (^\\circ), a leading
   \\$ and "\\text{ degrees}" on one side are ignored as before.
 - one value, other spellings: repeating decimals ("0.\\overline{6}", "0.1\\bar{6}", "0.(6)" =
   "\\frac23"/"\\frac16"); "pi" without a backslash ("2pi", "pi/2"); the empty set
   ("\\varnothing", "\\emptyset", "\\{\\}", "\\{ \\}", "\\O", "the empty set", and "{}" only as the
   whole answer); scientific notation ("2.5e2", "1.2E-3", "2.5\\times10^{2}"; "2e-1" is left
   to math-verify, which reads 2e - 1 with Euler's e).
 - word answers drop a leading article and trailing punctuation ("a hyperbola." == "hyperbola",
   "\\text{the parabola}" == "parabola", "An ellipse" == "ellipse"); a lone letter ("A", "A."),
   "A and B", "A B" and choices keep their letters.
 - thousands separators ("1{,}000", "10,\\!080", "10\\,000", "10 000") and a trailing period
   are ignored; 1/3 needs 6 correct decimals (0.333333).
Fixes for math-verify 0.9.0: it reads "10\\,000" and "10 000" as 10*0 = 0 (so they equalled 0);
it fails to parse a trailing period ("10."); \\text{A, C} != "A, C"; bare "Evelyn" != "evelyn"
(E is read as Euler's number); it accepts 9% == 9 for integers (percent is resolved before it
sees the answer); it reads "(1,3)" == "\\{1,3\\}" and "\\text{ kg}" == "\\text{ g}" (it strips
units); it cannot read "2.5e2", "0.\\overline{6}", "2pi" or "\\varnothing".
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import re
import signal
import threading
import time
from collections import deque
from contextlib import contextmanager
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from multiprocessing.connection import wait as _wait_any
from typing import Any, Callable, Iterable, NamedTuple, Sequence

STATUSES = ("pass", "fail", "timeout", "error")


def _result(passed: bool, status: str, detail: str, extracted: str | None, **extra: Any) -> dict:
    return {"passed": passed, "status": status, "detail": detail, "extracted": extracted, **extra}


# --------------------------------------------------------------------------------------------
# GSM8K
# --------------------------------------------------------------------------------------------

# A number token: optional sign, thousands groups or plain digits, optional decimals, then an
# optional exponent ("4.5e2") or "/denominator". The sign only counts when not glued to a
# preceding word or number ("5-3" reads 5 and 3), and a trailing "." is left alone so "is 42."
# reads 42.
_NUMBER = re.compile(
    r"(?<![\w.)\]])-?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+|/\d+)?(?!\d)"
)
_LATEX_FRAC = re.compile(r"\\[dtc]?frac\s*\{\s*(-?[\d.,]+)\s*\}\s*\{\s*(-?[\d.,]+)\s*\}")
# "$5", "\$5", "$ 5" and "-$5": currency signs glued to a number are dropped before tokenizing.
_CURRENCY = re.compile(r"\\?\$\s*(?=-?[\d.])")
# "4.5 \times 10^{2}", "4.5 × 10^2", "4.5*10^2" and a bare "10^6" are rewritten as "4.5e2" / "1e6"
# so they read as one number instead of ending on the exponent.
_SCI_TIMES = re.compile(
    r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s*(?:\\times|\\cdot|×|·|\*|x)\s*"
    r"10\s*\^\s*\{?\s*(-?\d+)\s*\}?"
)
_SCI_POWER = re.compile(r"(?<![\w.])10\s*\^\s*\{?\s*(-?\d+)\s*\}?")
# lm-eval's gsm8k.yaml "strict-match": regex "#### (\-?[0-9\.\,]+)" on the raw completion, the
# first match (group_select 0; its "take_first" picks the first sample, not the first match).
# Its exact_match then ignores ",", "$" and a trailing ".".
_LM_EVAL_STRICT = re.compile(r"#### (-?[0-9.,]+)")
# Answer markers for the committed answer. Between a marker and its number only formatting.
_HASH_MARK = re.compile(r"####")
_ANSWER_MARK = re.compile(r"\banswer\b[*\s]*(?:is\b|:|=)", re.IGNORECASE)
# The GSM8K paper's model solutions (openai/grade-school-math example_model_solutions.jsonl) end
# on a line "A: 26". Only a line that is nothing but the number (and up to three unit words)
# counts: a chain-of-thought "A: Two trains leave ..." is not an answer.
_A_LINE = re.compile(r"^[ \t>*]*A[ \t]*:", re.MULTILINE)
_A_LINE_END_DIGITS = re.compile(
    r"[ \t]*(?:%|[A-Za-z]+(?:[ \t]+[A-Za-z]+){0,2})?[ \t\r*.!]*(?:\n|\Z)"
)
_A_LINE_END_WORDS = re.compile(r"[ \t\r*.!]*(?:\n|\Z)")
_FILLER = re.compile(
    r"(?:\s|\*|:|=|\\\(|\\\[|\\boxed\s*\{|\\text(?:bf)?\s*\{|\{|\$)*"
)
# Numbers in words ("seventeen", "twenty-one", "one thousand two hundred", "a dozen"). They count
# after a marker only when the phrase ends the statement: at most two more words, none of which
# makes it part of something else ("one of them", "two more than", "ten times"), then
# punctuation or a line end.
_ONES = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_SCALES = {"thousand": 10 ** 3, "million": 10 ** 6, "billion": 10 ** 9, "trillion": 10 ** 12}
_WORD = re.compile(r"[A-Za-z]+")
_WORD_SEP = re.compile(r"[ \t]+|[ \t]*-[ \t]*")
_WORD_TAIL = re.compile(
    r"(?:[ \t]+(?!(?:of|or|and|more|less|fewer|than|times|plus|minus|over|out|divided|multiplied)"
    r"\b)[A-Za-z]+){0,2}[ \t]*(?:[.,;:!?)*}\]\\$]|\r|\n|\Z)",
    re.IGNORECASE,
)
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textrm|mathrm|mbox)\s*\{([^{}]*)\}")


class Gsm8kExtraction(NamedTuple):
    strict: str | None  # lm-eval strict-match: the first "#### N"
    flexible: str | None  # the last number in the text (lm-eval flexible-extract)
    answer: str | None = None  # the committed answer: the last marker, else the last number


def _canonical_numeric_text(text: str) -> str:
    text = text.replace("\u2212", "-")  # models often emit the Unicode minus sign
    text = _LATEX_FRAC.sub(r"\1/\2", text)
    text = text.replace("{,}", ",").replace(",\\!", ",").replace("\\!", "").replace("\\,", "")
    text = _SCI_TIMES.sub(r"\1e\2", text)
    text = _SCI_POWER.sub(r"1e\1", text)
    return _CURRENCY.sub("", text)


def _token_value(token: str) -> Fraction | None:
    s = token.replace(",", "")
    mantissa, _, exponent = s.lower().partition("e")
    # Fraction("1e999999999") would build the integer; past 1e300 float() overflows, and str()
    # refuses integers over 4300 digits. No grade-school answer is that large.
    if len(mantissa) > 300 or (exponent and abs(int(exponent)) > 300):
        return None
    try:
        value = Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None
    return value if abs(value) < 10 ** 300 else None


def _format_number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return repr(float(value))


def parse_number(text: str) -> Fraction | None:
    """The first number in `text` ("$1,000.00" -> 1000, "\\frac{3}{4}" -> 3/4), or None."""
    for match in _NUMBER.finditer(_canonical_numeric_text(str(text))):
        value = _token_value(match.group())
        if value is not None:
            return value
    return None


def _words_at(text: str, pos: int) -> tuple[Fraction, int] | None:
    """A number written in words starting at `pos`: (value, end of the phrase), or None.

    Reads "seventeen", "twenty-one", "three hundred and five", "one thousand two hundred",
    "a hundred", "a dozen" / "two dozen" (x 12) and a leading "negative". The phrase stops at
    the first word that cannot continue it ("one two" reads 1; scales must decrease).
    """
    total = group = 0
    sign, prev, limit, best = 1, None, None, None
    i = pos
    while (m := _WORD.match(text, i)) is not None:
        w = m.group().lower()
        counts = True  # False for words that only lead into a number: "negative", "a", "and"
        if w == "negative" and prev is None:
            sign, prev, counts = -1, "sign", False
        elif w in ("a", "an") and prev in (None, "sign"):
            group, prev, counts = 1, "a", False
        elif w in _ONES and prev in (None, "sign", "tens", "hundred", "scale", "and"):
            v = _ONES[w]
            if (prev == "tens" and not 1 <= v <= 9) or (v == 0 and prev not in (None, "sign")):
                break
            group += v
            prev = "unit" if v < 10 and prev != "tens" else "teen"
        elif w in _TENS and prev in (None, "sign", "hundred", "scale", "and"):
            group += _TENS[w]
            prev = "tens"
        elif w == "hundred" and prev in ("unit", "teen", "tens", "a") and 0 < group < 100:
            group *= 100
            prev = "hundred"
        elif (w in _SCALES and prev in ("unit", "teen", "tens", "hundred", "a")
              and (limit is None or _SCALES[w] < limit)):
            limit = _SCALES[w]
            total, group, prev = total + group * limit, 0, "scale"
        elif w == "dozen" and prev in ("unit", "teen", "tens", "a") and total == 0 and group < 100:
            group *= 12
            prev = "dozen"
        elif w == "and" and prev in ("hundred", "scale"):
            prev, counts = "and", False
        else:
            break
        if counts:
            best = (sign * (total + group), m.end())
        sep = _WORD_SEP.match(text, m.end())
        if prev == "dozen" or sep is None:
            break
        i = sep.end()
    return (Fraction(best[0]), best[1]) if best is not None else None


def _answer_at(text: str, pos: int, digits_end: re.Pattern | None = None,
               words_end: re.Pattern = _WORD_TAIL) -> str | None:
    """The answer right after a marker that ends at `pos`, formatting filler allowed: a number
    (followed by what `digits_end` allows, if given) or a number in words followed by what
    `words_end` allows. Canonical string or None."""
    pos = _FILLER.match(text, pos).end()
    match = _NUMBER.match(text, pos)
    if match:
        value = _token_value(match.group())
        if value is None or (digits_end is not None and not digits_end.match(text, match.end())):
            return None
        return _format_number(value)
    found = _words_at(text, pos)
    if found is None or not words_end.match(text, found[1]):
        return None
    return _format_number(found[0])


def _boxed_answer(text: str) -> tuple[int, str | None] | None:
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    content = last_boxed(text) if start >= 0 else None
    if content is None:
        return None
    # "\boxed{2 \times 9 = 18}": the value is what follows the last "=".
    tail = content.rsplit("=", 1)[-1]
    value = parse_number(tail)
    if value is not None:
        return start, _format_number(value)
    return start, _answer_at(_TEXT_CMD.sub(r"\1", tail).strip(), 0)  # "\boxed{\text{seven}}"


_WORD_STARTS = frozenset(_ONES) | frozenset(_TENS) | {"a", "an", "negative"}


def _last_number_in_words(text: str) -> str | None:
    """The last number phrase in words that ends its statement (see _WORD_TAIL), or None."""
    last, i = None, 0
    while (m := _WORD.search(text, i)) is not None:
        i = m.end()
        if m.group().lower() in _WORD_STARTS:
            found = _words_at(text, m.start())
            if found is not None and _WORD_TAIL.match(text, found[1]):
                last, i = found[0], found[1]
    return _format_number(last) if last is not None else None


def _lm_eval_number(captured: str) -> str | None:
    """lm-eval's strict capture as a number: commas and one trailing "." ignored, as its
    exact_match does; anything else that is not a plain decimal ("1.2.3", ".") is no answer."""
    s = captured.replace(",", "")
    s = s[:-1] if s.endswith(".") else s
    value = _token_value(s) if re.fullmatch(r"-?(?:\d+(?:\.\d+)?|\.\d+)", s) else None
    return _format_number(value) if value is not None else None


def _extract(completion: str) -> tuple[Gsm8kExtraction, str]:
    """The extraction and where the committed answer came from (for `detail`)."""
    raw = str(completion)
    lm_eval = _LM_EVAL_STRICT.search(raw)
    strict = _lm_eval_number(lm_eval.group(1)) if lm_eval else None
    text = _canonical_numeric_text(raw)
    found = [(m.start(), "####", _answer_at(text, m.end())) for m in _HASH_MARK.finditer(text)]
    found += [(m.start(), "answer is", _answer_at(text, m.end()))
              for m in _ANSWER_MARK.finditer(text)]
    found += [(m.start(), "A:", _answer_at(text, m.end(), _A_LINE_END_DIGITS, _A_LINE_END_WORDS))
              for m in _A_LINE.finditer(text)]
    boxed = _boxed_answer(text)
    if boxed is not None:
        found.append((boxed[0], "boxed", boxed[1]))
    found = [c for c in found if c[2] is not None]
    flexible = None
    for match in reversed(list(_NUMBER.finditer(text))):
        value = _token_value(match.group())
        if value is not None:
            flexible = _format_number(value)
            break
    if found:
        _, source, answer = max(found, key=lambda c: c[0])
    elif flexible is not None:
        source, answer = "last number", flexible
    else:
        source, answer = "last number in words", _last_number_in_words(text)
    return Gsm8kExtraction(strict, flexible, answer), source


def extract_gsm8k(completion: str) -> Gsm8kExtraction:
    """strict (lm-eval strict-match), flexible (last number) and the committed answer.

    answer: the number after the LAST answer marker ("#### N", "the answer is N" / "answer: N",
    \\boxed{N}, a final-answer line "A: N"), since models restate and correct themselves; a
    marker with no readable number after it is skipped. Without any marker, the last number in
    the text; without any digits at all, the last number in words that ends its statement.
    strict: lm-eval's gsm8k strict-match, the FIRST "#### N" in the raw text (a space after
    "####", then digits, ".", ","; "#### $5" is no match). flexible: the last number anywhere.
    """
    return _extract(completion)[0]


def parse_gsm8k_reference(answer_field: str) -> str:
    """The final number of a GSM8K `answer` field ("...\\n#### 1,000" -> "1000"). Without "####",
    a final "A: 1,000" line (the GSM8K paper's released solutions, `ground_truth`) is read."""
    text = str(answer_field)
    a_lines = list(_A_LINE.finditer(text)) if "####" not in text else []
    tail = text[a_lines[-1].end():] if a_lines else text.rsplit("####", 1)[-1]
    value = parse_number(tail)
    if value is None:
        raise ValueError(f"no number after '####' in reference {answer_field[-80:]!r}")
    return _format_number(value)


def _as_number(value: Any) -> Fraction | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Fraction)):
        return Fraction(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return parse_number(str(value))


def numbers_equal(a: Any, b: Any, rel_tol: float = 1e-9, abs_tol: float = 1e-4) -> bool:
    """Numeric equality of two numbers or number strings.

    Exact for rationals; otherwise within max(abs_tol, rel_tol * |b|). The relative part is
    kept tiny because GSM-Hard targets reach 1e8, where any useful relative tolerance would
    accept wrong integers; abs_tol absorbs float noise such as 3244047.0999999996.
    """
    x, y = _as_number(a), _as_number(b)
    if x is None or y is None:
        return False
    if x == y:
        return True
    return abs(float(x) - float(y)) <= max(abs_tol, rel_tol * abs(float(y)))


def _gsm8k_reference_value(reference: Any) -> Fraction | float | None:
    if isinstance(reference, str) and ("####" in reference or _A_LINE.search(reference)):
        return Fraction(parse_gsm8k_reference(reference))
    return _as_number(reference)


def grade_gsm8k(completion: str, reference: Any, rel_tol: float = 1e-9,
                abs_tol: float = 1e-4) -> dict:
    """Grade one GSM8K-style completion: "passed" judges the committed answer (see
    extract_gsm8k); "strict_passed" and "flexible_passed" are lm-eval's two filters."""
    try:
        ref = _gsm8k_reference_value(reference)
    except ValueError as exc:
        ref, error = None, str(exc)
    else:
        error = f"reference is not a number: {str(reference)[-80:]!r}"
    if ref is None:
        return _result(False, "error", error, None, strict=None, strict_passed=False,
                       flexible=None, flexible_passed=False)
    extraction, source = _extract(completion)

    def equal(value: str | None) -> bool:
        return value is not None and numbers_equal(value, ref, rel_tol, abs_tol)

    ok = equal(extraction.answer)
    ref_str = _format_number(ref) if isinstance(ref, Fraction) else repr(ref)
    if extraction.answer is None:
        detail = f"no number in the completion; reference {ref_str}"
    else:
        where = source if source in ("####", "A:") else f"({source})"
        if source.startswith("last number"):
            where = f"no answer marker; {source}"
        detail = f"{where} {extraction.answer} {'==' if ok else '!='} {ref_str}"
    return _result(ok, "pass" if ok else "fail", detail, extraction.answer,
                   strict=extraction.strict, strict_passed=equal(extraction.strict),
                   flexible=extraction.flexible, flexible_passed=equal(extraction.flexible))


def grade_gsm8k_batch(pairs: Iterable[tuple[str, Any]], rel_tol: float = 1e-9,
                      abs_tol: float = 1e-4) -> list[dict]:
    """grade_gsm8k over (completion, reference) pairs, in-process (regexes only)."""
    return [grade_gsm8k(c, r, rel_tol, abs_tol) for c, r in pairs]


# --------------------------------------------------------------------------------------------
# MATH / AIME: extraction
# --------------------------------------------------------------------------------------------

def _matching_brace(text: str, open_pos: int) -> int | None:
    """Index of the brace closing text[open_pos] == "{"; escaped \\{ \\} do not count."""
    depth = 0
    i = open_pos
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


_BOXED_CMD = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")


def last_boxed(text: str) -> str | None:
    """Content of the last complete \\boxed{...} or \\fbox{...} (also "\\boxed 5"), else None.

    A box cut off by the length limit is skipped: its content is not the model's answer.
    """
    for match in reversed(list(_BOXED_CMD.finditer(text))):
        pos = match.end()
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos < len(text) and text[pos] == "{":
            close = _matching_brace(text, pos)
            if close is not None:
                return text[pos + 1:close].strip()
        elif pos > match.end():
            # MATH's own solutions sometimes write "\boxed 5".
            token = re.match(r"[^\s$]+", text[pos:])
            if token:
                return token.group().rstrip(".")
    return None


# lm-eval's minerva_math (get_unnormalized_answer) reads the FIRST "Final Answer: The final answer
# is X. I hope it is correct." on one line and nothing else; a base model runs on into new problems.
# We also accept it without the "Final Answer:" prefix and in any case.
_MINERVA = re.compile(
    r"(?:final answer:\s*)?the final answer is\s*:?[ \t]*([^\n]*?)[ \t]*I hope it is correct",
    re.IGNORECASE,
)
_FINAL_ANSWER = re.compile(r"final answer is\s*:?\s*(.+?)(?:\s*I hope|\n|$)", re.IGNORECASE)
# Inline $...$ stays on one line, so an unescaped currency "$5" cannot pair with a later "$x$".
_MATH_SPAN = re.compile(
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|(?<!\\)\$([^$\n]+?)(?<!\\)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]",
    re.DOTALL,
)


def _final_answer_text(tail: str) -> str:
    """The answer in the text after "final answer is": its first math span, else the text."""
    tail = tail.strip()
    span = _MATH_SPAN.search(tail)
    answer = next(g for g in span.groups() if g is not None) if span else tail
    boxed = last_boxed(answer)
    return (boxed if boxed is not None else answer).strip().rstrip(".").strip()


def extract_math_answer(completion: str, fallback: bool = True) -> tuple[str | None, str]:
    """(answer, method): the first Minerva sentence, else the last \\boxed{} answer, else
    (fallback) the last "final answer is", else the last math span. method is "boxed",
    "final_answer" (either sentence), "last_math" or "none"."""
    for match in _MINERVA.finditer(completion):
        answer = _final_answer_text(match.group(1))
        if answer:
            return answer, "final_answer"
    boxed = last_boxed(completion)
    if boxed is not None:
        return boxed, "boxed"
    if not fallback:
        return None, "none"
    finals = _FINAL_ANSWER.findall(completion)
    if finals:
        answer = _final_answer_text(finals[-1])
        if answer:
            return answer, "final_answer"
    spans = _MATH_SPAN.findall(completion)
    for groups in reversed(spans):
        answer = next(g for g in groups if g).strip()
        if answer:
            return answer, "last_math"
    return None, "none"


# --------------------------------------------------------------------------------------------
# MATH / AIME: normalization
# --------------------------------------------------------------------------------------------

_TEXT_WRAP = re.compile(r"^\\(?:text|textbf|textrm|textit|mbox|mathrm|mathbf)\s*\{")
# A space-like separator between digit groups: "10\,000", "10 000", "10~000", "10\ 000".
_DIGIT_GROUP_SEP = re.compile(r"(?<=\d)(?:\\[,;: ]|~|\s)(?=\d{3}(?!\d))")
_EDGE_SPACE = re.compile(r"^(?:\s|\\[,;:! ]|~)+|(?:\s|\\[,;:! ]|~)+$")
# A unit after the value, as text ("5\text{ cm}", "864 \mbox{ inches}^2", "3\,\mathrm{m/s}") or as
# bare words after something number-like ("2 days", "12 sq. ft"); glued ("5cm") only when known.
_UNIT_TEXT = re.compile(
    r"\s*\\(?:text|textrm|textnormal|mbox|mathrm)\s*\{\s*([A-Za-z][A-Za-z .'/]*?)\s*\}"
    r"\s*(?:\^\s*\{?\s*([23])\s*\}?)?$")
_UNIT_BARE = re.compile(
    r"(?<=[\d}).])\s+([A-Za-z]{2,}\.?(?:\s+[A-Za-z]{2,}\.?)*)\s*(?:\^\s*\{?\s*([23])\s*\}?)?$")
_UNIT_GLUED = re.compile(r"(?<=\d)([A-Za-z]{2,}\.?)\s*(?:\^\s*\{?\s*([23])\s*\}?)?$")
# Known units: alias -> canonical name. Plurals are found by dropping "s" / "es". Two answers
# that both carry a known unit must carry the same one; other words ("ways", "students",
# "units") are labels naming what the question counted and are dropped.
_UNITS = {alias: canon for canon, aliases in {
    "mm": "mm millimeter millimetre", "cm": "cm centimeter centimetre",
    "m": "m meter metre", "km": "km kilometer kilometre", "in": "in inch", "ft": "ft foot feet",
    "yd": "yd yard", "mi": "mi mile", "mg": "mg milligram", "g": "g gm gram gramme",
    "kg": "kg kilogram kilo", "lb": "lb lbs pound", "oz": "oz ounce", "ton": "ton",
    "tonne": "tonne", "ms": "ms millisecond", "s": "s sec second", "min": "min minute",
    "h": "h hr hour", "day": "day", "week": "week wk", "month": "month", "year": "year yr",
    "ml": "ml milliliter millilitre", "l": "l liter litre", "gal": "gal gallon",
    "qt": "qt quart", "cup": "cup", "acre": "acre", "dollar": "dollar", "cent": "cent",
    "euro": "euro", "degree": "degree deg", "radian": "radian rad", "mi/h": "mph",
    "km/h": "kph kmh", "percent": "percent pct",
}.items() for alias in aliases.split()}
_UNIT_POWER = {"square": "^2", "sq": "^2", "cubic": "^3", "cu": "^3"}
_UNIT_FILLER = {"long", "wide", "tall", "high", "deep", "each", "apiece", "total", "altogether",
                "away", "old", "of"}
# Words after a number that are not units ("3 pi" as typed; "2 cos x" has a one-letter word).
_NOT_UNIT = {"pi", "sin", "cos", "tan", "csc", "cot", "log", "ln", "exp", "sqrt", "and", "or"}
_PERCENT_SIGN = re.compile(r"\s*(?:\\%|%|\\text\s*\{\s*\\%\s*\})$")
_NUMBER_PERCENT = re.compile(r"(?<![\w.\\^/{])(-?)(\d+(?:\.\d+)?|\.\d+)\s*(?:\\%|%)")
# "0.\overline{6}", "0.1\bar{6}", "0.\overline6" and "0.(6)" (digits, point, digits, "(digits)").
_REPEATING = re.compile(
    r"(?<![\w.\\])(\d{0,20})\.(\d{0,20})\s*\\(?:overline|bar)\s*"
    r"(?:\{\s*(\d{1,20})\s*\}|(\d))(?![\d.])")
_REPEATING_PARENS = re.compile(r"(?<![\w.\\])(\d{1,20})\.(\d{0,20})\((\d{1,20})\)(?![\w(.])")
# "2.5e2", "1.2E-3". A lowercase e with a sign after an integer other than 1 ("2e-1") may be
# 2e - 1 with Euler's e, and is left to math-verify (which reads it so).
_SCI_E = re.compile(r"(?<![\w.\\^/])(\d+(?:\.\d+)?|\.\d+)([eE])([+-]?)(\d{1,3})(?![\w.^{])")
_SCI_TIMES_10 = re.compile(
    r"(-?)(\d+(?:\.\d+)?|\.\d+)\s*(?:\\times|\\cdot|×)\s*10\s*\^\s*"
    r"(?:\{\s*([+-]?\d{1,3})\s*\}|(\d))")
_BARE_PI = re.compile(r"(?<![A-Za-z\\])[Pp]i(?![A-Za-z])")
# Compared without spaces; "{}" only as the whole answer (elsewhere it is an empty TeX group).
_EMPTY_SET = {"\\varnothing", "\\emptyset", "\\{\\}", "{}", "\\O", "emptyset", "\\text{emptyset}"}
_ARTICLES = ("a", "an", "the")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°")  # a bare \circ may be composition
_CHOICE = re.compile(r"^\(?([A-Ea-e])\)?$")
_LEADING_CHOICE = re.compile(r"^(?:\\text(?:bf)?\s*\{\s*)?\(([A-E])\)")


def _unwrap_text(s: str, alphabetic_too: bool) -> str:
    match = _TEXT_WRAP.match(s)
    if match and _matching_brace(s, match.end() - 1) == len(s) - 1:
        inner = s[match.end():-1].strip()
        if alphabetic_too or not re.fullmatch(r"[A-Za-z ]+", inner):
            return inner
    return s


def _strip_math_delimiters(s: str) -> str:
    while True:
        s = _EDGE_SPACE.sub("", s.strip())
        for left, right in (("$$", "$$"), ("\\(", "\\)"), ("\\[", "\\]"), ("$", "$")):
            if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right) \
                    and not s.endswith("\\" + right):
                s = s[len(left):len(s) - len(right)]
                break
        else:
            return s


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _fraction_latex(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def _repeating_value(whole: str, fixed: str, repeat: str) -> str:
    # I.F(R) = I + (FR - F) / (10^len(F) * (10^len(R) - 1))
    value = Fraction(int(whole or "0")) + Fraction(
        int(fixed + repeat) - int(fixed or "0"), 10 ** len(fixed) * (10 ** len(repeat) - 1))
    return _fraction_latex(value)


def _sci_e(match: re.Match) -> str:
    mantissa, letter, sign, exponent = match.groups()
    if letter == "e" and sign and "." not in mantissa and mantissa.lstrip("0") != "1":
        return match.group()
    return _decimal_text(Decimal(mantissa).scaleb(int(sign + exponent)))


def _unit_word(word: str) -> str | None:
    w = word.lower().rstrip(".")
    for candidate in (w, w[:-1] if w.endswith("s") else "", w[:-2] if w.endswith("es") else ""):
        if candidate in _UNITS:
            return _UNITS[candidate]
    return None


def _canonical_unit(phrase: str, power: str | None) -> str | None:
    """"cm", "ft^2", "mi/h", "percent"; None for a label ("ways", "square units") or filler."""
    words = [w.lower().rstrip(".") for w in phrase.replace("/", " per ").split()]
    if words[-2:] == ["in", "total"]:
        words = words[:-2]
    out, pending = [], ""
    for word in words:
        if word in _UNIT_FILLER:
            continue
        if word in _UNIT_POWER:
            pending = _UNIT_POWER[word]
        elif word == "per":
            out.append("/")
        else:
            unit = _unit_word(word)
            if unit is None:
                return None
            out.append(unit + pending)
            pending = ""
    if not out or out[-1] == "/" or pending:
        return None
    if power:
        out[-1] += "^" + power
    return " ".join(out).replace(" / ", "/")


def _clean_words(s: str) -> str:
    """A word answer without trailing punctuation or a leading article ("a hyperbola." ->
    "hyperbola", "\\text{the parabola}" -> "\\text{parabola}"); a lone letter "A" stays."""
    match = _TEXT_WRAP.match(s)
    wrapped = bool(match) and _matching_brace(s, match.end() - 1) == len(s) - 1
    inner = s[match.end():-1].strip() if wrapped else s
    inner = re.sub(r"\s*[.!?;:,]+$", "", inner)
    if not re.fullmatch(r"[A-Za-z][A-Za-z' -]*", inner):
        return s
    words = inner.split()
    if len(words) > 1 and words[0].lower() in _ARTICLES and len(words[1]) > 1 \
            and words[1].lower() not in ("and", "or"):
        words = words[1:]
    inner = " ".join(words)
    return s[:match.end()] + inner + "}" if wrapped else inner


@lru_cache(maxsize=1 << 14)
def _parse_answer(answer: str) -> tuple[str, str | None]:
    """(value, unit): the answer as math-verify and the key see it, and its canonical unit.

    Each step fixes a math-verify 0.9.0 miss or a policy of the module docstring. Regexes only:
    this runs in the parent on every answer (cached: references repeat across samples).
    """
    s = answer.replace("\u2212", "-").replace("\u03c0", "\\pi").replace("\u2205", "\\emptyset")
    s = re.sub(r"\\([lr])brace(?![a-zA-Z])", lambda m: "\\{" if m[1] == "l" else "\\}", s)
    s = _strip_math_delimiters(s)
    s = _DIGIT_GROUP_SEP.sub("", s)  # else "10\,000" parses as 10*0
    s = re.sub(r"(?:\s|\\[,;:! ])*\.$", "", s).strip()  # else "10." stays an unparsed string
    s = _unwrap_text(s, alphabetic_too=False)  # else "\text{A, C}" != "A, C"
    s = _clean_words(s)
    s = _BARE_PI.sub(r"\\pi", s)  # "2pi", "pi/2"
    unit, percent = None, False
    for _ in range(3):  # "5 \text{ cm} \text{ long}", "50\text{ percent}"
        sign = _PERCENT_SIGN.search(s)
        if sign and s[:sign.start()].strip():
            s, percent = _EDGE_SPACE.sub("", s[:sign.start()]), True
            continue
        match = _UNIT_TEXT.search(s) or _UNIT_BARE.search(s)
        glued = None if match else _UNIT_GLUED.search(s)
        if glued and _unit_word(glued.group(1)) is not None:
            match = glued
        if match is None or not s[:match.start()].strip() \
                or match.group(1).split()[0].lower() in _NOT_UNIT:
            break
        canonical = _canonical_unit(match.group(1), match.group(2))
        if canonical is None and re.search(r"(?<![A-Za-z])[A-Za-z](?![A-Za-z])", match.group(1)):
            break  # "3\mathrm{i}", "2\text{ x}": a symbol, not a label
        if canonical == "percent":
            percent = True
        elif canonical is not None:
            unit = canonical if unit is None else f"{canonical} {unit}"
        s = _EDGE_SPACE.sub("", s[:match.start()])  # "10\,\text{cm}"
    s = _REPEATING.sub(lambda m: _repeating_value(m[1], m[2], m[3] or m[4]), s)
    s = _REPEATING_PARENS.sub(lambda m: _repeating_value(m[1], m[2], m[3]), s)
    s = _SCI_E.sub(_sci_e, s)
    times = _SCI_TIMES_10.fullmatch(s)
    if times:
        s = times[1] + _decimal_text(Decimal(times[2]).scaleb(int(times[3] or times[4])))
    if percent:
        s += "\\%"
    s = _NUMBER_PERCENT.sub(lambda m: m[1] + _decimal_text(Decimal(m[2]).scaleb(-2)), s)
    sign = _PERCENT_SIGN.search(s)
    if sign and s[:sign.start()].strip():  # "\frac34\%"
        s = "\\frac{" + s[:sign.start()].strip() + "}{100}"
    compact = re.sub(r"\s+|\\left(?![a-zA-Z])|\\right(?![a-zA-Z])|\\[,;:! ]", "", s)
    if compact in _EMPTY_SET or compact.lower() in _EMPTY_SET:
        s = "\\emptyset"
    return s, unit


def _pre_math_verify(answer: str) -> str:
    """The string math-verify sees: the answer's value, units and percent signs resolved."""
    return _parse_answer(str(answer))[0]


def _key(answer: str, unit: bool = True) -> str:
    value, unit_name = _parse_answer(str(answer))
    s = _unwrap_text(value, alphabetic_too=True)
    s = re.sub(r"\\[dtc]frac", r"\\frac", s)
    s = re.sub(r"\\left(?![a-zA-Z])|\\right(?![a-zA-Z])|\\displaystyle", "", s)
    s = re.sub(r"\\[,;:! ]|~", " ", s).replace("{,}", ",")
    s = _DEGREES.sub("", s)
    s = s.replace("\\$", "").replace("$", "")
    # Spaces carry no meaning in LaTeX except between two digits ("2 3" is not 23).
    s = re.sub(r"(?<=\d)\s+(?=\d)", "\x00", s)
    s = re.sub(r"\s+", "", s).replace("\x00", " ")
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\{([^{}]*)\}(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac(\d)\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\sqrt(\d)", r"\\sqrt{\1}", s)
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
        s = s.replace(",", "")
    if re.fullmatch(r"-?\d*\.\d+", s):
        s = s.rstrip("0").rstrip(".") or "0"
        s = re.sub(r"^(-?)\.", r"\g<1>0.", s)
    choice = _CHOICE.match(s)
    if choice:
        s = choice.group(1)
    if re.fullmatch(r"[A-Za-z]{2,}", s):
        s = s.lower()
    return s + "\\text{" + unit_name + "}" if unit and unit_name else s


def normalize_math_answer(answer: str) -> str:
    """Canonical string of a MATH answer, the key maj@k votes on.

    Drops delimiters, \\text{} wrappers, labels ("5 \\text{ ways}" -> "5"), degrees, dollar
    signs, thousands separators, spaces, \\left/\\right, trailing zeros of decimals, a leading
    article of a word answer and a single-letter assignment ("x=3" -> "3"); \\dfrac -> \\frac,
    \\frac12 -> \\frac{1}{2}, "(B)" -> "B"; words are lowercased. A known unit stays, canonical
    ("3\\text{ kilograms}" -> "3\\text{kg}"); a percent becomes its value ("50\\%" -> "0.5"),
    as do repeating decimals ("0.\\overline{6}" -> "\\frac{2}{3}") and scientific notation
    ("2.5e2" -> "250"); "pi" -> "\\pi"; empty-set spellings -> "\\emptyset". Other equivalent
    answers written differently ("0.5", "\\frac12", "5\\text{ cm}" and "5") keep different
    keys: string votes split them.
    """
    s = _key(answer)
    if s.count("=") == 1 and re.match(r"^[A-Za-z]=", s):
        s = s[2:]
    return s


def _as_integer(answer: Any) -> int | None:
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return answer
    # "180 + 24 = 204" states 204; AoPS solutions box "\textbf{(113) }". AIME answers are
    # integers the question fixed the meaning of, so units and a percent sign are ignored.
    s = _PERCENT_SIGN.sub("", str(answer).rsplit("=", 1)[-1].strip())
    s = _key(s, unit=False)
    match = re.fullmatch(r"\(?([+-]?\d+)(?:\.0*)?\)?", s)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------------------------
# MATH / AIME: equivalence
# --------------------------------------------------------------------------------------------

_MV: dict = {}


class _DropTimeoutDisabledWarning(logging.Filter):
    # We pass timeout=None to math-verify on purpose (its SIGALRM would cancel ours), and it
    # warns about that once per process.
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Timeout is disabled")


def _load_math_verify() -> dict:
    if not _MV:
        import math_verify

        for name in ("math_verify.parser", "math_verify.grader"):
            logging.getLogger(name).addFilter(_DropTimeoutDisabledWarning())
        _MV["parse"] = math_verify.parse
        _MV["verify"] = math_verify.verify
        # Configs are frozen and math-verify caches compiled regexes per config object.
        _MV["config"] = [
            math_verify.LatexExtractionConfig(boxed_match_priority=0),
            math_verify.ExprExtractionConfig(),
        ]
    return _MV


def _math_verify_equal(pred: str, reference: str) -> tuple[bool, str]:
    mv = _load_math_verify()

    def parse(s: str) -> list:
        return mv["parse"]("\\boxed{" + _pre_math_verify(s) + "}", extraction_config=mv["config"],
                           parsing_timeout=None)

    gold = parse(reference)
    if not gold:
        return False, "math-verify could not read the reference"
    equal = mv["verify"](gold, parse(pred), timeout_seconds=None)
    return equal, "math-verify: " + ("equal" if equal else "not equal")


def _check_kind(kind: str) -> None:
    if kind not in ("math", "aime"):
        raise ValueError(f"kind must be 'math' or 'aime', got {kind!r}")


def _shape(key: str) -> str | None:
    """"set" for a whole answer in \\{...\\}, "tuple" for one in (..., ...), else None."""
    if key.startswith("\\{") and key.endswith("\\}"):
        depth = 0
        for match in re.finditer(r"\\[{}]", key):
            depth += 1 if match.group() == "\\{" else -1
            if depth == 0:
                return "set" if match.end() == len(key) else None
    if key.startswith("(") and key.endswith(")"):
        depth, comma = 0, False
        for i, ch in enumerate(key):
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
                if depth == 0 and i < len(key) - 1:
                    return None  # "(1,2)\cup(3,4)", "(x+1)(x+2)"
            elif ch == "," and depth == 1:
                comma = True
        return "tuple" if comma else None
    return None


def _quick_verdict(pred: str | None, reference: Any, kind: str) -> tuple[bool, str] | None:
    """A verdict that needs no sympy, or None when math-verify must decide."""
    if pred is None:
        return False, "no answer found"
    if not str(pred).strip():
        return False, "empty answer"
    if kind == "aime":
        ref = _as_integer(reference)
        if ref is None:
            raise ValueError(f"AIME reference is not an integer: {reference!r}")
        got = _as_integer(pred)
        if got is None:
            return False, f"answer is not an integer: {str(pred)[:80]!r}"
        return got == ref, f"{got} {'==' if got == ref else '!='} {ref}"
    pred_unit, ref_unit = _parse_answer(str(pred))[1], _parse_answer(str(reference))[1]
    if pred_unit and ref_unit and pred_unit != ref_unit:
        return False, f"units differ: {pred_unit} != {ref_unit}"
    pred_key, ref_key = _key(pred, unit=False), _key(str(reference), unit=False)
    if pred_key == ref_key:
        return True, "normalized strings equal"
    shapes = {_shape(pred_key), _shape(ref_key)}
    if shapes == {"set", "tuple"}:
        return False, "an ordered tuple is not a set"
    choice = _CHOICE.match(ref_key)
    if choice and choice.group(1).isupper():
        lead = _LEADING_CHOICE.match(_pre_math_verify(pred))
        if lead:
            ok = lead.group(1) == choice.group(1)
            return ok, f"choice ({lead.group(1)}) {'==' if ok else '!='} ({choice.group(1)})"
    return None


def math_answers_equal(pred: str, reference: Any, kind: str = "math") -> tuple[bool, str]:
    """Whether an extracted answer equals the reference answer; (equal, detail).

    Runs math-verify in this process with no timeout: use grade_math_batch for model output.
    """
    _check_kind(kind)
    verdict = _quick_verdict(pred, reference, kind)
    return verdict if verdict is not None else _math_verify_equal(pred, str(reference))


def _reference_answer(reference: Any) -> Any:
    if isinstance(reference, str) and ("\\boxed" in reference or "\\fbox" in reference):
        boxed = last_boxed(reference)
        return boxed if boxed is not None else reference
    return reference


class _SoftTimeout(BaseException):
    """Raised by SIGALRM; a BaseException so sympy's `except Exception` cannot swallow it."""


def _raise_soft_timeout(signum, frame):
    raise _SoftTimeout()


@contextmanager
def _alarm(seconds: float | None):
    """SIGALRM after `seconds` of wall time; a no-op off the main thread or without a limit."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _raise_soft_timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _math_result(outcome: tuple[str, Any], extracted: str | None, method: str,
                 timeout: float | None) -> dict:
    kind, value = outcome
    if kind == "ok":
        equal, detail = value
        return _result(equal, "pass" if equal else "fail", f"{method}: {detail}", extracted,
                       method=method)
    if kind == "timeout":
        return _result(False, "timeout", f"{method}: grading exceeded {timeout}s", extracted,
                       method=method)
    return _result(False, "error", f"{method}: {value}", extracted, method=method)


def grade_math(completion: str, reference: Any, kind: str = "math",
               timeout: float | None = None, fallback: bool = True) -> dict:
    """Grade one MATH/AIME completion in this process (SIGALRM timeout in the main thread only)."""
    _check_kind(kind)
    answer, method = extract_math_answer(completion, fallback)
    reference = _reference_answer(reference)
    try:
        verdict = _quick_verdict(answer, reference, kind)
        if verdict is None:
            with _alarm(timeout):
                verdict = _math_verify_equal(answer, str(reference))
        outcome = ("ok", verdict)
    except _SoftTimeout:
        outcome = ("timeout", None)
    except Exception as exc:  # a grader bug must cost one item, not the run
        outcome = ("error", f"{type(exc).__name__}: {str(exc)[:200]}")
    return _math_result(outcome, answer, method, timeout)


def grade_math_batch(pairs: Iterable[tuple[str, Any]], workers: int | None = None,
                     timeout: float = 10.0, kind: str = "math", fallback: bool = True,
                     progress: bool = False) -> list[dict]:
    """grade_math over (completion, reference) pairs, math-verify in worker processes.

    workers: None -> one per CPU (at most one per distinct pair); 0 -> in-process.
    timeout: seconds per distinct (answer, reference) pair.
    """
    _check_kind(kind)
    pairs = list(pairs)
    extracted = [extract_math_answer(c, fallback) for c, _ in pairs]
    references = [_reference_answer(r) for _, r in pairs]
    outcomes: list[tuple[str, Any] | None] = [None] * len(pairs)
    jobs: dict[tuple[str, str], list[int]] = {}
    for i, ((answer, _), ref) in enumerate(zip(extracted, references)):
        try:
            verdict = _quick_verdict(answer, ref, kind)
        except ValueError as exc:
            outcomes[i] = ("error", str(exc))
            continue
        if verdict is not None:
            outcomes[i] = ("ok", verdict)
        else:
            jobs.setdefault((answer, str(ref)), []).append(i)

    keys = list(jobs)
    if workers is None:
        workers = min(len(keys), os.cpu_count() or 1)
    if keys and workers == 0:
        done = []
        for key in keys:
            try:
                with _alarm(timeout):
                    done.append(("ok", _math_verify_equal(*key)))
            except _SoftTimeout:
                done.append(("timeout", None))
            except Exception as exc:
                done.append(("error", f"{type(exc).__name__}: {str(exc)[:200]}"))
    elif keys:
        done = _pool_map(_math_verify_equal, keys, workers, timeout, init=_load_math_verify,
                         progress=progress)
    else:
        done = []
    for key, outcome in zip(keys, done):
        for i in jobs[key]:
            outcomes[i] = outcome
    return [_math_result(o, a, m, timeout) for o, (a, m) in zip(outcomes, extracted)]


# --------------------------------------------------------------------------------------------
# Process pool with per-task timeouts
# --------------------------------------------------------------------------------------------

def _worker_loop(conn, fn: Callable, init: Callable | None, soft_timeout: float) -> None:
    # Ctrl-C reaches the whole process group; the parent decides and kills us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if init is not None:
        init()
    conn.send("ready")
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        index, args = message
        try:
            with _alarm(soft_timeout):
                outcome = ("ok", fn(*args))
        except _SoftTimeout:
            outcome = ("timeout", None)
        except Exception as exc:
            outcome = ("error", f"{type(exc).__name__}: {str(exc)[:200]}")
        conn.send((index, outcome))


class _Worker:
    def __init__(self, ctx, fn, init, soft_timeout):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_loop, args=(child, fn, init, soft_timeout),
                                daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.task: int | None = None
        self.deadline = 0.0

    def stop(self, kill: bool = False) -> None:
        if not kill and self.proc.is_alive():
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                pass
            self.proc.join(timeout=1.0)
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


def _pool_map(fn: Callable, items: Sequence[tuple], workers: int, timeout: float,
              init: Callable | None = None, grace: float | None = None,
              progress: bool = False) -> list[tuple[str, Any]]:
    """fn(*item) for each item in spawned workers: ("ok", value) | ("timeout", None) |
    ("error", message), in item order.

    Each worker arms SIGALRM for `timeout` seconds per item. A worker still busy `grace`
    seconds after that (a hang in C code never runs the handler) is killed and replaced, and so
    is a worker that dies. Workers count from "ready" (after `init`), so start-up time is not
    charged to the first item.
    """
    if not items:
        return []
    grace = 2.0 + 0.25 * timeout if grace is None else grace
    ctx = mp.get_context("spawn")  # fork would copy a parent's threads and CUDA state
    results: list[tuple[str, Any] | None] = [None] * len(items)
    todo = deque(range(len(items)))
    pool = [_Worker(ctx, fn, init, timeout) for _ in range(max(1, min(workers, len(items))))]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), desc="grading", unit="answer")
    remaining = len(items)

    def finish(worker: _Worker, outcome: tuple[str, Any]) -> None:
        nonlocal remaining
        results[worker.task] = outcome
        worker.task = None
        remaining -= 1
        if bar is not None:
            bar.update(1)

    try:
        while remaining:
            for worker in pool:
                if worker.ready and worker.task is None and todo:
                    worker.task = todo.popleft()
                    worker.conn.send((worker.task, items[worker.task]))
                    worker.deadline = time.monotonic() + timeout + grace
            deadlines = [w.deadline for w in pool if w.task is not None]
            wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            _wait_any([w.conn for w in pool] + [w.proc.sentinel for w in pool], timeout=wait_s)
            for k, worker in enumerate(pool):
                message, dead = None, False
                try:
                    if worker.conn.poll():
                        message = worker.conn.recv()
                except (EOFError, OSError):
                    dead = True
                if message == "ready":
                    worker.ready = True
                elif message is not None:
                    index, outcome = message
                    worker.task = index
                    finish(worker, outcome)
                elif dead or not worker.proc.is_alive():
                    worker.proc.join(timeout=1.0)
                    if not worker.ready:
                        raise RuntimeError(
                            f"grading worker failed to start (exit code {worker.proc.exitcode}); "
                            "a script that grades in workers needs an "
                            "`if __name__ == '__main__':` guard")
                    if worker.task is not None:
                        finish(worker, ("error",
                                        f"grading worker died (exit code {worker.proc.exitcode})"))
                    worker.stop(kill=True)
                    pool[k] = _Worker(ctx, fn, init, timeout) if todo else None
                elif worker.task is not None and time.monotonic() >= worker.deadline:
                    worker.stop(kill=True)
                    finish(worker, ("timeout", None))
                    pool[k] = _Worker(ctx, fn, init, timeout) if todo else None
            pool = [w for w in pool if w is not None]
    finally:
        for worker in pool:
            worker.stop(kill=bool(remaining))
        if bar is not None:
            bar.close()
    return results
