/*
 * views/tensors.c - the first screen: one row per tensor.
 *
 *  path  format · N tensors · params · bytes          <- title bar
 *  name            dtype  shape        params  bytes  share
 *  lm_head.weight  BF16   [256, 256]  65.5K  128.0 KiB  25.0% ██▌
 *  ...
 *  BF16 1.0M params 2.0 MiB · F32 ...       3/12  ? help  q quit
 *
 * Everything shown is computed once in enter() (names sanitized and
 * measured, numbers formatted); draw() only lays it out for the current
 * width, so a resize costs nothing.  The share column gives each tensor's
 * part of the model's bytes as a percentage, and a bar scaled to the largest
 * tensor (as ncdu does): against the total, every bar of a model with
 * hundreds of tensors would be empty.  Columns give way from the right when
 * the terminal is narrow (share, then params and shape), so that names keep
 * a useful width.  Long names lose their start ("…0.self_attn.q_proj.weight"):
 * the start is what most names share ("model.layers."), the end is what
 * tells them apart; cropping the middle or the end made whole screens of
 * identical rows.
 */
#include "views/view.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "formats/model.h"
#include "quant/dtype.h"
#include "views/units.h"

/* Names get up to NAME_WANT columns before the share column goes, and at
 * least NAME_MIN before params and shape go. */
#define NAME_WANT	40
#define NAME_MIN	16
/* Widest a shape column gets; longer shapes are cropped. */
#define SHAPE_MAX	24
/* Share bar width: shrinks from MAX to MIN to give names room. */
#define BAR_MAX		10
#define BAR_MIN		5
/* Space between columns. */
#define GAP		2
/* Rows above and below the table: title, column titles / status line. */
#define ROWS_ABOVE	2
#define ROWS_BELOW	1
/* Zero-width characters kept after one base character (ncurses keeps at
 * most a few per cell). */
#define MAX_ZW		3

/* A string ready to draw: code points and their display widths. */
struct text {
	wchar_t *s;
	unsigned char *w;	/* 0, 1 or 2 per code point */
	size_t n;
	int width;		/* sum of w */
};

struct row {
	struct text name, shape;
	const char *dtype;
	char params[16], bytes[16], pct[8];
	double share;		/* of the model's bytes, 0..1 */
};

struct tensors_state {
	struct row *rows;
	struct view_list list;
	struct text path, summary, totals;
	double share_max;	/* the largest share: bars are drawn against it */
	int dtype_w, shape_w, params_w, bytes_w, pct_w, name_need;
};

/* Widths of the columns at the current terminal width; 0 = hidden. */
struct layout {
	int name, dtype, shape, params, bytes, pct, bar;
};

/* ---- text: sanitize, decode, measure ---- */

static wchar_t utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	wchar_t c;
	int n;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0) {
		c = s[0] & 0x1f;
		n = 1;
	} else if ((s[0] & 0xf0) == 0xe0) {
		c = s[0] & 0x0f;
		n = 2;
	} else if ((s[0] & 0xf8) == 0xf0) {
		c = s[0] & 0x07;
		n = 3;
	} else {
		*p = s + 1;
		return 0xfffd;
	}
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*p = s + i;
			return 0xfffd;
		}
		c = (c << 6) | (s[i] & 0x3f);
	}
	*p = s + n + 1;
	return c;
}

/* Invisible characters that can make two names look alike or reorder
 * what follows them: shown as \u escapes. */
static int is_format_char(wchar_t c)
{
	return c == 0x061c || c == 0x180e || (c >= 0x200b && c <= 0x200f) ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f) ||
	       c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb);
}

static void text_push(struct text *t, wchar_t c, int w)
{
	t->s[t->n] = c;
	t->w[t->n] = (unsigned char)w;
	t->n++;
	t->width += w;
}

