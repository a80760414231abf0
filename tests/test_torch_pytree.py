"""torch pytree integration (spec §9): registration, flatten/unflatten, serialization, key paths.

The lazy registration of D5 (fastoutput never imports torch itself) is checked in subprocesses, where
the order of the imports can be controlled.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from typing import Any

import pytest
import torch
from torch.utils import _pytree as pytree

import fastoutput
from fastoutput import ModelOutput
from tests.torch_classes import (
    ALL_CLASSES,
    MOT,
    BaseModelOutput,
    Child,
    ModelOutputTest,
    Opt,
    assert_same_output,
    modeling_output_classes,
)


def node_children(output: Any) -> tuple[list[Any], list[Any]]:
    """The one-level flatten of an output through its registered node: (children, context)."""
    children, context = pytree.SUPPORTED_NODES[type(output)].flatten_fn(output)
    return list(children), list(context)


def unflatten_one_level(output_type: type, children: list[Any], context: list[Any]) -> Any:
    return pytree.SUPPORTED_NODES[output_type].unflatten_fn(children, context)


def one_line(spec: Any) -> str:
    """torch prints long specs over several lines; the spec's text is the single-line form."""
    return " ".join(str(spec).split())


def leaf() -> Any:
    return pytree.treespec_leaf()


# --------------------------------------------------------------------------------------------------
# §9.1 Registration


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: cls.__name__)
def test_every_class_is_registered(cls: type) -> None:
    assert cls in pytree.SUPPORTED_NODES
    node = pytree.SUPPORTED_NODES[cls]
    assert node.flatten_with_keys_fn is not None


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda cls: cls.__name__)
def test_serialized_type_name_is_module_dot_name(cls: type) -> None:
    name = f"{cls.__module__}.{cls.__name__}"
    assert pytree.SUPPORTED_SERIALIZED_TYPES[cls].serialized_type_name == name


@pytest.mark.parametrize("cls", modeling_output_classes(), ids=lambda cls: cls.__name__)
def test_every_modeling_outputs_class_is_registered(cls: type) -> None:
    assert cls in pytree.SUPPORTED_NODES
    assert pytree.SUPPORTED_SERIALIZED_TYPES[cls].serialized_type_name == f"fastoutput.modeling_outputs.{cls.__name__}"
    assert pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE[f"fastoutput.modeling_outputs.{cls.__name__}"] is cls
    if not dataclasses.is_dataclass(cls):
        return  # MultimodalModelOutput: a base to subclass, not instantiated itself
    fields = dataclasses.fields(cls)
    output = cls(**{field.name: float(index) for index, field in enumerate(fields)})
    leaves, spec = pytree.tree_flatten(output)
    assert leaves == [float(index) for index in range(len(fields))]
    assert spec.context == [field.name for field in fields]
    assert_same_output(pytree.tree_unflatten(leaves, spec), output)


def test_serialized_type_name_of_the_helper_classes() -> None:
    assert ModelOutputTest.__module__ == "tests.torch_classes"  # pytest imports tests/ as a package
    assert pytree.SUPPORTED_SERIALIZED_TYPES[ModelOutputTest].serialized_type_name == (
        "tests.torch_classes.ModelOutputTest"
    )
    assert pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE["tests.torch_classes.ModelOutputTest"] is ModelOutputTest
    base_name = f"{ModelOutput.__module__}.ModelOutput"
    assert pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE[base_name] is ModelOutput


def test_class_created_with_torch_loaded_is_registered_at_once() -> None:
    # Registered at class creation, before @dataclass runs and before any instance exists.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # register_pytree_node, not the deprecated variant

        class Local(ModelOutput):
            x: Any = None

        registered_before_decorator = Local in pytree.SUPPORTED_NODES
        Local = dataclasses.dataclass(Local)  # noqa: N806

    assert registered_before_decorator
    assert Local in pytree.SUPPORTED_NODES
    # the name, not the qualname (which contains "<locals>")
    assert pytree.SUPPORTED_SERIALIZED_TYPES[Local].serialized_type_name == f"{__name__}.Local"


def test_deep_and_undecorated_subclasses_are_registered() -> None:
    @dataclasses.dataclass
    class Level1(Child):
        f: Any = None

    class Level2(Level1):  # not decorated
        pass

    @dataclasses.dataclass
    class Level3(Level2):
        g: Any = None

    for cls in (Level1, Level2, Level3):
        assert cls in pytree.SUPPORTED_NODES
    leaves, spec = pytree.tree_flatten(Level3(a=1.0, g=2.0))
    assert leaves == [1.0, 2.0]
    assert spec.type is Level3


