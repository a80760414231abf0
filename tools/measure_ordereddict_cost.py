"""Measures what an OrderedDict base would add to construction (docs/compatibility.md, first entry).

Run: python tools/measure_ordereddict_cost.py (needs fastoutput installed). Compares filling a fresh
OrderedDict subclass and a fresh dict subclass with the two keys a decode step stores, through the same
unbound-method calls, and relates the difference to one fastoutput construction.
"""
import timeit, dataclasses, statistics
from collections import OrderedDict
from typing import Optional
from fastoutput import ModelOutput

class OD(OrderedDict): pass
class D(dict): pass
t, p = object(), object()
od_set, d_set = OrderedDict.__setitem__, dict.__setitem__
od_new, d_new = OD.__new__, D.__new__

def with_odict():
    o = od_new(OD); od_set(o, "logits", t); od_set(o, "past_key_values", p)
def with_dict():
    o = d_new(D); d_set(o, "logits", t); d_set(o, "past_key_values", p)

@dataclasses.dataclass
class F(ModelOutput):
    loss: Optional[object] = None
    logits: Optional[object] = None
    past_key_values: Optional[object] = None
    hidden_states: Optional[object] = None
    attentions: Optional[object] = None
def ours():
    F(logits=t, past_key_values=p)

n = 200_000
res = {f.__name__: [] for f in (with_odict, with_dict, ours)}
for _ in range(9):
    for f in (with_odict, with_dict, ours):
        res[f.__name__].append(timeit.timeit(f, number=n) / n * 1e9)
med = {k: statistics.median(v) for k, v in res.items()}
extra = med["with_odict"] - med["with_dict"]
print({k: round(v, 1) for k, v in med.items()})
print(f"OrderedDict extra per construction: {extra:.1f} ns = {100*extra/med['ours']:.0f}% of fastoutput's construction ({med['ours']:.1f} ns)")
