// Reading and writing an output: item slots, to_tuple, __setattr__ and the synthesised __dict__.
//
// The two stores: the dict part (the mapping store: keys in insertion order) and the attributes
// (fields in native slots, extra attributes in the instance dict). These functions keep them in step
// exactly as transformers 5.x does, including the cases where they drift apart.
#include "output_meta.h"

#include <vector>  // std::vector

namespace fastoutput {

namespace {

PyObject* type_name(PyObject* self) {  // borrowed: type(self).__name__ of a heap type
    return reinterpret_cast<PyHeapTypeObject*>(Py_TYPE(self))->ht_name;
}

PyObject* values_tuple(PyObject* self) {
    // Allocating the tuple may run the garbage collector, and a finalizer may add or remove keys:
    // size it again until the size holds (the loop below allocates nothing).
    PyObject* result = nullptr;
    for (Py_ssize_t size = -1; size != PyDict_GET_SIZE(self);) {
        Py_XDECREF(result);
        size = PyDict_GET_SIZE(self);
        result = PyTuple_New(size);
        if (result == nullptr) {
            return nullptr;
        }
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0, i = 0;
    while (PyDict_Next(self, &pos, &key, &value)) {
        PyTuple_SET_ITEM(result, i++, Py_NewRef(value));
    }
    return result;
}

// Binds the arguments of a method written in Python as `def <qualname>(self, <params>)` (no
// defaults), with the messages CPython would give it. `out` receives borrowed references.
int bind_method_args(const char* qualname, const std::vector<const char*>& params, PyObject* const* args,
                     Py_ssize_t nargs, PyObject* kwnames, PyObject** out) {
    const Py_ssize_t nparams = static_cast<Py_ssize_t>(params.size());
    for (Py_ssize_t i = 0; i < nparams; ++i) {
        out[i] = i < nargs ? args[i] : nullptr;
    }
    const Py_ssize_t nkeywords = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t j = 0; j < nkeywords; ++j) {
        PyObject* keyword = PyTuple_GET_ITEM(kwnames, j);
        Py_ssize_t index = -1;
        for (Py_ssize_t i = 0; i < nparams && index < 0; ++i) {
            if (PyUnicode_CompareWithASCIIString(keyword, params[i]) == 0) {
                index = i;
            }
        }
        if (index < 0) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%S'", qualname, keyword);
            return -1;
        }
        if (out[index] != nullptr) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%S'", qualname, keyword);
            return -1;
        }
        out[index] = args[nargs + j];
    }
    if (nargs > nparams) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd positional argument%s but %zd were given", qualname,
                     nparams + 1, nparams == 0 ? "" : "s", nargs + 1);
        return -1;
    }
    std::vector<const char*> missing;
    for (Py_ssize_t i = 0; i < nparams; ++i) {
        if (out[i] == nullptr) {
            missing.push_back(params[i]);
        }
    }
    if (missing.size() == 1) {
        PyErr_Format(PyExc_TypeError, "%s() missing 1 required positional argument: '%s'", qualname, missing[0]);
        return -1;
    }
    if (missing.size() == 2) {
        PyErr_Format(PyExc_TypeError, "%s() missing 2 required positional arguments: '%s' and '%s'", qualname,
                     missing[0], missing[1]);
        return -1;
    }
    return 0;
}

// out.to_tuple(): the values in key order; read through __getitem__ when a class overrides it, as
// transformers' to_tuple does.
PyObject* to_tuple(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    if (bind_method_args("ModelOutput.to_tuple", {}, args, nargs, kwnames, nullptr) < 0) {
        return nullptr;
    }
    ClassLayout* layout = ready_layout(Py_TYPE(self));
    if (layout == nullptr) {
        return nullptr;
    }
    if (layout->native_getitem) {
        return values_tuple(self);
    }
    // A __getitem__ override: each value is read through it, over the keys as they are now; a size
    // change made meanwhile fails as iterating over the keys would.
    PyObject* keys = PyDict_Keys(self);
    PyObject* result = keys == nullptr ? nullptr : PyTuple_New(PyList_GET_SIZE(keys));
    for (Py_ssize_t i = 0; result != nullptr && i < PyList_GET_SIZE(keys); ++i) {
        PyObject* value = PyObject_GetItem(self, PyList_GET_ITEM(keys, i));
        if (value == nullptr) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, i, value);
        if (PyDict_GET_SIZE(self) != PyList_GET_SIZE(keys)) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            Py_CLEAR(result);
        }
    }
    Py_XDECREF(keys);
    return result;
}

