// The metaclass of every fastoutput class and the per-class table it carries.
//
// Ownership conventions in this directory: a `PyObject*` returned by a function is a new reference
// unless its comment says "borrowed"; arguments are borrowed.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstddef>  // std::size_t
#include <memory>   // std::unique_ptr
#include <vector>   // std::vector

namespace fastoutput {

// A field as the native constructor and `__dict__` see it.
struct Field {
    PyObject* name;           // owned, interned
    Py_ssize_t offset;        // byte offset of its slot in the instance; -1: the field lives in __dict__
    PyObject* default_value;  // owned; null for a field without a default
};

// How instances of a class are constructed.
enum class BuildMode {
    Generic,  // type_call: tp_new, then the class's Python __init__ (base class, custom __init__, ...)
    Native,   // the vectorcall constructor below does __init__ + __post_init__ itself
};

// Everything about a class that the native paths need, computed once per class version.
struct ClassLayout {
    // Hidden slots this class declared at creation: one per annotation of its own body.
    std::vector<Field> own_slots;
    // Offsets of every object slot of an instance (fields of all bases, user __slots__), except the
    // extra-attribute dict at tp_dictoffset. Fixed at class creation.
    std::vector<Py_ssize_t> object_slots;

    // Recently freed instances, reused by the allocator (like CPython's tuple and list free lists).
    static constexpr int kFreeListSize = 32;
    PyObject* free_list[kFreeListSize] = {};
    int free_count = 0;

    // Valid while `version_tag` equals the type's tp_version_tag (any class change resets that).
    bool finalized = false;
    unsigned int version_tag = 0;
    // Counts rebuilds. A native path that runs Python code while it holds the table (a str subclass's
    // __eq__, a __class__ property) compares it afterwards: a rebuild freed the fields it was using.
    unsigned long long generation = 0;
    bool is_dataclass = false;
    bool fields_in_slots = false;  // every field has a slot (else all of them live in __dict__)
    bool native_to_tuple = true;   // the class's to_tuple is the core's
    bool native_getitem = true;    // the class's __getitem__ is the root's
    bool plain_copy = false;       // __reduce__, __setstate__, __copy__ are the core's
    // A stand-in for a transformers 5.x class: `past_key_values`/`cache_params` name the `cache` field
    // (the class's _replace_old_cache_name says how) in item get/set, attribute set and keywords.
    bool renames_cache = false;
    BuildMode mode = BuildMode::Generic;
    bool first_required = false;
    std::vector<Field> fields;     // dataclass fields, in order
    PyObject* field_names = nullptr;    // owned frozenset of the names: `name in fields`, as 5.x tests it
    PyObject* init_qualname = nullptr;  // owned; names `__init__` in argument errors

    // Member definitions behind the descriptors installed for the fields. A descriptor keeps a pointer
    // into its definition, so every batch lives as long as the class.
    std::vector<std::unique_ptr<PyMemberDef[]>> member_defs;

