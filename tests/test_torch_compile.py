"""torch.compile (Dynamo) over output classes (spec §10).

Every case compiles with ``fullgraph=True`` and a frame/op counting backend, so a graph break fails
the test; the result (class, keys and their order, attributes, tensor values) and any mutation of the
inputs must equal eager execution. A second call with fresh inputs must reuse the graph.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable
from typing import Any, Optional

import pytest
import torch
import torch._dynamo
from torch._dynamo.testing import CompileCounter

import fastoutput
from fastoutput import ModelOutput
from tests.torch_classes import (
    MOT,
    BaseModelOutput,
    CausalLMOutputWithPast,
    Child,
    Opt,
    assert_same_output,
    assert_same_value,
)


pytestmark = pytest.mark.usefixtures("fresh_dynamo")


def tensors(count: int = 2, size: int = 3) -> list[torch.Tensor]:
    """Deterministic, distinct float tensors."""
    return [torch.arange(size, dtype=torch.float32) * (index + 1) + index for index in range(count)]


def check(
    fn: Callable[..., Any],
    make_args: Callable[[], tuple[Any, ...]],
    *,
    ops: int | None = None,
    frames: int = 1,
) -> Any:
    """Compile ``fn`` in one graph; compare result and mutated inputs with eager; return the result.

    The compiled function runs first, so a class declared by the test meets Dynamo before it has
    been used eagerly (unless ``make_args`` builds one).
    """
    counter = CompileCounter()
    compiled = torch.compile(fn, backend=counter, fullgraph=True)
    compiled_args = make_args()
    actual = compiled(*compiled_args)
    assert counter.frame_count == frames
    if ops is not None:
        assert counter.op_count == ops
    eager_args = make_args()
    expected = fn(*eager_args)
    assert_same_value(actual, expected)
    assert_same_value(list(compiled_args), list(eager_args))  # the same mutations of the inputs
    # Fresh inputs of the same kind: same result, and no recompilation.
    assert_same_value(compiled(*make_args()), fn(*make_args()))
    assert counter.frame_count == frames
    return actual


def one_tensor() -> tuple[torch.Tensor]:
    return (tensors(1)[0],)


def two_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    first, second = tensors(2)
    return first, second


def an_output() -> tuple[BaseModelOutput]:
    first, second = tensors(2)
    return (BaseModelOutput(last_hidden_state=first, attentions=(second,)),)


# --------------------------------------------------------------------------------------------------
# Construction inside the graph


def test_construct_with_keywords() -> None:
    def fn(x: torch.Tensor) -> Any:
        return BaseModelOutput(last_hidden_state=x + 1, attentions=(x * 2, x - 1))

    out = check(fn, one_tensor, ops=3)
    assert list(out.keys()) == ["last_hidden_state", "attentions"]
    assert out.hidden_states is None


def test_construct_with_positional_first_field_and_keyword() -> None:
    def fn(x: torch.Tensor) -> Any:
        return CausalLMOutputWithPast(x.sum(), x + 1, hidden_states=(x,))

    out = check(fn, one_tensor, ops=2)
    assert list(out.keys()) == ["loss", "logits", "hidden_states"]


def test_construct_with_first_field_dict_expansion() -> None:
    def fn(x: torch.Tensor) -> Any:
        return BaseModelOutput({"attentions": (x + 1,), "last_hidden_state": x * 2})

    out = check(fn, one_tensor, ops=2)
    assert list(out.keys()) == ["attentions", "last_hidden_state"]  # the dict's order
    assert isinstance(out.last_hidden_state, torch.Tensor)


def test_construct_with_first_field_pairs() -> None:
    def fn(x: torch.Tensor) -> Any:
        return MOT([("c", x + 1), ("a", x)]), Opt((("b", x * 2),))

    from_list, from_tuple = check(fn, one_tensor, ops=2)
    assert list(from_list.keys()) == ["c", "a"]
    assert list(from_tuple.keys()) == ["b"]


def test_construct_with_first_field_extra_keys_read_in_graph() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = BaseModelOutput({"target_size": x * 3, "last_hidden_state": x})
        return list(out.keys()), out.target_size, out["target_size"], out.last_hidden_state

    keys, attribute, item, _ = check(fn, one_tensor, ops=1)
    assert keys == ["target_size", "last_hidden_state"]
    assert torch.equal(attribute, item)


def test_construct_first_field_not_expanded() -> None:
    def fn(x: torch.Tensor) -> Any:
        tensor_first = MOT(x + 1)  # a tensor is stored as is
        with_other = BaseModelOutput({"a": x}, hidden_states=(x,))  # another field set: no expansion
        not_pairs = Opt([x, x])  # first element is no (str, value) pair
        return tensor_first, with_other, not_pairs

    tensor_first, with_other, not_pairs = check(fn, one_tensor, ops=1)
    assert list(tensor_first.keys()) == ["a"]
    assert list(with_other.keys()) == ["last_hidden_state", "hidden_states"]
    assert type(with_other.last_hidden_state) is dict
    assert type(not_pairs.a) is list


def test_construct_base_class() -> None:
    def fn(x: torch.Tensor) -> Any:
        by_keyword = ModelOutput(a=x + 1, b=None, c=x)
        by_dict = ModelOutput({"z": x * 2, "y": x})
        by_pairs = ModelOutput([("p", x)])
        empty = ModelOutput()
        return by_keyword, by_dict, by_pairs, empty

    by_keyword, by_dict, by_pairs, empty = check(fn, one_tensor, ops=2)
    assert list(by_keyword.keys()) == ["a", "b", "c"]  # the base keeps None values
    assert by_keyword["b"] is None
    assert list(by_dict.keys()) == ["z", "y"]
    assert list(by_pairs.keys()) == ["p"]
    assert len(empty) == 0


def test_construct_required_first_field_and_subclass() -> None:
    def fn(x: torch.Tensor) -> Any:
        return MOT(a=x, c=x + 1), Child(x, d=x * 2), Opt(b=x)

    mot, child, opt = check(fn, one_tensor, ops=2)
    assert list(mot.keys()) == ["a", "c"]
    assert list(child.keys()) == ["a", "d"]
    assert list(opt.keys()) == ["b"]


def test_construct_nested_outputs() -> None:
    def fn(x: torch.Tensor) -> Any:
        inner = Opt(a=x + 1)
        return MOT(a=inner, b=(inner, x))

    out = check(fn, one_tensor, ops=1)
    assert type(out.a) is Opt
    assert out.b[0] is out.a


# --------------------------------------------------------------------------------------------------
# Reading


def test_attribute_reads() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = BaseModelOutput(last_hidden_state=x + 1, attentions=(x,))
        total = out.last_hidden_state * 2 + out.attentions[0]
        if out.hidden_states is None:
            total = total - 1
        return total

    check(fn, one_tensor, ops=4)


def test_getattr_missing_with_default() -> None:
    def fn(out: BaseModelOutput) -> Any:
        built = Opt(a=out.last_hidden_state)
        missing = getattr(out, "missing", None)
        also_missing = getattr(built, "nope", None)
        if missing is None and also_missing is None:
            return built.a + 1
        return built.a - 1

    check(fn, an_output, ops=1)


def test_item_access_by_key_index_and_slice() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = CausalLMOutputWithPast(loss=x.sum(), logits=x + 1, attentions=(x,))
        return (
            out["logits"],
            out[0],
            out[1],
            out[-1],
            out[-2],
            out[1:],
            out[:2],
            out[::-1],
            out[5:],
        )

    result = check(fn, one_tensor, ops=2)
    assert result[-1] == ()
    assert type(result[5]) is tuple


def test_item_access_on_an_input() -> None:
    def fn(out: BaseModelOutput) -> Any:
        return out["last_hidden_state"] * 10 + out[0] + out[-1][0] + out[1:][0][0]

    check(fn, an_output, ops=4)


def test_membership_len_keys_and_iteration() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = BaseModelOutput(last_hidden_state=x, attentions=(x + 1,))
        return (
            "last_hidden_state" in out,
            "hidden_states" in out,
            "zzz" in out,
            len(out),
            list(out.keys()),
            [key for key in out],
            list(out.values())[0] * 2,
            [key for key, _ in out.items()],
        )

    result = check(fn, one_tensor, ops=2)
    keys = ["last_hidden_state", "attentions"]
    assert result[:6] == (True, False, False, 2, keys, keys)


def test_membership_len_keys_on_an_input() -> None:
    def fn(out: BaseModelOutput) -> Any:
        keys = list(out.keys())
        scale = len(out) + ("attentions" in out) + ("hidden_states" in out)
        return keys, [key for key in out], out.last_hidden_state * scale

    keys, iterated, _ = check(fn, an_output, ops=1)
    assert keys == iterated == ["last_hidden_state", "attentions"]


def test_to_tuple() -> None:
    def fn(x: torch.Tensor, out: BaseModelOutput) -> Any:
        built = CausalLMOutputWithPast(logits=x * 2, hidden_states=(x,))
        logits, hidden = built.to_tuple()
        first, attentions = out.to_tuple()
        return built.to_tuple(), logits + hidden[0] + first + attentions[0]

    def make() -> tuple[Any, ...]:
        return one_tensor()[0], an_output()[0]

    as_tuple, _ = check(fn, make, ops=4)
    assert type(as_tuple) is tuple and len(as_tuple) == 2


def test_dataclasses_fields() -> None:
    def fn(out: BaseModelOutput) -> Any:
        built = CausalLMOutputWithPast(logits=out.last_hidden_state + 1)
        names = tuple(field.name for field in dataclasses.fields(built))
        defaults = [field.default for field in dataclasses.fields(out)]
        return names, defaults, dataclasses.is_dataclass(built), built.logits

    names, defaults, is_dc, _ = check(fn, an_output, ops=1)
    assert names == ("loss", "logits", "past_key_values", "hidden_states", "attentions")
    assert defaults == [None, None, None]
    assert is_dc is True


# --------------------------------------------------------------------------------------------------
# Writing


def test_setattr_of_unset_field_appends_key() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = BaseModelOutput(last_hidden_state=x)
        out.attentions = (x * 2,)  # 5.x: a field that was None becomes a key, at the end
        out.hidden_states = None  # None never adds a key
        out.last_hidden_state = x + 1  # an existing key is updated in place
        return out

    out = check(fn, one_tensor, ops=2)
    assert list(out.keys()) == ["last_hidden_state", "attentions"]
    assert out.to_tuple()[1] is out.attentions


def test_setattr_none_keeps_key() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = MOT(a=x, c=x + 1)
        out.c = None  # the attribute becomes None, the key keeps its value
        return out, out.c is None, out["c"]

    out, c_is_none, c_item = check(fn, one_tensor, ops=1)
    assert c_is_none is True
    assert list(out.keys()) == ["a", "c"]
    assert out.c is None
    assert torch.equal(c_item, one_tensor()[0] + 1)


def test_setattr_of_non_field_and_extra_key_rules_in_graph() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = MOT(a=x)
        out.extra = x + 1  # not a field: attribute only
        out["zzz"] = x * 2  # a new key is also an attribute
        out.zzz = x * 3  # 5.x: the key keeps its value, only the attribute changes
        return list(out.keys()), "extra" in out, out.extra, out["zzz"], out.zzz

    keys, has_extra, _, zzz_item, zzz_attr = check(fn, one_tensor, ops=3)
    assert keys == ["a", "zzz"]
    assert has_extra is False
    assert torch.equal(zzz_item, one_tensor()[0] * 2)
    assert torch.equal(zzz_attr, one_tensor()[0] * 3)


def test_setitem_after_construction() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = BaseModelOutput(last_hidden_state=x)
        out["hidden_states"] = (x + 1,)  # a field: key appended, attribute set
        out["last_hidden_state"] = x * 2  # existing key: value and attribute
        out["custom"] = x - 1  # not a field: key, and an attribute (read in the graph)
        return list(out.keys()), out.hidden_states[0], out.last_hidden_state, out.custom

    keys, _, _, _ = check(fn, one_tensor, ops=3)
    assert keys == ["last_hidden_state", "hidden_states", "custom"]


def test_setitem_of_fields_returns_output() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = BaseModelOutput(last_hidden_state=x)
        out["hidden_states"] = (x + 1,)
        out["last_hidden_state"] = x * 2
        return out

    out = check(fn, one_tensor, ops=2)
    assert list(out.keys()) == ["last_hidden_state", "hidden_states"]
    assert out.hidden_states is out["hidden_states"]


def test_setattr_on_base_instance_follows_4_57() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = ModelOutput(a=x)
        out.a = x + 1  # existing key updated (D6)
        out.z = x * 2  # not a key: attribute only
        return out, out.z

    out, _ = check(fn, one_tensor, ops=2)
    assert list(out.keys()) == ["a"]


def test_mutating_an_input_output() -> None:
    def fn(out: BaseModelOutput) -> Any:
        out.hidden_states = (out.last_hidden_state + 1,)
        out["last_hidden_state"] = out.last_hidden_state * 2
        out.attentions = None
        return out.last_hidden_state.sum()

    check(fn, an_output, ops=3)


def test_returning_a_mutated_input_and_a_new_output() -> None:
    def fn(out: BaseModelOutput, x: torch.Tensor) -> Any:
        out.hidden_states = (x,)
        new = CausalLMOutputWithPast(logits=out.last_hidden_state + x, hidden_states=out.hidden_states)
        return out, new

    def make() -> tuple[Any, ...]:
        return an_output()[0], one_tensor()[0]

    returned_input, new = check(fn, make, ops=1)
    assert list(returned_input.keys()) == ["last_hidden_state", "attentions", "hidden_states"]
    assert list(new.keys()) == ["logits", "hidden_states"]


def test_output_in_containers_in_and_out() -> None:
    def fn(batch: dict[str, Any]) -> Any:
        out = batch["out"]
        return [Opt(a=out[0] + batch["x"]), {"nested": MOT(a=out.attentions[0])}]

    def make() -> tuple[Any, ...]:
        return ({"out": an_output()[0], "x": one_tensor()[0]},)

    check(fn, make, ops=1)


def test_user_subclass_with_post_init() -> None:
    @dataclasses.dataclass
    class WithPostInit(ModelOutput):
        logits: Optional[torch.Tensor] = None
        scaled: Optional[torch.Tensor] = None

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.logits is not None and self.scaled is None:
                self.scaled = self.logits * 2

    def fn(x: torch.Tensor) -> Any:
        return WithPostInit(logits=x)

    out = check(fn, one_tensor, ops=1)
    assert list(out.keys()) == ["logits", "scaled"]


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda x: BaseModelOutput(last_hidden_state=x + 1), id="tensor-first"),
        pytest.param(lambda x: BaseModelOutput(attentions=(x + 1,)), id="other-field"),
        pytest.param(lambda x: ModelOutput(a=x + 1), id="base-class"),
        pytest.param(lambda x: BaseModelOutput(last_hidden_state=x + 1, attentions=(x,)), id="two-fields"),
        pytest.param(
            lambda x: BaseModelOutput({"last_hidden_state": x + 1}), id="dict-first"
        ),
        pytest.param(lambda x: MOT(a=(x + 1,)), id="tuple-first"),
        pytest.param(lambda x: MOT([("a", x + 1)]), id="pairs-first"),
        pytest.param(lambda x: (Opt(a=3), x + 1), id="int-first"),
    ],
)
def test_unrelated_import_does_not_recompile(build: Callable[[torch.Tensor], Any]) -> None:
    """A later import anywhere does not invalidate a graph that builds outputs (the first-field
    tensor test reads sys.modules eagerly; Dynamo traces a stand-in instead)."""
    counter = CompileCounter()
    compiled = torch.compile(build, backend=counter, fullgraph=True)
    x = one_tensor()[0]
    compiled(x)
    compiled(x)  # the first call may import modules itself
    assert counter.frame_count in (1, 2)
    frames = counter.frame_count
    name = "tests._torch_compile_unrelated_module"
    sys.modules[name] = types.ModuleType(name)  # what any later `import` does
    try:
        assert_same_value(compiled(x), build(x))
    finally:
        del sys.modules[name]
    assert counter.frame_count == frames


def test_input_whose_keys_change_recompiles_once() -> None:
    counter = CompileCounter()

    @torch.compile(backend=counter, fullgraph=True)
    def fn(out: BaseModelOutput) -> Any:
        return out[-1] if isinstance(out[-1], torch.Tensor) else out[0]

    x = one_tensor()[0]
    assert torch.equal(fn(BaseModelOutput(last_hidden_state=x)), x)
    assert torch.equal(fn(BaseModelOutput(last_hidden_state=x + 1)), x + 1)
    assert counter.frame_count == 1
    with_more = BaseModelOutput(last_hidden_state=x)
    with_more["custom"] = x * 5
    assert torch.equal(fn(with_more), x * 5)
    assert counter.frame_count == 2


# --------------------------------------------------------------------------------------------------
# Attributes that are not fields (extra keys of the first-field rule, ``out.extra = v``,
# ``out["key"] = v``) must survive the graph: Dynamo replays them on the real object through
# ``object.__getattribute__(obj, "__dict__")[name] = value``, so ``vars(out)`` must write through
# (the C++ core's synthesised ``__dict__`` once returned a snapshot and these attributes were lost).


def test_extra_key_from_first_field_survives_the_graph() -> None:
    def fn(x: torch.Tensor) -> Any:
        return BaseModelOutput({"target_size": x * 3, "last_hidden_state": x})

    out = check(fn, one_tensor, ops=1)
    assert list(out.keys()) == ["target_size", "last_hidden_state"]
    assert torch.equal(out.target_size, one_tensor()[0] * 3)


def test_extra_attribute_of_new_output_survives_the_graph() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = MOT(a=x)
        out.extra = x + 1
        out["zzz"] = x * 2
        out.zzz = x * 3
        return out

    out = check(fn, one_tensor, ops=3)
    assert list(out.keys()) == ["a", "zzz"]
    assert torch.equal(out.extra, one_tensor()[0] + 1)
    assert torch.equal(out["zzz"], one_tensor()[0] * 2)
    assert torch.equal(out.zzz, one_tensor()[0] * 3)


def test_extra_attribute_of_input_output_survives_the_graph() -> None:
    def fn(out: BaseModelOutput) -> Any:
        out["custom"] = out.last_hidden_state - 1
        out.note = out.last_hidden_state * 2
        return out.last_hidden_state + 1

    def make() -> tuple[BaseModelOutput]:
        return an_output()

    check(fn, make, ops=3)
    out = make()[0]
    torch.compile(fn, backend="eager", fullgraph=True)(out)
    assert list(out.keys()) == ["last_hidden_state", "attentions", "custom"]
    assert torch.equal(out.custom, out["custom"])
    assert hasattr(out, "note")


def test_extra_attribute_of_base_subclass_with_fields_survives_the_graph() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = Opt(b=x)
        out["other"] = x + 1
        return out

    out = check(fn, one_tensor, ops=1)
    assert torch.equal(out.other, one_tensor()[0] + 1)


def test_extra_attribute_of_base_instance_survives_the_graph() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = ModelOutput(a=x)
        out["b"] = x + 1
        out.c = x * 2
        return out

    out = check(fn, one_tensor, ops=2)
    assert list(out.keys()) == ["a", "b"]
    assert torch.equal(out.c, one_tensor()[0] * 2)


# --------------------------------------------------------------------------------------------------
# The behaviours of PyTorch's test/dynamo/test_model_output.py, on fastoutput classes


def _mo_input() -> tuple[BaseModelOutput]:
    first, second = tensors(2, size=10)
    return (BaseModelOutput(last_hidden_state=first, attentions=second),)


def test_mo_create() -> None:
    def fn(a: torch.Tensor, b: torch.Tensor) -> Any:
        return BaseModelOutput(a + 1, attentions=b + 3)

    out = check(fn, two_tensors, ops=2)
    assert list(out.keys()) == ["last_hidden_state", "attentions"]


def test_mo_assign() -> None:
    def fn(a: torch.Tensor, b: torch.Tensor) -> Any:
        out = BaseModelOutput(last_hidden_state=b + 3)
        out.hidden_states = a + 7
        out["attentions"] = a + b + 6
        return out

    out = check(fn, two_tensors, ops=4)
    assert list(out.keys()) == ["last_hidden_state", "hidden_states", "attentions"]


def test_mo_getattr() -> None:
    def fn(out: BaseModelOutput) -> Any:
        result = out.last_hidden_state * 10
        if out.hidden_states is not None:
            result += out.hidden_states
        if out.attentions is not None:
            result += out.attentions
        return result

    check(fn, _mo_input, ops=2)


def test_mo_getattr_missing() -> None:
    def fn(out: BaseModelOutput) -> Any:
        if getattr(out, "asdf", None) is not None:
            out.asdf += 1
        return out.attentions + 1

    check(fn, _mo_input, ops=1)


def test_mo_getitem() -> None:
    def fn(out: BaseModelOutput) -> Any:
        result = out["last_hidden_state"] * 10
        if "hidden_stats" in out:  # sic: a key that is never there
            result += out["hidden_states"]
        if "attentions" in out:
            result += out["attentions"]
        return result

    check(fn, _mo_input, ops=2)


def test_mo_tuple() -> None:
    def fn(out: BaseModelOutput) -> Any:
        first, second = out.to_tuple()
        return first + second * 10

    check(fn, _mo_input, ops=2)


def test_mo_index() -> None:
    def fn(out: BaseModelOutput) -> Any:
        return out[0] * 10 + out[1]

    check(fn, _mo_input, ops=2)


def test_mo_init() -> None:
    @dataclasses.dataclass
    class FiveFields(ModelOutput):
        a: torch.Tensor
        b: Optional[torch.Tensor] = None
        c: Optional[torch.Tensor] = None
        d: Optional[torch.Tensor] = None
        e: Optional[torch.Tensor] = None

    def fn(out: FiveFields) -> Any:
        class_fields = dataclasses.fields(out)
        assert len(class_fields)
        assert all(field.default is None for field in class_fields[1:])
        assert not all(getattr(out, field.name) is None for field in class_fields[1:])
        total = getattr(out, class_fields[0].name)
        for field in class_fields[1:]:
            value = getattr(out, field.name)
            if value is not None:
                total += value  # in place, on the input's first tensor
        return total

    def make() -> tuple[FiveFields]:
        return (FiveFields(*tensors(3, size=10)),)

    check(fn, make, ops=2)


def test_mo_init2() -> None:
    @dataclasses.dataclass
    class OneField(ModelOutput):
        x: Optional[torch.Tensor] = None

    def fn(x: torch.Tensor) -> Any:
        return OneField(x=x)

    # no tensor op: Dynamo calls no backend (fullgraph=True still rules out a graph break)
    out = check(fn, lambda: (torch.ones(3, 3),), frames=0)
    assert list(out.keys()) == ["x"]


def test_mo_init_with_disable() -> None:
    @dataclasses.dataclass
    class OneField(ModelOutput):
        x: Optional[torch.Tensor] = None

    @torch._dynamo.disable(recursive=False)
    def fn(x: torch.Tensor) -> Any:
        return OneField(x=x)

    counter = CompileCounter()
    compiled = torch.compile(fn, backend=counter)
    x = torch.randn(3, 3)
    result = compiled(x)
    assert_same_output(result, fn(x))
    assert result.x is x


def test_mo_newkey() -> None:
    def fn(out: BaseModelOutput) -> Any:
        return out["wwww"] + 1

    def make() -> tuple[BaseModelOutput]:
        out = BaseModelOutput()
        out["wwww"] = torch.ones(3, 3)
        return (out,)

    check(fn, make, ops=1)


def test_mo_from_outside() -> None:
    def fn(out: BaseModelOutput) -> Any:
        return out.attentions + 1

    check(fn, lambda: (BaseModelOutput(attentions=torch.ones(3, 3)),), ops=1)


def test_mo_reconstruct_bytecode() -> None:
    def fn(x: torch.Tensor) -> Any:
        return BaseModelOutput(attentions=x + 1)

    out = check(fn, lambda: (torch.ones(3, 3),), ops=1)
    assert list(out.keys()) == ["attentions"]


def test_none() -> None:
    class Model(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> Any:
            x = x + 1
            return CausalLMOutputWithPast(loss=None, logits=x)[0]

    model = Model()
    counter = CompileCounter()
    compiled = torch.compile(model, backend=counter, fullgraph=True)
    x = torch.randn(1, 1, 1, 1)
    torch.testing.assert_close(compiled(x), model(x), rtol=0, atol=0)
    assert counter.frame_count == 1
    assert counter.op_count == 1


def test_reconstruction() -> None:
    class Model(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> Any:
            x = x + 1
            return CausalLMOutputWithPast(loss=x, logits=None)

    model = Model()
    x = torch.randn(1, 1, 1, 1)
    exported = torch._dynamo.export(Model(), aten_graph=True)(x)
    result = exported.graph_module(x)
    assert_same_output(result, model(x))
    assert list(result.keys()) == ["loss"]


# --------------------------------------------------------------------------------------------------
# The default backend (inductor, which compiles C++ on CPU): one small case


def test_inductor_backend() -> None:
    def fn(x: torch.Tensor) -> Any:
        out = BaseModelOutput(last_hidden_state=x * 2)
        out.attentions = (x + 1,)
        out["hidden_states"] = (out[0].sin(),)
        return out

    x = torch.arange(4, dtype=torch.float32)
    compiled = torch.compile(fn, fullgraph=True)
    result = compiled(x)
    expected = fn(x)
    assert type(result) is BaseModelOutput
    assert list(result.keys()) == ["last_hidden_state", "attentions", "hidden_states"]
    assert_same_value(result.to_tuple(), expected.to_tuple())
    assert result.hidden_states is result["hidden_states"]


# --------------------------------------------------------------------------------------------------
# Lazy hooks: classes declared before torch (and torch._dynamo) were imported, in a fresh interpreter

_LAZY_PRELUDE = {
    "fastoutput-then-torch": "import fastoutput\nfrom fastoutput import ModelOutput\n{declare}\nimport torch\n",
    "torch-then-fastoutput": "import torch\nimport fastoutput\nfrom fastoutput import ModelOutput\n{declare}\n",
    "dynamo-then-fastoutput": (
        "import torch\nimport torch._dynamo\nimport fastoutput\nfrom fastoutput import ModelOutput\n{declare}\n"
    ),
}

_LAZY_DECLARE = """
import dataclasses
import sys
from typing import Any
early_torch = "torch" in sys.modules