// out[i] for an exact int i, without building the tuple: the i-th value in key order.
PyObject* value_at(PyObject* self, PyObject* index_obj) {
    Py_ssize_t index = PyLong_AsSsize_t(index_obj);
    if (index == -1 && PyErr_Occurred()) {
        PyErr_Clear();  // too big: the general conversion words the error as tuple indexing does
        index = PyNumber_AsSsize_t(index_obj, PyExc_IndexError);
    }
    if (index == -1 && PyErr_Occurred()) {
        return nullptr;
    }
    const Py_ssize_t size = PyDict_GET_SIZE(self);
    if (index < 0) {
        index += size;
    }
    if (index < 0 || index >= size) {
        PyErr_SetString(PyExc_IndexError, "tuple index out of range");
        return nullptr;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    for (Py_ssize_t i = 0; PyDict_Next(self, &pos, &key, &value); ++i) {
        if (i == index) {
            return Py_NewRef(value);
        }
    }
    PyErr_SetString(PyExc_IndexError, "tuple index out of range");
    return nullptr;
}

// obj.name = value: a declared field that is not None is stored as a key too (appended if new);
// instances of the base class only update keys that exist.
PyObject* setattr_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    PyObject* bound[2];
    if (bind_method_args("ModelOutput.__setattr__", {"name", "value"}, args, nargs, kwnames, bound) < 0) {
        return nullptr;
    }
    PyObject* value = bound[1];
    ClassLayout* layout = ready_layout(Py_TYPE(self));
    PyObject* name = layout == nullptr ? nullptr : current_cache_name(self, *layout, bound[0]);
    if (name == nullptr) {
        return nullptr;
    }
    // The rename may have run Python code that rebuilt the table.
    layout = ready_layout(Py_TYPE(self));
    // Membership is tested first, whatever the value, as transformers does (an unhashable name fails).
    const int store = layout == nullptr ? -1 : layout->is_dataclass ? is_field(*layout, name) : PyDict_Contains(self, name);
    const bool failed = store < 0 || (store == 1 && value != Py_None && PyDict_SetItem(self, name, value) < 0) ||
                        PyObject_GenericSetAttr(self, name, value) < 0;
    Py_DECREF(name);
    if (failed) {
        return nullptr;
    }
    Py_RETURN_NONE;
}

// vars(out) with fields in slots: a dict of the attributes whose writes go back to `self`.
PyObject* dict_get(PyObject* self, void* /*closure*/) {
    ClassLayout* layout = ready_layout(Py_TYPE(self));
    if (layout == nullptr) {
        return nullptr;
    }
    if (!layout->fields_in_slots || layout->fields.empty()) {
        return PyObject_GenericGetDict(self, nullptr);  // every attribute is in the real dict
    }
    PyObject* snapshot = attributes_snapshot(self);
    if (snapshot == nullptr) {
        return nullptr;
    }
    PyObject* view = PyObject_CallFunctionObjArgs(hooks.attribute_dict, self, snapshot, nullptr);
    Py_DECREF(snapshot);
    return view;
}

int dict_set(PyObject* self, PyObject* value, void* /*closure*/) {
    if (value == nullptr) {
        PyErr_SetString(PyExc_TypeError, "cannot delete __dict__");
        return -1;
    }
    if (!PyDict_Check(value)) {
        PyErr_Format(PyExc_TypeError, "__dict__ must be set to a dictionary, not a '%.200s'", Py_TYPE(value)->tp_name);
        return -1;
    }
    ClassLayout* layout = ready_layout(Py_TYPE(self));
    PyObject* extras = layout == nullptr ? nullptr : PyDict_Copy(value);
    if (extras == nullptr) {
        return -1;
    }
    // Lookups in `value` may run Python code (str subclass keys) that rebuilds the table: walk a copy.
    // Slot offsets never change for a class, so writing through them stays safe.
    std::vector<Field> fields;
    if (layout->fields_in_slots) {
        for (const Field& field : layout->fields) {
            fields.push_back(Field{Py_NewRef(field.name), field.offset, Py_XNewRef(field.default_value)});
        }
    }
    int status = 0;
    // The replaced values are released once every slot is written, as replacing a real __dict__
    // would: a finalizer of one of them then sees (and may change) the new attributes.
    std::vector<PyObject*> replaced;
    for (const Field& field : fields) {
        PyObject* field_value = PyDict_GetItemWithError(value, field.name);  // borrowed
        if (field_value == nullptr && PyErr_Occurred()) {
            status = -1;
            break;
        }
        // A field missing from the new dict reads its class default, as in transformers.
        replaced.push_back(*slot_of(self, field));
        *slot_of(self, field) = Py_XNewRef(field_value != nullptr ? field_value : field.default_value);
        if (field_value != nullptr && PyDict_DelItem(extras, field.name) < 0) {
            status = -1;
            break;
        }
    }
    for (Field& field : fields) {
        Py_DECREF(field.name);
        Py_XDECREF(field.default_value);
    }
    if (status == 0) {
        status = PyObject_GenericSetDict(self, extras, nullptr);
    }
    Py_DECREF(extras);
    for (PyObject* old_value : replaced) {
        Py_XDECREF(old_value);
    }
    return status;
}

}  // namespace

