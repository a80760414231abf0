// OutputMeta: the metaclass. It gives every class hidden native slots for its fields, keeps the
// per-class table (ClassLayout) that the native paths read, and re-points the type slots of each new
// class at native code.
//
// Fields are only known after @dataclass has run, which is after the class exists. So at creation
// the class gets one hidden slot per annotation of its own body (a superset of its new fields), and
// the table is built lazily (`ready_layout`) and rebuilt whenever the class changes: any class
// attribute assignment resets tp_version_tag, which is compared on every use.
#include "output_meta.h"

#include <structmember.h>  // PyMemberDef, T_OBJECT_EX

#include <cstring>  // std::strcmp, std::strncmp
#include <utility>  // std::pair, std::swap

namespace fastoutput {

Hooks hooks;
bool allocating_natively = false;

int is_field(const ClassLayout& layout, PyObject* name) {
    if (layout.field_names == nullptr) {
        return 0;
    }
    // A str subclass's __eq__ may rebuild the table, which releases the set: hold it meanwhile.
    PyObject* names = Py_NewRef(layout.field_names);
    const int found = PySet_Contains(names, name);
    Py_DECREF(names);
    return found;
}

namespace {

// Hidden slot names: `__fastoutput_<field>__` (dunder names escape private-name mangling).
constexpr const char kSlotPrefix[] = "__fastoutput_";
constexpr std::size_t kSlotPrefixLen = sizeof(kSlotPrefix) - 1;
constexpr const char kSlotSuffix[] = "__";
constexpr std::size_t kSlotSuffixLen = sizeof(kSlotSuffix) - 1;
constexpr const char kExtrasSlot[] = "__fastoutput_dict__";

// Python functions of the root class whose eager path is a native slot.
PyObject* root_getitem = nullptr;  // owned
PyObject* root_setitem = nullptr;  // owned
PyObject* root_delitem = nullptr;  // owned

bool is_output_class(PyObject* obj) {
    return PyType_Check(obj) && PyObject_TypeCheck(obj, &OutputMeta_Type) &&
           layout_of(reinterpret_cast<PyTypeObject*>(obj)) != nullptr;
}

// Borrowed lookup through the MRO, without raising.
PyObject* lookup(PyTypeObject* type, const char* name) {
    PyObject* key = PyUnicode_InternFromString(name);
    if (key == nullptr) {
        PyErr_Clear();
        return nullptr;
    }
    PyObject* found = _PyType_Lookup(type, key);
    Py_DECREF(key);
    return found;
}

// Point the mapping slots at native code where the class still uses the root's item methods.
void install_native_slots(PyTypeObject* type) {
    type->tp_vectorcall = construct_vectorcall;
    if (root_getitem == nullptr) {
        return;  // the root itself is still being created
    }
    if (lookup(type, "__getitem__") == root_getitem) {
        type->tp_as_mapping->mp_subscript = subscript;
    }
    if (lookup(type, "__setitem__") == root_setitem && lookup(type, "__delitem__") == root_delitem) {
        type->tp_as_mapping->mp_ass_subscript = ass_subscript;
    }
}

// After a class attribute changed, CPython recomputed the slots of `type` and its subclasses.
int reinstall_native_slots(PyTypeObject* type) {
    install_native_slots(type);
    PyObject* subclasses = PyObject_CallMethod(reinterpret_cast<PyObject*>(type), "__subclasses__", nullptr);
    if (subclasses == nullptr) {
        return -1;
    }
    int result = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(subclasses) && result == 0; ++i) {
        PyObject* sub = PyList_GET_ITEM(subclasses, i);
        if (is_output_class(sub)) {
            result = reinstall_native_slots(reinterpret_cast<PyTypeObject*>(sub));
        }
    }
    Py_DECREF(subclasses);
    return result;
}

}  // namespace

ClassLayout::~ClassLayout() {
    clear_fields();
    for (Field& slot : own_slots) {
        Py_CLEAR(slot.name);
    }
}