@dataclasses.dataclass
class Early(ModelOutput):
    logits: Any = None
    hidden_states: Any = None
    attentions: Any = None
"""

_LAZY_BODY = """
import sys
import torch._dynamo
from torch._dynamo.testing import CompileCounter

def fn(x, given):
    out = Early(logits=x + 1)
    out.attentions = (x * 2,)
    out["hidden_states"] = (x - 1,)
    given.hidden_states = (given.logits * 3,)
    base = ModelOutput({"p": x})
    return out, out.to_tuple(), out[-1], out[1:], base, given[0] + len(given)

def make():
    return torch.arange(3.0), Early(torch.ones(3))

counter = CompileCounter()
compiled = torch.compile(fn, backend=counter, fullgraph=True)
expected = fn(*make())
args = make()
actual = compiled(*args)
assert counter.frame_count == 1, counter.frame_count

def same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(b, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(b, dict):
        assert list(a) == list(b), (list(a), list(b))
        assert sorted(vars(a)) == sorted(vars(b)), (vars(a), vars(b))
        for key in b:
            same(a[key], b[key])
        for key in vars(b):
            same(getattr(a, key), getattr(b, key))
    elif isinstance(b, (tuple, list)):
        assert len(a) == len(b)
        for left, right in zip(a, b):
            same(left, right)
    else:
        assert a == b, (a, b)

same(actual, expected)
same(args[1], make()[1].__class__(torch.ones(3), hidden_states=(torch.ones(3) * 3,)))
print("torch-before-declaration" if early_torch else "declared-before-torch", fastoutput.IMPLEMENTATION)
"""


@pytest.mark.parametrize("order", list(_LAZY_PRELUDE))
def test_compile_in_fresh_interpreter(order: str) -> None:
    code = _LAZY_PRELUDE[order].format(declare=_LAZY_DECLARE) + textwrap.dedent(_LAZY_BODY)
    env = dict(os.environ)
    env["FASTOUTPUT_PURE_PYTHON"] = "1" if fastoutput.IMPLEMENTATION == "python" else "0"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    expected_order = "declared-before-torch" if order == "fastoutput-then-torch" else "torch-before-declaration"
    assert result.stdout.split() == [expected_order, fastoutput.IMPLEMENTATION]


def test_class_with_its_own_to_tuple() -> None:
    from fastoutput.modeling_outputs import BaseModelOutputWithPooling, MultimodalBaseModelOutputWithPast

    def fn(x: torch.Tensor) -> Any:
        image = BaseModelOutputWithPooling(last_hidden_state=x * 2, pooler_output=x + 1)
        out = MultimodalBaseModelOutputWithPast(last_hidden_state=x, image_outputs=image)
        return out, out.to_tuple(), out[-1], out[0], len(out)

    out, as_tuple, last, first, size = check(fn, one_tensor, ops=2)
    assert list(out.keys()) == ["last_hidden_state", "image_outputs"]
    assert type(as_tuple[1]) is tuple and len(as_tuple[1]) == 2  # the nested output as a tuple
    assert type(last) is tuple
    assert size == 2
