/*
 * cutover_waves.c - the waves of `ferry cutover prepare --strategy gradual`.
 *
 * A gradual cutover runs as dual-write up to validate, for every point.
 * At switchover the measurements or series groups move to the new store
 * in waves, in the order given at prepare (--wave, --waves), the points of
 * no wave last ("rest"): the first wave goes to new-primary as the
 * cutover enters switchover, and each advance then moves the next one,
 * when the gates of the wave switched last pass (its relays follow it,
 * its failed writes to the new store, the spool, the soak) and the verify
 * of the next one's measurements does.  The last wave's move puts the
 * relays' one phase in new-primary too; cleanup follows the soak as in
 * dual-write.  A rollback in switchover takes the last wave switched back
 * to dual (the first one: back to validate, every wave dual).
 *
 *   ferry.cutover_waves  n (1..), name, match (a JSON array of selectors,
 *                        waves.c; [] for the rest), phase (dual or
 *                        new-primary), since, changed_by
 *
 * The relays read the table with the phase (phase.c), while the plan is in
 * switchover, and write each point by its wave's phase (relay.c); they
 * report the phases they follow ("new-primary,dual,dual") and, per wave,
 * their writes to the new store as the primary in ferry.relays.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "relay/cutover_int.h"
#include "relay/relay_int.h"


/* ---- prepare ------------------------------------------------------------------ */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* "[NAME:]SEL[,SEL...]" as {name, match} appended to arr. */
static int add_wave(json_t *arr, const char *spec, const char *opt, struct ferry_error *err)
{
	char *copy = ferry_strdup(spec), *s, *colon, *sel, *save = NULL, name[64], why[160];
	json_t *match = json_array(), *w = NULL;
	size_t i;
	int rc = 0;

	if (!copy || !match) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	s = trim(copy);
	snprintf(name, sizeof(name), "wave-%zu", json_array_size(arr) + 1);
	/* a name: letters, digits, '_', '-', '.' before the first ':' */
	if ((colon = strchr(s, ':')) && colon > s && (size_t)(colon - s) < sizeof(name) &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
	    (size_t)(colon - s)) {
		*colon = '\0';
		snprintf(name, sizeof(name), "%s", s);
		s = trim(colon + 1);
	}
	for (sel = strtok_r(s, ",", &save); sel && rc == 0; sel = strtok_r(NULL, ",", &save)) {
		sel = trim(sel);
		if (relay_wave_sel_check(sel, why, sizeof(why)) < 0)
			rc = ferry_error_set(err, FERRY_EUSAGE, "%s '%s': %s", opt, spec, why);
		else if (json_array_append_new(match, json_string(sel)) < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	if (rc == 0 && !json_array_size(match))
		rc = ferry_error_set(err, FERRY_EUSAGE, "%s '%s': no selector: give measurement "
				     "globs or TAG=GLOB conditions, separated by ','", opt, spec);
	for (i = 0; rc == 0 && i < json_array_size(arr); i++)
		if (!strcmp(json_string_value(json_object_get(json_array_get(arr, i), "name")),
			    name))
			rc = ferry_error_set(err, FERRY_EUSAGE, "%s '%s': wave name '%s' is "
					     "given twice", opt, spec, name);
	if (rc == 0 && !strcmp(name, "rest"))
		rc = ferry_error_set(err, FERRY_EUSAGE, "%s '%s': 'rest' names the last wave, "
				     "the points of no other wave; give another name", opt, spec);
	if (rc == 0 && (!(w = json_pack("{s:s, s:O}", "name", name, "match", match)) ||
			json_array_append_new(arr, w) < 0))
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	json_decref(match);
	ferry_free(copy);
	return rc;
}

int relay_cut_waves_parse(const struct ferry_cutover_opts *o, char **json,
			  struct ferry_error *err)
{
	json_t *arr = json_array(), *last, *rest;
	size_t i;
	int rc = 0;

	*json = NULL;
	if (!arr)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (o->waves_spec) {
		char *copy = ferry_strdup(o->waves_spec), *w, *save = NULL;

		if (!copy)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		for (w = copy ? strtok_r(copy, ";", &save) : NULL; w && rc == 0;
		     w = strtok_r(NULL, ";", &save))
			if (*trim(w))
				rc = add_wave(arr, w, "--waves", err);
		ferry_free(copy);
	}
	for (i = 0; rc == 0 && i < o->nwaves; i++)
		rc = add_wave(arr, o->waves[i], "--wave", err);
	if (rc < 0)
		goto out;
	if (!json_array_size(arr)) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "strategy gradual needs its waves: give "
				     "--wave SELECTORS once per wave, in order (measurement globs "
				     "or TAG=GLOB, e.g. --wave 'power: W,kWh' --wave "
				     "'entity_id=sensor.kitchen_*'), or --waves 'W; °C'");
		goto out;
	}
	/* the rest: every point of no wave, last, unless the last is "*" */
	last = json_object_get(json_array_get(arr, json_array_size(arr) - 1), "match");
	if (!(json_array_size(last) == 1 &&
	      !strcmp(json_string_value(json_array_get(last, 0)), "*"))) {
		if (!(rest = json_pack("{s:s, s:[]}", "name", "rest", "match")) ||
		    json_array_append_new(arr, rest) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (json_array_size(arr) < 2) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "one wave of every point ('*') is not "
				     "gradual: use --strategy dual-write");
		goto out;
	}
	if (json_array_size(arr) > RELAY_CUT_MAX_WAVES) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "%zu waves (the rest included): at most "
				     "%d", json_array_size(arr), RELAY_CUT_MAX_WAVES);
		goto out;
	}
	if (!(*json = json_dumps(arr, JSON_COMPACT)))
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	json_decref(arr);
	return rc;
}

