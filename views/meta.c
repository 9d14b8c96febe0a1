/*
 * views/meta.c - the metadata screen (m, F7): every metadata entry of the
 * model (GGUF keys, safetensors __metadata__, config.json, archive and
 * checkpoint members) as a key/value list, searchable as you type.
 *
 *  metadata · 20 entries · model.gguf                      <- title
 *  key                          value
 *  general.architecture         llama
 *  tokenizer.ggml.tokens        [384 strings: "<unk>", "<s>", "</s>", …
 *  ── array[string] ────────────────────────── 5 more lines: Enter ──
 *  384 strings; the file's first 8, one a line:      <- the selected value,
 *  "<unk>"                                              whole, wrapped
 *  ...
 *  /tok: match 1 of 3             15/20  ? help  / search  Enter value  ...
 *
 * Entries are listed as `qscope meta` lists them: a JSON object entry
 * (config.json) opens into one row per member, "config.json.hidden_size".
 * Values become text once, in enter(): strings as they are (their newlines
 * shown as ↵ in the one-line cell), numbers in the shortest form that reads
 * back the same, arrays that readers keep only as a summary as
 * "[384 strings: ...]", other JSON as compact JSON.  The detail area below
 * the list shows the selected value whole, wrapped to the width (JSON
 * indented); Enter opens it on the whole screen, scrollable, for a chat
 * template or a long list.  Search (/, n, N) is ASCII case-insensitive
 * over keys and whole values.
 */
#include "views/view.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "views/widgets.h"

#define ROWS_ABOVE	2	/* title, column titles */
#define KEYCOL_MIN	12	/* narrowest key column */
#define KEY_SHARE	40	/* widest key column, % of the width */
#define CELL_MAX	2048	/* bytes of a value kept for its row */
#define DETAIL_MAX	10	/* lines of the detail area, at most */
#define FULL_MAX	(1 << 20)	/* bytes of a value shown whole */
#define TAB_W		4	/* a tab in a value: this many spaces */
#define MAX_ZW		3	/* zero-width characters kept per cell */
#define NARROW		64	/* fewer key hints below this width */
#define PRETTY_OVER	60	/* longer JSON: indented in the detail */

struct meta_row {
	char *key;		/* "config.json.hidden_size" */
	char *full;		/* the whole value as text, newlines kept */
	const char *type;	/* the entry's type, from the model */
	struct text tkey, cell;	/* for drawing */
};

/* A piece of a wrapped value: code points [from, to) of line 'line'. */
struct seg {
	size_t line, from, to;
};

struct meta_state {
	struct meta_row *rows;
	struct view_list list;
	struct text head, path;	/* title: "metadata · N entries · " + path */
	int key_need;		/* widest key */
	int value_need;		/* widest cell */

	/* the selected value, split at newlines and wrapped to wrap_w */
	struct text *lines;
	size_t nlines;
	struct seg *segs;
	size_t nsegs, segs_alloc;
	size_t wrap_row;	/* which row lines and segs hold, + 1 */
	int wrap_w;
	int wrap_cut;		/* the value was longer than FULL_MAX */
	int wrap_failed;	/* out of memory */

	/* the value on the whole screen */
	int full;
	size_t full_top;

	/* search */
	char pattern[256];
	size_t from_sel, from_top;	/* where the typing started */
	struct text msg;		/* on the status line; n == 0: none */
};

/* ---- values as text ---- */

/* A growing string; out of memory is fatal (xrealloc), as for the
 * readers: these are a few bytes per entry. */