def test_two_classes_with_the_same_module_and_name_are_both_registered() -> None:
    def declare() -> type:
        @dataclasses.dataclass
        class Twin(ModelOutput):
            x: Any = None

        return Twin

    first, second = declare(), declare()
    assert first is not second
    assert first in pytree.SUPPORTED_NODES
    assert second in pytree.SUPPORTED_NODES
    for cls in (first, second):
        leaves, spec = pytree.tree_flatten(cls(x=1.0))
        assert_same_output(pytree.tree_unflatten(leaves, spec), cls(x=1.0))


def test_registering_again_by_hand_raises_torch_error() -> None:
    message = "<class 'tests.torch_classes.Opt'> is already registered as pytree node."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        pytree.register_pytree_node(
            Opt,
            lambda output: (list(output.values()), list(output.keys())),
            lambda values, context: Opt(**dict(zip(context, values))),
        )
    # the failed attempt changed nothing
    assert pytree.SUPPORTED_SERIALIZED_TYPES[Opt].serialized_type_name == "tests.torch_classes.Opt"


@pytest.mark.parametrize(
    "make",
    [lambda: MOT(a=1.0), lambda: ModelOutput(a=1.0), lambda: ModelOutput(), lambda: Opt(), lambda: Child(a=1)],
    ids=["MOT", "base", "empty-base", "empty-Opt", "Child"],
)
def test_instances_are_not_leaves(make: Any) -> None:
    output = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch deprecates the private name
        assert pytree._is_leaf(output) is False
    assert pytree.tree_is_leaf(output) is False


# --------------------------------------------------------------------------------------------------
# §9.2 Flatten and unflatten


def test_flatten_keyword_built() -> None:
    output = MOT(a=1.0, c=2.0)
    assert node_children(output) == ([1.0, 2.0], ["a", "c"])
    leaves, spec = pytree.tree_flatten(output)
    assert leaves == [1.0, 2.0]
    assert spec.type is MOT
    assert spec.context == ["a", "c"]
    rebuilt = pytree.tree_unflatten(leaves, spec)
    assert_same_output(rebuilt, MOT(a=1.0, b=None, c=2.0))
    assert rebuilt == output
    assert rebuilt.b is None


def test_flatten_keeps_insertion_order_unflatten_gives_field_order() -> None:
    output = MOT({"c": 3.0, "a": 1.0})
    assert list(output.keys()) == ["c", "a"]
    assert node_children(output) == ([3.0, 1.0], ["c", "a"])
    leaves, spec = pytree.tree_flatten(output)
    rebuilt = pytree.tree_unflatten(leaves, spec)
    assert type(rebuilt) is MOT
    assert list(rebuilt.keys()) == ["a", "c"]
    assert (rebuilt.a, rebuilt.b, rebuilt.c) == (1.0, None, 3.0)
    assert rebuilt["c"] == 3.0


def test_flatten_with_a_none_value_set_by_item() -> None:
    output = MOT(a=1.0, c=2.0)
    output["c"] = None
    assert node_children(output) == ([1.0, None], ["a", "c"])
    leaves, spec = pytree.tree_flatten(output)
    assert leaves == [1.0, None]  # a None leaf
    rebuilt = pytree.tree_unflatten(leaves, spec)
    assert list(rebuilt.keys()) == ["a"]
    assert rebuilt.c is None


def test_flatten_after_attribute_assignment_of_an_unset_field() -> None:
    output = MOT(a=1.0)
    output.b = 5.0  # 5.x: the key is appended
    assert node_children(output) == ([1.0, 5.0], ["a", "b"])
    leaves, spec = pytree.tree_flatten(output)
    assert leaves == [1.0, 5.0]
    rebuilt = pytree.tree_unflatten(leaves, spec)
    assert list(rebuilt.keys()) == ["a", "b"]
    assert (rebuilt.a, rebuilt.b) == (1.0, 5.0)


def test_unflatten_with_an_extra_key_fails() -> None:
    output = MOT(a=1.0)
    output["zzz"] = 2.0
    leaves, spec = pytree.tree_flatten(output)
    assert leaves == [1.0, 2.0]
    assert spec.context == ["a", "zzz"]
    message = "ModelOutputTest.__init__() got an unexpected keyword argument 'zzz'"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        pytree.tree_unflatten(leaves, spec)


def test_unflatten_without_the_required_field_fails() -> None:
    output = MOT(a=None, b=2.0)
    assert node_children(output) == ([2.0], ["b"])
    leaves, spec = pytree.tree_flatten(output)
    message = "ModelOutputTest.__init__() missing 1 required positional argument: 'a'"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        pytree.tree_unflatten(leaves, spec)