void ClassLayout::clear_fields() {
    for (Field& field : fields) {
        Py_CLEAR(field.name);
        Py_CLEAR(field.default_value);
    }
    fields.clear();
    Py_CLEAR(field_names);
    Py_CLEAR(init_qualname);
    finalized = false;
}

namespace {

// Offset of the hidden slot for field `name`, searching the class and its bases; -1 if none.
Py_ssize_t find_slot(PyTypeObject* type, PyObject* name) {
    PyObject* mro = type->tp_mro;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); ++i) {
        PyObject* base = PyTuple_GET_ITEM(mro, i);
        if (!is_output_class(base)) {
            continue;
        }
        for (const Field& slot : layout_of(reinterpret_cast<PyTypeObject*>(base))->own_slots) {
            if (slot.name == name || PyUnicode_Compare(slot.name, name) == 0) {
                return slot.offset;
            }
        }
    }
    return -1;
}

// True if `type`'s attribute `field.name` already reads the field's slot.
bool reads_slot(PyTypeObject* type, const Field& field) {
    PyObject* current = _PyType_Lookup(type, field.name);  // borrowed
    if (current == nullptr || Py_TYPE(current) != &PyMemberDescr_Type) {
        return false;
    }
    PyMemberDef* def = reinterpret_cast<PyMemberDescrObject*>(current)->d_member;
    return def->type == T_OBJECT_EX && def->offset == field.offset;
}

// Make `cls.<field>` a member descriptor of the field's slot (replacing the dataclass default).
int install_field_descriptors(PyTypeObject* type, ClassLayout* layout) {
    // Names held, offsets copied: the allocations below may run Python code that swaps the table.
    std::vector<std::pair<PyObject*, Py_ssize_t>> missing;
    for (const Field& field : layout->fields) {
        if (!reads_slot(type, field)) {
            missing.emplace_back(Py_NewRef(field.name), field.offset);
        }
    }
    if (missing.empty()) {
        return 0;
    }
    // Owned by the layout before any descriptor points into it, so that an error half-way through
    // leaves no descriptor pointing at freed memory.
    layout->member_defs.emplace_back(new PyMemberDef[missing.size()]());
    PyMemberDef* defs = layout->member_defs.back().get();
    int status = 0;
    for (std::size_t i = 0; i < missing.size() && status == 0; ++i) {
        auto [name, offset] = missing[i];
        const char* utf8 = PyUnicode_AsUTF8(name);  // kept alive by the class dict, where it is the key
        PyObject* descr = nullptr;
        if (utf8 != nullptr) {
            defs[i] = PyMemberDef{utf8, T_OBJECT_EX, offset, 0, nullptr};
            descr = PyDescr_NewMember(type, &defs[i]);
        }
        status = (descr == nullptr || PyDict_SetItem(type->tp_dict, name, descr) < 0) ? -1 : 0;
        Py_XDECREF(descr);
    }
    for (auto& entry : missing) {
        Py_DECREF(entry.first);
    }
    PyType_Modified(type);  // descriptors were written to the class dict directly
    return status;
}

void assign_version_tag(PyTypeObject* type) {
#if PY_VERSION_HEX >= 0x030C0000
    PyUnstable_Type_AssignVersionTag(type);
#else
    lookup(type, "__init__");  // _PyType_Lookup assigns a tag as a side effect
#endif
}

// Every object slot of the instances, from the member tables of the heap types in the MRO (the
// table a heap type carries after its PyHeapTypeObject, sized by its metaclass's tp_basicsize).
void collect_object_slots(PyTypeObject* type, ClassLayout* layout) {
    PyObject* mro = type->tp_mro;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); ++i) {
        auto* base = reinterpret_cast<PyTypeObject*>(PyTuple_GET_ITEM(mro, i));
        if (!(base->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
            continue;
        }
        auto* members = reinterpret_cast<PyMemberDef*>(reinterpret_cast<char*>(base) + Py_TYPE(base)->tp_basicsize);
        for (Py_ssize_t m = 0; m < Py_SIZE(base); ++m) {
            if (members[m].type == T_OBJECT_EX && members[m].offset != type->tp_dictoffset) {
                layout->object_slots.push_back(members[m].offset);
            }
        }
    }
}