struct buf {
	char *s;
	size_t len, alloc;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->alloc) {
		while (b->len + n + 1 > b->alloc)
			b->alloc = b->alloc ? 2 * b->alloc : 64;
		b->s = xrealloc(b->s, b->alloc);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void puts_b(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static char *take(struct buf *b)
{
	char *s = b->s ? b->s : xstrdup("");

	b->s = NULL;
	b->len = b->alloc = 0;
	return s;
}

/* The shortest decimal that reads back as the same double (or float, for
 * an f32 value); "10000", not "1e+04". */
static void put_real(struct buf *b, double d, int is_f32)
{
	char s[64];

	for (int prec = 1; prec <= 17; prec++) {
		snprintf(s, sizeof(s), "%.*g", prec, d);
		if (is_f32 ? (float)strtod(s, NULL) == (float)d :
			     strtod(s, NULL) == d)
			break;
	}
	if (strchr(s, 'e') && d < 1e16 && d > -1e16 &&
	    d == (double)(long long)d)
		snprintf(s, sizeof(s), "%.0f", d);
	puts_b(b, s);
}

/* A string inside JSON: quoted, with JSON's escapes for what would
 * otherwise break the line or the quotes. */
static void put_quoted(struct buf *b, const char *s, size_t n)
{
	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		const char *esc = s[i] == '"' ? "\\\"" : s[i] == '\\' ? "\\\\" :
				  s[i] == '\n' ? "\\n" : s[i] == '\t' ? "\\t" :
				  s[i] == '\r' ? "\\r" : NULL;

		if (esc)
			puts_b(b, esc);
		else
			put(b, s + i, 1);
	}
	put(b, "\"", 1);
}

static void indent(struct buf *b, int depth)
{
	put(b, "\n", 1);
	for (int i = 0; i < depth; i++)
		puts_b(b, "  ");
}

/* v as JSON: compact on one line ("{"a": 1, "b": [2, 3]}"), or indented
 * by two spaces a level when pretty is set. */
static void put_json(struct buf *b, const json_t *v, int pretty, int depth,
		     int is_f32)
{
	const char *k;
	json_t *m;
	size_t i, n;
	char s[32];

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (!json_object_size(v)) {
			puts_b(b, "{}");
			return;
		}
		put(b, "{", 1);
		i = 0;
		json_object_foreach((json_t *)v, k, m) {
			if (i++)
				put(b, ",", 1);
			if (pretty)
				indent(b, depth + 1);
			else if (i > 1)
				put(b, " ", 1);
			put_quoted(b, k, strlen(k));
			puts_b(b, ": ");
			put_json(b, m, pretty, depth + 1, is_f32);
		}
		if (pretty)
			indent(b, depth);
		put(b, "}", 1);
		return;
	case JSON_ARRAY:
		n = json_array_size(v);
		if (!n) {
			puts_b(b, "[]");
			return;
		}
		put(b, "[", 1);
		for (i = 0; i < n; i++) {
			if (i)
				put(b, ",", 1);
			if (pretty)
				indent(b, depth + 1);
			else if (i)
				put(b, " ", 1);
			put_json(b, json_array_get(v, i), pretty, depth + 1,
				 is_f32);
		}
		if (pretty)
			indent(b, depth);
		put(b, "]", 1);
		return;
	case JSON_STRING:
		put_quoted(b, json_string_value(v), json_string_length(v));
		return;
	case JSON_INTEGER:
		snprintf(s, sizeof(s), "%lld",
			 (long long)json_integer_value(v));
		puts_b(b, s);
		return;
	case JSON_REAL:
		put_real(b, json_real_value(v), is_f32);
		return;
	case JSON_TRUE:
		puts_b(b, "true");
		return;
	case JSON_FALSE:
		puts_b(b, "false");
		return;
	default:
		puts_b(b, "null");
		return;
	}
}

/* Is v a reader's summary of a long array, {"type", "len", "first"}
 * (formats/gguf.c)? */
static int is_summary(const json_t *v, const char *type)
{
	return type && strncmp(type, "array", 5) == 0 && json_is_object(v) &&
	       json_object_size(v) == 3 &&
	       json_is_string(json_object_get(v, "type")) &&
	       json_is_integer(json_object_get(v, "len")) &&
	       json_is_array(json_object_get(v, "first"));
}

static void put_value(struct buf *b, const json_t *v, const char *type,
		      int pretty, int top);

/* "384 strings", "1 f32 value", "16 arrays". */
static void put_count(struct buf *b, long long n, const char *etype)
{
	char s[96];

	if (strcmp(etype, "string") == 0 || strncmp(etype, "array", 5) == 0)
		snprintf(s, sizeof(s), "%lld %s%s", n,
			 etype[0] == 's' ? "string" : "array",
			 n == 1 ? "" : "s");
	else
		snprintf(s, sizeof(s), "%lld %.40s value%s", n, etype,
			 n == 1 ? "" : "s");
	puts_b(b, s);
}

/* A summary: "[384 strings: "<unk>", "<s>", ...]" on one line; in the
 * detail, a heading line and one item a line. */
