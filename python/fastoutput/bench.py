"""fastoutput against transformers and plain containers: ``python -m fastoutput.bench [--quick]``.

One process times both fastoutput implementations side by side: the C++ core (this package) and the
pure-Python twin (this package imported a second time, as ``fastoutput_twin``, with
``FASTOUTPUT_PURE_PYTHON=1``), transformers' classes when transformers is importable, and a tuple, a
namedtuple, a ``dataclass(slots=True)`` and a dict doing the same job.

Every statement runs on local names in a loop unrolled ``UNROLL`` times; rounds over all the cases are
interleaved, and a result is the median CPU time per operation (ns) net of the empty loop. The payload
is a torch tensor and a tuple of tensors when torch is importable, plain objects otherwise; pickling
uses small ints instead, or serialising the tensors would be all that is timed. Memory is what tracemalloc sees
allocated per instance while many instances are alive, the shared payload excluded: the object with its
GC header and field slots, the table of its dict part and its instance ``__dict__`` if it has one.

``benchmarks/`` times the same cases under pytest-benchmark; ``tools/bench_results.py`` rewrites
``benchmarks/RESULTS.md`` from both.
"""

from __future__ import annotations

import argparse
import collections
import copy
import dataclasses
import datetime
import functools
import gc
import importlib
import importlib.util
import json
import os
import pickle
import platform
import statistics
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import fastoutput

UNROLL = 10  # copies of the statement per loop iteration: the loop costs a tenth per operation
# CPU time of this thread: on a shared machine, the time others hold the CPU does not count.
CLOCK = time.thread_time_ns

CPP, PYTHON, HF = "fastoutput-cpp", "fastoutput-python", "transformers"
TUPLE, NAMEDTUPLE, SLOTS, DICT = "tuple", "namedtuple", "slots-dataclass", "dict"
IMPLS = (CPP, PYTHON, HF, TUPLE, NAMEDTUPLE, SLOTS, DICT)
OUTPUT = "output"  # the form shared by CPP, PYTHON and HF in OPERATIONS
MEMORY = "memory [bytes]"
FIELD_COUNTS = (1, 5, 20, 100)
FIELDS_SUBJECT = "declared fields (last one set)"

# The baselines, at module level so that pickle finds them.
CausalLMTuple = collections.namedtuple(
    "CausalLMTuple", "loss logits past_key_values hidden_states attentions", defaults=(None, None, None, None, None)
)
NoAttentionTuple = collections.namedtuple("NoAttentionTuple", "last_hidden_state hidden_states", defaults=(None, None))


@dataclasses.dataclass(slots=True)
class CausalLMSlots:
    loss: Any = None
    logits: Any = None
    past_key_values: Any = None
    hidden_states: Any = None
    attentions: Any = None


@dataclasses.dataclass(slots=True)
class NoAttentionSlots:
    last_hidden_state: Any = None
    hidden_states: Any = None


@dataclasses.dataclass(frozen=True)
class Subject:
    label: str
    class_name: str  # in fastoutput.modeling_outputs and transformers.modeling_outputs
    set_fields: tuple[int, int]  # positions of the two fields that hold values
    namedtuple: Any  # a namedtuple class
    slots: type  # a dataclass(slots=True)


SUBJECTS = (
    Subject("CausalLMOutputWithPast(logits, past_key_values)", "CausalLMOutputWithPast", (1, 2),
            CausalLMTuple, CausalLMSlots),
    Subject("BaseModelOutputWithNoAttention (2 fields)", "BaseModelOutputWithNoAttention", (0, 1),
            NoAttentionTuple, NoAttentionSlots),
)

