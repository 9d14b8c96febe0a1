/*
 * views/memory.c - the memory screen (M, F8): what the model's weights
 * take in each number format, and whether they fit common memory sizes.
 *
 *  memory · 14.8M params · weights only · demo/model        <- title
 *  format              scheme     bits/w       size  vs now
 *  on disk now         -           16.00   28.1 MiB   1.00x  █████████▌
 *  FP32                f32         32.00   56.3 MiB   2.00x  ███████████████
 *  ...
 *  fits in 8 GB and up: all                   <- budgets that hold the same
 *  weights only: KV cache and activations ...    formats share a line
 *
 *  q4_k: 12354560 bytes, 6.70 bits/weight: GGUF Q4_K: blocks of 256, ...
 *  q4_k leaves 13 tensors (2.8M params, 5.4 MiB) as stored: 9 1-D or ...
 *  12/13                                          ? help  Esc back
 *
 * The two lines about the selected row give its exact size and which
 * tensors the format leaves as stored (a 1-D norm, rows its block does not
 * divide, integers), by kind.  Lines that do not fit the width go on over
 * the next lines; on a short terminal the table keeps at least four rows
 * and the lines below give way, the fits lines last.
 *
 * Everything is arithmetic on shapes through the scheme table
 * (memory_table(), no curses, unit-tested), done once in enter(): instant
 * even for 100k tensors.  Sizes are of the weights only, as the screen
 * says; budgets are GiB, which is what a card sold as "24 GB" holds.
 */
#include "views/memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views/units.h"
#include "views/view.h"
#include "views/widgets.h"

/* ---- the arithmetic ---- */

static const struct {
	const char *label, *tag, *scheme;
} formats[MEMORY_ROWS] = {
	{ "on disk now", "now", NULL },
	{ "FP32", "fp32", "f32" },
	{ "TF32", "tf32", "tf32" },
	{ "FP16", "fp16", "f16" },
	{ "BF16", "bf16", "bf16" },
	{ "FP8 (e4m3)", "fp8", "fp8-e4m3" },
	{ "INT8", "int8", "int8" },
	{ "INT4 (g128)", "int4", "int4-g128" },
	{ "NF4", "nf4", "nf4" },
	{ "NF4 + double quant", "nf4-dq", "nf4-dq" },
	{ "Q8_0", "q8_0", "q8_0" },
	{ "Q4_K", "q4_k", "q4_k" },
	{ "ternary", "ternary", "ternary" },
};

const unsigned memory_budgets[] = { 8, 12, 16, 24, 48, 80 };
const size_t memory_nbudgets = sizeof(memory_budgets) /
			       sizeof(memory_budgets[0]);

/* The reasons scheme_applies_to() gives, in four kinds. */
static enum memory_why why_of(const char *reason)
{
	static const struct {
		const char *prefix;
		enum memory_why why;
	} kinds[] = {
		{ "scalar", MEMORY_WHY_SHAPE },
		{ "1-D", MEMORY_WHY_SHAPE },
		{ "empty", MEMORY_WHY_SHAPE },
		{ "row length", MEMORY_WHY_ROW },
		{ "integer", MEMORY_WHY_INT },
		{ "boolean", MEMORY_WHY_INT },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strncmp(reason, kinds[i].prefix,
			    strlen(kinds[i].prefix)) == 0)
			return kinds[i].why;
	return MEMORY_WHY_OTHER;
}

/* Add n tensors like t (same dtype and shape) to every row. */
static void add_tensors(struct memory_row *rows, const struct tensor *t,
			uint64_t n)
{
	struct scheme_shape sh;

	tensor_scheme_shape(t, &sh);
	rows[0].bytes += n * t->nbytes;
	for (size_t r = 1; r < MEMORY_ROWS; r++) {
		struct memory_row *row = &rows[r];
		const char *why = t->ndim > SCHEME_MAX_DIMS ?
			"too many dimensions" :
			scheme_applies_to(row->scheme, t->dtype, &sh);

		if (!why) {
			row->bytes += n * scheme_bytes(row->scheme, &sh);
			continue;
		}
		row->bytes += n * t->nbytes;
		row->kept += n;
		row->kept_params += n * t->params;
		row->kept_bytes += n * t->nbytes;
		row->why[why_of(why)] += n;
	}
}

