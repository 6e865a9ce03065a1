"""Run the CUDA C kernels of kernels/cuda_src/ on the CPU, one emulated thread after another.

The .cu files are compiled by the host C++ compiler with `__global__`/`__device__` defined
away and `blockIdx.x` set by a loop, so their index arithmetic, bounds checks and gathers run
here exactly as written. Each template kernel `name<T>` is instantiated for T = float and
double, under the names kernels/cuda.py launches (`name<float>`, `name<double>`). The argument
lists that kernels/cuda.py passes are checked against each instance's C signature (count,
pointer element types, integer and float widths). What this
cannot check is NVRTC compilation and the real launch: that needs a GPU.
"""
import ctypes
import pathlib
import re
import subprocess

import numpy as np

SOURCE_DIR = pathlib.Path(__file__).resolve().parents[1] / "kernels" / "cuda_src"
THREADS_PER_BLOCK = 256  # as kernels/cuda.py: the loop also runs the threads past `total`

PRELUDE = """
#include <algorithm>
#include <cmath>
using std::max; using std::min; using std::pow;
struct EmulatedIndex { long long x; };
static EmulatedIndex blockIdx = {0}, threadIdx = {0}, blockDim = {1};
#define __global__
#define __device__
"""
KERNEL = re.compile(r"template <typename T>\s*__global__ void (\w+)\(([^)]*)\)")
ELEMENT_TYPES = ("float", "double")  # the T of every instance kernels/cuda.py loads
# C parameter type -> what kernels/cuda.py must pass for it
SCALARS = {"int": np.int32, "long long": np.int64, "float": np.float32, "double": np.float64}
POINTERS = {"float": np.float32, "double": np.float64, "long long": np.int64}
CTYPES = {np.int32: ctypes.c_int, np.int64: ctypes.c_longlong, np.float32: ctypes.c_float,
          np.float64: ctypes.c_double}
STRUCT = re.compile(r"struct (\w+) \{([^}]*)\};")


def structs(source):
    """{name: NumPy dtype with its fields, in order and C layout} of the structs in a .cu."""
    found = {}
    for name, body in STRUCT.findall(source):
        fields = []
        for declaration in filter(str.strip, body.split(";")):   # e.g. "int row, col"
            first, *others = declaration.split(",")
            *type_words, first_name = first.split()
            element = SCALARS[" ".join(type_words)]
            fields += [(field.strip(), element) for field in [first_name] + others]
        found[name] = np.dtype(fields, align=True)
    return found


def _ctypes_struct(name, dtype):
    """A ctypes.Structure with the fields of `dtype`, to pass a struct by value."""
    fields = [(field, CTYPES[dtype.fields[field][0].type]) for field in dtype.names]
    return type(name, (ctypes.Structure,), {"_fields_": fields})


def entry_points(source):
    """[(instance, [(C type without const/*, is_pointer, parameter name), ...]), ...] of a .cu:
    each template kernel `name<T>` as `name<float>` and `name<double>`, T replaced in its
    parameters."""
    entries = []
    for name, params in KERNEL.findall(source):
        for element in ELEMENT_TYPES:
            parsed = []
            for param in params.split(","):
                words = param.replace("*", " * ").replace("const ", "").split()
                ctype = " ".join(element if w == "T" else w for w in words[:-1] if w != "*")
                parsed.append((ctype, "*" in words, words[-1]))
            entries.append((f"{name}<{element}>", parsed))
    return entries


def _host_name(instance):
    """The C name of the host loop running `instance`: im2col<float> -> host_im2col_float."""
    return "host_" + instance.replace("<", "_").rstrip(">")


def _host_loop(instance, params):
    """A host function running kernel `instance` once per thread of the launch grid."""
    declared = ", ".join(f"{ctype}{'*' if ptr else ''} {p}" for ctype, ptr, p in params)
    passed = ", ".join(p for _, _, p in params)
    return (f'extern "C" void {_host_name(instance)}({declared}) {{\n'
            f"    long long threads = (total + {THREADS_PER_BLOCK - 1}) / {THREADS_PER_BLOCK}"
            f" * {THREADS_PER_BLOCK};\n"
            f"    for (long long t = 0; t < threads; ++t) {{\n"
            f"        blockIdx.x = t;\n        {instance}({passed});\n    }}\n}}\n")


class Emulator:
    """All .cu files built into one shared library; `launch` has kernels/cuda.launch's API."""

    def __init__(self, build_dir, compiler="g++"):
        sources = {path.name: path.read_text() for path in sorted(SOURCE_DIR.glob("*.cu"))}
        self.signatures = {name: params for text in sources.values()
                           for name, params in entry_points(text)}
        self.structs = {name: dtype for text in sources.values()
                        for name, dtype in structs(text).items()}
        loops = [_host_loop(name, params) for name, params in self.signatures.items()]
        unit = pathlib.Path(build_dir) / "emulated_kernels.cpp"
        unit.write_text(PRELUDE + "\n".join(sources.values()) + "\n".join(loops))
        library = pathlib.Path(build_dir) / "emulated_kernels.so"
        subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o", str(library), str(unit)],
                       check=True, capture_output=True, text=True)
        self.library = ctypes.CDLL(str(library))
        self.launched = []

    def launch(self, file, name, total, args):
        params = self.signatures[name]
        assert len(args) == len(params), f"{name}: {len(args)} arguments for {len(params)}"
        c_args = [self._convert(name, arg, param) for arg, param in zip(args, params)]
        self.launched.append(name)
        getattr(self.library, _host_name(name))(*c_args)

    def _convert(self, name, arg, param):
        ctype, is_pointer, param_name = param
        if ctype in self.structs and not is_pointer:   # CuPy passes a size-1 array by value
            dtype = self.structs[ctype]
            assert isinstance(arg, np.ndarray) and arg.shape == (1,), \
                f"{name}: {param_name} must be a one-element array of the struct {ctype}"
            assert arg.dtype == dtype, f"{name}: {param_name} is {arg.dtype}, C wants {dtype}"
            return _ctypes_struct(ctype, dtype).from_buffer_copy(arg.tobytes())
        if is_pointer:
            assert isinstance(arg, np.ndarray), f"{name}: {param_name} must be an array"
            assert arg.dtype == POINTERS[ctype], f"{name}: {param_name} is {arg.dtype}"
            assert arg.flags.c_contiguous, f"{name}: {param_name} is not C-contiguous"
            return ctypes.c_void_p(arg.ctypes.data)
        expected = SCALARS[ctype]
        assert type(arg) is expected, f"{name}: {param_name} is {type(arg)}, C wants {ctype}"
        return CTYPES[expected](arg)
