// fastoutput._core: the module. It only wires things up; each concept lives in its own file.
//   output_meta.cpp  the metaclass, per-class field table, installation on the root class
//   construct.cpp    the type vectorcall constructor
//   access.cpp       item slots, to_tuple, __setattr__, __dict__
//   lifecycle.cpp    allocation, free list, dealloc, GC traverse/clear
//   pickle.cpp       __reduce__, __setstate__, __copy__
//   tensor_check.cpp the first-field tensor test
//   stand_in.cpp     the metaclass change behind standing in for transformers' classes
#include <pybind11/pybind11.h>

#include "output_meta.h"

namespace py = pybind11;

namespace fastoutput {
int ready_meta_type();
}

#ifndef FASTOUTPUT_SANITIZERS
#define FASTOUTPUT_SANITIZERS ""
#endif

#define FASTOUTPUT_STRINGIFY(x) #x
#define FASTOUTPUT_VERSION_STRING(x) FASTOUTPUT_STRINGIFY(x)

PYBIND11_MODULE(_core, m) {
    m.doc() = "Native core of fastoutput: the ModelOutput metaclass, constructor and accessors.";
    if (fastoutput::ready_meta_type() < 0) {
        throw py::error_already_set();
    }
    m.attr("OutputMeta") = py::handle(reinterpret_cast<PyObject*>(&fastoutput::OutputMeta_Type));
    m.def(
        "install",
        [](py::handle root, py::handle describe, py::handle expand_first_field, py::handle is_tensor,
           py::handle copy_by_reduce, py::handle attribute_dict) {
            if (fastoutput::install_root(root.ptr(), describe.ptr(), expand_first_field.ptr(), is_tensor.ptr(),
                                         copy_by_reduce.ptr(), attribute_dict.ptr()) < 0) {
                throw py::error_already_set();
            }
        },
        py::arg("root"), py::arg("describe"), py::arg("expand_first_field"), py::arg("is_tensor"),
        py::arg("copy_by_reduce"), py::arg("attribute_dict"),
        "Install the native paths on the root output class (called once by fastoutput).");
    m.def(
        "build_mode",
        [](py::handle cls) -> const char* {
            if (!PyObject_TypeCheck(cls.ptr(), &fastoutput::OutputMeta_Type)) {
                throw py::type_error("build_mode() needs a fastoutput class");
            }
            fastoutput::ClassLayout* layout = fastoutput::ready_layout(reinterpret_cast<PyTypeObject*>(cls.ptr()));
            if (layout == nullptr) {
                throw py::error_already_set();
            }
            return layout->mode == fastoutput::BuildMode::Native ? "native" : "generic";
        },
        py::arg("cls"),
        "How instances of cls are built: 'native' (the C++ constructor) or 'generic' (its Python __init__).");
    m.def(
        "set_metaclass",
        [](py::handle cls, py::handle meta) {
            if (fastoutput::set_metaclass(cls.ptr(), meta.ptr()) < 0) {
                throw py::error_already_set();
            }
        },
        py::arg("cls"), py::arg("meta"),
        "Make meta the metaclass of cls; one must derive from the other without adding storage.");
    m.attr("__version__") = FASTOUTPUT_VERSION_STRING(VERSION_INFO);
    // Lets the sanitizer CI leg check that it really runs an instrumented build.
    m.attr("sanitizers") = FASTOUTPUT_SANITIZERS;
}
