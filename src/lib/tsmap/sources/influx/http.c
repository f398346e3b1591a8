/*
 * http.c - the InfluxDB source's HTTP client: one InfluxQL statement per
 * curl easy handle, POSTed to /query asking for MessagePack, the answer
 * streamed into the parser of answer.c object by object (or kept whole,
 * capped, for the series order), and every way it can fail said with the
 * host in it.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/log.h"
#include "tsmap/sources/influx/influx_int.h"

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
	struct stream *st = ud;
	size_t n = size * nmemb;

	if (!st->checked) {
		const char *ct = NULL;

		st->checked = 1;
		curl_easy_getinfo(st->h, CURLINFO_RESPONSE_CODE, &st->status);
		curl_easy_getinfo(st->h, CURLINFO_CONTENT_TYPE, &ct);
		if (st->status == 200 &&
		    (!ct || strncmp(ct, "application/x-msgpack", 21))) {
			st->rc = ferry_error_set(st->err, FERRY_EUNSUPPORTED,
				"InfluxDB at %s answered in '%s', not MessagePack: "
				"ferry needs InfluxDB 1.4 or later", st->where, ct ? ct : "?");
			return 0;
		}
	}
	if (st->status != 200) {
		size_t room = IFX_ERRBODY_MAX - st->body.len;

		if (ferry_buf_add(&st->body, data, n < room ? n : room) < 0) {
			st->rc = ferry_error_set(st->err, FERRY_ENOMEM, "out of memory");
			return 0;
		}
		return n;
	}
	if ((st->rc = ferry_buf_add(&st->in, data, n)) < 0) {
		ferry_error_set(st->err, st->rc, "out of memory reading from InfluxDB at %s",
				st->where);
		return 0;
	}
	if (!st->fn) {   /* kept whole for ifx_parse() */
		if (st->in.len > st->max_object) {
			st->rc = ferry_error_set(st->err, FERRY_ETOOBIG,
				"answer from InfluxDB at %s has a message over %zu MiB",
				st->where, st->max_object >> 20);
			return 0;
		}
		return n;
	}
	/* Re-scan an unfinished object only once it has doubled: linear work. */
	if (st->in.len >= 2 * st->tried && (st->rc = ifx_drain(st, 0, st->err)) < 0)
		return 0;
	return n;
}

/* The message of an error answer: {"error": ".."} in JSON or MessagePack
 * (1.x), {"code": "..", "message": ".."} (2.x), else the text itself
 * (control bytes shown as '?').  0, or out of memory. */
