/* views/units.c - human units for byte and element counts. */
#include "views/units.h"

#include <stdio.h>

void units_bytes(uint64_t b, char *out, size_t n)
{
	static const char *const unit[] = {
		"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"
	};
	double v = (double)b;
	int u = 0;

	if (b < 1024) {
		snprintf(out, n, "%u B", (unsigned)b);
		return;
	}
	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (v >= 1023.95 && u < 6) {	/* would print as 1024.0 */
		v /= 1024;
		u++;
	}
	snprintf(out, n, "%.1f %s", v, unit[u]);
}

void units_count(uint64_t c, char *out, size_t n)
{
	static const char unit[] = "KMBTPE";
	double v = (double)c;
	int u = -1;

	if (c < 1000) {
		snprintf(out, n, "%u", (unsigned)c);
		return;
	}
	while (v >= 1000 && u < 5) {
		v /= 1000;
		u++;
	}
	if (v >= 999.95 && u < 5) {
		v /= 1000;
		u++;
	}
	snprintf(out, n, "%.1f%c", v, unit[u]);
}
