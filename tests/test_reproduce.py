"""Every `python <script> ...` command of REPRODUCE.md and of the seed reproduction guide runs with
`--dry-run` appended: it parses, validates, resolves its run dir, prints its plan (a line starting with
`plan:`), loads nothing, writes nothing, exits 0 (issue 8, item 5).

The extractor reads fenced ``` blocks and inline `code` spans, joins backslash continuations, cuts each
shell line at `;`, `&&`, `||`, `|`, `&`, drops redirections and comments, strips env-var prefixes
(`CUDA_VISIBLE_DEVICES=0 python ...`) and runs the script part of `accelerate launch ... x.py ...`.
Loops (`for N in 10 21 40; do ... $N ...; done`, brace lists, `$(echo $M | tr / _)`) are expanded by
bash itself, with `python` replaced by a shell function that only prints its arguments; nothing but the
script commands and the loop structure reaches bash (no `head ... > file`), and it runs in a scratch
directory. A command with a placeholder (`...`, `<each>`, a bare `M` / `FILE`) is a template: its case
is skipped, with the reason.

A guide command whose script does not exist yet is an expected failure naming the issue that builds it
(BUILT_BY, strict). Once a script exists its cases run for real, so a broken new script is never hidden,
and its BUILT_BY entry must go (test_built_by_names_only_missing_scripts): the list only shrinks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The checkout has shared/ beside it (development machines and CI alike); a clone without it skips the
# guide's cases instead of failing them.
GUIDE = REPO.parent / "shared" / "seeds" / "000_54289f21a014bbdb.txt"
SOURCES = {"REPRODUCE.md": REPO / "REPRODUCE.md", "guide": GUIDE}
SCRIPT_DIRS = ("recipe", "evals", "tts", "experiments", "controls")  # the scripts the contract covers

# The open issue that builds each script the guide (or a planned REPRODUCE.md row) names but the repo does
# not have yet (`issues show 9` .. `issues show 13`; issue 9, evaluation fidelity, adds no script).
BUILT_BY = {
    # 11: the findings (guide §3.6, §3.9, §3.10, §3.11, Figure 3, related work)
    "controls/mbpp_corrupt_control.py": 11, "experiments/mbpp_seeded_cross_arch.py": 11,
    "experiments/bcb_hard_eval.py": 11, "experiments/math500_seeded_mining.py": 11,
    "experiments/self_correction_math_naive.py": 11, "experiments/self_correction_math_fixed.py": 11,
    "experiments/recursive_bootstrap.py": 11, "experiments/cross_domain_code_to_math.py": 11,
    "experiments/diversity_cued_mining.py": 11, "experiments/star_baseline_gsm8k.py": 11,
    "experiments/pair_count_sweep.py": 11, "experiments/boundary_chart.py": 11,
    # 12: two-stage SFT with domain tokens, probes, multiple choice (seed 001)
    "recipe/add_tokens.py": 12, "recipe/sft.py": 12, "recipe/gsm_sbs.py": 12, "recipe/hub_sync.py": 12,
    "evals/eval_probes.py": 12, "evals/eval_mc.py": 12, "evals/sample_sft.py": 12,
    # 13: GRPO (seed 001)
    "recipe/grpo.py": 13,
}

DRY_RUN_TIMEOUT = 60  # seconds; a dry run loads no model, so it takes about as long as an import of tinyforge


# ---------------------------------------------------------------------------------------------------
# Extraction


@dataclass(frozen=True)
class Command:
    source: str                 # "REPRODUCE.md" or "guide"
    line: int                   # 1-based line of the document where the command starts
    argv: tuple[str, ...]       # the script and its arguments, as bash passes them (after expansion)
    loop: str = ""              # "N=10" when the command is one iteration of a loop
    skip: str = ""              # why it is not run (a template; not a stage script)
    error: str = ""             # why it could not be extracted (the case fails with this)

    @property
    def script(self) -> str:
        return os.path.normpath(self.argv[0]) if self.argv else "?"

    @property
    def id(self) -> str:
        return f"{self.source}:{self.line}:{self.script}" + (f":{self.loop}" if self.loop else "")


_RUNS_SCRIPT = re.compile(r"\b(?:python3?|accelerate\s+launch|torchrun)\s+\S*\.py\b")
_FENCE = re.compile(r"^\s*(```|~~~)")


def snippets(text: str) -> list[tuple[int, str]]:
    """(first line, shell text) of every fenced code block and inline `code` span that runs a script."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m:
            start, body = i + 2, []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(m.group(1)):
                body.append(lines[i])
                i += 1
            block = "\n".join(body)
            if _RUNS_SCRIPT.search(block):
                out.append((start, block))
        else:
            for span in re.findall(r"`([^`\n]+)`", lines[i]):
                if _RUNS_SCRIPT.search(span):
                    out.append((i + 1, span))
        i += 1
    return out


