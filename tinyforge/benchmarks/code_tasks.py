"""Code benchmarks: HumanEval, HumanEval+, MBPP, MBPP+ loaders, upstream fixes, and the code to run.

Records (DESIGN.md "code problem"): `task_id, prompt, entry_point, test, canonical_solution`, plus
  HumanEval+ / MBPP+ (shipped, EvalPlus native format): `base_input, plus_input, atol, contract`;
  MBPP: `text, test_list, test_setup_code, challenge_test_list`; MBPP+: `text`;
  from the hub, HumanEval+ / MBPP+: `plus_test` (the self-contained base + plus test of the
  OriginFmt files that Hugging Face serves) instead of `base_input` / `plus_input`.
`prompt` is always valid Python, so `prompt + completion + test` runs: the HumanEval stub, or for
MBPP / MBPP+ EvalPlus's docstring `\"\"\"\\n<text>\\n<first test>\\n\"\"\"\\n`.
`test` holds the base tests only; `test_code()` turns it into the code to append to a solution.

Upstream defects handled here (see data/benchmarks/MANIFEST.md):
* HumanEval+ task 32: the OriginFmt test (the HF `evalplus/humanevalplus` copy) calls
  `_poly(*candidate(*inp), inp)`, arguments swapped, so every candidate fails. The shipped native file
  never uses that test (its `test` is HumanEval's own; plus inputs are graded differentially against
  EvalPlus's oracle in tinyforge.execution); hub records get the call repaired in `plus_test`.
* MBPP+ task 120: the test calls `math.isclose` without `import math` and only passes because the
  reference solution happens to import math. The same holds for MBPP+ 293 and 742 (math) and for
  task 596 in MBPP and MBPP+ (`sys.getsizeof`). A test that uses such a module now imports it itself,
  so a correct solution that does not import it is not failed.
* MBPP+ tasks 2 and 140: the prompt shows `assert set(f(...)) == set(...)` but the native `assertion`
  compares exact order/type; EvalPlus itself compares these outputs as sets (issue #148). Their
  assertions are wrapped in `set()` as the prompt promises.
* MBPP+ hash seed (EvalPlus issue #148): the reference outputs of tasks 2, 7, 111, 140, 232, 579 and
  769 come from `tuple(set(...))`-like code, whose order depends on PYTHONHASHSEED for strings.
  Expected outputs computed in one process and compared with a candidate's in another must be
  compared as sets there. `SET_OUTPUT_TASKS` is EvalPlus's list of such tasks (it also holds 249),
  and the one that tinyforge.execution grades with.
* MBPP tasks 367 and 927: `test_setup_code` builds trees with the `Node` class that the solution
  defines, so the setup runs after the solution: `solution_code() + test_code()` has that order.
"""

from __future__ import annotations

import ast
import re
import warnings
from typing import Any

from tinyforge.io import TinyforgeError

from . import data

# MBPP splits by task id, from the google-research mbpp README (Austin et al. 2021).
MBPP_SPLITS = {"test": (11, 510), "prompt": (1, 10), "validation": (511, 600), "train": (601, 974)}

# MBPP+ tasks whose outputs EvalPlus compares as sets, `set(out) == set(exp)`: evalplus 0.3.1
# eval/_special_oracle.py `MBPP_OUTPUT_SET_EQ_TASKS`, which names them by entry point (the ids are
# its comments). Mbpp/249 is not in MBPP+ v0.2.0 (the shipped release) but is in EvalPlus's list and
# in older MBPP+ files a user may pass with --data. This is the only copy: tinyforge.execution
# imports it for differential grading.
SET_OUTPUT_TASKS = frozenset({
    "Mbpp/2",  # similar_elements
    "Mbpp/7",  # find_char_long
    "Mbpp/111",  # common_in_nested_lists
    "Mbpp/140",  # extract_singly
    "Mbpp/232",  # larg_nnum
    "Mbpp/249",  # intersection_array
    "Mbpp/579",  # find_dissimilar
    "Mbpp/769",  # Diff
})

_HE32_BAD = "_poly(*candidate(*inp), inp)"
_HE32_FIX = "_poly(*inp, candidate(*inp))"

# Modules some MBPP/MBPP+ tests use without importing them (they lean on the reference solution's
# import). A candidate that solves the task without that import must not fail for it.
_TEST_MODULES = ("math", "sys")


