/*
 * fuzz_pmap.c - point maps (YAML with points:): whatever the text, loading
 * either fails with a message or gives a map that maps fixed points
 * (every rule key, casts of every type) into points that write back as
 * line protocol, and whose schema can be made.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "tsmap/tm_int.h"

static int take(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct ferry_buf *b = ud;

	(void)err;
	return tm_point_lp(p, NULL, b) == FERRY_ENOMEM ? FERRY_ENOMEM : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static char path[64];
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf b = FERRY_BUF_INIT;
	struct tm_pmap *m = NULL;
	struct tm_pmap_run *run = NULL;
	struct tm_schema in, out;
	struct tm_measurement *im;
	struct lp_tag tags[2] = { { { "domain", 6 }, { "sensor", 6 } },
				  { { "entity_id", 9 }, { "kitchen", 7 } } };
	struct lp_field fields[5];
	struct tm_point p;
	char why[256];
	size_t emitted, i;
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/fuzz_pmap-%d.yaml", (int)getpid());
	if (!(f = fopen(path, "wb")))
		return 0;
	fwrite(data, 1, n, f);
	fclose(f);
	if (tm_pmap_load(path, &m, &err) != 0)
		return 0;
	memset(fields, 0, sizeof(fields));
	fields[0] = (struct lp_field){ .key = { "value", 5 }, .type = LP_FLOAT, .v.f = 21.5 };
	fields[1] = (struct lp_field){ .key = { "n", 1 }, .type = LP_INT, .v.i = INT64_MIN };
	fields[2] = (struct lp_field){ .key = { "u", 1 }, .type = LP_UINT, .v.u = UINT64_MAX };
	fields[3] = (struct lp_field){ .key = { "s", 1 }, .type = LP_STRING, .v.s = { "1e3", 3 } };
	fields[4] = (struct lp_field){ .key = { "b", 1 }, .type = LP_BOOL, .v.b = 1 };
	p = (struct tm_point){ { "°C", 3 }, tags, 2, fields, 5, 1700000000000000000LL, 1, NULL, 0, 0 };
	if (tm_pmap_run_new(m, &run) == 0) {
		for (i = 0; i < 2; i++) {
			tm_pmap_apply(run, &p, take, &b, &emitted, why, sizeof(why), &err);
			p.measurement = (struct lp_str){ "sensor.door", 11 };
			p.ntags = 1;
		}
		tm_pmap_run_free(run);
	}
	ferry_buf_clear(&b);
	if (tm_pmap_unmatched(m, &b) < 0)
		__builtin_trap();
	memset(&in, 0, sizeof(in));
	if ((im = tm_schema_measurement(&in, "W", 1)) != NULL &&
	    tm_measurement_add_tag(im, "domain", 6) == 0 &&
	    tm_measurement_add_field(im, "value", 5, TM_TYPE_BIT(LP_FLOAT)) == 0 &&
	    tm_pmap_schema(m, &in, &out, &err) == 0)
		tm_schema_release(&out);
	tm_schema_release(&in);
	ferry_buf_release(&b);
	tm_pmap_free(m);
	return 0;
}
