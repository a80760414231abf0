"""Leak check: every public operation, run many times, leaves nothing behind.

Full run (the count issue 3 asks for; 5 to 8 minutes with the C++ core on a shared two-core
machine, and about twice that with the pure-Python twin)::

    python tools/leak_check.py --iterations 100000

Shorter runs and single operations::

    python tools/leak_check.py --iterations 2000 --trace-iterations 1000   # what CI runs
    python tools/leak_check.py --only read-int-index pickle-protocol-5
    python tools/leak_check.py --list                                      # the operation names
    FASTOUTPUT_PURE_PYTHON=1 python tools/leak_check.py --iterations 20000  # the twin, 2 minutes

It prints one line per operation (name, runs, largest reference-count change, live objects gained,
``tracemalloc`` growth, seconds) and exits 1 if any operation fails. ``check()`` does the same as a
function and returns the failures; ``tests/test_leaks.py`` runs it in CI.

What is run. ``OPERATIONS`` is a table of zero-argument callables, each closing over a few payload
objects (instances of the plain class ``Payload``, and two torch tensors where torch is installed):
construction in every form, every read and write path, every error path (each exception is caught
and its type checked), pickle (protocols 2 and 5), ``copy.copy``/``copy.deepcopy``, torch pytree
flatten/unflatten/flatten_with_path (only when torch is installed) and the creation and dropping of
user subclasses. Reads work on outputs built once; writes on outputs built in the operation.

What is checked, per operation, after a warm-up (first-use caches, the per-class free lists):

1. **Reference counts**: ``sys.getrefcount`` of every payload and tensor, and of the output classes
   (each instance holds one to its class), is the same before and after the runs. A missing
   ``Py_DECREF`` shows as a change of exactly the number of runs. No slack.
2. **Live objects**: no type's number of GC-tracked objects (``gc.get_objects()`` after
   ``gc.collect()``, counted by ``type(o).__name__``) is higher after the runs than before. No slack:
   the caches the interpreter keeps (free lists, the type attribute cache, specialised bytecode)
   hold no GC-tracked objects, and what an operation or library caches on first use is made during
   the warm-up. A *lower* count is reported but is no failure: the collector stops tracking tuples
   and dicts that turn out to hold only atoms, lazily (seen with torch's tensor repr).
   The heap is frozen (``gc.freeze()``) when the check starts, so that only objects created since
   are counted: a snapshot then costs microseconds instead of a tenth of a second with torch loaded,
   and nothing is lost, since a leaked object is one created after the freeze. The checker's own
   bookkeeping objects are left out of the counts, and it warms itself up before the first operation.
3. **Memory**: a second pass runs under ``tracemalloc``; its traced total may grow by at most
   ``MEMORY_SLACK`` (8 KiB) over ``trace_iterations`` runs, a constant whatever the count. Before each
   reading, ``gc.collect()`` empties the interpreter's free lists and the type attribute cache is
   cleared (on Python 3.11 each of its 4,096 entries keeps the looked-up name alive; code that looks
   names up with a fresh str each time, as the C++ core's ``__reduce__`` does, parks up to a few
   hundred KiB there, bounded). One tenth of the traced runs (at least 200) runs unmeasured first.
   Measured growth: 32 bytes for every operation (the checker's own int holding the first reading),
   at 2,000 and at 100,000 runs alike, and up to 5 KiB for the class-creation operations (dict
   tables of torch's pytree registry and of the interned strings being rebuilt; a rebuilt table that
   replaces one allocated before tracing started counts in full). The slack still cannot hide a leak:
   CPython's smallest block is 16 bytes, so keeping anything once per run grows the total by 16 KiB
   over CI's 1,000 traced runs and by 1.6 MB over the full count; at the full count a leak as rare
   as 64 bytes every 100 runs shows. Such one-off steps can exceed the slack: the interned-strings
   table (about 3.8 MB with torch loaded) rebuilt for the first time under tracing, which the class
   operations trigger after a few thousand classes, or, in a test process that has registered more
   classes, the three dicts of torch's pytree registry (9 to 13 KiB each), rebuilt every few hundred
   classes. So a traced stretch over the slack is measured again, up to ``MAX_TRACED_STRETCHES`` (4)
   stretches, and the smallest growth counts: a leak grows in every stretch, while each of the few
   tables allocated before tracing started is replaced only once.

   ``tracemalloc`` makes runs 7 to 15 times slower, which is why the traced pass may have fewer
   runs than the first pass (``--trace-iterations``; by default both have the same number). The full
   run fits in well under 15 minutes with both at 100,000, so it keeps them equal.

The operations of ``SLOW_OPERATIONS`` (creating classes, 2 to 4 ms a run) run 10 and 20 times fewer
runs: 10,000 and 5,000 in the full run. A class that is not freed leaves its type object, dict,
functions and descriptors behind, so one leaked class per run shows in the object counts at any count.

Two references to created classes are removed by the class operations on purpose: torch's pytree
registry keeps every registered class alive (``SUPPORTED_NODES``; transformers' classes stay in it
the same way), and, without torch, fastoutput's list of classes waiting for torch to be imported
keeps a weak reference until it is trimmed. A program that creates classes on the fly has to do the
same; everything else about a class (the metaclass's tables, the free list of its instances, the
dataclass machinery) must go with it.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import copy
import dataclasses
import gc
import pickle
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import fastoutput
from fastoutput import ModelOutput
from fastoutput import _torch as fastoutput_torch
from fastoutput.modeling_outputs import BaseModelOutput, CausalLMOutputWithPast

try:
    import torch
    from torch.utils import _pytree as pytree
except ImportError:  # the check runs without torch too, without the pytree operations
    torch = None  # type: ignore[assignment]
    pytree = None  # type: ignore[assignment]

Operation = Callable[[], object]

DEFAULT_ITERATIONS = 100_000
DEFAULT_WARMUP = 1_000
# Largest traced-memory growth accepted over the measured traced runs, whatever their number (module
# docstring, point 3).
MEMORY_SLACK = 8 * 1024
# Traced stretches measured at most while the growth exceeds the slack; the smallest growth counts.
MAX_TRACED_STRETCHES = 4


class Payload:
    """A value stored in outputs; its reference count is what the check watches."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"Payload({self.label!r})"


