/* kanlab's fused CPU kernels, built once per machine into a per-user cache by kanlab/_build.py (cc -O3 -march=native
   -fopenmp-simd -pthread); see kanlab/native.py for what each entry point computes and kernels_impl.h for how. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(KANLAB_ONLY) || KANLAB_ONLY == 64
#define KANLAB_POOL_IMPL  /* the pool lives in one of the two translation units */
#endif
#include "pool.h"

#define CH 256          /* elements per chunk (scratch lives on the stack) */
#define KMAX 7          /* largest spline order handled here; larger k falls back to the torch path */
#ifndef PAR_MIN
#define PAR_MIN 16384   /* below this much work (multiply-adds, VALUE_COST per input value) a call stays on one thread */
#endif
/* the register tiles' vector width: a 512-bit register where there are 32 of them (AVX-512), else 256 bits (with
   16 registers, 512-bit tiles spill to the stack: the sparse backward ran 4x slower on an AVX2 CPU) */
#ifdef __AVX512F__
#define VBYTES 64
#else
#define VBYTES 32
#endif
#ifndef SPARSE_ROWS_MAX
#define SPARSE_ROWS_MAX 64  /* batch rows per block of the sparse kernels, at most */
#endif
#define VALUE_COST 32   /* the fixed work per input value (basis, search), in multiply-adds */

/* vector variants from glibc's libmvec, so that exp inside `omp simd` loops vectorises (-fopenmp-simd: the simd
   pragmas only, no OpenMP runtime; threads come from pool.h. The portable fallback build defines KANLAB_PORTABLE:
   serial, no libmvec) */
#ifndef KANLAB_PORTABLE
#pragma omp declare simd notinbranch
extern float expf(float);
#pragma omp declare simd notinbranch
extern double exp(double);
#endif

/* kanlab/_build.py compiles this file twice, -DKANLAB_ONLY=32 and -DKANLAB_ONLY=64, in parallel */
#if !defined(KANLAB_ONLY) || KANLAB_ONLY == 64
int kanlab_abi_version(void) { return 1; }
#endif

/* The spline rows an element of interval j touches: bases j - k + m for m in [*m0, *m1], those in [0, nb)
   (empty off the grid, j < 0). */
static inline void active_range(int j, int k, int64_t nb, int *m0, int *m1) {
    if (j < 0) { *m0 = 0; *m1 = -1; return; }
    *m0 = j < k ? k - j : 0;
    *m1 = j >= nb ? k - (int)(j - nb + 1) : k;
}

#if !defined(KANLAB_ONLY) || KANLAB_ONLY == 32
#define REAL float
#define NAME(f) f##_f32
#define EXP expf
#include "kernels_impl.h"
#undef REAL
#undef NAME
#undef EXP
#endif

#if !defined(KANLAB_ONLY) || KANLAB_ONLY == 64
#define REAL double
#define NAME(f) f##_f64
#define EXP exp
#include "kernels_impl.h"
#undef REAL
#undef NAME
#undef EXP
#endif