/* Order of tensors by dtype, then shape. */
static int cmp_kind(const void *a, const void *b)
{
	const struct tensor *x = *(const struct tensor *const *)a;
	const struct tensor *y = *(const struct tensor *const *)b;

	if (x->dtype != y->dtype)
		return x->dtype < y->dtype ? -1 : 1;
	if (x->ndim != y->ndim)
		return x->ndim < y->ndim ? -1 : 1;
	for (int d = 0; d < x->ndim && d < MODEL_MAX_DIMS; d++)
		if (x->shape[d] != y->shape[d])
			return x->shape[d] < y->shape[d] ? -1 : 1;
	return 0;
}

int memory_table(const struct model *m, struct memory_row *rows)
{
	const struct tensor **by_kind;
	size_t i, j;

	memset(rows, 0, MEMORY_ROWS * sizeof(*rows));
	for (size_t r = 0; r < MEMORY_ROWS; r++) {
		rows[r].label = formats[r].label;
		rows[r].tag = formats[r].tag;
		if (!formats[r].scheme)
			continue;
		rows[r].scheme = scheme_find(formats[r].scheme);
		if (!rows[r].scheme)
			return -1;
	}
	/*
	 * A model repeats a few shapes many times (every layer alike): each
	 * dtype and shape is worked out once.  Without the memory to sort,
	 * each tensor on its own gives the same sums, more slowly.
	 */
	by_kind = m->ntensors ? malloc(m->ntensors * sizeof(*by_kind)) : NULL;
	if (!by_kind) {
		for (i = 0; i < m->ntensors; i++)
			add_tensors(rows, &m->tensors[i], 1);
		return 0;
	}
	for (i = 0; i < m->ntensors; i++)
		by_kind[i] = &m->tensors[i];
	qsort(by_kind, m->ntensors, sizeof(*by_kind), cmp_kind);
	for (i = 0; i < m->ntensors; i = j) {
		for (j = i + 1; j < m->ntensors &&
		     cmp_kind(&by_kind[i], &by_kind[j]) == 0; j++)
			;
		add_tensors(rows, by_kind[i], j - i);
	}
	free(by_kind);
	return 0;
}

double memory_bits(const struct memory_row *r, uint64_t params)
{
	return params ? 8.0 * (double)r->bytes / (double)params : 0.0;
}

int memory_fits(uint64_t bytes, unsigned gib)
{
	return bytes <= ((uint64_t)gib << 30);
}

/* ---- the screen ---- */

#define ROWS_ABOVE	2	/* title, column titles */
#define LABEL_W		18	/* "NF4 + double quant" */
#define SCHEME_W	9	/* "int4-g128" */
#define BITS_W		6	/* "bits/w", "32.00" */
#define SIZE_W		10	/* "1023.9 GiB" */
#define RATIO_W		6	/* "vs now", "0.28x" */
#define BAR_MAX		40
#define BAR_MIN		5
#define LINE_MAX	256	/* one line below the table */

struct memory_state {
	struct memory_row rows[MEMORY_ROWS];
	struct view_list list;
	struct text head;	/* "memory · 14.8M params · weights only · " */
	struct text path;	/* sanitized, for the title */
	uint64_t params, max_bytes;
	char bits[MEMORY_ROWS][16], size[MEMORY_ROWS][16];
	char ratio[MEMORY_ROWS][16];
	/* "fits in 8, 12 GB: int4 nf4 ..." lines, one per run of budgets
	 * holding the same formats */
	char fit[sizeof(memory_budgets) / sizeof(memory_budgets[0])][LINE_MAX];
	size_t nfit;
	char note[LINE_MAX];
};

/* Widths of the columns at the current width; 0 = hidden. */
struct layout {
	int label, scheme, bits, size, ratio, bar;
};

static void cat(char *buf, size_t n, const char *s)
{
	size_t len = strlen(buf);

	if (len + 1 < n)
		snprintf(buf + len, n - len, "%s", s);
}

