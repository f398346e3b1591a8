/*
 * waves.c - the waves of a gradual cutover: which wave a point is in.
 *
 * A wave is a list of selectors; a point is in the first wave one of
 * whose selectors matches it (the last wave, "the rest", has none and
 * takes every point left).  A selector is
 *
 *   GLOB           the point's measurement matches it (fnmatch: * ? [..])
 *   TAG=GLOB       the point has tag TAG and its value matches GLOB
 *
 * `ferry cutover prepare --wave` checks them (relay_wave_sel_check) and
 * stores each wave's selectors as a JSON array in ferry.cutover_waves; a
 * relay reads them with the waves' phases (phase.c) and splits every
 * write by the phase of each point's wave (relay.c).  The measurement
 * and the tags are the client's, as it wrote them: with a map the rules
 * come after.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "relay/relay_int.h"
#include "wire/lineproto.h"

int relay_wave_sel_check(const char *sel, char *why, size_t n)
{
	const char *eq = strchr(sel, '=');

	if (!*sel)
		snprintf(why, n, "an empty selector");
	else if (eq == sel)
		snprintf(why, n, "selector '%s' names no tag before '='", sel);
	else if (eq && !eq[1])
		snprintf(why, n, "selector '%s' gives no value after '=' (use TAG=* for any)",
			 sel);
	else if (strlen(sel) > 255)
		snprintf(why, n, "selector '%.40s...' is longer than 255 bytes", sel);
	else
		return 0;
	return -1;
}

void relay_waves_free(struct relay_waves *ws)
{
	size_t i, k;

	if (!ws)
		return;
	for (i = 0; i < ws->n; i++) {
		for (k = 0; k < ws->w[i].nsel; k++)
			ferry_free(ws->w[i].sel[k]);
		ferry_free(ws->w[i].sel);
	}
	ferry_free(ws);
}

int relay_waves_add(struct relay_waves *ws, const char *name, const char *match, int phase)
{
	struct relay_wave *w;
	json_t *a = json_loads(match ? match : "[]", 0, NULL), *v;
	size_t i;
	int rc = 0;

	if (ws->n == RELAY_MAX_WAVES || !json_is_array(a)) {
		json_decref(a);
		return -1;
	}
	w = &ws->w[ws->n];
	memset(w, 0, sizeof(*w));
	snprintf(w->name, sizeof(w->name), "%s", name ? name : "");
	w->phase = phase;
	if (json_array_size(a) && !(w->sel = ferry_calloc(json_array_size(a), sizeof(char *))))
		rc = -1;
	json_array_foreach(a, i, v) {
		if (rc < 0)
			break;
		if (json_is_string(v) && (w->sel[w->nsel] = ferry_strdup(json_string_value(v))))
			w->nsel++;
		else
			rc = -1;
	}
	json_decref(a);
	ws->n++;   /* freed with the rest even when incomplete */
	return rc;
}

static int str_match(const char *glob, const char *p, size_t n)
{
	char buf[256], *s = buf;
	int r;

	if (n >= sizeof(buf) && !(s = ferry_malloc(n + 1)))
		return 0;
	memcpy(s, p, n);
	s[n] = '\0';
	r = fnmatch(glob, s, 0) == 0;
	if (s != buf)
		ferry_free(s);
	return r;
}

static int sel_match(const char *sel, const struct lp_point *pt)
{
	const char *eq = strchr(sel, '=');
	size_t i, kl;

	if (!eq)
		return str_match(sel, pt->measurement.p, pt->measurement.n);
	kl = (size_t)(eq - sel);
	for (i = 0; i < pt->ntags; i++)
		if (pt->tags[i].key.n == kl && !memcmp(pt->tags[i].key.p, sel, kl))
			return str_match(eq + 1, pt->tags[i].val.p, pt->tags[i].val.n);
	return 0;
}

size_t relay_waves_of(const struct relay_waves *ws, const struct lp_point *pt)
{
	size_t i, k;

	for (i = 0; i + 1 < ws->n; i++)
		for (k = 0; k < ws->w[i].nsel; k++)
			if (sel_match(ws->w[i].sel[k], pt))
				return i;
	/* the last wave takes the rest (its selectors, if any, too) */
	return ws->n ? ws->n - 1 : 0;
}

int relay_waves_split(const struct relay_waves *ws, const char *lp, size_t n,
		      struct relay_wave_split *out)
{
	struct lp_cursor cur = LP_CURSOR_INIT;
	struct lp_scratch scr;
	struct lp_point pt;
	const char *line, *why;
	size_t len;
	uint64_t lineno;
	int e = 0;

	lp_scratch_init(&scr);
	while (e == 0 && lp_next_line(lp, n, &cur, 1, &line, &len, &lineno) == 1) {
		int g = 0;

		if (!len)
			continue;
		/* checked already: a line that does not parse stays with the
		 * old store first, as in dual */
		if (lp_parse_line(line, len, &pt, &scr, &why) == LP_POINT) {
			size_t w = relay_waves_of(ws, &pt);

			g = ws->w[w].phase == FERRY_PHASE_NEW_PRIMARY;
			out->waves[g] |= 1u << w;
		}
		e |= ferry_buf_add(&out->lp[g], line, len);
		e |= ferry_buf_add(&out->lp[g], "\n", 1);
		out->npoints[g]++;
	}
	lp_scratch_release(&scr);
	return e < 0 ? FERRY_ENOMEM : 0;
}

void relay_waves_sig(const struct relay_waves *ws, char *buf, size_t n)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; ws && i < ws->n && off < n; i++)
		off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? "," : "",
					ferry_phase_name(ws->w[i].phase));
}
