"""Every script (recipe/, evals/, tts/, experiments/, controls/; found by glob, so a new one is covered):
`--help` is instant (none of torch, vllm, trl, transformers, peft imported) and offers `--dry-run`; the
smoke command of its docstring is well formed, passes `--dry-run`, and (slow, `make bench`) really runs
on the embedded model (issue 8, items 5 and 7)."""

from __future__ import annotations

import ast
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT_DIRS = ("recipe", "evals", "tts", "experiments", "controls")
SCRIPTS = sorted(p for d in SCRIPT_DIRS for p in (REPO / d).glob("*.py") if not p.name.startswith("_"))
HEAVY = ("torch", "vllm", "trl", "transformers", "peft")
SMOKE_TIMEOUT = 1800  # seconds: the longest smoke (a curriculum round with evaluation) takes a few minutes

# Runs the script as `python <script> --help` would (its own dir first on sys.path), then lists every
# module imported, after a marker line.
_MARK = "----- modules imported -----"
_PROBE = f"""
import os, runpy, sys
path = sys.argv[1]
sys.argv = [path, "--help"]
sys.path[0] = os.path.dirname(os.path.abspath(path))
code = 0
try:
    runpy.run_path(path, run_name="__main__")
except SystemExit as e:
    code = e.code
sys.stdout.flush()
print("\\n{_MARK}")
print("\\n".join(sorted(sys.modules)))
sys.exit(code if isinstance(code, int) else (0 if code is None else 1))
"""


def _rel(p: Path) -> str:
    return str(p.relative_to(REPO))


def _light_env() -> dict:
    # PYTHONPATH: this checkout's package, whatever checkout the venv's editable install points at
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HF_HUB_OFFLINE": "1", "PYTHONIOENCODING": "utf-8",
            "PYTHONPATH": str(REPO)}


def test_the_glob_finds_the_scripts():
    names = {_rel(p) for p in SCRIPTS}
    assert len(SCRIPTS) >= 13 and {"recipe/bootstrap.py", "recipe/train_on_pairs.py", "evals/eval_raw.py"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=_rel)
def test_help_is_light_and_offers_dry_run(script):
    r = subprocess.run([sys.executable, "-c", _PROBE, _rel(script)], cwd=REPO, capture_output=True, text=True,
                       timeout=60, env=_light_env())
    assert _MARK in r.stdout, f"the probe did not finish (exit {r.returncode})\n{r.stderr[-3000:]}"
    help_text, modules = r.stdout.rsplit(_MARK, 1)
    assert r.returncode == 0, f"--help exited {r.returncode}\n{r.stderr[-3000:]}"
    assert help_text.lstrip().startswith("usage: "), help_text[:500]
    assert "--dry-run" in help_text
    heavy = sorted({m.split(".")[0] for m in modules.split()} & set(HEAVY))
    assert not heavy, f"--help imported {heavy}: import them inside the functions that need them"


def smoke_from_doc(doc: str) -> list[str] | None:
    """The command under the docstring's `Smoke ...:` line, as shell words, backslash continuations
    joined. The `Smoke` line may wrap onto more prose lines, up to the one ending with `:`; the next
    non-blank line is the command (indented, starting with `python`), else there is none."""
    lines = doc.split("\n")
    for i, line in enumerate(lines):
        if not line.startswith("Smoke"):
            continue
        end = next((k for k in range(i, len(lines)) if not lines[k].strip() or lines[k][0].isspace()
                    or lines[k].rstrip().endswith(":")), len(lines))
        if end == len(lines) or not lines[end].rstrip().endswith(":") or lines[end][0].isspace():
            return None
        start = next((j for j in range(end + 1, len(lines)) if lines[j].strip()), None)
        if start is None or not lines[start][0].isspace() or not lines[start].strip().startswith("python "):
            return None
        words = []
        for nxt in lines[start:]:
            words.append(nxt.strip().removesuffix("\\").strip())
            if not nxt.rstrip().endswith("\\"):
                break
        return shlex.split(" ".join(words))
    return None


def smoke_command(script: Path) -> list[str] | None:
    return smoke_from_doc(ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or "")