# operation: (check, {kind: form}). A form is the statement timed, or a (statement, check) pair; a check
# is an expression that must be true after the statement ran, {stmt} standing for the statement. Names:
# C the class, out an instance holding a and b in fields {a} and {b} ({i}/{j}: their slice of the
# namedtuple), small an instance holding small ints (for pickle).
OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "construct": ("({stmt}) == out", {
        OUTPUT: "C({a}=a, {b}=b)", TUPLE: "(a, b)", NAMEDTUPLE: "C({a}=a, {b}=b)", SLOTS: "C({a}=a, {b}=b)",
        DICT: "{{'{a}': a, '{b}': b}}"}),
    "attribute": ("{stmt} is a", {OUTPUT: "out.{a}", NAMEDTUPLE: "out.{a}", SLOTS: "out.{a}"}),
    "out['name']": ("{stmt} is a", {OUTPUT: "out['{a}']", DICT: "out['{a}']"}),
    "out[0]": ("{stmt} is a", {OUTPUT: "out[0]", TUPLE: "out[0]", NAMEDTUPLE: "out[{i}]"}),
    "out[:2]": ("{stmt} == (a, b)", {OUTPUT: "out[:2]", TUPLE: "out[:2]", NAMEDTUPLE: "out[{i}:{j}]"}),
    "to_tuple()": ("{stmt} == (a, b)", {
        OUTPUT: "out.to_tuple()", TUPLE: "(a, b)", DICT: "tuple(out.values())"}),
    "keys()": ("[*{stmt}] == ['{a}', '{b}']", {OUTPUT: "out.keys()", DICT: "out.keys()"}),
    "iterate": ("[*out] == ['{a}', '{b}']", {
        OUTPUT: "for _k in out: pass", DICT: "for _k in out: pass",
        TUPLE: ("for _k in out: pass", "[*out] == [a, b]")}),
    "len()": ("{stmt} == 2", {OUTPUT: "len(out)", TUPLE: "len(out)", DICT: "len(out)"}),
    "dict(out)": ("{stmt} == {{'{a}': a, '{b}': b}}", {OUTPUT: "dict(out)", DICT: "dict(out)"}),
    "pickle round trip": ("{stmt} == small", dict.fromkeys(
        (OUTPUT, TUPLE, NAMEDTUPLE, SLOTS, DICT), "loads(dumps(small))")),
    "copy.copy": ("{stmt} == out", dict.fromkeys((OUTPUT, TUPLE, NAMEDTUPLE, SLOTS, DICT), "copy(out)")),
    "decode step": ("_o.{a} is a", {
        OUTPUT: ("_o = C({a}=a, {b}=b); _o.{a}; _o.to_tuple()[0]", "_o.{a} is _o.to_tuple()[0] is a"),
        TUPLE: ("_o = (a, b); _o[0]; _o[0]", "_o[0] is a"),
        NAMEDTUPLE: ("_o = C({a}=a, {b}=b); _o.{a}; _o[{i}]", "_o.{a} is _o[{i}] is a"),
        SLOTS: "_o = C({a}=a, {b}=b); _o.{a}; _o.{a}",
        DICT: ("_o = {{'{a}': a, '{b}': b}}; _o['{a}']; _o['{a}']", "_o['{a}'] is a")}),
}

# The baseline each operation's "cpp/base" column compares with.
BASELINE = {
    "construct": TUPLE, "attribute": SLOTS, "out['name']": DICT, "out[0]": NAMEDTUPLE, "out[:2]": TUPLE,
    "to_tuple()": TUPLE, "keys()": DICT, "iterate": DICT, "len()": DICT, "dict(out)": DICT,
    "pickle round trip": NAMEDTUPLE, "copy.copy": DICT, "decode step": TUPLE, MEMORY: DICT,
}

# The C++ core's goals: (operation, compared with, largest ratio).
TARGETS = (
    ("construct", TUPLE, 2.5), ("construct", HF, 1 / 60), ("attribute", SLOTS, 1.2), ("out['name']", DICT, 1.5),
    ("out[0]", NAMEDTUPLE, 1.2), ("to_tuple()", TUPLE, 1.5), ("decode step", TUPLE, 3.0),
    ("pickle round trip", NAMEDTUPLE, 1.0), ("copy.copy", DICT, 1.5), ("dict(out)", DICT, 2.0), (MEMORY, HF, 0.5),
)

Results = dict[tuple[str, str, str], float]  # (subject, operation, impl) -> ns per operation, or bytes


@dataclasses.dataclass(frozen=True)
class Case:
    subject: str
    operation: str
    impl: str
    stmt: str
    check: str
    env: dict[str, Any] = dataclasses.field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.subject.split('(')[0].strip()}:{self.operation}:{self.impl}"

    def verify(self) -> None:
        """Run the statement once and raise AssertionError unless it did what it should."""
        namespace = dict(self.env)
        exec(self.stmt, namespace)
        if not eval(self.check, namespace):
            raise AssertionError(f"{self.id}: `{self.check}` is false after `{self.stmt}`")

    def compile(self) -> Callable[[int], int]:
        """``run(n)``: executes the statement ``n * UNROLL`` times, returns the CPU time it took (ns)."""
        names = ", ".join(self.env)
        body = textwrap.indent("\n".join([self.stmt] * UNROLL), " " * 8)
        source = f"def run(_n, _clock, {names}):\n    _t0 = _clock()\n    for _ in range(_n):\n{body}\n"
        namespace: dict[str, Any] = {}
        exec(source + "    return _clock() - _t0\n", namespace)
        run, values = namespace["run"], tuple(self.env.values())
        return lambda n: run(n, CLOCK, *values)

    def factory(self) -> Callable[[], Any]:
        """A function returning a new instance (for a construct case)."""
        return eval(f"lambda: {self.stmt}", dict(self.env))  # type: ignore[no-any-return]