// Build the table from `describe(cls, root)`. Python code runs on the way (describe itself, and any
// finalizer that an allocation's collection runs), and with it possibly another thread rebuilding the
// same table: the new table is assembled apart and swapped in with no Python code in between, so
// that nobody ever sees a half-built or doubly-filled one.
int finalize(PyTypeObject* type, ClassLayout* layout) {
    PyObject* info = PyObject_CallFunctionObjArgs(hooks.describe, type, hooks.root, nullptr);
    if (info == nullptr) {
        return -1;
    }
    auto flag = [info](const char* key) {
        PyObject* value = PyDict_GetItemString(info, key);  // borrowed
        return value != nullptr && PyObject_IsTrue(value) == 1;
    };
    PyObject* names = PyDict_GetItemString(info, "names");                // borrowed
    PyObject* defaults = PyDict_GetItemString(info, "defaults");          // borrowed
    PyObject* qualname = PyDict_GetItemString(info, "init_qualname");     // borrowed
    if (!PyDict_Check(info) || names == nullptr || !PyTuple_Check(names) || defaults == nullptr ||
        !PyTuple_Check(defaults) || PyTuple_GET_SIZE(defaults) != PyTuple_GET_SIZE(names) || qualname == nullptr ||
        !PyUnicode_Check(qualname)) {
        Py_DECREF(info);
        PyErr_SetString(PyExc_TypeError, "describe() returned a malformed class description");
        return -1;
    }
    ClassLayout fresh;  // only its table part is filled, then swapped into `layout`
    fresh.is_dataclass = flag("is_dataclass");
    fresh.first_required = flag("first_required");
    fresh.native_to_tuple = flag("native_to_tuple");
    fresh.native_getitem = flag("native_getitem");
    fresh.plain_copy = flag("plain_copy");
    fresh.renames_cache = flag("renames_cache");
    const bool native = flag("native");
    fresh.init_qualname = Py_NewRef(qualname);
    fresh.field_names = PyFrozenSet_New(names);
    if (fresh.field_names == nullptr) {
        Py_DECREF(info);
        return -1;
    }
    bool all_in_slots = true;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); ++i) {
        PyObject* name = Py_NewRef(PyTuple_GET_ITEM(names, i));
        PyObject* default_box = PyTuple_GET_ITEM(defaults, i);  // (default,) or ()
        if (!PyUnicode_CheckExact(name) || !PyTuple_Check(default_box)) {
            Py_DECREF(name);
            Py_DECREF(info);
            PyErr_SetString(PyExc_TypeError, "describe() returned a malformed field");
            return -1;
        }
        PyUnicode_InternInPlace(&name);
        Py_ssize_t offset = find_slot(type, name);
        all_in_slots = all_in_slots && offset >= 0;
        PyObject* default_value = PyTuple_GET_SIZE(default_box) == 1 ? Py_NewRef(PyTuple_GET_ITEM(default_box, 0)) : nullptr;
        fresh.fields.push_back(Field{name, offset, default_value});
    }
    Py_DECREF(info);
    if (!all_in_slots) {
        // A field declared after class creation has no slot: then every field stays in __dict__, so
        // that the attributes keep one store.
        for (Field& field : fresh.fields) {
            field.offset = -1;
        }
    }
    fresh.fields_in_slots = all_in_slots;
    fresh.mode = (all_in_slots && native) ? BuildMode::Native : BuildMode::Generic;
    // The swap: plain moves, no Python code. The old table goes with `fresh` at the end of this
    // function (releasing a default value may run a finalizer, which now sees the new table).
    std::swap(layout->fields, fresh.fields);
    std::swap(layout->field_names, fresh.field_names);
    std::swap(layout->init_qualname, fresh.init_qualname);
    layout->is_dataclass = fresh.is_dataclass;
    layout->first_required = fresh.first_required;
    layout->native_to_tuple = fresh.native_to_tuple;
    layout->native_getitem = fresh.native_getitem;
    layout->plain_copy = fresh.plain_copy;
    layout->renames_cache = fresh.renames_cache;
    layout->fields_in_slots = fresh.fields_in_slots;
    layout->mode = fresh.mode;
    ++layout->generation;
    layout->finalized = false;
    if (all_in_slots && install_field_descriptors(type, layout) < 0) {
        return -1;
    }
    assign_version_tag(type);
    layout->version_tag = type->tp_version_tag;
    layout->finalized = true;
    return 0;
}