static void put_summary(struct buf *b, const json_t *v, int pretty)
{
	const char *etype = json_string_value(json_object_get(v, "type"));
	long long n = (long long)json_integer_value(json_object_get(v, "len"));
	const json_t *first = json_object_get(v, "first");
	size_t k = json_array_size(first);
	char s[96];

	if (!pretty) {
		put(b, "[", 1);
		put_count(b, n, etype);
		if (n)
			puts_b(b, ": ");
		for (size_t i = 0; i < k; i++) {
			if (i)
				puts_b(b, ", ");
			put_value(b, json_array_get(first, i), etype, 0, 0);
		}
		if ((long long)k < n)
			puts_b(b, k ? ", ..." : "...");
		put(b, "]", 1);
		return;
	}
	put_count(b, n, etype);
	if ((long long)k < n) {
		snprintf(s, sizeof(s), "; the file's first %zu, one a line:",
			 k);
		puts_b(b, s);
	} else if (k) {
		puts_b(b, ", one a line:");
	}
	for (size_t i = 0; i < k; i++) {
		put(b, "\n", 1);
		put_value(b, json_array_get(first, i), etype, 0, 0);
	}
	if ((long long)k < n) {
		snprintf(s, sizeof(s), "\n... and %lld more", n - (long long)k);
		puts_b(b, s);
	}
}

/* One value as text; type is the entry's (or an array's element) type;
 * top: the entry itself, whose string is shown without quotes. */
static void put_value(struct buf *b, const json_t *v, const char *type,
		      int pretty, int top)
{
	int is_f32 = type && strcmp(type, "f32") == 0;

	if (is_summary(v, type)) {
		put_summary(b, v, pretty);
		return;
	}
	if (json_is_string(v) && top) {
		put(b, json_string_value(v), json_string_length(v));
		return;
	}
	put_json(b, v, pretty && (json_is_object(v) || json_is_array(v)), 0,
		 is_f32);
}

/* The one-line cell from the whole value: newlines shown as a mark, tabs
 * as a space, cut after about CELL_MAX bytes (on a character boundary). */
static char *cell_of(const char *full, int ascii)
{
	const char *nl = ascii ? "\\n" : "\u21b5";
	struct buf b = { NULL, 0, 0 };
	size_t i;

	for (i = 0; i < CELL_MAX && full[i]; i++) {
		if (full[i] == '\n')
			puts_b(&b, nl);
		else if (full[i] == '\t')
			put(&b, " ", 1);
		else if (full[i] != '\r')
			put(&b, full + i, 1);
	}
	/* finish the character that was cut */
	while (full[i] && ((unsigned char)full[i] & 0xc0) == 0x80)
		put(&b, full + i++, 1);
	return take(&b);
}

/* ---- rows ---- */

static int add_row(struct meta_state *st, const char *key, const char *member,
		   const char *type, const json_t *value, int ascii)
{
	struct meta_row *r = &st->rows[st->list.n++];
	struct buf b = { NULL, 0, 0 };
	char *line, *cell;
	int rc;

	puts_b(&b, key);
	if (member) {
		put(&b, ".", 1);
		puts_b(&b, member);
	}
	r->key = take(&b);
	r->type = type;
	put_value(&b, value, type, 0, 1);
	line = take(&b);
	cell = cell_of(line, ascii);
	/* the whole value: the same, unless it is a list or an object too
	 * long for one line, which the detail shows a member a line */
	if ((json_is_object(value) || json_is_array(value)) &&
	    (is_summary(value, type) || strlen(line) > PRETTY_OVER)) {
		put_value(&b, value, type, 1, 1);
		r->full = take(&b);
		free(line);
	} else {
		r->full = line;
	}
	rc = text_make(&r->tkey, r->key, ascii) < 0 ||
	     text_make(&r->cell, cell, ascii) < 0 ? -1 : 0;
	free(cell);
	if (r->tkey.width > st->key_need)
		st->key_need = r->tkey.width;
	if (r->cell.width > st->value_need)
		st->value_need = r->cell.width;
	return rc;
}

/* Entries, with JSON object entries opened into their members, as
 * `qscope meta` lists them. */
static int is_open(const struct meta *md)
{
	return strcmp(md->type, "json") == 0 && json_is_object(md->value) &&
	       json_object_size(md->value) > 0;
}

