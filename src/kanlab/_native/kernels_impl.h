/* Fused B-spline feature kernels, written once for REAL = float and double (included twice by kernels.c).
 *
 * N = batch * n_in input values, flattened row-major: element e belongs to input e % n_in.
 * tT: (n_knots + 2k + 2, n_in), each input's knot vector extended by k + 1 extrapolated knots per side and
 *     transposed, so knot r of input i sits at tT[(r + k + 1) * n_in + i].
 * feat: (N, S), S = 1 + nb, nb = n_knots - k - 1: [base(x) | B_0(x) .. B_{nb-1}(x)] per element.
 * Points outside [t_0, t_last), and NaN, have all bases (and slopes) zero: the padding convention of splines.py.
 * Each chunk of CH elements is processed by loops over the chunk that the compiler vectorises (gathers included).
 */

static void NAME(base_values)(const REAL *x, int n, int base, REAL *out, REAL *slope) {
    if (base == 0) { /* silu */
        #pragma omp simd
        for (int e = 0; e < n; e++) {
            REAL s = (REAL)1 / ((REAL)1 + EXP(-x[e]));
            out[e] = x[e] * s;
            slope[e] = s * ((REAL)1 + x[e] * ((REAL)1 - s));
        }
    } else if (base == 1) { /* identity */
        for (int e = 0; e < n; e++) { out[e] = x[e]; slope[e] = (REAL)1; }
    } else { /* zero */
        for (int e = 0; e < n; e++) { out[e] = (REAL)0; slope[e] = (REAL)0; }
    }
}

/* Interval j (t_j <= x < t_{j+1}, in [0, n_knots - 2]) of each element, or -1 off the grid; and x - t_j. */
static void NAME(locate)(const REAL *x, const int64_t *ii, int n, const REAL *tT, int64_t n_in, int64_t n_knots,
                         int k, int uniform, int *jj, REAL *xr) {
    const REAL *t0 = tT + (int64_t)(k + 1) * n_in;           /* row of knot 0 */
    const REAL *tl = tT + (int64_t)(n_knots + k) * n_in;     /* row of the last knot */
    if (uniform) {
        const REAL *t1 = t0 + n_in;
        #pragma omp simd
        for (int e = 0; e < n; e++) {
            int64_t i = ii[e];
            REAL xv = x[e], lo = t0[i], h = t1[i] - lo;
            int valid = (xv >= lo) & (xv < tl[i]);
            REAL u = valid ? (xv - lo) / h : (REAL)0;
            int j = (int)u;                                     /* u >= 0: truncation is floor */
            j = j > (int)(n_knots - 2) ? (int)(n_knots - 2) : j;
            jj[e] = valid ? j : -1;
        }
    } else {
        /* branch-free binary search, vectorised across elements: the largest lo with t_lo <= x */
        int top = 1;
        while (top * 2 <= n_knots - 2) top *= 2;
        for (int e = 0; e < n; e++) jj[e] = 0;
        for (int step = top; step >= 1; step >>= 1) {
            #pragma omp simd
            for (int e = 0; e < n; e++) {
                const int mid = jj[e] + step;
                const int ok = mid <= (int)(n_knots - 2);
                const REAL tm = t0[(int64_t)(ok ? mid : 0) * n_in + ii[e]];
                jj[e] = (ok & (tm <= x[e])) ? mid : jj[e];
            }
        }
        #pragma omp simd
        for (int e = 0; e < n; e++) {
            int64_t i = ii[e];
            int valid = (x[e] >= t0[i]) & (x[e] < tl[i]);
            jj[e] = valid ? jj[e] : -1;
        }
    }
    #pragma omp simd
    for (int e = 0; e < n; e++) {
        int j = jj[e] < 0 ? 0 : jj[e];
        xr[e] = jj[e] < 0 ? (REAL)0 : x[e] - t0[(int64_t)j * n_in + ii[e]];
    }
}

/* out[e] = (sum_p f[e]^p M[p][col]) * scale (* invh[e] when given), for p = 0..K: Horner with a literal K, so the
 * polynomial unrolls inside the vector loop. M: (K + 1, 2K + 2). */
static inline __attribute__((always_inline)) void NAME(horner)(const REAL *M, const int K, int col, const REAL *f,
                                                               int n, REAL scale, const REAL *invh, REAL *out) {
    REAL c[KMAX + 1];
    for (int p = 0; p <= K; p++) c[p] = M[p * (2 * K + 2) + col] * scale;
    #pragma omp simd
    for (int e = 0; e < n; e++) {
        REAL acc = c[K];
        for (int p = K - 1; p >= 0; p--) acc = acc * f[e] + c[p];
        out[e] = invh ? acc * invh[e] : acc;
    }
}

/* a call for every k in 1..KMAX with a literal K */
#define DISPATCH_K_ALL(k, call) \
    switch (k) { case 1: call(1); break; case 2: call(2); break; case 3: call(3); break; case 4: call(4); break; \
                 case 5: call(5); break; case 6: call(6); break; default: call(7); break; }

