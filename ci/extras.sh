#!/usr/bin/env bash
# Phase: what CI adds to the README's environment: torch and JAX on the CPU (their tests skip
# without them), and the linter.
set -euo pipefail

# torch 2.13.0 is the CPU wheel found on local disk; any other pin would resolve to a
# multi-GB CUDA build from PyPI
python -m pip install -q torch==2.13.0
# pinned: a new JAX or ruff release should not change CI's verdict on unchanged code
python -m pip install -q "jax[cpu]==0.10.2" "ruff==0.17.6"
python -c "import jax, torch; print(f'ci: torch {torch.__version__}, jax {jax.__version__}')"
ruff --version