static int meta_enter(struct view *v, const struct model *m, struct err *e)
{
	struct meta_state *st = v->state;
	int ascii = v->env->ascii;
	const char *dot = ascii ? " | " : " \u00b7 ";
	size_t n = 0;
	char head[96];

	for (size_t i = 0; i < m->nmeta; i++)
		n += is_open(&m->meta[i]) ? json_object_size(m->meta[i].value) :
					    1;
	if (n) {
		st->rows = calloc(n, sizeof(*st->rows));
		if (!st->rows)
			goto oom;
	}
	st->key_need = (int)strlen("key");
	for (size_t i = 0; i < m->nmeta; i++) {
		const struct meta *md = &m->meta[i];
		const char *k;
		json_t *val;

		if (!is_open(md)) {
			if (add_row(st, md->key, NULL, md->type, md->value,
				    ascii) < 0)
				goto oom;
			continue;
		}
		json_object_foreach(md->value, k, val)
			if (add_row(st, md->key, k, md->type, val, ascii) < 0)
				goto oom;
	}
	snprintf(head, sizeof(head), "metadata%s%zu entr%s%s", dot,
		 st->list.n, st->list.n == 1 ? "y" : "ies", dot);
	if (text_make(&st->head, head, ascii) < 0 ||
	    text_make(&st->path, m->path ? m->path : "", ascii) < 0)
		goto oom;
	return 0;
oom:
	err_set(e, "out of memory while listing the metadata");
	return -1;
}

static void wrap_release(struct meta_state *st)
{
	for (size_t i = 0; i < st->nlines; i++)
		text_release(&st->lines[i]);
	free(st->lines);
	free(st->segs);
	st->lines = NULL;
	st->segs = NULL;
	st->nlines = st->nsegs = st->segs_alloc = 0;
	st->wrap_row = 0;
}

static void meta_leave(struct view *v)
{
	struct meta_state *st = v->state;

	for (size_t i = 0; st->rows && i < st->list.n; i++) {
		free(st->rows[i].key);
		free(st->rows[i].full);
		text_release(&st->rows[i].tkey);
		text_release(&st->rows[i].cell);
	}
	free(st->rows);
	st->rows = NULL;
	wrap_release(st);
	text_release(&st->head);
	text_release(&st->path);
	text_release(&st->msg);
}

/* ---- the selected value, wrapped ---- */

static int add_seg(struct meta_state *st, size_t line, size_t from, size_t to)
{
	if (st->nsegs == st->segs_alloc) {
		size_t n = st->segs_alloc ? 2 * st->segs_alloc : 64;
		struct seg *s = realloc(st->segs, n * sizeof(*s));

		if (!s)
			return -1;
		st->segs = s;
		st->segs_alloc = n;
	}
	st->segs[st->nsegs++] = (struct seg){ line, from, to };
	return 0;
}

/* Cut line k into pieces of at most width columns, after a space when
 * one is in the second half of the piece. */
static int wrap_line(struct meta_state *st, size_t k, int width)
{
	const struct text *t = &st->lines[k];
	size_t from = 0, i = 0, space = 0;
	int used = 0;

	if (t->n == 0)
		return add_seg(st, k, 0, 0);
	while (i < t->n) {
		if (t->w[i] && used + t->w[i] > width && i > from) {
			size_t cut = space > from ? space : i;

			if (add_seg(st, k, from, cut) < 0)
				return -1;
			from = cut;
			space = from;
			used = 0;
			for (size_t j = from; j < i; j++)
				used += t->w[j];
			continue;
		}
		used += t->w[i];
		if (t->s[i] == L' ' && used >= width / 2)
			space = i + 1;
		i++;
	}
	return add_seg(st, k, from, t->n);
}

/* Split the value of row r at its newlines into st->lines (tabs made
 * spaces, a '\r' before the newline dropped). */
static int split_lines(struct meta_state *st, const char *s, int ascii)
{
	size_t n = 1, len = strlen(s);
	char *line = NULL;
	int rc = 0;

	st->wrap_cut = len > FULL_MAX;
	if (st->wrap_cut)
		len = FULL_MAX;
	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	st->lines = calloc(n + 1, sizeof(*st->lines));
	line = malloc(TAB_W * len + 1);
	if (!st->lines || !line) {
		free(line);
		return -1;
	}
	for (size_t i = 0; i <= len && rc == 0;) {
		size_t k = 0;

		for (; i < len && s[i] != '\n'; i++) {
			if (s[i] == '\t') {
				memset(line + k, ' ', TAB_W);
				k += TAB_W;
			} else if (!(s[i] == '\r' &&
				     (i + 1 == len || s[i + 1] == '\n'))) {
				line[k++] = s[i];
			}
		}
		/* a cut inside a character: drop its first bytes */
		while (st->wrap_cut && i == len && k > 0 &&
		       ((unsigned char)line[k - 1] & 0x80))
			if (((unsigned char)line[--k] & 0xc0) != 0x80)
				break;
		line[k] = '\0';
		rc = text_make(&st->lines[st->nlines], line, ascii);
		if (rc == 0)
			st->nlines++;
		i++;
	}
	if (rc == 0 && st->wrap_cut)
		rc = text_make(&st->lines[st->nlines++],
			       "[... cut here: 'qscope meta --json' has the "
			       "whole value]", 1);
	free(line);
	return rc;
}

