#!/usr/bin/env bash
# The whole test suite, from a machine with nothing but Python:
#   for transformers 4.57.6 and for the newest 5.x, a virtualenv with the test dependencies
#   (torch==2.13.0 CPU, transformers, hypothesis, ...) and fastoutput built from this checkout;
#   in each, the suite runs against the C++ core and against the pure-Python twin, and the
#   benchmarks run once as a smoke test (--benchmark-disable).
# Environment: PYTHON (default python3) picks the interpreter; VENV_DIR (default .venvs) where the
# virtualenvs go. Extra arguments are passed to every pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV_DIR="${VENV_DIR:-.venvs}"
status=0

run() {
    echo "+ $*"
    "$@" || status=1
}

for line in "hf4=transformers==4.57.6" "hf5=transformers>=5,<6"; do
    name="${line%%=*}"
    requirement="${line#*=}"
    venv="$VENV_DIR/$name"
    if [ ! -x "$venv/bin/python" ]; then
        "$PYTHON" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet ".[test]" "$requirement"
    for impl in cpp python; do
        pure=0
        if [ "$impl" = python ]; then pure=1; fi
        echo "=== transformers ($name) / $impl implementation"
        run env FASTOUTPUT_PURE_PYTHON=$pure "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
    done
    echo "=== benchmarks smoke run ($name)"
    run "$venv/bin/python" -m pytest -p no:cacheprovider benchmarks --benchmark-disable -q
done
exit $status