    ~ClassLayout();
    void clear_fields();
};

struct OutputMetaObject {
    PyHeapTypeObject heap_type;
    ClassLayout* layout;  // owned; null only while the class is being created
};

extern PyTypeObject OutputMeta_Type;

// Hooks handed over by the Python package in `install` (owned, live as long as the module).
struct Hooks {
    PyObject* root = nullptr;                // fastoutput.ModelOutput
    PyObject* describe = nullptr;            // describe(cls, root) -> tuple | None
    PyObject* expand_first_field = nullptr;  // expand_first_field(self, name, value)
    PyObject* is_tensor = nullptr;           // is_tensor(value) -> bool
    PyObject* copy_by_reduce = nullptr;      // copy_by_reduce(obj): copy.copy through __reduce_ex__
    PyObject* attribute_dict = nullptr;      // attribute_dict(obj, attributes): vars(obj), writing through
};
extern Hooks hooks;

inline ClassLayout* layout_of(PyTypeObject* type) {
    return reinterpret_cast<OutputMetaObject*>(type)->layout;
}

// Rebuilds the class's table from its current state (cold). Borrowed; null on error.
ClassLayout* rebuild_layout(PyTypeObject* type);

// The class's table, rebuilt if the class changed since it was built. Borrowed; null on error.
inline ClassLayout* ready_layout(PyTypeObject* type) {
    ClassLayout* layout = layout_of(type);
    if (layout->finalized && layout->version_tag == type->tp_version_tag && layout->version_tag != 0) {
        return layout;
    }
    return rebuild_layout(type);
}

// Set while the native constructor allocates: it fills every slot itself, so the allocator need not
// put the defaults in first.
extern bool allocating_natively;

// True if `name` is a declared field (hash and ==, as a set lookup); -1 on error.
int is_field(const ClassLayout& layout, PyObject* name);

// The slot holding the extra-attribute dict (null until an extra attribute is set).
inline PyObject** extras_slot(PyObject* self) {
    return reinterpret_cast<PyObject**>(reinterpret_cast<char*>(self) + Py_TYPE(self)->tp_dictoffset);
}

// The slot holding field `field` in `self`.
inline PyObject** slot_of(PyObject* self, const Field& field) {
    return reinterpret_cast<PyObject**>(reinterpret_cast<char*>(self) + field.offset);
}

// Defined in their own files; wired up in output_meta.cpp / module.cpp.
PyObject* construct_vectorcall(PyObject* type, PyObject* const* args, size_t nargsf, PyObject* kwnames);
PyObject* subscript(PyObject* self, PyObject* key);
PyObject* attributes_snapshot(PyObject* self);  // a new dict: fields in order, then extra attributes
int ass_subscript(PyObject* self, PyObject* key, PyObject* value);
PyObject* empty_tuple();  // borrowed
// The name a key or attribute name stands for: `cache` for an old cache name when the class renames
// them (through its _replace_old_cache_name, which also warns), else `name` itself. New reference.
PyObject* current_cache_name(PyObject* self, const ClassLayout& layout, PyObject* name);

// A new instance of `type` built from field values (borrowed; null = not given), as the dataclass
// __init__ followed by __post_init__ leaves it. If the class changed meanwhile (allocation or argument
// binding can run Python code), returns null with no error and sets *stale: take the generic path.
PyObject* new_native_instance(PyTypeObject* type, const ClassLayout& layout, PyObject* const* values, bool* stale);
// obj.<name>(): looked up, then called, so that a non-callable attribute fails as in Python code.
// `name` is interned once by the caller (a static, kept for the life of the process; null if that
// failed): a fresh string per call would miss CPython's type attribute cache every time and leave
// its dead names in it.
PyObject* call_method(PyObject* obj, PyObject* name);
extern PyMethodDef to_tuple_def;
extern PyMethodDef reduce_def;
extern PyMethodDef setstate_def;
extern PyMethodDef copy_def;
extern PyMethodDef setattr_def;
extern PyGetSetDef dict_getset_def;
bool is_tensor(PyObject* value, int* error);
void output_dealloc(PyObject* self);
PyObject* output_alloc(PyTypeObject* type, Py_ssize_t nitems);
void output_free(void* self);
void drain_free_list(ClassLayout* layout);
int output_traverse(PyObject* self, visitproc visit, void* arg);
int output_clear(PyObject* self);

// Makes `meta` the metaclass of the Python class `cls` (stand_in.cpp). Returns 0, or -1 with an error.
int set_metaclass(PyObject* cls, PyObject* meta);

// Installs the native paths on `root`, the Python-defined ModelOutput. Returns 0, or -1 with an error.
int install_root(PyObject* root, PyObject* describe, PyObject* expand_first_field, PyObject* is_tensor,
                 PyObject* copy_by_reduce, PyObject* attribute_dict);

}  // namespace fastoutput
