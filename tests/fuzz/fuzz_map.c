/*
 * fuzz_map.c - map files (YAML) for the telemetry mapping: whatever the
 * text, building the layout either fails with a message or gives tables
 * whose catalog can be made; and the rows of a fixed point through it.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "tsmap/tm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static char path[64];
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_opts o;
	struct tm_layout l;
	struct tm_chunk ck = { .measurement = -1, .line0 = 1, .est = -1 };
	struct ferry_catalog *cat = NULL;
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/fuzz_map-%d.yaml", (int)getpid());
	if (!(f = fopen(path, "wb")))
		return 0;
	fwrite(data, 1, n, f);
	fclose(f);
	memset(&o, 0, sizeof(o));
	o.layout = "map";
	o.map_path = path;
	o.table = "telemetry_data";
	if (tm_layout_build(&l, &o, NULL, &ck, 1, &err) < 0)
		return 0;
	if (tm_layout_catalog(&l, &o, &cat, &err) == 0) {
		struct tm_rows r;
		struct ferry_batch b;
		struct lp_tag tags[2] = { { { "device_id", 9 }, { "12", 2 } },
					  { { "entity_id", 9 }, { "sensor.a", 8 } } };
		struct lp_field fields[3];
		struct tm_point p;

		memset(fields, 0, sizeof(fields));
		fields[0].key = (struct lp_str){ "value", 5 };
		fields[0].type = LP_FLOAT;
		fields[0].v.f = 1.5;
		fields[1].key = (struct lp_str){ "state", 5 };
		fields[1].type = LP_STRING;
		fields[1].v.s = (struct lp_str){ "on", 2 };
		fields[2].key = (struct lp_str){ "n", 1 };
		fields[2].type = LP_UINT;
		fields[2].v.u = UINT64_MAX;
		p = (struct tm_point){ { "W", 1 }, tags, 2, fields, 3, 1700000000000000123LL, 1, NULL, 0, 0 };
		if (ferry_batch_init(&b, l.t[0].ncols, 8) == 0) {
			memset(&r, 0, sizeof(r));
			r.t = &l.t[0];
			r.o = &o;
			r.b = &b;
			tm_rows_add(&r, &p, &err);  /* a field no column takes: an error here */
			tm_rows_release(&r);
			ferry_batch_release(&b);
		}
		ferry_catalog_free(cat);
	}
	tm_layout_release(&l);
	return 0;
}
