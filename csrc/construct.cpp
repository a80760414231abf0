// Construction: the type vectorcall of every output class.
//
// For a standard `@dataclass` output class (BuildMode::Native) this one function does what the
// generated __init__ followed by ModelOutput.__post_init__ would: bind the arguments (with CPython's
// own error messages), fill the field slots, insert the keys of the fields that are not None in field
// order, and hand the rare "first field holds (key, value) pairs" case to the Python rule. Every other
// class goes through type_call, i.e. tp_new and its Python __init__.
#include "output_meta.h"

#include <algorithm>  // std::fill, std::min

namespace fastoutput {

namespace {

constexpr Py_ssize_t kStackFields = 32;

PyObject* generic_call(PyObject* type, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    PyObject* positional = PyTuple_New(nargs);
    if (positional == nullptr) {
        return nullptr;
    }
    for (Py_ssize_t i = 0; i < nargs; ++i) {
        PyTuple_SET_ITEM(positional, i, Py_NewRef(args[i]));
    }
    PyObject* keywords = nullptr;
    if (kwnames != nullptr && PyTuple_GET_SIZE(kwnames) > 0) {
        keywords = PyDict_New();
        for (Py_ssize_t j = 0; keywords != nullptr && j < PyTuple_GET_SIZE(kwnames); ++j) {
            if (PyDict_SetItem(keywords, PyTuple_GET_ITEM(kwnames, j), args[nargs + j]) < 0) {
                Py_CLEAR(keywords);
            }
        }
        if (keywords == nullptr) {
            Py_DECREF(positional);
            return nullptr;
        }
    }
    PyObject* result = PyType_Type.tp_call(type, positional, keywords);
    Py_DECREF(positional);
    Py_XDECREF(keywords);
    return result;
}

constexpr Py_ssize_t kNoField = -1;
constexpr Py_ssize_t kError = -2;
constexpr Py_ssize_t kSelf = -3;  // the keyword equals `self`, the generated __init__'s first parameter

// Index of the field called `name`. Names are interned, so the keywords of a call site match by
// pointer; other strings fall back to ==, in CPython's order (`self` first). == may run Python code
// that rebuilds the table, so it compares against a private copy of the names.
Py_ssize_t field_index(const ClassLayout& layout, PyObject* name) {
    const Py_ssize_t count = static_cast<Py_ssize_t>(layout.fields.size());
    for (Py_ssize_t i = 0; i < count; ++i) {
        if (layout.fields[i].name == name) {
            return i;
        }
    }
    static PyObject* self_name = PyUnicode_InternFromString("self");  // kept for the process
    std::vector<PyObject*> names{Py_NewRef(self_name)};
    for (const Field& field : layout.fields) {
        names.push_back(Py_NewRef(field.name));
    }
    Py_ssize_t found = kNoField;
    for (std::size_t i = 0; i < names.size() && found == kNoField; ++i) {
        int equal = PyObject_RichCompareBool(name, names[i], Py_EQ);
        if (equal != 0) {
            found = equal < 0 ? kError : (i == 0 ? kSelf : static_cast<Py_ssize_t>(i) - 1);
        }
    }
    for (PyObject* held : names) {
        Py_DECREF(held);
    }
    return found;
}

void too_many_positional(const ClassLayout& layout, Py_ssize_t given) {
    const Py_ssize_t argcount = static_cast<Py_ssize_t>(layout.fields.size()) + 1;  // with self
    const Py_ssize_t defaults = argcount - 1 - (layout.first_required ? 1 : 0);
    const char* were = given == 1 ? "was" : "were";
    if (defaults > 0) {
        PyErr_Format(PyExc_TypeError, "%U() takes from %zd to %zd positional arguments but %zd %s given",
                     layout.init_qualname, argcount - defaults, argcount, given, were);
    } else {
        PyErr_Format(PyExc_TypeError, "%U() takes %zd positional argument%s but %zd %s given", layout.init_qualname,
                     argcount, argcount == 1 ? "" : "s", given, were);
    }
}

// Binds vectorcall arguments to fields. Fills `values` (borrowed, null = not given); 0, or -1 with
// an error, or kRebuilt if a keyword's __eq__ changed the class: `values` no longer fits the table.
constexpr int kRebuilt = 1;
int bind_arguments(const ClassLayout& layout, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                   PyObject** values) {
    const Py_ssize_t nfields = static_cast<Py_ssize_t>(layout.fields.size());
    const unsigned long long generation = layout.generation;
    const Py_ssize_t npositional = std::min(nargs, nfields);
    for (Py_ssize_t i = 0; i < npositional; ++i) {
        values[i] = args[i];
    }
    const Py_ssize_t nkeywords = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t j = 0; j < nkeywords; ++j) {
        PyObject* name = PyTuple_GET_ITEM(kwnames, j);
        if (!PyUnicode_Check(name)) {
            PyErr_Format(PyExc_TypeError, "%U() keywords must be strings", layout.init_qualname);
            return -1;
        }
        Py_ssize_t index = field_index(layout, name);
        if (index == kError) {
            return -1;
        }
        if (layout.generation != generation) {
            return kRebuilt;
        }
        if (index == kNoField) {
            PyErr_Format(PyExc_TypeError, "%U() got an unexpected keyword argument '%S'", layout.init_qualname, name);
            return -1;
        }
        if (index == kSelf || static_cast<std::size_t>(index) >= layout.fields.size() || values[index] != nullptr) {
            PyErr_Format(PyExc_TypeError, "%U() got multiple values for argument '%S'", layout.init_qualname, name);
            return -1;
        }
        values[index] = args[nargs + j];
    }
    if (nargs > nfields) {
        too_many_positional(layout, nargs + 1);
        return -1;
    }
    if (layout.first_required && values[0] == nullptr) {
        PyErr_Format(PyExc_TypeError, "%U() missing 1 required positional argument: '%U'", layout.init_qualname,
                     layout.fields[0].name);
        return -1;
    }
    return 0;
}

// Fills a freshly allocated instance. `values` are borrowed; returns 0 or -1.
int fill_instance(PyObject* self, const ClassLayout& layout, PyObject* const* values) {
    const Py_ssize_t nfields = static_cast<Py_ssize_t>(layout.fields.size());
    bool others_unset = true;
    for (Py_ssize_t i = 0; i < nfields; ++i) {
        PyObject* value = values[i] != nullptr ? values[i] : Py_None;
        *slot_of(self, layout.fields[i]) = Py_NewRef(value);
        if (value == Py_None) {
            continue;
        }
        others_unset = others_unset && i == 0;
        if (PyDict_SetItem(self, layout.fields[i].name, value) < 0) {
            return -1;
        }
    }
    PyObject* first = values[0];
    if (!others_unset || first == nullptr || first == Py_None) {
        return 0;
    }
    // The tensor check may run Python code (a __class__ property) that rebuilds the table: the
    // construction goes on with the first field it started with, so its name is held.
    PyObject* first_name = Py_NewRef(layout.fields[0].name);
    int error = 0;
    int status = 0;
    if (is_tensor(first, &error) || error) {
        status = error ? -1 : 0;
    } else {
        PyObject* result = PyObject_CallFunctionObjArgs(hooks.expand_first_field, self, first_name, first, nullptr);
        status = result == nullptr ? -1 : 0;
        Py_XDECREF(result);
    }
    Py_DECREF(first_name);
    return status;
}

}  // namespace

