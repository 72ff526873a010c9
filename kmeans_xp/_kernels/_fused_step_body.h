/* One fused Lloyd step over a range of rows, for one floating type and one instruction set.
 * Included by _fused_step.c once for each, with T (float or double), LAB (a label integer as
 * wide as T, so that the compare-and-select loops vectorise in one width), MADD(a, b, acc)
 * (a * b + acc, fused where the CPU's BLAS fuses it), TARGET (the function's instruction
 * set), NAME(x) (the function's suffix) and, when the build has one, SCORE_TILES (a
 * vectorised scoring of whole tiles of rows, _fused_step_avx2.h) defined.
 *
 * Scores are -2 x.c accumulated feature by feature in index order, one MADD each, then
 * ||c||^2 added, each in T: the order in which BLAS's matrix kernels accumulate a short
 * product, so that the scores round as the NumPy-call path's and portable's do. A cluster
 * replaces the best only when strictly nearer, visiting clusters in index order: the lowest
 * index wins exact ties, as argmin breaks them. */

/* Keeps the nearer of the best score so far (best[R], lab[R]) and cluster CL's score V: both
 * stores unconditional (a select and a masked xor), since written as conditional stores,
 * compilers emit masked vector stores, which some CPUs run in microcode. */
#define NAME_KEEP(R, V, CL)                                         \
    do {                                                            \
        const T v_ = (V), b_ = best[R];                             \
        const LAB keep_ = lab[R], nearer_ = -(LAB)(v_ < b_);        \
        best[R] = v_ < b_ ? v_ : b_;                                \
        lab[R] = keep_ ^ ((keep_ ^ (LAB)(CL)) & nearer_);           \
    } while (0)

/* best[r] and lab[r] of the block's rows r >= r0 (xt's columns from x): a cluster at a time
 * over every row, the last one to four features in the loop that keeps the nearer. */
static TARGET void NAME(score_rows)(const T *x, Py_ssize_t ld, Py_ssize_t r0, Py_ssize_t m,
                                    const T *A, const T *c_sq, Py_ssize_t k, Py_ssize_t d,
                                    T *best, LAB *lab)
{
    T acc[FUSED_BLOCK];
    Py_ssize_t r, c, j0;
    for (r = r0; r < m; r++) {
        best[r] = (T)INFINITY;
        lab[r] = 0;
    }
    for (c = 0; c < k; c++) {
        const T *ac = A + c * d;
        const T cc = c_sq[c];
        /* four features a pass over the rows: a quarter of the loads and stores of acc */
        for (j0 = 0; j0 + 4 < d; j0 += 4) {
            const T a0 = ac[j0], a1 = ac[j0 + 1], a2 = ac[j0 + 2], a3 = ac[j0 + 3];
            const T *x0 = x + j0 * ld, *x1 = x0 + ld, *x2 = x1 + ld, *x3 = x2 + ld;
            if (j0 == 0) {
                for (r = r0; r < m; r++)
                    acc[r] = MADD(a3, x3[r], MADD(a2, x2[r], MADD(a1, x1[r], a0 * x0[r])));
            } else {
                for (r = r0; r < m; r++)
                    acc[r] = MADD(a3, x3[r],
                                  MADD(a2, x2[r], MADD(a1, x1[r], MADD(a0, x0[r], acc[r]))));
            }
        }
        {
            const Py_ssize_t left = d - j0;
            const T *b = ac + j0;
            /* (a pointer per feature: with offsets from one pointer, compilers cannot tell
             * the loads from the stores and keep the loop scalar) */
            const T *x0 = x + j0 * ld, *x1 = left > 1 ? x0 + ld : x0;
            const T *x2 = left > 2 ? x1 + ld : x0, *x3 = left > 3 ? x2 + ld : x0;
            /* (the first feature's product alone when it starts the sum, as BLAS's
             * accumulator from zero gives it) */
#define FIRST (j0 == 0 ? b[0] * x0[r] : MADD(b[0], x0[r], acc[r]))
            switch (left) {
            case 1:
                for (r = r0; r < m; r++)
                    NAME_KEEP(r, FIRST + cc, c);
                break;
            case 2:
                for (r = r0; r < m; r++)
                    NAME_KEEP(r, MADD(b[1], x1[r], FIRST) + cc, c);
                break;
            case 3:
                for (r = r0; r < m; r++)
                    NAME_KEEP(r, MADD(b[2], x2[r], MADD(b[1], x1[r], FIRST)) + cc, c);
                break;
            default:
                for (r = r0; r < m; r++)
                    NAME_KEEP(r, MADD(b[3], x3[r], MADD(b[2], x2[r], MADD(b[1], x1[r], FIRST))) + cc,
                              c);
            }
#undef FIRST
        }
    }
}

