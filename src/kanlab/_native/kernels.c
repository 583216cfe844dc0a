/* kanlab's fused CPU kernels; built on first use by kanlab/native.py (cc -O3 -march=native -fopenmp). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CH 256          /* elements per chunk (scratch lives on the stack) */
#define KMAX 7          /* largest spline order handled here; larger k falls back to the torch path */
#define PAR_MIN 32768   /* below this many feature values a call stays on one thread */

/* vector variants from glibc's libmvec, so that exp inside `omp simd` loops vectorises (the portable fallback
   build defines KANLAB_PORTABLE: no OpenMP runtime, no libmvec) */
#ifndef KANLAB_PORTABLE
#pragma omp declare simd notinbranch
extern float expf(float);
#pragma omp declare simd notinbranch
extern double exp(double);
#endif

int kanlab_abi_version(void) { return 1; }

#define REAL float
#define NAME(f) f##_f32
#define EXP expf
#include "kernels_impl.h"
#undef REAL
#undef NAME
#undef EXP

#define REAL double
#define NAME(f) f##_f64
#define EXP exp
#include "kernels_impl.h"
#undef REAL
#undef NAME
#undef EXP