/*
 * Make t from s (UTF-8 from a file, or ours): sanitized, decoded, every
 * code point given its width.  In ASCII mode every non-ASCII character
 * becomes '?'.  Returns 0, or -1 when out of memory.
 */
static int text_make(struct text *t, const char *s, int ascii)
{
	size_t len = strlen(s), cap;
	char *clean;
	const unsigned char *p;

	memset(t, 0, sizeof(*t));
	if (len > SIZE_MAX / 24 - 1)
		return -1;
	/* each byte becomes at most "\xNN"; each code point at most
	 * "\uNNNN" (6 characters) */
	clean = malloc(4 * len + 1);
	if (!clean)
		return -1;
	text_sanitize(s, clean, 4 * len + 1);
	cap = 6 * strlen(clean) + 1;
	t->s = malloc(cap * sizeof(wchar_t));
	t->w = malloc(cap);
	if (!t->s || !t->w) {
		free(clean);
		return -1;
	}
	for (p = (const unsigned char *)clean; *p;) {
		wchar_t c = utf8_next(&p);
		int w;

		if (c < 0x80) {
			text_push(t, c, 1);
			continue;
		}
		if (ascii) {
			text_push(t, L'?', 1);
			continue;
		}
		if (is_format_char(c)) {
			char esc[16];

			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)c & 0xffff);
			for (char *q = esc; *q; q++)
				text_push(t, (wchar_t)*q, 1);
			continue;
		}
		w = wcwidth(c);
		if (w < 0 || w > 2)
			text_push(t, 0xfffd, 1);
		else if (w == 0 && t->n == 0)
			continue;	/* a mark with nothing to sit on */
		else
			text_push(t, c, w);
	}
	free(clean);
	return 0;
}

static void text_release(struct text *t)
{
	free(t->s);
	free(t->w);
	memset(t, 0, sizeof(*t));
}

/* Draw s[from..to) at the cursor, keeping at most MAX_ZW zero-width
 * characters after each base character. */
static void put_range(WINDOW *w, const struct text *t, size_t from, size_t to)
{
	int zw = 0;

	for (size_t i = from; i < to; i++) {
		if (t->w[i] == 0 && ++zw > MAX_ZW)
			continue;
		if (t->w[i] != 0)
			zw = 0;
		waddnwstr(w, &t->s[i], 1);
	}
}

static void put_spaces(WINDOW *w, int n)
{
	while (n-- > 0)
		waddch(w, ' ');
}

enum crop { CROP_END, CROP_MIDDLE, CROP_START };

/*
 * Draw t at the cursor in exactly avail columns: padded with spaces (on
 * the right, or on the left when right is set), or cropped by display
 * width with an ellipsis at the end or in the middle.  A wide character
 * that would straddle the edge is replaced by padding.
 */
static void put_text(WINDOW *w, const struct view_env *env,
		     const struct text *t, int avail, enum crop how, int right)
{
	int budget, left_w, right_w, used_l = 0, used_r = 0;
	size_t i, j, start;

	if (avail <= 0)
		return;
	if (t->width <= avail) {
		if (right)
			put_spaces(w, avail - t->width);
		put_range(w, t, 0, t->n);
		if (!right)
			put_spaces(w, avail - t->width);
		return;
	}
	budget = avail - 1;	/* one column for the ellipsis */
	right_w = how == CROP_MIDDLE ? budget / 2 :
		  how == CROP_START ? budget : 0;
	left_w = budget - right_w;
	for (i = 0; i < t->n; i++) {
		if (t->w[i] != 0 && used_l + t->w[i] > left_w)
			break;
		used_l += t->w[i];
	}
	start = t->n;
	for (j = t->n; j > i; j--) {
		if (t->w[j - 1] == 0)
			continue;
		if (used_r + t->w[j - 1] > right_w)
			break;
		used_r += t->w[j - 1];
		start = j - 1;
	}
	if (right)
		put_spaces(w, budget - used_l - used_r);
	put_range(w, t, 0, i);
	if (env->ascii)
		waddch(w, '~');
	else
		waddnwstr(w, L"\u2026", 1);
	put_range(w, t, start, t->n);
	if (!right)
		put_spaces(w, budget - used_l - used_r);
}