PyObject* call_method(PyObject* obj, PyObject* name) {
    if (name == nullptr) {
        return nullptr;
    }
    PyObject* method = PyObject_GetAttr(obj, name);
    if (method == nullptr) {
        return nullptr;
    }
    PyObject* result = PyObject_CallNoArgs(method);
    Py_DECREF(method);
    return result;
}

// The attributes as a new dict: fields (from their slots, in field order), then extra attributes.
PyObject* attributes_snapshot(PyObject* self) {
    ClassLayout* layout = ready_layout(Py_TYPE(self));
    if (layout == nullptr) {
        return nullptr;
    }
    PyObject* extras = *extras_slot(self);
    if (!layout->fields_in_slots) {
        return extras == nullptr ? PyDict_New() : PyDict_Copy(extras);
    }
    PyObject* result = PyDict_New();
    for (const Field& field : layout->fields) {
        PyObject* value = *slot_of(self, field);
        if (result != nullptr && value != nullptr && PyDict_SetItem(result, field.name, value) < 0) {
            Py_CLEAR(result);
        }
    }
    // Merging compares names, which may run Python code that replaces the instance's dict: hold it.
    Py_XINCREF(extras);
    if (result != nullptr && extras != nullptr && PyDict_Update(result, extras) < 0) {
        Py_CLEAR(result);
    }
    Py_XDECREF(extras);
    return result;
}

PyObject* current_cache_name(PyObject* self, const ClassLayout& layout, PyObject* name) {
    // Exact strs are told apart here; for a str subclass its own __eq__ decides, in Python, as it
    // does in transformers.
    const bool maybe_old_name =
        layout.renames_cache && PyUnicode_Check(name) &&
        (!PyUnicode_CheckExact(name) || PyUnicode_CompareWithASCIIString(name, "past_key_values") == 0 ||
         PyUnicode_CompareWithASCIIString(name, "cache_params") == 0);
    if (!maybe_old_name) {
        return Py_NewRef(name);
    }
    static PyObject* const rename = PyUnicode_InternFromString("_replace_old_cache_name");
    return rename == nullptr ? nullptr : PyObject_CallMethodOneArg(self, rename, name);
}

PyObject* subscript(PyObject* self, PyObject* key) {
    ClassLayout* layout = ready_layout(Py_TYPE(self));
    if (layout == nullptr) {
        return nullptr;
    }
    if (PyUnicode_Check(key)) {
        PyObject* name = current_cache_name(self, *layout, key);
        if (name == nullptr) {
            return nullptr;
        }
        PyObject* value = PyDict_GetItemWithError(self, name);  // borrowed
        if (value == nullptr && !PyErr_Occurred()) {
            PyErr_SetObject(PyExc_KeyError, name);
        }
        Py_DECREF(name);
        return Py_XNewRef(value);
    }
    // A plain int needs no tuple. Any other index is converted after the values are read, as
    // to_tuple()[key] does: its __index__ may change the output.
    if (layout->native_to_tuple && PyLong_CheckExact(key)) {
        return value_at(self, key);
    }
    // A class with its own to_tuple (e.g. MultimodalModelOutput) indexes into that.
    static PyObject* const to_tuple_name = PyUnicode_InternFromString("to_tuple");
    PyObject* values = layout->native_to_tuple ? values_tuple(self) : call_method(self, to_tuple_name);
    if (values == nullptr) {
        return nullptr;
    }
    PyObject* result = PyObject_GetItem(values, key);
    Py_DECREF(values);
    return result;
}

int ass_subscript(PyObject* self, PyObject* key, PyObject* value) {
    if (value == nullptr) {
        PyErr_Format(PyExc_Exception, "You cannot use ``__delitem__`` on a %U instance.", type_name(self));
        return -1;
    }
    ClassLayout* layout = ready_layout(Py_TYPE(self));
    PyObject* name = layout == nullptr ? nullptr : current_cache_name(self, *layout, key);
    if (name == nullptr) {
        return -1;
    }
    // Straight to the instance, past __setattr__ hooks (so frozen classes accept item assignment).
    const int status = PyDict_SetItem(self, name, value) < 0 ? -1 : PyObject_GenericSetAttr(self, name, value);
    Py_DECREF(name);
    return status;
}

PyMethodDef to_tuple_def = {"to_tuple", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(to_tuple)),
                            METH_FASTCALL | METH_KEYWORDS,
                            "The values that are set, in key order (nested outputs are kept as they are)."};

PyMethodDef setattr_def = {"__setattr__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(setattr_method)),
                           METH_FASTCALL | METH_KEYWORDS,
                           "Set an attribute; a declared field that is not None becomes a key too."};

PyGetSetDef dict_getset_def = {"__dict__", dict_get, dict_set,
                               "The attributes: fields in declaration order, then extra attributes.", nullptr};

}  // namespace fastoutput
