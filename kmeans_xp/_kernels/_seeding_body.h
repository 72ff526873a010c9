/* k-means++'s trials of candidate centres over a range of rows, in one pass: for every
 * candidate c (a row of X), the sum over the rows of w * min(closest, ||x - c||^2) and, when
 * asked, those minima rounded to T. Included by _fused_step.c for each type (T, NAME) and
 * instruction set (TARGET; V_LANES defined in the AVX2 build).
 *
 * Everything is computed in double from X's values, as the portable trials compute it:
 * ||x||^2 - 2 x.c + ||c||^2 with the norms given in double, clamped at 0. Each dot product is
 * summed in four lanes (lane l over features l, l+4, ... below d rounded down to a multiple
 * of 4), added as (lane 0 + lane 2) + (lane 1 + lane 3), then the remaining features in
 * order: the AVX2 build makes the same sums in vector registers. The products of two floats
 * are exact in double, so with float X its fused multiply-adds round as a multiply then an
 * add: both builds give the same values. The weighted sum of a block of rows goes through
 * SEED_LANES partial sums, so that it vectorises. */

#ifndef SEED_LANES
#define SEED_LANES 8
/* rows whose dot products are made before their minima are summed */
#define SEED_ROWS 256
#endif

#if defined(V_LANES) || defined(__aarch64__)
#define SEED_MADD(a, b, acc) fma((a), (b), (acc))
#else
#define SEED_MADD(a, b, acc) ((a) * (b) + (acc))
#endif

/* The dot products of rows x0 and x1 with four candidates (c: 4 x d doubles, row-major):
 * out[q] for x0 and out[4 + q] for x1; each row's four loads of X feed eight sums. */
static TARGET void NAME(seed_dots)(const T *x0, const T *x1, const double *c, Py_ssize_t d,
                                   double *out)
{
    const Py_ssize_t d4 = d & ~(Py_ssize_t)3;
    Py_ssize_t f, q;
#ifdef V_LANES
    __m256d s0[4], s1[4];
    for (q = 0; q < 4; q++)
        s0[q] = s1[q] = _mm256_setzero_pd();
    for (f = 0; f < d4; f += 4) {
        __m256d v0, v1;
        if (sizeof(T) == 4) { /* (a float's four values widened) */
            v0 = _mm256_cvtps_pd(_mm_loadu_ps((const float *)(x0 + f)));
            v1 = _mm256_cvtps_pd(_mm_loadu_ps((const float *)(x1 + f)));
        } else {
            v0 = _mm256_loadu_pd((const double *)(x0 + f));
            v1 = _mm256_loadu_pd((const double *)(x1 + f));
        }
        for (q = 0; q < 4; q++) {
            const __m256d cq = _mm256_loadu_pd(c + q * d + f);
            s0[q] = _mm256_fmadd_pd(v0, cq, s0[q]);
            s1[q] = _mm256_fmadd_pd(v1, cq, s1[q]);
        }
    }
    for (q = 0; q < 4; q++) {
        const __m128d h0 = _mm_add_pd(_mm256_castpd256_pd128(s0[q]),
                                      _mm256_extractf128_pd(s0[q], 1));
        const __m128d h1 = _mm_add_pd(_mm256_castpd256_pd128(s1[q]),
                                      _mm256_extractf128_pd(s1[q], 1));
        out[q] = _mm_cvtsd_f64(h0) + _mm_cvtsd_f64(_mm_unpackhi_pd(h0, h0));
        out[4 + q] = _mm_cvtsd_f64(h1) + _mm_cvtsd_f64(_mm_unpackhi_pd(h1, h1));
    }
#else
    double s0[4][4] = {{0.0}}, s1[4][4] = {{0.0}};
    Py_ssize_t l;
    for (f = 0; f < d4; f += 4)
        for (q = 0; q < 4; q++)
            for (l = 0; l < 4; l++) {
                s0[q][l] = SEED_MADD((double)x0[f + l], c[q * d + f + l], s0[q][l]);
                s1[q][l] = SEED_MADD((double)x1[f + l], c[q * d + f + l], s1[q][l]);
            }
    for (q = 0; q < 4; q++) {
        out[q] = (s0[q][0] + s0[q][2]) + (s0[q][1] + s0[q][3]);
        out[4 + q] = (s1[q][0] + s1[q][2]) + (s1[q][1] + s1[q][3]);
    }
#endif
    for (f = d4; f < d; f++)
        for (q = 0; q < 4; q++) {
            out[q] = SEED_MADD((double)x0[f], c[q * d + f], out[q]);
            out[4 + q] = SEED_MADD((double)x1[f], c[q * d + f], out[4 + q]);
        }
}

/* Rows a->start:a->stop; potentials[j] += candidate j's sum; returns -1 when the scratch
 * block could not be allocated. */
static TARGET int NAME(seeding_trials)(const SeedArgs *a, double *potentials)
{
    const T *X = (const T *)a->X, *C = (const T *)a->C, *closest = (const T *)a->closest;
    T *dist = (T *)a->dist;
    const Py_ssize_t m = a->m, d = a->d, m4 = (m + 3) & ~(Py_ssize_t)3;
    Py_ssize_t r0, i, j, g, q;
    double *cw, *dots, *acc;

    cw = (double *)malloc(((size_t)m4 * d + (size_t)SEED_ROWS * (m4 + 1)) * sizeof(double));
    if (cw == NULL)
        return -1;
    dots = cw + m4 * d; /* dots[i * m4 + j]: row i of the block with candidate j */
    acc = dots + SEED_ROWS * m4;
    for (i = 0; i < m4 * d; i++) /* the candidates widened; rows past m are zeros */
        cw[i] = i < m * d ? (double)C[i] : 0.0;
    for (r0 = a->start; r0 < a->stop; r0 += SEED_ROWS) {
        const Py_ssize_t nb = a->stop - r0 < SEED_ROWS ? a->stop - r0 : SEED_ROWS;
        const double *x_sq = a->x_sq + r0, *w = a->w + r0;
        for (i = 0; i < nb; i += 2) {
            const T *x0 = X + (r0 + i) * d, *x1 = i + 1 < nb ? x0 + d : x0;
            for (g = 0; g < m4; g += 4) {
                double out[8];
                NAME(seed_dots)(x0, x1, cw + g * d, d, out);
                for (q = 0; q < 4; q++) {
                    dots[i * m4 + g + q] = out[q];
                    if (i + 1 < nb)
                        dots[(i + 1) * m4 + g + q] = out[4 + q];
                }
            }
        }
        for (j = 0; j < m; j++) {
            const double cc = a->c_sq[j];
            double lanes[SEED_LANES] = {0.0}, block = 0.0;
            for (i = 0; i < nb; i++) {
                double s = x_sq[i] - 2.0 * dots[i * m4 + j] + cc;
                s = s > 0.0 ? s : 0.0;
                if (closest != NULL) {
                    const double near = (double)closest[r0 + i];
                    s = s < near ? s : near;
                }
                if (dist != NULL)
                    dist[j * a->n + r0 + i] = (T)s;
                acc[i] = w[i] * s;
            }
            for (i = 0; i + SEED_LANES <= nb; i += SEED_LANES)
                for (q = 0; q < SEED_LANES; q++)
                    lanes[q] += acc[i + q];
            for (q = 0; q < SEED_LANES; q++)
                block += lanes[q];
            for (; i < nb; i++)
                block += acc[i];
            potentials[j] += block;
        }
    }
    free(cw);
    return 0;
}

#undef SEED_MADD
