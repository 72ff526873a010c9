#!/usr/bin/env bash
# Phase: lint (ruff, configured in pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check .
