/*
 * telemetry.c - the device API's JSON body -> one point (struct
 * relay_points, as a /write body gives them to the stores).
 *
 *   {"data": {"temp": 21.5, "door": {"open": true}, "rgb": [1,2,3]},
 *    "metadata": {"site": "b7", "fw": 12},
 *    "timestamp": 1700000000 | "2023-11-14T22:13:20Z"}
 *
 * -> MEASUREMENT,device_id=DEV,site=b7,fw=12 temp=21.5,door.open=true,rgb="[1,2,3]" NS
 *
 * - data: every value a field.  A JSON number is a float field, an integer
 *   too: a device that sends 21 and later 21.5 must not make a field type
 *   conflict (InfluxDB refuses a float into an integer field), and JSON
 *   does not tell 21 from 21.0.  Integers past 2^53 round as doubles do.
 *   true/false a boolean, a string a string, an object is flattened with
 *   '.' between the keys, an array is kept as its compact JSON text (a
 *   string), null is left out.  No field at all is a 400.
 * - metadata (optional): strings, numbers and booleans as tags (their
 *   text); null and empty strings left out (InfluxDB has no empty tag);
 *   an object or array is a 400.  device_id is the authenticated device's
 *   and cannot be set here.
 * - timestamp (optional, default now): a number is seconds below 1e11,
 *   milliseconds below 1e14, microseconds below 1e17, else nanoseconds;
 *   a string is an RFC 3339 time (val_parse_timestamp_ns).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ferry/alloc.h"
#include "model/value.h"
#include "relay/relay_int.h"

/* One field or tag while the names are built: offsets into the arena,
 * made into pointers once the arena stops moving. */
struct item {
	size_t koff, klen;
	enum lp_ftype type;     /* tags: LP_STRING */
	size_t voff, vlen;      /* LP_STRING */
	double f;
	int b;
};

struct tele {
	struct ferry_buf arena;
	struct item *f, *t;
	size_t nf, capf, nt, capt;
	struct ferry_error *err;
};

static struct item *add_item(struct item **a, size_t *n, size_t *cap)
{
	if (FERRY_GROW(*a, *cap, *n + 1) < 0)
		return NULL;
	memset(&(*a)[*n], 0, sizeof(**a));
	return &(*a)[(*n)++];
}

static int oom(struct tele *T)
{
	return ferry_error_set(T->err, FERRY_ENOMEM, "out of memory");
}

/* data.KEY (prefix already in the arena at koff, klen) -> fields. */
static int add_fields(struct tele *T, json_t *obj, size_t koff, size_t klen, int depth)
{
	const char *k;
	json_t *v;

	if (depth > 32)
		return ferry_error_set(T->err, FERRY_EPARSE,
				       "invalid telemetry body: \"data\" is nested more than 32 objects deep");
	json_object_foreach(obj, k, v) {
		size_t off = T->arena.len, len;
		struct item *it;
		int rc = 0;

		if (klen) {
			rc |= ferry_buf_add(&T->arena, T->arena.buf + koff, klen);
			rc |= ferry_buf_addch(&T->arena, '.');
		}
		rc |= ferry_buf_addstr(&T->arena, k);
		if (rc)
			return oom(T);
		len = T->arena.len - off;
		if (json_is_null(v))
			continue;
		if (json_is_object(v)) {
			if ((rc = add_fields(T, v, off, len, depth + 1)) < 0)
				return rc;
			continue;
		}
		if (!(it = add_item(&T->f, &T->nf, &T->capf)))
			return oom(T);
		it->koff = off;
		it->klen = len;
		if (json_is_number(v)) {
			it->type = LP_FLOAT;
			it->f = json_number_value(v);
		} else if (json_is_boolean(v)) {
			it->type = LP_BOOL;
			it->b = json_is_true(v);
		} else if (json_is_string(v)) {
			it->type = LP_STRING;
			it->voff = T->arena.len;
			it->vlen = json_string_length(v);
			if (ferry_buf_add(&T->arena, json_string_value(v), it->vlen) < 0)
				return oom(T);
		} else {   /* an array: its JSON text */
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			if (!s)
				return oom(T);
			it->type = LP_STRING;
			it->voff = T->arena.len;
			it->vlen = strlen(s);
			rc = ferry_buf_add(&T->arena, s, it->vlen);
			free(s);   /* jansson's allocator */
			if (rc < 0)
				return oom(T);
		}
	}
	return 0;
}