/* ---- numbers ---- */

static void format_pct(double share, uint64_t total, char *out, size_t n)
{
	if (total == 0)
		snprintf(out, n, "-");
	else if (share > 0 && share < 0.0005)
		snprintf(out, n, "<0.1%%");	/* not 0.0%: it is not nothing */
	else
		snprintf(out, n, "%.1f%%", 100.0 * share);
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

/* ---- enter / leave ---- */

struct dtype_sum {
	enum dtype dt;
	uint64_t params, bytes;
	size_t count;
};

static int cmp_sum(const void *a, const void *b)
{
	const struct dtype_sum *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return (int)x->dt - (int)y->dt;
}

/* "BF16 1.0M params 2.0 MiB · F32 ..." into a text. */
static int make_totals(struct tensors_state *st, const struct model *m,
		       int ascii)
{
	struct dtype_sum sum[DT_COUNT];
	size_t cap = 64 * DT_COUNT, len = 0;
	char *buf = malloc(cap);
	int rc;

	if (!buf)
		return -1;
	buf[0] = '\0';
	memset(sum, 0, sizeof(sum));
	for (int d = 0; d < DT_COUNT; d++)
		sum[d].dt = (enum dtype)d;
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];
		int d = (unsigned)t->dtype < DT_COUNT ? (int)t->dtype : 0;

		sum[d].params += t->params;
		sum[d].bytes += t->nbytes;
		sum[d].count++;
	}
	qsort(sum, DT_COUNT, sizeof(sum[0]), cmp_sum);
	for (int d = 0; d < DT_COUNT; d++) {
		char p[16], b[16];

		if (!sum[d].count)
			continue;
		units_count(sum[d].params, p, sizeof(p));
		units_bytes(sum[d].bytes, b, sizeof(b));
		len += (size_t)snprintf(buf + len, cap - len, "%s%s %s params %s",
					len ? (ascii ? " | " : " \u00b7 ") : "",
					dtype_get(sum[d].dt)->name, p, b);
		if (len >= cap)
			break;
	}
	rc = text_make(&st->totals, buf, ascii);
	free(buf);
	return rc;
}

static void tensors_leave(struct view *v)
{
	struct tensors_state *st = v->state;

	if (st->rows)
		for (size_t i = 0; i < st->list.n; i++) {
			text_release(&st->rows[i].name);
			text_release(&st->rows[i].shape);
		}
	free(st->rows);
	st->rows = NULL;
	text_release(&st->path);
	text_release(&st->summary);
	text_release(&st->totals);
}

