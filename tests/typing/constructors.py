"""Checked by mypy in tests/test_typing.py, never run: what a type checker must accept and reject."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from fastoutput import ModelOutput
from fastoutput.modeling_outputs import BaseModelOutput, CausalLMOutputWithPast


@dataclass
class MyOutput(ModelOutput):
    logits: Optional[float] = None
    extra: Optional[str] = None


mine = MyOutput(logits=1.0, extra="x")
positional = MyOutput(1.0)
logits: Optional[float] = mine.logits
as_tuple: tuple[object, ...] = mine.to_tuple()
built = CausalLMOutputWithPast(logits=None, past_key_values=None)
hidden = BaseModelOutput(last_hidden_state=None).last_hidden_state

MyOutput(logits="wrong type")  # E: arg-type
MyOutput(unknown=1)  # E: call-arg