/* Values (vals) and/or x-slopes (ders) of bases j - k .. j, as (k + 1) rows with stride ld. */
static void NAME(local)(const int64_t *ii, const int *jj, const REAL *xr, int n, const REAL *tT, int64_t n_in,
                        int k, int uniform, const REAL *M, REAL *vals, REAL *ders, int64_t ld) {
    const REAL *t0 = tT + (int64_t)(k + 1) * n_in;
    if (uniform) {
        /* f = (x - t_j) / h; [1, f, .., f^k] @ M gives the values (columns 0..k) and d/df (columns k+1..2k+1) */
        REAL f[CH], invh[CH];
        #pragma omp simd
        for (int e = 0; e < n; e++) {
            int64_t i = ii[e];
            invh[e] = (REAL)1 / (t0[n_in + i] - t0[i]);
            f[e] = xr[e] * invh[e];
        }
        for (int m = 0; m <= k; m++) {
            if (vals) {
#define HORNER(K) NAME(horner)(M, K, m, f, n, (REAL)1, NULL, vals + m * ld)
                DISPATCH_K_ALL(k, HORNER)
#undef HORNER
            }
            if (ders) {
#define HORNER(K) NAME(horner)(M, K, K + 1 + m, f, n, (REAL)1, invh, ders + m * ld)
                DISPATCH_K_ALL(k, HORNER)
#undef HORNER
            }
        }
        return;
    }
    /* adaptive: local de Boor triangle on knots t_{j-k+1} .. t_{j+k}, relative to t_j */
    REAL kn[2 * KMAX][CH], a[KMAX + 1][CH], b[KMAX + 1][CH];
    for (int r = 0; r < 2 * k; r++) {
        #pragma omp simd
        for (int e = 0; e < n; e++) {
            int j = jj[e] < 0 ? 0 : jj[e];
            int64_t i = ii[e];
            kn[r][e] = t0[(int64_t)(j - k + 1 + r) * n_in + i] - t0[(int64_t)j * n_in + i];
        }
    }
    #define KN(rr) kn[(rr) + k - 1]
    for (int e = 0; e < n; e++) a[0][e] = (REAL)1;
    REAL (*lower)[CH] = a, (*upper)[CH] = b;
    for (int d = 1; d <= k; d++) {
        /* lower: degree d - 1 values of bases j-d+1 .. j; upper: degree d values of bases j-d .. j */
        #pragma omp simd
        for (int e = 0; e < n; e++) upper[0][e] = (REAL)0;
        for (int r = 0; r < d; r++) {
            #pragma omp simd
            for (int e = 0; e < n; e++) {
                REAL lo = KN(-d + 1 + r)[e], hi = KN(1 + r)[e];
                REAL temp = lower[r][e] / (hi - lo);
                upper[r][e] += (hi - xr[e]) * temp;
                upper[r + 1][e] = (xr[e] - lo) * temp;
            }
        }
        if (d == k && ders) {
            /* slopes from the degree k - 1 values (lower): k/(t_{m+k}-t_m) N_{m,k-1} - k/(t_{m+k+1}-t_{m+1}) N_{m+1,k-1} */
            for (int m = 0; m <= k; m++) {
                REAL *dd = ders + m * ld;
                #pragma omp simd
                for (int e = 0; e < n; e++) {
                    REAL s = (REAL)0;
                    if (m >= 1) s += k * lower[m - 1][e] / (KN(m)[e] - KN(-k + m)[e]);
                    if (m <= k - 1) s -= k * lower[m][e] / (KN(m + 1)[e] - KN(-k + m + 1)[e]);
                    dd[e] = s;
                }
            }
        }
        REAL (*tmp)[CH] = lower; lower = upper; upper = tmp;
    }
    #undef KN
    if (vals)
        for (int m = 0; m <= k; m++) {
            REAL *v = vals + m * ld;
            for (int e = 0; e < n; e++) v[e] = lower[m][e];
        }
}

/* Element data of the flat chunk [s0, s0 + n) of x (row-major): intervals, base values and slopes, and in vals
 * the k + 1 local bases (or with want_ders their x-slopes) as rows of CH. */
static void NAME(dense_chunk)(const REAL *x, int64_t s0, int n, int64_t n_in, const REAL *tT, int64_t n_knots, int k,
                              int uniform, const REAL *M, int base, int want_ders, int *jj, REAL *bv, REAL *bd,
                              REAL *vals) {
    int64_t ii[CH];
    REAL xr[CH];
    for (int e = 0, i = (int)(s0 % n_in); e < n; e++, i = (i + 1 == n_in) ? 0 : i + 1) ii[e] = i;
    NAME(base_values)(x + s0, n, base, bv, bd);
    NAME(locate)(x + s0, ii, n, tT, n_in, n_knots, k, uniform, jj, xr);
    NAME(local)(ii, jj, xr, n, tT, n_in, k, uniform, M, want_ders ? NULL : vals, want_ders ? vals : NULL, CH);
}

/* the arguments of the dense passes (kan_forward, kan_backward_x), for the pool's part functions */
typedef struct {
    const REAL *x, *g, *tT, *M;
    int64_t N, n_in, n_knots;
    int k, uniform, base;
    REAL *out;
} NAME(dense_args);

static void NAME(forward_part)(void *args, int64_t c_lo, int64_t c_hi) {
    const NAME(dense_args) *a = (const NAME(dense_args) *)args;
    const REAL *x = a->x, *tT = a->tT, *M = a->M;
    const int64_t N = a->N, n_in = a->n_in, n_knots = a->n_knots;
    const int k = a->k, uniform = a->uniform, base = a->base;
    REAL *feat = a->out;
    const int64_t nb = n_knots - k - 1, S = 1 + nb;
    for (int64_t c = c_lo; c < c_hi; c++) {
        const int64_t s0 = c * CH;
        const int n = (int)(N - s0 < CH ? N - s0 : CH);
        int jj[CH];
        REAL bv[CH], bd[CH], vals[(KMAX + 1) * CH];
        REAL *out = feat + s0 * S;
        NAME(dense_chunk)(x, s0, n, n_in, tT, n_knots, k, uniform, M, base, 0, jj, bv, bd, vals);
        memset(out, 0, sizeof(REAL) * (size_t)(n * S));
        #pragma omp simd
        for (int e = 0; e < n; e++) out[e * S] = bv[e];
        for (int m = 0; m <= k; m++) {  /* vector scatters, masked to the bases that exist */
            const REAL *v = vals + m * CH;
            #pragma omp simd
            for (int e = 0; e < n; e++) {
                const int c = jj[e] - k + m;
                if (jj[e] >= 0 && c >= 0 && c < nb) out[e * S + 1 + c] = v[e];
            }
        }
    }
}

int NAME(kan_forward)(const REAL *x, int64_t N, int64_t n_in, const REAL *tT, int64_t n_knots, int k, int uniform,
                      const REAL *M, int base, REAL *feat, int nthreads) {
    if (k < 1 || k > KMAX) return 1;
    const int64_t S = n_knots - k, nchunks = (N + CH - 1) / CH;
    NAME(dense_args) a = {x, NULL, tT, M, N, n_in, n_knots, k, uniform, base, feat};
    kanlab_parallel(nchunks, N * (S + VALUE_COST) > PAR_MIN ? nthreads : 1, NAME(forward_part), &a);
    return 0;
}

/* grad_x[e] = g[e, 0] * base'(x) + sum_m g[e, 1 + j - k + m] * dB_{j-k+m}/dx, g: (N, S) */
static void NAME(backward_x_part)(void *args, int64_t c_lo, int64_t c_hi) {
    const NAME(dense_args) *a = (const NAME(dense_args) *)args;
    const REAL *x = a->x, *g = a->g, *tT = a->tT, *M = a->M;
    const int64_t N = a->N, n_in = a->n_in, n_knots = a->n_knots;
    const int k = a->k, uniform = a->uniform, base = a->base;
    REAL *grad_x = a->out;
    const int64_t nb = n_knots - k - 1, S = 1 + nb;
    for (int64_t c = c_lo; c < c_hi; c++) {
        const int64_t s0 = c * CH;
        const int n = (int)(N - s0 < CH ? N - s0 : CH);
        int jj[CH];
        REAL bv[CH], bd[CH], ders[(KMAX + 1) * CH];
        NAME(dense_chunk)(x, s0, n, n_in, tT, n_knots, k, uniform, M, base, 1, jj, bv, bd, ders);
        const REAL *gc = g + s0 * S;
        REAL acc[CH];
        #pragma omp simd
        for (int e = 0; e < n; e++) acc[e] = gc[e * S] * bd[e];
        for (int m = 0; m <= k; m++) {  /* vector gathers, masked to the bases that exist */
            const REAL *d = ders + m * CH;
            #pragma omp simd
            for (int e = 0; e < n; e++) {
                const int c = jj[e] - k + m;
                if (jj[e] >= 0 && c >= 0 && c < nb) acc[e] += gc[e * S + 1 + c] * d[e];
            }
        }
        memcpy(grad_x + s0, acc, sizeof(REAL) * (size_t)n);
    }
}