def test_smoke_extraction_on_literal_docstrings():
    doc = ("Title.\n\nSmoke (embedded model, CPU, a minute; it mined 3 pairs\nof 8, as expected):\n"
           "    python recipe/x.py --model smollm2-135m \\\n        --stop \"\\ndef \" --limit 8\n"
           "H100:\n    python recipe/x.py --model Qwen/Qwen2.5-7B\n")
    assert smoke_from_doc(doc) == ["python", "recipe/x.py", "--model", "smollm2-135m", "--stop", "\\ndef ",
                                   "--limit", "8"]
    assert smoke_from_doc("Smoke:\n    python evals/e.py --limit 2\nmore prose\n") == \
        ["python", "evals/e.py", "--limit", "2"]
    assert smoke_from_doc("Title.\n\nH100:\n    python recipe/x.py\n") is None
    assert smoke_from_doc("Smoke: none yet.\n\n    python recipe/x.py\n") is None
    assert smoke_from_doc("Smoke (CPU):\nThe embedded model.\n") is None


# A smoke that warms up on another smoke's output runs that one first (recipe/multi_pair.py's docstring).
NEEDS_SMOKE_OF = {"recipe/multi_pair.py": "recipe/bootstrap.py", "recipe/multi_pair_14b.py": "recipe/bootstrap.py",
                  "experiments/recipe_x_tts_synergy.py": "recipe/bootstrap.py"}  # its adapter
# A 135M model may verify nothing in a smoke-sized math run; these scripts then stop with exit 2, as
# their docstrings say.
MAY_FIND_NO_PAIRS = {"recipe/curriculum_math.py", "recipe/math_bootstrap.py"}
NEEDS_CUDA = {"recipe/bootstrap_14b_4bit_harvest.py"}  # NF4


@pytest.mark.parametrize("script", SCRIPTS, ids=_rel)
def test_docstring_has_a_smoke_command_for_itself(script):
    cmd = smoke_command(script)
    assert cmd, f"{_rel(script)}: no `Smoke ...` line followed by a command in the module docstring"
    assert cmd[:2] == ["python", _rel(script)], f"the smoke runs {cmd[:2]}, not this script"
    assert any(w in ("smollm2-135m",) or w.startswith("data/") for w in cmd), \
        "the smoke uses neither the embedded model (smollm2-135m) nor shipped data (data/...)"


@pytest.mark.parametrize("script", SCRIPTS, ids=_rel)
def test_smoke_command_passes_dry_run(script):
    cmd = smoke_command(script)
    if not cmd:
        pytest.skip("no smoke command (test_docstring_has_a_smoke_command_for_itself says so)")
    r = subprocess.run([sys.executable, *cmd[1:], "--dry-run"], cwd=REPO, capture_output=True, text=True,
                       timeout=60, env=_light_env())
    assert r.returncode == 0 and any(ln.startswith("plan:") for ln in r.stdout.splitlines()), \
        f"$ {shlex.join(cmd)} --dry-run\nexit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"


def _run_smoke(rel: str) -> subprocess.CompletedProcess:
    cmd = smoke_command(REPO / rel)
    return subprocess.run([sys.executable, *cmd[1:]], cwd=REPO, capture_output=True, text=True,
                          timeout=SMOKE_TIMEOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=_rel)
def test_smoke_command_runs(script):
    rel = _rel(script)
    if not smoke_command(script):
        pytest.fail(f"{rel}: no smoke command in its docstring")
    if rel in NEEDS_CUDA:
        import torch
        if not torch.cuda.is_available():
            pytest.skip(f"{rel}: its smoke needs a CUDA GPU")
    if rel in NEEDS_SMOKE_OF:
        first = _run_smoke(NEEDS_SMOKE_OF[rel])
        assert first.returncode == 0, (f"the smoke of {NEEDS_SMOKE_OF[rel]}, which {rel}'s smoke needs, "
                                       f"failed", first.stdout[-2000:], first.stderr[-2000:])
    r = _run_smoke(rel)
    if rel in MAY_FIND_NO_PAIRS and r.returncode == 2:
        assert "no verified pair" in r.stderr, r.stderr[-2000:]
        return
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