/* Make st->segs the selected value wrapped to width (kept until the
 * selection or the width changes). */
static void wrap_selected(struct meta_state *st, int width, int ascii)
{
	if (width < 1)
		width = 1;
	if (st->list.n == 0 ||
	    (st->wrap_row == st->list.sel + 1 && st->wrap_w == width))
		return;
	if (st->wrap_row != st->list.sel + 1) {
		wrap_release(st);
		st->wrap_failed = split_lines(st, st->rows[st->list.sel].full,
					      ascii) < 0;
		st->wrap_row = st->list.sel + 1;
	}
	st->nsegs = 0;
	st->wrap_w = width;
	for (size_t k = 0; k < st->nlines && !st->wrap_failed; k++)
		st->wrap_failed = wrap_line(st, k, width) < 0;
}

/* Draw piece s at the cursor (at most MAX_ZW zero-width characters after
 * each character, as w_text does). */
static void put_seg(WINDOW *w, const struct meta_state *st,
		    const struct seg *s)
{
	const struct text *t = &st->lines[s->line];
	int zw = 0;

	for (size_t i = s->from; i < s->to; i++) {
		if (t->w[i] == 0 && ++zw > MAX_ZW)
			continue;
		if (t->w[i])
			zw = 0;
		waddnwstr(w, &t->s[i], 1);
	}
}

/* ---- layout ---- */

/* Lines of the detail area (not counting its heading line). */
static int detail_lines(const struct view *v)
{
	int avail = v->lines - ROWS_ABOVE - 1, d = avail / 4;

	if (d > DETAIL_MAX)
		d = DETAIL_MAX;
	if (d < 1)
		d = 1;
	return avail - d - 1 >= 2 ? d : 0;
}

static size_t page_rows(const struct view *v)
{
	const struct meta_state *st = v->state;
	int d = detail_lines(v), n;

	if (st->full) {
		n = v->lines - 2;	/* title, status */
		return n > 0 ? (size_t)n : 1;
	}
	n = v->lines - ROWS_ABOVE - 1 - (d ? d + 1 : 0);
	return n > 0 ? (size_t)n : 1;
}

static int key_width(const struct view *v, const struct meta_state *st)
{
	int avail = v->cols - 2 - W_GAP, most = avail * KEY_SHARE / 100;
	int w = st->key_need;

	/* keys get more than their share when the values leave room */
	if (most < avail - st->value_need)
		most = avail - st->value_need;
	if (most < KEYCOL_MIN)
		most = KEYCOL_MIN;
	if (w > most)
		w = most;
	if (w > avail - 1)
		w = avail - 1;
	return w > 1 ? w : 1;
}

/* ---- drawing ---- */

static void draw_title(const struct view *v, WINDOW *w,
		       const struct text *head, const struct text *rest,
		       enum crop how)
{
	int avail = v->cols - 2, hw = head->width;

	w_title(v, w, NULL, NULL);
	wmove(w, 0, 1);
	if (hw > avail)
		hw = avail;
	w_text(w, v->env, head, hw, CROP_END, 0);
	if (avail - hw > 0)
		w_text(w, v->env, rest, avail - hw, how, 0);
}

static void draw_status(const struct view *v, WINDOW *w,
			const struct meta_state *st)
{
	static const struct w_hint list_hints[] = {
		{ ACT_HELP, "help" },
		{ ACT_SEARCH, "search" },
		{ ACT_OPEN, "value" },
		{ ACT_BACK, "back" },
	};
	static const struct w_hint narrow_hints[] = {
		{ ACT_HELP, "help" },
		{ ACT_BACK, "back" },
	};
	static const struct w_hint full_hints[] = {
		{ ACT_HELP, "help" },
		{ ACT_BACK, "back" },
	};
	char pos[64];

	if (st->full) {
		size_t page = page_rows(v), last = st->full_top + page;

		if (last > st->nsegs)
			last = st->nsegs;
		snprintf(pos, sizeof(pos), "lines %zu-%zu of %zu",
			 st->nsegs ? st->full_top + 1 : 0, last, st->nsegs);
		w_status(v, w, NULL, pos, full_hints,
			 sizeof(full_hints) / sizeof(full_hints[0]));
		return;
	}
	snprintf(pos, sizeof(pos), "%zu/%zu",
		 st->list.n ? st->list.sel + 1 : 0, st->list.n);
	if (v->cols < NARROW)
		w_status(v, w, st->msg.n ? &st->msg : NULL, pos, narrow_hints,
			 sizeof(narrow_hints) / sizeof(narrow_hints[0]));
	else
		w_status(v, w, st->msg.n ? &st->msg : NULL, pos, list_hints,
			 sizeof(list_hints) / sizeof(list_hints[0]));
}

