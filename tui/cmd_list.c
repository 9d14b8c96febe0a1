/* tui/cmd_list.c - qscope list [--json] PATH */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "tui/cmds.h"
#include "views/units.h"

/* ---- qscope list ---- */

static json_t *shape_json(const struct tensor *t)
{
	json_t *shape = json_array();

	for (int i = 0; i < t->ndim; i++)
		json_array_append_new(shape, json_integer((json_int_t)t->shape[i]));
	return shape;
}

/*
 * A logical tensor (a quantized layout, formats/layouts.h) also has
 * "scheme", "bits_per_weight" (its parts' bits over its elements) and
 * "parts": [{"name", "dtype", "shape", "bytes"}...]; its "dtype" is the
 * scheme.
 */
static json_t *tensor_json(const struct tensor *t)
{
	json_t *j, *parts;

	j = json_pack("{s:s, s:s, s:o, s:I, s:I}",
		      "name", t->name,
		      "dtype", tensor_type_name(t),
		      "shape", shape_json(t),
		      "params", (json_int_t)t->params,
		      "bytes", (json_int_t)t->nbytes);
	if (!j || !t->scheme)
		return j;
	parts = json_array();
	for (size_t k = 0; k < t->nparts; k++) {
		const struct tensor *p = &t->parts[k];

		json_array_append_new(parts, json_pack("{s:s, s:s, s:o, s:I}",
			"name", p->name, "dtype", dtype_get(p->dtype)->name,
			"shape", shape_json(p), "bytes", (json_int_t)p->nbytes));
	}
	json_object_set_new(j, "scheme", json_string(t->scheme));
	json_object_set_new(j, "bits_per_weight",
			    json_real(t->params ? 8.0 * (double)t->nbytes /
							  (double)t->params : 0));
	json_object_set_new(j, "parts", parts);
	return j;
}

/* "metadata": {key: value}, the first entry of a repeated key; arrays are
 * already summaries {"type", "len", "first"} (formats/gguf.c). */
static void metadata_json(const struct model *m)
{
	json_t *o = json_object();

	for (size_t i = 0; i < m->nmeta; i++)
		if (!json_object_get(o, m->meta[i].key))
			json_object_set(o, m->meta[i].key, m->meta[i].value);
	json_print(o);
	json_decref(o);
}

static void list_json(const struct model *m)
{
	json_t *path = json_string(m->path);

	/* One tensor per line: readable, and still one JSON document. */
	fputs("{\"path\": ", stdout);
	if (path)
		json_print(path);
	else
		fputs("null", stdout);
	json_decref(path);
	printf(", \"format\": \"%s\", \"metadata\": ", m->format);
	metadata_json(m);
	fputs(", \"tensors\": [", stdout);
	for (size_t i = 0; i < m->ntensors; i++) {
		json_t *t = tensor_json(&m->tensors[i]);

		fputs(i ? ",\n  " : "\n  ", stdout);
		json_print(t);
		json_decref(t);
	}
	printf("%s], \"params\": %llu, \"bytes\": %llu}\n",
	       m->ntensors ? "\n" : "", (unsigned long long)m->params,
	       (unsigned long long)m->nbytes);
}

/* Totals of one type: a dtype, or a logical tensor's scheme. */
struct type_total {
	const char *name;
	uint64_t n, params, bytes;
};

static void add_total(struct type_total **tt, size_t *nt,
		      const struct tensor *t)
{
	const char *name = tensor_type_name(t);
	size_t k;

	for (k = 0; k < *nt; k++)
		if (strcmp((*tt)[k].name, name) == 0)
			break;
	if (k == *nt) {
		*tt = xrealloc(*tt, (*nt + 1) * sizeof(**tt));
		memset(&(*tt)[k], 0, sizeof(**tt));
		(*tt)[k].name = name;
		(*nt)++;
	}
	(*tt)[k].n++;
	(*tt)[k].params += t->params;
	(*tt)[k].bytes += t->nbytes;
}

