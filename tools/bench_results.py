"""Rewrites benchmarks/RESULTS.md from fresh measurements.

    <python with transformers 4.57>  tools/bench_results.py  [--hf5 <python with transformers 5>]

With the interpreter that runs it (fastoutput, torch and transformers 4.57 installed), it runs
``python -m fastoutput.bench`` (~30 s) and the pytest-benchmark suite in ``benchmarks/`` (a few
minutes); with the ``--hf5`` interpreter (default: .venvs/hf5/bin/python, as tools/test.sh makes it,
when it exists) it times construction under transformers 5. With each interpreter it runs ``python -m
fastoutput.bench_models`` (the drop-in on a tiny GPT-2, ~75 s); with the transformers 4.57 one only
(transformers 5 has no TensorFlow or Flax classes to compare with), ``python -m
fastoutput.bench_frameworks`` (the TensorFlow and Flax families, ~70 s); ``tools/measure_compile_gap.py``
(~15 s) runs patched with each interpreter and unpatched with the 4.57 one. Then it writes
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from fastoutput import bench

ROOT = Path(__file__).resolve().parent.parent
CAUSAL_LM = bench.SUBJECTS[0].label
# CPU time, and rounds long enough for that clock's resolution not to matter. The drop-in and framework
# cases are left out: their figures come from the interleaved runs of their modules above.
PYTEST_BENCHMARKS = ["pytest", "benchmarks", "--ignore=benchmarks/test_bench_models.py",
                     "--ignore=benchmarks/test_bench_frameworks.py", "--benchmark-timer=time.thread_time",
                     "--benchmark-min-time=0.0005", "--benchmark-max-time=0.5"]


def stdout_of(*command: str) -> str:
    """What ``command`` prints, run from the checkout; an error if it fails."""
    return subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout.strip()


def run_bench(python: str, *args: str) -> tuple[list[str], bench.Results]:
    """(info lines, results) of ``python -m fastoutput.bench --json``."""
    data = json.loads(stdout_of(python, "-m", "fastoutput.bench", "--json", *args))
    return data["info"], {(subject, operation, impl): value for subject, operation, impl, value in data["results"]}


def run_pytest_benchmarks() -> bench.Results:
    """Medians of the pytest-benchmark suite, in ns per operation (bytes for memory)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "benchmarks.json")
        command = [sys.executable, "-m", *PYTEST_BENCHMARKS, "-p", "no:cacheprovider", "-q",
                   f"--benchmark-json={report}"]
        subprocess.run(command, check=True, cwd=ROOT)
        benchmarks = json.loads(report.read_text())["benchmarks"]
    results = {}
    for benchmark in benchmarks:
        info = benchmark["extra_info"]
        value = info["bytes"] if "bytes" in info else benchmark["stats"]["median"] * 1e9 / info["operations"]
        results[(info["subject"], info["operation"], info["impl"])] = value
    return results


