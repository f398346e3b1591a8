/*
 * fuzz_influx_msgpack.c - the streamed MessagePack answer parser of the
 * InfluxDB source (src/lib/tsmap/sources/influx/answer.c over
 * wire/msgpack.c, through the functions of influx_int.h).  Invariants
 * besides memory safety:
 * - feeding the input in two pieces (the split point taken from the first
 *   byte) gives the same result code and the same points as feeding it whole;
 * - every point handed on has at least one field and a time inside the range.
 * The input is also read as an answer taken whole and handed on field by
 * field (series order), for memory safety and a message on every error.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "tsmap/sources/influx/influx_int.h"

struct out {
	uint64_t hash;
	long points;
};

static int on_pt(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct out *o = ud;
	size_t i;

	(void)err;
	if (p->nfields < 1)
		abort();
	o->points++;
	o->hash = o->hash * 31 + (uint64_t)p->time_ns + p->ntags * 7 + p->nfields;
	for (i = 0; i < p->nfields; i++)
		o->hash = o->hash * 131 + p->fields[i].type;
	return 0;
}

static int on_rej(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
		  struct ferry_error *err)
{
	struct out *o = ud;

	(void)raw; (void)n; (void)err;
	if (!reason || !*reason)
		abort();
	o->hash = o->hash * 17 + (uint64_t)key;
	return 0;
}

static char name_m[] = "m", name_a[] = "a", name_b[] = "b";
static struct tm_field_info fields[2] = {
	{ name_a, TM_TYPE_BIT(LP_FLOAT) },
	{ name_b, TM_TYPE_BIT(LP_INT) | TM_TYPE_BIT(LP_STRING) } };
static struct tm_measurement meas = { name_m, NULL, 0, fields, 2, -1, -1 };

/* A reader of measurement "m" (fields a, b) handing on to o. */
static void reader(struct ifx *ix, struct rd *r, struct out *o)
{
	memset(ix, 0, sizeof(*ix));
	ix->where = (char *)"fuzz";
	memset(r, 0, sizeof(*r));
	r->ix = ix;
	r->m = &meas;
	r->fn = on_pt;
	r->rej = on_rej;
	r->ud = o;
	r->lo = INT64_MIN;
	r->hi = INT64_MAX;
}

static int run(const uint8_t *data, size_t size, size_t split, struct out *o)
{
	struct ifx ix;
	struct rd r;
	struct stream st;
	struct ferry_error err = FERRY_ERROR_INIT;
	int rc;

	reader(&ix, &r, o);
	memset(&st, 0, sizeof(st));
	st.where = "fuzz";
	st.fn = ifx_rd_series;
	st.ud = &r;
	st.err = &err;
	st.status = 200;
	st.max_object = IFX_OBJECT_MAX;
	ferry_buf_init(&st.in, 0);
	rc = ferry_buf_add(&st.in, data, split);
	if (rc == 0)
		rc = ifx_drain(&st, 0, &err);
	if (rc == 0)
		rc = ferry_buf_add(&st.in, data + split, size - split);
	if (rc == 0)
		rc = ifx_drain(&st, 1, &err);
	if (rc < 0 && !err.msg[0])
		abort();
	ferry_buf_release(&st.in);
	ferry_free(st.tags);
	ferry_free(st.cols);
	ifx_rd_release(&r);
	return rc;
}

/* The same input handed on field by field (the series order), as an
 * answer taken whole (IFX_FW_WHOLE) or streamed (IFX_FW_STREAM: a
 * series' pieces held, in parts past a small whole_max): memory safety,
 * and an error always says something. */
static void run_fieldwise(const uint8_t *data, size_t size, int mode)
{
	struct ferry_buf raw = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct out o = { 0, 0 };
	struct ifx ix;
	struct rd r;
	int rc;

	reader(&ix, &r, &o);
	ix.whole_max = size ? 1 + data[size - 1] % 512 : 64;
	r.fieldwise = mode;
	if (ferry_buf_add(&raw, data, size) == 0) {
		(void)ifx_answer_cut(&raw);
		rc = ifx_parse(&ix, &raw, ifx_rd_series, &r, &err);
		if (rc == 0 && mode == IFX_FW_STREAM)
			rc = ifx_rd_flush(&r, &err);
		if (rc < 0 && !err.msg[0])
			abort();
	}
	ferry_buf_release(&raw);
	ifx_rd_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct out a = { 0, 0 }, b = { 0, 0 };
	size_t split = size ? data[0] % (size + 1) : 0;
	int ra = run(data, size, size, &a), rb = run(data, size, split, &b);

	/* Points reach the callback as objects complete, so a failing input
	 * may stop at the same object either way: compare everything. */
	if (ra != rb || a.points != b.points || a.hash != b.hash)
		abort();
	run_fieldwise(data, size, IFX_FW_WHOLE);
	run_fieldwise(data, size, IFX_FW_STREAM);
	return 0;
}