/* The heading of the detail area: a rule with the value's type. */
static void draw_rule(const struct view *v, WINDOW *w, int y,
		      const struct meta_state *st, int more)
{
	char label[128], tail[64] = "";
	int x;

	wattrset(w, v->env->attr[CR_COLUMNS]);
	if (v->env->ascii)
		mvwhline(w, y, 0, '-', v->cols);
	else
		mvwhline_set(w, y, 0, WACS_HLINE, v->cols);
	if (!st->list.n)
		return;
	snprintf(label, sizeof(label), " %.100s ", st->rows[st->list.sel].type);
	/* the type comes from the model: only ASCII is shown as is */
	for (char *p = label; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	if (more > 0) {
		char keys[32];

		v->env->keys(ACT_OPEN, 1, keys, sizeof(keys));
		snprintf(tail, sizeof(tail), " %d more line%s: %s ", more,
			 more == 1 ? "" : "s", keys);
	}
	mvwaddnstr(w, y, 2, label, v->cols - 4);
	x = v->cols - 2 - (int)strlen(tail);
	if (tail[0] && x > 2 + (int)strlen(label))
		mvwaddstr(w, y, x, tail);
}

static void draw_list(const struct view *v, WINDOW *w, struct meta_state *st)
{
	const struct view_env *env = v->env;
	size_t page = page_rows(v);
	int kw = key_width(v, st), vw = v->cols - 2 - kw - W_GAP;
	int d = detail_lines(v), cursor_y = ROWS_ABOVE, y;

	view_list_clamp(&st->list, page);
	draw_title(v, w, &st->head, &st->path, CROP_MIDDLE);
	wattrset(w, env->attr[CR_COLUMNS]);
	mvwhline(w, 1, 0, ' ', v->cols);
	wmove(w, 1, 1);
	w_str(w, "key", kw, 0);
	w_spaces(w, W_GAP);
	w_str(w, "value", vw, 0);
	if (!st->list.n) {
		wattrset(w, env->attr[CR_NORMAL]);
		mvwaddnstr(w, ROWS_ABOVE, 1, "(no metadata)", v->cols - 2);
	}
	for (size_t i = 0; i < page && st->list.top + i < st->list.n; i++) {
		size_t r = st->list.top + i;
		int sel = r == st->list.sel;

		y = ROWS_ABOVE + (int)i;
		wattrset(w, env->attr[sel ? CR_SELECTED : CR_NORMAL]);
		mvwhline(w, y, 0, ' ', v->cols);
		wmove(w, y, 1);
		w_text(w, env, &st->rows[r].tkey, kw, CROP_MIDDLE, 0);
		w_spaces(w, W_GAP);
		w_text(w, env, &st->rows[r].cell, vw, CROP_END, 0);
		if (sel)
			cursor_y = y;
	}
	if (d && st->list.n) {
		y = v->lines - 1 - d - 1;
		wrap_selected(st, v->cols - 2, env->ascii);
		draw_rule(v, w, y, st, st->wrap_failed ? 0 :
			  (int)(st->nsegs > (size_t)d ? st->nsegs - (size_t)d :
							0));
		wattrset(w, env->attr[CR_NORMAL]);
		for (int i = 0; i < d; i++) {
			mvwhline(w, y + 1 + i, 0, ' ', v->cols);
			wmove(w, y + 1 + i, 1);
			if (st->wrap_failed && i == 0)
				waddnstr(w, "(out of memory)", v->cols - 2);
			else if (!st->wrap_failed && (size_t)i < st->nsegs)
				put_seg(w, st, &st->segs[i]);
		}
	} else if (d) {
		draw_rule(v, w, v->lines - 1 - d - 1, st, 0);
	}
	draw_status(v, w, st);
	wattrset(w, env->attr[CR_NORMAL]);
	wmove(w, cursor_y, 0);
}

static void clamp_full(struct meta_state *st, size_t page)
{
	size_t most = st->nsegs > page ? st->nsegs - page : 0;

	if (st->full_top > most)
		st->full_top = most;
}

static void draw_full(const struct view *v, WINDOW *w, struct meta_state *st)
{
	const struct view_env *env = v->env;
	const struct meta_row *r = &st->rows[st->list.sel];
	size_t page = page_rows(v);

	wrap_selected(st, v->cols - 2, env->ascii);
	clamp_full(st, page);
	draw_title(v, w, &st->head, &r->tkey, CROP_MIDDLE);
	wattrset(w, env->attr[CR_NORMAL]);
	for (size_t i = 0; i < page; i++) {
		size_t k = st->full_top + i;
		int y = 1 + (int)i;

		mvwhline(w, y, 0, ' ', v->cols);
		wmove(w, y, 1);
		if (st->wrap_failed && i == 0)
			waddnstr(w, "(out of memory)", v->cols - 2);
		else if (!st->wrap_failed && k < st->nsegs)
			put_seg(w, st, &st->segs[k]);
	}
	draw_status(v, w, st);
	wattrset(w, env->attr[CR_NORMAL]);
	wmove(w, 1, 0);
}

static void meta_draw(const struct view *v, WINDOW *w)
{
	struct meta_state *st = v->state;

	if (st->full && st->list.n)
		draw_full(v, w, st);
	else
		draw_list(v, w, st);
}

/* ---- search ---- */

/* Does hay contain needle, ASCII letters compared case-insensitively
 * (the rest byte for byte)? */
static int ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (!n)
		return 1;
	for (; *hay; hay++) {
		size_t k = 0;

		while (k < n && hay[k]) {
			unsigned char a = (unsigned char)hay[k];
			unsigned char b = (unsigned char)needle[k];

			if (a >= 'A' && a <= 'Z')
				a = (unsigned char)(a - 'A' + 'a');
			if (b >= 'A' && b <= 'Z')
				b = (unsigned char)(b - 'A' + 'a');
			if (a != b)
				break;
			k++;
		}
		if (k == n)
			return 1;
	}
	return 0;
}