# ---------------------------------------------------------------------------------------------------
# Classes the operations use (module level, so that pickle finds them)
# ---------------------------------------------------------------------------------------------------


@dataclass
class MOT(ModelOutput):
    """The spec's reference class: a required first field, two optional ones."""

    a: Any
    b: Any = None
    c: Any = None


@dataclass
class Opt(ModelOutput):
    a: Any = None
    b: Any = None
    c: Any = None


class PlainChild(Opt):
    """An undecorated child of a dataclass output."""


@dataclass
class WithPostInit(ModelOutput):
    a: Any = None
    b: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.extra = self.a


@dataclass(frozen=True)
class Frozen(ModelOutput):
    a: Any = None
    b: Any = None


@dataclass(slots=True)
class Slotted(ModelOutput):
    a: Any = None
    b: Any = None


@dataclass
class NoFields(ModelOutput):
    pass


@dataclass
class TwoRequired(ModelOutput):
    a: Any
    b: Any


class NoDataclass(ModelOutput):
    pass


@dataclass
class RenamesCache(ModelOutput):
    """Reads the old cache names as ``cache``, as the 5.x stand-ins of ``patch_transformers()`` do."""

    last_hidden_state: Any = None
    cache: Any = None

    def _replace_old_cache_name(self, key: Any) -> Any:
        return "cache" if key in ("past_key_values", "cache_params") else key


CLASSES: tuple[type, ...] = (
    ModelOutput, MOT, Opt, PlainChild, WithPostInit, Frozen, Slotted, BaseModelOutput, CausalLMOutputWithPast,
)


class RaisingIterable:
    """A first-field value whose ``__iter__`` raises something other than TypeError."""

    def __iter__(self) -> Any:
        raise RuntimeError("boom")


def raising(expected: type[BaseException] | tuple[type[BaseException], ...], call: Operation) -> bool:
    """Run ``call``, which must raise ``expected`` (anything else, or nothing, is an error)."""
    try:
        call()
    except expected:
        return True
    raise AssertionError(f"expected {expected}")


def forget_classes(qualname_part: str) -> None:
    """Drop the registries' references to the classes made on the fly (module docstring, end)."""
    if pytree is not None:
        with pytree._NODE_REGISTRY_LOCK:
            for cls in [cls for cls in pytree.SUPPORTED_NODES if qualname_part in cls.__qualname__]:
                # what _deregister_pytree_node does, but the classes may share a serialized name
                del pytree.SUPPORTED_NODES[cls]
                serialized_name = pytree.SUPPORTED_SERIALIZED_TYPES.pop(cls).serialized_type_name
                if pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE.get(serialized_name) is cls:
                    del pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE[serialized_name]
                pytree.CONSTANT_NODES.discard(cls)
                # torch registers in optree's registry too when optree is installed (keras needs it)
                if "optree" in sys.modules:
                    with contextlib.suppress(ValueError):
                        sys.modules["optree"].unregister_pytree_node(cls, namespace="torch")
    pending = fastoutput_torch._pending
    if pending:
        pending[:] = [ref for ref in pending if (made := ref()) is None or qualname_part not in made.__qualname__]


# ---------------------------------------------------------------------------------------------------
# The operations
# ---------------------------------------------------------------------------------------------------


