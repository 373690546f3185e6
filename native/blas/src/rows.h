/* Large row-wise kernels split over the calling thread and one helper thread (rows.c). */
#ifndef DTQL_ROWS_H
#define DTQL_ROWS_H

#include <stdbool.h>
#include <stdint.h>

/* Rows [first, end) of a kernel whose rows are independent. */
typedef void (*row_range_fn)(void *context, int64_t first, int64_t end);

/* Whether this thread's large kernels may use the helper; returns the previous setting. */
bool set_split_rows(bool enabled);

/*
 * Runs fn over rows [0, rows): about the first half on the helper thread and the rest here when
 * this thread asked for it, the kernel is `large` (worth more than handing half of it over, some
 * 10 microseconds) and the helper is free; else all here. The helper's share ends at a multiple of
 * `align`, so that a kernel computing its rows in blocks (PRODUCT_ROW_BLOCK) puts each row in the
 * same kind of block either way: the results are the same bits.
 */
void for_row_ranges(row_range_fn fn, void *context, int64_t rows, int64_t align, bool large);

/*
 * OpenBLAS computes a product's rows in blocks of its kernel's height (12 in its AVX2 set,
 * Haswell; 16 or 32 in others) and the rows of a last, partial block by other code, whose rounding
 * can differ (measured on the Haswell kernels: a product split at a multiple of 12 rows gave the
 * unsplit bits, split elsewhere it did not). A multiple of every such height keeps the split exact.
 */
#define PRODUCT_ROW_BLOCK 96

/*
 * What counts as large: a product of at least this many multiply-adds (each half then stays well
 * above the sizes where OpenBLAS switches to its small-matrix kernels), an element-wise pass over
 * at least this many values.
 */
#define SPLIT_MIN_PRODUCT (INT64_C(1) << 22)
#define SPLIT_MIN_ELEMENTS (INT64_C(1) << 16)

#endif