static int row_matches(const struct meta_row *r, const char *pat)
{
	return ci_contains(r->key, pat) || ci_contains(r->full, pat);
}

/* The first matching row from 'from' (inclusive) going by dir (+1, -1),
 * round the end to the start; st->list.n if none. */
static size_t find(const struct meta_state *st, const char *pat, size_t from,
		   int dir)
{
	size_t n = st->list.n;

	for (size_t k = 0; k < n; k++) {
		size_t r = dir > 0 ? (from + k) % n : (from + n - k) % n;

		if (row_matches(&st->rows[r], pat))
			return r;
	}
	return n;
}

static void set_msg(struct view *v, const char *s)
{
	struct meta_state *st = v->state;

	text_release(&st->msg);
	if (s && *s && text_make(&st->msg, s, v->env->ascii) < 0)
		memset(&st->msg, 0, sizeof(st->msg));
}

/* "/pat: match 2 of 5", "no match: pat". */
static void say_match(struct view *v, const char *pat, int wrapped)
{
	struct meta_state *st = v->state;
	size_t total = 0, index = 0;
	char s[400];

	for (size_t r = 0; r < st->list.n; r++)
		if (row_matches(&st->rows[r], pat)) {
			total++;
			if (r <= st->list.sel)
				index = total;
		}
	if (!total)
		snprintf(s, sizeof(s), "no match: %s", pat);
	else
		snprintf(s, sizeof(s), "/%s: match %zu of %zu%s", pat, index,
			 total, wrapped ? " (wrapped)" : "");
	set_msg(v, s);
}

static enum view_effect search_step(struct view *v, int dir)
{
	struct meta_state *st = v->state;
	size_t r;
	int wrapped = 0;

	if (!st->pattern[0]) {
		char keys[32], s[80];

		v->env->keys(ACT_SEARCH, 1, keys, sizeof(keys));
		snprintf(s, sizeof(s), "no search yet: %s to search", keys);
		set_msg(v, s);
		return VIEW_REDRAW;
	}
	if (!st->list.n) {
		say_match(v, st->pattern, 0);
		return VIEW_REDRAW;
	}
	r = find(st, st->pattern,
		 dir > 0 ? (st->list.sel + 1) % st->list.n :
			   (st->list.sel + st->list.n - 1) % st->list.n,
		 dir);
	if (r < st->list.n) {
		/* went round the end (or back to the same row) */
		wrapped = dir > 0 ? r <= st->list.sel : r >= st->list.sel;
		st->list.sel = r;
	}
	say_match(v, st->pattern, wrapped);
	return VIEW_REDRAW;
}

static enum view_effect meta_input(struct view *v, const char *text,
				   enum input_event ev)
{
	struct meta_state *st = v->state;
	size_t r;