def load_twin() -> ModuleType:
    """fastoutput's pure-Python twin, imported a second time as ``fastoutput_twin``."""
    if "fastoutput_twin" in sys.modules:
        return sys.modules["fastoutput_twin"]
    package_dir = Path(fastoutput.__file__).parent
    spec = importlib.util.spec_from_file_location(
        "fastoutput_twin", package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    assert spec is not None and spec.loader is not None
    twin = importlib.util.module_from_spec(spec)
    saved_flag, saved_meta_path = os.environ.get("FASTOUTPUT_PURE_PYTHON"), list(sys.meta_path)
    os.environ["FASTOUTPUT_PURE_PYTHON"] = "1"
    sys.modules["fastoutput_twin"] = twin
    try:
        spec.loader.exec_module(twin)
        importlib.import_module("fastoutput_twin.modeling_outputs")
    except BaseException:
        del sys.modules["fastoutput_twin"]
        raise
    finally:
        if saved_flag is None:
            del os.environ["FASTOUTPUT_PURE_PYTHON"]
        else:
            os.environ["FASTOUTPUT_PURE_PYTHON"] = saved_flag
        # Two copies of fastoutput's torch import hook would call each other without end. torch is
        # imported before the twin (see payload), so the twin's hook has nothing left to do.
        sys.meta_path[:] = saved_meta_path
    return twin


@functools.cache
def payload() -> tuple[Any, Any]:
    """(a, b): a tensor and a tuple of tensors (like logits and a cache), or plain objects without torch."""
    try:
        import torch
    except ImportError:
        return object(), (object(), object())
    return torch.zeros(1), tuple(torch.zeros(1) for _ in range(4))


@functools.cache
def output_modules() -> dict[str, tuple[type, ModuleType]]:
    """impl -> (its ModelOutput, its modeling_outputs) for every implementation available here."""
    payload()  # torch first: see load_twin
    modules: dict[str, tuple[type, ModuleType]] = {}
    if fastoutput.IMPLEMENTATION == "cpp":
        modules[CPP] = (fastoutput.ModelOutput, importlib.import_module("fastoutput.modeling_outputs"))
        twin = load_twin()
        modules[PYTHON] = (twin.ModelOutput, sys.modules["fastoutput_twin.modeling_outputs"])
    else:
        modules[PYTHON] = (fastoutput.ModelOutput, importlib.import_module("fastoutput.modeling_outputs"))
    try:
        from transformers import modeling_outputs
        from transformers.utils.generic import ModelOutput
    except ImportError:
        return modules
    modules[HF] = (ModelOutput, modeling_outputs)
    return modules


def _subject_cases(subject: Subject, impl: str, cls: Any) -> list[Case]:
    """The cases of every operation ``impl`` has in OPERATIONS, on ``subject``."""
    kind = impl if impl in (TUPLE, NAMEDTUPLE, SLOTS, DICT) else OUTPUT
    names = subject.namedtuple._fields if cls is None or kind == NAMEDTUPLE else [
        field.name for field in dataclasses.fields(cls)]
    first, second = subject.set_fields
    fields = dict(a=names[first], b=names[second], i=first, j=first + 2)
    a, b = payload()
    env: dict[str, Any] = dict(C=cls, a=a, b=b, copy=copy.copy, dumps=pickle.dumps, loads=pickle.loads)
    construct = OPERATIONS["construct"][1][kind].format(**fields)
    env["out"] = eval(construct, dict(env))
    env["small"] = eval(construct, {**env, "a": 1, "b": (2, 3)})
    cases = []
    for operation, (check, forms) in OPERATIONS.items():
        form = forms.get(kind)
        if form is not None:
            stmt, check = form if isinstance(form, tuple) else (form, check)
            stmt = stmt.format(**fields)
            cases.append(Case(subject.label, operation, impl, stmt, check.format(stmt=stmt, **fields), env))
    return cases


@functools.cache
def operation_cases() -> tuple[Case, ...]:
    """Every operation on both subjects, for every implementation and baseline."""
    cases = []
    for subject in SUBJECTS:
        classes = {impl: getattr(module, subject.class_name) for impl, (_, module) in output_modules().items()}
        classes.update({TUPLE: None, NAMEDTUPLE: subject.namedtuple, SLOTS: subject.slots, DICT: None})
        for impl, cls in classes.items():
            cases += _subject_cases(subject, impl, cls)
    return tuple(cases)


def memory_cases() -> tuple[Case, ...]:
    """The construct cases, relabelled: ``Case.factory`` makes the instances to weigh."""
    return tuple(dataclasses.replace(c, operation=MEMORY) for c in operation_cases() if c.operation == "construct")


def with_fields(base: type, count: int) -> type:
    """A ModelOutput dataclass on ``base`` with ``count`` fields f0, f1, ... all defaulting to None."""
    names = [f"f{i}" for i in range(count)]
    namespace = {"__module__": __name__, "__annotations__": dict.fromkeys(names, "Any"), **dict.fromkeys(names)}
    return dataclasses.dataclass(type(base)(f"Fields{count}", (base,), namespace))


@functools.cache
def field_count_cases() -> tuple[Case, ...]:
    """Construction of classes with 1 to 100 declared fields, the last one set."""
    cases = []
    for count in FIELD_COUNTS:
        stmt = f"C(f{count - 1}=a)"
        for impl, (base, _) in output_modules().items():
            env = dict(C=with_fields(base, count), a=payload()[0])
            env["out"] = eval(stmt, dict(env))
            cases.append(Case(FIELDS_SUBJECT, f"construct, {count} fields", impl, stmt, f"{stmt} == out", env))
    return tuple(cases)


def bytes_per_instance(make: Callable[[], Any], count: int) -> float:
    """Bytes allocated per instance while ``count`` instances are alive (tracemalloc)."""
    # Empty the free lists (CPython keeps up to 2000 tuples of each size): every allocation is traced.
    warm = [make() for _ in range(max(count, 4_000))]
    alive: list[Any] = [None] * count
    gc_enabled = gc.isenabled()
    gc.disable()  # a collection would free unrelated garbage while we count
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(count):
            alive[index] = make()
        return (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
        if gc_enabled:
            gc.enable()
        del warm


def _loops(run: Callable[[int], int], seconds: float) -> int:
    """How many loop iterations ``run`` needs to take about ``seconds``."""
    loops = 1
    while (elapsed := run(loops)) < seconds * 1e8:  # a tenth of the time
        loops *= 4
    return max(1, round(loops * seconds * 1e9 / elapsed))


def measure(cases: Iterable[Case], seconds: float, rounds: int) -> Results:
    """Median ns per operation of every case, net of the empty loop; about ``seconds`` in all."""
    cases = list(cases)
    empty = Case("", "", "", "pass", "True", {})
    runs = [case.compile() for case in [*cases, empty]]
    each = seconds / rounds / len(runs)
    loops = [_loops(run, each) for run in runs]
    samples: list[list[float]] = [[] for _ in runs]
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):  # interleaved: a slow spell of the machine hits every case alike
            for run, count, sample in zip(runs, loops, samples):
                sample.append(run(count) / (count * UNROLL))
    finally:
        if gc_enabled:
            gc.enable()
    overhead = statistics.median(samples[-1])
    return {(c.subject, c.operation, c.impl): statistics.median(s) - overhead for c, s in zip(cases, samples)}


def run_all(quick: bool = False, only: str = "") -> Results:
    """Time and weigh every case whose operation contains ``only``: ~5 s with ``quick``, ~30 s without."""
    selected = [c for c in (*operation_cases(), *field_count_cases()) if only in c.operation]
    for case in selected:
        case.verify()
    results = measure(selected, seconds=2 if quick else 20, rounds=9 if quick else 25) if selected else {}
    for case in memory_cases():
        if only in case.operation:
            case.verify()
            size = bytes_per_instance(case.factory(), 1_000 if quick else 5_000)
            results[(case.subject, case.operation, case.impl)] = size
    return results


def machine_info() -> list[str]:
    """Lines describing this machine and the versions measured."""
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        models = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")]
        cpu = models[0] if models else cpu
    implementations = ", ".join(impl for impl in output_modules() if impl != HF)
    versions = [f"fastoutput {fastoutput.__version__} ({implementations})"]
    for name in ("torch", "transformers"):
        module = sys.modules.get(name)
        versions.append(f"{name} {module.__version__}" if module is not None else f"{name} not installed")
    return [
        f"machine: {cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        f"python: {platform.python_implementation()} {platform.python_version()}; {'; '.join(versions)}",
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
    ]


LABELS = {CPP: "cpp", PYTHON: "python", HF: "transformers", TUPLE: "tuple", NAMEDTUPLE: "namedtuple",
          SLOTS: "slots dc", DICT: "dict"}


def ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None or base <= 0:
        return "-"
    share = value / base
    return f"1/{1 / share:.0f}" if 0 < share < 0.1 else f"{share:.2f}x"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}" if abs(value) < 10 else f"{value:,.0f}"