# ---------------------------------------------------------------- fixes


def _parse(src: str) -> ast.Module:
    # MBPP code and model output contain strings such as "\d" that Python warns about; parsing them
    # here is inspection, not execution, so the warnings would only be noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(src)


def add_missing_imports(test: str) -> str:
    """Prepend `import m` for each module in _TEST_MODULES the test uses but does not import."""
    missing = [m for m in _TEST_MODULES
               if re.search(rf"(?<![\w.]){m}\.\w", test)
               and not re.search(rf"^\s*(?:import\s+{m}\b|from\s+{m}\s+import)", test, re.M)]
    return "".join(f"import {m}\n" for m in missing) + test if missing else test


def _set_wrap_assertions(test: str, entry_point: str) -> str:
    """`assert f(x) == y` -> `assert set(f(x)) == set(y)` for each line calling the entry point."""
    out = []
    for line in test.split("\n"):
        try:
            node = _parse(line.strip()).body[0] if line.strip().startswith("assert") else None
        except SyntaxError:
            node = None
        if (isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare)
                and len(node.test.ops) == 1 and isinstance(node.test.ops[0], ast.Eq)
                and isinstance(node.test.left, ast.Call)
                and isinstance(node.test.left.func, ast.Name)
                and node.test.left.func.id == entry_point):
            src = line.strip()
            left = ast.get_source_segment(src, node.test.left)
            right = ast.get_source_segment(src, node.test.comparators[0])
            line = f"assert set({left}) == set({right})"
        out.append(line)
    return "\n".join(out)


def fix_humaneval_plus_test(task_id: str, test: str) -> str:
    """Repair the swapped `_poly` arguments of HumanEval/32's OriginFmt test (see module doc)."""
    if task_id == "HumanEval/32" and _HE32_BAD in test:
        return test.replace(_HE32_BAD, _HE32_FIX)
    return test


def fix_mbpp_plus_assertion(task_id: str, assertion: str, prompt: str, entry_point: str) -> str:
    shown = [ln for ln in prompt.splitlines() if ln.startswith("assert ")]
    if shown and shown[0].startswith("assert set(") and "assert set(" not in assertion:
        assertion = _set_wrap_assertions(assertion, entry_point)
    return add_missing_imports(assertion)


# ---------------------------------------------------------------- loaders


def _mbpp_docstring(text: str, first_test: str) -> str:
    # EvalPlus's MBPP+ prompt layout (identical to the shipped MbppPlus.jsonl for all 378 tasks).
    return f'"""\n{text}\n{first_test}\n"""\n'