def logical_lines(snippet: str) -> list[tuple[int, str]]:
    """(offset of the first physical line, text) with backslash continuations joined."""
    out, cur, first = [], [], 0
    for k, raw in enumerate(snippet.split("\n")):
        if not cur:
            first = k
        if raw.rstrip().endswith("\\") and not raw.rstrip().endswith("\\\\"):
            cur.append(raw.rstrip()[:-1])
            continue
        cur.append(raw)
        out.append((first, " ".join(s.strip() for s in cur)))
        cur = []
    if cur:
        out.append((first, " ".join(s.strip() for s in cur)))
    return out


def segments(line: str) -> list[str]:
    """A shell line cut into simple commands at top-level `;`, `&&`, `||`, `|` and `&` (never inside
    quotes or `$(...)`), without comments and redirections (`> f`, `>> f`, `2>&1`, `< f`)."""
    segs, cur, depth, quote, k = [], "", 0, None, 0
    while k < len(line):
        c = line[k]
        if quote:
            if quote == '"' and c == "\\" and k + 1 < len(line):
                cur += line[k:k + 2]
                k += 2
                continue
            quote = None if c == quote else quote
            cur += c
            k += 1
            continue
        if c == "\\" and k + 1 < len(line):
            cur += line[k:k + 2]
            k += 2
            continue
        if c in "'\"":
            quote = c
        elif line.startswith("$(", k):
            depth += 1
            cur += "$("
            k += 2
            continue
        elif c == ")" and depth:
            depth -= 1
        elif depth == 0 and c == "#" and (not cur or cur[-1].isspace()):
            break  # a comment runs to the end of the line
        elif depth == 0 and c in ";|&":
            segs.append(cur)
            cur = ""
            k += 2 if line.startswith(("&&", "||"), k) else 1
            continue
        elif depth == 0 and c == "<" and re.match(r"<[\w-]+>", line[k:]):
            m = re.match(r"<[\w-]+>", line[k:])  # a placeholder (`--model <each>`), kept for template_reason
            cur += m.group(0)
            k += m.end()
            continue
        elif depth == 0 and c in "<>":
            # a redirection: drop the operator (with a leading fd digit) and its target word
            if re.search(r"(^|\s)\d$", cur):
                cur = cur[:-1]
            m = re.compile(r"[<>]+&?\s*(?:'[^']*'|\"[^\"]*\"|[^\s;|&<>]+)?").match(line, k)
            k = m.end()
            continue
        cur += c
        k += 1
    segs.append(cur)
    return [s.strip() for s in segs if s.strip()]


_ENV_PREFIX = re.compile(r"^(?:[A-Za-z_]\w*=(?:'[^']*'|\"[^\"]*\"|[^\s'\"])*\s+)+")
_ASSIGNMENT = re.compile(r"^(?:export\s+)?[A-Za-z_]\w*=(?:'[^']*'|\"[^\"]*\"|\S)*$")
_LAUNCHER = re.compile(r"^(?:accelerate\s+launch|torchrun)\s+(?:.*?\s)?(?=\S*\.py(?:\s|$))")
_PYTHON = re.compile(r"^python3?\s+(?=[^-\s]\S*\.py(?:\s|$))")


