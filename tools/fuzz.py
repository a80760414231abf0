"""Long differential fuzzing run: the C++ core against the pure-Python twin (``tests/fuzz_target.py``).

Usage (from the repository root, in an environment with fastoutput built, torch and transformers)::

    python tools/fuzz.py --seconds 600                 # the 10-minute run
    python tools/fuzz.py --replay FILE                 # run one saved input again, print its program
    python tools/fuzz.py --replay FILE --minimize      # shrink a failing input (writes FILE.min)

The engine is atheris (coverage-guided, libFuzzer) when it can be imported, otherwise a seeded random
loop (``--engine random``; ``--seed`` picks the seed). atheris is a development tool, not a test
dependency: ``pip install atheris`` (or ``pip install --target DIR atheris`` and ``PYTHONPATH=DIR``).
Its coverage feedback comes from the Python code: the twin and ``fastoutput``'s Python layer, the
decoder and the operation helpers of the target (not its normalisation, which is most of the run
time). The compiled core is not instrumented; it is explored through the twin's branches.

The run stops at the first difference: the failing input is saved to ``--out`` (default
``build/fuzz-failures/``, which git ignores) as ``diff-<sha1>.bin``, its program and the difference
are printed, and the exit status is 1 (a crash, a timeout or a memory blow-up: libFuzzer's own
report, its ``crash-``/``timeout-``/``oom-`` file in ``--out``, a non-zero status). A clean run prints
the number of executions and exits 0. Arguments that ``tools/fuzz.py`` does not know are passed to
libFuzzer (``-jobs=4``, ``-dict=...``); ``--corpus DIR`` keeps the inputs that found new coverage
between runs. Which implementation ``import fastoutput`` gives does not matter: ``tests/twin.py``
loads the other one beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FunctionType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MAX_LEN = 384


def _save(data: bytes, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"diff-{hashlib.sha1(data).hexdigest()}.bin"
    path.write_bytes(data)
    return path


def _report_failure(data: bytes, error: AssertionError, out: Path, executions: int) -> None:
    path = _save(data, out)
    print(f"\nDIFFERENCE after {executions} executions; input saved to {path}", flush=True)
    print(str(error), flush=True)
    print(f"replay with: python tools/fuzz.py --replay {path}", flush=True)


def _load_target(instrument: Callable[[], Any] | None) -> Any:
    # Heavy third-party modules first, so that only our code is instrumented.
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import transformers.utils  # noqa: F401

    if instrument is None:
        from tests import fuzz_target
    else:
        with instrument():
            from tests import fuzz_target
    return fuzz_target


def fuzz_random(seconds: float, seed: int, out: Path) -> int:
    target = _load_target(None)
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    executions = 0
    next_report = time.monotonic() + 30
    while time.monotonic() < deadline:
        data = rng.randbytes(rng.choice((8, 32, 64, 128, 256, MAX_LEN)))
        data = data[: rng.randrange(len(data) + 1)]
        try:
            target.run(data)
        except AssertionError as error:
            _report_failure(data, error, out, executions + 1)
            return 1
        executions += 1
        if time.monotonic() >= next_report:
            print(f"  {executions} executions", flush=True)
            next_report += 30
    print(f"executions: {executions}; differences: 0 (random engine, seed {seed}, {seconds:.0f} s)")
    return 0


# Functions of the target that only describe and compare: not instrumented (they are most of the run
# time, and their branches say little that the instrumented ones do not).
_NOT_INSTRUMENTED = frozenset(
    {"norm", "outcome", "observe", "state", "canonical", "error_form", "compare_traces", "execute", "run"}
)


def _instrument_target(atheris: Any, target: Any) -> None:
    """Coverage of the decoder (which program shapes were made) and of the operation helpers."""
    for owner in (target, target.Decoder, target.Env):
        for name, value in list(vars(owner).items()):
            if (
                isinstance(value, FunctionType)
                and value.__module__ == target.__name__
                and name not in _NOT_INSTRUMENTED
                and not name.startswith("render")
            ):
                setattr(owner, name, atheris.instrument_func(value))


def fuzz_atheris(seconds: float, out: Path, corpus: Path | None, extra: list[str]) -> int:
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    target = _load_target(
        lambda: atheris.instrument_imports(include=["fastoutput", "fastoutput_twin", "fastoutput_core"])
    )
    _instrument_target(atheris, target)
    start = time.monotonic()
    deadline = start + seconds
    executions = 0
    next_report = start + 30

    def test_one_input(data: bytes) -> None:
        nonlocal executions, next_report
        now = time.monotonic()
        if now >= deadline:
            print(f"executions: {executions}; differences: 0 (atheris, {now - start:.0f} s)", flush=True)
            os._exit(0)  # libFuzzer's own exit skips Python's; the count is printed above
        if now >= next_report:
            print(f"  {executions} executions", flush=True)
            next_report += 30
        try:
            target.run(data)
        except AssertionError as error:
            _report_failure(data, error, out, executions + 1)
            os._exit(1)
        executions += 1

    out.mkdir(parents=True, exist_ok=True)
    # Defaults first, so that libFuzzer flags given on the command line win. Programs are bounded
    # (MAX_OPS), so inputs may be long from the start (len_control=0); a timeout or memory blow-up
    # is written to --out as well.
    argv = [
        sys.argv[0],
        f"-max_len={MAX_LEN}",
        "-len_control=0",
        "-timeout=60",
        "-rss_limit_mb=4096",
        f"-artifact_prefix={out}/",
        "-print_final_stats=1",
        *extra,
    ]
    if corpus is not None:
        corpus.mkdir(parents=True, exist_ok=True)
        argv.append(str(corpus))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
    return 0


def _fails(target: Any, data: bytes) -> str | None:
    try:
        target.run(data)
    except AssertionError as error:
        return str(error)
    return None


def minimize(target: Any, data: bytes) -> bytes:
    """Shrink a failing input: drop chunks of bytes, then lower single bytes, while it still fails."""
    assert _fails(target, data) is not None
    chunk = max(1, len(data) // 2)
    while chunk >= 1:
        i = 0
        while i < len(data):
            candidate = data[:i] + data[i + chunk :]
            if _fails(target, candidate) is not None:
                data = candidate
            else:
                i += chunk
        chunk //= 2
    for i in range(len(data)):
        for smaller in (0, data[i] // 2, data[i] - 1):
            if 0 <= smaller < data[i]:
                candidate = data[:i] + bytes([smaller]) + data[i + 1 :]
                if _fails(target, candidate) is not None:
                    data = candidate
                    break
    return data


def replay(path: Path, shrink: bool) -> int:
    target = _load_target(None)
    data = path.read_bytes()
    if shrink and _fails(target, data) is not None:
        data = minimize(target, data)
        smaller = path.with_name(path.name + ".min")
        smaller.write_bytes(data)
        print(f"minimized to {len(data)} bytes: {smaller}")
    print(f"program ({len(data)} bytes):\n{target.describe(data)}\n")
    failure = _fails(target, data)
    if failure is None:
        print("no difference")
        return 0
    print(failure)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the run (default 600)")
    parser.add_argument("--engine", choices=("auto", "atheris", "random"), default="auto")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random engine")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build" / "fuzz-failures", help="where failing inputs go"
    )
    parser.add_argument("--corpus", type=Path, default=None, help="atheris corpus folder (kept between runs)")
    parser.add_argument("--replay", type=Path, default=None, help="run one saved input and print it")
    parser.add_argument("--minimize", action="store_true", help="with --replay: shrink the failing input")
    args, extra = parser.parse_known_args(argv)
    if args.replay is not None:
        return replay(args.replay, args.minimize)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: F401
        except ImportError:
            engine = "random"
        else:
            engine = "atheris"
    print(f"fuzzing for {args.seconds:.0f} s with the {engine} engine", flush=True)
    if engine == "atheris":
        return fuzz_atheris(args.seconds, args.out, args.corpus, extra)
    return fuzz_random(args.seconds, args.seed, args.out)


if __name__ == "__main__":
    sys.exit(main())
