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


TRAINING_SCRIPTS = ["recipe/train_on_pairs.py", "recipe/bootstrap.py", "recipe/multi_pair.py",
                    "recipe/multi_pair_14b.py", "recipe/curriculum_math.py", "recipe/curriculum_code.py",
                    "recipe/math_bootstrap.py"]


@pytest.mark.parametrize("script", TRAINING_SCRIPTS)
def test_training_scripts_report_like_trl(script):
    from tests.conftest import load_script

    p = load_script(script).build_parser()
    a = p.parse_args(["--report-to", "tensorboard", "--run-name", "r1"] +
                     (["--pairs", "x.jsonl"] if "train_on_pairs" in script else []))
    s = cli.sft_settings(a)
    assert (s.report_to, s.run_name) == ("tensorboard", "r1")
    assert p.parse_args(["--pairs", "x"] if "train_on_pairs" in script else []).report_to == "none"


def test_report_to_and_run_name_reach_the_trainer_config(tmp_path):
    from tinyforge import training

    cfg = training.make_sft_args(training.SFTSettings(run_name="sweep-n10"), tmp_path / "a")
    assert cfg.report_to == [] or cfg.report_to == "none" or cfg.report_to == ["none"]
    assert cfg.run_name == "sweep-n10"
    assert training.make_sft_args(training.SFTSettings(), tmp_path / "adapter_n21").run_name == "adapter_n21"


def test_a_flag_is_defined_once_and_means_one_thing():
    # every script's options come from cli.FLAGS: no script defines a flag of its own
    import re

    for script in SCRIPTS:
        if script.parent.name == "perf":
            continue
        src = script.read_text()
        assert not re.search(r"add_argument\(\s*['\"]--", src), f"{script} defines a flag outside tinyforge/cli.py"
    assert cli.FLAGS["batch_size"].option == "--batch-size" and "decode" in cli.FLAGS["batch_size"].kw["help"]
    assert cli.FLAGS["train_batch_size"].option == "--train-batch-size"


def test_settings_errors_name_the_flag_the_user_typed():
    from tests.conftest import load_script

    a = load_script("recipe/bootstrap.py").build_parser().parse_args(["--train-batch-size", "0"])
    with pytest.raises(TinyforgeError, match=r"^--train-batch-size must be >= 1, got 0$"):
        cli.sft_settings(a)
    a = load_script("recipe/bootstrap.py").build_parser().parse_args(["--temperature", "-1"])
    with pytest.raises(TinyforgeError, match=r"^--temperature must be >= 0"):
        cli.mining_settings(a)
    a = load_script("recipe/bootstrap.py").build_parser().parse_args(["--eval-n-samples", "0"])
    with pytest.raises(TinyforgeError, match=r"^--eval-n-samples must be >= 1"):
        cli.recipe_evals(a, ["humaneval"])


def test_run_dir_names_come_from_the_flags():
    from tests.conftest import load_script

    a = load_script("recipe/bootstrap.py").build_parser().parse_args(["--model", "Qwen/Qwen2.5-7B", "--seed", "3"])
    assert str(cli.run_dir(a, "bootstrap")) == "runs/bootstrap/Qwen2.5-7B_t0.8_fmtraw_srcself_np100_na8_mp1_r16_ep3.0_s3"
    assert set(cli.resume_knobs(a)) >= {"model", "n_attempts", "lora_rank", "eval_n_samples", "temperature"}
    assert "batch_size" not in cli.resume_knobs(a) and "iterations" not in cli.resume_knobs(a)
