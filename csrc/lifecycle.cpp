// Instance lifecycle: deallocation, GC traversal and clearing.
//
// CPython's generic versions for heap types (subtype_dealloc & co.) rediscover the layout on every
// call by walking the member tables of the whole MRO. Here the layout is known once per class
// (ClassLayout::object_slots: the hidden field slots and any user __slots__, plus the extra-attribute
// dict at tp_dictoffset), which removes a large share of the cost of a short-lived output.
#include "output_meta.h"

#include <cstring>  // std::memset

namespace fastoutput {

namespace {

PyObject** slot_at(PyObject* self, Py_ssize_t offset) {
    return reinterpret_cast<PyObject**>(reinterpret_cast<char*>(self) + offset);
}

void clear_own_references(PyObject* self) {
    for (Py_ssize_t offset : layout_of(Py_TYPE(self))->object_slots) {
        Py_CLEAR(*slot_at(self, offset));
    }
    Py_CLEAR(*extras_slot(self));
}

}  // namespace

int output_traverse(PyObject* self, visitproc visit, void* arg) {
    Py_VISIT(Py_TYPE(self));
    for (Py_ssize_t offset : layout_of(Py_TYPE(self))->object_slots) {
        Py_VISIT(*slot_at(self, offset));
    }
    Py_VISIT(*extras_slot(self));
    return PyDict_Type.tp_traverse(self, visit, arg);
}

int output_clear(PyObject* self) {
    clear_own_references(self);
    return PyDict_Type.tp_clear(self);
}

void output_dealloc(PyObject* self) {
    PyTypeObject* type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_TRASHCAN_BEGIN(self, output_dealloc)
    if (type->tp_finalize != nullptr) {  // a Python __del__ in some subclass
        PyObject_GC_Track(self);
        if (PyObject_CallFinalizerFromDealloc(self) < 0) {
            goto done;  // resurrected
        }
        PyObject_GC_UnTrack(self);
    }
    if (*slot_at(self, type->tp_weaklistoffset) != nullptr) {
        PyObject_ClearWeakRefs(self);
    }
    clear_own_references(self);
    PyDict_Type.tp_dealloc(self);  // the dict part; frees the memory through tp_free
    Py_DECREF(type);
done:
    Py_TRASHCAN_END
}

// The allocator of every output class. Instances come from the class's free list when it has one;
// fresh ones from PyType_GenericAlloc. Either way the class's table is made current first, so that
// every instance, however it is created (dict.__new__, copy, Dynamo), meets descriptors that match
// the current fields.
PyObject* output_alloc(PyTypeObject* type, Py_ssize_t nitems) {
    // The native constructor has just made the table current. The flag is taken (and cleared) before
    // anything here can allocate: a collection run from inside may create instances of its own.
    const bool native = allocating_natively;
    allocating_natively = false;
    ClassLayout* layout = native ? layout_of(type) : ready_layout(type);
    if (layout == nullptr) {
        return nullptr;
    }
    PyObject* self;
    if (layout->free_count == 0 || nitems != 0) {
        self = PyType_GenericAlloc(type, nitems);
        if (self == nullptr) {
            return nullptr;
        }
    } else {
        self = layout->free_list[--layout->free_count];
        std::memset(reinterpret_cast<char*>(self) + sizeof(PyObject), 0, type->tp_basicsize - sizeof(PyObject));
        PyObject_Init(self, type);  // new reference, and one to the (heap) type
        PyObject_GC_Track(self);
    }
    if (!native) {
        // What transformers' instances fall back to, through the class attributes, for a field that
        // no __init__ assigned (init=False, a hand-written __init__, dict.__new__).
        for (const Field& field : layout->fields) {
            if (field.offset >= 0 && field.default_value != nullptr) {
                *slot_of(self, field) = Py_NewRef(field.default_value);
            }
        }
    }
    return self;
}

// tp_free: keep the memory for the next instance of the same class. Classes with a finalizer are
// excluded: the GC header remembers "already finalized", which a reused object must not inherit.
void output_free(void* memory) {
    auto* self = static_cast<PyObject*>(memory);
    PyTypeObject* type = Py_TYPE(self);
    ClassLayout* layout = layout_of(type);
    if (layout != nullptr && type->tp_finalize == nullptr && layout->free_count < ClassLayout::kFreeListSize) {
        layout->free_list[layout->free_count++] = self;
        return;
    }
    PyObject_GC_Del(memory);
}

void drain_free_list(ClassLayout* layout) {
    while (layout->free_count > 0) {
        PyObject_GC_Del(layout->free_list[--layout->free_count]);
    }
}

}  // namespace fastoutput