/* Stored dtypes in the dtype table's order, then schemes by name. */
static int cmp_total(const void *a, const void *b)
{
	const struct type_total *x = a, *y = b;
	enum dtype dx = dtype_from_name(x->name), dy = dtype_from_name(y->name);

	if (dx != DT_NONE || dy != DT_NONE) {
		if (dx == DT_NONE || dy == DT_NONE)
			return dx == DT_NONE ? 1 : -1;
		return (dx > dy) - (dx < dy);
	}
	return strcmp(x->name, y->name);
}

/* One row; indent 2 for the parts of a logical tensor, folded under it. */
static void list_row(const struct tensor *t, int indent, int wname,
		     int wdtype, int wshape)
{
	char name[1024], shape[256];
	int pad;

	text_sanitize(t->name, name, sizeof(name));
	pad = wname - indent - text_width(name);
	printf("%*s%s%*s  %-*s  %-*s  %14llu  %14llu", indent, "", name,
	       pad, "", wdtype, tensor_type_name(t), wshape,
	       tensor_shape_str(t, shape, sizeof(shape)),
	       (unsigned long long)t->params, (unsigned long long)t->nbytes);
	/* a logical tensor: what its parts cost per weight */
	if (t->scheme && t->params)
		printf("  %.4g bits/weight", 8.0 * (double)t->nbytes /
					     (double)t->params);
	putchar('\n');
}

static void list_text(const struct model *m)
{
	struct type_total *by = NULL;
	size_t nby = 0;
	char name[1024], shape[256], hb[32];
	int wname = 4, wshape = 5, wdtype = 5;

	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];

		/* the tensor, then its parts (indented by 2) */
		for (size_t k = 0; k <= t->nparts; k++) {
			const struct tensor *r = k ? &t->parts[k - 1] : t;
			int w;

			w = text_width(text_sanitize(r->name, name,
						     sizeof(name))) + (k ? 2 : 0);
			if (w > wname)
				wname = w;
			w = (int)strlen(tensor_shape_str(r, shape,
							 sizeof(shape)));
			if (w > wshape)
				wshape = w;
			w = (int)strlen(tensor_type_name(r));
			if (w > wdtype)
				wdtype = w;
		}
		add_total(&by, &nby, t);
	}
	if (nby > 1)
		qsort(by, nby, sizeof(*by), cmp_total);

	printf("%s  (%s, %zu tensors)\n\n", text_sanitize(m->path, name, sizeof(name)),
	       m->format, m->ntensors);
	printf("%-*s  %-*s  %-*s  %14s  %14s\n", wname, "NAME", wdtype, "DTYPE",
	       wshape, "SHAPE", "PARAMS", "BYTES");
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];

		list_row(t, 0, wname, wdtype, wshape);
		for (size_t k = 0; k < t->nparts; k++)
			list_row(&t->parts[k], 2, wname, wdtype, wshape);
	}

	printf("\n%-*s  %8s  %14s  %14s\n", wdtype, "DTYPE", "TENSORS", "PARAMS",
	       "BYTES");
	for (size_t k = 0; k < nby; k++)
		printf("%-*s  %8llu  %14llu  %14llu  %s\n", wdtype, by[k].name,
		       (unsigned long long)by[k].n,
		       (unsigned long long)by[k].params,
		       (unsigned long long)by[k].bytes,
		       (units_bytes(by[k].bytes, hb, sizeof(hb)), hb));
	printf("%-*s  %8zu  %14llu  %14llu  %s\n", wdtype, "total", m->ntensors,
	       (unsigned long long)m->params, (unsigned long long)m->nbytes,
	       (units_bytes(m->nbytes, hb, sizeof(hb)), hb));
	free(by);
}

int cmd_list(int argc, char **argv)
{
	return run_path_command(argc, argv, "list", list_text, list_json);
}