/* Which rows fit in gib, as a bit mask. */
static unsigned fit_mask(const struct memory_state *st, unsigned gib)
{
	unsigned mask = 0;

	for (size_t r = 0; r < MEMORY_ROWS; r++)
		if (memory_fits(st->rows[r].bytes, gib))
			mask |= 1u << r;
	return mask;
}

/* The formats in mask: "all", "none", "all but fp32 tf32" when one or
 * two are missing, else their tags. */
static void fit_list(unsigned mask, const struct memory_row *rows,
		     char *buf, size_t n)
{
	unsigned all = (1u << MEMORY_ROWS) - 1;
	int count = 0;

	for (unsigned m = mask; m; m &= m - 1)
		count++;

	if (mask == all) {
		cat(buf, n, "all");
		return;
	}
	if (!mask) {
		cat(buf, n, "none");
		return;
	}
	if (count >= MEMORY_ROWS - 2) {
		cat(buf, n, "all but");
		mask = ~mask & all;
	}
	for (size_t r = 0; r < MEMORY_ROWS; r++)
		if (mask & (1u << r)) {
			if (buf[0] && buf[strlen(buf) - 1] != ' ')
				cat(buf, n, " ");
			cat(buf, n, rows[r].tag);
		}
}

/* Runs of budgets that hold the same formats, one line each. */
static void make_fit_lines(struct memory_state *st)
{
	unsigned all = (1u << MEMORY_ROWS) - 1;
	size_t b = 0;

	while (b < memory_nbudgets) {
		unsigned mask = fit_mask(st, memory_budgets[b]);
		size_t e = b + 1;
		char *line = st->fit[st->nfit++];
		size_t n = sizeof(st->fit[0]);
		char num[16];

		while (e < memory_nbudgets &&
		       fit_mask(st, memory_budgets[e]) == mask)
			e++;
		snprintf(line, n, "fits in ");
		if (mask == all && e == memory_nbudgets) {
			snprintf(num, sizeof(num), "%u GB and up",
				 memory_budgets[b]);
			cat(line, n, num);
		} else {
			for (size_t k = b; k < e; k++) {
				snprintf(num, sizeof(num), "%u",
					 memory_budgets[k]);
				if (k > b)
					cat(line, n,
					    k + 1 == e ? " and " : ", ");
				cat(line, n, num);
			}
			cat(line, n, " GB");
		}
		cat(line, n, ": ");
		fit_list(mask, st->rows, line + strlen(line),
			 n - strlen(line));
		b = e;
	}
}

static int memory_enter(struct view *v, const struct model *m, struct err *e)
{
	struct memory_state *st = v->state;
	const char *dot = v->env->ascii ? " | " : " \u00b7 ";
	char p[16], head[96];

	if (memory_table(m, st->rows) < 0) {
		err_set(e, "a format of the memory screen is missing from "
			"the scheme table");
		return -1;
	}
	st->params = m->params;
	for (size_t r = 0; r < MEMORY_ROWS; r++) {
		const struct memory_row *row = &st->rows[r];

		if (row->bytes > st->max_bytes)
			st->max_bytes = row->bytes;
		units_bytes(row->bytes, st->size[r], sizeof(st->size[r]));
		if (m->params)
			snprintf(st->bits[r], sizeof(st->bits[r]), "%.2f",
				 memory_bits(row, m->params));
		else
			snprintf(st->bits[r], sizeof(st->bits[r]), "-");
		if (st->rows[0].bytes)
			snprintf(st->ratio[r], sizeof(st->ratio[r]), "%.2fx",
				 (double)row->bytes /
				 (double)st->rows[0].bytes);
		else
			snprintf(st->ratio[r], sizeof(st->ratio[r]), "-");
	}
	st->list.n = MEMORY_ROWS;
	units_count(m->params, p, sizeof(p));
	snprintf(head, sizeof(head), "memory%s%s params%sweights only%s",
		 dot, p, dot, dot);
	make_fit_lines(st);
	snprintf(st->note, sizeof(st->note),
		 "weights only: KV cache and activations come on top; "
		 "1 GB = 2^30 bytes");
	if (text_make(&st->head, head, v->env->ascii) < 0 ||
	    text_make(&st->path, m->path ? m->path : "", v->env->ascii) < 0) {
		err_set(e, "out of memory");
		return -1;
	}
	return 0;
}

