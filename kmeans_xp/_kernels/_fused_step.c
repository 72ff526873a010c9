/* The fused CPU Lloyd step for few clusters and features (kmeans_xp._kernels.numpy_fused):
 * one pass over each block of rows scores it against every centre, keeps the nearest, and
 * adds the rows to their cluster's float64 sums, weight and count (or, on an updating step,
 * only the rows that changed cluster), without the GIL, so that worker threads can each run
 * a row range into their own totals: the module's own (_thread_pool.h), given a list of
 * calls at once (fused_ranges, seeding_ranges), or the caller's.
 *
 * Arrays come through the buffer protocol (no NumPy headers at build time); the Python side
 * passes C-contiguous arrays of the right types and this file checks every length before it
 * reads or writes. The loop itself is _fused_step_body.h (with _fused_step_avx2.h's tiles),
 * compiled once for float and once for double in each instruction set (_fused_step_instance.h
 * is one of those); _row_min_body.h is the nearest two of each row of a score matrix, for the
 * row-major steps that score through BLAS; _seeding_body.h is k-means++'s trials of
 * candidate centres. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_thread_pool.h"

/* rows scored together: their scores, labels and X's columns stay in the L1 cache */
#define FUSED_BLOCK 256
/* the exact distances of rows of at most FUSED_COLUMNS_D features are taken from the block's
 * transposed columns, rows side by side, with the centres (at most FUSED_CT_MAX values)
 * transposed: 1.3-2x quicker there, slower at 8 and 16 features (benchmarks/README.md) */
#define FUSED_COLUMNS_D 4
#define FUSED_CT_MAX 1024

typedef struct {
    const void *xt;      /* NULL, or X transposed: feature j of row i at xt[j * ld + i] */
    void *xt_out;        /* NULL, or xt to fill in from X (a run's first step) */
    const void *X;       /* rows, n x d */
    const void *minus_2_c, *c_sq; /* k x d and k */
    const void *C;       /* (with sqdist) the centres, k x d */
    const void *w;       /* NULL: every weight is 1 */
    const int64_t *prev; /* NULL: no previous labels */
    int64_t *labels;     /* written, or read when known */
    void *sqdist;        /* NULL, or written: each row's sum((x - c)^2) */
    double *sums;        /* NULL (no sums), or k x d, added to */
    double *weights;     /* k, added to */
    int64_t *counts;     /* k, added to (rows of positive weight) */
    int delta;           /* add only the rows whose label changed (+ new, - old) */
    int known;           /* the labels are given: no scoring */
    Py_ssize_t k, d, ld, start, stop;
} FusedArgs;

typedef struct {
    double best_total;  /* sum of w * best score */
    double norms_total; /* (xt_out given) sum of w ||x||^2 */
    Py_ssize_t n_changed; /* rows of positive weight whose label changed */
    int bad_label;        /* a label out of range */
    int no_memory;        /* the scratch block could not be allocated */
} FusedTotals;

typedef struct {
    const void *X;        /* rows, n x d */
    const double *x_sq;   /* n: the rows' squared norms */
    const void *C;        /* m x d: the candidates, of X's type */
    const double *c_sq;   /* m: their squared norms */
    const void *closest;  /* NULL, or n: each row's squared distance to the nearest centre */
    const double *w;      /* n */
    void *dist;           /* NULL, or m x n: the minima, written */
    Py_ssize_t m, d, n, start, stop;
} SeedArgs;

/* The loop for each type: a plain build (mul then add, except on ARM64, where the vector
 * unit always fuses them and BLAS uses that), and on x86-64 with GCC or Clang one for CPUs
 * with AVX2 and FMA and one for CPUs with AVX-512 too, chosen at import; BLAS accumulates
 * with fused multiply-adds there. The AVX-512 tiles hold twice the rows of AVX2's, with the
 * same arithmetic in every lane (the step's loop only). */
#if defined(__aarch64__)
#define PLAIN_MADD(a, b, acc) FMA_OF_T((a), (b), (acc))
#else
#define PLAIN_MADD(a, b, acc) ((a) * (b) + (acc))
#endif
/* (-DFUSED_PLAIN_ONLY leaves the plain build alone, to test it on a CPU with FMA) */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(FUSED_PLAIN_ONLY)
#define HAVE_FMA_BUILD 1
#endif

