// Pickling and copying: __reduce__, __setstate__ and __copy__.
//
// The reduction is transformers': (class, field attributes in field order, attribute dict or None,
// None, iterator over the items). Loading calls the class, replays the items through item set and
// applies the state; copy applies the state first, then the items. __copy__ takes a shortcut when the
// two stores agree (the dict part is exactly the fields that are not None, in field order, with the
// same objects, and there are no extra attributes): then the copy is simply a construction from the
// field values. Otherwise it follows the reduce protocol, as copy.copy would.
#include "output_meta.h"

#include <vector>  // std::vector

namespace fastoutput {

namespace {

PyObject* getstate_name() {  // borrowed
    static PyObject* const name = PyUnicode_InternFromString("__getstate__");
    return name;
}

// True if the class says what its state is (a __getstate__ other than object's, as
// @dataclass(frozen=True, slots=True) adds for its own __setstate__); -1 on error.
int defines_getstate(PyTypeObject* type) {
    PyObject* name = getstate_name();
    if (name == nullptr) {
        return -1;
    }
    PyObject* own = _PyType_Lookup(type, name);                       // borrowed
    PyObject* object_default = _PyType_Lookup(&PyBaseObject_Type, name);  // borrowed; null before 3.11
    return own != nullptr && own != object_default;
}

// The pickled state: what the class's own __getstate__ returns, or else the attributes as a new dict
// (fields first, then extras), or None when there are none.
PyObject* state_of(PyObject* self) {
    const int custom = defines_getstate(Py_TYPE(self));
    if (custom != 0) {
        return custom < 0 ? nullptr : call_method(self, getstate_name());
    }
    PyObject* attributes = attributes_snapshot(self);
    if (attributes != nullptr && PyDict_GET_SIZE(attributes) == 0) {
        Py_DECREF(attributes);
        Py_RETURN_NONE;
    }
    return attributes;
}

PyObject* field_values(PyObject* self, const ClassLayout& layout) {
    // getattr may run Python code that rebuilds the table: read the fields listed when it started.
    std::vector<PyObject*> names;
    for (const Field& field : layout.fields) {
        names.push_back(Py_NewRef(field.name));
    }
    PyObject* values = PyTuple_New(static_cast<Py_ssize_t>(names.size()));
    for (std::size_t i = 0; values != nullptr && i < names.size(); ++i) {
        PyObject* value = PyObject_GetAttr(self, names[i]);
        if (value == nullptr) {
            Py_CLEAR(values);
        } else {
            PyTuple_SET_ITEM(values, static_cast<Py_ssize_t>(i), value);
        }
    }
    for (PyObject* name : names) {
        Py_DECREF(name);
    }
    return values;
}

PyObject* reduce(PyObject* self, PyObject* /*unused*/) {
    ClassLayout* layout = ready_layout(Py_TYPE(self));
    if (layout == nullptr) {
        return nullptr;
    }
    PyObject* state = state_of(self);
    static PyObject* const items_name = PyUnicode_InternFromString("items");
    PyObject* items = state == nullptr ? nullptr : call_method(self, items_name);
    PyObject* item_iterator = items == nullptr ? nullptr : PyObject_GetIter(items);
    Py_XDECREF(items);
    PyObject* args = nullptr;
    if (item_iterator != nullptr) {
        args = layout->is_dataclass ? field_values(self, *layout) : PyTuple_New(0);
    }
    if (args == nullptr) {
        Py_XDECREF(state);
        Py_XDECREF(item_iterator);
        return nullptr;
    }
    return Py_BuildValue("(ONNON)", reinterpret_cast<PyObject*>(Py_TYPE(self)), args, state, Py_None, item_iterator);
}

PyObject* setstate(PyObject* self, PyObject* state) {
    PyObject* items = PyMapping_Items(state);
    if (items == nullptr) {
        return nullptr;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); ++i) {
        PyObject* pair = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            PyObject_GenericSetAttr(self, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1)) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "state items must be (name, value) pairs");
            }
            Py_DECREF(items);
            return nullptr;
        }
    }
    Py_DECREF(items);
    Py_RETURN_NONE;
}

// True if `self` looks exactly as constructing it from its field values would leave it.
bool stores_agree(PyObject* self, const ClassLayout& layout) {
    PyObject* extras = *extras_slot(self);
    if (extras != nullptr && PyDict_GET_SIZE(extras) != 0) {
        return false;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    bool others_unset = true;
    for (std::size_t i = 0; i < layout.fields.size(); ++i) {
        PyObject* field_value = *slot_of(self, layout.fields[i]);
        if (field_value == nullptr) {
            return false;
        }
        if (field_value == Py_None) {
            continue;
        }
        others_unset = others_unset && i == 0;
        if (!PyDict_Next(self, &pos, &key, &value) || key != layout.fields[i].name || value != field_value) {
            return false;
        }
    }
    if (PyDict_Next(self, &pos, &key, &value)) {
        return false;  // a key beyond the fields
    }
    // Only the first field set: rebuilding would re-apply the first-field rule, so take the long way.
    return !(others_unset && *slot_of(self, layout.fields[0]) != Py_None);
}

PyObject* copy_method(PyObject* self, PyObject* /*unused*/) {
    PyTypeObject* type = Py_TYPE(self);
    ClassLayout* layout = ready_layout(type);
    if (layout == nullptr) {
        return nullptr;
    }
    if (!layout->plain_copy || layout->mode != BuildMode::Native || layout->fields.empty() ||
        !stores_agree(self, *layout)) {
        return PyObject_CallOneArg(hooks.copy_by_reduce, self);
    }
    // The stores agree, so the copy is what constructing from the field values gives. The values are
    // held while allocating, which may run Python code.
    constexpr std::size_t kStackFields = 32;
    const std::size_t nfields = layout->fields.size();
    PyObject* stack_values[kStackFields];
    std::vector<PyObject*> heap_values(nfields > kStackFields ? nfields : 0);
    PyObject** values = nfields > kStackFields ? heap_values.data() : stack_values;
    for (std::size_t i = 0; i < nfields; ++i) {
        values[i] = Py_NewRef(*slot_of(self, layout->fields[i]));
    }
    bool stale = false;
    PyObject* copy = new_native_instance(type, *layout, values, &stale);
    for (std::size_t i = 0; i < nfields; ++i) {
        Py_DECREF(values[i]);
    }
    return stale ? PyObject_CallOneArg(hooks.copy_by_reduce, self) : copy;
}

}  // namespace

PyMethodDef reduce_def = {"__reduce__", reduce, METH_NOARGS,
                          "(class, field values, attributes, None, items): what pickle and copy rebuild from."};
PyMethodDef setstate_def = {"__setstate__", setstate, METH_O, "Restore attributes from a reduced state."};
PyMethodDef copy_def = {"__copy__", copy_method, METH_NOARGS, "Shallow copy, as copy.copy through __reduce__."};

}  // namespace fastoutput
