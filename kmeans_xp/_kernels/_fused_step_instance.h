/* One instance of the compiled loops: for the type and instruction set that _fused_step.c
 * defined (T, LAB, FMA_OF_T, NAME, with MADD and TARGET; with the vector operations V_* too,
 * the AVX2 tiles and lanes), then those per-instance macros undefined for the next. */

#ifdef V_LANES
#include "_fused_step_avx2.h"
#define SCORE_TILES NAME(score_tiles)
#endif
#include "_fused_step_body.h"
#ifndef FUSED_RANGE_ONLY
#include "_row_min_body.h"
#include "_seeding_body.h"
#endif

#undef SCORE_TILES
#undef T
#undef LAB
#undef FMA_OF_T
#undef NAME
#undef VT
#undef VM
#undef V_LANES
#undef V_SET1
#undef V_LOAD
#undef V_STORE
#undef V_MUL
#undef V_ADD
#undef V_FMADD
#undef V_CMPLT
#undef V_BLEND
#undef V_LABEL
#undef V_MIN
#undef V_MAX
#undef V_IOTA