def python_part(seg: str) -> str | None:
    """`recipe/x.py --a 1` when the simple command runs a script (after an env prefix, under `accelerate
    launch` or `torchrun`), else None (`head`, `cat`, `pip`, `python -m venv`)."""
    seg = _ENV_PREFIX.sub("", seg)
    seg = _LAUNCHER.sub("python ", seg)
    m = _PYTHON.match(seg)
    return seg[m.end():] if m else None


def template_reason(cmd: str) -> str:
    """Why a command is a template rather than a command (empty when it is a command)."""
    for tok in re.findall(r"'[^']*'|\"[^\"]*\"|\S+", cmd):
        if tok[0] in "'\"":
            continue
        if "..." in tok:
            return f"template: `{tok}` is a placeholder"
        angle = re.search(r"<[\w-]+>", tok)
        if angle:
            return f"template: `{angle.group(0)}` is a placeholder"
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", tok):
            return f"template: `{tok}` is a placeholder"
    return ""


_BASH_PRELUDE = r"""__tf_cmd() {
  local line=$1 vars=$2 v; shift 2
  printf '%s\037' "$line"
  for v in ${vars//,/ }; do printf '%s=%s ' "$v" "${!v}"; done
  printf '\037'; printf '%s\037' "$@"; printf '\036'
}
"""


