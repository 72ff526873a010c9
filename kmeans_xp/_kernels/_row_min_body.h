/* The nearest and second-nearest of each row of a row-major matrix of products (m x k), each
 * score the product plus the cluster's ||c||^2 (c_sq), added as it is read: one pass instead
 * of the addition, argmin, a gather of the best and a second reduction. Included by
 * _fused_step.c for each type (T, NAME) and instruction set (TARGET; with V_* defined, the
 * AVX2 version). The label is the lowest index of the smallest score, as argmin gives it; the
 * second score is the smallest of the others (equal to the best on a tie). */

static TARGET void NAME(row_min)(const void *scores_, const void *c_sq_, Py_ssize_t m,
                                 Py_ssize_t k, int64_t *labels, void *best_, void *second_)
{
    const T *scores = (const T *)scores_, *c_sq = (const T *)c_sq_;
    T *best_out = (T *)best_, *second_out = (T *)second_;
    Py_ssize_t r, c;
    for (r = 0; r < m; r++) {
        const T *row = scores + r * k;
        T best = row[0] + c_sq[0], second = (T)INFINITY;
        Py_ssize_t at = 0;
        c = 1;
#ifdef V_LANES
        if (k >= 2 * V_LANES) {
            /* lanes of the first vector hold clusters 0..V_LANES-1; each keeps its own first
             * smallest score (strictly smaller replaces) and its own second */
            T lane_best[V_LANES], lane_second[V_LANES], lane_at[V_LANES];
            VT vb = V_ADD(V_LOAD(row), V_LOAD(c_sq)), vs = V_SET1((T)INFINITY);
            VT vi = V_IOTA(), va = vi;
            const VT step = V_SET1((T)V_LANES);
            Py_ssize_t q;
            for (c = V_LANES; c + V_LANES <= k; c += V_LANES) {
                const VT v = V_ADD(V_LOAD(row + c), V_LOAD(c_sq + c));
                const VM lt = V_CMPLT(v, vb);
                vi = V_ADD(vi, step);
                vs = V_MIN(vs, V_MAX(v, vb)); /* (the old best when v is nearer, else v) */
                vb = V_BLEND(vb, v, lt);
                va = V_BLEND(va, vi, lt);
            }
            V_STORE(lane_best, vb);
            V_STORE(lane_second, vs);
            V_STORE(lane_at, va);
            /* the lanes merged: the smallest score, the lowest index among equals */
            best = lane_best[0];
            at = (Py_ssize_t)lane_at[0];
            for (q = 1; q < V_LANES; q++) {
                const Py_ssize_t i = (Py_ssize_t)lane_at[q];
                if (lane_best[q] < best || (lane_best[q] == best && i < at)) {
                    best = lane_best[q];
                    at = i;
                }
            }
            for (q = 0; q < V_LANES; q++) { /* the winner's lane gives its second */
                const T other = (Py_ssize_t)lane_at[q] == at ? lane_second[q] : lane_best[q];
                second = other < second ? other : second;
            }
        }
#endif
        for (; c < k; c++) { /* (clusters after the vectors, in order) */
            const T v = row[c] + c_sq[c];
            if (v < best) {
                second = best;
                best = v;
                at = c;
            } else if (v < second) {
                second = v;
            }
        }
        labels[r] = (int64_t)at;
        if (best_out != NULL)
            best_out[r] = best;
        if (second_out != NULL)
            second_out[r] = second;
    }
}
