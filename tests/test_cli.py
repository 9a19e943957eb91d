"""Every script answers --help quickly; shared flags, underscore aliases and --config behave."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tinyforge import cli
from tinyforge.io import TinyforgeError
from tests.conftest import REPO

SCRIPT_DIRS = ("recipe", "evals", "tts", "experiments", "controls", "tests/perf")
SCRIPTS = sorted(p for d in SCRIPT_DIRS for p in (REPO / d).glob("*.py") if not p.name.startswith("_"))


def test_there_are_scripts():
    assert any(p.parent.name == "evals" for p in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_help(script):
    r = subprocess.run([sys.executable, str(script), "--help"], cwd=REPO, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage:")
    assert "--max_new_tokens" not in r.stdout  # aliases accepted, not shown


def _parser():
    p = cli.Parser(prog="x")
    cli.add_model_args(p)
    cli.add_decoding_args(p)
    cli.add_sampler_args(p)
    cli.add_io_args(p)
    cli.add_flags(p, "warm-up", "warmup_pairs_path")
    return p


def test_underscore_aliases():
    a = _parser().parse_args(["--max_new_tokens", "7", "--warmup_pairs_path", "p.jsonl", "--top-p", "0.5"])
    assert a.max_new_tokens == 7 and a.warmup_pairs_path == "p.jsonl" and a.top_p == 0.5


def test_config_yaml_sets_defaults_and_flags_override(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("temperature: 0.7\nmax-new-tokens: 99\nstop: [\"\\ndef \"]\n")
    a = _parser().parse_args(["--config", str(y), "--temperature", "0.2"])
    assert a.temperature == 0.2 and a.max_new_tokens == 99 and a.stop == ["\ndef "]


def test_config_unknown_key_names_file_and_line(tmp_path, capsys):
    y = tmp_path / "c.yaml"
    y.write_text("temperature: 0.7\n\nlearning_rate: 3\n")
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(["--config", str(y)])
    assert e.value.code == 2
    assert f"{y}:3: unknown key 'learning_rate'" in capsys.readouterr().err


def test_shard_and_stop_helpers():
    assert cli.parse_shard("1/4") == (1, 4) and cli.parse_shard(None) is None
    for bad in ("4/4", "a/b", "1"):
        with pytest.raises(TinyforgeError):
            cli.parse_shard(bad)
    assert cli.unescape("\\nclass ") == "\nclass "
    assert str(cli.default_run_dir("eval", "Qwen/Qwen2.5-7B", {"n": 8, "t": 0.7, "x": None}, 13)) == \
        "runs/eval/Qwen2.5-7B_n8_t0.7_s13"