def build_operations(p: Any, q: Any, r: Any, t1: Any, t2: Any) -> dict[str, Operation]:
    """The table of operations, closing over the payloads ``p``, ``q``, ``r`` and the tensors (or
    payloads) ``t1``, ``t2``. Outputs that reads work on are built here, once."""
    x = MOT(p, c=q)  # keys a, c
    y = MOT(p, c=q)
    base = ModelOutput(a=p, b=q)
    base2 = ModelOutput(a=p, b=q)
    frozen = Frozen(p, q)
    slotted = Slotted(p, q)
    model = CausalLMOutputWithPast(loss=t1, logits=t2, hidden_states=(t1, t2), attentions=(p,))
    nested = BaseModelOutput(last_hidden_state=t1, hidden_states=(t2, Opt(p, q)))  # type: ignore[arg-type]
    # The same shapes holding payloads only, for the operations where tensors would only add time spent
    # in torch (repr, pickle, deepcopy of the tensors themselves): fastoutput's part is the same.
    model_p = CausalLMOutputWithPast(loss=p, logits=q, hidden_states=(p, q), attentions=(r,))
    nested_p = BaseModelOutput(last_hidden_state=p, hidden_states=(q, Opt(p, q)))  # type: ignore[arg-type]

    def drifted() -> Opt:
        """An output whose two stores disagree: an extra key, a key whose attribute was set to None."""
        out = Opt(p, q)
        out["zz"] = r
        out.a = None
        out.extra = r
        return out

    renaming = RenamesCache(p, cache=q)
    ops: dict[str, Operation] = {}

    # -- construction, every form ------------------------------------------------------------------
    ops["construct-positional"] = lambda: MOT(p, q, r)
    ops["construct-keyword"] = lambda: MOT(a=p, b=q, c=r)
    ops["construct-mixed"] = lambda: MOT(p, c=r)
    ops["construct-required-none"] = lambda: MOT(None, b=p)
    ops["construct-all-optional-empty"] = lambda: Opt()
    ops["construct-first-field-dict"] = lambda: Opt({"a": p, "b": q, "zz": r})
    ops["construct-first-field-pairs"] = lambda: Opt([("b", p), ("zz", q), ("a", None)])
    ops["construct-first-field-generator"] = lambda: Opt((name, value) for name, value in (("b", p), ("c", q)))
    ops["construct-first-field-kept"] = lambda: (Opt([p, q]), Opt(p), Opt((p, q)), Opt("abc"))
    ops["construct-first-field-output"] = lambda: Opt(Opt(p, q))
    ops["construct-first-field-with-other-field"] = lambda: Opt({"a": p}, q)
    ops["construct-base-keywords"] = lambda: (ModelOutput(a=p, b=q, c=None), ModelOutput(**{"a": p, "zz": q}))
    ops["construct-base-dict"] = lambda: ModelOutput({"a": p, "b": q})
    ops["construct-base-pairs-and-keywords"] = lambda: ModelOutput([("a", p)], b=q)
    ops["construct-base-empty"] = lambda: ModelOutput()
    def dict_new_then_init() -> MOT:
        out = dict.__new__(MOT)
        MOT.__init__(out, p, c=q)
        return out

    def cls_new_then_init() -> MOT:
        out = MOT.__new__(MOT)
        out.__init__(p, q)  # type: ignore[misc]
        return out

    ops["construct-dict-new-then-init"] = dict_new_then_init
    ops["construct-cls-new"] = lambda: MOT.__new__(MOT)
    ops["construct-cls-new-then-init"] = cls_new_then_init
    ops["construct-plain-child"] = lambda: PlainChild(p, q)
    ops["construct-post-init"] = lambda: WithPostInit(p, q)
    ops["construct-frozen"] = lambda: Frozen(p, q)
    ops["construct-slots"] = lambda: Slotted(p, b=q)
    ops["construct-modeling-output"] = lambda: CausalLMOutputWithPast(
        loss=t1, logits=t2, hidden_states=(t1, t2), attentions=(p,)
    )
    ops["construct-modeling-output-positional"] = lambda: CausalLMOutputWithPast(t1, t2, None, (t1,), (p,))
    ops["construct-modeling-output-tensor-first"] = lambda: BaseModelOutput(t1)
    ops["construct-fromkeys"] = lambda: Opt.fromkeys(["a", "zz"], p)

    # -- reads (on outputs built once) -------------------------------------------------------------
    base_any: Any = base
    ops["read-attribute"] = lambda: (x.a, x.b, x.c, frozen.a, slotted.b, model.logits, base_any.a)
    ops["read-item-str"] = lambda: (x["a"], x["c"], base["a"], model["logits"])
    ops["read-int-index"] = lambda: (x[0], x[1], base[0], model[2])
    ops["read-negative-index"] = lambda: (x[-1], x[-2], base[-1])
    ops["read-slices"] = lambda: (x[:], x[::-1], x[1:], x[5:], base[:1], model[1:3])
    ops["read-to_tuple"] = lambda: (x.to_tuple(), base.to_tuple(), model.to_tuple())
    ops["read-keys-values-items"] = lambda: (list(x.keys()), list(x.values()), list(x.items()), list(base.items()))
    ops["read-iteration"] = lambda: ([k for k in x], list(reversed(x)), tuple(model))
    ops["read-contains"] = lambda: ("a" in x, "b" in x, 0 in x, "a" in base)
    ops["read-len-bool"] = lambda: (len(x), bool(x), len(base), bool(Opt()))
    ops["read-get"] = lambda: (x.get("a"), x.get("b"), x.get("zz", r), base.get("a"))
    ops["read-repr"] = lambda: (repr(x), str(x), repr(base), repr(frozen), repr(nested_p), repr(model_p))
    ops["read-equality"] = lambda: (x == y, x != y, x == {"a": p, "c": q}, {"a": p} == x, base == base2, base != x)
    ops["read-hash-frozen"] = lambda: hash(frozen)
    ops["read-dict-conversion"] = lambda: (dict(x), {**x}, collections.OrderedDict(base), dict(model))
    ops["read-vars-and-dict"] = lambda: (vars(x), x.__dict__["a"], vars(base), vars(slotted), list(vars(model)))
    ops["read-dataclass-functions"] = lambda: (
        dataclasses.fields(x), dataclasses.asdict(x), dataclasses.astuple(x), dataclasses.is_dataclass(x)
    )
    ops["read-drifted-stores"] = lambda: (lambda o: (o[0], o.to_tuple(), vars(o), repr(o), o == o))(drifted())

    # -- writes (on fresh outputs) -----------------------------------------------------------------
    def attribute_field() -> None:
        out = Opt(p)
        out.b = q  # adds the key
        out.a = r  # replaces the value in place

    def attribute_none() -> None:
        out = Opt(p, q)
        out.a = None  # the key keeps p
        out.a = r

    def attribute_extra() -> None:
        out = Opt(p)
        out.zz = q
        out.zz = r

    def attribute_base() -> None:
        out = ModelOutput(a=p)
        out.a = q  # D6: allowed on the base class, updates the key
        out.zz = r

    def attribute_slots() -> None:
        out = Slotted(p)
        out.b = q
        out.a = None

    def item_field() -> None:
        out = Opt(p)
        out["b"] = q
        out["a"] = r

    def item_extra() -> None:
        out = Opt(p)
        out["zz"] = q
        out["zz"] = r
        out.zz = p

    def item_none() -> None:
        out = Opt(p, q)
        out["a"] = None
        out["b"] = None

    def item_frozen() -> None:
        out = Frozen(p)
        out["b"] = q
        out["zz"] = r

    def delete_attribute() -> None:
        out = Opt(p, q)
        out.zz = r
        del out.a
        delattr(out, "zz")

    def dict_assignment() -> None:
        out = Opt(p, q)
        out.__dict__ = {"a": q, "zz": r}

    def dict_item_write() -> None:
        out = Opt(p)
        attributes = vars(out)
        attributes["a"] = q
        attributes["zz"] = r
        del attributes["zz"]
        out.__dict__["b"] = p
        attributes.update(c=q)

    def in_place_or() -> None:
        out = Opt(p)
        out |= {"b": q, "zz": r}
        base_out = ModelOutput(a=p)
        base_out |= [("b", q)]

    def allowed_mutators() -> None:
        out = Opt(p, q, r)
        out.move_to_end("a")
        out.move_to_end("c", last=False)
        out.popitem()
        out.popitem(last=False)
        out.clear()

    def dict_bypass() -> None:
        out = Opt(p, q)
        dict.update(out, zz=r)
        dict.__delitem__(out, "a")
        dict.pop(out, "b")

    ops["write-attribute-field"] = attribute_field
    ops["write-attribute-none"] = attribute_none
    ops["write-attribute-extra"] = attribute_extra
    ops["write-attribute-base-class"] = attribute_base
    ops["write-attribute-slots"] = attribute_slots
    ops["write-item-field"] = item_field
    ops["write-item-extra"] = item_extra
    ops["write-item-none"] = item_none
    ops["write-item-frozen"] = item_frozen
    ops["write-delattr"] = delete_attribute
    ops["write-dict-assignment"] = dict_assignment
    ops["write-dict-items"] = dict_item_write
    ops["write-or"] = lambda: (Opt(p) | {"b": q}, {"zz": r} | Opt(p), ModelOutput(a=p) | {"b": q})
    ops["write-in-place-or"] = in_place_or
    ops["write-replace"] = lambda: (dataclasses.replace(Opt(p), b=q), dataclasses.replace(Frozen(p), b=q))
    ops["write-popitem-move_to_end-clear"] = allowed_mutators
    ops["write-copy-method"] = lambda: (Opt(p, q).copy(), ModelOutput(a=p).copy())
    ops["write-dict-bypass"] = dict_bypass

    # -- error paths (each exception caught; its type checked) -------------------------------------
    def item_set_non_str_key() -> None:
        out = Opt(p)
        raising(TypeError, lambda: out.__setitem__(0, q))  # inserted, then refused as attribute name

    ops["error-unknown-keyword"] = lambda: raising(TypeError, lambda: MOT(p, zz=q))  # type: ignore[call-arg]
    ops["error-too-many-positional"] = lambda: raising(TypeError, lambda: MOT(p, q, r, p))  # type: ignore[call-arg]
    ops["error-missing-required"] = lambda: raising(TypeError, lambda: MOT(b=p, c=q))  # type: ignore[call-arg]
    ops["error-duplicate-argument"] = lambda: raising(TypeError, lambda: MOT(p, a=q))  # type: ignore[misc]
    ops["error-non-str-keyword"] = lambda: raising(TypeError, lambda: MOT(p, **{1: q}))  # type: ignore[arg-type]
    ops["error-modeling-output-keyword"] = lambda: raising(
        TypeError, lambda: CausalLMOutputWithPast(logits=t1, zz=p)  # type: ignore[call-arg]
    )
    ops["error-missing-key"] = lambda: (raising(KeyError, lambda: x["zz"]), raising(KeyError, lambda: x["b"]))
    ops["error-index-out-of-range"] = lambda: (raising(IndexError, lambda: x[5]), raising(IndexError, lambda: x[-3]))
    ops["error-index-of-wrong-type"] = lambda: (raising(TypeError, lambda: x[1.5]), raising(TypeError, lambda: x[None]))
    ops["error-unhashable-key"] = lambda: (
        raising(TypeError, lambda: Opt(p).__setitem__([q], r)),
        raising(TypeError, lambda: x.get([q])),
        raising(TypeError, lambda: [q] in x),
        raising(TypeError, lambda: x[[q]]),
    )
    ops["error-item-set-non-str-key"] = item_set_non_str_key
    ops["error-non-str-attribute-name"] = lambda: (
        raising(TypeError, lambda: Opt(p).__setattr__(1, q)),  # type: ignore[arg-type]
        raising(TypeError, lambda: ModelOutput(a=p).__setattr__(1, q)),  # type: ignore[arg-type]
    )
    ops["error-missing-attribute"] = lambda: raising(AttributeError, lambda: x.zz)  # type: ignore[attr-defined]
    ops["error-blocked-delitem"] = lambda: raising(Exception, lambda: x.__delitem__("a"))
    ops["error-blocked-pop"] = lambda: (
        raising(Exception, lambda: x.pop("a")), raising(Exception, lambda: x.pop("zz", r))
    )
    ops["error-blocked-setdefault"] = lambda: raising(Exception, lambda: x.setdefault("b", r))
    ops["error-blocked-update"] = lambda: (raising(Exception, lambda: x.update({"b": r})), raising(Exception, x.update))
    ops["error-blocked-on-base-class"] = lambda: raising(Exception, lambda: base.pop("a"))
    ops["error-popitem-empty"] = lambda: raising(KeyError, lambda: Opt().popitem())
    ops["error-move_to_end-missing"] = lambda: raising(KeyError, lambda: Opt(p).move_to_end("zz"))
    ops["error-non-pair-after-pair"] = lambda: raising(ValueError, lambda: Opt([("b", p), q]))
    ops["error-first-field-iter-raises"] = lambda: raising(RuntimeError, lambda: Opt(RaisingIterable()))
    ops["error-frozen-setattr"] = lambda: (
        raising(dataclasses.FrozenInstanceError, lambda: setattr(frozen, "a", r)),
        raising(dataclasses.FrozenInstanceError, lambda: delattr(frozen, "a")),
    )
    ops["error-frozen-expansion"] = lambda: raising(dataclasses.FrozenInstanceError, lambda: Frozen({"a": p}))
    ops["error-no-fields"] = lambda: raising(ValueError, NoFields)
    ops["error-two-required"] = lambda: raising(ValueError, lambda: TwoRequired(p, q))
    ops["error-undecorated"] = lambda: raising(TypeError, lambda: NoDataclass(a=p))
    ops["error-base-not-iterable"] = lambda: raising(TypeError, lambda: ModelOutput(p))
    ops["error-replace-unknown-field"] = lambda: raising(
        TypeError, lambda: dataclasses.replace(x, zz=p)  # type: ignore[call-arg]
    )
    ops["error-copy-method-required-field"] = lambda: raising(TypeError, x.copy)
    ops["error-dict-assignment-non-dict"] = lambda: raising(TypeError, lambda: setattr(Opt(p), "__dict__", [q]))
    ops["error-to_tuple-arguments"] = lambda: raising(TypeError, lambda: x.to_tuple(p))  # type: ignore[call-arg]
    ops["error-or-non-dict"] = lambda: raising(TypeError, lambda: x | [("b", q)])
    ops["error-pickle-unpicklable-value"] = lambda: raising(Exception, lambda: pickle.dumps(Opt(p, lambda: 0)))
    ops["error-hash"] = lambda: raising(TypeError, lambda: hash(x))

    # -- pickle and copy ---------------------------------------------------------------------------
    ops["pickle-protocol-2"] = lambda: (pickle.loads(pickle.dumps(x, 2)), pickle.loads(pickle.dumps(base, 2)))
    ops["pickle-protocol-5"] = lambda: (pickle.loads(pickle.dumps(x, 5)), pickle.loads(pickle.dumps(base, 5)))
    ops["pickle-drifted-stores"] = lambda: pickle.loads(pickle.dumps(drifted(), 5))
    ops["pickle-frozen-slots-child"] = lambda: pickle.loads(pickle.dumps((frozen, slotted, PlainChild(p, q)), 5))
    ops["pickle-modeling-output"] = lambda: pickle.loads(pickle.dumps((model_p, nested_p), 5))
    ops["reduce-ex"] = lambda: (x.__reduce_ex__(2), x.__reduce_ex__(5), base.__reduce_ex__(4), x.__reduce__())
    ops["copy"] = lambda: (copy.copy(x), copy.copy(base), copy.copy(frozen), copy.copy(slotted), copy.copy(model))
    ops["copy-drifted-stores"] = lambda: copy.copy(drifted())
    ops["deepcopy"] = lambda: (copy.deepcopy(x), copy.deepcopy(base), copy.deepcopy(frozen), copy.deepcopy(slotted))
    ops["deepcopy-modeling-output"] = lambda: copy.deepcopy((model_p, nested_p))
    ops["deepcopy-drifted-stores"] = lambda: copy.deepcopy(drifted())

    # -- torch pytree ------------------------------------------------------------------------------
    if pytree is not None:

        def flatten_unflatten() -> None:
            for out in (x, base, model, nested):
                leaves, spec = pytree.tree_flatten(out)
                pytree.tree_unflatten(leaves, spec)

        ops["pytree-flatten-unflatten"] = flatten_unflatten
        ops["pytree-flatten-with-path"] = lambda: (
            pytree.tree_flatten_with_path(x), pytree.tree_flatten_with_path(nested)
        )
        ops["pytree-tree-map"] = lambda: pytree.tree_map(lambda leaf: leaf, nested)
        ops["pytree-unflatten-error"] = lambda: raising(
            TypeError, lambda: pytree.tree_unflatten(*pytree.tree_flatten(drifted()))
        )

    # -- user subclasses created and dropped -------------------------------------------------------
    def create_and_drop_class() -> None:
        @dataclass
        class MadeOnTheFly(ModelOutput):
            a: Any = None
            b: Any = None

        out = MadeOnTheFly(p, q)
        out[0], repr(out), MadeOnTheFly({"a": p, "zz": q}), copy.copy(out)
        forget_classes("<locals>.MadeOnTheFly")

    def create_and_drop_class_variants() -> None:
        @dataclass(slots=True)
        class MadeOnTheFly(ModelOutput):
            a: Any
            b: Any = None

        @dataclass(frozen=True)
        class MadeOnTheFlyFrozen(ModelOutput):
            a: Any = None

        class MadeOnTheFlyChild(MadeOnTheFly):
            pass

        MadeOnTheFly(p, q), MadeOnTheFlyFrozen(p), MadeOnTheFlyChild(p).to_tuple()
        forget_classes("<locals>.MadeOnTheFly")

    # -- the 5.x cache rename (native item/attribute paths, keyword errors handed to __init__) -----------
    ops["rename-construct"] = lambda: RenamesCache(p, cache=q)
    ops["rename-item-get"] = lambda: renaming["past_key_values"]
    ops["rename-item-get-missing"] = lambda: raising(KeyError, lambda: RenamesCache(p)["cache_params"])
    ops["rename-item-set"] = lambda: RenamesCache(p).__setitem__("past_key_values", q)
    ops["rename-attribute-set"] = lambda: setattr(RenamesCache(p), "cache_params", q)
    ops["rename-keyword-to-init"] = lambda: raising(TypeError, lambda: RenamesCache(p, past_key_values=q))

    ops["class-create-and-drop"] = create_and_drop_class
    ops["class-create-and-drop-slots-frozen-child"] = create_and_drop_class_variants
    return ops


