/* tui/cmd_list.c - qscope list [--json] PATH */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "tui/cmds.h"
#include "views/units.h"

/* ---- qscope list ---- */

static json_t *tensor_json(const struct tensor *t)
{
	json_t *shape = json_array();

	for (int i = 0; i < t->ndim; i++)
		json_array_append_new(shape, json_integer((json_int_t)t->shape[i]));
	return json_pack("{s:s, s:s, s:o, s:I, s:I}",
			 "name", t->name,
			 "dtype", dtype_get(t->dtype)->name,
			 "shape", shape,
			 "params", (json_int_t)t->params,
			 "bytes", (json_int_t)t->nbytes);
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

static void list_text(const struct model *m)
{
	struct {
		uint64_t n, params, bytes;
	} by[DT_COUNT];
	char name[1024], shape[256], hb[32];
	int wname = 4, wshape = 5, wdtype = 5;

	memset(by, 0, sizeof(by));
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];
		int w;

		w = text_width(text_sanitize(t->name, name, sizeof(name)));
		if (w > wname)
			wname = w;
		w = (int)strlen(tensor_shape_str(t, shape, sizeof(shape)));
		if (w > wshape)
			wshape = w;
		w = (int)strlen(dtype_get(t->dtype)->name);
		if (w > wdtype)
			wdtype = w;
		by[t->dtype].n++;
		by[t->dtype].params += t->params;
		by[t->dtype].bytes += t->nbytes;
	}

	printf("%s  (%s, %zu tensors)\n\n", text_sanitize(m->path, name, sizeof(name)),
	       m->format, m->ntensors);
	printf("%-*s  %-*s  %-*s  %14s  %14s\n", wname, "NAME", wdtype, "DTYPE",
	       wshape, "SHAPE", "PARAMS", "BYTES");
	for (size_t i = 0; i < m->ntensors; i++) {
		const struct tensor *t = &m->tensors[i];
		int pad;

		text_sanitize(t->name, name, sizeof(name));
		pad = wname - text_width(name);
		printf("%s%*s  %-*s  %-*s  %14llu  %14llu\n", name, pad, "",
		       wdtype, dtype_get(t->dtype)->name, wshape,
		       tensor_shape_str(t, shape, sizeof(shape)),
		       (unsigned long long)t->params,
		       (unsigned long long)t->nbytes);
	}

	printf("\n%-*s  %8s  %14s  %14s\n", wdtype, "DTYPE", "TENSORS", "PARAMS",
	       "BYTES");
	for (int d = 0; d < DT_COUNT; d++) {
		if (!by[d].n)
			continue;
		printf("%-*s  %8llu  %14llu  %14llu  %s\n", wdtype,
		       dtype_get(d)->name, (unsigned long long)by[d].n,
		       (unsigned long long)by[d].params,
		       (unsigned long long)by[d].bytes,
		       (units_bytes(by[d].bytes, hb, sizeof(hb)), hb));
	}
	printf("%-*s  %8zu  %14llu  %14llu  %s\n", wdtype, "total", m->ntensors,
	       (unsigned long long)m->params, (unsigned long long)m->nbytes,
	       (units_bytes(m->nbytes, hb, sizeof(hb)), hb));
}

int cmd_list(int argc, char **argv)
{
	return run_path_command(argc, argv, "list", list_text, list_json);
}

