/* k-means++'s trials of candidate centres over a range of rows, in one pass: for every
 * candidate c (a row of X), the sum over the rows of w * min(closest, ||x - c||^2) and, when
 * asked, those minima rounded to T. Included by _fused_step.c for each type (T, NAME) and
 * instruction set (TARGET; V_LANES defined in the AVX2 build).
 *
 * Everything is computed in double from X's values, as the portable trials compute it:
 * ||x||^2 - 2 x.c + ||c||^2 with the norms given in double, clamped at 0. Each dot product is
 * summed in four lanes (lane l over features l, l+4, ... below d rounded down to a multiple
 * of 4), added as (lane 0 + lane 1) + (lane 2 + lane 3), then the remaining features in
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

/* The dot products of rows x0 and x1 with four candidates: out0[q] and out1[q] for candidate
 * q, whose features are c[q * d + f] and, transposed, ct[f * ld + q]. Features below d4 go
 * in four lanes per sum (each row's loads feeding eight sums), the rest one at a time. */
static TARGET void NAME(seed_dots)(const T *x0, const T *x1, const double *c, const double *ct,
                                   Py_ssize_t ld, Py_ssize_t d, double *out0, double *out1)
{
    const Py_ssize_t d4 = d & ~(Py_ssize_t)3;
    Py_ssize_t f, q;
#ifdef V_LANES
    __m256d t0 = _mm256_setzero_pd(), t1 = t0;
    if (d4 > 0) {
        __m256d s0[4], s1[4], u0, u1;
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
        /* the four sums of each row at once: (lane 0 + lane 1) + (lane 2 + lane 3) */
        u0 = _mm256_hadd_pd(s0[0], s0[1]);
        u1 = _mm256_hadd_pd(s0[2], s0[3]);
        t0 = _mm256_add_pd(_mm256_permute2f128_pd(u0, u1, 0x20),
                           _mm256_permute2f128_pd(u0, u1, 0x31));
        u0 = _mm256_hadd_pd(s1[0], s1[1]);
        u1 = _mm256_hadd_pd(s1[2], s1[3]);
        t1 = _mm256_add_pd(_mm256_permute2f128_pd(u0, u1, 0x20),
                           _mm256_permute2f128_pd(u0, u1, 0x31));
    }
    for (f = d4; f < d; f++) {
        const __m256d cf = _mm256_loadu_pd(ct + f * ld);
        t0 = _mm256_fmadd_pd(_mm256_set1_pd((double)x0[f]), cf, t0);
        t1 = _mm256_fmadd_pd(_mm256_set1_pd((double)x1[f]), cf, t1);
    }
    _mm256_storeu_pd(out0, t0);
    _mm256_storeu_pd(out1, t1);
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
        out0[q] = (s0[q][0] + s0[q][1]) + (s0[q][2] + s0[q][3]);
        out1[q] = (s1[q][0] + s1[q][1]) + (s1[q][2] + s1[q][3]);
    }
    for (f = d4; f < d; f++)
        for (q = 0; q < 4; q++) {
            out0[q] = SEED_MADD((double)x0[f], ct[f * ld + q], out0[q]);
            out1[q] = SEED_MADD((double)x1[f], ct[f * ld + q], out1[q]);
        }
#endif
}

/* Rows a->start:a->stop; potentials[j] += candidate j's sum; returns -1 when the scratch
 * block could not be allocated. */
static TARGET int NAME(seeding_trials)(const SeedArgs *a, double *potentials)
{
    const T *X = (const T *)a->X, *C = (const T *)a->C, *closest = (const T *)a->closest;
    T *dist = (T *)a->dist;
    const Py_ssize_t m = a->m, d = a->d, m4 = (m + 3) & ~(Py_ssize_t)3;
    Py_ssize_t r0, i, j, f, g, q;
    double *cw, *ct, *dots, *acc, last[4];

    cw = (double *)malloc(((size_t)2 * m4 * d + (size_t)SEED_ROWS * (m4 + 1)) * sizeof(double));
    if (cw == NULL)
        return -1;
    ct = cw + m4 * d;   /* the same transposed: feature f of candidate j at ct[f * m4 + j] */
    dots = ct + m4 * d; /* dots[i * m4 + j]: row i of the block with candidate j */
    acc = dots + SEED_ROWS * m4;
    for (j = 0; j < m4; j++) /* the candidates widened; those past m are zeros */
        for (f = 0; f < d; f++)
            ct[f * m4 + j] = cw[j * d + f] = j < m ? (double)C[j * d + f] : 0.0;
    for (r0 = a->start; r0 < a->stop; r0 += SEED_ROWS) {
        const Py_ssize_t nb = a->stop - r0 < SEED_ROWS ? a->stop - r0 : SEED_ROWS;
        const double *x_sq = a->x_sq + r0, *w = a->w + r0;
        for (i = 0; i < nb; i += 2) {
            /* (a last row without its pair is paired with itself) */
            const T *x0 = X + (r0 + i) * d, *x1 = i + 1 < nb ? x0 + d : x0;
            for (g = 0; g < m4; g += 4)
                NAME(seed_dots)(x0, x1, cw + g * d, ct + g, m4, d, dots + i * m4 + g,
                                i + 1 < nb ? dots + (i + 1) * m4 + g : last);
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