PyObject* empty_tuple() {
    static PyObject* empty = PyTuple_New(0);  // kept for the life of the process
    return empty;
}

PyObject* new_native_instance(PyTypeObject* type, const ClassLayout& layout, PyObject* const* values, bool* stale) {
    const unsigned long long generation = layout.generation;
    allocating_natively = true;  // read and cleared by output_alloc, which dict's tp_new calls first
    PyObject* self = PyDict_Type.tp_new(type, empty_tuple(), nullptr);
    allocating_natively = false;
    if (self == nullptr) {
        return nullptr;
    }
    if (!layout.finalized || layout.version_tag != type->tp_version_tag || layout.generation != generation) {
        Py_DECREF(self);
        *stale = true;
        return nullptr;
    }
    if (fill_instance(self, layout, values) < 0) {
        Py_DECREF(self);
        return nullptr;
    }
    return self;
}

PyObject* construct_vectorcall(PyObject* type, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
    const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    ClassLayout* layout = ready_layout(reinterpret_cast<PyTypeObject*>(type));
    if (layout == nullptr) {
        return nullptr;
    }
    if (layout->mode != BuildMode::Native) {
        return generic_call(type, args, nargs, kwnames);
    }
    const Py_ssize_t nfields = static_cast<Py_ssize_t>(layout->fields.size());
    PyObject* stack_values[kStackFields];  // only the first nfields are used, and cleared below
    std::unique_ptr<PyObject*[]> heap_values;
    PyObject** values = stack_values;
    if (nfields > kStackFields) {
        heap_values.reset(new PyObject*[nfields]);
        values = heap_values.get();
    }
    std::fill(values, values + nfields, nullptr);
    const int bound = bind_arguments(*layout, args, nargs, kwnames, values);
    if (bound < 0 && layout->renames_cache) {
        // Its wrapped __init__ renames `past_key_values=`/`cache_params=` before binding, warns, and
        // words any other error after the renaming, as transformers 5.x does.
        PyErr_Clear();
        return generic_call(type, args, nargs, kwnames);
    }
    if (bound < 0) {
        return nullptr;
    }
    if (bound == kRebuilt) {
        return generic_call(type, args, nargs, kwnames);
    }
    // A str subclass keyword's __eq__ may have run Python code that changed the class.
    bool stale = false;
    PyObject* self = new_native_instance(reinterpret_cast<PyTypeObject*>(type), *layout, values, &stale);
    return stale ? generic_call(type, args, nargs, kwnames) : self;
}

}  // namespace fastoutput