static int tensors_enter(struct view *v, const struct model *m, struct err *e)
{
	struct tensors_state *st = v->state;
	int ascii = v->env->ascii;
	char buf[256], p[16], b[16];

	st->dtype_w = (int)strlen("dtype");
	st->shape_w = (int)strlen("shape");
	st->params_w = (int)strlen("params");
	st->bytes_w = (int)strlen("bytes");
	st->pct_w = (int)strlen("share") - 1;
	st->name_need = (int)strlen("name");

	if (m->ntensors) {
		st->rows = calloc(m->ntensors, sizeof(*st->rows));
		if (!st->rows)
			goto oom;
	}
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];
		struct row *r = &st->rows[i];

		st->list.n = i + 1;	/* so leave() frees what is made */
		if (text_make(&r->name, t->name ? t->name : "", ascii) < 0)
			goto oom;
		tensor_shape_str(t, buf, sizeof(buf));
		if (text_make(&r->shape, buf, 1) < 0)
			goto oom;
		r->dtype = dtype_get(t->dtype)->name;
		units_count(t->params, r->params, sizeof(r->params));
		units_bytes(t->nbytes, r->bytes, sizeof(r->bytes));
		r->share = m->nbytes ? (double)t->nbytes / (double)m->nbytes : 0;
		if (r->share > 1)
			r->share = 1;
		format_pct(r->share, m->nbytes, r->pct, sizeof(r->pct));
		if (r->share > st->share_max)
			st->share_max = r->share;

		st->name_need = max_int(st->name_need, r->name.width);
		st->dtype_w = max_int(st->dtype_w, (int)strlen(r->dtype));
		st->shape_w = max_int(st->shape_w, r->shape.width);
		st->params_w = max_int(st->params_w, (int)strlen(r->params));
		st->bytes_w = max_int(st->bytes_w, (int)strlen(r->bytes));
		st->pct_w = max_int(st->pct_w, (int)strlen(r->pct));
	}
	if (st->shape_w > SHAPE_MAX)
		st->shape_w = SHAPE_MAX;

	if (text_make(&st->path, m->path ? m->path : "", ascii) < 0)
		goto oom;
	units_count(m->params, p, sizeof(p));
	units_bytes(m->nbytes, b, sizeof(b));
	snprintf(buf, sizeof(buf), "%s%s%zu tensor%s%s%s params%s%s",
		 m->format ? m->format : "?", ascii ? " | " : " \u00b7 ",
		 m->ntensors, m->ntensors == 1 ? "" : "s",
		 ascii ? " | " : " \u00b7 ", p, ascii ? " | " : " \u00b7 ", b);
	if (text_make(&st->summary, buf, ascii) < 0)
		goto oom;
	if (make_totals(st, m, ascii) < 0)
		goto oom;
	return 0;
oom:
	err_set(e, "out of memory while listing the tensors");
	return -1;
}

/* ---- layout and drawing ---- */

static void compute_layout(const struct tensors_state *st, int cols,
			   struct layout *L)
{
	/* the order columns give way in when the terminal is narrow */
	int *drop[4];
	int fixed, k = 0;
	int want = st->name_need < NAME_WANT ? st->name_need : NAME_WANT;

	L->dtype = st->dtype_w;
	L->shape = st->shape_w;
	L->params = st->params_w;
	L->bytes = st->bytes_w;
	L->pct = st->pct_w;
	L->bar = BAR_MAX;
	drop[0] = &L->bar;
	drop[1] = &L->pct;
	drop[2] = &L->params;
	drop[3] = &L->shape;
	for (;;) {
		/* one column of margin on each side */
		fixed = 2 + GAP + L->dtype + GAP + L->bytes;
		if (L->shape)
			fixed += GAP + L->shape;
		if (L->params)
			fixed += GAP + L->params;
		if (L->pct)
			fixed += GAP + L->pct;
		if (L->bar)
			fixed += 1 + L->bar;
		L->name = cols - fixed;
		/* a narrower bar before a cropped name */
		if (L->bar > BAR_MIN && L->name < st->name_need) {
			int give = st->name_need - L->name;

			if (give > L->bar - BAR_MIN)
				give = L->bar - BAR_MIN;
			L->bar -= give;
			L->name += give;
		}
		if (k == 4 || L->name >= (k < 2 ? want : NAME_MIN))
			break;
		*drop[k++] = 0;
	}
	/* short names: keep the columns next to them, the slack on the right */
	if (L->name > max_int(st->name_need, NAME_MIN))
		L->name = max_int(st->name_need, NAME_MIN);
	if (L->name < 1)
		L->name = 1;
}

static void set_role(WINDOW *w, const struct view_env *env, enum role r,
		     int selected)
{
	wattrset(w, env->attr[selected ? CR_SELECTED : r]);
}