int ifx_error_text(const struct ferry_buf *b, struct ferry_buf *out)
{
	json_t *j = json_loadb(b->buf, b->len, 0, NULL);
	const unsigned char *p = (const unsigned char *)b->buf, *end = p + b->len;
	struct mp_val v, k;
	uint32_t i;
	size_t n;
	int rc = 0;

	if (j) {
		json_t *e = json_object_get(j, "error");

		if (!json_is_string(e))
			e = json_object_get(j, "message");
		if (json_is_string(e)) {
			rc = ferry_buf_addstr(out, json_string_value(e));
			json_decref(j);
			return rc;
		}
		json_decref(j);
	}
	if (!mp_next(&p, end, &v) && v.t == MP_MAP) {
		for (i = 0; i < v.v.n; i++) {
			if (mp_next(&p, end, &k))
				break;
			if (mp_key_is(&k, "error") && !mp_next(&p, end, &v) && v.t == MP_STR)
				return ferry_buf_add(out, v.s, v.len);
			if (mp_skip(&p, end))
				break;
		}
	}
	for (n = 0; n < b->len && n < 300; n++) {
		unsigned char c = (unsigned char)b->buf[n];

		rc |= ferry_buf_addch(out, c < 0x20 || c == 0x7f ? '?' : c);
	}
	ferry_buf_rtrim(out);
	if (!out->len)
		rc |= ferry_buf_addstr(out, "empty answer");
	return rc;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* curl_global_init(), once per process, before any handle. */
void ifx_curl_global(void)
{
	pthread_once(&curl_once, curl_setup);
}

/* InfluxQL identifier: double quotes, with '"' and '\' escaped. */
int ifx_add_ident(struct ferry_buf *b, const char *s, size_t n)
{
	size_t i;
	int rc = ferry_buf_addch(b, '"');

	for (i = 0; i < n && rc == 0; i++) {
		if (s[i] == '"' || s[i] == '\\')
			rc = ferry_buf_addch(b, '\\');
		if (rc == 0)
			rc = ferry_buf_addch(b, s[i]);
	}
	if (rc == 0)
		rc = ferry_buf_addch(b, '"');
	return rc;
}

int tm_ifx_add_ident(struct ferry_buf *b, const char *s, size_t n)
{
	return ifx_add_ident(b, s, n);
}

/* "db"."rp" */
int ifx_add_dbrp(struct ferry_buf *b, const struct ifx *ix)
{
	int rc = ifx_add_ident(b, ix->db, strlen(ix->db));

	if (rc == 0)
		rc = ferry_buf_addch(b, '.');
	if (rc == 0)
		rc = ifx_add_ident(b, ix->rp, strlen(ix->rp));
	return rc;
}

/* "db"."rp"."m": measurement m in the copy's database and policy */
int ifx_add_meas(struct ferry_buf *b, const struct ifx *ix, const char *m)
{
	int rc = ifx_add_dbrp(b, ix);

	if (rc == 0)
		rc = ferry_buf_addch(b, '.');
	if (rc == 0)
		rc = ifx_add_ident(b, m, strlen(m));
	return rc;
}

/*
 * Run one InfluxQL statement q.  whole == 0: stream the answer and hand
 * every series of it to fn.  whole > 0 (fn NULL): take the answer, asked
 * for in a message per series (IFX_WHOLE_ROWS), of at most whole bytes,
 * and hand its bytes over in *raw for ifx_answer_cut() and ifx_parse();
 * FERRY_ETOOBIG, without ctx, when it is larger.  ctx (may be NULL) is
 * put in front of error messages ("cannot read 'm' [..)").
 */
int ifx_query(const struct ifx *ix, const char *q, size_t whole, series_fn fn,
	      void *ud, const char *ctx, struct ferry_buf *raw, struct ferry_error *err)
{
	struct stream st;
	struct ferry_buf body = FERRY_BUF_INIT, url = FERRY_BUF_INIT, msg = FERRY_BUF_INIT;
	struct curl_slist *hdr = NULL;
	char cerr[CURL_ERROR_SIZE] = "";
	char *eq = NULL, *edb = NULL;
	CURL *h = NULL;
	CURLcode cc;
	int rc;

	ifx_curl_global();
	memset(&st, 0, sizeof(st));
	st.where = ix->where;
	st.fn = fn;
	st.ud = ud;
	st.err = err;
	st.max_object = whole ? whole : IFX_OBJECT_MAX;
	ferry_buf_init(&st.in, 0);
	ferry_buf_init(&st.body, 0);
	if (!(h = curl_easy_init())) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "cannot start a curl handle");
		goto out;
	}
	if (!(eq = curl_easy_escape(h, q, 0)) || !(edb = curl_easy_escape(h, ix->db, 0))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = ferry_buf_addf(&body, "db=%s&epoch=ns&q=%s", edb, eq)) < 0 ||
	    (rc = ferry_buf_addf(&body, "&chunked=true&chunk_size=%d",
				 whole ? IFX_WHOLE_ROWS : IFX_ROWS_PER_CHUNK)) < 0 ||
	    (rc = ferry_buf_addf(&url, "%s/query", ix->base)) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	if (!(hdr = curl_slist_append(NULL, "Accept: application/x-msgpack"))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url.buf);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.buf);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body.len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
	/* A server that sends nothing for 5 minutes is taken for dead. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 300L);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
	if (ix->gzip)
		curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	if (ix->user) {
		curl_easy_setopt(h, CURLOPT_USERNAME, ix->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, ix->pass ? ix->pass : "");
	}
	st.h = h;
	ferry_debug("influx query (db %s): %s", ix->db, q);
	cc = curl_easy_perform(h);
	if (st.rc < 0) {
		rc = st.rc;
		if (whole && rc == FERRY_ETOOBIG)
			goto out;
		goto fail;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st.status);
	if (cc != CURLE_OK) {
		rc = ferry_error_set(err, FERRY_ECONN, st.status ?
			"connection to InfluxDB at %s broke: %s" :
			"cannot reach InfluxDB at %s: %s",
			ix->where, cerr[0] ? cerr : curl_easy_strerror(cc));
		ferry_error_origin(err, "curl %d", (int)cc);
		goto fail;
	}
	if (st.status != 200) {
		const char *shown = ifx_error_text(&st.body, &msg) < 0 ? "out of memory" : msg.buf;

		if (st.status == 401 || st.status == 403)
			rc = ferry_error_set(err, FERRY_ECONN,
				"InfluxDB at %s refused the credentials (HTTP %ld: %s): give a user "
				"and password as influx://USER:PASSWORD@%s/%s or ?u=USER&p=PASSWORD",
				ix->where, st.status, shown, ix->where, ix->db);
		else
			rc = ferry_error_set(err, FERRY_ESQL, "InfluxDB at %s answered HTTP %ld: %s",
					     ix->where, st.status, shown);

		ferry_error_origin(err, "http %ld", st.status);
		goto fail;
	}
	if (!fn) {
		ferry_buf_release(raw);
		*raw = st.in;
		ferry_buf_init(&st.in, 0);
		rc = 0;
		goto out;
	}
	if ((rc = ifx_drain(&st, 1, err)) < 0)
		goto fail;
	if (st.partial || st.objects == 0) {
		rc = ferry_error_set(err, FERRY_EIO,
			"answer from InfluxDB at %s ended before its last part", ix->where);
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	if (ctx)
		ferry_error_prefix(err, "%s", ctx);
out:
	if (eq)
		curl_free(eq);
	if (edb)
		curl_free(edb);
	curl_slist_free_all(hdr);
	if (h)
		curl_easy_cleanup(h);
	ferry_buf_release(&st.in);
	ferry_buf_release(&st.body);
	ferry_free(st.tags);
	ferry_free(st.cols);
	ferry_buf_release(&body);
	ferry_buf_release(&url);
	ferry_buf_release(&msg);
	return rc;
}

static int rows_series(void *ud, const struct series *s, struct ferry_error *err)
{
	struct rows_ctx *c = ud;
	const unsigned char *p = s->values;
	uint32_t r;
	int rc;

	if (FERRY_GROW(c->cells, c->cap, s->ncols + 1))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (r = 0; r < s->nrows; r++) {
		if ((rc = ifx_next_row(c->ix, s, &p, c->cells, err)) < 0)
			return rc;
		if ((rc = c->row(c, s, c->cells, err)) < 0)
			return rc;
	}
	return 0;
}

int ifx_query_rows(const struct ifx *ix, const char *q,
		   int (*row)(struct rows_ctx *, const struct series *, const struct mp_val *,
			      struct ferry_error *),
		   void *ud, const char *ctx, struct ferry_error *err)
{
	struct rows_ctx c = { ix, row, ud, NULL, 0 };
	int rc = ifx_query(ix, q, 0, rows_series, &c, ctx, NULL, err);

	ferry_free(c.cells);
	return rc;
}
