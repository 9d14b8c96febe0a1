/* tui/progress.c - the progress line of batch commands (see progress.h). */
#include "tui/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "views/units.h"

#define PROGRESS_EVERY 0.1	/* seconds between redraws */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void progress_init(struct progress *p, const char *label, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->label, sizeof(p->label), "%s", label);
	p->total = total;
	p->tty = isatty(STDERR_FILENO);
	p->start = p->last = now();
}

void progress_piece(struct progress *p, uint64_t bytes)
{
	p->base += p->piece;
	p->piece = bytes;
	progress_set(p, p->base);
}

void progress_fraction(void *arg, double done)
{
	struct progress *p = arg;

	progress_set(p, p->base + (uint64_t)(done * (double)p->piece));
}

void progress_set(struct progress *p, uint64_t done)
{
	char a[32], b[32], eta[32] = "";
	double t, rate;

	if (!p->tty)
		return;
	t = now();
	if (t - p->last < PROGRESS_EVERY)
		return;
	p->last = t;
	if (done > p->total)
		done = p->total;
	units_bytes(done, a, sizeof(a));
	units_bytes(p->total, b, sizeof(b));
	rate = t > p->start ? (double)done / (t - p->start) : 0;
	if (rate > 0 && done < p->total)
		snprintf(eta, sizeof(eta), "  %.0f s left",
			 (double)(p->total - done) / rate + 0.5);
	fprintf(stderr, "\r\033[Kqscope: %s: %3d%%  %s of %s  %.2f GB/s%s",
		p->label, p->total ? (int)(done * 100 / p->total) : 100, a, b,
		rate / 1e9, eta);
	p->drawn = 1;
}

void progress_clear(struct progress *p)
{
	if (p->drawn)
		fputs("\r\033[K", stderr);
	p->drawn = 0;
}
