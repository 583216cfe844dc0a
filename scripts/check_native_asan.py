"""Run the native-kernel tests with the kernels built under AddressSanitizer (out-of-bounds reads and writes abort).

    ASAN_OPTIONS=detect_leaks=0,verify_asan_link_order=0 LD_PRELOAD=$(gcc -print-file-name=libasan.so) \
        .venv/bin/python scripts/check_native_asan.py

(or `make asan`). Python itself is not instrumented; the preload only provides the sanitizer runtime.
"""

import sys

import pytest

from kanlab import _build, native

# its own cache entry: the flags are part of the cache key
_build.BUILDS = [(["-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer", "-march=native", "-fopenmp-simd",
                   "-pthread", "-fno-math-errno", "-fno-strict-aliasing", "-fPIC"],
                  ["-fsanitize=address", "-pthread", "-lmvec", "-lm"])]
if not native.available():
    sys.exit("the AddressSanitizer build of the kernels failed (is libasan preloaded?)")
# Left out here: the portable-build test (it recompiles without the sanitizer); torch.compile/export (slow, and no
# kernel code of their own); and the test whose ops raise through torch's dispatcher: a Python exception crossing
# libtorch's C++ frames ends the process silently under the preloaded ASan runtime (without kanlab's kernels
# involved: the op refuses its arguments before any kernel runs)
sys.exit(pytest.main(["-x", "-q", "-p", "no:cacheprovider", "tests/test_native.py", "tests/test_layer.py",
                      "tests/test_ops.py", "tests/test_objective.py", "-k", "not portable and not compile and not export and not refuse_a_mode"]))