static void memory_leave(struct view *v)
{
	struct memory_state *st = v->state;

	text_release(&st->head);
	text_release(&st->path);
}

static void compute_layout(int cols, struct layout *L)
{
	int fixed;

	L->label = LABEL_W;
	L->scheme = SCHEME_W;
	L->bits = BITS_W;
	L->size = SIZE_W;
	L->ratio = RATIO_W;
	for (;;) {
		fixed = 1 + L->label + W_GAP + L->size;
		if (L->scheme)
			fixed += W_GAP + L->scheme;
		if (L->bits)
			fixed += W_GAP + L->bits;
		if (L->ratio)
			fixed += W_GAP + L->ratio;
		L->bar = cols - 1 - fixed - W_GAP;
		if (L->bar > BAR_MAX)
			L->bar = BAR_MAX;
		if (L->bar >= BAR_MIN)
			return;
		L->bar = 0;
		if (fixed <= cols - 1)
			return;
		/* columns give way: scheme, then ratio, then bits */
		if (L->scheme)
			L->scheme = 0;
		else if (L->ratio)
			L->ratio = 0;
		else if (L->bits)
			L->bits = 0;
		else
			return;		/* label and size are cropped */
	}
}

static void draw_title(const struct view *v, WINDOW *w,
		       const struct memory_state *st)
{
	int avail = v->cols - 2, head = st->head.width;

	w_title(v, w, NULL, NULL);
	wmove(w, 0, 1);
	if (head > avail)
		head = avail;
	w_text(w, v->env, &st->head, head, CROP_END, 0);
	if (avail - head > 0)
		w_text(w, v->env, &st->path, avail - head, CROP_MIDDLE, 0);
}

static void draw_columns(const struct view *v, WINDOW *w,
			 const struct layout *L)
{
	wattrset(w, v->env->attr[CR_COLUMNS]);
	mvwhline(w, 1, 0, ' ', v->cols);
	wmove(w, 1, 1);
	w_str(w, "format", L->label, 0);
	if (L->scheme) {
		w_spaces(w, W_GAP);
		w_str(w, "scheme", L->scheme, 0);
	}
	if (L->bits) {
		w_spaces(w, W_GAP);
		w_str(w, "bits/w", L->bits, 1);
	}
	w_spaces(w, W_GAP);
	w_str(w, "size", L->size, 1);
	if (L->ratio) {
		w_spaces(w, W_GAP);
		w_str(w, "vs now", L->ratio, 1);
	}
}

static void draw_row(const struct view *v, WINDOW *w, int y,
		     const struct memory_state *st, size_t r,
		     const struct layout *L, int sel)
{
	const struct view_env *env = v->env;
	const struct memory_row *row = &st->rows[r];
	attr_t normal = env->attr[sel ? CR_SELECTED : CR_NORMAL];

	wattrset(w, normal);
	mvwhline(w, y, 0, ' ', v->cols);
	wmove(w, y, 1);
	w_str(w, row->label, L->label, 0);
	if (L->scheme) {
		w_spaces(w, W_GAP);
		w_str(w, row->scheme ? row->scheme->name : "-", L->scheme, 0);
	}
	if (L->bits) {
		w_spaces(w, W_GAP);
		w_str(w, st->bits[r], L->bits, 1);
	}
	w_spaces(w, W_GAP);
	w_str(w, st->size[r], L->size, 1);
	if (L->ratio) {
		w_spaces(w, W_GAP);
		w_str(w, st->ratio[r], L->ratio, 1);
	}
	if (L->bar) {
		w_spaces(w, W_GAP);
		wattrset(w, env->attr[sel ? CR_SELECTED : CR_BAR]);
		w_hbar(w, env, st->max_bytes ? (double)row->bytes /
				(double)st->max_bytes : 0, L->bar);
	}
}