def _mbpp_entry_point(code: str, tests: list[str]) -> str:
    """The function the tests call that the reference code defines (first such call)."""
    defined = {n.name for n in _parse(code).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    for t in tests:
        for node in ast.walk(_parse(t)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in defined:
                return node.func.id
    raise TinyforgeError(f"cannot tell which function the MBPP tests call: {tests[0][:80]!r}")


def humaneval_record(row: dict) -> dict:
    rec = {k: row[k] for k in ("task_id", "prompt", "entry_point", "test", "canonical_solution")}
    for k in ("base_input", "plus_input", "atol", "contract"):  # HumanEval+ native only
        if k in row:
            rec[k] = row[k]
    return rec


def mbpp_record(row: dict) -> dict:
    code, tests = row["code"], list(row["test_list"])
    setup = row.get("test_setup_code") or ""
    # Setup goes after the solution and before the asserts (tasks 367, 927 need the solution's Node).
    test = add_missing_imports((setup + "\n" if setup else "") + "\n".join(tests) + "\n")
    return {
        "task_id": f"Mbpp/{int(row['task_id'])}",
        "prompt": _mbpp_docstring(row["text"], tests[0]),
        "entry_point": _mbpp_entry_point(code, tests),
        "test": test,
        "canonical_solution": code,
        "text": row["text"],
        "test_list": tests,
        "test_setup_code": setup,
        "challenge_test_list": list(row.get("challenge_test_list") or []),
    }


def _docstring_parts(prompt: str) -> tuple[str, list[str]]:
    lines = [ln for ln in prompt.strip().strip('"').strip("\n").split("\n")]
    tests = [ln for ln in lines if ln.startswith("assert ")]
    text = "\n".join(ln for ln in lines if not ln.startswith("assert ")).strip()
    return text, tests


# MBPP+ inputs that JSON cannot hold (tuples, sets, complex numbers), by task number. The task
# lists are facts from evalplus 0.3.1's loader (evalplus/data/mbpp.py, mbpp_deserialize_inputs);
# every input is a list of arguments.
_MBPP_EACH_ARG_TUPLE = {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579,
                        596, 616, 630, 726, 740, 744, 809}
_MBPP_EACH_ARG_LIST_OF_TUPLES = {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473,
                                 614, 780}
_MBPP_FIRST_ARG_LIST_OF_TUPLES = {75, 413, 444, 753}
_MBPP_FIRST_ARG_TUPLE = {250, 307, 405, 446, 617, 720, 763, 808}
_MBPP_EACH_ARG_TUPLE_OF_TUPLES = {259, 401, 445}
_MBPP_ALL_LISTS_TUPLES = {580, 615, 791}


def _deep_tuple(x):
    return tuple(_deep_tuple(i) for i in x) if isinstance(x, list) else x


def _mbpp_input(n: int, args: list):
    if n in _MBPP_EACH_ARG_TUPLE:
        return [tuple(a) for a in args]
    if n in _MBPP_EACH_ARG_LIST_OF_TUPLES:
        return [[tuple(x) for x in a] for a in args]
    if n in _MBPP_FIRST_ARG_LIST_OF_TUPLES:
        return [[tuple(x) for x in args[0]], *args[1:]]
    if n in (106, 750):
        return [args[0], tuple(args[1])]
    if n in _MBPP_FIRST_ARG_TUPLE:
        return [tuple(args[0]), *args[1:]]
    if n in _MBPP_EACH_ARG_TUPLE_OF_TUPLES:
        return [tuple(tuple(x) for x in a) for a in args]
    if n in _MBPP_ALL_LISTS_TUPLES:
        return _deep_tuple(args)
    if n == 115:  # a list of sets; evalplus turns an empty list into {} (a dict), kept as is
        return [[set(x) if isinstance(x, list) and x else {} for x in args[0]]]
    if n == 124:
        return [float(args[0]), complex(args[1])]
    if n == 252:
        return [complex(args[0])]
    if n == 278:
        return [tuple(tuple(x) if isinstance(x, list) else x for x in args[0])]
    if n == 722:
        return [{k: tuple(v) for k, v in args[0].items()}, *args[1:]]
    return args


def deserialize_plus_inputs(task_id: str, inputs: list) -> list:
    """Give MBPP+ inputs the Python types their tasks expect (HumanEval+ needs none)."""
    if not task_id.startswith("Mbpp/"):
        return inputs
    n = int(task_id.split("/")[1])
    return [_mbpp_input(n, inp) for inp in inputs]


def mbpp_plus_record(row: dict) -> dict:
    """A shipped MbppPlus.jsonl row (EvalPlus native)."""
    rec = {k: row[k] for k in ("task_id", "prompt", "entry_point", "canonical_solution",
                               "base_input", "plus_input", "atol", "contract")}
    # JSON has no tuples, sets or complex numbers: give the inputs the types the tasks take
    rec["base_input"] = deserialize_plus_inputs(row["task_id"], row["base_input"])
    rec["plus_input"] = deserialize_plus_inputs(row["task_id"], row["plus_input"])
    rec["test"] = fix_mbpp_plus_assertion(row["task_id"], row["assertion"], row["prompt"],
                                          row["entry_point"])
    rec["text"] = _docstring_parts(row["prompt"])[0]
    return rec


def mbpp_plus_hub_record(row: dict) -> dict:
    """A row of HF `evalplus/mbppplus` (OriginFmt: task_id int, code, prompt text, test_imports,
    test_list, test) mapped to the shipped record layout; `plus_test` replaces the inputs."""
    n = int(row["task_id"])
    # The native prompts drop the URLs some MBPP texts carry; with that, all 378 prompts match.
    text = re.sub(r"https?://\S+", "", row["prompt"])
    tests = list(row["test_list"])
    imports = "".join(f"{imp}\n" for imp in row.get("test_imports") or [])
    code = row["code"]
    prompt = _mbpp_docstring(text, tests[0])
    return {
        "task_id": f"Mbpp/{n}",
        "prompt": prompt,
        "entry_point": _mbpp_entry_point(code, tests),
        "canonical_solution": code,
        "test": add_missing_imports(imports + "\n" + "\n".join(tests) + "\n"),
        "plus_test": add_missing_imports(imports + row["test"]),
        "text": text.strip(),
    }


def humaneval_plus_hub_records(plus_rows: list[dict], base_rows: list[dict]) -> list[dict]:
    """HF `evalplus/humanevalplus` (OriginFmt) + `openai/openai_humaneval` (for the base `test`,
    which HumanEval+'s native file shares with HumanEval) -> shipped record layout."""
    base_test = {r["task_id"]: r["test"] for r in base_rows}
    out = []
    for r in plus_rows:
        rec = {k: r[k] for k in ("task_id", "prompt", "entry_point", "canonical_solution")}
        if r["task_id"] not in base_test:
            raise TinyforgeError(f"openai/openai_humaneval has no {r['task_id']} (needed for its test)")
        rec["test"] = base_test[r["task_id"]]
        rec["plus_test"] = fix_humaneval_plus_test(r["task_id"], r["test"])
        out.append(rec)
    return out


def load(name: str, split: str, data_dir=None, from_hub: bool = False) -> list[dict]:
    if name == "humaneval":
        rows = (data.require(data.load_hub("openai/openai_humaneval", None, "test"),
                             ("task_id", "prompt", "entry_point", "test", "canonical_solution"),
                             "openai/openai_humaneval")
                if from_hub else data.read_verified("humaneval", data_dir))
        return [humaneval_record(r) for r in rows]
    if name == "humaneval_plus":
        if from_hub:
            fields = ("task_id", "prompt", "entry_point", "test", "canonical_solution")
            plus = data.require(data.load_hub("evalplus/humanevalplus", None, "test"), fields,
                                "evalplus/humanevalplus")
            base = data.require(data.load_hub("openai/openai_humaneval", None, "test"), fields,
                                "openai/openai_humaneval")
            return humaneval_plus_hub_records(plus, base)
        return [humaneval_record(r) for r in data.read_verified("humaneval_plus", data_dir)]
    if name == "mbpp":
        if from_hub:
            # The HF "full" config's splits are the README's task-id ranges.
            rows = data.require(data.load_hub("google-research-datasets/mbpp", "full", split),
                                ("task_id", "text", "code", "test_list"), "google-research-datasets/mbpp")
        else:
            lo, hi = MBPP_SPLITS[split]
            rows = [r for r in data.read_verified("mbpp", data_dir) if lo <= int(r["task_id"]) <= hi]
        return [mbpp_record(r) for r in rows]
    if name == "mbpp_plus":
        if from_hub:
            rows = data.require(data.load_hub("evalplus/mbppplus", None, "test"),
                                ("task_id", "code", "prompt", "test_list", "test"), "evalplus/mbppplus")
            return [mbpp_plus_hub_record(r) for r in rows]
        return [mbpp_plus_record(r) for r in data.read_verified("mbpp_plus", data_dir)]
    raise KeyError(name)


# ---------------------------------------------------------------- completions -> programs

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_PY_TAGS = {"", "python", "py", "python3", "py3"}


def _defines(code: str, name: str) -> bool:
    return bool(re.search(rf"^(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M))


def extract_code(text: str, entry_point: str | None = None) -> str:
    """The code in a chat reply.

    Fenced blocks tagged python (or untagged) are candidates; other languages (bash, text, output)
    only when nothing else is fenced. With an entry point, the *last* block that defines it wins:
    models that revise themselves put the final version last, and usage examples that follow a
    solution do not redefine the function. Otherwise the *first* block: a body-only answer comes
    first, and later blocks are usually examples. An unclosed fence (cut by the token limit) counts
    up to the end of the text. No fence at all: the whole reply, as a model told to answer in code
    may simply do so."""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    if not blocks:
        return text.strip("\n")
    py = [b for tag, b in blocks if tag in _PY_TAGS] or [b for _, b in blocks]
    if entry_point:
        defining = [b for b in py if _defines(b, entry_point)]
        if defining:
            return defining[-1]
    return py[0]


def _preamble(prompt: str, entry_point: str) -> str:
    """The prompt minus the entry point's stub: its imports, constants and helper functions (e.g.
    `poly` of HumanEval/32, `encode_cyclic` of /38, `is_palindrome` of /10), which a reply that
    rewrites only the entry point still calls."""
    try:
        tree = _parse(prompt)
    except SyntaxError:
        return "".join(ln for ln in prompt.splitlines(keepends=True)
                       if ln.startswith(("import ", "from ")))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            return "".join(prompt.splitlines(keepends=True)[:first - 1])
    return prompt


def _is_junk(node: ast.stmt) -> bool:
    """Top-level statements that only exercise the code: `if __name__ == ...:` blocks, asserts and
    print calls. The raw-completion stop set cuts exactly these ("\\nif __name__", "\\nassert ",
    "\\nprint("), so chat replies get the same treatment: a model's own (possibly wrong) example
    assert must not decide the verdict, and a main block may wait on stdin."""
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "print":
        return True
    if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) \
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__":
        return True
    return False


def strip_test_scaffolding(code: str) -> str:
    """`code` without top-level example asserts, prints and main blocks (see `_is_junk`); code that
    does not parse is returned unchanged (it fails the same way either way)."""
    try:
        tree = _parse(code)
    except SyntaxError:
        return code
    drop = [(n.lineno, n.end_lineno) for n in tree.body if _is_junk(n)]
    if not drop:
        return code
    lines = code.splitlines(keepends=True)
    for start, end in reversed(drop):
        del lines[start - 1:end]
    return "".join(lines)


def _cut(text: str, marker: str) -> str:
    i = text.find(marker)
    return text if i < 0 else text[:i]


def solution_code(problem: dict, completion: str, family: str, fmt: str) -> str:
    """The program to run before `test_code` (see tinyforge.benchmarks.solution_code)."""
    prompt, ep = problem.get("prompt", ""), problem.get("entry_point")
    if fmt == "raw":
        if family == "humaneval":
            # Chen et al. 2021 / human-eval: the program is prompt + completion, verbatim.
            return prompt + completion + "\n"
        # MBPP (Austin et al. 2021): the completion is the code between [BEGIN] and [DONE].
        code = _cut(completion, "[DONE]")
        if "```" in code:
            code = extract_code(code, ep)
        return code.strip("\n") + "\n"
    if fmt == "chat_continue":
        # The assistant turn was opened with "```python\n" + stub: the reply continues the stub and
        # its closing fence ends the code.
        body = _cut(completion, "```")
        program = (prompt + body) if family == "humaneval" else body
        return strip_test_scaffolding(program.rstrip() + "\n")
    # chat
    code = extract_code(completion, ep)
    if family == "humaneval":
        if ep and _defines(code, ep):
            program = _preamble(prompt, ep) + code
        else:  # a body only: it continues the stub
            program = prompt + code
    else:
        program = code
    return strip_test_scaffolding(program.rstrip() + "\n")


def test_code(problem: dict, family: str, plus: bool = False) -> str:
    """Assertion code to append to `solution_code` (base tests; `plus` for a hub record's
    self-contained base + plus test)."""
    if plus:
        if "plus_test" not in problem:
            raise TinyforgeError(
                f"{problem.get('task_id')}: no self-contained plus test in this record; shipped "
                f"HumanEval+/MBPP+ records are graded on base_input/plus_input differentially "
                f"(tinyforge.execution.plus_expected_outputs / check_plus)")
        test = problem["plus_test"]
    else:
        test = problem["test"]
    code = "\n\n" + test.rstrip("\n") + "\n"
    # HumanEval-style tests define check(candidate) and leave the call to the harness.
    if re.search(r"^def check\s*\(", test, re.M) and problem.get("entry_point"):
        code += f"\n\ncheck({problem['entry_point']})\n"
    return code


test_code.__test__ = False  # not a pytest test (see tinyforge.benchmarks.test_code)


def prompt_tests(problem: dict) -> list[str]:
    """The asserts an MBPP prompt shows: MBPP's `test_list`, else the docstring's (MBPP+)."""
    if problem.get("test_list"):
        return list(problem["test_list"])
    return _docstring_parts(problem.get("prompt", ""))[1]


def prompt_text(problem: dict) -> str:
    if problem.get("text"):
        return problem["text"]
    return _docstring_parts(problem.get("prompt", ""))[0]


def reference_code(problem: dict) -> str:
    """MBPP exemplar code with CRLF line ends normalized (MBPP's code field uses CRLF; a few-shot
    prompt should not teach a base model to emit carriage returns)."""
    code: Any = problem.get("canonical_solution") or problem.get("code") or ""
    return code.replace("\r\n", "\n").strip("\n")