int relay_cut_waves_store(PGconn *pg, const char *json, const char *by, struct ferry_error *err)
{
	const char *p[2] = { json, by ? by : "" };
	int rc;

	if ((rc = relay_pg_exec(pg, "DELETE FROM ferry.cutover_waves", 0, NULL, NULL,
				"cannot empty ferry.cutover_waves", err)) < 0 || !json)
		return rc;
	return relay_pg_exec(pg, "INSERT INTO ferry.cutover_waves (n, name, match, phase,"
			     " changed_by) SELECT o, w->>'name', w->'match', 'dual', $2"
			     " FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS a(w, o)",
			     2, p, NULL, "cannot record the waves in ferry.cutover_waves", err);
}

/* ---- the waves of a plan ----------------------------------------------------- */

void relay_cut_waves_release(struct cut_waves *w)
{
	int i;

	for (i = 0; i < w->n; i++)
		ferry_free(w->match[i]);
	memset(w, 0, sizeof(*w));
}

int relay_cut_waves_read(struct cut_ctx *c, struct ferry_error *err)
{
	struct cut_waves *w = &c->waves;
	PGresult *res = NULL;
	size_t off = 0;
	int rc, i, n, lead = 1;

	relay_cut_waves_release(w);
	if (!RELAY_CUT_GRADUAL(c->plan))
		return 0;
	if ((rc = relay_pg_exec(c->pg, "SELECT name, match::text, phase FROM ferry.cutover_waves"
				" ORDER BY n", 0, NULL, &res, "cannot read ferry.cutover_waves",
				err)) < 0)
		return rc;
	n = PQntuples(res);
	for (i = 0; i < n && i < RELAY_CUT_MAX_WAVES; i++) {
		const char *ph = PQgetvalue(res, i, 2);

		snprintf(w->name[i], sizeof(w->name[i]), "%s", PQgetvalue(res, i, 0));
		w->match[i] = ferry_strdup(PQgetvalue(res, i, 1));
		w->n++;
		if (lead && !strcmp(ph, "new-primary"))
			w->k++;
		else
			lead = 0;
		if (off < sizeof(w->sig))
			off += (size_t)snprintf(w->sig + off, sizeof(w->sig) - off, "%s%s",
						i ? "," : "", ph);
	}
	PQclear(res);
	return 0;
}

int relay_cut_waves_set(PGconn *pg, int k, const char *by, struct ferry_error *err)
{
	char ks[16];
	const char *p[2] = { ks, by ? by : "" };
	int rc;

	snprintf(ks, sizeof(ks), "%d", k);
	if ((rc = relay_pg_exec(pg, "UPDATE ferry.cutover_waves SET phase = x.ph, since ="
				" CASE WHEN phase <> x.ph OR since IS NULL THEN now() ELSE since END,"
				" changed_by = CASE WHEN phase <> x.ph THEN $2 ELSE changed_by END"
				" FROM (SELECT n AS m, CASE WHEN n <= $1::int THEN 'new-primary'"
				" ELSE 'dual' END AS ph FROM ferry.cutover_waves) x WHERE n = x.m",
				2, p, NULL, "cannot move the waves", err)) < 0)
		return rc;
	/* the relays re-read the waves with the phase (delivered at commit) */
	return relay_pg_exec(pg, "SELECT pg_notify('ferry_cutover', 'waves')", 0, NULL, NULL,
			     "cannot notify the relays", err);
}

int relay_cut_waves_left(const struct cut_ctx *c)
{
	return c->waves.n && c->waves.k < c->waves.n;
}

int relay_cut_waves_all(const struct cut_ctx *c)
{
	return c->waves.n && c->waves.k == c->waves.n;
}

/* ---- the gates of a wave -------------------------------------------------- */

