#!/usr/bin/env bash
# The whole test suite, from a machine with nothing but Python:
#   for transformers 4.57.6 and for the newest 5.x, a virtualenv with the test dependencies
#   (torch==2.13.0 CPU, transformers, hypothesis, ...), TensorFlow, JAX and flax (the `frameworks`
#   extra) and fastoutput built from this checkout;
#   in each, the suite runs against the C++ core and against the pure-Python twin, and the
#   benchmarks run once as a smoke test (--benchmark-disable). Then the suite runs once more against
#   a build of the C++ core with AddressSanitizer + UndefinedBehaviorSanitizer.
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
    "$venv/bin/python" -m pip install --quiet ".[test,frameworks]" "$requirement"
    for impl in cpp python; do
        pure=0
        if [ "$impl" = python ]; then pure=1; fi
        echo "=== transformers ($name) / $impl implementation"
        run env FASTOUTPUT_PURE_PYTHON=$pure "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
    done
    echo "=== benchmarks smoke run ($name)"
    run "$venv/bin/python" -m pytest -p no:cacheprovider benchmarks --benchmark-disable -q
done

# The C++ core built with AddressSanitizer + UndefinedBehaviorSanitizer runs the whole suite again.
# Python's own allocator is switched off so that ASan sees every object allocation, and the ASan
# runtime is preloaded because the interpreter itself is not instrumented, and libstdc++ with it so
# that ASan can intercept C++ throws (torch's errors are C++ exceptions). Leak detection is off:
# CPython does not free everything at exit; tools/leak_check.py and valgrind cover leaks instead.
# pytest neither installs faulthandler (ASan reports the crash itself) nor captures file descriptor 2
# (where the report goes, just before the process aborts). RelWithDebInfo keeps the symbols that
# name the C++ function and line in a report.
echo "=== sanitizer build (ASan + UBSan), transformers 4.57.6 / cpp implementation"
venv="$VENV_DIR/asan"
preload=""
for library in libasan.so libstdc++.so; do
    found="$(${CXX:-c++} -print-file-name=$library)"
    if [ ! -f "$found" ]; then
        echo "$library not found (${CXX:-c++} -print-file-name=$library gave '$found')"
        exit 1
    fi
    preload="$preload $found"
done
if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet ".[test,frameworks]" "transformers==4.57.6" \
    -Ccmake.define.FASTOUTPUT_SANITIZE=ON -Ccmake.define.FASTOUTPUT_WERROR=ON -Ccmake.build-type=RelWithDebInfo
run env LD_PRELOAD="${preload# }" PYTHONMALLOC=malloc FASTOUTPUT_PURE_PYTHON=0 FASTOUTPUT_EXPECT_SANITIZERS=address,undefined \
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$venv/bin/python" -m pytest -p no:cacheprovider -p no:faulthandler --capture=sys "$@"
exit $status
