"""Bad input, tried as a new user would: one line on stderr, exit 2, no run dir left behind, and no
model loaded first (everything that can be checked is checked before a weight is read)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO


def _run(tmp_path, script: str, *argv: str, timeout: float = 60):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TINYFORGE_CACHE": str(tmp_path / "cache")}
    t0 = time.time()
    r = subprocess.run([sys.executable, str(REPO / script), *argv], cwd=tmp_path, capture_output=True, text=True,
                       timeout=timeout, env=env)
    return r, time.time() - t0


@pytest.mark.parametrize("argv,message", [
    (["--n-samples", "0"], "--n-samples must be >= 1, got 0"),
    (["--limit", "0"], "--limit 0: expected N >= 1"),
    (["--temperature", "-0.5"], "--temperature must be >= 0, got -0.5"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be >= 1, got 0"),
    (["--top-p", "0"], "--top-p must be in (0, 1], got 0.0"),
    (["--adapter", "no_such_adapter"], "--adapter no_such_adapter: no such directory"),
    (["--n-samples", "2", "--k", "5"], "--k 5: pass@k needs 1 <= k <= the samples per task"),
    (["--model", "no-such-alias"], "no-such-alias"),
])
def test_eval_raw_refuses_before_anything_is_loaded_or_written(tmp_path, argv, message):
    r, took = _run(tmp_path, "evals/eval_raw.py", "--limit", "2", *argv)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1 and message in err[0], r.stderr
    assert not (tmp_path / "runs").exists()  # nothing left behind
    assert "Loading weights" not in r.stderr and took < 30


def test_the_same_checks_run_under_dry_run(tmp_path):
    r, _ = _run(tmp_path, "evals/eval_raw.py", "--n-samples", "0", "--dry-run")
    assert r.returncode == 2 and "--n-samples must be >= 1" in r.stderr
    r, _ = _run(tmp_path, "evals/eval_raw.py", "--adapter", "made_later", "--dry-run")
    assert r.returncode == 0 and "adapter: made_later  (missing" in r.stdout  # an earlier command may make it
    assert not (tmp_path / "runs").exists()


def test_argparse_errors_stay_short(tmp_path):
    r, _ = _run(tmp_path, "evals/eval_raw.py", "--bench", "nope")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 2 and "invalid choice: 'nope'" in r.stderr


def test_training_flags_are_checked_before_the_pairs_are_read(tmp_path):
    r, _ = _run(tmp_path, "recipe/train_on_pairs.py", "--pairs", "missing.jsonl", "--train-batch-size", "0")
    assert r.returncode == 2 and r.stderr.strip() == "error: --train-batch-size must be >= 1, got 0"
    r, _ = _run(tmp_path, "recipe/bootstrap.py", "--band-low", "0.1")  # not a flag of this script
    assert r.returncode == 2 and "unrecognized arguments: --band-low" in r.stderr


def test_sample_with_an_empty_prompts_file(tmp_path):
    (tmp_path / "p.jsonl").write_text("")
    r, _ = _run(tmp_path, "evals/sample.py", "--prompts", "p.jsonl")
    assert r.returncode == 2 and r.stderr.strip() == "error: p.jsonl: no prompts" and not (tmp_path / "runs").exists()