def expand(snippet: str, source: str = "text", first_line: int = 1) -> list[Command]:
    """The script commands of one snippet, loops expanded, one Command per run."""
    out, shell, loops = [], [], []
    for offset, text in logical_lines(snippet):
        line = first_line + offset
        text = re.sub(r"^\s*\$\s+", "", text)  # a `$ ` prompt
        for seg in segments(text):
            # `if` / `then` / `else` / `fi` are dropped: every branch's command is checked
            while re.match(r"(do|then|else)\s", seg):
                kw, seg = seg.split(None, 1)
                if kw == "do":
                    shell.append(kw)
            if seg in ("then", "else", "fi"):
                continue
            if seg == "do":
                shell.append(seg)
            elif seg == "done":
                shell.append(seg)
                loops = loops[:-1]
            elif re.match(r"for\s+[A-Za-z_]\w*\s+in\b", seg):
                shell.append(seg)
                loops = loops + [seg.split()[1]]
            elif _ASSIGNMENT.match(seg):
                shell.append(seg)  # `M=Qwen/Qwen2.5-7B` on its own line: later commands use it
            else:
                part = python_part(seg)
                if part is None:
                    continue  # head, cat, pip, cd, ...: not a script of ours
                why = template_reason(part)
                if why:
                    argv = tuple(part.split()[:1])
                    out.append(Command(source, line, argv, loop=",".join(f"{v}=*" for v in loops), skip=why))
                    continue
                shell.append(f"__tf_cmd {line} '{','.join(loops)}' {part}")
    if not any(s.startswith("__tf_cmd ") for s in shell):
        return out
    prog = _BASH_PRELUDE + "\n".join(shell) + "\n"
    if not shutil.which("bash"):
        return out + [Command(source, first_line, ("?",), error="bash not found: it expands the documents' loops")]
    with tempfile.TemporaryDirectory() as scratch:
        r = subprocess.run(["bash", "--noprofile", "--norc", "-c", prog], capture_output=True, text=True,
                           timeout=30, cwd=scratch, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    if r.returncode != 0:
        return out + [Command(source, first_line, ("?",), error=f"bash could not expand:\n{prog}\n{r.stderr}")]
    for rec in r.stdout.split("\x1e")[:-1]:
        fields = rec.split("\x1f")[:-1]
        out.append(Command(source, int(fields[0]), tuple(fields[2:]), loop=fields[1].strip()))
    return out


def commands_of(text: str, source: str) -> list[Command]:
    cmds = []
    for first, snip in snippets(text):
        for c in expand(snip, source, first):
            if not c.skip and not c.error and c.script.split(os.sep)[0] not in SCRIPT_DIRS:
                c = Command(c.source, c.line, c.argv, c.loop,
                            skip=f"{c.script} is not a stage script (the --dry-run contract covers "
                                 f"{', '.join(d + '/' for d in SCRIPT_DIRS)})")
            cmds.append(c)
    return cmds


def all_commands() -> dict[str, list[Command]]:
    return {name: commands_of(path.read_text(encoding="utf-8"), name) if path.exists() else []
            for name, path in SOURCES.items()}


COMMANDS = all_commands()


# ---------------------------------------------------------------------------------------------------
# The extractor itself


def _argvs(cmds):
    return [list(c.argv) for c in cmds if not c.skip and not c.error]


def test_extractor_joins_continuations_and_keeps_quoting():
    cmds = expand("python recipe/x.py --a 1 \\\n    --stop '\\nclass ' --b \"two words\" --c ''")
    assert _argvs(cmds) == [["recipe/x.py", "--a", "1", "--stop", "\\nclass ", "--b", "two words", "--c", ""]]
    assert cmds[0].line == 1


def test_extractor_expands_for_loops_with_their_values_in_the_id():
    loop = ("for N in 10 21; do\nhead -n $N a > /tmp/p_$N.jsonl\n"
            "python recipe/t.py \\\n--pairs /tmp/p_$N.jsonl --out ad_n${N}\ndone")
    cmds = expand(loop, "doc", 5)
    assert _argvs(cmds) == [["recipe/t.py", "--pairs", "/tmp/p_10.jsonl", "--out", "ad_n10"],
                            ["recipe/t.py", "--pairs", "/tmp/p_21.jsonl", "--out", "ad_n21"]]
    assert [c.id for c in cmds] == ["doc:7:recipe/t.py:N=10", "doc:7:recipe/t.py:N=21"]
    one_line = "for N in 1 2; do python evals/e.py --n $N; done"
    assert _argvs(expand(one_line)) == [["evals/e.py", "--n", "1"], ["evals/e.py", "--n", "2"]]


def test_extractor_expands_braces_and_command_substitution_as_bash_does():
    brace = ('for M in Q/a-{1,2} z/b; do\npython evals/e.py --model "$M" --bench humaneval # base | x > y\n'
             'python recipe/b.py --tag "x_$(echo $M | tr \'/\' \'_\')"\ndone')
    assert _argvs(expand(brace)) == [
        ["evals/e.py", "--model", "Q/a-1", "--bench", "humaneval"], ["recipe/b.py", "--tag", "x_Q_a-1"],
        ["evals/e.py", "--model", "Q/a-2", "--bench", "humaneval"], ["recipe/b.py", "--tag", "x_Q_a-2"],
        ["evals/e.py", "--model", "z/b", "--bench", "humaneval"], ["recipe/b.py", "--tag", "x_z_b"]]


def test_extractor_strips_env_prefixes_and_launchers():
    assert _argvs(expand("CUDA_VISIBLE_DEVICES=0 HF_HOME=/x python recipe/a.py --m 1")) == [["recipe/a.py", "--m", "1"]]
    acc = "accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 recipe/t.py --out a"
    assert _argvs(expand(acc)) == [["recipe/t.py", "--out", "a"]]
    assert _argvs(expand("torchrun --nproc_per_node 2 recipe/t.py --out a")) == [["recipe/t.py", "--out", "a"]]
    assert _argvs(expand("$ python3 evals/e.py --x 1")) == [["evals/e.py", "--x", "1"]]
    assert _argvs(expand("M=Qwen/Qwen2.5-7B\npython evals/e.py --model $M")) == \
        [["evals/e.py", "--model", "Qwen/Qwen2.5-7B"]]


def test_extractor_cuts_chains_pipes_and_redirections():
    chain = ("cat a b > /tmp/14b.jsonl; python recipe/t.py --out a1 && python evals/p.py --adapter a1 "
             "2>&1 | tee log.txt; python -m venv .venv || pip install x")
    assert _argvs(expand(chain)) == [["recipe/t.py", "--out", "a1"], ["evals/p.py", "--adapter", "a1"]]
    cut = "python recipe/b.py --tag t --skip-eval && head -n 40 runs/b/t/pairs.jsonl > data/p.jsonl"
    assert _argvs(expand(cut)) == [["recipe/b.py", "--tag", "t", "--skip-eval"]]
    branches = "if [ -f x ]; then python recipe/a.py; else python recipe/b.py --n 2; fi"
    assert _argvs(expand(branches)) == [["recipe/a.py"], ["recipe/b.py", "--n", "2"]]
    assert _argvs(expand("python evals/e.py --x 1 >> out.log 2> err.log < in.txt &")) == [["evals/e.py", "--x", "1"]]
    assert _argvs(expand("python evals/e.py --stop '|' --sep \"a;b\" --y 'x > y'")) == \
        [["evals/e.py", "--stop", "|", "--sep", "a;b", "--y", "x > y"]]


def test_extractor_skips_templates_with_a_reason():
    for text, token in [("accelerate launch recipe/t.py --model ... --out ...", "..."),
                        ("python evals/eval_raw.py --model <each> --bench humaneval", "<each>"),
                        ("python recipe/b.py --tag boundary_<model>", "<model>"),
                        ("python evals/evaluate.py --samples FILE --out-dir DIR", "FILE")]:
        (c,) = expand(text)
        assert c.skip == f"template: `{token}` is a placeholder", text
    assert not template_reason("--model Qwen/Qwen2.5-7B --stop 'A B' --out adapter_n10")


def test_extractor_reads_blocks_and_spans_with_their_lines():
    doc = ("x | `python tts/t.py --n 8` then `python evals/e.py` | `pip install x`\n"
           "```bash\npython recipe/a.py \\\n--m 1\npython recipe/b.py\n```\n"
           "`head -n 3 a.jsonl` and `recipe/c.py` alone are not commands\n")
    assert snippets(doc) == [(1, "python tts/t.py --n 8"), (1, "python evals/e.py"),
                             (3, "python recipe/a.py \\\n--m 1\npython recipe/b.py")]
    assert [(c.line, c.argv) for c in commands_of(doc, "d")] == [
        (1, ("tts/t.py", "--n", "8")), (1, ("evals/e.py",)), (3, ("recipe/a.py", "--m", "1")), (5, ("recipe/b.py",))]
    (perf,) = commands_of("`python tests/perf/eval_bench.py`", "d")
    assert perf.skip.startswith("tests/perf/eval_bench.py is not a stage script")


def test_extractor_reports_what_bash_cannot_expand():
    (c,) = expand("for N in 1 2; do\npython recipe/a.py --n $N")  # no `done`
    assert c.error.startswith("bash could not expand")


def _count(cmds):
    return sum(1 for c in cmds if not c.skip and not c.error)


def test_extractor_finds_the_commands_of_reproduce_md():
    cmds = COMMANDS["REPRODUCE.md"]
    assert not [c.error for c in cmds if c.error]
    # 23 commands today (5 in §2, 8 in §3.2, 2 in §3.7, 2 in §3.8, 1 in §3.10, 3 x 2 in the sweep loop,
    # 2 building blocks; besides 5 templates and 2 benchmarks); rows added as scripts land only raise it.
    assert _count(cmds) >= 23
    argvs = _argvs(cmds)
    assert ["recipe/bootstrap.py", "--model", "Qwen/Qwen2.5-7B", "--tag", "pairs_7b", "--skip-eval"] in argvs
    for n in (10, 21, 40):
        assert ["recipe/train_on_pairs.py", "--model", "Qwen/Qwen2.5-7B", "--pairs", f"/tmp/pairs_{n}.jsonl",
                "--out", f"adapter_n{n}", "--epochs", "2"] in argvs


def test_extractor_finds_the_commands_of_the_guide():
    if not GUIDE.exists():
        pytest.skip(f"the seed guide is not beside the checkout ({GUIDE})")
    cmds = COMMANDS["guide"]
    assert not [c.error for c in cmds if c.error]
    # 54: 26 single commands, the 11-model boundary loop x 2 scripts, the 3-value pair-count loop x 2;
    # `--model <each>` (§3.2) is the one template.
    assert _count(cmds) >= 54
    argvs = _argvs(cmds)
    assert ["recipe/bootstrap.py", "--model", "allenai/OLMo-2-1124-7B",
            "--tag", "boundary_allenai_OLMo-2-1124-7B"] in argvs
    assert ["evals/eval_raw.py", "--model", "Qwen/Qwen3-14B-Base", "--bench", "humaneval"] in argvs
    assert ["experiments/recipe_x_tts_synergy.py", "--base-model", "Qwen/Qwen2.5-14B", "--adapter",
            "adapter_14b_multi", "--n", "8"] in argvs
    assert sum(1 for a in argvs if a[0] == "evals/eval_raw.py" and "adapter_n40" in a) == 1


# ---------------------------------------------------------------------------------------------------
# The commands, each with --dry-run


def test_built_by_names_only_missing_scripts():
    landed = sorted(s for s in BUILT_BY if (REPO / s).exists())
    assert not landed, f"these scripts exist now: remove them from BUILT_BY in {Path(__file__).name}: {landed}"


def _case(c: Command):
    if c.error:
        return pytest.param(c, id=c.id)
    if c.skip:
        return pytest.param(c, id=c.id, marks=pytest.mark.skip(reason=f"{c.id}: {c.skip}"))
    if not (REPO / c.script).exists() and c.script in BUILT_BY:
        return pytest.param(c, id=c.id, marks=pytest.mark.xfail(
            strict=True, reason=f"issue {BUILT_BY[c.script]} builds {c.script}"))
    return pytest.param(c, id=c.id)


def _cases():
    cases = [_case(c) for name in SOURCES for c in COMMANDS[name]]
    if not GUIDE.exists():
        cases.append(pytest.param(None, id="guide:absent", marks=pytest.mark.skip(
            reason=f"the seed guide is not beside the checkout ({GUIDE}): its commands are not checked")))
    return cases


def _dry_run_env() -> dict:
    # Only PATH of the caller's environment (no HOME, no tokens, no TINYFORGE_CACHE): a dry run needs none
    # of them, and the hub is off so a dry run that tried to reach it fails fast instead of hanging.
    # PYTHONPATH: this checkout's package, whatever checkout the venv's editable install points at (a
    # second worktree shares one venv).
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1", "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(REPO)}