	switch (ev) {
	case INPUT_EDIT:
		st->list.sel = st->from_sel;
		st->list.top = st->from_top;
		if (text[0] && st->list.n) {
			r = find(st, text, st->from_sel, 1);
			if (r < st->list.n)
				st->list.sel = r;
		}
		return VIEW_REDRAW;
	case INPUT_DONE:
		if (!text[0]) {
			st->list.sel = st->from_sel;
			st->list.top = st->from_top;
			return VIEW_REDRAW;
		}
		snprintf(st->pattern, sizeof(st->pattern), "%s", text);
		say_match(v, st->pattern, 0);
		return VIEW_REDRAW;
	default:
		st->list.sel = st->from_sel;
		st->list.top = st->from_top;
		return VIEW_REDRAW;
	}
}

/* ---- actions ---- */

static enum view_effect full_act(struct view *v, enum action a)
{
	struct meta_state *st = v->state;
	size_t page = page_rows(v), top = st->full_top;
	size_t most = st->nsegs > page ? st->nsegs - page : 0;

	switch (a) {
	case ACT_BACK:
	case ACT_QUIT:
	case ACT_OPEN:
	case ACT_COLLAPSE:
		st->full = 0;
		return VIEW_REDRAW;
	case ACT_MOVE_DOWN:
		st->full_top++;
		break;
	case ACT_MOVE_UP:
		st->full_top = top ? top - 1 : 0;
		break;
	case ACT_PAGE_DOWN:
	case ACT_HALF_DOWN:
		st->full_top += a == ACT_PAGE_DOWN ? page : (page + 1) / 2;
		break;
	case ACT_PAGE_UP:
	case ACT_HALF_UP: {
		size_t step = a == ACT_PAGE_UP ? page : (page + 1) / 2;

		st->full_top = top > step ? top - step : 0;
		break;
	}
	case ACT_FIRST:
		st->full_top = 0;
		break;
	case ACT_LAST:
		st->full_top = most;
		break;
	case ACT_EXPAND:
	case ACT_SEARCH:
	case ACT_SEARCH_NEXT:
	case ACT_SEARCH_PREV:
		return VIEW_NONE;
	default:
		return VIEW_PASS;
	}
	if (st->full_top > most)
		st->full_top = most;
	return st->full_top != top ? VIEW_REDRAW : VIEW_NONE;
}

static enum view_effect meta_act(struct view *v, enum action a)
{
	struct meta_state *st = v->state;
	enum view_effect eff;
	int had_msg = st->msg.n > 0;

	if (st->full)
		return full_act(v, a);
	/* a message lasts until the next key */
	set_msg(v, NULL);
	switch (a) {
	case ACT_OPEN:
	case ACT_EXPAND:
		if (!st->list.n)
			return had_msg ? VIEW_REDRAW : VIEW_NONE;
		st->full = 1;
		st->full_top = 0;
		return VIEW_REDRAW;
	case ACT_SEARCH:
		st->from_sel = st->list.sel;
		st->from_top = st->list.top;
		v->prompt = "/";
		return VIEW_INPUT;
	case ACT_SEARCH_NEXT:
		return search_step(v, 1);
	case ACT_SEARCH_PREV:
		return search_step(v, -1);
	default:
		eff = view_list_act(&st->list, a, page_rows(v));
		if (had_msg && !(eff & VIEW_PASS))
			eff |= VIEW_REDRAW;
		return eff;
	}
}

static enum view_effect meta_mouse(struct view *v, int y, int x,
				   enum mouse_event ev)
{
	struct meta_state *st = v->state;
	size_t page = page_rows(v), r;

	(void)x;
	if (st->full || y < ROWS_ABOVE || (size_t)(y - ROWS_ABOVE) >= page)
		return VIEW_NONE;
	r = st->list.top + (size_t)(y - ROWS_ABOVE);
	if (r >= st->list.n)
		return VIEW_NONE;
	st->list.sel = r;
	if (ev == MOUSE_DOUBLE) {
		st->full = 1;
		st->full_top = 0;
	}
	return VIEW_REDRAW;
}

static const enum action meta_actions[] = {
	ACT_OPEN, ACT_SEARCH, ACT_SEARCH_NEXT, ACT_SEARCH_PREV, ACT_NONE
};

const struct view_ops view_meta_ops = {
	.name = "metadata",
	.state_size = sizeof(struct meta_state),
	.enter = meta_enter,
	.draw = meta_draw,
	.act = meta_act,
	.leave = meta_leave,
	.input = meta_input,
	.mouse = meta_mouse,
	.actions = meta_actions,
};