/* "9 1-D or scalar, 4 rows not a multiple of 256" into buf. */
static void kept_reasons(const struct memory_row *row, char *buf, size_t n)
{
	unsigned block = row->scheme->side[0].bits ?
			 row->scheme->side[0].group : 0;
	char part[64];

	buf[0] = '\0';
	for (int k = 0; k < MEMORY_WHY_COUNT; k++) {
		if (!row->why[k])
			continue;
		switch (k) {
		case MEMORY_WHY_SHAPE:
			snprintf(part, sizeof(part), "%llu 1-D or scalar",
				 (unsigned long long)row->why[k]);
			break;
		case MEMORY_WHY_ROW:
			snprintf(part, sizeof(part),
				 "%llu with rows not a multiple of %u",
				 (unsigned long long)row->why[k], block);
			break;
		case MEMORY_WHY_INT:
			snprintf(part, sizeof(part), "%llu integer or boolean",
				 (unsigned long long)row->why[k]);
			break;
		default:
			snprintf(part, sizeof(part), "%llu other",
				 (unsigned long long)row->why[k]);
			break;
		}
		if (buf[0])
			cat(buf, n, ", ");
		cat(buf, n, part);
	}
}

/* The two lines about the selected row. */
static void selected_lines(const struct memory_state *st, char *one,
			   char *two, size_t n)
{
	const struct memory_row *row = &st->rows[st->list.sel];
	char bits[32] = "", p[16], b[16], why[160];

	if (st->params)
		snprintf(bits, sizeof(bits), ", %s bits/weight",
			 st->bits[st->list.sel]);
	if (!row->scheme) {
		snprintf(one, n, "%s: %llu bytes%s (tensor data; file headers "
			 "not counted)", row->label,
			 (unsigned long long)row->bytes, bits);
		snprintf(two, n, "a format that does not apply to a tensor "
			 "(1-D, rows not a multiple of its block) leaves it "
			 "as stored; select a row to see how many");
		return;
	}
	snprintf(one, n, "%s: %llu bytes%s: %s", row->scheme->name,
		 (unsigned long long)row->bytes, bits, row->scheme->desc);
	if (!row->kept) {
		snprintf(two, n, "%s applies to every tensor", row->tag);
		return;
	}
	units_count(row->kept_params, p, sizeof(p));
	units_bytes(row->kept_bytes, b, sizeof(b));
	kept_reasons(row, why, sizeof(why));
	snprintf(two, n, "%s leaves %llu tensor%s (%s params, %s) as stored: "
		 "%s", row->tag, (unsigned long long)row->kept,
		 row->kept == 1 ? "" : "s", p, b, why);
}

/*
 * The lines below the table, in the order shown, each with a priority
 * (lower: kept first when the terminal is short).  A line longer than the
 * width goes on over more lines (indented), which give way first.
 */
struct below {
	const char *s;
	int len;
	int indent;
	int prio;
	int shown;
	int more;	/* the line goes on below */
};

#define BELOW_MAX 96

static void add_below(struct below *out, size_t *n, const char *s, int width,
		      int prio, int more_prio)
{
	int first = 1;

	if (!*s && *n < BELOW_MAX)
		out[(*n)++] = (struct below){ s, 0, 0, prio, 0, 0 };
	while (*s && *n < BELOW_MAX) {
		int w = first ? width : width - 2, len = (int)strlen(s), cut;

		if (w < 1)
			w = 1;
		cut = len;
		if (len > w) {
			/* after the last space that fits, or hard at w */
			for (cut = w; cut > w / 2 && s[cut] != ' '; cut--)
				;
			if (s[cut] != ' ')
				cut = w;
		}
		out[(*n)++] = (struct below){ s, cut, first ? 0 : 2,
					      first ? prio : more_prio, 0, 0 };
		s += cut;
		while (*s == ' ')
			s++;
		out[*n - 1].more = *s != '\0';
		first = 0;
	}
}

static size_t below_lines(const struct memory_state *st, struct below *out,
			  const char *one, const char *two, int width)
{
	size_t n = 0;

	add_below(out, &n, "", width, 20, 20);
	for (size_t i = 0; i < st->nfit; i++)
		add_below(out, &n, st->fit[i], width, (int)i, 30 + (int)i);
	add_below(out, &n, st->note, width, 10, 40);
	add_below(out, &n, "", width, 21, 21);
	add_below(out, &n, one, width, 11, 41);
	add_below(out, &n, two, width, 12, 42);
	return n;
}

