"""Procedural and data-set problems by difficulty level, for the curricula (tinyforge.curriculum) and
any script that needs problems of a known difficulty. A source's `draw(level, n, rnd, used)` returns n
problems at a level (L = 1 is the easiest):

    math synthetic    word problems: a start quantity, then L arithmetic operations (+, -, x, exact
                      division; a "buys k packs of n" sentence is two), operands growing with L; the
                      generator computes the answer exactly and writes a worked `solution`
    math gsm8k_train  GSM8K train items with L calculator annotations `<<...>>` in the reference answer
                      (0 counts as 1; the top level takes every longer item too), decontaminated
    code synthetic    HumanEval-style stubs whose docstring lists L chained list or string operations
                      (filter, map, reverse, sort, slice, ..., optionally ending in a reduction such as
                      sum or max) with a `check(candidate)` of 5 cases from the generator's reference
    code mbpp_train   MBPP train stubs (mining.seed_problems), decontaminated, cut into 5 levels by
                      reference-solution length (mining.order_by_reference_length)

Problems are a function of (seed, round, level) and of the items earlier rounds used (a data-set item
is reused only once its level has run out of fresh ones). Records: math `task_id, problem, answer` (+
question, solution, level, source, meta), code `task_id, prompt, entry_point, test` (+
canonical_solution, level, source, meta); `meta.key` identifies the item across rounds, `meta.steps`
is its measured difficulty.
"""

from __future__ import annotations

import functools
import random
import re
from typing import Callable, Sequence

from tinyforge import mining
from tinyforge.io import SettingsError

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
            raise SettingsError("start_level", "the synthetic source makes problems at a level; give one")
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
    raise SettingsError("problem_source", f"{name!r}: expected one of {', '.join(known)}")
