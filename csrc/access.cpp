// Reading and writing an output: item slots, to_tuple, __setattr__ and the synthesised __dict__.
//
// The two stores: the dict part (the mapping store: keys in insertion order) and the attributes
// (fields in native slots, extra attributes in the instance dict). These functions keep them in step
// exactly as transformers 5.x does, including the cases where they drift apart.
#include "output_meta.h"

namespace fastoutput {

namespace {

PyObject* type_name(PyObject* self) {  // borrowed: type(self).__name__ of a heap type
    return reinterpret_cast<PyHeapTypeObject*>(Py_TYPE(self))->ht_name;
}

PyObject* values_tuple(PyObject* self) {
    PyObject* result = PyTuple_New(PyDict_GET_SIZE(self));
    if (result == nullptr) {
        return nullptr;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0, i = 0;
    while (PyDict_Next(self, &pos, &key, &value)) {
        PyTuple_SET_ITEM(result, i++, Py_NewRef(value));
    }
    return result;
}

PyObject* to_tuple(PyObject* self, PyObject* /*unused*/) { return values_tuple(self); }

// out[i] without building the tuple: the i-th value in key order.
PyObject* value_at(PyObject* self, PyObject* index_obj) {
    Py_ssize_t index = PyNumber_AsSsize_t(index_obj, PyExc_IndexError);
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

bool is_field(const ClassLayout& layout, PyObject* name) {
    for (const Field& field : layout.fields) {
        if (field.name == name) {
            return true;
        }
    }
    if (!PyUnicode_Check(name)) {
        return false;
    }
    for (const Field& field : layout.fields) {
        if (PyUnicode_Compare(field.name, name) == 0) {
            return true;
        }
    }
    return false;
}

// obj.name = value: a declared field that is not None is stored as a key too (appended if new);
// instances of the base class only update keys that exist.
PyObject* setattr_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "expected 2 arguments, got %zd", nargs);
        return nullptr;
    }
    PyObject* name = args[0];
    PyObject* value = args[1];
    if (value != Py_None) {
        ClassLayout* layout = ready_layout(Py_TYPE(self));
        if (layout == nullptr) {
            return nullptr;
        }
        int store;
        if (layout->is_dataclass) {
            store = is_field(*layout, name);
        } else {
            store = PyDict_Contains(self, name);
        }
        if (store < 0 || (store == 1 && PyDict_SetItem(self, name, value) < 0)) {
            return nullptr;
        }
    }
    if (PyObject_GenericSetAttr(self, name, value) < 0) {
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
    if (value == nullptr || !PyDict_Check(value)) {
        PyErr_Format(PyExc_TypeError, "__dict__ must be set to a dictionary, not a '%.200s'",
                     value == nullptr ? "NoneType" : Py_TYPE(value)->tp_name);
        return -1;
    }
    ClassLayout* layout = ready_layout(Py_TYPE(self));
    PyObject* extras = layout == nullptr ? nullptr : PyDict_Copy(value);
    if (extras == nullptr) {
        return -1;
    }
    for (const Field& field : layout->fields) {
        if (field.offset < 0) {
            break;  // no field has a slot: the whole dict is the attribute store
        }
        PyObject* field_value = PyDict_GetItemWithError(value, field.name);  // borrowed
        if (field_value == nullptr && PyErr_Occurred()) {
            Py_DECREF(extras);
            return -1;
        }
        Py_XSETREF(*slot_of(self, field), Py_XNewRef(field_value));
        if (field_value != nullptr && PyDict_DelItem(extras, field.name) < 0) {
            Py_DECREF(extras);
            return -1;
        }
    }
    int result = PyObject_GenericSetDict(self, extras, nullptr);
    Py_DECREF(extras);
    return result;
}

}  // namespace

// The attributes as a new dict: fields (from their slots, in field order), then extra attributes.
PyObject* attributes_snapshot(PyObject* self) {
    ClassLayout* layout = ready_layout(Py_TYPE(self));
    if (layout == nullptr) {
        return nullptr;
    }
    PyObject* extras = *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(self) + Py_TYPE(self)->tp_dictoffset);
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
    if (result != nullptr && extras != nullptr && PyDict_Update(result, extras) < 0) {
        Py_CLEAR(result);
    }
    return result;
}

PyObject* subscript(PyObject* self, PyObject* key) {
    if (PyUnicode_Check(key)) {
        PyObject* value = PyDict_GetItemWithError(self, key);  // borrowed
        if (value != nullptr) {
            return Py_NewRef(value);
        }
        if (!PyErr_Occurred()) {
            PyErr_SetObject(PyExc_KeyError, key);
        }
        return nullptr;
    }
    ClassLayout* layout = ready_layout(Py_TYPE(self));
    if (layout == nullptr) {
        return nullptr;
    }
    if (layout->native_to_tuple && PyIndex_Check(key)) {
        return value_at(self, key);
    }
    // A class with its own to_tuple (e.g. MultimodalModelOutput) indexes into that.
    PyObject* values = layout->native_to_tuple ? values_tuple(self) : PyObject_CallMethod(self, "to_tuple", nullptr);
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
    if (PyDict_SetItem(self, key, value) < 0) {
        return -1;
    }
    // Straight to the instance, past __setattr__ hooks (so frozen classes accept item assignment).
    return PyObject_GenericSetAttr(self, key, value);
}

PyMethodDef to_tuple_def = {"to_tuple", to_tuple, METH_NOARGS,
                            "The values that are set, in key order (nested outputs are kept as they are)."};

PyMethodDef setattr_def = {"__setattr__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(setattr_method)),
                           METH_FASTCALL, "Set an attribute; a declared field that is not None becomes a key too."};

PyGetSetDef dict_getset_def = {"__dict__", dict_get, dict_set,
                               "The attributes: fields in declaration order, then extra attributes.", nullptr};

}  // namespace fastoutput
