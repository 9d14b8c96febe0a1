/*
 * tui/cmd_meta.c - qscope meta [--json] PATH: every metadata entry of a
 * checkpoint (GGUF keys, safetensors __metadata__, config.json, ...).
 *
 * Human form: one aligned line per entry, "KEY  TYPE  VALUE".  Text from
 * the file is sanitized for the terminal; a long value is cut after
 * VALUE_MAX bytes with its full length said (--json has it whole).  An
 * array shows its length and first items (readers keep no more, see
 * formats/gguf.c); a JSON object (config.json) shows one line per member,
 * as KEY.MEMBER.
 *
 * JSON form: {"path", "format", "metadata": [{"key", "type", "value"}...]},
 * one entry per line, values exactly as the reader stored them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "tui/cmds.h"

#define VALUE_MAX 200	/* bytes of a value shown in the human form */
#define KEY_COL_MAX 48	/* wider keys push their line out, not every line */

/* A growing output line. */
struct line {
	char *s;
	size_t len, alloc;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (l->len + n + 1 > l->alloc) {
		while (l->len + n + 1 > l->alloc)
			l->alloc = l->alloc ? l->alloc * 2 : 256;
		l->s = xrealloc(l->s, l->alloc);
	}
	memcpy(l->s + l->len, s, n);
	l->len += n;
	l->s[l->len] = '\0';
}

static void puts_l(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* s sanitized for the terminal, cut after about max bytes (with a note
 * of the full length), optionally in double quotes. */
static void put_text(struct line *l, const char *s, size_t len, size_t max,
		     int quote)
{
	size_t cap = len > max ? max + 1 : 4 * len + 1;
	char *buf = xmalloc(cap);

	text_sanitize(s, buf, cap);
	if (quote)
		puts_l(l, "\"");
	puts_l(l, buf);
	if (quote)
		puts_l(l, "\"");
	if (len > max) {
		char note[64];

		snprintf(note, sizeof(note), "... (%zu bytes)", len);
		puts_l(l, note);
	}
	free(buf);
}

/* The shortest decimal that reads back as the same float (f32) or double. */
static void put_real(struct line *l, double d, int is_f32)
{
	char buf[64];

	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (is_f32 ? (float)strtod(buf, NULL) == (float)d :
			     strtod(buf, NULL) == d)
			break;
	}
	/* 10000, not 1e+04 */
	if (strchr(buf, 'e') && d < 1e16 && d > -1e16 &&
	    d == (double)(long long)d)
		snprintf(buf, sizeof(buf), "%.0f", d);
	puts_l(l, buf);
}

static void put_value(struct line *l, const json_t *v, const char *type,
		      size_t max, int quote);

/* An array summary {"type", "len", "first"}: "384 items: a, b, ...";
 * in brackets when it is an item of another array. */
static int put_summary(struct line *l, const json_t *v, int inner)
{
	const json_t *type = json_object_get(v, "type");
	const json_t *len = json_object_get(v, "len");
	const json_t *first = json_object_get(v, "first");
	json_int_t n;
	char buf[64];
	size_t i;

	if (json_object_size(v) != 3 || !json_is_string(type) ||
	    !json_is_integer(len) || !json_is_array(first))
		return 0;
	n = json_integer_value(len);
	if (inner)
		puts_l(l, "[");
	snprintf(buf, sizeof(buf), "%lld item%s%s", (long long)n,
		 n == 1 ? "" : "s", n ? ": " : "");
	puts_l(l, buf);
	for (i = 0; i < json_array_size(first); i++) {
		if (i)
			puts_l(l, ", ");
		put_value(l, json_array_get(first, i),
			  json_string_value(type), 40, 1);
	}
	if ((json_int_t)i < n)
		puts_l(l, i ? ", ..." : "...");
	if (inner)
		puts_l(l, "]");
	return 1;
}

/* One value; type is the entry's type (or an array's element type);
 * quote: an item of an array (strings quoted, arrays in brackets). */
static void put_value(struct line *l, const json_t *v, const char *type,
		      size_t max, int quote)
{
	char buf[64];
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		put_text(l, json_string_value(v), json_string_length(v), max,
			 quote);
		return;
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%lld",
			 (long long)json_integer_value(v));
		puts_l(l, buf);
		return;
	case JSON_REAL:
		put_real(l, json_real_value(v), strcmp(type, "f32") == 0);
		return;
	case JSON_TRUE:
		puts_l(l, "true");
		return;
	case JSON_FALSE:
		puts_l(l, "false");
		return;
	case JSON_NULL:
		puts_l(l, "null");
		return;
	case JSON_OBJECT:
		if (strncmp(type, "array", 5) == 0 && put_summary(l, v, quote))
			return;
		break;
	default:
		break;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s) {
		put_text(l, s, strlen(s), max, 0);
		free(s);
	}
}