static size_t page_rows(const struct view *v)
{
	/* the table keeps at least min rows; below it, the fits lines, the
	 * note and the two lines about the selected row come next */
	const struct memory_state *st = v->state;
	int avail = v->lines - ROWS_ABOVE - 1, min = 4;
	int below = (int)st->nfit + 3;

	if (avail - below >= MEMORY_ROWS)
		return MEMORY_ROWS;
	if (avail - below >= min)
		return (size_t)(avail - below);
	if (avail < min)
		return avail > 0 ? (size_t)avail : 1;
	return (size_t)min;
}

static void memory_draw(const struct view *v, WINDOW *w)
{
	static const struct w_hint hints[] = {
		{ ACT_HELP, "help" },
		{ ACT_BACK, "back" },
	};
	struct memory_state *st = v->state;
	size_t page = page_rows(v), nb;
	struct below below[BELOW_MAX];
	struct layout L;
	char one[LINE_MAX], two[LINE_MAX], pos[32];
	int cursor_y = ROWS_ABOVE, y, room;

	view_list_clamp(&st->list, page);
	compute_layout(v->cols, &L);
	draw_title(v, w, st);
	draw_columns(v, w, &L);
	for (size_t i = 0; i < page && st->list.top + i < st->list.n; i++) {
		size_t r = st->list.top + i;

		y = ROWS_ABOVE + (int)i;
		draw_row(v, w, y, st, r, &L, r == st->list.sel);
		if (r == st->list.sel)
			cursor_y = y;
	}

	/* below the table: as many lines as fit, by priority */
	selected_lines(st, one, two, sizeof(one));
	nb = below_lines(st, below, one, two, v->cols - 2);
	y = ROWS_ABOVE + (int)(page < st->list.n ? page : st->list.n);
	room = v->lines - 1 - y;
	for (int prio = 0; prio <= 42 && room > 0; prio++)
		for (size_t i = 0; i < nb && room > 0; i++)
			if (below[i].prio == prio) {
				below[i].shown = 1;
				room--;
			}
	wattrset(w, v->env->attr[CR_NORMAL]);
	for (size_t i = 0; i < nb; i++) {
		if (!below[i].shown)
			continue;
		mvwhline(w, y, 0, ' ', v->cols);
		wmove(w, y++, 1 + below[i].indent);
		waddnstr(w, below[i].s, below[i].len);
		/* the rest of the line did not fit: say so */
		if (below[i].more && (i + 1 == nb || !below[i + 1].shown)) {
			int x = getcurx(w);

			if (x > v->cols - 2)
				wmove(w, y - 1, v->cols - 2);
			if (v->env->ascii)
				waddch(w, '~');
			else
				waddnwstr(w, L"\u2026", 1);
		}
	}

	snprintf(pos, sizeof(pos), "%zu/%zu", st->list.sel + 1, st->list.n);
	w_status(v, w, NULL, pos, hints, sizeof(hints) / sizeof(hints[0]));
	wattrset(w, v->env->attr[CR_NORMAL]);
	wmove(w, cursor_y, 0);
}

static enum view_effect memory_act(struct view *v, enum action a)
{
	struct memory_state *st = v->state;

	return view_list_act(&st->list, a, page_rows(v));
}

static enum view_effect memory_mouse(struct view *v, int y, int x,
				     enum mouse_event ev)
{
	struct memory_state *st = v->state;
	size_t page = page_rows(v), r;

	(void)x;
	(void)ev;
	if (y < ROWS_ABOVE || (size_t)(y - ROWS_ABOVE) >= page)
		return VIEW_NONE;
	r = st->list.top + (size_t)(y - ROWS_ABOVE);
	if (r >= st->list.n || r == st->list.sel)
		return VIEW_NONE;
	st->list.sel = r;
	return VIEW_REDRAW;
}

const struct view_ops view_memory_ops = {
	.name = "memory",
	.state_size = sizeof(struct memory_state),
	.enter = memory_enter,
	.draw = memory_draw,
	.act = memory_act,
	.leave = memory_leave,
	.mouse = memory_mouse,
};
