"""Auto-difficulty curricula (reproduction guide §2.3): round after round the model solves problems made
at a difficulty level, the verified solutions are trained on, and the level moves to hold the round's
solve rate inside a band. recipe/curriculum_math.py, recipe/curriculum_code.py and recipe/math_bootstrap.py
(the vanilla baseline: the same loop with the level fixed) are thin scripts over `run`.

Round r (1-based) lives in <run dir>/rounds/r<r:02d>/, each file skipped when complete, resumed when partial:
    problems.jsonl  the round's problems, ids `r03/L2/0007` (round, level, index): math
                    `task_id, problem, answer` (+ question, solution, level, source, meta), code
                    `task_id, prompt, entry_point, test` (+ canonical_solution, level, source, meta)
    attempts.jsonl  --n-attempts samples per problem by the model with the latest adapter (the base
                    model until a round has found a pair)
    verified.jsonl  one verdict per attempt: math by the strict GSM8K grader against the problem's
                    answer (tinyforge.grading), code by its tests in the sandbox (mining.stage_verify)
    pairs.jsonl     up to --max-pairs-per-problem distinct verified solutions per problem, the model's
                    own text, in the DESIGN.md pair contract (meta.format says how to render them)
    adapter/        a LoRA trained from the base on the pairs of rounds 1..r; absent when round r
                    found no pair (the previous adapter stays in use)
    round.json      the round's summary; its presence marks the round done
and curriculum.png (level and solve rate per round) is redrawn after every round.

Solve rate = the share of the round's problems with at least one verified attempt. A problem without
one yields no pair, so the rate is the round's yield: above --band-high the problems teach little new
(level + 1), below --band-low too few pairs come out (level - 1). The per-attempt pass rate is logged
beside it as `verified_share`.

Problem sources (level L = 1 is the easiest):
    math synthetic    procedural word problems: a start quantity, then L arithmetic operations (+, -,
                      x, exact division; a "buys k packs of n" sentence is two), operands growing with
                      L; the generator computes the answer exactly and writes a worked `solution`
    math gsm8k_train  GSM8K train items with L calculator annotations `<<...>>` in the reference
                      answer (0 counts as 1; the top level takes every longer item too), decontaminated
    code synthetic    HumanEval-style stubs whose docstring lists L chained list or string operations
                      (filter, map, reverse, sort, slice, ..., optionally ending in a reduction such as
                      sum or max) with a `check(candidate)` of 5 cases from the generator's reference
    code mbpp_train   MBPP train stubs (mining.seed_problems), decontaminated, cut into 5 levels by
                      reference-solution length (mining.order_by_reference_length)
Problems are a function of (seed, round, level) and of the items earlier rounds used (a data-set item
is reused only once its level has run out of fresh ones).
"""

from __future__ import annotations

import functools
import random
import re
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from tinyforge import mining
from tinyforge.io import JsonlWriter, TinyforgeError, read_json, read_jsonl, save_metrics, write_json, write_jsonl

MATH_SOURCES = ("synthetic", "gsm8k_train")
CODE_SOURCES = ("synthetic", "mbpp_train")
# Ten operations is past what a 3B base model solves reliably on the GSM8K-style prompt; the
# controller never needs to go further.
SYNTH_MAX_LEVEL = 10
# A gsm8k_train level needs this many items (the guide's 64 problems per round would otherwise repeat
# at once); the top level also takes every longer item. On the shipped data: levels 1-8.
GSM8K_MIN_BUCKET = 32
MBPP_LEVELS = 5
_CALC = re.compile(r"<<[^<>]*>>")


def _rng(seed: int, key: str) -> random.Random:
    from tinyforge.sampling import derive_seed

    return random.Random(derive_seed(seed, key))


def problem_id(rnd: int, level: int | None, i: int) -> str:
    return f"r{rnd:02d}/{'any' if level is None else f'L{level}'}/{i:04d}"


# ---------------------------------------------------------------------------------------------------
# The band controller

def check_band(low: float, high: float) -> None:
    if not (0.0 <= low <= 1.0 and 0.0 <= high <= 1.0):
        raise TinyforgeError(f"--band-low {low} / --band-high {high}: solve rates are shares, expected "
                             f"values in [0, 1]")
    if low > high:
        raise TinyforgeError(f"--band-low {low} is above --band-high {high}: the band is the solve-rate "
                             f"range [low, high] the level is held in")


def next_level(level: int, solve_rate: float, low: float, high: float, max_level: int,
               min_level: int = 1) -> int:
    """One step of the controller: up when the solve rate is above the band, down when below, else
    stay; always within [min_level, max_level]."""
    if solve_rate > high:
        level += 1
    elif solve_rate < low:
        level -= 1
    return max(min_level, min(max_level, level))


# ---------------------------------------------------------------------------------------------------
# Math problems

_PEOPLE = (("Mia", "she"), ("Liam", "he"), ("Ava", "she"), ("Noah", "he"), ("Zara", "she"), ("Omar", "he"),
           ("Lena", "she"), ("Ravi", "he"), ("Sofia", "she"), ("Mateo", "he"), ("Hana", "she"), ("Kofi", "he"),
           ("Priya", "she"), ("Jonas", "he"), ("Aisha", "she"), ("Diego", "he"), ("Mei", "she"), ("Tom", "he"),
           ("Nadia", "she"), ("Felix", "he"))
_THINGS = ("marbles", "stickers", "apples", "books", "coins", "cookies", "pencils", "stamps", "trading cards",
           "seashells", "eggs", "crayons", "beads", "postcards", "toy cars", "oranges", "buttons", "balloons")
_FRACTION = {2: "half", 3: "a third", 4: "a quarter", 5: "a fifth", 6: "a sixth", 7: "a seventh",
             8: "an eighth", 9: "a ninth", 10: "a tenth"}
_OPENINGS = ("{name} has {x} {t}.", "{name} starts the week with {x} {t}.", "{name} has a collection of {x} {t}.",
             "At first, {name} has {x} {t}.")
_QUESTIONS = ("How many {t} does {name} have now?", "How many {t} does {name} have in the end?",
              "How many {t} does {name} end up with?")
_ADD = ("{who} buys {n} more {t}.", "{who} finds {n} more {t}.", "{who} is given {n} {t} by a neighbour.",
        "{who} wins {n} {t} at the fair.")
_SUB = ("{who} gives {n} {t} to a classmate.", "{who} sells {n} of the {t}.", "{who} loses {n} {t} on the way home.",
        "{who} uses {n} {t} for a school project.")