/* The rows of the human form: entries, with JSON objects opened up. */
struct row {
	const char *key;	/* the entry's key */
	const char *member;	/* or NULL */
	const char *type;
	const json_t *value;
};

static size_t collect(const struct model *m, struct row **out)
{
	struct row *rows = NULL;
	size_t n = 0, alloc = 0;

	for (size_t i = 0; i < m->nmeta; i++) {
		const struct meta *md = &m->meta[i];
		const char *k;
		json_t *v;
		int open = strcmp(md->type, "json") == 0 &&
			   json_is_object(md->value) &&
			   json_object_size(md->value) > 0;

		if (!open) {
			if (n == alloc)
				rows = xrealloc(rows, (alloc = alloc * 2 + 16) *
						      sizeof(*rows));
			rows[n++] = (struct row){ md->key, NULL, md->type,
						  md->value };
			continue;
		}
		json_object_foreach(md->value, k, v) {
			if (n == alloc)
				rows = xrealloc(rows, (alloc = alloc * 2 + 16) *
						      sizeof(*rows));
			rows[n++] = (struct row){ md->key, k, md->type, v };
		}
	}
	*out = rows;
	return n;
}

static char *row_key(const struct row *r, char *buf, size_t n)
{
	size_t klen = strlen(r->key);
	char *full;

	if (!r->member)
		return text_sanitize(r->key, buf, n);
	full = xmalloc(klen + strlen(r->member) + 2);
	sprintf(full, "%s.%s", r->key, r->member);
	text_sanitize(full, buf, n);
	free(full);
	return buf;
}

static void meta_text(const struct model *m)
{
	struct row *rows;
	size_t n = collect(m, &rows);
	char key[1024], path[1024];
	int wkey = 3, wtype = 4;

	for (size_t i = 0; i < n; i++) {
		int w = text_width(row_key(&rows[i], key, sizeof(key)));

		if (w > wkey)
			wkey = w > KEY_COL_MAX ? KEY_COL_MAX : w;
		w = text_width(text_sanitize(rows[i].type, key, sizeof(key)));
		if (w > wtype)
			wtype = w;
	}
	printf("%s  (%s, %zu metadata entr%s)\n\n",
	       text_sanitize(m->path, path, sizeof(path)), m->format, m->nmeta,
	       m->nmeta == 1 ? "y" : "ies");
	if (!n) {
		printf("no metadata\n");
		free(rows);
		return;
	}
	printf("%-*s  %-*s  %s\n", wkey, "KEY", wtype, "TYPE", "VALUE");
	for (size_t i = 0; i < n; i++) {
		struct line l = { NULL, 0, 0 };
		char type[256];
		int pad;

		row_key(&rows[i], key, sizeof(key));
		pad = wkey - text_width(key);
		text_sanitize(rows[i].type, type, sizeof(type));
		put_value(&l, rows[i].value, rows[i].type, VALUE_MAX, 0);
		printf("%s%*s  %s%*s  %s\n", key, pad > 0 ? pad : 0, "", type,
		       wtype - text_width(type), "", l.s ? l.s : "");
		free(l.s);
	}
	free(rows);
}

static void meta_json(const struct model *m)
{
	json_t *path = json_string(m->path);

	fputs("{\"path\": ", stdout);
	if (path)
		json_print(path);
	else
		fputs("null", stdout);
	json_decref(path);
	printf(", \"format\": \"%s\", \"metadata\": [", m->format);
	for (size_t i = 0; i < m->nmeta; i++) {
		const struct meta *md = &m->meta[i];
		json_t *j = json_pack("{s:s, s:s, s:O}", "key", md->key,
				      "type", md->type, "value", md->value);

		fputs(i ? ",\n  " : "\n  ", stdout);
		if (j)
			json_print(j);
		else
			fputs("null", stdout);
		json_decref(j);
	}
	printf("%s]}\n", m->nmeta ? "\n" : "");
}

int cmd_meta(int argc, char **argv)
{
	return run_path_command(argc, argv, "meta", meta_text, meta_json);
}
