"""Every script: `--help` is instant (no torch, vllm, trl, transformers or peft imported) and offers
`--dry-run`; its docstring's smoke command really runs on the embedded model (slow: `make bench`)."""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPTS = sorted(p for d in ("recipe", "evals", "tts", "experiments", "controls") for p in (REPO / d).glob("*.py")
                 if not p.name.startswith("_"))
HEAVY = ("torch", "vllm", "trl", "transformers", "peft")
_PROBE = ("import runpy, sys\n"
          "sys.argv = [sys.argv[1], '--help']\n"
          "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
          "except SystemExit as e:\n    code = e.code\n"
          "print('\\nMODULES ' + ' '.join(sorted(m for m in sys.modules if m.split('.')[0] in %r)))\n"
          "sys.exit(code)\n" % (HEAVY,))


def test_there_are_scripts():
    assert len(SCRIPTS) >= 13


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_help_is_light_and_offers_dry_run(script):
    r = subprocess.run([sys.executable, "-c", _PROBE, str(script)], cwd=REPO, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage:") and "--dry-run" in r.stdout
    loaded = r.stdout.rsplit("MODULES", 1)[1].split()
    assert loaded == [], f"--help imported {loaded}"


def smoke_command(script) -> list[str] | None:
    """The command under the `Smoke` line of the script's docstring (continuations joined)."""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    lines = doc.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("Smoke"):
            start = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("python "))
            cmd = []
            for nxt in lines[start:]:
                cmd.append(nxt.strip().rstrip("\\").strip())
                if not nxt.rstrip().endswith("\\"):
                    break
            return shlex.split(" ".join(cmd))
    return None


# A 135M model may verify nothing in a smoke-sized math run; the scripts then stop with this, by design.
MAY_FIND_NO_PAIRS = ("curriculum_math.py", "math_bootstrap.py")


def test_every_script_has_a_smoke_command_for_itself():
    for script in SCRIPTS:
        cmd = smoke_command(script)
        assert cmd and cmd[0] == "python" and cmd[1] == str(script.relative_to(REPO)), script
        assert re.search(r"smollm2-135m|samples_example", " ".join(cmd)), f"{script}: smoke is not on the embedded model"


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_smoke_command_runs(script, tmp_path):
    cmd = smoke_command(script)
    if "bootstrap_14b_4bit_harvest" in script.name:
        import torch
        if not torch.cuda.is_available():
            pytest.skip("NF4 needs a CUDA GPU")
    if "multi_pair" in script.name:  # its smoke warms up on the bootstrap smoke's pairs
        first = smoke_command(REPO / "recipe" / "bootstrap.py")
        subprocess.run([sys.executable, *first[1:]], cwd=REPO, timeout=1800, check=True)
    r = subprocess.run([sys.executable, *cmd[1:]], cwd=REPO, capture_output=True, text=True, timeout=1800,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if script.name in MAY_FIND_NO_PAIRS and r.returncode == 2:
        assert r.stderr.startswith("error: no verified pairs"), r.stderr[-2000:]
        return
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