#define TARGET
#define MADD PLAIN_MADD
#define T float
#define LAB int32_t
#define FMA_OF_T fmaf
#define NAME(x) x##_f32
#include "_fused_step_instance.h"
#define T double
#define LAB int64_t
#define FMA_OF_T fma
#define NAME(x) x##_f64
#include "_fused_step_instance.h"
#undef MADD
#undef TARGET

#ifdef HAVE_FMA_BUILD
#include <immintrin.h>
#define TARGET __attribute__((target("avx2,fma")))
#define MADD(a, b, acc) FMA_OF_T((a), (b), (acc))

#define T float
#define LAB int32_t
#define FMA_OF_T fmaf
#define NAME(x) x##_f32_fma
#define VT __m256
#define VM __m256
#define V_LANES 8
#define V_SET1 _mm256_set1_ps
#define V_LOAD _mm256_loadu_ps
#define V_STORE _mm256_storeu_ps
#define V_MUL _mm256_mul_ps
#define V_ADD _mm256_add_ps
#define V_FMADD _mm256_fmadd_ps
#define V_CMPLT(a, b) _mm256_cmp_ps((a), (b), _CMP_LT_OQ)
#define V_BLEND(a, b, m) _mm256_blendv_ps((a), (b), (m))
#define V_LABEL(c) _mm256_castsi256_ps(_mm256_set1_epi32((int32_t)(c)))
#define V_MIN _mm256_min_ps
#define V_MAX _mm256_max_ps
#define V_IOTA() _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7)
#include "_fused_step_instance.h"

#define T double
#define LAB int64_t
#define FMA_OF_T fma
#define NAME(x) x##_f64_fma
#define VT __m256d
#define VM __m256d
#define V_LANES 4
#define V_SET1 _mm256_set1_pd
#define V_LOAD _mm256_loadu_pd
#define V_STORE _mm256_storeu_pd
#define V_MUL _mm256_mul_pd
#define V_ADD _mm256_add_pd
#define V_FMADD _mm256_fmadd_pd
#define V_CMPLT(a, b) _mm256_cmp_pd((a), (b), _CMP_LT_OQ)
#define V_BLEND(a, b, m) _mm256_blendv_pd((a), (b), (m))
#define V_LABEL(c) _mm256_castsi256_pd(_mm256_set1_epi64x((int64_t)(c)))
#define V_MIN _mm256_min_pd
#define V_MAX _mm256_max_pd
#define V_IOTA() _mm256_setr_pd(0, 1, 2, 3)
#include "_fused_step_instance.h"
#undef TARGET

/* the same tiles in AVX-512 registers, twice the rows a tile; the nearest-two pass and the
 * seeding trials measured no quicker in them (benchmarks/README.md): AVX2's serve */
#define FUSED_RANGE_ONLY
#define TARGET __attribute__((target("avx512f,avx2,fma")))
#define T float
#define LAB int32_t
#define FMA_OF_T fmaf
#define NAME(x) x##_f32_avx512
#define VT __m512
#define VM __mmask16
#define V_LANES 16
#define V_SET1 _mm512_set1_ps
#define V_LOAD _mm512_loadu_ps
#define V_STORE _mm512_storeu_ps
#define V_MUL _mm512_mul_ps
#define V_ADD _mm512_add_ps
#define V_FMADD _mm512_fmadd_ps
#define V_CMPLT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ)
#define V_BLEND(a, b, m) _mm512_mask_blend_ps((m), (a), (b))
#define V_LABEL(c) _mm512_castsi512_ps(_mm512_set1_epi32((int32_t)(c)))
#include "_fused_step_instance.h"

#define T double
#define LAB int64_t
#define FMA_OF_T fma
#define NAME(x) x##_f64_avx512
#define VT __m512d
#define VM __mmask8
#define V_LANES 8
#define V_SET1 _mm512_set1_pd
#define V_LOAD _mm512_loadu_pd
#define V_STORE _mm512_storeu_pd
#define V_MUL _mm512_mul_pd
#define V_ADD _mm512_add_pd
#define V_FMADD _mm512_fmadd_pd
#define V_CMPLT(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_LT_OQ)
#define V_BLEND(a, b, m) _mm512_mask_blend_pd((m), (a), (b))
#define V_LABEL(c) _mm512_castsi512_pd(_mm512_set1_epi64((int64_t)(c)))
#include "_fused_step_instance.h"
#undef FUSED_RANGE_ONLY
#undef MADD
#undef TARGET
#endif