def test_flatten_base_class() -> None:
    output = ModelOutput(a=1.0, b=None)
    assert node_children(output) == ([1.0, None], ["a", "b"])
    leaves, spec = pytree.tree_flatten(output)
    assert spec.type is ModelOutput
    rebuilt = pytree.tree_unflatten(leaves, spec)
    assert type(rebuilt) is ModelOutput
    assert list(rebuilt.items()) == [("a", 1.0), ("b", None)]
    if sys.version_info < (3, 12):
        assert repr(rebuilt) == "ModelOutput([('a', 1.0), ('b', None)])"


def test_flatten_empty() -> None:
    output = Opt()
    assert node_children(output) == ([], [])
    leaves, spec = pytree.tree_flatten(output)
    assert leaves == []
    assert spec.type is Opt
    assert spec.context == []
    rebuilt = pytree.tree_unflatten(leaves, spec)
    assert_same_output(rebuilt, Opt())
    assert len(rebuilt) == 0


def test_flatten_nested() -> None:
    t1, t2, t3 = torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([3.0])
    output = MOT(a=t1, b=(t2, t3), c=Opt(b=3))
    leaves, spec = pytree.tree_flatten(output)
    assert len(leaves) == 4
    assert leaves[0] is t1 and leaves[1] is t2 and leaves[2] is t3 and leaves[3] == 3
    assert spec == pytree.TreeSpec(
        MOT,
        ["a", "b", "c"],
        [leaf(), pytree.TreeSpec(tuple, None, [leaf(), leaf()]), pytree.TreeSpec(Opt, ["b"], [leaf()])],
    )
    assert one_line(spec) == (
        "TreeSpec(ModelOutputTest, ['a', 'b', 'c'], [*, TreeSpec(tuple, None, [*, *]), TreeSpec(Opt, ['b'], [*])])"
    )
    rebuilt = pytree.tree_unflatten(leaves, spec)
    assert_same_output(rebuilt, output)


def test_treespec_print_and_equality() -> None:
    spec = pytree.tree_flatten(MOT(a=1.0, c=2.0))[1]
    assert one_line(spec) == "TreeSpec(ModelOutputTest, ['a', 'c'], [*, *])"
    assert spec == pytree.TreeSpec(MOT, ["a", "c"], [leaf(), leaf()])
    assert spec != pytree.TreeSpec(Opt, ["a", "c"], [leaf(), leaf()])
    assert spec != pytree.TreeSpec(dict, ["a", "c"], [leaf(), leaf()])


def test_tree_map() -> None:
    mapped = pytree.tree_map(lambda value: value + 1, MOT(a=1.0, c=2.0))
    assert_same_output(mapped, MOT(a=2.0, b=None, c=3.0))
    assert mapped == MOT(a=2.0, b=None, c=3.0)


def test_tree_map_tensors_keeps_class_and_attributes() -> None:
    output = BaseModelOutput(last_hidden_state=torch.ones(2), attentions=(torch.zeros(1), torch.ones(1)))
    mapped = pytree.tree_map(lambda value: value * 3, output)
    assert_same_output(
        mapped,
        BaseModelOutput(last_hidden_state=torch.full((2,), 3.0), attentions=(torch.zeros(1), torch.full((1,), 3.0))),
    )
    assert mapped.hidden_states is None


# --------------------------------------------------------------------------------------------------
# §9.3 treespec_dumps


def test_treespec_dumps_exact_format() -> None:
    spec = pytree.tree_flatten(ModelOutputTest(a=1.0, c=2.0))[1]
    expected = (
        '[1, {"type": "tests.torch_classes.ModelOutputTest", "context": "[\\"a\\", \\"c\\"]", "children_spec": '
        '[{"type": null, "context": null, "children_spec": []}, {"type": null, "context": null, "children_spec": []}]}]'
    )
    dumped = pytree.treespec_dumps(spec)
    assert dumped == expected
    assert json.loads(json.loads(dumped)[1]["context"]) == ["a", "c"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: MOT(a=1.0, c=2.0),
        lambda: MOT({"c": 3.0, "a": 1.0}),
        lambda: ModelOutput(a=1.0, b=None),
        lambda: Opt(),
        lambda: MOT(a=torch.ones(1), b=(torch.ones(1), torch.ones(1)), c=Opt(b=3)),
        lambda: [Child(a=1.0, d=2.0), {"k": BaseModelOutput(last_hidden_state=1.0)}],
    ],
    ids=["MOT", "insertion-order", "base", "empty", "nested", "in-containers"],
)
def test_treespec_loads_round_trip(make: Any) -> None:
    spec = pytree.tree_flatten(make())[1]
    loaded = pytree.treespec_loads(pytree.treespec_dumps(spec))
    assert loaded == spec
    assert one_line(loaded) == one_line(spec)