def _top_level() -> set[str]:
    return {p.name for p in REPO.iterdir()} - {".pytest_cache", "__pycache__"}


@pytest.mark.parametrize("cmd", _cases())
def test_command_runs_with_dry_run(cmd: Command):
    if cmd.error:
        pytest.fail(cmd.error)
    assert (REPO / cmd.script).exists(), \
        f"{cmd.script} does not exist, and BUILT_BY names no open issue that builds it (a typo in the document?)"
    before = _top_level()
    argv = [sys.executable, *cmd.argv, "--dry-run"]
    try:
        r = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=DRY_RUN_TIMEOUT, env=_dry_run_env())
    except subprocess.TimeoutExpired:
        pytest.fail(f"--dry-run took over {DRY_RUN_TIMEOUT} s (a dry run loads nothing): python {' '.join(argv[1:])}")
    shown = f"$ python {' '.join(argv[1:])}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
    assert r.returncode == 0, f"exit {r.returncode}\n{shown}"
    plan = [ln for ln in r.stdout.splitlines() if ln.startswith("plan:")]
    assert plan, f"no line starting with 'plan:' in the output\n{shown}"
    # A dry run writes nothing: not its run dir (unless it was there already), nothing at the repo root.
    m = re.match(r"plan:\s*\S+\s*->\s*(\S+)", plan[0])
    if m and "(exists" not in plan[0]:
        assert not (REPO / m.group(1)).exists(), f"--dry-run created its run dir {m.group(1)}\n{shown}"
    assert _top_level() <= before, f"--dry-run created {sorted(_top_level() - before)} at the repo root\n{shown}"