typedef void (*RangeFunc)(const FusedArgs *, FusedTotals *);
static RangeFunc range_f32 = fused_range_f32, range_f64 = fused_range_f64;
typedef int (*SeedFunc)(const SeedArgs *, double *);
static SeedFunc seed_f32 = seeding_trials_f32, seed_f64 = seeding_trials_f64;
typedef void (*RowMinFunc)(const void *, const void *, Py_ssize_t, Py_ssize_t, int64_t *, void *,
                           void *);
static RowMinFunc row_min_f32_now = row_min_f32, row_min_f64_now = row_min_f64;

/* What an entry point's argument must be: a C-contiguous buffer of at least ``count`` items of
 * ``itemsize`` bytes, floats (``is_float``) or signed integers, writable if asked; None is
 * allowed (a NULL pointer) when ``optional``. */
typedef struct {
    Py_ssize_t count, itemsize;
    int is_float, writable, optional;
} BufferSpec;

static int get_buffer(PyObject *obj, Py_buffer *view, const BufferSpec *spec, const char *name)
{
    const char *format, *kinds = spec->is_float ? "fd" : "ilq";
    char kind;
    view->obj = NULL;
    view->buf = NULL;
    if (obj == Py_None && spec->optional)
        return 0;
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT
                                          | (spec->writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    format = view->format != NULL ? view->format : "B";
    if (*format == '<' || *format == '=' || *format == '@')
        format++;
    kind = *format;
    if (view->itemsize != spec->itemsize || kind == '\0' || format[1] != '\0'
        || strchr(kinds, kind) == NULL) {
        PyErr_Format(PyExc_ValueError, "%s holds items of format '%s' (%zd bytes), expected %s "
                     "of %zd bytes", name, view->format != NULL ? view->format : "B",
                     view->itemsize, spec->is_float ? "floats" : "signed integers",
                     spec->itemsize);
    } else if (view->len < spec->count * spec->itemsize) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected at least %zd", name,
                     view->len, spec->count * spec->itemsize);
    } else {
        return 0;
    }
    PyBuffer_Release(view);
    view->obj = NULL;
    return -1;
}

static void release_buffers(Py_buffer *views, int n)
{
    int i;
    for (i = 0; i < n; i++)
        if (views[i].obj != NULL)
            PyBuffer_Release(&views[i]);
}

/* The n arguments objs as specs asks (names[i] in the messages); on a failure the buffers
 * got so far are released and -1 returned, with the exception set. */
static int get_buffers(PyObject **objs, Py_buffer *views, const BufferSpec *specs,
                       const char *const *names, int n)
{
    int i;
    for (i = 0; i < n; i++)
        if (get_buffer(objs[i], &views[i], &specs[i], names[i]) < 0) {
            release_buffers(views, i);
            return -1;
        }
    return 0;
}

/* An entry point's work in three parts, so that one call can run several of them on the
 * module's threads: its arguments checked and its buffers taken (with the GIL), the loop
 * (without), the buffers released and the result built (with). */
typedef struct {
    size_t size;                               /* of the job's struct */
    int (*prepare)(PyObject *args, void *job); /* -1: exception set, nothing held */
    void (*compute)(void *job);
    PyObject *(*finish)(void *job);            /* releases what prepare took */
} JobKind;

static PyObject *run_one(const JobKind *kind, PyObject *args)
{
    void *job = PyMem_Malloc(kind->size);
    PyObject *result = NULL;
    if (job == NULL)
        return PyErr_NoMemory();
    if (kind->prepare(args, job) == 0) {
        Py_BEGIN_ALLOW_THREADS
        kind->compute(job);
        Py_END_ALLOW_THREADS
        result = kind->finish(job);
    }
    PyMem_Free(job);
    return result;
}

typedef struct {
    const JobKind *kind;
    char *jobs;
} JobBatch;

static void run_part(void *ctx, Py_ssize_t part)
{
    const JobBatch *batch = (const JobBatch *)ctx;
    batch->kind->compute(batch->jobs + part * batch->kind->size);
}

/* args (threads, calls): every call's job prepared, all run on up to `threads` threads, then
 * each finished; a list of the results, or NULL with the first failure's exception. */