static int add_tag(struct tele *T, const char *k, size_t kn, const char *v, size_t vn)
{
	struct item *it = add_item(&T->t, &T->nt, &T->capt);

	if (!it)
		return oom(T);
	it->type = LP_STRING;
	it->koff = T->arena.len;
	it->klen = kn;
	if (ferry_buf_add(&T->arena, k, kn) < 0)
		return oom(T);
	it->voff = T->arena.len;
	it->vlen = vn;
	if (ferry_buf_add(&T->arena, v, vn) < 0)
		return oom(T);
	return 0;
}

static int add_tags(struct tele *T, json_t *obj)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		char num[64];
		const char *s = num;
		size_t n;
		int rc;

		if (!strcmp(k, "device_id"))
			continue;    /* the authenticated device's, not the body's */
		switch (json_typeof(v)) {
		case JSON_STRING:
			s = json_string_value(v);
			n = json_string_length(v);
			break;
		case JSON_INTEGER:
			n = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
					     json_integer_value(v));
			break;
		case JSON_REAL:
			val_format_double(json_real_value(v), num, sizeof(num));
			n = strlen(num);
			break;
		case JSON_TRUE:
		case JSON_FALSE:
			s = json_is_true(v) ? "true" : "false";
			n = strlen(s);
			break;
		case JSON_NULL:
			continue;
		default:
			return ferry_error_set(T->err, FERRY_EPARSE,
					       "invalid telemetry body: \"metadata\" value of '%s' is %s; tags take strings, numbers and booleans",
					       k, json_is_object(v) ? "an object" : "an array");
		}
		if (!n)
			continue;
		if ((rc = add_tag(T, k, strlen(k), s, n)) < 0)
			return rc;
	}
	return 0;
}

/* A numeric timestamp's unit from its size (see the file comment). */
static int number_ts(json_t *v, int64_t *ns)
{
	static const double lim[] = { 1e11, 1e14, 1e17 };
	static const int64_t mul[] = { 1000000000, 1000000, 1000, 1 };
	int u = 0;

	if (json_is_integer(v)) {
		json_int_t t = json_integer_value(v);
		double a = fabs((double)t);

		while (u < 3 && a >= lim[u])
			u++;
		if (t > INT64_MAX / mul[u] || t < INT64_MIN / mul[u])
			return 0;
		*ns = (int64_t)t * mul[u];
		return 1;
	} else {
		double t = json_real_value(v), a = fabs(t), w, r;

		while (u < 3 && a >= lim[u])
			u++;
		/* whole units and the fraction apart: 1700000000.25 s times 1e9
		 * in one double would come out as ...249999872 ns */
		w = trunc(t);
		r = w * (double)mul[u];
		if (!(r > -9.2e18 && r < 9.2e18))
			return 0;
		*ns = (int64_t)w * mul[u] + (int64_t)llround((t - w) * (double)mul[u]);
		return 1;
	}
}

int relay_json_time(json_t *v, int64_t *ns)
{
	int tz;

	if (json_is_number(v))
		return number_ts(v, ns) ? 1 : 0;
	if (json_is_string(v))
		return val_parse_timestamp_ns(json_string_value(v), json_string_length(v),
					      VAL_TSP_NS, ns, &tz) == 1 ? 1 : 0;
	return -1;
}

static int get_ts(struct tele *T, json_t *v, int64_t *ns)
{
	int tz;

	if (json_is_number(v)) {
		if (!number_ts(v, ns))
			return ferry_error_set(T->err, FERRY_EPARSE,
					       "invalid telemetry body: \"timestamp\" %g is out of range",
					       json_number_value(v));
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (val_parse_timestamp_ns(s, json_string_length(v), VAL_TSP_NS, ns, &tz) != 1)
			return ferry_error_set(T->err, FERRY_EPARSE,
					       "invalid telemetry body: \"timestamp\" '%.64s' is not an RFC 3339 time (2024-05-01T12:00:00Z) or a number",
					       s);
		return 0;
	}
	return ferry_error_set(T->err, FERRY_EPARSE,
			       "invalid telemetry body: \"timestamp\" must be a number or an RFC 3339 string");
}

