// Standing in for transformers' classes: the original class objects stay where users and
// transformers' own modules hold them, and get a metaclass whose instance and subclass checks also
// accept their fastoutput stand-ins. Python code may only change the metaclass of a class whose
// metaclass is a heap type; transformers 4.57's classes have `type` itself, so this is done here.
#include "output_meta.h"

namespace fastoutput {

int set_metaclass(PyObject* cls, PyObject* meta) {
    if (!PyType_Check(cls) || !PyType_HasFeature(reinterpret_cast<PyTypeObject*>(cls), Py_TPFLAGS_HEAPTYPE)) {
        PyErr_SetString(PyExc_TypeError, "set_metaclass() needs a class defined in Python");
        return -1;
    }
    if (!PyType_Check(meta) || !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(meta), &PyType_Type)) {
        PyErr_SetString(PyExc_TypeError, "set_metaclass() needs a metaclass");
        return -1;
    }
    PyTypeObject* old_meta = Py_TYPE(cls);
    PyTypeObject* new_meta = reinterpret_cast<PyTypeObject*>(meta);
    // Same memory layout either way: one is derived from the other and adds no storage.
    const bool related = PyType_IsSubtype(new_meta, old_meta) || PyType_IsSubtype(old_meta, new_meta);
    if (!related || new_meta->tp_basicsize != old_meta->tp_basicsize ||
        new_meta->tp_itemsize != old_meta->tp_itemsize) {
        PyErr_Format(PyExc_TypeError, "set_metaclass(): %s and %s differ in layout", old_meta->tp_name,
                     new_meta->tp_name);
        return -1;
    }
    // An instance of a heap type owns a reference to it (subtype_dealloc releases it); `type` is static.
    if (PyType_HasFeature(new_meta, Py_TPFLAGS_HEAPTYPE)) {
        Py_INCREF(new_meta);
    }
    Py_SET_TYPE(cls, new_meta);
    if (PyType_HasFeature(old_meta, Py_TPFLAGS_HEAPTYPE)) {
        Py_DECREF(old_meta);
    }
    return 0;
}

}  // namespace fastoutput