static PyObject *run_many(const JobKind *kind, PyObject *args)
{
    int threads;
    PyObject *calls, *seq, *results = NULL;
    Py_ssize_t n, i, ready = 0;
    JobBatch batch = {kind, NULL};

    if (!PyArg_ParseTuple(args, "iO", &threads, &calls))
        return NULL;
    seq = PySequence_Fast(calls, "calls: expected a list of argument tuples");
    if (seq == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    batch.jobs = (char *)PyMem_Calloc(n > 0 ? (size_t)n : 1, kind->size);
    if (batch.jobs == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (; ready < n; ready++)
        if (kind->prepare(PySequence_Fast_GET_ITEM(seq, ready), batch.jobs + ready * kind->size))
            break;
    if (ready == n) {
        Py_BEGIN_ALLOW_THREADS
        pool_run(threads, n, run_part, &batch);
        Py_END_ALLOW_THREADS
        results = PyList_New(n);
    }
    for (i = 0; i < ready; i++) { /* every job finished, whatever failed */
        PyObject *r;
        if (results == NULL) { /* (keeping the exception that stopped the batch) */
            PyObject *type, *value, *trace;
            PyErr_Fetch(&type, &value, &trace);
            Py_XDECREF(kind->finish(batch.jobs + i * kind->size));
            PyErr_Restore(type, value, trace);
            continue;
        }
        r = kind->finish(batch.jobs + i * kind->size);
        if (r == NULL)
            Py_CLEAR(results);
        else
            PyList_SET_ITEM(results, i, r);
    }
    PyMem_Free(batch.jobs);
    Py_DECREF(seq);
    return results;
}

enum { XT, XT_OUT, XMAT, MINUS_2_C, C_SQ, CENTERS, W, PREV, LABELS, SQDIST, SUMS, WEIGHTS,
       COUNTS, N_BUFFERS };
static const char *const buffer_names[N_BUFFERS] = {
    "xt", "xt_out", "X", "minus_2_c", "c_sq", "C", "w", "prev", "labels", "sqdist", "sums",
    "weights", "counts"};

PyDoc_STRVAR(fused_range_doc,
"fused_range(itemsize, k, d, ld, start, stop, xt, xt_out, X, minus_2_c, c_sq, C, w, prev,\n"
"            labels, sqdist, sums, weights, counts, delta, known)\n"
"    -> (best_total, norms_total, n_changed)\n"
"\n"
"Rows start:stop of a Lloyd step or an assignment (see numpy_fused.py). Every buffer but X\n"
"and labels may be None (minus_2_c and c_sq only with known labels).");

typedef struct {
    FusedArgs a;
    FusedTotals out;
    Py_ssize_t itemsize;
    Py_buffer views[N_BUFFERS];
} FusedJob;

/* fused_range's arguments checked and taken into job (its buffers held); on a failure, -1
 * with the exception set and nothing held. */
static int fused_prepare(PyObject *args, void *job_)
{
    FusedJob *job = (FusedJob *)job_;
    FusedArgs *a = &job->a;
    Py_buffer *views = job->views;
    Py_ssize_t itemsize, k, d, ld, start, stop;
    PyObject *objs[N_BUFFERS];
    int delta, known;

    if (!PyArg_ParseTuple(args, "nnnnnnOOOOOOOOOOOOOpp", &itemsize, &k, &d, &ld, &start,
                          &stop, &objs[XT], &objs[XT_OUT], &objs[XMAT], &objs[MINUS_2_C],
                          &objs[C_SQ], &objs[CENTERS], &objs[W], &objs[PREV], &objs[LABELS],
                          &objs[SQDIST], &objs[SUMS], &objs[WEIGHTS], &objs[COUNTS], &delta,
                          &known))
        return -1;
    if (itemsize != 4 && itemsize != 8) {
        PyErr_Format(PyExc_ValueError, "itemsize is %zd, expected 4 or 8", itemsize);
        return -1;
    }
    if (k < 1 || d < 1 || start < 0 || stop < start || ld < stop) {
        PyErr_Format(PyExc_ValueError,
                     "k=%zd, d=%zd, rows %zd:%zd of %zd: expected k, d >= 1 and "
                     "0 <= start <= stop <= ld", k, d, start, stop, ld);
        return -1;
    }
    if ((objs[SUMS] == Py_None) != (objs[WEIGHTS] == Py_None)
        || (objs[SUMS] == Py_None) != (objs[COUNTS] == Py_None)
        || (delta && (objs[PREV] == Py_None || objs[SUMS] == Py_None))
        || (!known && (objs[MINUS_2_C] == Py_None || objs[C_SQ] == Py_None))
        || (objs[SQDIST] != Py_None && objs[CENTERS] == Py_None)
        || (objs[XT_OUT] != Py_None && objs[XT] == Py_None)) {
        PyErr_SetString(PyExc_ValueError,
                        "expected sums, weights and counts all or none; prev and sums with "
                        "delta; minus_2_c and c_sq unless known; C with sqdist; xt with "
                        "xt_out");
        return -1;
    }
    {
        /* what each buffer must hold: items, item size, floats, writable, optional */
        const BufferSpec specs[N_BUFFERS] = {
            [XT] = {d * ld, itemsize, 1, 0, 1},     [XT_OUT] = {d * ld, itemsize, 1, 1, 1},
            [XMAT] = {stop * d, itemsize, 1, 0, 0}, [MINUS_2_C] = {k * d, itemsize, 1, 0, 1},
            [C_SQ] = {k, itemsize, 1, 0, 1},        [CENTERS] = {k * d, itemsize, 1, 0, 1},
            [W] = {stop, itemsize, 1, 0, 1},        [PREV] = {stop, 8, 0, 0, 1},
            [LABELS] = {stop, 8, 0, 1, 0},          [SQDIST] = {stop, itemsize, 1, 1, 1},
            [SUMS] = {k * d, 8, 1, 1, 1},           [WEIGHTS] = {k, 8, 1, 1, 1},
            [COUNTS] = {k, 8, 0, 1, 1},
        };
        if (get_buffers(objs, views, specs, buffer_names, N_BUFFERS) < 0)
            return -1;
    }
    a->xt = views[XT].buf;
    a->xt_out = views[XT_OUT].buf;
    a->X = views[XMAT].buf;
    a->minus_2_c = views[MINUS_2_C].buf;
    a->c_sq = views[C_SQ].buf;
    a->C = views[CENTERS].buf;
    a->w = views[W].buf;
    a->prev = (const int64_t *)views[PREV].buf;
    a->labels = (int64_t *)views[LABELS].buf;
    a->sqdist = views[SQDIST].buf;
    a->sums = (double *)views[SUMS].buf;
    a->weights = (double *)views[WEIGHTS].buf;
    a->counts = (int64_t *)views[COUNTS].buf;
    a->delta = delta;
    a->known = known;
    a->k = k;
    a->d = d;
    a->ld = ld;
    a->start = start;
    a->stop = stop;
    memset(&job->out, 0, sizeof(job->out));
    job->itemsize = itemsize;
    return 0;
}

static void fused_compute(void *job_)
{
    FusedJob *job = (FusedJob *)job_;
    (job->itemsize == 4 ? range_f32 : range_f64)(&job->a, &job->out);
}

/* The job's buffers released; its totals, or NULL with the exception set. */
static PyObject *fused_finish(void *job_)
{
    FusedJob *job = (FusedJob *)job_;
    release_buffers(job->views, N_BUFFERS);
    if (job->out.no_memory)
        return PyErr_NoMemory();
    if (job->out.bad_label) {
        PyErr_Format(PyExc_ValueError, "a label is outside 0..%zd", job->a.k - 1);
        return NULL;
    }
    return Py_BuildValue("ddn", job->out.best_total, job->out.norms_total, job->out.n_changed);
}

static const JobKind fused_kind = {sizeof(FusedJob), fused_prepare, fused_compute, fused_finish};

static PyObject *fused_range(PyObject *Py_UNUSED(self), PyObject *args)
{
    return run_one(&fused_kind, args);
}

PyDoc_STRVAR(fused_ranges_doc,
"fused_ranges(threads, calls) -> [(best_total, norms_total, n_changed), ...]\n"
"\n"
"fused_range(*args) for each args of calls (a list of tuples), on up to threads threads of\n"
"the module's own (see _thread_pool.h), without the GIL; the results in the calls' order.");

static PyObject *fused_ranges(PyObject *Py_UNUSED(self), PyObject *args)
{
    return run_many(&fused_kind, args);
}

PyDoc_STRVAR(row_min_doc,
"row_min(itemsize, m, k, products, c_sq, labels, best, second)\n"
"\n"
"Per row of the scores products + c_sq (m x k, row-major, and k): the lowest index of the\n"
"smallest score into labels (int64), that score into best and the smallest of the others\n"
"into second (both may be None), without the GIL.");

static PyObject *row_min(PyObject *Py_UNUSED(self), PyObject *args)
{
    Py_ssize_t itemsize, m, k;
    PyObject *objs[5];
    Py_buffer views[5];
    RowMinFunc f;
    static const char *const names[5] = {"products", "c_sq", "labels", "best", "second"};

    if (!PyArg_ParseTuple(args, "nnnOOOOO", &itemsize, &m, &k, &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4]))
        return NULL;
    if ((itemsize != 4 && itemsize != 8) || m < 0 || k < 1) {
        PyErr_Format(PyExc_ValueError,
                     "itemsize=%zd, m=%zd, k=%zd: expected 4 or 8, m >= 0 and k >= 1",
                     itemsize, m, k);
        return NULL;
    }
    {
        const BufferSpec specs[5] = {
            {m * k, itemsize, 1, 0, 0}, {k, itemsize, 1, 0, 0}, {m, 8, 0, 1, 0},
            {m, itemsize, 1, 1, 1}, {m, itemsize, 1, 1, 1}};
        if (get_buffers(objs, views, specs, names, 5) < 0)
            return NULL;
    }
    f = itemsize == 4 ? row_min_f32_now : row_min_f64_now;
    Py_BEGIN_ALLOW_THREADS
    f(views[0].buf, views[1].buf, m, k, (int64_t *)views[2].buf, views[3].buf, views[4].buf);
    Py_END_ALLOW_THREADS
    release_buffers(views, 5);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(seeding_trials_doc,
"seeding_trials(itemsize, m, d, n, start, stop, X, x_sq, C, c_sq, closest, w, dist,\n"
"               potentials)\n"
"\n"
"k-means++'s trials of m candidates over rows start:stop of X (see numpy_fused.py): adds\n"
"each candidate's sum of w * min(closest, squared distance) to potentials (float64) and,\n"
"unless dist is None, writes the minima into dist (m x n), without the GIL. closest may be\n"
"None (no centre yet).");

enum { S_X, S_X_SQ, S_C, S_C_SQ, S_CLOSEST, S_W, S_DIST, S_POTENTIALS, S_N };

typedef struct {
    SeedArgs a;
    SeedFunc f;
    double *potentials;
    int no_memory;
    Py_buffer views[S_N];
} SeedJob;

/* seeding_trials's arguments checked and taken into job, as fused_prepare. */
static int seeding_prepare(PyObject *args, void *job_)
{
    static const char *const names[S_N] = {"X", "x_sq", "C", "c_sq", "closest", "w", "dist",
                                           "potentials"};
    SeedJob *job = (SeedJob *)job_;
    SeedArgs *a = &job->a;
    Py_buffer *views = job->views;
    Py_ssize_t itemsize, m, d, n, start, stop;
    PyObject *objs[S_N];

    if (!PyArg_ParseTuple(args, "nnnnnnOOOOOOOO", &itemsize, &m, &d, &n, &start, &stop,
                          &objs[S_X], &objs[S_X_SQ], &objs[S_C], &objs[S_C_SQ],
                          &objs[S_CLOSEST], &objs[S_W], &objs[S_DIST], &objs[S_POTENTIALS]))
        return -1;
    if ((itemsize != 4 && itemsize != 8) || m < 1 || d < 1 || start < 0 || stop < start
        || n < stop) {
        PyErr_Format(PyExc_ValueError,
                     "itemsize=%zd, m=%zd, d=%zd, rows %zd:%zd of %zd: expected 4 or 8, "
                     "m, d >= 1 and 0 <= start <= stop <= n", itemsize, m, d, start, stop, n);
        return -1;
    }
    {
        /* items, item size, floats, writable, optional */
        const BufferSpec specs[S_N] = {
            [S_X] = {n * d, itemsize, 1, 0, 0},     [S_X_SQ] = {n, 8, 1, 0, 0},
            [S_C] = {m * d, itemsize, 1, 0, 0},     [S_C_SQ] = {m, 8, 1, 0, 0},
            [S_CLOSEST] = {n, itemsize, 1, 0, 1},   [S_W] = {n, 8, 1, 0, 0},
            [S_DIST] = {m * n, itemsize, 1, 1, 1},  [S_POTENTIALS] = {m, 8, 1, 1, 0},
        };
        if (get_buffers(objs, views, specs, names, S_N) < 0)
            return -1;
    }
    job->f = itemsize == 4 ? seed_f32 : seed_f64;
    a->X = views[S_X].buf;
    a->x_sq = (const double *)views[S_X_SQ].buf;
    a->C = views[S_C].buf;
    a->c_sq = (const double *)views[S_C_SQ].buf;
    a->closest = views[S_CLOSEST].buf;
    a->w = (const double *)views[S_W].buf;
    a->dist = views[S_DIST].buf;
    a->m = m;
    a->d = d;
    a->n = n;
    a->start = start;
    a->stop = stop;
    job->potentials = (double *)views[S_POTENTIALS].buf;
    job->no_memory = 0;
    return 0;
}

static void seeding_compute(void *job_)
{
    SeedJob *job = (SeedJob *)job_;
    job->no_memory = job->f(&job->a, job->potentials) < 0;
}

static PyObject *seeding_finish(void *job_)
{
    SeedJob *job = (SeedJob *)job_;
    release_buffers(job->views, S_N);
    if (job->no_memory)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static const JobKind seeding_kind = {sizeof(SeedJob), seeding_prepare, seeding_compute,
                                     seeding_finish};

static PyObject *seeding_trials(PyObject *Py_UNUSED(self), PyObject *args)
{
    return run_one(&seeding_kind, args);
}

PyDoc_STRVAR(seeding_ranges_doc,
"seeding_ranges(threads, calls) -> [None, ...]\n"
"\n"
"seeding_trials(*args) for each args of calls, on up to threads threads, as fused_ranges.");

static PyObject *seeding_ranges(PyObject *Py_UNUSED(self), PyObject *args)
{
    return run_many(&seeding_kind, args);
}

static PyMethodDef methods[] = {
    {"fused_range", fused_range, METH_VARARGS, fused_range_doc},
    {"row_min", row_min, METH_VARARGS, row_min_doc},
    {"seeding_trials", seeding_trials, METH_VARARGS, seeding_trials_doc},
    {"fused_ranges", fused_ranges, METH_VARARGS, fused_ranges_doc},
    {"seeding_ranges", seeding_ranges, METH_VARARGS, seeding_ranges_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fused_step",
    "The fused CPU Lloyd step's compiled loop (see kmeans_xp._kernels.numpy_fused).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fused_step(void)
{
    PyObject *mod = PyModule_Create(&module);
    const char *isa = "plain";
#ifdef HAVE_FMA_BUILD
    /* KMEANS_XP_FUSED_ISA caps the instruction set ("plain" or "avx2-fma"), to test the
     * narrower builds on a CPU that has more */
    const char *cap = getenv("KMEANS_XP_FUSED_ISA");
    const int plain = cap != NULL && strcmp(cap, "plain") == 0;
    const int avx2 = plain || (cap != NULL && strcmp(cap, "avx2-fma") == 0);
    __builtin_cpu_init();
    if (!plain && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        range_f32 = fused_range_f32_fma;
        range_f64 = fused_range_f64_fma;
        row_min_f32_now = row_min_f32_fma;
        row_min_f64_now = row_min_f64_fma;
        seed_f32 = seeding_trials_f32_fma;
        seed_f64 = seeding_trials_f64_fma;
        isa = "avx2-fma";
        if (!avx2 && __builtin_cpu_supports("avx512f")) {
            range_f32 = fused_range_f32_avx512;
            range_f64 = fused_range_f64_avx512;
            isa = "avx512";
        }
    }
#endif
    if (mod == NULL)
        return NULL;
    if (pool_init() < 0) {
        Py_DECREF(mod);
        return PyErr_NoMemory();
    }
    /* which build of the loop runs (in benchmark records and test reports), and whether the
     * *_ranges entry points run their calls on threads of their own */
    if (PyModule_AddStringConstant(mod, "INSTRUCTIONS", isa) < 0
        || PyModule_AddIntConstant(mod, "POOL", POOL) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