int relay_ingest_telemetry(const char *json, size_t n, const char *measurement,
			   const char *device, int64_t now_ns, struct relay_points *out,
			   struct ferry_error *err)
{
	struct tele T = { .arena = FERRY_BUF_INIT, .err = err };
	struct lp_field *fl = NULL;
	struct lp_tag *tg = NULL;
	struct lp_point pt;
	json_error_t jerr;
	json_t *root, *data, *meta, *ts;
	int64_t ns = now_ns;
	size_t i, mark = out->lp.len;
	int rc;

	root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return ferry_error_set(err, FERRY_EPARSE,
				       "invalid telemetry body: bad JSON at byte %d: %s",
				       jerr.position, jerr.text);
	if (!json_is_object(root)) {
		rc = ferry_error_set(err, FERRY_EPARSE,
				     "invalid telemetry body: a JSON object {\"data\":{...}} is expected at byte 0");
		goto out;
	}
	data = json_object_get(root, "data");
	if (!json_is_object(data)) {
		rc = ferry_error_set(err, FERRY_EPARSE, data ?
				     "invalid telemetry body: \"data\" must be an object of values" :
				     "invalid telemetry body: no \"data\" object");
		goto out;
	}
	if ((rc = add_tag(&T, "device_id", 9, device, strlen(device))) < 0)
		goto out;
	meta = json_object_get(root, "metadata");
	if (meta && !json_is_null(meta)) {
		if (!json_is_object(meta)) {
			rc = ferry_error_set(err, FERRY_EPARSE,
					     "invalid telemetry body: \"metadata\" must be an object");
			goto out;
		}
		if ((rc = add_tags(&T, meta)) < 0)
			goto out;
	}
	if ((ts = json_object_get(root, "timestamp")) && !json_is_null(ts) &&
	    (rc = get_ts(&T, ts, &ns)) < 0)
		goto out;
	if ((rc = add_fields(&T, data, 0, 0, 0)) < 0)
		goto out;
	if (!T.nf) {
		rc = ferry_error_set(err, FERRY_EPARSE, json_object_size(data) ?
				     "invalid telemetry body: \"data\" holds only nulls: no field to write" :
				     "invalid telemetry body: \"data\" is empty: no field to write");
		goto out;
	}
	if (!(fl = ferry_calloc(T.nf, sizeof(*fl))) || !(tg = ferry_calloc(T.nt, sizeof(*tg)))) {
		rc = oom(&T);
		goto out;
	}
	/* the arena no longer moves: offsets become pointers */
	for (i = 0; i < T.nt; i++) {
		tg[i].key.p = T.arena.buf + T.t[i].koff;
		tg[i].key.n = T.t[i].klen;
		tg[i].val.p = T.arena.buf + T.t[i].voff;
		tg[i].val.n = T.t[i].vlen;
	}
	for (i = 0; i < T.nf; i++) {
		fl[i].key.p = T.arena.buf + T.f[i].koff;
		fl[i].key.n = T.f[i].klen;
		fl[i].type = T.f[i].type;
		if (fl[i].type == LP_FLOAT)
			fl[i].v.f = T.f[i].f;
		else if (fl[i].type == LP_BOOL)
			fl[i].v.b = T.f[i].b;
		else {
			fl[i].v.s.p = T.arena.buf + T.f[i].voff;
			fl[i].v.s.n = T.f[i].vlen;
		}
	}
	memset(&pt, 0, sizeof(pt));
	pt.measurement.p = measurement;
	pt.measurement.n = strlen(measurement);
	pt.tags = tg;
	pt.ntags = T.nt;
	pt.fields = fl;
	pt.nfields = T.nf;
	pt.has_ts = 1;
	pt.ts = ns;
	rc = lp_point_write(&out->lp, &pt);
	if (rc == FERRY_EINVAL) {
		rc = ferry_error_set(err, FERRY_EPARSE,
				     "invalid telemetry body: a key is empty or cannot be written as a line-protocol name");
		goto out;
	}
	if (rc < 0 || ferry_buf_addch(&out->lp, '\n') < 0) {
		rc = oom(&T);
		goto out;
	}
	out->npoints++;
	rc = 0;
out:
	if (rc < 0 && out->lp.len > mark && ferry_buf_setlen(&out->lp, mark) < 0)
		rc = FERRY_ENOMEM;
	ferry_free(fl);
	ferry_free(tg);
	ferry_free(T.f);
	ferry_free(T.t);
	ferry_buf_release(&T.arena);
	json_decref(root);
	return rc;
}