int NAME(kan_backward_x)(const REAL *x, const REAL *g, int64_t N, int64_t n_in, const REAL *tT, int64_t n_knots,
                         int k, int uniform, const REAL *M, int base, REAL *grad_x, int nthreads) {
    if (k < 1 || k > KMAX) return 1;
    const int64_t S = n_knots - k, nchunks = (N + CH - 1) / CH;
    NAME(dense_args) a = {x, g, tT, M, N, n_in, n_knots, k, uniform, base, grad_x};
    kanlab_parallel(nchunks, N * (S + VALUE_COST) > PAR_MIN ? nthreads : 1, NAME(backward_x_part), &a);
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Sparse path: y = features(x) @ W without the dense features. W is laid out (n_in, S, O): row i*S is input i's
 * base weight, rows i*S + 1 + c its spline weights, so the k + 1 active rows of an element are consecutive.
 * Each element adds k + 2 weight rows (scaled by its base value and local bases) to its output row: B*in*(k+2)*O
 * multiply-adds, against B*in*S*O for the dense GEMM. Both kernels are blocked so that the weight rows of an
 * input stay in L1 while a block of batch rows uses them.
 * ------------------------------------------------------------------------------------------------------------- */

/* Per-element data for a block: base value/slope, interval, local values/slopes, rows of stride ld. */
typedef struct {
    int *jj;
    REAL *bv, *bd, *vals, *ders;
    int64_t ld;
} NAME(block_t);

static int NAME(block_alloc)(NAME(block_t) *blk, int64_t ld, int k, int want_ders) {
    blk->ld = ld;
    blk->jj = (int *)malloc(sizeof(int) * (size_t)ld);
    blk->bv = (REAL *)malloc(sizeof(REAL) * (size_t)ld * (size_t)(2 + 2 * (k + 1)));
    if (!blk->jj || !blk->bv) { free(blk->jj); free(blk->bv); return 1; }
    blk->bd = blk->bv + ld;
    blk->vals = blk->bd + ld;
    blk->ders = want_ders ? blk->vals + (k + 1) * ld : NULL;
    return 0;
}

static void NAME(block_free)(NAME(block_t) *blk) { free(blk->jj); free(blk->bv); }

/* Fill elements off .. off + n of blk from values xs[0..n) of inputs ii[0..n) (processed CH at a time). */
static void NAME(block_fill)(NAME(block_t) *blk, int64_t off, const REAL *xs, const int64_t *ii, int64_t n,
                             const REAL *tT, int64_t n_in, int64_t n_knots, int k, int uniform, const REAL *M,
                             int base) {
    REAL xr[CH];
    for (int64_t s0 = 0; s0 < n; s0 += CH) {
        const int m = (int)(n - s0 < CH ? n - s0 : CH);
        const int64_t o = off + s0;
        NAME(base_values)(xs + s0, m, base, blk->bv + o, blk->bd + o);
        NAME(locate)(xs + s0, ii + s0, m, tT, n_in, n_knots, k, uniform, blk->jj + o, xr);
        NAME(local)(ii + s0, blk->jj + o, xr, m, tT, n_in, k, uniform, M, blk->vals + o,
                    blk->ders ? blk->ders + o : NULL, blk->ld);
    }
}

/* Counting sort of the elements 0..n of blk whose k + 1 bases are all weights (inner intervals) by interval:
 * on return bucket j holds order[start[j] .. start[j + 1]) (start: n_knots + 1 entries); the other elements
 * (ends of the grid, off the grid) are listed in rest[0 .. *n_rest). */
static void NAME(bucket_inner)(const NAME(block_t) *blk, int64_t n, int k, int64_t nb, int64_t n_knots, int *order,
                               int *start, int *rest, int *n_rest) {
    for (int64_t q = 0; q <= n_knots; q++) start[q] = 0;
    *n_rest = 0;
    for (int64_t e = 0; e < n; e++) {
        const int j = blk->jj[e];
        if (j >= k && j < nb) start[j + 1]++;
        else rest[(*n_rest)++] = (int)e;
    }
    for (int64_t q = 1; q <= n_knots; q++) start[q] += start[q - 1];
    for (int64_t e = 0; e < n; e++) {
        const int j = blk->jj[e];
        if (j >= k && j < nb) order[start[j]++] = (int)e;
    }
    for (int64_t q = n_knots; q > 0; q--) start[q] = start[q - 1];  /* undo the shift the placement caused */
    start[0] = 0;
}

typedef REAL NAME(vec) __attribute__((vector_size(VBYTES)));
typedef REAL NAME(uvec) __attribute__((vector_size(VBYTES), aligned(1)));  /* unaligned loads and stores */
#define VL ((int64_t)(VBYTES / sizeof(REAL)))
#define LOADV(p) (*(const NAME(uvec) *)(p))
#define STOREV(p) (*(NAME(uvec) *)(p))

typedef REAL NAME(vec32) __attribute__((vector_size(32)));
typedef REAL NAME(vec16) __attribute__((vector_size(16)));

/* the sum of a vector's lanes, halving the width each step (extracts and adds, no lane-by-lane code) */
static inline REAL NAME(hsum)(NAME(vec) v) {
#if VBYTES == 64
    union { NAME(vec) v; NAME(vec32) h[2]; } a = {v};
    union { NAME(vec32) v; NAME(vec16) h[2]; } b = {a.h[0] + a.h[1]};
#else
    union { NAME(vec32) v; NAME(vec16) h[2]; } b = {v};
#endif
    const NAME(vec16) q = b.h[0] + b.h[1];
    REAL out = 0;
    for (int l = 0; l < (int)(16 / sizeof(REAL)); l++) out += q[l];
    return out;
}

/* The fused row operations of an element whose K + 1 bases are all weights (inner intervals), written for a
 * constant K: each caller passes a literal, so the row loops unroll and the accumulators stay in registers. */

/* yb += b w0 + sum_m v[m] ws[m]   (ws: K + 1 consecutive rows of O) */
static inline __attribute__((always_inline)) void NAME(fwd_rows)(REAL *yb, const REAL *w0, const REAL *ws, int64_t O,
                                                                 REAL b, const REAL *v, const int K) {
    #pragma omp simd
    for (int64_t o = 0; o < O; o++) {
        REAL acc = yb[o] + b * w0[o];
        for (int m = 0; m <= K; m++) acc += v[m] * ws[m * O + o];
        yb[o] = acc;
    }
}

/* bd (gb . w0) + sum_m d[m] (gb . ws[m]) */
static inline __attribute__((always_inline)) REAL NAME(dot_rows)(const REAL *gb, const REAL *w0, const REAL *ws,
                                                                 int64_t O, REAL bd, const REAL *d, const int K) {
    REAL t[KMAX + 2];
    int64_t o = 0;
    if (O >= VL) {
        NAME(vec) acc[KMAX + 2];
        for (int r = 0; r <= K + 1; r++) acc[r] = (NAME(vec)){0};
        for (; o + VL <= O; o += VL) {
            const NAME(vec) g = LOADV(gb + o);
            acc[0] += g * LOADV(w0 + o);
            for (int m = 0; m <= K; m++) acc[1 + m] += g * LOADV(ws + m * O + o);
        }
        for (int r = 0; r <= K + 1; r++) t[r] = NAME(hsum)(acc[r]);
    } else {
        for (int r = 0; r <= K + 1; r++) t[r] = 0;
    }
    for (; o < O; o++) {
        t[0] += gb[o] * w0[o];
        for (int m = 0; m <= K; m++) t[1 + m] += gb[o] * ws[m * O + o];
    }
    REAL out = t[0] * bd;
    for (int m = 0; m <= K; m++) out += t[1 + m] * d[m];
    return out;
}

/* h0 += sum_e c[e][0] go[e], hs[m] += sum_e c[e][1 + m] go[e] over a bucket of elements (order[lo..hi)) that
 * share their rows: register tiles of 2 VL columns, stored once per bucket */
static inline __attribute__((always_inline)) void NAME(bucket_rows)(REAL *h0, REAL *hs, int64_t O, const REAL *go,
                                                                    int64_t b0, const int *order, int lo, int hi,
                                                                    const REAL *bv, const REAL *vals, int64_t ld,
                                                                    const int K) {
    int64_t o0 = 0;
    for (; o0 + 2 * VL <= O; o0 += 2 * VL) {
        NAME(vec) a[KMAX + 2], z[KMAX + 2];
        for (int r = 0; r <= K + 1; r++) { a[r] = (NAME(vec)){0}; z[r] = (NAME(vec)){0}; }
        for (int p = lo; p < hi; p++) {
            const int e = order[p];
            const REAL *gb = go + (b0 + e) * O + o0;
            const NAME(vec) u = LOADV(gb), w = LOADV(gb + VL);
            a[0] += bv[e] * u; z[0] += bv[e] * w;
            for (int m = 0; m <= K; m++) {
                const REAL c = vals[m * ld + e];
                a[1 + m] += c * u; z[1 + m] += c * w;
            }
        }
        STOREV(h0 + o0) += a[0]; STOREV(h0 + o0 + VL) += z[0];
        for (int m = 0; m <= K; m++) { STOREV(hs + m * O + o0) += a[1 + m]; STOREV(hs + m * O + o0 + VL) += z[1 + m]; }
    }
    for (int p = lo; p < hi && o0 < O; p++) {  /* the columns left over */
        const int e = order[p];
        const REAL *gb = go + (b0 + e) * O;
        for (int64_t o = o0; o < O; o++) {
            h0[o] += bv[e] * gb[o];
            for (int m = 0; m <= K; m++) hs[m * O + o] += vals[m * ld + e] * gb[o];
        }
    }
}

#define KFAST 5  /* orders with unrolled fast paths; larger k goes row by row */
#define DISPATCH_K(k, call) \
    switch (k) { case 1: call(1); break; case 2: call(2); break; case 3: call(3); break; \
                 case 4: call(4); break; default: call(5); break; }

/* the arguments of the sparse passes and the feature covariance, for the pool's part functions */
typedef struct {
    const REAL *x, *tT, *M, *W, *go, *ws, *coef, *gcov;
    const double *mean;
    int64_t B, n_in, n_knots, O, rows;
    int k, uniform, base;
    REAL *y, *grad_x, *gW, *g_wb, *g_ws, *g_coef, *cov;
    double *mean_out;
    int failed;  /* set (atomically) by a part that could not allocate its scratch */
} NAME(sparse_args);

static void NAME(sparse_forward_part)(void *args, int64_t blk_lo, int64_t blk_hi) {
    NAME(sparse_args) *a = (NAME(sparse_args) *)args;
    const REAL *x = a->x, *tT = a->tT, *M = a->M, *W = a->W;
    const int64_t B = a->B, n_in = a->n_in, n_knots = a->n_knots, O = a->O, rows = a->rows;
    const int k = a->k, uniform = a->uniform, base = a->base;
    REAL *y = a->y;
    const int64_t nb = n_knots - k - 1, S = 1 + nb;
    {
        NAME(block_t) blk;
        int64_t *ii = (int64_t *)malloc(sizeof(int64_t) * (size_t)(rows * n_in));
        int ok = ii && NAME(block_alloc)(&blk, rows * n_in, k, 0) == 0;
        if (!ok) __atomic_store_n(&a->failed, 1, __ATOMIC_RELAXED);
        if (ok) {
            for (int64_t e = 0; e < rows * n_in; e++) ii[e] = e % n_in;
        }
        for (int64_t blkno = blk_lo; blkno < blk_hi; blkno++) {
            if (!ok) continue;
            const int64_t b0 = blkno * rows, b1 = b0 + rows < B ? b0 + rows : B, nr = b1 - b0, ld = blk.ld;
            NAME(block_fill)(&blk, 0, x + b0 * n_in, ii, nr * n_in, tT, n_in, n_knots, k, uniform, M, base);
            memset(y + b0 * O, 0, sizeof(REAL) * (size_t)(nr * O));
            for (int64_t i = 0; i < n_in; i++) {
                const REAL *w0 = W + i * S * O;
                for (int64_t r = 0; r < nr; r++) {
                    const int64_t e = r * n_in + i;
                    REAL *yb = y + (b0 + r) * O;
                    const int j = blk.jj[e];
                    const REAL bval = blk.bv[e];
                    if (O == 1) {  /* a single output: scalar */
                        REAL acc = bval * w0[0];
                        int m0, m1;
                        active_range(j, k, nb, &m0, &m1);
                        for (int m = m0; m <= m1; m++) acc += blk.vals[m * ld + e] * w0[1 + j - k + m];
                        yb[0] += acc;
                        continue;
                    }
                    if (j >= k && j < nb && k <= KFAST) {  /* the common case, fused: one pass over the output row */
                        REAL v[KMAX + 1];
                        for (int m = 0; m <= k; m++) v[m] = blk.vals[m * ld + e];
                        const REAL *ws = w0 + (1 + j - k) * O;
#define FWD(K) NAME(fwd_rows)(yb, w0, ws, O, bval, v, K)
                        DISPATCH_K(k, FWD)
#undef FWD
                        continue;
                    }
                    #pragma omp simd
                    for (int64_t o = 0; o < O; o++) yb[o] += bval * w0[o];
                    int m0, m1;
                    active_range(j, k, nb, &m0, &m1);
                    for (int m = m0; m <= m1; m++) {
                        const REAL v = blk.vals[m * ld + e], *ws = w0 + (1 + j - k + m) * O;
                        #pragma omp simd
                        for (int64_t o = 0; o < O; o++) yb[o] += v * ws[o];
                    }
                }
            }
        }
        if (ok) NAME(block_free)(&blk);
        free(ii);
    }
}

/* y[b, :] = sum_i base(x[b,i]) W[i*S] + sum_m B_{j-k+m}(x[b,i]) W[i*S + 1 + j-k+m]; y: (B, O), written whole */
int NAME(kan_sparse_forward)(const REAL *x, int64_t B, int64_t n_in, const REAL *tT, int64_t n_knots, int k,
                             int uniform, const REAL *M, int base, const REAL *W, int64_t O, REAL *y, int nthreads) {
    if (k < 1 || k > KMAX || O < 1 || n_in < 1) return 1;
    /* batch rows per block: their outputs (16 KB) and one input's weight rows share L1; at most 16k elements */
    int64_t rows = (int64_t)(16384 / (sizeof(REAL) * (size_t)O));
    rows = rows < 1 ? 1 : rows > SPARSE_ROWS_MAX ? SPARSE_ROWS_MAX : rows;
    if (rows * n_in > 16384) rows = 16384 / n_in > 1 ? 16384 / n_in : 1;
    const int64_t nblocks = (B + rows - 1) / rows;
    NAME(sparse_args) a = {.x = x, .tT = tT, .M = M, .W = W, .B = B, .n_in = n_in, .n_knots = n_knots, .O = O,
                           .rows = rows, .k = k, .uniform = uniform, .base = base, .y = y};
    kanlab_parallel(nblocks, B * n_in * ((k + 2) * O + VALUE_COST) > PAR_MIN ? nthreads : 1,
                    NAME(sparse_forward_part), &a);
    return a.failed ? 2 : 0;
}

/* dL/dx for n elements of input i (rows b0 ..): dots of go rows with the element's active weight rows. */
static void NAME(grad_x_chunk)(const NAME(block_t) *blk, int64_t n, int64_t i, int64_t b0, int64_t n_in,
                               int64_t nb, int k, const REAL *W, int64_t S, int64_t O, const REAL *go,
                               REAL *grad_x) {
    const REAL *w0 = W + i * S * O;
    const int64_t ld = blk->ld;
    for (int64_t e = 0; e < n; e++) {
        const REAL *gb = go + (b0 + e) * O;
        const int j = blk->jj[e];
        REAL acc;
        if (j >= k && j < nb && k <= KFAST) {
            REAL d[KMAX + 1];
            for (int m = 0; m <= k; m++) d[m] = blk->ders[m * ld + e];
            const REAL *ws = w0 + (1 + j - k) * O;
#define DOT(K) acc = NAME(dot_rows)(gb, w0, ws, O, blk->bd[e], d, K)
            DISPATCH_K(k, DOT)
#undef DOT
        } else {
            REAL d = 0;
            #pragma omp simd reduction(+ : d)
            for (int64_t o = 0; o < O; o++) d += gb[o] * w0[o];
            acc = d * blk->bd[e];
            int m0, m1;
            active_range(j, k, nb, &m0, &m1);
            for (int m = m0; m <= m1; m++) {
                const REAL *ws = w0 + (1 + j - k + m) * O;
                d = 0;
                #pragma omp simd reduction(+ : d)
                for (int64_t o = 0; o < O; o++) d += gb[o] * ws[o];
                acc += d * blk->ders[m * ld + e];
            }
        }
        grad_x[(b0 + e) * n_in + i] = acc;
    }
}

/* gW_i += features^T go, element e's own rows only (any k, intervals at the ends, points off the grid). */
static void NAME(grad_w_element)(const NAME(block_t) *blk, int64_t e, const REAL *gb, int64_t nb, int k,
                                 int64_t O, REAL *g0) {
    const int j = blk->jj[e];
    const REAL bval = blk->bv[e];
    int m0, m1;  /* padding bases are not weights: only rows m0..m1 */
    active_range(j, k, nb, &m0, &m1);
    if (O == 1) {  /* a single output (regression heads): scalar, no loop overheads */
        const REAL g = gb[0];
        g0[0] += bval * g;
        for (int m = m0; m <= m1; m++) g0[1 + j - k + m] += blk->vals[m * blk->ld + e] * g;
        return;
    }
    #pragma omp simd
    for (int64_t o = 0; o < O; o++) g0[o] += bval * gb[o];
    for (int m = m0; m <= m1; m++) {
        REAL *gs = g0 + (1 + j - k + m) * O;
        const REAL v = blk->vals[m * blk->ld + e];
        #pragma omp simd
        for (int64_t o = 0; o < O; o++) gs[o] += v * gb[o];
    }
}

/* g0 (input i's S x O weight-gradient rows) += features^T go for n elements of input i (rows b0 ..). With
 * k <= KFAST the elements are bucketed by interval:
 * a bucket's five rows (base and four bases) accumulate in registers over its elements, two vectors of columns
 * at a time, and are stored once per bucket instead of once per element. order, start: scratch (n, n_knots + 1). */
static void NAME(grad_w_chunk)(const NAME(block_t) *blk, int64_t n, int64_t b0, int64_t nb, int k,
                               int64_t n_knots, int64_t O, const REAL *go, REAL *g0, int *order, int *start,
                               int *rest) {
    const int64_t ld = blk->ld;
    if (k > KFAST || O < 2 * VL) {
        for (int64_t e = 0; e < n; e++) NAME(grad_w_element)(blk, e, go + (b0 + e) * O, nb, k, O, g0);
        return;
    }
    int n_rest;
    NAME(bucket_inner)(blk, n, k, nb, n_knots, order, start, rest, &n_rest);
    for (int64_t j = k; j < nb; j++) {
        const int lo = start[j], hi = start[j + 1];
        if (hi == lo) continue;
        REAL *hs = g0 + (1 + j - k) * O;
#define BUCKET(K) NAME(bucket_rows)(g0, hs, O, go, b0, order, lo, hi, blk->bv, blk->vals, ld, K)
        DISPATCH_K(k, BUCKET)
#undef BUCKET
    }
    for (int r = 0; r < n_rest; r++) NAME(grad_w_element)(blk, rest[r], go + (b0 + rest[r]) * O, nb, k, O, g0);
}

/* The fold's gradient for one input: gWi (S, O) -> g_wb (O), g_ws (O) = sum_c gWi[1+c] coef[:, c],
 * g_coef (O, nb) = gWi[1+c] ws. */
static void NAME(fold_back_input)(const REAL *gi, const REAL *wsi, const REAL *ci, int64_t O, int64_t nb, REAL *gbi,
                                  REAL *gsi, REAL *gci) {
    memcpy(gbi, gi, sizeof(REAL) * (size_t)O);
    for (int64_t o = 0; o < O; o++) gsi[o] = 0;
    for (int64_t c = 0; c < nb; c++) {
        const REAL *row = gi + (1 + c) * O;
        #pragma omp simd
        for (int64_t o = 0; o < O; o++) {
            gci[o * nb + c] = row[o] * wsi[o];
            gsi[o] += row[o] * ci[o * nb + c];
        }
    }
}

static void NAME(sparse_backward_part)(void *args, int64_t i_lo, int64_t i_hi) {
    NAME(sparse_args) *a = (NAME(sparse_args) *)args;
    const REAL *x = a->x, *tT = a->tT, *M = a->M, *W = a->W, *go = a->go, *ws = a->ws, *coef = a->coef;
    const int64_t B = a->B, n_in = a->n_in, n_knots = a->n_knots, O = a->O;
    const int k = a->k, uniform = a->uniform, base = a->base;
    REAL *grad_x = a->grad_x, *gW = a->gW, *g_wb = a->g_wb, *g_ws = a->g_ws, *g_coef = a->g_coef;
    const int64_t nb = n_knots - k - 1, S = 1 + nb;
    const int fold = g_coef != NULL;  /* fold's gradient per input instead of gW: gW_i lives in a scratch */
    {
        NAME(block_t) blk;
        int64_t ii[CH];
        REAL xs[CH];
        int order[CH], rest[CH];
        int *start = (int *)malloc(sizeof(int) * (size_t)(n_knots + 1));
        REAL *scratch = fold ? (REAL *)malloc(sizeof(REAL) * (size_t)(S * O)) : NULL;
        int ok = start && (!fold || scratch) && NAME(block_alloc)(&blk, CH, k, grad_x != NULL) == 0;
        if (!ok) __atomic_store_n(&a->failed, 1, __ATOMIC_RELAXED);
        for (int64_t i = i_lo; i < i_hi; i++) {
            if (!ok) continue;
            /* the weight-gradient rows of input i: in gW, or in the scratch when folding on the fly */
            REAL *gwi = fold ? scratch : gW ? gW + i * S * O : NULL;
            if (gwi) memset(gwi, 0, sizeof(REAL) * (size_t)(S * O));
            for (int e = 0; e < CH; e++) ii[e] = i;
            for (int64_t b0 = 0; b0 < B; b0 += CH) {
                const int64_t n = B - b0 < CH ? B - b0 : CH;
                for (int64_t r = 0; r < n; r++) xs[r] = x[(b0 + r) * n_in + i];
                NAME(block_fill)(&blk, 0, xs, ii, n, tT, n_in, n_knots, k, uniform, M, base);
                if (grad_x) NAME(grad_x_chunk)(&blk, n, i, b0, n_in, nb, k, W, S, O, go, grad_x);
                if (gwi) NAME(grad_w_chunk)(&blk, n, b0, nb, k, n_knots, O, go, gwi, order, start, rest);
            }
            if (fold)
                NAME(fold_back_input)(scratch, ws + i * O, coef + i * O * nb, O, nb, g_wb + i * O, g_ws + i * O,
                                      g_coef + i * O * nb);
        }
        if (ok) NAME(block_free)(&blk);
        free(start);
        free(scratch);
    }
}

/* Given go = dL/dy (B, O): grad_x (B, n_in) = dL/dx and gW (n_in, S, O) = dL/dW (either may be NULL; gW is
 * overwritten); with g_coef, the fold's gradients (g_wb, g_ws, g_coef) instead of gW. Parts own inputs, so each
 * weight row is written by one thread only. */
int NAME(kan_sparse_backward)(const REAL *x, int64_t B, int64_t n_in, const REAL *tT, int64_t n_knots, int k,
                              int uniform, const REAL *M, int base, const REAL *W, int64_t O, const REAL *go,
                              REAL *grad_x, REAL *gW, const REAL *ws, const REAL *coef, REAL *g_wb, REAL *g_ws,
                              REAL *g_coef, int nthreads) {
    if (k < 1 || k > KMAX || O < 1) return 1;
    NAME(sparse_args) a = {.x = x, .tT = tT, .M = M, .W = W, .go = go, .ws = ws, .coef = coef, .B = B,
                           .n_in = n_in, .n_knots = n_knots, .O = O, .k = k, .uniform = uniform, .base = base,
                           .grad_x = grad_x, .gW = gW, .g_wb = g_wb, .g_ws = g_ws, .g_coef = g_coef};
    kanlab_parallel(n_in, B * n_in * ((k + 2) * O + VALUE_COST) > PAR_MIN ? nthreads : 1,
                    NAME(sparse_backward_part), &a);
    return a.failed ? 2 : 0;
}

#undef VL
#undef LOADV
#undef STOREV
#undef KFAST
#undef DISPATCH_K
#undef DISPATCH_K_ALL

/* ---------------------------------------------------------------------------------------------------------------
 * Weight folding: W (n_in, S, O) from wb = mask * scale_base (n_in, O), ws = mask * scale_sp (n_in, O) and
 * coef (n_in, O, nb): W[i, 0, o] = wb[i, o], W[i, 1 + c, o] = ws[i, o] * coef[i, o, c]. One pass each way.
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct {
    const REAL *wb, *ws, *coef, *gW;
    int64_t O, nb;
    REAL *W, *g_wb, *g_ws, *g_coef;
} NAME(fold_args);

static void NAME(fold_forward_part)(void *args, int64_t i_lo, int64_t i_hi) {
    const NAME(fold_args) *a = (const NAME(fold_args) *)args;
    const REAL *wb = a->wb, *ws = a->ws, *coef = a->coef;
    const int64_t O = a->O, nb = a->nb, S = 1 + nb;
    REAL *W = a->W;
    for (int64_t i = i_lo; i < i_hi; i++) {
        REAL *wi = W + i * S * O;
        const REAL *ci = coef + i * O * nb, *wsi = ws + i * O;
        memcpy(wi, wb + i * O, sizeof(REAL) * (size_t)O);
        for (int64_t c = 0; c < nb; c++) {
            REAL *row = wi + (1 + c) * O;
            #pragma omp simd
            for (int64_t o = 0; o < O; o++) row[o] = wsi[o] * ci[o * nb + c];
        }
    }
}

void NAME(kan_fold_forward)(const REAL *wb, const REAL *ws, const REAL *coef, int64_t n_in, int64_t O, int64_t nb,
                            REAL *W, int nthreads) {
    NAME(fold_args) a = {.wb = wb, .ws = ws, .coef = coef, .O = O, .nb = nb, .W = W};
    kanlab_parallel(n_in, n_in * O * (1 + nb) > PAR_MIN ? nthreads : 1, NAME(fold_forward_part), &a);
}

/* gW (n_in, S, O) -> g_wb (n_in, O), g_ws (n_in, O), g_coef (n_in, O, nb) */
static void NAME(fold_backward_part)(void *args, int64_t i_lo, int64_t i_hi) {
    const NAME(fold_args) *a = (const NAME(fold_args) *)args;
    const int64_t O = a->O, nb = a->nb, S = 1 + nb;
    for (int64_t i = i_lo; i < i_hi; i++)
        NAME(fold_back_input)(a->gW + i * S * O, a->ws + i * O, a->coef + i * O * nb, O, nb, a->g_wb + i * O,
                              a->g_ws + i * O, a->g_coef + i * O * nb);
}

void NAME(kan_fold_backward)(const REAL *gW, const REAL *ws, const REAL *coef, int64_t n_in, int64_t O, int64_t nb,
                             REAL *g_wb, REAL *g_ws, REAL *g_coef, int nthreads) {
    NAME(fold_args) a = {.ws = ws, .coef = coef, .gW = gW, .O = O, .nb = nb, .g_wb = g_wb, .g_ws = g_ws,
                         .g_coef = g_coef};
    kanlab_parallel(n_in, n_in * O * (1 + nb) > PAR_MIN ? nthreads : 1, NAME(fold_backward_part), &a);
}

/* ---------------------------------------------------------------------------------------------------------------
 * Feature covariance per input, for the edge standard deviations (regulariser, attribution):
 * cov[i] = 1/(B-1) sum_b (f_b - mu)(f_b - mu)^T over the features f_b = [base(x_bi) | B(x_bi)] (S values, at most
 * k + 2 nonzero), accumulated sparsely in double. cov: (n_in, S, S).
 * ------------------------------------------------------------------------------------------------------------- */

/* The k + 2 feature values (base, bases j-k..j) of the elements order[lo..hi) as contiguous rows u[a][p] (and
 * their x-slopes in du when blk has them). */
static void NAME(bucket_values)(const NAME(block_t) *blk, const int *order, int lo, int hi, int k, REAL (*u)[CH],
                                 REAL (*du)[CH]) {
    for (int p = lo; p < hi; p++) {
        const int e = order[p];
        u[0][p - lo] = blk->bv[e];
        for (int m = 0; m <= k; m++) u[1 + m][p - lo] = blk->vals[m * blk->ld + e];
        if (du) {
            du[0][p - lo] = blk->bd[e];
            for (int m = 0; m <= k; m++) du[1 + m][p - lo] = blk->ders[m * blk->ld + e];
        }
    }
}

/* active feature columns of element e of blk, their values and (when blk has them) x-slopes; returns how many
 * (<= k + 2) */
static int NAME(active)(const NAME(block_t) *blk, int64_t e, int k, int64_t nb, int *col, REAL *val, REAL *slope) {
    const int j = blk->jj[e];
    int na = 1, m0, m1;
    col[0] = 0; val[0] = blk->bv[e];
    if (slope) slope[0] = blk->bd[e];
    active_range(j, k, nb, &m0, &m1);
    for (int m = m0; m <= m1; m++, na++) {
        col[na] = 1 + j - k + m;
        val[na] = blk->vals[m * blk->ld + e];
        if (slope) slope[na] = blk->ders[m * blk->ld + e];
    }
    return na;
}

static void NAME(feature_cov_part)(void *args, int64_t i_lo, int64_t i_hi) {
    NAME(sparse_args) *a = (NAME(sparse_args) *)args;
    const REAL *x = a->x, *tT = a->tT, *M = a->M;
    const int64_t B = a->B, n_in = a->n_in, n_knots = a->n_knots;
    const int k = a->k, uniform = a->uniform, base = a->base;
    REAL *cov = a->cov;
    double *mean = a->mean_out;
    const int64_t nb = n_knots - k - 1, S = 1 + nb;
    {
        NAME(block_t) blk;
        int64_t ii[CH];
        REAL xs[CH];
        double *sum = (double *)malloc(sizeof(double) * (size_t)(S + S * S)), *sumff = sum ? sum + S : NULL;
        int order[CH], rest[CH], *start = (int *)malloc(sizeof(int) * (size_t)(n_knots + 1));
        REAL u[KMAX + 2][CH];
        int ok = sum && start && NAME(block_alloc)(&blk, CH, k, 0) == 0;
        if (!ok) __atomic_store_n(&a->failed, 1, __ATOMIC_RELAXED);
        for (int64_t i = i_lo; i < i_hi; i++) {
            if (!ok) continue;
            memset(sum, 0, sizeof(double) * (size_t)(S + S * S));
            for (int e = 0; e < CH; e++) ii[e] = i;
            for (int64_t b0 = 0; b0 < B; b0 += CH) {
                const int64_t n = B - b0 < CH ? B - b0 : CH;
                for (int64_t r = 0; r < n; r++) xs[r] = x[(b0 + r) * n_in + i];
                NAME(block_fill)(&blk, 0, xs, ii, n, tT, n_in, n_knots, k, uniform, M, base);
                int n_rest;
                NAME(bucket_inner)(&blk, n, k, nb, n_knots, order, start, rest, &n_rest);
                for (int64_t j = k; j < nb; j++) {  /* a bucket shares its columns: dot products over its values */
                    const int lo = start[j], hi = start[j + 1], nn = hi - lo;
                    if (nn == 0) continue;
                    NAME(bucket_values)(&blk, order, lo, hi, k, u, NULL);
                    int col[KMAX + 2];
                    col[0] = 0;
                    for (int m = 0; m <= k; m++) col[1 + m] = (int)(1 + j - k + m);
                    for (int a = 0; a <= k + 1; a++) {
                        double sa = 0;
                        #pragma omp simd reduction(+ : sa)
                        for (int q = 0; q < nn; q++) sa += u[a][q];
                        sum[col[a]] += sa;
                        for (int c = a; c <= k + 1; c++) {
                            double sac = 0;
                            #pragma omp simd reduction(+ : sac)
                            for (int q = 0; q < nn; q++) sac += (double)u[a][q] * u[c][q];
                            sumff[col[a] * S + col[c]] += sac;
                            if (c != a) sumff[col[c] * S + col[a]] += sac;
                        }
                    }
                }
                for (int r = 0; r < n_rest; r++) {  /* the ends of the grid and points off it, one by one */
                    int col[KMAX + 2];
                    REAL val[KMAX + 2];
                    const int na = NAME(active)(&blk, rest[r], k, nb, col, val, NULL);
                    for (int a = 0; a < na; a++) {
                        sum[col[a]] += val[a];
                        double *row = sumff + col[a] * S;
                        for (int c = 0; c < na; c++) row[col[c]] += (double)val[a] * val[c];
                    }
                }
            }
            const double inv = B > 1 ? 1.0 / (double)(B - 1) : 1.0;
            REAL *ci = cov + i * S * S;
            for (int64_t a = 0; a < S; a++) mean[i * S + a] = sum[a] / (double)B;
            for (int64_t a = 0; a < S; a++)
                for (int64_t c = 0; c < S; c++)
                    ci[a * S + c] = (REAL)((sumff[a * S + c] - sum[a] * sum[c] / (double)B) * inv);
        }
        if (ok) NAME(block_free)(&blk);
        free(sum);
        free(start);
    }
}

int NAME(kan_feature_cov)(const REAL *x, int64_t B, int64_t n_in, const REAL *tT, int64_t n_knots, int k,
                          int uniform, const REAL *M, int base, REAL *cov, double *mean, int nthreads) {
    if (k < 1 || k > KMAX) return 1;
    NAME(sparse_args) a = {.x = x, .tT = tT, .M = M, .B = B, .n_in = n_in, .n_knots = n_knots, .k = k,
                           .uniform = uniform, .base = base, .cov = cov, .mean_out = mean};
    kanlab_parallel(n_in, B * n_in * ((k + 2) * (k + 2) + VALUE_COST) > PAR_MIN ? nthreads : 1,
                    NAME(feature_cov_part), &a);
    return a.failed ? 2 : 0;
}

/* dL/dx from gcov = dL/dcov (n_in, S, S): df_b = (gcov + gcov^T)(f_b - mu) / (B - 1), then the chain rule
 * through the active features' x-slopes (an inactive feature has zero slope). mean: (n_in, S) from the forward. */
static void NAME(feature_cov_backward_part)(void *args, int64_t i_lo, int64_t i_hi) {
    NAME(sparse_args) *a = (NAME(sparse_args) *)args;
    const REAL *x = a->x, *tT = a->tT, *M = a->M, *gcov = a->gcov;
    const double *mean = a->mean;
    const int64_t B = a->B, n_in = a->n_in, n_knots = a->n_knots;
    const int k = a->k, uniform = a->uniform, base = a->base;
    REAL *grad_x = a->grad_x;
    const int64_t nb = n_knots - k - 1, S = 1 + nb;
    {
        NAME(block_t) blk;
        int64_t ii[CH];
        REAL xs[CH];
        double *gs = (double *)malloc(sizeof(double) * (size_t)(S * S + 2 * S));
        int order[CH], rest[CH], *start = (int *)malloc(sizeof(int) * (size_t)(n_knots + 1));
        REAL u[KMAX + 2][CH], du[KMAX + 2][CH];
        double *mu = gs ? gs + S * S : NULL, *hmu = gs ? mu + S : NULL;
        int ok = gs && start && NAME(block_alloc)(&blk, CH, k, 1) == 0;
        if (!ok) __atomic_store_n(&a->failed, 1, __ATOMIC_RELAXED);
        for (int64_t i = i_lo; i < i_hi; i++) {
            if (!ok) continue;
            const REAL *g = gcov + i * S * S;
            for (int64_t a = 0; a < S; a++)
                for (int64_t c = 0; c < S; c++) gs[a * S + c] = (double)g[a * S + c] + (double)g[c * S + a];
            for (int e = 0; e < CH; e++) ii[e] = i;
            for (int64_t a = 0; a < S; a++) mu[a] = mean[i * S + a];
            for (int64_t a = 0; a < S; a++) {
                double h = 0;
                for (int64_t c = 0; c < S; c++) h += gs[a * S + c] * mu[c];
                hmu[a] = h;
            }
            const double inv = B > 1 ? 1.0 / (double)(B - 1) : 1.0;
            for (int64_t b0 = 0; b0 < B; b0 += CH) {
                const int64_t n = B - b0 < CH ? B - b0 : CH;
                for (int64_t r = 0; r < n; r++) xs[r] = x[(b0 + r) * n_in + i];
                NAME(block_fill)(&blk, 0, xs, ii, n, tT, n_in, n_knots, k, uniform, M, base);
                int n_rest;
                NAME(bucket_inner)(&blk, n, k, nb, n_knots, order, start, rest, &n_rest);
                for (int64_t j = k; j < nb; j++) {  /* a bucket shares its columns: the 5x5 block of gs applies */
                    const int lo = start[j], hi = start[j + 1], nn = hi - lo;
                    if (nn == 0) continue;
                    NAME(bucket_values)(&blk, order, lo, hi, k, u, du);
                    int col[KMAX + 2];
                    col[0] = 0;
                    for (int m = 0; m <= k; m++) col[1 + m] = (int)(1 + j - k + m);
                    double acc[CH];
                    for (int q = 0; q < nn; q++) acc[q] = 0;
                    for (int a = 0; a <= k + 1; a++) {
                        const double *row = gs + col[a] * S;
                        double df[CH];
                        #pragma omp simd
                        for (int q = 0; q < nn; q++) df[q] = -hmu[col[a]];
                        for (int c = 0; c <= k + 1; c++) {
                            const double g = row[col[c]];
                            #pragma omp simd
                            for (int q = 0; q < nn; q++) df[q] += g * u[c][q];
                        }
                        #pragma omp simd
                        for (int q = 0; q < nn; q++) acc[q] += df[q] * du[a][q];
                    }
                    for (int q = 0; q < nn; q++) grad_x[(b0 + order[lo + q]) * n_in + i] = (REAL)(acc[q] * inv);
                }
                for (int r = 0; r < n_rest; r++) {  /* the ends of the grid and points off it, one by one */
                    const int64_t e = rest[r];
                    int col[KMAX + 2];
                    REAL val[KMAX + 2], slope[KMAX + 2];
                    const int na = NAME(active)(&blk, e, k, nb, col, val, slope);
                    double acc = 0;
                    for (int a = 0; a < na; a++) {
                        double df = -hmu[col[a]];
                        const double *row = gs + col[a] * S;
                        for (int c = 0; c < na; c++) df += row[col[c]] * val[c];
                        acc += df * slope[a];
                    }
                    grad_x[(b0 + e) * n_in + i] = (REAL)(acc * inv);
                }
            }
        }
        if (ok) NAME(block_free)(&blk);
        free(gs);
        free(start);
    }
}

int NAME(kan_feature_cov_backward)(const REAL *x, int64_t B, int64_t n_in, const REAL *tT, int64_t n_knots, int k,
                                   int uniform, const REAL *M, int base, const REAL *gcov, const double *mean,
                                   REAL *grad_x, int nthreads) {
    if (k < 1 || k > KMAX) return 1;
    NAME(sparse_args) a = {.x = x, .tT = tT, .M = M, .gcov = gcov, .mean = mean, .B = B, .n_in = n_in,
                           .n_knots = n_knots, .k = k, .uniform = uniform, .base = base, .grad_x = grad_x};
    kanlab_parallel(n_in, B * n_in * ((k + 2) * (k + 2) + VALUE_COST) > PAR_MIN ? nthreads : 1,
                    NAME(feature_cov_backward_part), &a);
    return a.failed ? 2 : 0;
}