# --------------------------------------------------------------------------------------------------
# §9.4 flatten_with_keys


def test_tree_flatten_with_path() -> None:
    output = MOT(a=1.0, c=2.0)
    with_path, spec = pytree.tree_flatten_with_path(output)
    assert with_path == [((pytree.MappingKey(key="a"),), 1.0), ((pytree.MappingKey(key="c"),), 2.0)]
    assert spec == pytree.tree_flatten(output)[1]


def test_keystr_of_paths() -> None:
    with_path, _ = pytree.tree_flatten_with_path(MOT(a=1.0, c=(2.0, 3.0)))
    assert [pytree.keystr(path) for path, _ in with_path] == ["['a']", "['c'][0]", "['c'][1]"]
    assert [value for _, value in with_path] == [1.0, 2.0, 3.0]


def test_tree_map_with_path() -> None:
    mapped = pytree.tree_map_with_path(lambda path, value: pytree.keystr(path), ModelOutput(x=1, y=(2,)))
    assert type(mapped) is ModelOutput
    assert list(mapped.items()) == [("x", "['x']"), ("y", ("['y'][0]",))]


# --------------------------------------------------------------------------------------------------
# D5: lazy registration, in a fresh interpreter


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter with this process's implementation; return its stdout."""
    env = dict(os.environ)
    env["FASTOUTPUT_PURE_PYTHON"] = "1" if fastoutput.IMPLEMENTATION == "python" else "0"
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def test_lazy_registration_in_a_fresh_interpreter() -> None:
    out = run_python(
        f"""
        import dataclasses
        import sys
        import warnings
        from typing import Any

        warnings.simplefilter("error")
        import fastoutput
        from fastoutput import ModelOutput

        assert fastoutput.IMPLEMENTATION == {fastoutput.IMPLEMENTATION!r}, fastoutput.IMPLEMENTATION
        assert "torch" not in sys.modules, "import fastoutput imported torch"

        @dataclasses.dataclass
        class Early(ModelOutput):
            a: Any = None
            b: Any = None

        @dataclasses.dataclass
        class EarlyChild(Early):
            c: Any = None

        class EarlyPlain(ModelOutput):
            pass

        early = Early(a=1.0, b=2.0)  # an instance that exists before torch does
        base = ModelOutput(x=1.0)
        assert "torch" not in sys.modules, "declaring or building outputs imported torch"

        import torch
        from torch.utils import _pytree

        for cls in (ModelOutput, Early, EarlyChild, EarlyPlain):
            assert cls in _pytree.SUPPORTED_NODES, cls
            name = _pytree.SUPPORTED_SERIALIZED_TYPES[cls].serialized_type_name
            assert name == "__main__." + cls.__name__ or cls is ModelOutput, name

        @dataclasses.dataclass
        class Late(ModelOutput):
            a: Any = None

        assert Late in _pytree.SUPPORTED_NODES, "a class declared after torch waits"

        leaves, spec = _pytree.tree_flatten([early, base, EarlyChild(c=3.0), Late(a=4.0)])
        assert leaves == [1.0, 2.0, 1.0, 3.0, 4.0], leaves
        rebuilt = _pytree.tree_unflatten(leaves, spec)
        assert [type(item) for item in rebuilt] == [Early, ModelOutput, EarlyChild, Late]
        assert list(rebuilt[0].keys()) == ["a", "b"]
        paths = [_pytree.keystr(path) for path, _ in _pytree.tree_flatten_with_path(early)[0]]
        assert paths == ["['a']", "['b']"], paths
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_registration_when_torch_is_imported_first() -> None:
    out = run_python(
        """
        import dataclasses
        import sys
        from typing import Any

        import torch.utils._pytree as _pytree  # torch first
        import fastoutput
        from fastoutput import ModelOutput

        assert ModelOutput in _pytree.SUPPORTED_NODES

        @dataclasses.dataclass
        class Out(ModelOutput):
            a: Any = None

        assert Out in _pytree.SUPPORTED_NODES
        assert _pytree.tree_flatten(Out(a=1.0))[0] == [1.0]
        print("ok")
        """
    )
    assert out.strip() == "ok"
