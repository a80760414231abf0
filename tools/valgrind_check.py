"""Run a Python program under valgrind memcheck and report what it blames on fastoutput.

    python tools/valgrind_check.py                       # the default run: tools/leak_check.py, 200 runs per operation
    python tools/valgrind_check.py -- -c "import fastoutput"   # any arguments for the interpreter

The interpreter runs with ``PYTHONMALLOC=malloc`` (so that valgrind sees every object allocation) under
``valgrind --tool=memcheck --leak-check=full`` with XML output. Every error record is then sorted by
whether a frame of its stack lies in fastoutput's extension module: definitely-lost blocks and memory
errors (invalid reads and writes, uses of uninitialised values, bad frees) from there are failures
(``blames_fastoutput`` says how a stack is read);
those of the interpreter, torch and numpy are counted and left alone (CPython keeps much of its
start-up state alive until exit, and the third-party libraries have their own known reports).

Prints one summary line per kind and exits 1 if any record involves fastoutput. A run of the
default program takes several minutes: valgrind slows Python down about thirty times.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

DEFAULT_PROGRAM = [str(Path(__file__).with_name("leak_check.py")), "--iterations", "200"]
OUR_OBJECT = f"fastoutput{os.sep}_core"
TRACEMALLOC_FUNCTIONS = ("tracemalloc_", "_PyTraceMalloc_", "traceback_new")


def run_valgrind(program: list[str], xml_file: str) -> int:
    command = [
        "valgrind",
        "--tool=memcheck",
        "--leak-check=full",
        "--show-leak-kinds=definite",
        "--num-callers=40",
        "--xml=yes",
        f"--xml-file={xml_file}",
        sys.executable,
        *program,
    ]
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, env=dict(os.environ, PYTHONMALLOC="malloc"), check=False).returncode


def blames_fastoutput(frames: list[ET.Element]) -> bool:
    """True if the innermost frames reach fastoutput's module before anything else takes the blame.

    ``tracemalloc`` keeps a trace record for every allocation it watches, allocated in its own
    functions; valgrind reports the records of allocations still alive at exit as lost, and their
    stacks run through whatever made the traced allocation (fastoutput, often). Those are tracemalloc's.
    """
    for frame in frames:  # innermost first
        if OUR_OBJECT in frame.findtext("obj", ""):
            return True
        if frame.findtext("fn", "").startswith(TRACEMALLOC_FUNCTIONS):
            return False
    return False


def classify(xml_file: str) -> tuple[collections.Counter[str], list[str]]:
    """Counts of error kinds (leaks weighted by bytes) and a description of each record in fastoutput."""
    totals: collections.Counter[str] = collections.Counter()
    ours: list[str] = []
    for error in ET.parse(xml_file).getroot().iter("error"):
        kind = error.findtext("kind", "")
        leaked = error.findtext("xwhat/leakedbytes")
        totals[kind] += int(leaked) if leaked is not None else 1
        frames = error.findall("stack/frame")
        if blames_fastoutput(frames):
            where = [frame.findtext("fn", "?") for frame in frames[:8]]
            what = error.findtext("xwhat/text") or error.findtext("what", "")
            ours.append(f"{kind}: {what}\n    " + "\n    ".join(where))
    return totals, ours


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("program", nargs="*", help="interpreter arguments (default: tools/leak_check.py --iterations 200)")
    parser.add_argument("--xml", help="keep valgrind's XML report in this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        xml_file = args.xml or os.path.join(directory, "memcheck.xml")
        returncode = run_valgrind(args.program or DEFAULT_PROGRAM, xml_file)
        totals, ours = classify(xml_file)
    print(f"program exit status: {returncode}")
    for kind, count in sorted(totals.items()):
        unit = "bytes" if kind.startswith("Leak_") else "records"
        print(f"{kind}: {count} {unit} in all")
    print(f"records with a fastoutput frame: {len(ours)}")
    for record in ours:
        print(record)
    return 1 if ours or returncode != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
