// The tensor test of the first-field rule, with a cache of the exact types found to be tensors.
//
// The answer comes from fastoutput._tensors.is_tensor, which looks framework types up in sys.modules
// (never importing one). Whether a value is a tensor depends only on its exact type, so positive
// answers are cached by type: BaseModelOutput(last_hidden_state=t) pays the Python call once.
#include "output_meta.h"

namespace fastoutput {

namespace {

constexpr int kCachedTypes = 16;
PyTypeObject* tensor_types[kCachedTypes] = {};  // owned references
int tensor_type_count = 0;

bool is_builtin_non_tensor(PyTypeObject* type) {
    return type == &PyDict_Type || type == &PyList_Type || type == &PyTuple_Type || type == &PyUnicode_Type ||
           type == &PyLong_Type || type == &PyFloat_Type || type == &PyBool_Type || type == &PyBytes_Type;
}

}  // namespace

bool is_tensor(PyObject* value, int* error) {
    PyTypeObject* type = Py_TYPE(value);
    if (is_builtin_non_tensor(type)) {
        return false;
    }
    for (int i = 0; i < tensor_type_count; ++i) {
        if (tensor_types[i] == type) {
            return true;
        }
    }
    PyObject* answer = PyObject_CallOneArg(hooks.is_tensor, value);
    if (answer == nullptr) {
        *error = 1;
        return false;
    }
    const int truth = PyObject_IsTrue(answer);
    Py_DECREF(answer);
    if (truth < 0) {
        *error = 1;
        return false;
    }
    if (truth == 1 && tensor_type_count < kCachedTypes) {
        tensor_types[tensor_type_count++] = reinterpret_cast<PyTypeObject*>(Py_NewRef(type));
    }
    return truth == 1;
}

}  // namespace fastoutput
