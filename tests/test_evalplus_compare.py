"""Differential (HumanEval+ / MBPP+) verdicts compare outputs as evalplus 0.3.1 does: `out == exp`,
then its float rule (atol 1e-6 enforced from the first float-valued expected output of a run on, the
same type and numpy-allclose with rtol 1e-7), with `strict_types=True` as the type-strict option."""

import pytest

from tinyforge import execution as ex

# (output, expected, passes under evalplus's comparison)
EVALPLUS_CASES = [
    (0, False, True),  # `0 == False`: a correct solution returning 0 where the reference says False
    (False, 0, True),
    (1, True, True),
    ([0, 1, 1], [False, True, True], True),
    ((True, 2), (1, 2), True),
    (3, 3.0, True),  # exact under ==, before any tolerance
    (3.0, 3, True),
    (2.5, 2, False),  # an int expected: no tolerance, 2.5 != 2
    (2, 2.5, False),
    (0.30000004, 0.3, True),  # float expected: atol 1e-6
    (0.3000011, 0.3, False),
    (0, 1e-9, False),  # within atol, but not a float: evalplus asserts the type first
    (1e-9, 0.0, True),
    ([0.5, 1.5000001], [0.5, 1.5], True),
    ((0.5, 1.5), [0.5, 1.5], False),  # a tuple for a list: neither == nor the same type
    ([0.5], [0.5, 1.5], False),
    ([[1.0, 2.0000001]], [[1.0, 2.0]], False),  # nested floats are not "floats" to evalplus: exact
    ([1, 2.0000001], [1, 2.0], False),  # a mixed list is not all floats: exact
    (float("inf"), float("inf"), True),
    ([1.0, float("-inf")], [1.0000001, float("-inf")], True),
    (float("nan"), float("nan"), False),
    ("1", 1, False),
    (None, 0, False),
    ({2, 1}, {1, 2}, True),
    ({"a": 1.0}, {"a": 1}, True),
    ({"a": 1}, {"a": 1.5}, False),
    ([1, [2, (3, 4.0)]], [1, [2, (3, 4)]], True),
    (complex(2, 0), 2, True),
    (2 ** 70, 2.0 ** 70, True),  # exact under ==
    (2 ** 70 + 1, 2.0 ** 70, False),  # an int for a float: evalplus asserts the type first
    (2.0 ** 70 * (1 + 1e-9), 2.0 ** 70, True),
]


@pytest.mark.parametrize("out, exp, passes", [
    # with atol in force (the task's, or enforced earlier in the run): numpy makes an object array of a
    # list holding an int beyond 64 bits, on which allclose raises: a failed input
    ([2 ** 64, 1.0000001], [2 ** 64, 1.0], False),
    ([2 ** 63, 1.0000001], [2 ** 63, 1.0], True),
    ([-2 ** 63, 1.0000001], [-2 ** 63, 1.0], True),
    (([-2 ** 63 - 1], [1.0000001]), ([-2 ** 63 - 1], [1.0]), False),
    ([2 ** 64, 1.0], [2 ** 64, 1.0], True),  # exact: numpy is never asked
    (2 ** 80, 2 ** 80 + 1, True),  # scalars: compared as floats, within rtol
])
def test_within_atol_as_numpy_allclose(out, exp, passes):
    assert ex.outputs_match(out, exp, atol=1e-6) is passes


@pytest.mark.parametrize("out, exp, passes", EVALPLUS_CASES)
def test_outputs_compare_as_evalplus(out, exp, passes):
    assert ex.outputs_match(out, exp) is passes


@pytest.mark.parametrize("out, exp", [(0, False), (1, True), (3, 3.0), ({"a": 1.0}, {"a": 1}),
                                      ([0, 1], [False, True]), (complex(2, 0), 2)])
def test_strict_types_option_keeps_types(out, exp):
    assert ex.outputs_match(out, exp) and not ex.outputs_match(out, exp, strict_types=True)


def test_enforced_atol_persists_within_a_run_and_restarts_for_plus():
    # evalplus sets atol = 1e-6 on the first float-valued expected output and keeps it for the
    # rest of that run: a later mixed list then passes within tolerance (same type and length).
    problem = {"task_id": "Toy/atol", "atol": 0, "base_input": [[0], [1]], "plus_input": [[1]]}
    expected = {"base": [0.5, [1, 2]], "plus": [[1, 2]]}
    records = {"frames": [("outs", [(0, "ok", 0.5, 0.0), (1, "ok", [1, 2.0000001], 0.0),
                                    (2, "ok", [1, 2.0000001], 0.0)])], "elapsed": 0.0}
    r = ex._grade_plus(records, problem, expected, 10.0, False)
    assert r.base.passed  # base: the atol set on input 0 applies to input 1
    assert not r.passed and "plus input 0" in r.detail  # plus is a new run: exact again
    alone = {"frames": [("outs", [(0, "ok", 0.5, 0.0), (1, "ok", [1, 2], 0.0),
                                  (2, "ok", [1, 2], 0.0)])], "elapsed": 0.0}
    assert ex._grade_plus(alone, problem, expected, 10.0, False).passed