_MUL = ("{who} ends up with {k} times as many {t} as before.",)
_MUL_WORD = {2: "{who} doubles the number of {t}.", 3: "{who} triples the number of {t}."}
_DIV = ("{who} splits the {t} into {k} equal piles and keeps only one pile.",
        "{who} keeps {frac} of the {t} and gives the rest away.",
        "{who} shares the {t} equally between {self} and {others} and keeps one share.")
_PACKS = ("{who} buys {k} packs of {t} with {n} in each pack.", "{who} receives {k} boxes with {n} {t} in each box.")
_EACH = ("{who} gives {n} {t} to each of {k} friends.",)


def _math_steps(rng: random.Random, level: int, x: int) -> tuple[list[tuple], int]:
    """`level` arithmetic operations on a start value x, as steps [(kind, operand(s), before, after)]
    (a packs / each step is two operations: a product, then a sum or a difference); the final value."""
    cap = 200 * level  # keeps answers in GSM8K's range; a product above it is not offered
    hi = 5 + 4 * level
    steps, prev, n_ops = [], None, 0
    while n_ops < level:
        left = level - n_ops
        opts: list[tuple[str, int]] = [("add", 3)]
        if x >= 3:
            opts.append(("sub", 3))
        ks = [k for k in range(2, min(2 + (level + 1) // 2, 6) + 1) if x * k <= cap]
        if ks and prev != "div":
            opts.append(("mul", 2))
        divs = [k for k in range(2, 11) if x % k == 0]
        if divs and prev != "mul":
            opts.append(("div", 2))
        if left >= 2:
            opts.append(("packs", 1))
            if (x - 1) // 2 >= 2:
                opts.append(("each", 1))
        kind = rng.choices([o for o, _ in opts], weights=[w for _, w in opts])[0]
        before = x
        if kind == "add":
            arg = rng.randint(2, hi)
            x += arg
        elif kind == "sub":
            arg = rng.randint(2, min(hi, x - 1))
            x -= arg
        elif kind == "mul":
            arg = rng.choice(ks)
            x *= arg
        elif kind == "div":
            arg = rng.choice(divs)
            x //= arg
        elif kind == "packs":
            arg = (rng.randint(2, min(2 + level // 2, 6)), rng.randint(2, 3 + level))
            x += arg[0] * arg[1]
        else:  # give n to each of k friends, at least 2 each, always keeping one
            k = rng.randint(2, max(2, min(2 + level // 2, 6, (x - 1) // 2)))
            arg = (k, rng.randint(2, max(2, min(3 + level, (x - 1) // k))))
            x -= arg[0] * arg[1]
        steps.append((kind, arg, before, x))
        n_ops += 2 if kind in ("packs", "each") else 1
        prev = kind
    return steps, x


def _math_text(rng: random.Random, steps: list[tuple], x0: int) -> tuple[str, str]:
    """(question, worked solution ending `#### answer`) for the steps."""
    name, pron = rng.choice(_PEOPLE)
    t = rng.choice(_THINGS)
    self_ = "herself" if pron == "she" else "himself"
    sents = [rng.choice(_OPENINGS).format(name=name, x=x0, t=t)]
    lines = []
    for i, (kind, arg, before, after) in enumerate(steps):
        who = rng.choice([name, f"Then {pron}"] if i == 0 else
                         [name, f"Then {pron}", f"After that, {pron}", f"Next, {pron}", f"Later, {pron}"])
        if kind == "add":
            sents.append(rng.choice(_ADD).format(who=who, n=arg, t=t))
            lines.append(f"{before} + {arg} = {after}")
        elif kind == "sub":
            sents.append(rng.choice(_SUB).format(who=who, n=arg, t=t))
            lines.append(f"{before} - {arg} = {after}")
        elif kind == "mul":
            pool = _MUL + ((_MUL_WORD[arg],) if arg in _MUL_WORD else ())
            sents.append(rng.choice(pool).format(who=who, k=arg, t=t))
            lines.append(f"{before} * {arg} = {after}")
        elif kind == "div":
            others = "a friend" if arg == 2 else f"{arg - 1} friends"
            sents.append(rng.choice(_DIV).format(who=who, k=arg, t=t, frac=_FRACTION[arg], self=self_,
                                                 others=others))
            lines.append(f"{before} / {arg} = {after}")
        else:
            k, n = arg
            sents.append(rng.choice(_PACKS if kind == "packs" else _EACH).format(who=who, k=k, n=n, t=t))
            lines.append(f"{k} * {n} = {k * n}")
            lines.append(f"{before} {'+' if kind == 'packs' else '-'} {k * n} = {after}")
    sents.append(rng.choice(_QUESTIONS).format(name=name, t=t))
    answer = steps[-1][3]
    return " ".join(s[0].upper() + s[1:] for s in sents), "\n".join(lines) + f"\n#### {answer}"


def synthetic_math_problem(seed: int, rnd: int, level: int, i: int, k: int = 0) -> dict:
    """Problem i of round `rnd` at `level` (k: the redraw count when an earlier draw was a duplicate)."""
    rng = _rng(seed, f"math/r{rnd}/L{level}/{i}/{k}")
    x0 = rng.randint(5 + 2 * level, 20 + 10 * level)
    steps, answer = _math_steps(rng, level, x0)
    question, solution = _math_text(rng, steps, x0)
    return {"problem": question, "question": question, "answer": str(answer), "solution": solution,
            "level": level, "source": "synthetic",
            "meta": {"steps": level, "ops": [s[0] for s in steps], "start": x0}}


def gsm8k_steps(rec: dict) -> int:
    """Calculator annotations in a GSM8K reference answer: the calculations its solution takes."""
    return len(_CALC.findall(rec.get("answer_raw") or ""))


@functools.lru_cache(maxsize=1)
def _gsm8k_train() -> tuple[dict, ...]:
    from tinyforge.benchmarks import load_benchmark

    return tuple(load_benchmark("gsm8k", split="train"))


def gsm8k_max_level(items: Sequence[dict] | None = None) -> int:
    steps = [gsm8k_steps(r) for r in (items if items is not None else _gsm8k_train())]
    top = max(steps, default=1)
    return max([lv for lv in range(1, top + 1) if sum(s >= lv for s in steps) >= GSM8K_MIN_BUCKET], default=1)


def gsm8k_level(rec: dict, max_level: int) -> int:
    return max(1, min(max_level, gsm8k_steps(rec)))


def mbpp_levels(pool: Sequence[dict], n_levels: int = MBPP_LEVELS) -> list[list[dict]]:
    """`pool` cut into n_levels buckets of (nearly) equal size, shortest reference solutions first."""
    ordered = mining.order_by_reference_length(pool)
    return [[p for j, p in enumerate(ordered) if j * n_levels // max(1, len(ordered)) == lv]
            for lv in range(n_levels)]


def _ref_lines(p: dict) -> int:
    return len([ln for ln in (p.get("canonical_solution") or "").splitlines() if ln.strip()])


# ---------------------------------------------------------------------------------------------------
# Code problems

_LIST_NAMES = ("process_numbers", "transform_values", "crunch_scores", "refine_readings", "reduce_items",
               "adjust_counts")
_TEXT_NAMES = ("process_text", "transform_message", "clean_phrase", "rework_label", "reshape_words")
_WORDS = ("apple", "River", "stone", "Blue", "cloud", "tiger", "Ocean", "paper", "lamp", "Green", "music",
          "forest", "Kite", "sun", "bread", "echo", "Maple", "quiet", "Anchor", "Eagle", "Night", "Tower", "Sand")
_VOWELS = "aeiou"

Op = tuple  # (key, docstring step, code line, python function[, decoy: a likely misreading of the step])


def _list_ops(rng: random.Random, level: int) -> list[Op]:
    a = rng.randint(1, 3 + level)
    m = rng.randint(2, min(2 + level // 3, 5))
    t = rng.randint(-3, 5 + level)
    f, d = rng.randint(2, 5), rng.randint(1, 3)
    return [
        ("even", "Keep only the even numbers.", "nums = [x for x in nums if x % 2 == 0]",
         lambda xs: [x for x in xs if x % 2 == 0]),
        ("odd", "Keep only the odd numbers.", "nums = [x for x in nums if x % 2 != 0]",
         lambda xs: [x for x in xs if x % 2 != 0]),
        ("add", f"Add {a} to every number.", f"nums = [x + {a} for x in nums]", lambda xs: [x + a for x in xs]),
        ("sub", f"Subtract {a} from every number.", f"nums = [x - {a} for x in nums]", lambda xs: [x - a for x in xs]),
        ("mul", f"Multiply every number by {m}.", f"nums = [x * {m} for x in nums]", lambda xs: [x * m for x in xs]),
        ("rev", "Reverse the order of the numbers.", "nums = nums[::-1]", lambda xs: xs[::-1]),
        ("asc", "Sort the numbers in ascending order.", "nums = sorted(nums)", lambda xs: sorted(xs)),
        ("desc", "Sort the numbers in descending order.", "nums = sorted(nums, reverse=True)",
         lambda xs: sorted(xs, reverse=True)),
        ("gt", f"Keep only the numbers greater than {t}.", f"nums = [x for x in nums if x > {t}]",
         lambda xs: [x for x in xs if x > t]),
        ("lt", f"Keep only the numbers less than {t}.", f"nums = [x for x in nums if x < {t}]",
         lambda xs: [x for x in xs if x < t]),
        ("sq", "Replace every number by its square.", "nums = [x * x for x in nums]", lambda xs: [x * x for x in xs]),
        ("uniq", "Remove repeated numbers, keeping the first occurrence of each.", "nums = list(dict.fromkeys(nums))",
         lambda xs: list(dict.fromkeys(xs))),
        ("head", f"Keep only the first {f} numbers (all of them if there are fewer).", f"nums = nums[:{f}]",
         lambda xs: xs[:f]),
        ("drop", f"Drop the first {d} numbers (all of them if there are fewer).", f"nums = nums[{d}:]",
         lambda xs: xs[d:]),
        ("abs", "Replace every number by its absolute value.", "nums = [abs(x) for x in nums]",
         lambda xs: [abs(x) for x in xs]),
    ]


_LIST_ENDS: list[Op] = [
    ("sum", "Return the sum of the numbers (0 if there are none).", "return sum(nums)", lambda xs: sum(xs)),
    ("max", "Return the largest number (0 if there are none).", "return max(nums) if nums else 0",
     lambda xs: max(xs) if xs else 0),
    ("min", "Return the smallest number (0 if there are none).", "return min(nums) if nums else 0",
     lambda xs: min(xs) if xs else 0),
    ("len", "Return how many numbers there are.", "return len(nums)", lambda xs: len(xs)),
]


def _text_ops(rng: random.Random, level: int) -> list[Op]:
    c = rng.choice("-_*+.")
    f, d = rng.randint(3, 6 + level), rng.randint(1, 3)
    return [
        ("lower", "Convert the text to lowercase.", "text = text.lower()", lambda s: s.lower()),
        ("upper", "Convert the text to uppercase.", "text = text.upper()", lambda s: s.upper()),
        ("swap", "Swap the case of every letter.", "text = text.swapcase()", lambda s: s.swapcase()),
        ("rev", "Reverse the text.", "text = text[::-1]", lambda s: s[::-1]),
        ("novow", "Remove every vowel (a, e, i, o, u, in either case).",
         f"text = ''.join(ch for ch in text if ch.lower() not in '{_VOWELS}')",
         lambda s: "".join(ch for ch in s if ch.lower() not in _VOWELS)),
        ("space", f"Replace every space with '{c}'.", f"text = text.replace(' ', '{c}')",
         lambda s: s.replace(" ", c)),
        ("alpha", "Remove every character that is not a letter or a space.",
         "text = ''.join(ch for ch in text if ch.isalpha() or ch == ' ')",
         lambda s: "".join(ch for ch in s if ch.isalpha() or ch == " ")),
        ("double", "Repeat every character twice (so 'ab' becomes 'aabb').", "text = ''.join(ch * 2 for ch in text)",
         lambda s: "".join(ch * 2 for ch in s)),
        ("head", f"Keep only the first {f} characters (all of them if there are fewer).", f"text = text[:{f}]",
         lambda s: s[:f]),
        ("chop", f"Remove the last {d} characters (all of them if there are fewer).", f"text = text[:-{d}]",
         lambda s: s[:-d]),
        ("rwords", "Reverse the order of the words (split on whitespace) and join them with single spaces.",
         "text = ' '.join(text.split()[::-1])", lambda s: " ".join(s.split()[::-1])),
        ("strip", "Remove the spaces at the start and at the end.", "text = text.strip(' ')",
         lambda s: s.strip(" ")),
    ]


def _text_ends(rng: random.Random) -> list[Op]:
    c = rng.choice("aenorst")
    return [
        ("len", "Return the number of characters.", "return len(text)", lambda s: len(s)),
        ("count", f"Return how many times '{c}' occurs (case-sensitive).", f"return text.count('{c}')",
         lambda s: s.count(c), lambda s: s.lower().count(c)),
        ("words", "Return the number of words (split on whitespace).", "return len(text.split())",
         lambda s: len(s.split())),
        ("vowels", "Return the number of vowels (a, e, i, o, u, in either case).",
         f"return sum(ch.lower() in '{_VOWELS}' for ch in text)", lambda s: sum(ch.lower() in _VOWELS for ch in s)),
    ]


def _list_input(rng: random.Random, level: int) -> list[int]:
    return [rng.randint(-9, 9 + 2 * level) for _ in range(rng.randint(3, 5 + level))]


def _text_input(rng: random.Random, level: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 2 + level // 2))]
    words = [w + rng.choice(["", "", "!", ",", "7"]) for w in words]
    return rng.choice(["", "", " "]) + rng.choice([" ", " ", "  "]).join(words) + rng.choice(["", "", " "])


# Steps that make another one pointless (lower then upper, sort then sort, abs then square, ...) or the
# input empty (even then odd): at most one of each group per problem.
_EXCLUSIVE = ({"lower", "upper"}, {"asc", "desc"}, {"even", "odd"}, {"abs", "sq"})
# After spaces are replaced there are none left to strip or split on.
_AFTER_SPACE = {"strip", "rwords", "words"}


def _allowed(op: Op, ops: Sequence[Op]) -> bool:
    keys = {o[0] for o in ops}
    if op[0] in keys or any(op[0] in g and keys & g for g in _EXCLUSIVE):
        return False
    return not ("space" in keys and op[0] in _AFTER_SPACE)


def _apply(ops: Sequence[Op], v):
    for op in ops:
        v = op[3](v)
    return v


def _decoys(ops: Sequence[Op]):
    """The step lists with one step replaced by its decoy (e.g. a case-insensitive count)."""
    for j, op in enumerate(ops):
        if len(op) > 4:
            yield list(ops[:j]) + [op[:3] + (op[4],)] + list(ops[j + 1:])


def synthetic_code_problem(seed: int, rnd: int, level: int, i: int, k: int = 0) -> dict:
    """A HumanEval-style problem: `level` chained operations on a list of ints or a string, described in
    the docstring; `check(candidate)` holds 5 cases (an empty input first) whose expected values the
    generator's own implementation of each step computes; `canonical_solution` is the body. The cases
    are drawn until every step shows in them (leaving any one out changes an expected value), no
    constant or the identity passes them, and no step's likely misreading (its decoy) does."""
    rng = _rng(seed, f"code/r{rnd}/L{level}/{i}/{k}")
    text = rng.random() < 0.5
    var, typ = ("text", "str") if text else ("nums", "list[int]")
    for _ in range(200):
        ops: list[Op] = []
        end = rng.random() < 0.5
        while len(ops) < level - end:
            pool = _text_ops(rng, level) if text else _list_ops(rng, level)
            ops.append(rng.choice([o for o in pool if _allowed(o, ops)] or pool))
        if end:
            ends = _text_ends(rng) if text else _LIST_ENDS
            ops.append(rng.choice([o for o in ends if _allowed(o, ops)] or ends))
        inputs = ["" if text else []] + [_text_input(rng, level) if text else _list_input(rng, level)
                                         for _ in range(4)]
        outs = [_apply(ops, v) for v in inputs]
        if len({repr(o) for o in outs}) > 1 and any(o != v for o, v in zip(outs, inputs)) and all(
                [_apply(ops[:j] + ops[j + 1:], v) for v in inputs] != outs for j in range(len(ops))) and all(
                [_apply(d, v) for v in inputs] != outs for d in _decoys(ops)):
            break
    name = rng.choice(_TEXT_NAMES if text else _LIST_NAMES)
    ret = "int" if end else typ
    ex = next(j for j, v in enumerate(inputs) if v)
    what = "the string text" if text else "the list of integers nums"
    steps = [f"    {j + 1}. {op[1]}" for j, op in enumerate(ops)]
    if not end:
        steps.append(f"    Return the resulting {'text' if text else 'list'}.")
    prompt = (f"def {name}({var}: {typ}) -> {ret}:\n"
              f'    """Apply these steps, in order, to {what}:\n' + "\n".join(steps) + "\n"
              f"    For example:\n    >>> {name}({inputs[ex]!r})\n    {outs[ex]!r}\n"
              '    """\n')
    body = "".join(f"    {op[2]}\n" for op in ops) + ("" if end else f"    return {var}\n")
    test = "def check(candidate):\n" + "".join(f"    assert candidate({v!r}) == {o!r}\n" for v, o in zip(inputs, outs))
    return {"prompt": prompt, "entry_point": name, "test": test, "canonical_solution": body, "level": level,
            "source": "synthetic", "meta": {"steps": level, "ops": [op[0] for op in ops],
                                            "family": "text" if text else "list"}}


# ---------------------------------------------------------------------------------------------------
# Problem sources: draw(level, n, rnd, used) -> problems

class ProblemSource:
    """Problems of one kind at a level. `used` holds the keys (meta.key) of earlier rounds' problems:
    synthetic sources redraw a duplicate text, data sets prefer items not used yet."""

    name = "?"
    max_level = SYNTH_MAX_LEVEL

    def __init__(self, seed: int):
        self.seed = seed

    def draw(self, level: int | None, n: int, rnd: int, used: set[str]) -> list[dict]:
        raise NotImplementedError


class SyntheticSource(ProblemSource):
    def __init__(self, seed: int, kind: str):
        super().__init__(seed)
        self.name, self.kind = "synthetic", kind

    def draw(self, level, n, rnd, used):
        if level is None:
            raise TinyforgeError("the synthetic source makes problems at a level; give a --start-level")
        make = synthetic_math_problem if self.kind == "math" else synthetic_code_problem
        out, seen = [], set(used)
        for i in range(n):
            for k in range(50):
                p = make(self.seed, rnd, level, i, k)
                key = p["problem"] if self.kind == "math" else p["prompt"]
                if key not in seen:
                    break
            seen.add(key)
            tid = problem_id(rnd, level, i)
            out.append({"id": tid, "task_id": tid, **p, "meta": {**p["meta"], "key": key}})
        return out


class DataSource(ProblemSource):
    """Items of a data set in level buckets; `items_at(level)` lists a bucket (None: all of them)."""

    def __init__(self, seed: int, name: str, levels: list[list[dict]], record: Callable[[dict], dict],
                 keep: Callable[[dict], bool] = lambda p: True):
        super().__init__(seed)
        self.name, self.levels, self.record, self.keep = name, levels, record, keep
        self.max_level = len(levels)

    def draw(self, level, n, rnd, used):
        pool = [p for b in self.levels for p in b] if level is None else self.levels[level - 1]
        rng = _rng(self.seed, f"{self.name}/r{rnd}/L{level}")
        order = list(pool)
        rng.shuffle(order)
        order.sort(key=lambda p: p["task_id"] in used)  # stable: fresh items first, each group shuffled
        out = []
        for p in order:
            if len(out) >= n:
                break
            if not self.keep(p):
                continue
            tid = problem_id(rnd, level, len(out))
            rec = self.record(p)
            out.append({**rec, "id": tid, "task_id": tid,
                        "level": level if level is not None else rec.get("level"),
                        "source": self.name, "meta": {**rec.get("meta", {}), "key": p["task_id"],
                                                      "source_id": p["task_id"]}})
        return out


def _not_contaminated(text_of: Callable[[dict], str]) -> Callable[[dict], bool]:
    def keep(p: dict) -> bool:
        return not mining.decontam_index().is_contaminated(text_of(p))
    return keep


def problem_source(kind: str, name: str, seed: int) -> ProblemSource:
    if name == "synthetic":
        return SyntheticSource(seed, kind)
    if kind == "math" and name == "gsm8k_train":
        items = _gsm8k_train()
        top = gsm8k_max_level(items)
        levels = [[r for r in items if gsm8k_level(r, top) == lv] for lv in range(1, top + 1)]

        def record(r):
            s = gsm8k_steps(r)
            return {"problem": r["question"], "question": r["question"], "answer": r["answer"],
                    "solution": r["answer_raw"], "level": gsm8k_level(r, top), "meta": {"steps": s}}
        # GSM8K train and test are disjoint by construction; the check catches near-copies (4 of 7473)
        return DataSource(seed, "gsm8k_train", levels, record, _not_contaminated(lambda r: r["question"]))
    if kind == "code" and name == "mbpp_train":
        index = mining.decontam_index()
        pool = [p for p in mining.seed_problems("train")
                if mining.count_test_asserts(p["test"], p["entry_point"]) >= 1
                and not index.is_contaminated(mining.problem_text(p))]
        levels = mbpp_levels(pool)

        def record(p):
            return {**{k: p[k] for k in mining.PROBLEM_FIELDS}, "canonical_solution": p["canonical_solution"],
                    "meta": {"steps": _ref_lines(p)}}
        return DataSource(seed, "mbpp_train", levels, record)
    known = MATH_SOURCES if kind == "math" else CODE_SOURCES
    raise TinyforgeError(f"--problem-source {name!r}: expected one of {', '.join(known)}")


# ---------------------------------------------------------------------------------------------------
# Tasks: how a kind of problem is prompted, verified, paired and evaluated

def math_prompt(problem: dict, fmt: str, shots: int | None = None):
    """The GSM8K evaluation's own prompt (tinyforge.benchmarks), so what is trained is what is tested:
    raw = 8-shot "Question: / Answer: ... #### N" (GSM8K train exemplars; `shots` changes the count),
    chat = the question and the instruction to reason step by step and box the answer."""
    from tinyforge.benchmarks import build_prompt

    return build_prompt(problem, "gsm8k", fmt, shots if fmt == "raw" else None)


def _answer_line_end(text: str) -> str:
    """A raw completion cut after its `#### N` line: what runs on after the answer is not the answer."""
    at = text.find("####")
    if at < 0:
        return text.rstrip()
    nl = text.find("\n", at)
    return (text if nl < 0 else text[:nl]).rstrip()


def mine_math_pairs(problems: Sequence[dict], rows: Sequence[dict], *, fmt: str, shots: int | None, source: str,
                    max_per_problem: int = 1, meta: dict | None = None) -> list[dict]:
    """Up to `max_per_problem` distinct verified solutions per problem, in sample order. A completion
    cut by the token limit is left out (trained on, it would teach the model not to stop); texts that
    differ only in whitespace or case count once."""
    pairs = []
    for p, mine, passed in mining.verified_by_problem(problems, rows, max_per_problem):
        seen, chosen = set(), []
        for r in passed:
            if r.get("finish_reason") == "length":
                continue
            text = _answer_line_end(r["completion"]) if fmt == "raw" else r["completion"].strip()
            key = " ".join(text.lower().split())
            if key in seen or not key:
                continue
            seen.add(key)
            if len(chosen) < max_per_problem:
                chosen.append((r, text))
        prompt = math_prompt(p, fmt, shots)
        for k, (r, text) in enumerate(chosen):
            pairs.append({
                "id": f"{p['task_id']}/pair{k}", "task_id": p["task_id"],
                "prompt": prompt if isinstance(prompt, str) else prompt[-1]["content"], "completion": text,
                "source": source,
                "meta": {"format": fmt,
                         "layout": "raw completion: prompt is the few-shot text ending 'Answer:', completion "
                                   "continues it" if fmt == "raw" else
                                   "chat: prompt is the user turn, completion the assistant reply; render "
                                   "both with the chat template",
                         "attempt_id": r["id"], "sample_idx": r.get("sample_idx"), "verified": True,
                         "answer": p["answer"], "level": p.get("level"), "n_attempts": len(mine),
                         "n_verified": len(passed), "n_distinct": len(seen), **(meta or {})}})
    return pairs


class MathTasks:
    kind = "math"
    benches = ["gsm8k"]

    def __init__(self, args):
        self.args = args

    def attempts(self, rdir: Path, problems: Sequence[dict], get_sampler) -> list[dict]:
        from tinyforge.benchmarks import default_stop
        from tinyforge.sampling import sample_to_jsonl

        a = self.args
        items = [{"task_id": p["task_id"], "prompt": math_prompt(p, a.format, a.shots)} for p in problems]
        res = sample_to_jsonl(rdir / "attempts.jsonl", items, get_sampler, n=a.n_attempts, temperature=a.temperature,
                              top_p=a.top_p, max_new_tokens=a.max_new_tokens, stop=default_stop("gsm8k", a.format),
                              seed=a.seed, progress=False)
        return res["records"]

    def verify(self, rdir: Path, problems: Sequence[dict], attempts: Sequence[dict]) -> list[dict]:
        """verified.jsonl: the strict GSM8K verdict of every attempt (resumable)."""
        from tinyforge.evaluation import RESULT_FIELDS, grade_samples

        by_id = {p["task_id"]: p for p in problems}
        writer = JsonlWriter(rdir / "verified.jsonl", required=RESULT_FIELDS)
        have = {r["id"]: r for r in writer.records}
        todo = [a for a in attempts if a["id"] not in have]
        for a, row in zip(todo, grade_samples(todo, by_id, kind="gsm8k", progress=False)):
            row.update(sample_idx=a["sample_idx"], completion=a["completion"], finish_reason=a.get("finish_reason"))
            writer.append(row)
            have[row["id"]] = row
        writer.close()
        return [have[a["id"]] for a in attempts if a["id"] in have]

    def pairs(self, problems, rows, source: str, meta: dict) -> list[dict]:
        a = self.args
        return mine_math_pairs(problems, rows, fmt=a.format, shots=a.shots, source=source,
                               max_per_problem=a.max_pairs_per_problem, meta=meta)

    def evaluate(self, run_dir: Path, get_sampler, runs) -> dict:
        """GSM8K test (first --eval-limit items, default 100 as the guide's x/100) for each (label, lora)."""
        return mining.evaluate_runs(self.args, run_dir, get_sampler, runs, self.benches, limit=100,
                                    shots=self.args.shots)


class CodeTasks:
    """Code problems go through mining's own stages: HumanEval-format attempts, sandbox verification of
    the cleaned completion, distinct-solution pairs, HumanEval / HumanEval+ (+ MBPP) evaluation."""

    kind = "code"

    def __init__(self, args):
        self.args = args
        self.benches = mining.eval_benches(args)

    def attempts(self, rdir, problems, get_sampler):
        return mining.stage_attempts(self.args, rdir, problems, get_sampler)[0]

    def verify(self, rdir, problems, attempts):
        return mining.stage_verify(self.args, rdir, problems, attempts)[0]

    def pairs(self, problems, rows, source, meta):
        return mining.mine_pairs(problems, rows, fmt=self.args.format, source=source,
                                 max_per_problem=self.args.max_pairs_per_problem, meta=meta)

    def evaluate(self, run_dir, get_sampler, runs):
        return mining.evaluate_runs(self.args, run_dir, get_sampler, runs, self.benches)


# ---------------------------------------------------------------------------------------------------
# Argument groups

def add_args(parser, stage: str, kind: str, *, adaptive: bool, per_round: int, n_attempts: int = 4) -> None:
    """Every flag of a curriculum script (math_bootstrap: adaptive=False, GSM8K train, no levels)."""
    from tinyforge import cli

    mining.add_run_args(parser, stage)
    cli.add_model_args(parser, adapters="none")
    g = parser.add_argument_group("rounds")
    if adaptive:
        g.add_argument("--problem-source", default="synthetic",
                       choices=list(MATH_SOURCES if kind == "math" else CODE_SOURCES),
                       help="synthetic: procedural problems at each level; " + (
                           "gsm8k_train: GSM8K train items, level = calculation steps of the reference"
                           if kind == "math" else "mbpp_train: MBPP train stubs, level = reference-length quintile"))
        g.add_argument("--iterations", type=int, default=16, help="rounds of solve -> verify -> train")
        g.add_argument("--start-level", type=int, default=1, help="difficulty level of round 1 (1 = easiest)")
        g.add_argument("--band-low", type=float, default=0.3, help="solve rate below which the level goes down")
        g.add_argument("--band-high", type=float, default=0.7, help="solve rate above which the level goes up")
        g.add_argument("--problems-per-round", type=int, default=per_round, help="problems made in each round")
    else:
        g.add_argument("--iterations", type=int, default=1,
                       help="rounds (each on fresh GSM8K train items, training on all pairs so far)")
        g.add_argument("--n-problems", type=int, default=per_round, help="GSM8K train questions per round")
    g = parser.add_argument_group("attempts")
    g.add_argument("--n-attempts", type=int, default=n_attempts, help="sampled solutions per problem")
    g.add_argument("--max-pairs-per-problem", type=int, default=1, help="distinct verified solutions kept per problem")
    g.add_argument("--format", default="raw", choices=list(mining.FORMATS),
                   help="prompt format of attempts, pairs, training and evaluation: raw completion (base "
                        "models) or the model's chat template (instruct models)")
    if kind == "math":
        g.add_argument("--shots", type=int, default=None,
                       help="raw format: GSM8K train exemplars in the prompt (default 8, the GSM8K evaluation's)")
    g.add_argument("--temperature", type=float, default=0.8, help="temperature of the attempts")
    g.add_argument("--top-p", type=float, default=0.95, help="nucleus mass of the attempts")
    g.add_argument("--max-new-tokens", type=int, default=512, help="tokens per attempt")
    if kind == "code":
        g.add_argument("--workers", type=int, default=None, help="sandbox processes (default: one per core)")
        g.add_argument("--timeout", type=float, default=10.0, help="sandbox seconds per attempt")
    mining.add_sampler_args(parser, seed_help="seed of problems, sampling and training")
    mining.add_train_args(parser, lora_rank=16, epochs=3.0)
    if kind == "math":
        # the raw 8-shot GSM8K prompt alone is ~1000 tokens: 1024 would leave the answer outside
        parser.set_defaults(max_len=2048)
        g = parser.add_argument_group("eval")
        g.add_argument("--eval-limit", type=int, default=None,
                       help="GSM8K test questions (default 100, the guide's x/100; --limit N sets N)")
        g.add_argument("--eval-n-samples", type=int, default=1, help="samples per question")
        g.add_argument("--eval-temperature", type=float, default=0.0, help="0 = greedy")
        g.add_argument("--eval-max-new-tokens", type=int, default=512, help="tokens per evaluated completion")
        g.add_argument("--skip-eval", action="store_true", help="stop after the last round")
    else:
        mining.add_eval_args(parser)


# Settings that change what a run dir holds (--iterations is not one: a finished run can be extended).
KNOBS = ("model", "problem_source", "limit", "problems_per_round", "n_problems", "start_level", "band_low",
         "band_high", "n_attempts", "max_pairs_per_problem", "format", "shots", "temperature", "top_p",
         "max_new_tokens", "seed", "dtype", "load_in_4bit") + mining.TRAIN_KNOBS


def knobs(args) -> list[str]:
    return [k for k in KNOBS if hasattr(args, k)]


def per_round(args) -> int:
    n = getattr(args, "problems_per_round", None) or getattr(args, "n_problems", None) or 0
    n = n if args.limit is None else min(n, args.limit)
    if n < 1:
        raise TinyforgeError(f"problems per round must be >= 1, got {n}")
    return n


# ---------------------------------------------------------------------------------------------------
# The round loop

def _summary_metrics(summaries: Sequence[dict]) -> dict:
    out: dict[str, Any] = {}
    for s in summaries:
        r = s["round"]
        for k in ("level", "next_level", "problems", "attempts", "solved", "solve_rate", "verified_attempts",
                  "verified_share", "pairs", "pairs_total", "mean_steps", "adapter", "trained"):
            out[f"round/{r}/{k}"] = s.get(k)
        for k in ("train/final_loss", "train/mean_loss", "train/steps", "train/pairs", "train/wall_s"):
            if k in s.get("train", {}):
                out[f"round/{r}/{k}"] = s["train"][k]
    out["curve/level"] = [s["level"] for s in summaries]
    out["curve/solve_rate"] = [s["solve_rate"] for s in summaries]
    out["curve/verified_share"] = [s["verified_share"] for s in summaries]
    out["curve/pairs_total"] = [s["pairs_total"] for s in summaries]
    return out


def plot_rounds(path: Path, summaries: Sequence[dict], band: tuple[float, float] | None, title: str) -> None:
    """Two panels over the rounds: the difficulty (level, and the mean steps of the problems) and the
    solve rate (with the band) beside the per-attempt verified share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rounds = [s["round"] for s in summaries]
    fig, (top, bot) = plt.subplots(2, 1, sharex=True, figsize=(7, 5.5))
    if any(s["level"] is not None for s in summaries):
        top.step(rounds, [s["level"] for s in summaries], where="mid", marker="o", label="level")
    top.plot(rounds, [s["mean_steps"] for s in summaries], ls=":", marker=".", label="mean steps of problems")
    top.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    bot.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    levels = [x for s in summaries for x in (s["level"], s["mean_steps"]) if x is not None]
    if levels:
        top.set_ylim(min(levels) - 0.5, max(levels) + 0.5)
    top.set_ylabel("difficulty")
    top.legend(loc="upper left", fontsize=8)
    if band:
        bot.axhspan(band[0], band[1], color="tab:green", alpha=0.12, label="target band")
    bot.plot(rounds, [s["solve_rate"] for s in summaries], marker="o", label="solve rate (>=1 verified)")
    bot.plot(rounds, [s["verified_share"] for s in summaries], ls="--", marker=".", label="verified attempts")
    bot.set_ylim(-0.03, 1.03)
    bot.set_xlabel("round")
    bot.set_ylabel("share")
    bot.legend(loc="lower left", fontsize=8)
    top.set_title(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def run_rounds(args, run_dir: Path, tasks, source: ProblemSource, metrics: dict, *, stage: str,
               adaptive: bool) -> tuple[str | None, list[dict], list[dict]]:
    """Rounds 1..--iterations (finished rounds are read back, not redone). Returns the latest adapter
    (None when no round found a pair), all pairs, and the round summaries."""
    n = per_round(args)
    level = args.start_level if adaptive else None
    if adaptive:
        check_band(args.band_low, args.band_high)
        if not 1 <= level <= source.max_level:
            raise TinyforgeError(f"--start-level {level}: the {source.name} source has levels 1-{source.max_level}")
    if args.iterations < 1:
        raise TinyforgeError(f"--iterations must be >= 1, got {args.iterations}")
    band = (args.band_low, args.band_high) if adaptive else None
    adapter: str | None = None  # relative to run_dir
    all_pairs: list[dict] = []
    used: set[str] = set()
    summaries: list[dict] = []
    for r in range(1, args.iterations + 1):
        rdir = run_dir / "rounds" / f"r{r:02d}"
        done = rdir / "round.json"
        if done.exists():
            s = read_json(done)
            used |= {p["meta"]["key"] for p in read_jsonl(rdir / "problems.jsonl")}
            all_pairs += mining.load_pairs_strict(rdir / "pairs.jsonl")
            adapter, level = s["adapter"], s["next_level"]
            summaries.append(s)
            print(f"round {r}: done (level {s['level']}, solve rate {s['solve_rate']:.2f}, {s['pairs']} pairs)")
            continue
        t0 = time.time()
        rdir.mkdir(parents=True, exist_ok=True)
        ppath = rdir / "problems.jsonl"
        if ppath.exists():
            problems = read_jsonl(ppath)
        else:
            problems = source.draw(level, n, r, used)
            write_jsonl(ppath, problems)
        if not problems:
            raise TinyforgeError(f"round {r}: the {source.name} source gave no problems at level {level}")
        used |= {p["meta"]["key"] for p in problems}
        sampler = mining.LazySampler(args, adapter=[str(run_dir / adapter)] if adapter else None)
        attempts = tasks.attempts(rdir, problems, sampler)
        rows = tasks.verify(rdir, problems, attempts)
        sampler.release()  # the trainer needs the memory
        pair_path = rdir / "pairs.jsonl"
        if pair_path.exists():
            pairs = mining.load_pairs_strict(pair_path)
        else:
            pairs = tasks.pairs(problems, rows, f"{stage}/{source.name}",
                                {"model": args.model, "problem_source": source.name, "round": r, "level": level})
            write_jsonl(pair_path, pairs)
        all_pairs += pairs
        solved = {x["task_id"] for x in rows if x["passed"]}
        rate = len(solved) / len(problems)
        train: dict = {}
        if pairs:  # a round without pairs keeps the previous adapter: nothing new to learn from
            train = mining.train_adapter(all_pairs, args, rdir / "adapter", stage=stage)
            adapter = str((rdir / "adapter").relative_to(run_dir))
        nxt = next_level(level, rate, args.band_low, args.band_high, source.max_level) if adaptive else None
        steps = [p.get("meta", {}).get("steps") for p in problems]
        steps = [x for x in steps if x is not None]
        s = {"round": r, "level": level, "next_level": nxt, "problems": len(problems), "attempts": len(rows),
             "solved": len(solved), "solve_rate": round(rate, 4),
             "verified_attempts": sum(x["passed"] for x in rows),
             "verified_share": round(sum(x["passed"] for x in rows) / len(rows), 4) if rows else 0.0,
             "pairs": len(pairs), "pairs_total": len(all_pairs),
             "mean_steps": round(sum(steps) / len(steps), 3) if steps else None,
             "adapter": adapter, "trained": bool(pairs), "train": train, "time_s": round(time.time() - t0, 2)}
        write_json(done, s)
        summaries.append(s)
        for k in [k for k in metrics if k.startswith(("round/", "curve/"))]:
            del metrics[k]
        metrics.update(_summary_metrics(summaries))
        metrics.update({"rounds": len(summaries), "mined_pairs": len(all_pairs)})
        save_metrics(run_dir, metrics)
        plot_rounds(run_dir / "curriculum.png", summaries, band, f"{stage} {args.model}")
        print(f"round {r}: level {level}, {len(solved)}/{len(problems)} solved (rate {rate:.2f}), "
              f"{s['verified_attempts']}/{len(rows)} attempts verified, {len(pairs)} new pairs "
              f"({len(all_pairs)} in all)" + (f", next level {nxt}" if adaptive else "")
              + ("" if pairs else ", no adapter trained"), flush=True)
        level = nxt
    for k in [k for k in metrics if k.startswith(("round/", "curve/"))]:
        del metrics[k]
    metrics.update(_summary_metrics(summaries))
    metrics.update({"rounds": len(summaries), "mined_pairs": len(all_pairs)})
    if summaries and not (run_dir / "curriculum.png").exists():
        plot_rounds(run_dir / "curriculum.png", summaries, band, f"{stage} {args.model}")
    return adapter, all_pairs, summaries


def no_pairs_error(run_dir: Path, summaries: Sequence[dict]) -> TinyforgeError:
    levels = ", ".join(str(s["level"]) for s in summaries)
    return TinyforgeError(
        f"no verified pairs in {len(summaries)} round(s) (levels {levels}; "
        f"{sum(s['verified_attempts'] for s in summaries)} of {sum(s['attempts'] for s in summaries)} attempts "
        f"passed): nothing was trained, so there is nothing to evaluate. Try more --n-attempts, --format chat "
        f"for an instruct model, or a larger --max-new-tokens (round files: {run_dir / 'rounds'})")


def headline(stage: str, args, m: dict, benches: Sequence[str]) -> str:
    levels = m.get("curve/level") or []
    line = (f"{stage} {args.model}: {m.get('rounds', 0)} rounds, {m.get('mined_pairs', 0)} pairs"
            + (f", level {' '.join(str(x) for x in levels)}" if any(x is not None for x in levels) else ""))
    for b in benches[:1]:
        before, after = m.get(f"before/{b}/n_passed"), m.get(f"after/{b}/n_passed")
        n = m.get(f"before/{b}/n_tasks")
        if before is not None and after is not None and n and m.get(f"before/{b}/n_samples") == n:
            line += f"; {b} {before}/{n} -> {after}/{n}"
        verdict = mining.lift_verdict(m, b)
        if verdict:
            line += f"\n{verdict}"
    return line


def _forget_stale_after(run_dir: Path, final: str) -> None:
    """eval/after/ belongs to one adapter (named in eval/after/adapter.json, written before sampling):
    when more --iterations made a newer final adapter, the old adapter's samples are removed."""
    import shutil

    after = run_dir / "eval" / "after"
    mark = after / "adapter.json"
    if after.exists() and (not mark.exists() or read_json(mark).get("adapter") != final):
        shutil.rmtree(after)
        print(f"eval: {after} held another adapter's samples; evaluating {final} afresh")
    write_json(mark, {"adapter": final})


def run_knobs(args, adaptive: bool) -> dict:
    """The settings the default run dir name carries."""
    if not adaptive:
        return {"np": args.n_problems, "na": args.n_attempts, "fmt": args.format, "r": args.lora_rank,
                "lim": args.limit}
    return {"src": args.problem_source, "ppr": args.problems_per_round, "na": args.n_attempts, "fmt": args.format,
            "L": args.start_level, "band": f"{args.band_low:g}-{args.band_high:g}", "r": args.lora_rank,
            "lim": args.limit}


def script_main(args, stage: str, kind: str, *, adaptive: bool) -> dict:
    """main() of recipe/curriculum_math.py, curriculum_code.py and math_bootstrap.py."""
    run_dir = mining.run_dir_for(stage, args, run_knobs(args, adaptive))
    tasks = MathTasks(args) if kind == "math" else CodeTasks(args)
    return run(args, stage, run_dir, tasks, adaptive=adaptive)


def run(args, stage: str, run_dir: Path, tasks, *, adaptive: bool) -> dict:
    """The whole stage: run dir, rounds, evaluation of the base and the final adapter, metrics."""
    if adaptive:
        check_band(args.band_low, args.band_high)  # before anything is written
    source = problem_source(tasks.kind, args.problem_source if adaptive else "gsm8k_train", args.seed)
    metrics = mining.open_run_dir(run_dir, args, stage, knobs(args))
    metrics.update({"model": args.model, "format": args.format, "problem_source": source.name,
                    "max_level": source.max_level if adaptive else None})
    t0 = time.time()
    adapter, pairs, summaries = run_rounds(args, run_dir, tasks, source, metrics, stage=stage, adaptive=adaptive)
    save_metrics(run_dir, metrics)
    if not pairs:
        raise no_pairs_error(run_dir, summaries)
    final = str(run_dir / adapter)
    metrics["final_adapter"] = final
    if not args.skip_eval:
        _forget_stale_after(run_dir, final)
        evals = mining.LazySampler(args, adapter=[final])
        flat = tasks.evaluate(run_dir, evals, [("before", False), ("after", final)])
        evals.release()
        flat.update(mining.deltas(flat, run_dir=run_dir))
        metrics.update(flat)
        print(mining.before_after_table(flat, ["before", "after"], tasks.benches))
    metrics["time/total_s"] = round(time.time() - t0, 2)
    save_metrics(run_dir, metrics)
    print(f"run dir: {run_dir}  (plot: {run_dir / 'curriculum.png'})")
    print(headline(stage, args, metrics, tasks.benches))
    return metrics


__all__ = ["CODE_SOURCES", "CodeTasks", "DataSource", "GSM8K_MIN_BUCKET", "KNOBS", "MATH_SOURCES", "MBPP_LEVELS",
           "MathTasks", "ProblemSource", "SYNTH_MAX_LEVEL", "SyntheticSource", "add_args", "check_band",
           "gsm8k_level", "gsm8k_max_level", "gsm8k_steps", "headline", "knobs",
           "run_knobs", "script_main", "math_prompt", "mbpp_levels",
           "mine_math_pairs", "next_level", "no_pairs_error", "per_round", "plot_rounds", "problem_id",
           "problem_source", "run", "run_rounds", "synthetic_code_problem", "synthetic_math_problem"]