PyObject* meta_new(PyTypeObject* meta, PyObject* args, PyObject* kwds) {
    if (PyTuple_GET_SIZE(args) != 3 || !PyDict_Check(PyTuple_GET_ITEM(args, 2)) ||
        !PyTuple_Check(PyTuple_GET_ITEM(args, 1))) {
        return PyType_Type.tp_new(meta, args, kwds);  // type(x), or malformed: type reports it
    }
    PyObject* bases = PyTuple_GET_ITEM(args, 1);
    PyObject* ns = PyTuple_GET_ITEM(args, 2);
    bool is_root = true;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(bases); ++i) {
        if (is_output_class(PyTuple_GET_ITEM(bases, i))) {
            is_root = false;
        }
    }

    PyObject* slots = PyList_New(0);
    if (slots == nullptr) {
        return nullptr;
    }
    PyObject* user_slots = PyDict_GetItemString(ns, "__slots__");  // borrowed
    int status = 0;
    if (user_slots != nullptr) {
        PyObject* user_list = PyUnicode_Check(user_slots) ? Py_BuildValue("[O]", user_slots) : PySequence_List(user_slots);
        status = user_list == nullptr ? -1 : PyList_SetSlice(slots, 0, 0, user_list);
        Py_XDECREF(user_list);
    } else if (is_root) {
        // Extra attributes go to a plain dict slot (tp_dictoffset), not CPython's managed dict: the
        // lifecycle functions free it with public API only.
        PyObject* dict_and_weakref = Py_BuildValue("[ss]", kExtrasSlot, "__weakref__");
        status = dict_and_weakref == nullptr ? -1 : PyList_SetSlice(slots, 0, 0, dict_and_weakref);
        Py_XDECREF(dict_and_weakref);
    }
    PyObject* annotations = PyDict_GetItemString(ns, "__annotations__");  // borrowed
    if (status == 0 && annotations != nullptr && PyDict_Check(annotations)) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (status == 0 && PyDict_Next(annotations, &pos, &key, &value)) {
            if (!PyUnicode_Check(key) || !PyUnicode_IsIdentifier(key)) {
                continue;
            }
            PyObject* slot_name = PyUnicode_FromFormat("%s%U%s", kSlotPrefix, key, kSlotSuffix);
            status = slot_name == nullptr ? -1 : PyList_Append(slots, slot_name);
            Py_XDECREF(slot_name);
        }
    }
    PyObject* new_ns = status == 0 ? PyDict_Copy(ns) : nullptr;
    PyObject* slots_tuple = new_ns != nullptr ? PyList_AsTuple(slots) : nullptr;
    Py_DECREF(slots);
    if (slots_tuple == nullptr || PyDict_SetItemString(new_ns, "__slots__", slots_tuple) < 0) {
        Py_XDECREF(slots_tuple);
        Py_XDECREF(new_ns);
        return nullptr;
    }
    Py_DECREF(slots_tuple);
    PyObject* new_args = Py_BuildValue("(OON)", PyTuple_GET_ITEM(args, 0), bases, new_ns);
    if (new_args == nullptr) {
        return nullptr;
    }
    PyObject* cls = PyType_Type.tp_new(meta, new_args, kwds);
    Py_DECREF(new_args);
    if (cls == nullptr) {
        return nullptr;
    }
    PyTypeObject* type = reinterpret_cast<PyTypeObject*>(cls);

    // Take the hidden slots out of sight: remember their offsets, drop their descriptors.
    auto* layout = new ClassLayout();
    reinterpret_cast<OutputMetaObject*>(cls)->layout = layout;
    PyObject* dict = type->tp_dict;
    PyObject* hidden = PyList_New(0);
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (hidden != nullptr && PyDict_Next(dict, &pos, &key, &value)) {
        if (Py_TYPE(value) != &PyMemberDescr_Type || !PyUnicode_Check(key)) {
            continue;
        }
        Py_ssize_t length = 0;
        const char* utf8 = PyUnicode_AsUTF8AndSize(key, &length);
        if (utf8 == nullptr || static_cast<std::size_t>(length) <= kSlotPrefixLen + kSlotSuffixLen ||
            std::strncmp(utf8, kSlotPrefix, kSlotPrefixLen) != 0 || std::strcmp(kExtrasSlot, utf8) == 0) {
            PyErr_Clear();
            continue;
        }
        PyObject* field_name = PyUnicode_FromStringAndSize(
            utf8 + kSlotPrefixLen, length - static_cast<Py_ssize_t>(kSlotPrefixLen + kSlotSuffixLen));
        if (field_name != nullptr) {
            PyUnicode_InternInPlace(&field_name);
        }
        if (field_name == nullptr || PyList_Append(hidden, key) < 0) {
            Py_XDECREF(field_name);
            Py_CLEAR(hidden);
            break;
        }
        layout->own_slots.push_back(
            Field{field_name, reinterpret_cast<PyMemberDescrObject*>(value)->d_member->offset, nullptr});
    }
    if (hidden == nullptr) {
        Py_DECREF(cls);
        return nullptr;
    }
    if (is_root) {
        PyObject* extras = PyDict_GetItemString(dict, kExtrasSlot);  // borrowed
        PyObject* extras_name = PyUnicode_FromString(kExtrasSlot);
        const int appended = extras_name == nullptr ? -1 : PyList_Append(hidden, extras_name);
        Py_XDECREF(extras_name);
        if (extras == nullptr || Py_TYPE(extras) != &PyMemberDescr_Type || appended < 0) {
            Py_DECREF(hidden);
            Py_DECREF(cls);
            PyErr_SetString(PyExc_TypeError, "OutputMeta could not lay out the root class");
            return nullptr;
        }
        type->tp_dictoffset = reinterpret_cast<PyMemberDescrObject*>(extras)->d_member->offset;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(hidden); ++i) {
        PyDict_DelItem(dict, PyList_GET_ITEM(hidden, i));
    }
    Py_DECREF(hidden);
    collect_object_slots(type, layout);
    type->tp_dealloc = output_dealloc;
    type->tp_traverse = output_traverse;
    type->tp_clear = output_clear;
    if (user_slots == nullptr) {
        PyDict_DelItemString(dict, "__slots__");
    } else {
        PyDict_SetItemString(dict, "__slots__", user_slots);
    }
    PyType_Modified(type);
    type->tp_alloc = output_alloc;
    type->tp_free = output_free;
    install_native_slots(type);
    return cls;
}