static TARGET void NAME(fused_range)(const FusedArgs *a, FusedTotals *out)
{
    const T *xt = (const T *)a->xt, *X = (const T *)a->X, *A = (const T *)a->minus_2_c;
    const T *c_sq = (const T *)a->c_sq, *C = (const T *)a->C, *w = (const T *)a->w;
    T *xt_out = (T *)a->xt_out, *sqdist = (T *)a->sqdist, *scratch = NULL;
    const Py_ssize_t k = a->k, d = a->d;
    const int64_t *prev = a->prev;
    int64_t *labels = a->labels, *counts = a->counts;
    double *sums = a->sums, *weights = a->weights;
    const int delta = a->delta;
    T best[FUSED_BLOCK], ct[FUSED_CT_MAX];
    LAB lab[FUSED_BLOCK];
    /* (the exact distances, few features) the centres transposed: the blocks' distances are
     * then taken rows side by side from the block's transposed columns */
    const int by_columns = sqdist != NULL && d <= FUSED_COLUMNS_D && k * d <= FUSED_CT_MAX;
    double best_total = 0.0, norms_total = 0.0;
    Py_ssize_t n_changed = 0, s, r, j;

    if (xt == NULL && !a->known) { /* no transposed copy of X: each block transposed here */
        scratch = (T *)malloc((size_t)d * FUSED_BLOCK * sizeof(T));
        if (scratch == NULL) {
            out->no_memory = 1;
            return;
        }
    }
    if (by_columns)
        for (r = 0; r < k; r++)
            for (j = 0; j < d; j++)
                ct[j * k + r] = C[r * d + j];
    for (s = a->start; s < a->stop; s += FUSED_BLOCK) {
        const Py_ssize_t m = a->stop - s < FUSED_BLOCK ? a->stop - s : FUSED_BLOCK;
        const T *x = scratch != NULL ? scratch : xt != NULL ? xt + s : NULL;
        const Py_ssize_t ld = scratch != NULL ? FUSED_BLOCK : a->ld;
        if (scratch != NULL || xt_out != NULL) { /* X transposed (and on a run's first step
                                                    the weighted squared norms) */
            T *dst = scratch != NULL ? scratch : xt_out + s;
            for (r = 0; r < m; r++) {
                const T *row = X + (s + r) * d;
                double sq = 0.0;
                for (j = 0; j < d; j++) {
                    dst[j * ld + r] = row[j];
                    sq += (double)row[j] * (double)row[j];
                }
                norms_total += (w != NULL ? (double)w[s + r] : 1.0) * sq;
            }
        }
        if (a->known) { /* labels given: checked, no scores */
            for (r = 0; r < m; r++) {
                const int64_t to = labels[s + r];
                if (to < 0 || to >= k) { /* (read as 0 here, never written back: the call raises) */
                    out->bad_label = 1;
                    lab[r] = 0;
                } else {
                    lab[r] = (LAB)to;
                }
                best[r] = 0;
            }
        } else {
            Py_ssize_t tiled = 0;
#ifdef SCORE_TILES
            tiled = SCORE_TILES(x, ld, m, A, c_sq, k, d, best, lab);
#endif
            if (tiled < m)
                NAME(score_rows)(x, ld, tiled, m, A, c_sq, k, d, best, lab);
        }
        if (sqdist != NULL && by_columns && x != NULL) { /* (the same sums, see below) */
            T sq[FUSED_BLOCK];
            for (r = 0; r < m; r++)
                sq[r] = 0;
            for (j = 0; j < d; j++) {
                const T *col = x + j * ld, *cj = ct + j * k;
                for (r = 0; r < m; r++) {
                    const T diff = col[r] - cj[lab[r]], p = diff * diff;
                    sq[r] = sq[r] + p;
                }
            }
            memcpy(sqdist + s, sq, (size_t)m * sizeof(T));
        } else if (sqdist != NULL) { /* sum((x - c)^2), each square rounded, then added in order */
            for (r = 0; r < m; r++) {
                const T *row = X + (s + r) * d, *cen = C + (Py_ssize_t)lab[r] * d;
                T sq = 0;
                for (j = 0; j < d; j++) {
                    const T diff = row[j] - cen[j], p = diff * diff;
                    sq = sq + p;
                }
                sqdist[s + r] = sq;
            }
        }
        /* labels out (given labels are left as they are); the sum of w * best in four running
         * totals (one would wait on the latency of each addition), added at the end */
        {
            double t0 = 0.0, t1 = 0.0, t2 = 0.0, t3 = 0.0;
            if (!a->known)
                for (r = 0; r < m; r++)
                    labels[s + r] = (int64_t)lab[r];
            if (w == NULL) {
                for (r = 0; r + 4 <= m; r += 4) {
                    t0 += (double)best[r];
                    t1 += (double)best[r + 1];
                    t2 += (double)best[r + 2];
                    t3 += (double)best[r + 3];
                }
                for (; r < m; r++)
                    t0 += (double)best[r];
            } else {
                for (r = 0; r + 4 <= m; r += 4) {
                    t0 += (double)w[s + r] * (double)best[r];
                    t1 += (double)w[s + r + 1] * (double)best[r + 1];
                    t2 += (double)w[s + r + 2] * (double)best[r + 2];
                    t3 += (double)w[s + r + 3] * (double)best[r + 3];
                }
                for (; r < m; r++)
                    t0 += (double)w[s + r] * (double)best[r];
            }
            best_total += (t0 + t1) + (t2 + t3);
        }
        if (sums == NULL)
            continue;
        if (delta) { /* only the rows that moved: added to the new cluster, taken from the old */
            Py_ssize_t moved[FUSED_BLOCK], n_moved = 0, q;
            int any = 0;
            for (r = 0; r < m; r++) /* a quick look first: late steps move few rows or none */
                any |= prev[s + r] != labels[s + r];
            if (!any)
                continue;
            for (r = 0; r < m; r++) { /* (their list without a branch: moves are random) */
                moved[n_moved] = r;
                n_moved += prev[s + r] != labels[s + r];
            }
            for (q = 0; q < n_moved; q++) {
                const Py_ssize_t i = s + moved[q];
                const int64_t to = labels[i], from = prev[i];
                const double wi = w != NULL ? (double)w[i] : 1.0;
                const T *row = X + i * d;
                double *add = sums + to * d, *sub;
                if (!(wi > 0.0))
                    continue; /* weight 0: adds nothing, counts for nothing */
                if (from < 0 || from >= k) { /* not a label of k clusters: the call raises */
                    out->bad_label = 1;
                    continue;
                }
                sub = sums + from * d;
                n_changed++;
                for (j = 0; j < d; j++) {
                    const double v = wi * (double)row[j];
                    add[j] += v;
                    sub[j] -= v;
                }
                weights[to] += wi;
                weights[from] -= wi;
                counts[to]++;
                counts[from]--;
            }
            continue;
        }
        /* every row added to its cluster in float64 */
        for (r = 0; r < m; r++) {
            const Py_ssize_t i = s + r;
            const int64_t to = (int64_t)lab[r];
            const double wi = w != NULL ? (double)w[i] : 1.0;
            const T *row = X + i * d;
            double *add = sums + to * d;
            if (!(wi > 0.0))
                continue; /* weight 0: adds nothing, counts for nothing */
            if (prev != NULL && prev[i] != to)
                n_changed++;
            for (j = 0; j < d; j++)
                add[j] += wi * (double)row[j];
            weights[to] += wi;
            counts[to]++;
        }
    }
    free(scratch);
    out->best_total = best_total;
    out->norms_total = norms_total;
    out->n_changed = n_changed;
}

#undef NAME_KEEP
