/* The scores of whole tiles of rows in AVX2 registers, for CPUs with AVX2 and FMA: a tile of
 * two vectors of rows against four clusters at a time, eight independent sums (enough to keep
 * both multiply-add units busy) and each load of X used four times; the best score and label
 * of the tile's rows stay in registers across the clusters. Included by _fused_step.c once
 * for each type, with T, LAB, NAME(x) and the vector operations V_* defined; the arithmetic is
 * the generic loop's (_fused_step_body.h): the same sums in the same order, the same
 * comparisons, so that the two give the same labels. Returns the rows scored (whole tiles);
 * the generic loop scores the rest. */

#define NAME_TILE_KEEP(S0, S1, CL)                                                  \
    do {                                                                            \
        const VT cc_ = V_SET1(c_sq[CL]), v0_ = V_ADD(S0, cc_), v1_ = V_ADD(S1, cc_);\
        const VM lt0_ = V_CMPLT(v0_, b0), lt1_ = V_CMPLT(v1_, b1);                  \
        const VT cl_ = V_LABEL(CL);                                                 \
        b0 = V_BLEND(b0, v0_, lt0_);                                                \
        b1 = V_BLEND(b1, v1_, lt1_);                                                \
        l0 = V_BLEND(l0, cl_, lt0_);                                                \
        l1 = V_BLEND(l1, cl_, lt1_);                                                \
    } while (0)

static TARGET Py_ssize_t
NAME(score_tiles)(const T *xt, Py_ssize_t ld, Py_ssize_t m, const T *A, const T *c_sq,
                  Py_ssize_t k, Py_ssize_t d, T *best, LAB *lab)
{
    Py_ssize_t r;
    for (r = 0; r + 2 * V_LANES <= m; r += 2 * V_LANES) {
        const T *x = xt + r;
        VT b0 = V_SET1((T)INFINITY), b1 = b0;
        VT l0 = V_LABEL(0), l1 = l0; /* labels, as the bits of T's lanes */
        Py_ssize_t c = 0, j;
        for (; c + 4 <= k; c += 4) {
            const T *a0 = A + c * d, *a1 = a0 + d, *a2 = a1 + d, *a3 = a2 + d;
            VT x0 = V_LOAD(x), x1 = V_LOAD(x + V_LANES);
            VT p = V_SET1(a0[0]);
            VT s00 = V_MUL(p, x0), s01 = V_MUL(p, x1);
            VT s10, s11, s20, s21, s30, s31;
            p = V_SET1(a1[0]);
            s10 = V_MUL(p, x0);
            s11 = V_MUL(p, x1);
            p = V_SET1(a2[0]);
            s20 = V_MUL(p, x0);
            s21 = V_MUL(p, x1);
            p = V_SET1(a3[0]);
            s30 = V_MUL(p, x0);
            s31 = V_MUL(p, x1);
            for (j = 1; j < d; j++) {
                x0 = V_LOAD(x + j * ld);
                x1 = V_LOAD(x + j * ld + V_LANES);
                p = V_SET1(a0[j]);
                s00 = V_FMADD(p, x0, s00);
                s01 = V_FMADD(p, x1, s01);
                p = V_SET1(a1[j]);
                s10 = V_FMADD(p, x0, s10);
                s11 = V_FMADD(p, x1, s11);
                p = V_SET1(a2[j]);
                s20 = V_FMADD(p, x0, s20);
                s21 = V_FMADD(p, x1, s21);
                p = V_SET1(a3[j]);
                s30 = V_FMADD(p, x0, s30);
                s31 = V_FMADD(p, x1, s31);
            }
            NAME_TILE_KEEP(s00, s01, c);
            NAME_TILE_KEEP(s10, s11, c + 1);
            NAME_TILE_KEEP(s20, s21, c + 2);
            NAME_TILE_KEEP(s30, s31, c + 3);
        }
        for (; c < k; c++) {
            const T *a0 = A + c * d;
            VT p = V_SET1(a0[0]);
            VT s00 = V_MUL(p, V_LOAD(x)), s01 = V_MUL(p, V_LOAD(x + V_LANES));
            for (j = 1; j < d; j++) {
                p = V_SET1(a0[j]);
                s00 = V_FMADD(p, V_LOAD(x + j * ld), s00);
                s01 = V_FMADD(p, V_LOAD(x + j * ld + V_LANES), s01);
            }
            NAME_TILE_KEEP(s00, s01, c);
        }
        V_STORE(best + r, b0);
        V_STORE(best + r + V_LANES, b1);
        V_STORE((T *)(lab + r), l0);
        V_STORE((T *)(lab + r + V_LANES), l1);
    }
    return r;
}

#undef NAME_TILE_KEEP