@pytest.mark.parametrize("task_id, args, out, exp, passes", [
    ("Mbpp/581", [3, 4], 33, 33, True),
    ("Mbpp/581", [3, 4], 34.0, 33, False),
    ("Mbpp/558", [123, 256], 7, 7, True),
    ("Mbpp/558", [123, 256], 7.0, 7, True),  # evalplus: `7.0 == 7`
    ("Mbpp/249", [[1, 2], [2, 1]], [2, 1], [1, 2], True),  # set-compared
    ("Mbpp/249", [[1, 2], [2, 1]], 3, [1, 2], False),  # set(3) raises: a failed test
    ("Mbpp/737", ["a"], (False, True), True, True),  # `is not None` tasks: (is_bool, value)
    ("Mbpp/737", ["a"], (True, False), True, False),
    ("HumanEval/32", [[-6, 11, -6, 1]], 1.0, 0.0, True),  # any root
    ("HumanEval/32", [[-6, 11, -6, 1]], 1.5, 0.0, False),
])
def test_special_oracles_under_evalplus_comparison(task_id, args, out, exp, passes):
    assert ex._task_output_ok(task_id, args, out, exp, 1e-6, False)[0] is passes


def test_big_outputs_digest_numbers_as_equal_values(tmp_path):
    # Outputs over DIGEST_OVER travel as digests; under evalplus's == a list of ints equals the
    # reference's ints and integral floats (as HumanEval/130's reference mixes them), so the
    # digest hashes numbers in one spelling. (A flat list of floats is never digested: tolerance.)
    n = 4000
    problem = {"task_id": "Toy/big", "prompt": "def f(n):\n", "entry_point": "f", "atol": 0,
               "canonical_solution": "    return [i / 1 if i % 2 else i for i in range(n)]\n",
               "base_input": [[n]], "plus_input": [[n]]}
    with ex.Sandbox(workers=1) as sb:
        expected = ex.plus_expected_outputs([problem], tmp_path, sandbox=sb)["Toy/big"]
        assert expected["digests"] and expected["loose_digests"]
        ints, floats, off = ("    return list(range(n))\n", "    return [i if i % 2 else i / 1 for i in range(n)]\n",
                             "    return list(range(1, n + 1))\n")
        r_ints, r_floats, r_off = sb.run([ex.plus_job(problem, c, expected) for c in (ints, floats, off)])
        strict_ints, strict_floats, strict_same = sb.run(
            [ex.plus_job(problem, c, expected, strict_types=True)
             for c in (ints, floats, problem["canonical_solution"])])
    assert r_ints.passed and r_floats.passed and not r_off.passed
    assert not strict_ints.passed and not strict_floats.passed and strict_same.passed


def test_loose_digest_bytes_are_equal_exactly_for_equal_lists():
    # The loose spelling of a flat list (what a digest hashes) must give equal bytes exactly when
    # evalplus's `==` holds: checked on every pair of lists drawn from numbers that straddle both
    # spellings (float-exact or not, -0.0, inf, huge ints, complex, bools, strings, None).
    import itertools
    import marshal
    import random
    from tinyforge._sandbox_child import _loose_numbers

    pool = [0, -0.0, 0.0, False, True, 1, 1.0, 1 + 0j, 2.5, 2.5 + 0j, 2.5 + 1j, 2 ** 53,
            2 ** 53 + 1, float(2 ** 53), 10 ** 400, float("inf"), -float("inf"), 1e300,
            int(1e300), "a", None, b"x"]
    rng = random.Random(0)
    lists = [list(c) for c in itertools.product(pool, repeat=2)]
    lists += [[rng.choice(pool) for _ in range(rng.randint(1, 5))] for _ in range(3000)]
    lists += [tuple(x) for x in lists[:200]]
    spelled = {}
    for x in lists:
        spelled.setdefault(marshal.dumps(_loose_numbers(x), 2), []).append(x)
    groups = list(spelled.values())
    for g in groups:  # one spelling: all equal
        assert all(g[0] == y and type(g[0]) is type(y) for y in g), g[:4]
    reps = [g[0] for g in groups]
    for a, b in itertools.combinations(reps, 2):  # two spellings: never equal
        assert not (a == b and type(a) is type(b)), (a, b)
    # a million mixed ints and floats (HumanEval/130) spell at C speed, and as expected
    big = [i if i % 2 else i / 2 for i in range(10 ** 6)]
    assert _loose_numbers(big) == [float(i if i % 2 else i / 2) for i in range(10 ** 6)]


def test_cache_key_tells_input_types_apart():
    # the expected-output cache is keyed by content: inputs that differ only in type (a tuple for a
    # list, a set, a complex number for its string) have other reference outputs
    base = {"task_id": "Mbpp/2", "prompt": "", "canonical_solution": "", "entry_point": "f", "atol": 0,
            "plus_input": []}
    keys = {ex._task_key(dict(base, base_input=inp)) for inp in (
        [[[3, 4], [5, 4]]], [[(3, 4), (5, 4)]], [[(3, 4), [5, 4]]], [[{3, 4}, [5, 4]]], [["1+2j"]], [[1 + 2j]])}
    assert len(keys) == 6
    assert ex._task_key(dict(base, base_input=[[{4, 3}]])) == ex._task_key(dict(base, base_input=[[{3, 4}]]))