def _table(title: str, header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in [header, ["---"] * len(header), *rows]]
        return "\n".join([f"**{title}**", "", *lines, ""])
    widths = [max(len(row[k]) for row in [header, *rows]) for k in range(len(header))]
    lines = ["  ".join([row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:]))])
             for row in [header, *rows]]
    return "\n".join([title, *lines, ""])


def render(results: Results, markdown: bool = False) -> str:
    """The comparison tables: ns per operation (bytes for memory), ratios, targets, field counts."""
    get = results.get
    impls = [impl for impl in IMPLS if any(key[2] == impl for key in results)]
    subjects = [s.label for s in SUBJECTS if any(key[0] == s.label for key in results)]
    out = []
    for subject in subjects:
        rows = []
        for operation in [*OPERATIONS, MEMORY]:
            values = {impl: get((subject, operation, impl)) for impl in impls}
            if any(v is not None for v in values.values()):
                cpp, python, hf, base = values.get(CPP), values.get(PYTHON), values.get(HF), BASELINE[operation]
                rows.append([operation, *map(_number, values.values()), ratio(cpp, hf), ratio(python, hf),
                             ratio(cpp, values.get(base)), LABELS[base]])
        header = ["operation", *(LABELS[i] for i in impls), "cpp/hf", "python/hf", "cpp/base", "base"]
        out.append(_table(f"{subject}: ns per operation", header, rows, markdown))

    if CPP in impls and subjects:
        rows = []
        for operation, base, limit in TARGETS:
            if all(get((subject, operation, CPP)) is None for subject in subjects):
                continue
            row = [f"{operation}: cpp <= {ratio(limit, 1)} {LABELS[base]}"]
            for subject in subjects:
                value, reference = get((subject, operation, CPP)), get((subject, operation, base))
                met = value is not None and reference is not None and value <= limit * reference
                row += [ratio(value, reference), "-" if reference is None else "met" if met else "MISSED"]
            rows.append(row)
        header = ["target"] + [part for s in subjects for part in (s.split("(")[0].strip(), "")]
        out.append(_table("Targets of the C++ core", header, rows, markdown))

    counts = {impl: [get((FIELDS_SUBJECT, f"construct, {n} fields", impl)) for n in FIELD_COUNTS]
              for impl in (CPP, PYTHON, HF)}
    slopes = {impl: statistics.linear_regression(FIELD_COUNTS, values).slope  # type: ignore[arg-type]
              for impl, values in counts.items() if None not in values}
    rows = [[LABELS[impl], *map(_number, counts[impl]), _number(slope), ratio(slope, slopes.get(HF))]
            for impl, slope in slopes.items()]
    if rows:
        header = ["impl", *map(str, FIELD_COUNTS), "ns/field", "vs transformers"]
        out.append(_table(f"Construction, ns, by number of {FIELDS_SUBJECT}", header, rows, markdown))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fastoutput.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~5 s run (default: ~30 s)")
    parser.add_argument("--only", default="", metavar="TEXT", help="only the operations whose name contains TEXT")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    args = parser.parse_args(argv)
    results = run_all(args.quick, args.only)
    if args.json:
        print(json.dumps({"info": machine_info(), "results": [[*key, value] for key, value in results.items()]}))
        return
    print("\n".join(machine_info()))
    print(f"ns per operation: median CPU time net of the loop, {'quick' if args.quick else 'full'} run\n")
    print(render(results))


if __name__ == "__main__":
    main()