int meta_setattro(PyObject* cls, PyObject* name, PyObject* value) {
    if (PyType_Type.tp_setattro(cls, name, value) < 0) {
        return -1;
    }
    auto* type = reinterpret_cast<PyTypeObject*>(cls);
    // CPython has just recomputed the slots for `name`; put ours back where they still apply.
    if (reinstall_native_slots(type) < 0) {
        return -1;
    }
    // `Cls.field = v` replaced the field's descriptor: instances must keep reading their slots (in
    // transformers a class attribute never hides an instance's own value), so rebuild at once.
    ClassLayout* layout = layout_of(type);
    if (layout == nullptr || layout->field_names == nullptr || hooks.describe == nullptr) {
        return 0;
    }
    int is_field_name = is_field(*layout, name);
    if (is_field_name != 1) {
        return is_field_name;
    }
    layout->finalized = false;
    return ready_layout(type) == nullptr ? -1 : 0;
}

void meta_dealloc(PyObject* cls) {
    auto* meta_obj = reinterpret_cast<OutputMetaObject*>(cls);
    ClassLayout* layout = meta_obj->layout;
    meta_obj->layout = nullptr;
    if (layout != nullptr) {
        drain_free_list(layout);
    }
    delete layout;
    PyType_Type.tp_dealloc(cls);
}

}  // namespace