/* A bar of width cells showing frac (0..1), in eighths of a cell. */
static void put_bar(WINDOW *w, const struct view_env *env, double frac,
		    int width)
{
	static const wchar_t eighths[] = L" \u258f\u258e\u258d\u258c\u258b\u258a\u2589";
	int n;

	if (env->ascii) {
		n = (int)(frac * width + 0.5);
		for (int i = 0; i < width; i++)
			waddch(w, i < n ? '#' : ' ');
		return;
	}
	n = (int)(frac * width * 8 + 0.5);
	for (int i = 0; i < width; i++) {
		int cell = n - 8 * i;

		if (cell >= 8)
			waddnwstr(w, L"\u2588", 1);
		else if (cell > 0)
			waddnwstr(w, &eighths[cell], 1);
		else
			waddch(w, ' ');
	}
}

static void put_str(WINDOW *w, const char *s, int width, int right)
{
	wprintw(w, right ? "%*.*s" : "%-*.*s", width, width, s);
}

static void draw_title(const struct view *v, WINDOW *w,
		       const struct tensors_state *st)
{
	const struct view_env *env = v->env;
	int cols = v->cols, avail = cols - 2, path_w;

	wattrset(w, env->attr[CR_TITLE]);
	mvwhline(w, 0, 0, ' ', cols);
	wmove(w, 0, 1);
	/* the path, then the summary; at narrow widths the summary wins,
	 * since the person knows what they opened */
	path_w = avail - GAP - st->summary.width;
	if (path_w >= 12 || (path_w >= st->path.width && st->path.width)) {
		if (path_w > st->path.width)
			path_w = st->path.width;
		put_text(w, env, &st->path, path_w, CROP_MIDDLE, 0);
		put_spaces(w, GAP);
		put_text(w, env, &st->summary, st->summary.width, CROP_END, 0);
	} else {
		put_text(w, env, &st->summary, avail, CROP_END, 0);
	}
}

static void draw_columns(const struct view *v, WINDOW *w,
			 const struct layout *L)
{
	wattrset(w, v->env->attr[CR_NORMAL]);
	wmove(w, 1, 1);
	wattrset(w, v->env->attr[CR_COLUMNS]);
	put_str(w, "name", L->name, 0);
	put_spaces(w, GAP);
	put_str(w, "dtype", L->dtype, 0);
	if (L->shape) {
		put_spaces(w, GAP);
		put_str(w, "shape", L->shape, 0);
	}
	if (L->params) {
		put_spaces(w, GAP);
		put_str(w, "params", L->params, 1);
	}
	put_spaces(w, GAP);
	put_str(w, "bytes", L->bytes, 1);
	if (L->pct) {
		put_spaces(w, GAP);
		put_str(w, "share", L->pct + (L->bar ? 1 + L->bar : 0), 0);
	}
}

static void draw_row(const struct view *v, WINDOW *w, int y,
		     const struct tensors_state *st, const struct row *r,
		     const struct layout *L, int sel)
{
	const struct view_env *env = v->env;

	set_role(w, env, CR_NORMAL, sel);
	mvwhline(w, y, 0, ' ', v->cols);
	wmove(w, y, 1);
	put_text(w, env, &r->name, L->name, CROP_START, 0);
	put_spaces(w, GAP);
	set_role(w, env, CR_DTYPE, sel);
	put_str(w, r->dtype, L->dtype, 0);
	set_role(w, env, CR_NORMAL, sel);
	if (L->shape) {
		put_spaces(w, GAP);
		put_text(w, env, &r->shape, L->shape, CROP_END, 0);
	}
	if (L->params) {
		put_spaces(w, GAP);
		put_str(w, r->params, L->params, 1);
	}
	put_spaces(w, GAP);
	put_str(w, r->bytes, L->bytes, 1);
	if (L->pct) {
		put_spaces(w, GAP);
		put_str(w, r->pct, L->pct, 1);
	}
	if (L->bar) {
		put_spaces(w, 1);
		set_role(w, env, CR_BAR, sel);
		put_bar(w, env, st->share_max > 0 ? r->share / st->share_max : 0,
			L->bar);
	}
}

