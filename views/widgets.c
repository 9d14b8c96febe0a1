/*
 * views/widgets.c - shared drawing pieces (see widgets.h).
 */
#include "views/widgets.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/model.h"
#include "quant/grid.h"

/* Zero-width characters kept after one base character (ncurses keeps at
 * most a few per cell). */
#define MAX_ZW 3

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

int text_make(struct text *t, const char *s, int ascii)
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
		text_release(t);
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

void text_release(struct text *t)
{
	free(t->s);
	free(t->w);
	memset(t, 0, sizeof(*t));
}

static wchar_t fold(wchar_t c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int text_contains(const struct text *t, const wchar_t *needle, size_t n)
{
	if (n == 0)
		return 1;
	for (size_t i = 0; i + n <= t->n; i++) {
		size_t k = 0;

		while (k < n && fold(t->s[i + k]) == fold(needle[k]))
			k++;
		if (k == n)
			return 1;
	}
	return 0;
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

void w_spaces(WINDOW *w, int n)
{
	while (n-- > 0)
		waddch(w, ' ');
}

void w_text(WINDOW *w, const struct view_env *env, const struct text *t,
	    int avail, enum crop how, int right)
{
	int budget, left_w, right_w, used_l = 0, used_r = 0;
	size_t i, j, start;

	if (avail <= 0)
		return;
	if (t->width <= avail) {
		if (right)
			w_spaces(w, avail - t->width);
		put_range(w, t, 0, t->n);
		if (!right)
			w_spaces(w, avail - t->width);
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
		w_spaces(w, budget - used_l - used_r);
	put_range(w, t, 0, i);
	if (env->ascii)
		waddch(w, '~');
	else
		waddnwstr(w, L"\u2026", 1);
	put_range(w, t, start, t->n);
	if (!right)
		w_spaces(w, budget - used_l - used_r);
}

void w_str(WINDOW *w, const char *s, int width, int right)
{
	if (width > 0)
		wprintw(w, right ? "%*.*s" : "%-*.*s", width, width, s);
}

void w_hbar(WINDOW *w, const struct view_env *env, double frac, int width)
{
	static const wchar_t eighths[] =
		L" \u258f\u258e\u258d\u258c\u258b\u258a\u2589";
	int n;

	if (!(frac > 0))
		frac = 0;
	if (frac > 1)
		frac = 1;
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

void w_vcell(WINDOW *w, const struct view_env *env, int eighths)
{
	static const wchar_t blocks[] =
		L" \u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588";

	if (eighths < 0)
		eighths = 0;
	if (eighths > 8)
		eighths = 8;
	if (env->ascii)
		waddch(w, eighths >= 4 ? '#' : eighths > 0 ? '.' : ' ');
	else
		waddnwstr(w, &blocks[eighths], 1);
}

void w_title(const struct view *v, WINDOW *w, const char *left,
	     const char *right)
{
	int cols = v->cols, lw = left ? (int)strlen(left) : 0;
	int rw = right ? (int)strlen(right) : 0;

	wattrset(w, v->env->attr[CR_TITLE]);
	mvwhline(w, 0, 0, ' ', cols);
	if (left)
		mvwaddnstr(w, 0, 1, left, cols - 2);
	if (right && 1 + lw + W_GAP + rw <= cols - 1)
		mvwaddnstr(w, 0, cols - 1 - rw, right, rw);
}

void w_status(const struct view *v, WINDOW *w, const struct text *left,
	      const char *pos, const struct w_hint *hints, size_t nhints)
{
	const struct view_env *env = v->env;
	int y = v->lines - 1, cols = v->cols, right_w = 0, left_w;
	char keys[8][32];
	size_t nh = nhints < 8 ? nhints : 8;

	if (pos)
		right_w = (int)strlen(pos);
	for (size_t i = 0; i < nh; i++) {
		env->keys(hints[i].act, 1, keys[i], sizeof(keys[i]));
		if (keys[i][0])
			right_w += (right_w ? W_GAP : 0) +
				   (int)strlen(keys[i]) + 1 +
				   (int)strlen(hints[i].label);
	}
	wattrset(w, env->attr[CR_STATUS]);
	mvwhline(w, y, 0, ' ', cols);
	left_w = left ? cols - 2 - right_w - W_GAP : 0;
	if (left && left_w < 10 && right_w > 0)
		left_w = 0;	/* no room for both: the position and keys win */
	wmove(w, y, 1);
	if (left && left_w > 0)
		w_text(w, env, left, left_w, CROP_END, 0);
	if (right_w <= 0)
		return;
	if (right_w > cols - 2)
		right_w = cols - 2;
	wmove(w, y, cols - 1 - right_w);
	if (pos)
		waddnstr(w, pos, right_w);
	for (size_t i = 0; i < nh; i++) {
		int x = getcurx(w), room = cols - 1 - x;

		if (!keys[i][0] || room <= W_GAP)
			continue;
		if (x > cols - 1 - right_w)
			w_spaces(w, W_GAP), room -= W_GAP;
		wattrset(w, env->attr[CR_KEY]);
		waddnstr(w, keys[i], room);
		wattrset(w, env->attr[CR_STATUS]);
		room = cols - 1 - getcurx(w);
		if (room > 1) {
			waddch(w, ' ');
			waddnstr(w, hints[i].label, room - 1);
		}
	}
}

void w_progress(const struct view *v, WINDOW *w, int y, const char *label,
		double done)
{
	char pct[16];
	int lw = (int)strlen(label), bar;

	if (!(done >= 0))
		done = 0;
	if (done > 1)
		done = 1;
	snprintf(pct, sizeof(pct), "%3d%%", (int)(done * 100));
	wattrset(w, v->env->attr[CR_NORMAL]);
	mvwhline(w, y, 0, ' ', v->cols);
	wmove(w, y, 1);
	waddnstr(w, label, v->cols - 2);
	bar = v->cols - 2 - lw - W_GAP - 2 - W_GAP - (int)strlen(pct);
	if (bar > 40)
		bar = 40;
	if (bar < 5)
		return;
	w_spaces(w, W_GAP);
	waddch(w, '[');
	wattrset(w, v->env->attr[CR_BAR]);
	w_hbar(w, v->env, done, bar);
	wattrset(w, v->env->attr[CR_NORMAL]);
	waddch(w, ']');
	w_spaces(w, W_GAP);
	waddstr(w, pct);
}

/* A column's height in eighths of a cell, from value val against the
 * tallest top, over h rows. */
static int eighths(double val, double top, int h, int log)
{
	double f;

	if (!(val > 0) || !(top > 0))
		return 0;
	f = log ? log1p(val) / log1p(top) : val / top;
	/* anything at all shows at least one eighth */
	return f * h * 8 < 1 ? 1 : (int)(f * h * 8 + 0.5);
}

void w_plot(WINDOW *w, const struct view_env *env, int y, int x,
	    const double *col, int width, int h, int log)
{
	double top = 0;

	for (int c = 0; c < width; c++)
		if (col[c] > top)
			top = col[c];
	wattrset(w, env->attr[CR_BAR]);
	for (int c = 0; c < width; c++) {
		int e = eighths(col[c], top, h, log);

		for (int r = 0; r < h; r++) {
			wmove(w, y + r, x + c);
			w_vcell(w, env, e - 8 * (h - 1 - r));
		}
	}
}

void w_axis(WINDOW *w, const struct view_env *env, int y, int x, int width,
	    int zero_col, const char *lo, const char *mid, const char *hi)
{
	wattrset(w, env->attr[CR_NORMAL]);
	wmove(w, y, x);
	for (int c = 0; c < width; c++) {
		int end = c == 0 || c == width - 1;

		if (env->ascii)
			waddch(w, end || c == zero_col ? '+' : '-');
		else if (c == zero_col)
			waddwstr(w, L"\u253c");
		else if (c == 0)
			waddwstr(w, L"\u2514");
		else if (c == width - 1)
			waddwstr(w, L"\u2518");
		else
			waddwstr(w, L"\u2500");
	}
	mvwaddnstr(w, y + 1, x, lo, width);
	if (mid && zero_col > (int)strlen(lo) &&
	    zero_col + (int)strlen(mid) < width - (int)strlen(hi))
		mvwaddstr(w, y + 1, x + zero_col, mid);
	if ((int)strlen(hi) + (int)strlen(lo) + 1 < width)
		mvwaddstr(w, y + 1, x + width - (int)strlen(hi), hi);
}

void w_axis_marks(WINDOW *w, const struct view_env *env, int y, int x,
		  int width, const struct w_mark *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (m[i].col < 0 || m[i].col >= width)
			continue;
		wattrset(w, env->attr[m[i].role]);
		mvwaddch(w, y, x + m[i].col, (chtype)(unsigned char)m[i].ch);
	}
}

void w_hist_plot(WINDOW *w, const struct view_env *env, int y, int x,
		 const struct histogram *h, int width, int height, int log)
{
	double *col = calloc((size_t)width, sizeof(double));

	if (!col)
		return;
	grid_columns(h, col, width);
	w_plot(w, env, y, x, col, width, height, log);
	free(col);
}

void w_hist_axis(WINDOW *w, const struct view_env *env, int y, int x,
		 int width, const struct histogram *h)
{
	char lo[24], hi[24];
	int zero = -1;

	if (h->lo < 0 && h->hi > 0)
		zero = grid_column(h->lo, h->hi, width, 0);
	w_num(h->lo, lo, sizeof(lo));
	w_num(h->hi, hi, sizeof(hi));
	w_axis(w, env, y, x, width, zero, lo, "0", hi);
}

void w_num(double v, char *buf, size_t n)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else if (isinf(v))
		snprintf(buf, n, v > 0 ? "inf" : "-inf");
	else if (v == 0)
		snprintf(buf, n, "0");
	else if (fabs(v) >= 1e-3 && fabs(v) < 1e5)
		snprintf(buf, n, "%.4g", v);
	else
		snprintf(buf, n, "%.3g", v);
}

void w_flow(const struct view *v, WINDOW *w, int y, int rows,
	    const char (*e)[64], int n, int gap)
{
	int x = 1, end = y + rows;

	wattrset(w, v->env->attr[CR_NORMAL]);
	for (int i = 0; i < n && y < end; i++) {
		int len = (int)strlen(e[i]);

		if (!len)
			continue;
		if (x > 1 && x + len > v->cols - 1) {
			y++;
			x = 1;
			if (y >= end)
				break;
		}
		mvwaddnstr(w, y, x, e[i], v->cols - 1 - x);
		x += len + gap;
	}
}

void w_message(const struct view *v, WINDOW *w, int y, enum role role,
	       const char *s)
{
	struct text t;

	wattrset(w, v->env->attr[role]);
	if (text_make(&t, s, v->env->ascii) == 0) {
		wmove(w, y, 1);
		w_text(w, v->env, &t, v->cols - 2, CROP_END, 0);
		text_release(&t);
	}
}

void w_title_text(const struct view *v, WINDOW *w, const struct text *t)
{
	wattrset(w, v->env->attr[CR_TITLE]);
	mvwhline(w, 0, 0, ' ', v->cols);
	wmove(w, 0, 1);
	w_text(w, v->env, t, t->width < v->cols - 2 ? t->width : v->cols - 2,
	       CROP_START, 0);
}