PAYLOADS: tuple[Any, ...] = (Payload("p"), Payload("q"), Payload("r"))
TENSORS: tuple[Any, ...] = (torch.ones(2), torch.zeros(3)) if torch is not None else (Payload("t1"), Payload("t2"))
OPERATIONS: dict[str, Operation] = build_operations(*PAYLOADS, *TENSORS)
# Whose reference counts are compared: the payloads, and the classes (each instance holds its class).
WATCHED: tuple[Any, ...] = PAYLOADS + TENSORS + CLASSES


# ---------------------------------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------------------------------


# Operations that are much slower than the rest (each run creates classes) run this many times fewer
# iterations than the others; the module docstring says why that still covers them.
SLOW_OPERATIONS: dict[str, int] = {
    "class-create-and-drop": 10,
    "class-create-and-drop-slots-frozen-child": 20,
}


@dataclass
class Result:
    """What one operation left behind."""

    name: str
    iterations: int
    trace_iterations: int
    # watched object -> its reference-count change in each pass (only objects that changed in one)
    refcount_deltas: dict[str, tuple[int, ...]]
    # type name -> change in live GC-tracked objects, summed over the passes (non-zero only)
    object_deltas: dict[str, int]
    # traced-memory growth (bytes) of each measured traced stretch: another one is measured only while
    # every one so far exceeds MEMORY_SLACK (module docstring, point 3)
    memory_growth: tuple[int, ...]
    seconds: float
    error: str | None = None  # the operation raised (an unexpected exception ends its check)

    @property
    def memory(self) -> int:
        """The growth that counts: a leak shows in every stretch, a one-off step in one only."""
        return min(self.memory_growth) if self.memory_growth else 0

    def failures(self) -> list[str]:
        found = []
        if self.error is not None:
            found.append(f"{self.name}: raised {self.error}")
        if self.refcount_deltas:
            found.append(f"{self.name}: reference counts changed (per pass): {self.refcount_deltas}")
        grown = {name: delta for name, delta in self.object_deltas.items() if delta > 0}
        if grown:
            found.append(f"{self.name}: live objects grew: {grown}")
        if self.memory > MEMORY_SLACK:
            found.append(
                f"{self.name}: traced memory grew by {self.memory_growth} bytes over {self.trace_iterations} runs"
                f" (allowed: {MEMORY_SLACK})"
            )
        return found

    def line(self) -> str:
        refs = max((abs(delta) for deltas in self.refcount_deltas.values() for delta in deltas), default=0)
        objects = sum(delta for delta in self.object_deltas.values() if delta > 0)
        dropped = sum(delta for delta in self.object_deltas.values() if delta < 0)
        memory = "/".join(f"{growth:+d}" for growth in self.memory_growth) or "-"
        status = "FAIL" if self.failures() else "ok"
        if self.error is not None:
            return f"{self.name:<42} raised {self.error}  FAIL"
        return (
            f"{self.name:<42} {self.iterations:>7} runs  refcount {refs:+d}  objects {objects:+d}"
            + (f" ({dropped:+d} let go)" if dropped else "")
            + f"  memory {memory} B over {self.trace_iterations} traced runs  {self.seconds:6.1f}s  {status}"
        )