def command_output(*command: str) -> str:
    try:
        return subprocess.run(command, check=False, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def hf5_line(python: str) -> str:
    info, results = run_bench(python, "--only", "construct")
    version = re.search(r"transformers (\S+)", info[1])
    hf, cpp = results.get((CAUSAL_LM, "construct", bench.HF)), results.get((CAUSAL_LM, "construct", bench.CPP))
    if version is None or hf is None or cpp is None:
        return f"transformers 5 not measured ({python}: {info[1]})"
    slopes = [f"{bench.LABELS[impl]} {_slope(results, impl):,.1f}" for impl in (bench.CPP, bench.HF)]
    return (f"transformers {version.group(1)}: constructing CausalLMOutputWithPast(logits=t, cache=pkv) takes "
            f"{hf:,.0f} ns against {cpp:,.0f} ns for fastoutput's C++ core in the same run "
            f"(cpp/hf {bench.ratio(cpp, hf)}); ns per declared field: {', '.join(slopes)}.")


def cuda_line() -> str:
    try:
        import torch
    except ImportError:
        return "CUDA: torch not installed; no GPU checks in this run."
    if not torch.cuda.is_available():
        return "CUDA: no GPU on this machine; the CUDA checks (tensors held without copy, torch.compile with CUDA graphs) did not run here."
    return f"CUDA: {torch.cuda.get_device_name(0)}"


def _slope(results: bench.Results, impl: str) -> float:
    values = [results[(bench.FIELDS_SUBJECT, f"construct, {n} fields", impl)] for n in bench.FIELD_COUNTS]
    return statistics.linear_regression(bench.FIELD_COUNTS, values).slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_hf5 = ROOT / ".venvs/hf5/bin/python"
    parser.add_argument("--hf5", default=str(default_hf5) if default_hf5.exists() else None,
                        help="a python with fastoutput and transformers 5 installed")
    args = parser.parse_args()

    info, results = run_bench(sys.executable)
    hf5 = hf5_line(args.hf5) if args.hf5 else "transformers 5 not measured: no --hf5 interpreter given."
    pythons = [sys.executable, *([args.hf5] if args.hf5 else [])]
    drop_in = [stdout_of(python, "-m", "fastoutput.bench_models") for python in pythons]
    compile_gap = str(ROOT / "tools" / "measure_compile_gap.py")
    gaps = [stdout_of(sys.executable, compile_gap, "--unpatched")] + [stdout_of(python, compile_gap) for python in pythons]
    frameworks = stdout_of(sys.executable, "-m", "fastoutput.bench_frameworks")
    pytest_results = run_pytest_benchmarks()
    lscpu = dict(line.split(":", 1) for line in command_output("lscpu").splitlines() if ":" in line)
    commit = command_output("git", "rev-parse", "--short", "HEAD")
    dirty = " with uncommitted changes" if command_output("git", "status", "--porcelain") else ""
    invocation = f"{sys.executable} tools/bench_results.py" + (f" --hf5 {args.hf5}" if args.hf5 else "")
    cuda = cuda_line()
    text = f"""# Benchmark results

Generated by `tools/bench_results.py`; do not edit by hand. Refresh with

    {invocation}

## Machine

- CPU (lscpu): {lscpu.get("Model name", "?").strip()}, {lscpu.get("CPU(s)", "?").strip()} CPUs
{chr(10).join(f"- {line}" for line in info)}
- fastoutput checkout: {commit or "?"}{dirty}
- {cuda}

## How to read

- **ns per operation**: CPU time of the benchmark thread (`time.thread_time`, so that other processes on
  this shared 2-core machine do not count), median over interleaved rounds, net of the empty loop. Every
  column comes from one process and one run: compare ratios within a table, not across runs.
- **cpp/hf**, **python/hf**: fastoutput's C++ core and pure-Python twin against transformers' class;
  **cpp/base**: the C++ core against the baseline in the **base** column; `1/49` means 49 times faster.
- **construct** builds the output with the two fields set; the tuple baseline is the literal `(t, pkv)`.
  **decode step** is construct + `.logits` + `.to_tuple()[0]` (the tuple does `(t, pkv)`, `[0]`, `[0]`).
- **pickle round trip** is `pickle.loads(pickle.dumps(out))` with small ints in the fields: with tensors,
  tensor serialisation would be nearly all of the time and hide the container.
- **memory [bytes]**: bytes tracemalloc sees allocated per instance while thousands are alive, payload
  excluded (it is shared): object with GC header and native field slots, the table of the dict part, the
  instance `__dict__` (transformers fills one; fastoutput keeps fields in slots).
- The field-count table sets only the last declared field; ns/field is the least-squares slope.

## `python -m fastoutput.bench`

{bench.render(results, markdown=True)}
## transformers 5

{hf5}

## Drop-in on a whole model: `python -m fastoutput.bench_models`

`fastoutput.patch_transformers()` against unpatched transformers on a tiny GPT-2, for each transformers
line (the module docstring of `python/fastoutput/bench_models.py` says how it is measured).

{(chr(10) * 2).join(drop_in)}

### Where the compiled step's `return_dict=True` cost goes: `tools/measure_compile_gap.py`

The compiled decode step taken apart, each `return_dict` value compiled once: the call as a user makes
it; the same with `torch.compiler.set_stance(skip_guard_eval_unsafe=True)`; the guard check of the
step's Dynamo cache entry alone; and the entry's transformed code called as a plain function (no
guards, no frame evaluation), split into the graph call and the bytecode around it, which rebuilds the
returned output from the graph's tensors (the tool's docstring says how).

{(chr(10) * 2).join(gaps)}

## TensorFlow and Flax families: `python -m fastoutput.bench_frameworks`

`TFBaseModelOutput` on `tf.Tensor`s and `FlaxBaseModelOutput` on JAX arrays, eager, and a function returning
a `FlaxBaseModelOutput` under `jax.jit` (a new function traced, compiled and run; traced only; the jitted
call), against transformers 4.57's classes (transformers 5 has none); the module docstring of
`python/fastoutput/bench_frameworks.py` says how it is measured.

{frameworks}

## pytest-benchmark suite

Medians from pytest-benchmark (its own rounds, not interleaved; loop overhead included), same interpreter:

    {" ".join(PYTEST_BENCHMARKS)}

{bench.render(pytest_results, markdown=True)}"""
    (ROOT / "benchmarks" / "RESULTS.md").write_text(text)
    print(f"wrote {ROOT / 'benchmarks' / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
