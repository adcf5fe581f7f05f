/*
 * stats.h: the clock and the percentiles shared by the bench programs (smtp-load,
 * disk-ceiling), each built from one .c file with `cc -pthread prog.c`.
 */
#ifndef LB_BENCH_STATS_H
#define LB_BENCH_STATS_H

#include <time.h>

/* Monotonic seconds. */
static inline double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* qsort order for doubles. */
static inline int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-th quantile (0..1) of v[0..n), sorted, by the nearest-rank method. */
static inline double
pct(const double *v, long n, double p)
{
	long i;

	if (n == 0)
		return 0;
	i = (long)(p * (double)n + 0.999999) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

#endif
