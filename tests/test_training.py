"""LoRA SFT (tinyforge.training, recipe/train_on_pairs.py) on tiny random models, on CPU."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tinyforge import cli, training
from tinyforge import pairs as pairs_mod
from tinyforge.io import DataError, TinyforgeError, read_json

SCRIPT = REPO / "recipe" / "train_on_pairs.py"

# Small memorisable pairs in the shape the miner writes (HumanEval-style raw prompt + body).
PAIRS = [{"id": f"p{i}", "task_id": f"T/{i}", "source": "test",
          "prompt": f'def add_{i}(x):\n    """Return x plus {i}."""\n',
          "completion": f"    return x + {i}\n"} for i in range(8)]


def _script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_train_on_pairs", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run_main(argv: list[str]) -> dict:
    mod = _script()
    return mod.main(mod.build_parser().parse_args(argv))


def _write_pairs(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _cli(*argv, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=timeout)


# ---------------------------------------------------------------------------------------------------
# CLI surface

def test_help_is_instant_and_imports_no_ml_stack():
    code = ("import importlib.util, sys; s = importlib.util.spec_from_file_location('m', sys.argv[1]); "
            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); h = m.build_parser().format_help(); "
            "assert '--lora-rank' in h and '--out' in h, h; "
            "heavy = [k for k in ('torch', 'transformers', 'trl', 'peft', 'datasets') if k in sys.modules]; "
            "assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = _cli("--help")
    assert r.returncode == 0 and "--warmup-ratio" in r.stdout and "--packing" in r.stdout


def test_guide_commands_parse_with_documented_defaults():
    p = _script().build_parser()
    a = p.parse_args("--model Qwen/Qwen2.5-7B --pairs data/pairs_7b_40.jsonl --seed 13 --lora-rank 16 "
                     "--out adapter_7b_seed13".split())
    assert (a.out_dir, a.seed, a.lora_rank, a.epochs, a.lr, a.train_batch_size, a.max_len) == \
        ("adapter_7b_seed13", 13, 16, 3.0, 2e-4, 4, 1024)
    a.dry_run = True  # settings without asking the hub about Qwen/Qwen2.5-7B (no network here)
    assert cli.sft_settings(a).alpha == 32.0          # alpha defaults to 2 x rank
    a = p.parse_args("--model Qwen/Qwen2.5-7B --pairs /tmp/pairs_10.jsonl --out adapter_n10 --epochs 2".split())
    assert a.out_dir == "adapter_n10" and a.epochs == 2.0
    a = p.parse_args(["--pairs", "x.jsonl", "--out-dir", "d", "--lora_rank", "32", "--warmup_ratio", "0.2"])
    assert (a.out_dir, a.lora_rank, a.warmup_ratio) == ("d", 32, 0.2)
    # the training batch has its own flag: --batch-size is the decode batch in every script that samples
    with pytest.raises(SystemExit):
        p.parse_args(["--pairs", "x.jsonl", "--batch" + "-size", "4"])


# ---------------------------------------------------------------------------------------------------
# Bad input: one line, exit 2, before any model is loaded

def test_missing_field_names_file_and_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    lines = [json.dumps(PAIRS[0]), "", json.dumps({"id": "x", "prompt": "p", "source": "s"})]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"^{path}:3: missing field 'completion'"):
        pairs_mod.load_pairs(path)
    r = _cli("--pairs", str(path), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]          # exactly one line
    assert r.stderr.startswith(f"error: {path}:3: missing field 'completion'")
    assert not (tmp_path / "out").exists()


def test_non_string_completion_names_line(tmp_path):
    path = _write_pairs(tmp_path / "p.jsonl", [PAIRS[0], {**PAIRS[1], "completion": ["a"]}])
    with pytest.raises(DataError, match=rf"^{path}:2: field 'completion': expected a non-empty string"):
        pairs_mod.load_pairs(path)


@pytest.mark.parametrize("content,limit", [("", None), ("\n\n", None), (json.dumps(PAIRS[0]) + "\n", 0)])
def test_zero_pairs_stop_before_any_model_is_loaded(tmp_path, monkeypatch, content, limit):
    from tinyforge import models

    def boom(*a, **k):
        raise AssertionError("a model or tokenizer was loaded for an empty pairs file")

    for name in ("load_model", "load_tokenizer", "resolve_model"):
        monkeypatch.setattr(models, name, boom)
    monkeypatch.setattr(training, "make_sft_args", boom)
    path = tmp_path / "empty.jsonl"
    path.write_text(content)
    argv = ["--pairs", str(path), "--out", str(tmp_path / "out")] + (["--limit", str(limit)] if limit is not None else [])
    with pytest.raises(TinyforgeError, match="no pairs to train on"):
        _run_main(argv)
    assert not (tmp_path / "out").exists()
    r = _cli(*argv)
    # as a command, --limit 0 is refused before anything is read
    want = "no pairs to train on" if limit is None else "--limit 0: expected N >= 1"
    assert r.returncode == 2 and want in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_pairs_of_another_format_are_refused_before_loading(tmp_path):
    chat = {**PAIRS[1], "meta": {"format": "chat"}}
    path = _write_pairs(tmp_path / "p.jsonl", [PAIRS[0], chat])
    r = _cli("--pairs", str(path), "--out", str(tmp_path / "out"))  # --format raw is the default
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith(f"error: {path}:2: a chat-format pair, but this run trains --format raw")
    assert not (tmp_path / "out").exists()
    pairs_mod.check_format(pairs_mod.load_pairs(path)[1:], "chat", path)  # the right format passes


def test_shipped_pairs_load_and_are_chat_format():
    path = REPO / "data" / "pairs_smollm2_135m_mbpp_chat.jsonl"
    pairs = pairs_mod.load_pairs(path)
    assert len(pairs) >= 20 and all(p["meta"]["format"] == "chat" and p["meta"]["verified"] for p in pairs)
    pairs_mod.check_format(pairs, "chat", path)


def test_prompts_longer_than_max_len_leave_nothing_to_learn(tiny_llama, tmp_path):
    pairs = _write_pairs(tmp_path / "pairs.jsonl", PAIRS[:2])
    with pytest.raises(TinyforgeError, match="raise --max-len"):
        _run_main(["--model", str(tiny_llama), "--pairs", str(pairs), "--max-len", "4", "--out", str(tmp_path / "a")])


# ---------------------------------------------------------------------------------------------------
# The schedule, as a pure function of the optimizer step

def test_lr_schedule_warmup_then_cosine():
    s = training.LRSchedule(peak=1e-3, total_steps=30, warmup_steps=training.warmup_steps_for(30, 0.1))
    lrs = [s.lr(k) for k in range(30)]
    assert s.warmup_steps == 3
    assert lrs[0] == pytest.approx(1e-3 / 3) and lrs[2] == pytest.approx(1e-3)   # no step at lr 0
    assert all(a < b for a, b in zip(lrs[:3], lrs[1:3]))
    assert all(a > b for a, b in zip(lrs[3:], lrs[4:]))                        # cosine decay
    assert 0 < lrs[-1] < 1e-5
    assert lrs[3 + 27 // 2] == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 13 / 27)))
    assert training.warmup_steps_for(1, 0.5) == 0 and training.warmup_steps_for(10, 0.0) == 0


def test_scheduler_reproduces_the_schedule_per_step():
    import torch

    s = training.LRSchedule(peak=2e-4, total_steps=7, warmup_steps=2)
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=s.peak)
    sched = training.make_lr_scheduler(opt, s)
    seen = []
    for _ in range(7):
        seen.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert seen == pytest.approx([s.lr(k) for k in range(7)], rel=1e-12)


# ---------------------------------------------------------------------------------------------------
# Data: completion-only loss, the evaluation's prompt tokens, EOS

def test_pairs_encode_to_the_evaluated_prompt_plus_completion_and_eos(tiny_llama, tiny_llama_bos):
    from tinyforge import models, sampling

    for model in (tiny_llama, tiny_llama_bos):
        tok = models.load_tokenizer(str(model), for_training=True)
        assert tok.pad_token_id != tok.eos_token_id
        p = PAIRS[3]
        for fmt, prompt in (("raw", p["prompt"]), ("chat", [{"role": "user", "content": p["prompt"]}])):
            ex = training.encode_pair(tok, p["prompt"], p["completion"], fmt)
            want = sampling.encode_prompt(tok, prompt)     # exactly what evaluation feeds the model
            n = len(want)
            assert ex["input_ids"][:n] == want
            assert ex["completion_mask"] == [0] * n + [1] * (len(ex["input_ids"]) - n)
            assert ex["input_ids"][-1] == tok.eos_token_id
            assert ex["input_ids"][n:].count(tok.eos_token_id) == 1      # the reply ends once
            reply = tok.decode(ex["input_ids"][n:], skip_special_tokens=True)
            assert reply == p["completion"]                # nothing of the template after the turn
        bos = tok.bos_token_id
        if model == tiny_llama_bos:                        # one BOS, as generation has
            assert training.encode_pair(tok, "x", "y", "raw")["input_ids"].count(bos) == 1


def test_completion_only_loss_ignores_prompt_tokens(tiny_llama, tmp_path):
    """Labels are -100 on every prompt token (and on padding); the trainer's loss equals the mean
    cross-entropy over the completion tokens alone."""
    import torch
    import torch.nn.functional as F

    settings = training.SFTSettings(model=str(tiny_llama), lora_dropout=0.0, batch_size=2, epochs=1)
    trainer = training.build_trainer(PAIRS[:2], settings, tmp_path, training.make_sft_args(settings, tmp_path))
    tok = trainer.processing_class
    rows = [trainer.train_dataset[i] for i in range(2)]
    for row in rows:
        pair = next(p for p in PAIRS[:2] if training.encode_pair(tok, p["prompt"], p["completion"])["input_ids"]
                    == row["input_ids"])
        n = len(tok(pair["prompt"])["input_ids"])
        assert all(label == -100 for label in row["labels"][:n])
        assert row["labels"][n:] == row["input_ids"][n:]
    batch = trainer.data_collator(rows)
    assert batch["labels"][batch["attention_mask"] == 0].eq(-100).all()

    model = trainer.model
    model.eval()                     # no dropout: the two computations must agree exactly
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch))
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    tgt, lp = [], []
    for b, row in enumerate(rows):
        pair = [p for p in PAIRS[:2] if training.encode_pair(tok, p["prompt"], p["completion"])["input_ids"]
                == row["input_ids"]][0]
        n = len(tok(pair["prompt"])["input_ids"])
        for t in range(n, len(row["input_ids"])):          # predict token t from position t - 1
            lp.append(logits[b, t - 1])
            tgt.append(row["input_ids"][t])
    manual = F.cross_entropy(torch.stack(lp).float(), torch.tensor(tgt))
    assert float(loss) == pytest.approx(float(manual), rel=1e-4)


# ---------------------------------------------------------------------------------------------------
# End to end

def test_main_writes_adapter_dir_and_resumes(tiny_llama, tmp_path, monkeypatch):
    pairs = _write_pairs(tmp_path / "pairs.jsonl", PAIRS[:4])
    out = tmp_path / "adapter"
    argv = ["--model", str(tiny_llama), "--pairs", str(pairs), "--limit", "2", "--epochs", "1",
            "--train-batch-size", "1", "--lora-rank", "4", "--out-dir", str(out)]
    m = _run_main(argv)
    for f in ("adapter_config.json", "adapter_model.safetensors", "train_log.json", "config.json", "metrics.json"):
        assert (out / f).is_file(), f
    assert not (out / "training_args.bin").exists() and not (out / "tokenizer.json").exists()
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["lora_alpha"] == 8
    assert set(cfg["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    for key in ("train/final_loss", "train/initial_loss", "train/steps", "train/tokens", "train/wall_s",
                "train/tokens_per_s", "train/global_batch", "train/num_processes", "train/pairs"):
        assert key in m, key
    assert m["train/steps"] == 2 and m["train/pairs"] == 2 and m["train/tokens"] > 0
    assert read_json(out / "metrics.json") == json.loads(json.dumps(m))
    log = read_json(out / "train_log.json")
    assert [r["step"] for r in log["steps"]] == [1, 2]
    assert all(math.isfinite(r["loss"]) and r["lr"] > 0 for r in log["steps"])
    assert log["steps"][-1]["loss"] == m["train/final_loss"] and log["num_processes"] == 1
    run_cfg = read_json(out / "config.json")
    assert run_cfg["args"]["lora_rank"] == 4 and run_cfg["settings"]["lora_alpha"] == 8.0

    # Same command again: the finished adapter is kept, not retrained.
    monkeypatch.setattr(training, "train_lora", lambda *a, **k: pytest.fail("retrained a finished run"))
    assert _run_main(argv) == read_json(out / "metrics.json")
    with pytest.raises(TinyforgeError, match=r"other settings \(--lora-rank 4 there, 8 now\): pass --overwrite"):
        _run_main(argv[:-4] + ["--lora-rank", "8", "--out-dir", str(out)])


def test_training_moves_the_adapter_and_memorises(tiny_qwen2, tmp_path):
    from safetensors.torch import load_file

    from tinyforge import models

    pairs = _write_pairs(tmp_path / "pairs.jsonl", PAIRS[:4])
    out = tmp_path / "adapter"
    m = _run_main(["--model", str(tiny_qwen2), "--pairs", str(pairs), "--epochs", "12", "--lr", "1e-2",
                   "--lora-dropout", "0", "--lora-rank", "8", "--warmup-ratio", "0", "--seed", "3",
                   "--out", str(out)])
    assert m["train/steps"] == 12
    assert m["train/final_loss"] < 0.25 * m["train/initial_loss"], m
    weights = load_file(str(out / "adapter_model.safetensors"))
    b = [v for k, v in weights.items() if "lora_B" in k]
    assert b and all(float(v.abs().max()) > 0 for v in b)                      # PEFT inits B at 0
    model = models.attach_adapter(models.load_model(str(tiny_qwen2), device="cpu"), out)   # logit check
    assert models.adapter_logit_delta(model) > 0


def test_packing_runs_padding_free_and_is_checked(tiny_llama, tmp_path):
    import torch

    from tinyforge import models

    pairs = _write_pairs(tmp_path / "pairs.jsonl", PAIRS)
    m = _run_main(["--model", str(tiny_llama), "--pairs", str(pairs), "--packing", "--max-len", "64",
                   "--train-batch-size", "2", "--epochs", "1", "--out", str(tmp_path / "a")])
    assert m["train/rows"] < m["train/pairs"] and m["train/steps"] >= 1      # several pairs per row

    tok = models.load_tokenizer(str(tiny_llama), for_training=True)
    base = models.load_model(str(tiny_llama), device="cpu")
    assert training.check_padding_free(base, tok) < 1e-3

    class IgnoresPositions(torch.nn.Module):       # attends across the packed boundary
        def __init__(self, m):
            super().__init__()
            self.m, self.config = m, m.config

        def get_input_embeddings(self):
            return self.m.get_input_embeddings()

        def forward(self, input_ids, position_ids=None, **kw):
            return self.m(input_ids=input_ids, use_cache=False)

    with pytest.raises(TinyforgeError, match="--packing: .*does not keep packed pairs apart"):
        training.check_padding_free(IgnoresPositions(base), tok)


def test_a_double_stepping_scheduler_is_caught(tiny_llama, tmp_path, monkeypatch):
    """The accelerate trap: a scheduler stepped twice per optimizer step must stop the run."""
    real = training.make_lr_scheduler

    def double(optimizer, schedule):
        sched = real(optimizer, schedule)
        step = sched.step

        def twice(*a, **k):
            step()
            step()

        sched.step = twice
        return sched

    monkeypatch.setattr(training, "make_lr_scheduler", double)
    settings = training.SFTSettings(model=str(tiny_llama), batch_size=1, epochs=1, warmup_ratio=0.5)
    with pytest.raises(RuntimeError, match="not stepped once per optimizer step"):
        training.train_lora(PAIRS[:4], settings, tmp_path, verbose=False)


def _gloo_available() -> bool:
    try:
        import torch.distributed as dist
        return dist.is_available() and dist.is_gloo_available()
    except ImportError:
        return False


@pytest.mark.skipif(not _gloo_available(), reason="torch.distributed with gloo is unavailable")
def test_lr_schedule_is_identical_with_1_and_2_processes(tiny_llama, tmp_path):
    """Same pairs, same global batch (1 x 4 and 2 x 2): the per-step lr sequences in train_log.json
    are identical, and so (no dropout, pairs divisible by the batch) are the losses."""
    pairs = _write_pairs(tmp_path / "pairs.jsonl", PAIRS)
    common = ["--model", str(tiny_llama), "--pairs", str(pairs), "--epochs", "2", "--lr", "1e-3",
              "--lora-dropout", "0", "--warmup-ratio", "0.3", "--lora-rank", "4"]
    one = _run_main(common + ["--train-batch-size", "4", "--out", str(tmp_path / "p1")])
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                str(REPO / "configs" / "accelerate" / "cpu_2proc.yaml")]
    r = subprocess.run(launcher + [str(SCRIPT), *common, "--train-batch-size", "2", "--out", str(tmp_path / "p2")],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    log1, log2 = read_json(tmp_path / "p1" / "train_log.json"), read_json(tmp_path / "p2" / "train_log.json")
    assert (log1["num_processes"], log2["num_processes"]) == (1, 2)
    assert log1["global_batch"] == log2["global_batch"] == 4
    assert one["train/steps"] == len(log2["steps"]) == 4
    assert [s["lr"] for s in log1["steps"]] == [s["lr"] for s in log2["steps"]]
    assert [s["loss"] for s in log1["steps"]] == pytest.approx([s["loss"] for s in log2["steps"]], rel=1e-4)
    assert read_json(tmp_path / "p2" / "metrics.json")["train/num_processes"] == 2