void relay_cut_g_relays_waves(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	const char *p[1] = { c->waves.sig };
	PGresult *res = NULL;
	char gone[1024];
	int64_t n, ok, k = 0;

	(void)g;
	if (relay_pg_exec(c->pg, "SELECT count(*), count(*) FILTER (WHERE waves = $1),"
			  " string_agg(CASE WHEN waves IS DISTINCT FROM $1 THEN relay_id ||"
			  " ' follows ' || coalesce(nullif(waves, ''), 'no waves') END, '; ')"
			  CUT_LIVE_RELAYS, 1, p, &res, "cannot read ferry.relays", &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		return;
	}
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	ok = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	r->value = (double)ok;
	if (n && (k = relay_cut_unseen(c, "waves", c->waves.sig, gone, sizeof(gone), r)) < 0) {
		PQclear(res);
		return;
	}
	r->pass = n > 0 && ok == n && k == 0;
	if (!n)
		snprintf(r->figure, sizeof(r->figure), "no relay reported in the last %d s",
			 CUT_LIVE_S);
	else if (k)
		snprintf(r->figure, sizeof(r->figure), "%" PRId64 " of %" PRId64 " live relays "
			 "follow the waves (%s), but %s went silent without stopping: it may "
			 "still acknowledge writes by its waves; start it again (or stop it), "
			 "or, if it will not run again, ferry cutover forget-relay ID", ok, n,
			 c->waves.sig, gone);
	else if (r->pass)
		snprintf(r->figure, sizeof(r->figure), "%" PRId64 " of %" PRId64 " live relays "
			 "follow the waves (%s)", ok, n, c->waves.sig);
	else
		snprintf(r->figure, sizeof(r->figure), "%" PRId64 " of %" PRId64 " live relays "
			 "follow the waves (%s): %s; they follow within a second and report "
			 "every 10 s", ok, n, c->waves.sig, PQgetvalue(res, 0, 2));
	PQclear(res);
}

void relay_cut_g_wave_errors(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	char k[16];
	const char *p[1] = { k };
	PGresult *res = NULL;
	int64_t n, w, e;
	int i = c->waves.k;   /* the last switched, 1-based */

	if (i < 1) {
		snprintf(r->figure, sizeof(r->figure), "no wave is in new-primary");
		return;
	}
	snprintf(k, sizeof(k), "%d", i);
	if (relay_pg_exec(c->pg, "SELECT count(*), coalesce(sum(wave_writes[$1::int]), 0),"
			  " coalesce(sum(wave_errors[$1::int]), 0)" CUT_LIVE_RELAYS, 1, p, &res,
			  "cannot read ferry.relays", &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		return;
	}
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	w = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	e = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	if (!n) {
		snprintf(r->figure, sizeof(r->figure), "no relay reported in the last %d s",
			 CUT_LIVE_S);
		return;
	}
	r->value = w ? (double)e / (double)w : 0;
	r->pass = r->value < g->threshold;
	if (!w)
		snprintf(r->figure, sizeof(r->figure), "wave %d (%s): no writes of its points to "
			 "the new store in the last 5 min", i, c->waves.name[i - 1]);
	else
		snprintf(r->figure, sizeof(r->figure), "wave %d (%s): %.2f%% of %" PRId64 " writes "
			 "of its points to the new store failed in the last 5 min (%" PRId64 "), "
			 "threshold %g%%", i, c->waves.name[i - 1], r->value * 100, w, e,
			 g->threshold * 100);
}

/*
 * The verify of the next wave, before T0: its measurements when every
 * selector of it is a measurement glob and the new store is InfluxDB
 * (ferry verify's --include names measurements there).  A wave with a tag
 * condition (or the rest) may have points in any measurement, and a
 * PostgreSQL new store's verify takes tables (the narrow layout has one
 * for every measurement): then everything before T0 is compared, which
 * holds the wave's points too.
 */
void relay_cut_g_wave_verify(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	const char *globs[RELAY_CUT_MAX_WAVES * 8 + 1];
	json_t *m = NULL, *v;
	char fig[sizeof(r->figure)];
	size_t i, n = 0;
	int next = c->waves.k, scoped = 1;   /* 0-based index of the next wave */

	if (next >= c->waves.n) {
		snprintf(r->figure, sizeof(r->figure), "every wave is switched");
		r->pass = 1;
		return;
	}
	m = json_loads(c->waves.match[next], 0, NULL);
	json_array_foreach(m, i, v) {
		const char *s = json_string_value(v);

		if (!s || strchr(s, '=') || n + 1 >= sizeof(globs) / sizeof(globs[0]))
			scoped = 0;
		else
			globs[n++] = s;
	}
	globs[n] = NULL;
	scoped = scoped && n;
	c->include = scoped && relay_cut_new_influx(c) ? globs : NULL;
	relay_cut_verify(c, g, r);
	snprintf(fig, sizeof(fig), "%s", r->figure);
	snprintf(r->figure, sizeof(r->figure), "wave %d (%.60s), %s: %.1380s", next + 1,
		 c->waves.name[next], c->include ? "its measurements" : !scoped ?
		 "every measurement (its selectors are not measurements only)" :
		 "every measurement (the new store's tables hold them together)", fig);
	c->include = NULL;
	json_decref(m);
}
