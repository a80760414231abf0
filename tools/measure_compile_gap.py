"""Where the compiled decode step's ``return_dict=True`` cost goes (issue 4's compiled target).

Run: python tools/measure_compile_gap.py [--unpatched] [--backend inductor] (needs torch, transformers
and fastoutput installed). On the tiny GPT-2 of ``fastoutput.bench_models``, compiled once per
``return_dict`` value, it times side by side, in interleaved rounds of thread CPU time:

- the compiled call, as a user makes it;
- the same with ``torch.compiler.set_stance(skip_guard_eval_unsafe=True)``, which leaves out most guards;
- each Dynamo cache entry's guard check on that call's arguments;
- each entry's transformed code called as a plain function (no guards, no frame evaluation), and
  within it the graph call; the rest is the bytecode around the graph, which rebuilds the returned
  object from the graph outputs.

It prints a markdown table: True, False, their difference and their ratio, in µs per call;
``tools/bench_results.py`` puts it in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import statistics
import types
from collections.abc import Callable
from typing import Any

import fastoutput
from fastoutput import bench, bench_models

ROUNDS, CALLS = 15, 100


def compiled_entries(forward: Any, arguments: dict[bool, dict[str, Any]]) -> dict[bool, Any]:
    """The Dynamo cache entry of each return_dict value, told apart by their guards on its arguments."""
    from torch._C._dynamo.eval_frame import _debug_get_cache_entry_list

    entries = _debug_get_cache_entry_list(forward.__code__)
    found = {}
    for return_dict, frame_locals in arguments.items():
        matching = [entry for entry in entries if entry.guard_manager.check(frame_locals)]
        if len(matching) != 1:
            raise RuntimeError(f"return_dict={return_dict}: {len(matching)} cache entries match")
        found[return_dict] = matching[0]
    return found


def frame_arguments(gpt2: bench_models.TinyGPT2, forward: Any, return_dict: bool) -> dict[str, Any]:
    """The locals of ``forward``'s frame at the start of the decode step (what its guards read)."""
    # under transformers 5, forward is a wrapper taking (self, *args, **kwargs)
    bound = inspect.signature(forward, follow_wrapped=False).bind(gpt2.model, **gpt2.decode(return_dict).keywords)
    bound.apply_defaults()
    closure = zip(forward.__code__.co_freevars, forward.__closure__ or ())
    return {**bound.arguments, **{name: cell.cell_contents for name, cell in closure}}


class GraphTimer:
    """Stands in for the compiled graph in the module globals, adding up the CPU time spent in it."""

    def __init__(self, graph: Callable[..., Any]) -> None:
        self.graph = graph
        self.nanoseconds = 0

    def __call__(self, *args: Any) -> Any:
        start = bench.CLOCK()
        try:
            return self.graph(*args)
        finally:
            self.nanoseconds += bench.CLOCK() - start


def transformed_code(gpt2: bench_models.TinyGPT2, forward: Any, entry: Any,
                     return_dict: bool) -> tuple[Callable[[], Any], GraphTimer]:
    """The entry's code as a plain function on the step's arguments, its graph timed."""
    (graph_name,) = [name for name in entry.code.co_names if name.startswith("__compiled_fn")]
    timer = GraphTimer(forward.__globals__[graph_name])
    # its own globals: the compiled call keeps the untimed graph (Dynamo would trace the timer)
    function_globals = {**forward.__globals__, graph_name: timer}
    function = types.FunctionType(entry.code, function_globals, forward.__name__, forward.__defaults__,
                                  forward.__closure__)
    function.__kwdefaults__ = forward.__kwdefaults__
    return gpt2.decode(return_dict, functools.partial(function, gpt2.model)), timer


def per_call(call: Callable[[], Any], after: Callable[[], None], timer: GraphTimer | None = None) -> tuple[float, float]:
    """Median µs of CPU per call over CALLS calls, and of the graph inside when timed."""
    totals, graphs = [], []
    for _ in range(CALLS):
        if timer is not None:
            timer.nanoseconds = 0
        start = bench.CLOCK()
        call()
        totals.append(bench.CLOCK() - start)
        after()
        if timer is not None:
            graphs.append(timer.nanoseconds)
    return statistics.median(totals) / 1e3, statistics.median(graphs or [0]) / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unpatched", action="store_true", help="transformers' own classes")
    parser.add_argument("--backend", default="inductor")
    options = parser.parse_args()
    import torch

    if not options.unpatched:
        fastoutput.patch_transformers()
    with bench_models.torch_settings():
        gpt2 = bench_models.tiny_gpt2()
        model = torch.compile(gpt2.model, backend=options.backend)
        compiled = {return_dict: gpt2.decode(return_dict, model) for return_dict in (True, False)}
        for return_dict in (True, False, True, False):
            compiled[return_dict]()
            gpt2.restore()
        forward = type(gpt2.model).forward
        arguments = {return_dict: frame_arguments(gpt2, forward, return_dict) for return_dict in (True, False)}
        entries = compiled_entries(forward, arguments)
        direct = {return_dict: transformed_code(gpt2, forward, entries[return_dict], return_dict)
                  for return_dict in (True, False)}

        def skipping_guards(call: Callable[[], Any]) -> Callable[[], Any]:
            def run() -> Any:
                with torch.compiler.set_stance("default", skip_guard_eval_unsafe=True):
                    return call()
            return run

        def check_guards(return_dict: bool) -> Callable[[], Any]:
            return functools.partial(entries[return_dict].guard_manager.check, arguments[return_dict])

        rows: dict[str, dict[bool, list[float]]] = {
            name: {True: [], False: []}
            for name in ("compiled call", "compiled call, skip_guard_eval_unsafe", "guard check",
                         "transformed code", "transformed code: graph call", "transformed code: bytecode around it")}
        for index in range(ROUNDS):
            for return_dict in (True, False) if index % 2 else (False, True):
                rows["compiled call"][return_dict].append(per_call(compiled[return_dict], gpt2.restore)[0])
                rows["compiled call, skip_guard_eval_unsafe"][return_dict].append(
                    per_call(skipping_guards(compiled[return_dict]), gpt2.restore)[0])
                rows["guard check"][return_dict].append(per_call(check_guards(return_dict), lambda: None)[0])
                call, timer = direct[return_dict]
                total, graph = per_call(call, gpt2.restore, timer)
                rows["transformed code"][return_dict].append(total)
                rows["transformed code: graph call"][return_dict].append(graph)
                rows["transformed code: bytecode around it"][return_dict].append(total - graph)

    import transformers

    state = "patched" if fastoutput.transformers_patched() else "unpatched"
    table = []
    for name, samples in rows.items():
        true, false = statistics.median(samples[True]), statistics.median(samples[False])
        table.append([name, f"{true:.1f}", f"{false:.1f}", f"{true - false:.1f}", f"{true / false:.3f}x"])
    title = f"transformers {transformers.__version__}, {state}, backend {options.backend}: µs of CPU per call, " \
            f"median of {ROUNDS} rounds"
    print(bench._table(title, ["return_dict", "True", "False", "True - False", "True / False"], table, markdown=True))


if __name__ == "__main__":
    main()