/* Totals on the left; position and key hints on the right. */
static void draw_status(const struct view *v, WINDOW *w,
			const struct tensors_state *st)
{
	static const struct {
		enum action a;
		const char *label;
	} hints[] = {
		{ ACT_HELP, "help" },
		{ ACT_QUIT, "quit" },
	};
	const struct view_env *env = v->env;
	int y = v->lines - 1, cols = v->cols, right_w, left_w;
	char pos[48], keys[2][32];

	snprintf(pos, sizeof(pos), "%zu/%zu",
		 st->list.n ? st->list.sel + 1 : 0, st->list.n);
	right_w = (int)strlen(pos);
	for (size_t i = 0; i < 2; i++) {
		env->keys(hints[i].a, 1, keys[i], sizeof(keys[i]));
		if (keys[i][0])
			right_w += GAP + (int)strlen(keys[i]) + 1 +
				   (int)strlen(hints[i].label);
	}
	wattrset(w, env->attr[CR_STATUS]);
	mvwhline(w, y, 0, ' ', cols);
	left_w = cols - 2 - right_w - GAP;
	if (left_w < 10) {
		/* no room for the totals; the hints alone, cropped */
		left_w = 0;
		if (right_w > cols - 2)
			right_w = cols - 2;
	}
	wmove(w, y, 1);
	if (left_w > 0) {
		put_text(w, env, &st->totals, left_w, CROP_END, 0);
		put_spaces(w, GAP);
	}
	/* right part: "3/12  ? help  q quit", cropped at the edge */
	wmove(w, y, cols - 1 - right_w);
	waddnstr(w, pos, right_w);
	for (size_t i = 0; i < 2; i++) {
		int x = getcurx(w), room = cols - 1 - x;

		if (!keys[i][0] || room <= GAP)
			continue;
		put_spaces(w, GAP);
		wattrset(w, env->attr[CR_KEY]);
		waddnstr(w, keys[i], room - GAP);
		wattrset(w, env->attr[CR_STATUS]);
		room = cols - 1 - getcurx(w);
		if (room > 1) {
			waddch(w, ' ');
			waddnstr(w, hints[i].label, room - 1);
		}
	}
}

static size_t page_rows(const struct view *v)
{
	int n = v->lines - ROWS_ABOVE - ROWS_BELOW;

	return n > 0 ? (size_t)n : 1;
}

static void tensors_draw(const struct view *v, WINDOW *w)
{
	struct tensors_state *st = v->state;
	size_t page = page_rows(v);
	struct layout L;
	int cursor_y = ROWS_ABOVE;

	view_list_clamp(&st->list, page);
	compute_layout(st, v->cols, &L);
	draw_title(v, w, st);
	draw_columns(v, w, &L);
	if (st->list.n == 0) {
		wattrset(w, v->env->attr[CR_NORMAL]);
		mvwaddnstr(w, ROWS_ABOVE, 1, "(no tensors)", v->cols - 2);
	}
	for (size_t i = 0; i < page && st->list.top + i < st->list.n; i++) {
		size_t idx = st->list.top + i;
		int y = ROWS_ABOVE + (int)i;

		draw_row(v, w, y, st, &st->rows[idx], &L,
			 idx == st->list.sel);
		if (idx == st->list.sel)
			cursor_y = y;
	}
	draw_status(v, w, st);
	wattrset(w, v->env->attr[CR_NORMAL]);
	wmove(w, cursor_y, 0);
}

static enum view_effect tensors_act(struct view *v, enum action a)
{
	struct tensors_state *st = v->state;

	return view_list_act(&st->list, a, page_rows(v));
}

const struct view_ops view_tensors_ops = {
	.name = "tensors",
	.state_size = sizeof(struct tensors_state),
	.enter = tensors_enter,
	.draw = tensors_draw,
	.act = tensors_act,
	.leave = tensors_leave,
};