def _describe(item: Any) -> str:
    if isinstance(item, type):
        return item.__qualname__
    if isinstance(item, Payload):
        return repr(item)
    return f"{type(item).__name__} at {id(item):#x}"


def _settle() -> None:
    """Collect garbage, which also empties the interpreter's free lists, and clear the type attribute
    cache: on Python 3.11 each of its 4,096 entries keeps the looked-up name alive, so code that looks
    names up with fresh str objects parks up to a few hundred KiB there (bounded, no leak)."""
    sys._clear_type_cache()
    gc.collect()


def _live_objects(exclude: tuple[object, ...]) -> collections.Counter[str]:
    """GC-tracked objects created since the freeze, by type name, leaving out the checker's own."""
    skip = {id(item) for item in exclude}
    objects = gc.get_objects()
    counts = collections.Counter(type(obj).__name__ for obj in objects if id(obj) not in skip and obj is not skip)
    del objects
    return counts


def _run(operation: Operation, count: int) -> None:
    for _ in range(count):
        operation()


@dataclass
class _Pass:
    refcounts: list[int]
    objects: dict[str, int]
    memory: int


def _measure(operation: Operation, watched: tuple[Any, ...], count: int, traced: bool) -> _Pass:
    """Run ``operation`` ``count`` times and compare the snapshots taken before and after.

    The checker's own objects alive at the second snapshot were alive at the first one too (or are
    left out of the counts), so they cancel out."""
    _settle()
    refs_before = [sys.getrefcount(item) for item in watched]
    objects_before = _live_objects((refs_before,))
    _settle()
    memory_before = tracemalloc.get_traced_memory()[0] if traced else 0
    _run(operation, count)
    _settle()
    memory_after = tracemalloc.get_traced_memory()[0] if traced else 0
    refs_after = [sys.getrefcount(item) for item in watched]
    objects_after = _live_objects((refs_before, objects_before, refs_after))
    object_deltas = {
        name: objects_after[name] - objects_before[name]
        for name in objects_before.keys() | objects_after.keys()
        if objects_after[name] != objects_before[name]
    }
    refcount_deltas = [after - before for before, after in zip(refs_before, refs_after)]
    return _Pass(refcount_deltas, object_deltas, memory_after - memory_before)