ClassLayout* rebuild_layout(PyTypeObject* type) {
    ClassLayout* layout = layout_of(type);
    if (hooks.describe == nullptr) {
        return layout;  // before install(): nothing native runs yet
    }
    return finalize(type, layout) < 0 ? nullptr : layout;
}

PyTypeObject OutputMeta_Type = {PyVarObject_HEAD_INIT(nullptr, 0)};

int ready_meta_type() {
    PyTypeObject& t = OutputMeta_Type;
    t.tp_name = "fastoutput._core.OutputMeta";
    t.tp_doc = "Metaclass of fastoutput outputs: native field slots and a per-class field table.";
    t.tp_basicsize = sizeof(OutputMetaObject);
    t.tp_itemsize = sizeof(PyMemberDef);
    t.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL;
    t.tp_base = &PyType_Type;
    t.tp_new = meta_new;
    t.tp_dealloc = meta_dealloc;
    t.tp_setattro = meta_setattro;
    t.tp_traverse = PyType_Type.tp_traverse;
    t.tp_clear = PyType_Type.tp_clear;
    // tp_call is inherited from type, not set here: set, it would put a __call__ in OutputMeta.__dict__
    // that hides the __call__ of a metaclass combined with this one.
    t.tp_vectorcall_offset = offsetof(PyTypeObject, tp_vectorcall);
    return PyType_Ready(&t);
}

int install_root(PyObject* root, PyObject* describe, PyObject* expand_first_field, PyObject* is_tensor_fn,
                 PyObject* copy_by_reduce, PyObject* attribute_dict) {
    if (!is_output_class(root)) {
        PyErr_SetString(PyExc_TypeError, "install() needs a class created by OutputMeta");
        return -1;
    }
    if (hooks.root != nullptr) {
        PyErr_SetString(PyExc_RuntimeError, "install() was already called");
        return -1;
    }
    auto* type = reinterpret_cast<PyTypeObject*>(root);
    PyObject* dict = type->tp_dict;
    root_getitem = Py_XNewRef(PyDict_GetItemString(dict, "__getitem__"));
    root_setitem = Py_XNewRef(PyDict_GetItemString(dict, "__setitem__"));
    root_delitem = Py_XNewRef(PyDict_GetItemString(dict, "__delitem__"));
    if (root_getitem == nullptr || root_setitem == nullptr || root_delitem == nullptr) {
        PyErr_SetString(PyExc_TypeError, "the root class must define __getitem__, __setitem__ and __delitem__");
        return -1;
    }
    // Assigned through type.__setattr__ so that CPython re-derives tp_setattro from __setattr__.
    for (PyMethodDef* def : {&to_tuple_def, &setattr_def, &reduce_def, &setstate_def, &copy_def}) {
        PyObject* descr = PyDescr_NewMethod(type, def);
        int status = descr == nullptr ? -1 : PyObject_SetAttrString(root, def->ml_name, descr);
        Py_XDECREF(descr);
        if (status < 0) {
            return -1;
        }
    }
    // type.__setattr__ refuses the name __dict__: write it into the class dict directly.
    PyObject* dict_descr = PyDescr_NewGetSet(type, &dict_getset_def);
    int status = dict_descr == nullptr ? -1 : PyDict_SetItemString(dict, "__dict__", dict_descr);
    Py_XDECREF(dict_descr);
    if (status < 0) {
        return -1;
    }
    PyType_Modified(type);
    hooks.root = Py_NewRef(root);
    hooks.describe = Py_NewRef(describe);
    hooks.expand_first_field = Py_NewRef(expand_first_field);
    hooks.is_tensor = Py_NewRef(is_tensor_fn);
    hooks.copy_by_reduce = Py_NewRef(copy_by_reduce);
    hooks.attribute_dict = Py_NewRef(attribute_dict);
    install_native_slots(type);
    return 0;
}

}  // namespace fastoutput