def check_one(
    name: str,
    operation: Operation,
    iterations: int,
    trace_iterations: int | None = None,
    warmup: int = DEFAULT_WARMUP,
    watched: tuple[Any, ...] = WATCHED,
) -> Result:
    """Warm ``operation`` up, then run the untraced pass and the traced pass (module docstring).

    Call it through ``check``, which freezes the heap first; alone, the live-object counts also see
    whatever else the process does."""
    trace_count = iterations if trace_iterations is None else trace_iterations
    start = time.perf_counter()
    _run(operation, warmup)
    passes = [_measure(operation, watched, iterations, traced=False)]
    memory: list[int] = []
    if trace_count > 0:
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        try:
            _run(operation, max(trace_count // 10, 200))  # one-off growth under tracing happens here
            # Over the slack: a leak, or a one-off step (a table rebuilt under tracing); measure again.
            while len(memory) < MAX_TRACED_STRETCHES and (not memory or min(memory) > MEMORY_SLACK):
                passes.append(_measure(operation, watched, trace_count, traced=True))
                memory.append(passes[-1].memory)
        finally:
            if not was_tracing:
                tracemalloc.stop()
    refcount_deltas = {
        _describe(item): tuple(measured.refcounts[index] for measured in passes)
        for index, item in enumerate(watched)
        if any(measured.refcounts[index] for measured in passes)
    }
    object_deltas: collections.Counter[str] = collections.Counter()
    for measured in passes:
        object_deltas.update(measured.objects)
    return Result(
        name, iterations, trace_count, refcount_deltas,
        {type_name: delta for type_name, delta in sorted(object_deltas.items()) if delta},
        tuple(memory), time.perf_counter() - start,
    )


def check(
    operations: Mapping[str, Operation] | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    *,
    trace_iterations: int | None = None,
    warmup: int = DEFAULT_WARMUP,
    watched: Iterable[Any] | None = None,
    report: Callable[[Result], None] | None = None,
) -> list[str]:
    """Run every operation (default: ``OPERATIONS``) and return the failures, one line each.

    ``iterations`` runs per operation in the first pass (reference counts and live objects),
    ``trace_iterations`` (default: the same) in the traced pass, which checks all three; the
    operations of ``SLOW_OPERATIONS`` run that many times fewer of both. ``watched`` are the objects
    whose reference counts must not move (default: the payloads and the classes). ``report`` is
    called with each operation's ``Result`` as soon as it is known.
    """
    table = OPERATIONS if operations is None else operations
    watched_items = WATCHED if watched is None else tuple(watched)
    failures: list[str] = []
    gc.collect()
    gc.freeze()  # count only objects created from here on (module docstring, point 2)
    try:
        # The checker's own first-use caches (Counter's isinstance checks fill ABC caches, tracemalloc's
        # first start, ...) are made here, not during the first operation's measurement.
        check_one("checker warm-up", lambda: None, 10, 10, 10, watched_items)
        for name, operation in table.items():
            divisor = SLOW_OPERATIONS.get(name, 1)
            traced = None if trace_iterations is None else max(trace_iterations // divisor, 1)
            started = time.perf_counter()
            try:
                result = check_one(
                    name, operation, max(iterations // divisor, 1), traced, max(warmup // divisor, 1), watched_items
                )
            except Exception as error:  # noqa: BLE001 - reported as this operation's failure
                error_text = f"{type(error).__name__}: {error}"
                result = Result(name, 0, 0, {}, {}, (), time.perf_counter() - started, error_text)
            if report is not None:
                report(result)
            failures.extend(result.failures())
    finally:
        gc.unfreeze()
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, help="runs per operation (100000)")
    parser.add_argument("--trace-iterations", type=int, help="runs under tracemalloc (default: --iterations)")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="runs before measuring (1000)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these operations only")
    parser.add_argument("--list", action="store_true", help="list the operation names and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(OPERATIONS))
        return 0
    table = OPERATIONS
    if args.only:
        unknown = [name for name in args.only if name not in OPERATIONS]
        if unknown:
            parser.error(f"unknown operation(s): {', '.join(unknown)} (see --list)")
        table = {name: OPERATIONS[name] for name in args.only}
    print(
        f"fastoutput {fastoutput.IMPLEMENTATION} implementation, Python {sys.version.split()[0]},"
        f" torch {torch.__version__ if torch is not None else 'not installed'};"
        f" {len(table)} operations, memory slack {MEMORY_SLACK} B",
        flush=True,
    )
    start = time.perf_counter()
    failures = check(
        table, args.iterations, trace_iterations=args.trace_iterations, warmup=args.warmup,
        report=lambda result: print(result.line(), flush=True),
    )
    print(f"total {time.perf_counter() - start:.1f}s; {len(failures)} failure(s)")
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
