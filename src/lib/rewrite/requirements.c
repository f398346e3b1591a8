/*
 * requirements.c - requirement rules on requirements*.txt and
 * constraints*.txt, and what every declaration reader shares (see
 * decl_int.h): the requirement parser, the rename/add/drop edits and the
 * format dispatch of ferry_rewrite_requirements().
 *
 * Every change is an edit of the exact bytes of one requirement (name and
 * version specifier); everything around it - extras, environment markers,
 * comments, options such as -r/-c/--hash, line continuations, CRLF line
 * ends, TOML layout - is copied through untouched.  Names are compared
 * after pip's normalization (PEP 503), so Asyncio_MQTT matches
 * asyncio-mqtt.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "decl_int.h"

/* ---- edit lists ------------------------------------------------------- */

int rw_edits_add(struct rw_edits *e, size_t off, size_t len,
		 const char *text, size_t tlen)
{
	char *t;

	if (FERRY_GROW(e->v, e->cap, e->n + 1))
		return FERRY_ENOMEM;
	t = ferry_strndup(text, tlen);
	if (!t)
		return FERRY_ENOMEM;
	e->v[e->n].off = off;
	e->v[e->n].len = len;
	e->v[e->n].text = t;
	e->v[e->n].seq = e->n;
	e->n++;
	return 0;
}

static int edit_cmp(const void *a, const void *b)
{
	const struct rw_edit *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

int rw_edits_apply(struct rw_edits *e, const char *src, size_t n,
		   struct ferry_buf *out)
{
	size_t i, pos = 0;

	if (e->n)  /* qsort(NULL, 0) is undefined */
		qsort(e->v, e->n, sizeof(*e->v), edit_cmp);
	for (i = 0; i < e->n; i++) {
		const struct rw_edit *x = &e->v[i];

		if (!x->len && !x->text[0])
			continue;  /* neutralized */
		if (x->off < pos || x->off + x->len > n)
			return FERRY_EINVAL;
		if (ferry_buf_add(out, src + pos, x->off - pos) ||
		    ferry_buf_addstr(out, x->text))
			return FERRY_ENOMEM;
		pos = x->off + x->len;
	}
	return ferry_buf_add(out, src + pos, n - pos) ? FERRY_ENOMEM : 0;
}

void rw_edits_release(struct rw_edits *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		ferry_free(e->v[i].text);
	ferry_free(e->v);
	e->v = NULL;
	e->n = e->cap = 0;
}

/* ---- names ------------------------------------------------------------ */

static int is_name_ch(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

int ferry_pip_normalize(const char *name, size_t n, struct ferry_buf *out)
{
	size_t i;
	int sep = 0;

	for (i = 0; i < n; i++) {
		char c = name[i];

		if (c == '-' || c == '_' || c == '.') {
			sep = 1;
			continue;
		}
		if (sep && out->len && ferry_buf_addch(out, '-'))
			return FERRY_ENOMEM;
		sep = 0;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (ferry_buf_addch(out, c))
			return FERRY_ENOMEM;
	}
	return 0;
}

/* ---- one requirement -------------------------------------------------- */

int rw_ws(char c)
{
	return c == ' ' || c == '\t';
}

int rw_req_parse(const char *s, size_t n, struct rw_req *r)
{
	size_t i = 0, q;

	memset(r, 0, sizeof(*r));
	while (i < n && rw_ws(s[i]))
		i++;
	if (i >= n || !is_alnum(s[i]))
		return -1;
	r->name_b = i;
	while (i < n && is_name_ch(s[i]))
		i++;
	/* a trailing '.', '-' or '_' is not part of a name */
	while (i > r->name_b + 1 && !is_alnum(s[i - 1]))
		i--;
	r->name_e = i;
	q = i;
	while (q < n && rw_ws(s[q]))
		q++;
	if (q < n && s[q] == '[') {
		while (q < n && s[q] != ']' && s[q] != '\n')
			q++;
		if (q >= n || s[q] != ']')
			return -1;
		i = q + 1;
	}
	r->spec_b = i;
	/* the requirement ends at ';', " #", " --", a continuation or EOL */
	for (q = i; q < n; q++) {
		if (s[q] == ';' || s[q] == '\n' || s[q] == '\r')
			break;
		if (rw_ws(s[q]) && q + 1 < n && (s[q + 1] == '#' ||
		    (s[q + 1] == '-' && q + 2 < n && s[q + 2] == '-')))
			break;
		if (s[q] == '\\' && (q + 1 == n || s[q + 1] == '\n' ||
				     s[q + 1] == '\r'))
			break;
	}
	r->spec_e = q;
	while (r->spec_e > r->spec_b && rw_ws(s[r->spec_e - 1]))
		r->spec_e--;
	r->marker_b = r->marker_e = q;
	if (q < n && s[q] == ';') {
		for (; q < n; q++) {
			if (s[q] == '\n' || s[q] == '\r')
				break;
			if (rw_ws(s[q]) && q + 1 < n && s[q + 1] == '#')
				break;
			if (s[q] == '\\' && (q + 1 == n || s[q + 1] == '\n' ||
					     s[q + 1] == '\r'))
				break;
		}
		r->marker_e = q;
		while (r->marker_e > r->marker_b && rw_ws(s[r->marker_e - 1]))
			r->marker_e--;
	}
	r->end = q;
	for (; q < n && s[q] != '\n'; q++)
		if (s[q] == '#' && (q == 0 || rw_ws(s[q - 1]))) {
			r->has_comment = 1;
			break;
		}
	return 0;
}

/* Normalized name of a parsed requirement into b (cleared first). */
static int req_norm(const char *s, const struct rw_req *r, struct ferry_buf *b)
{
	ferry_buf_clear(b);
	return ferry_pip_normalize(s + r->name_b, r->name_e - r->name_b, b);
}

const struct rw_replace *rw_find_replace(const struct ferry_recipe *rc,
					 const char *norm)
{
	size_t i;

	for (i = 0; i < rc->nreplace; i++)
		if (!strcmp(rc->replace[i].from_norm, norm))
			return &rc->replace[i];
	return NULL;
}

/* ---- shared state of one file's rewrite ------------------------------- */

static void rq_release(struct rw_rq *q)
{
	size_t i;

	for (i = 0; i < q->nfound; i++) {
		ferry_free(q->found[i].norm);
		ferry_free(q->found[i].orig_norm);
		ferry_free(q->found[i].marker);
		ferry_free(q->found[i].indent);
		ferry_free(q->found[i].eol);
		ferry_free(q->found[i].spec);
	}
	ferry_free(q->found);
	ferry_free(q->sub.table);
	rw_edits_release(&q->edits);
	ferry_buf_release(&q->tmp);
}

int rw_rq_note(struct rw_rq *q, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (!q->notes)
		return 0;
	va_start(ap, fmt);
	rc = ferry_buf_vaddf(q->notes, fmt, ap);
	va_end(ap);
	if (rc || ferry_buf_addch(q->notes, '\n'))
		return FERRY_ENOMEM;
	return 0;
}

int rw_line_of(const char *s, size_t off)
{
	int line = 1;
	size_t i;

	for (i = 0; i < off; i++)
		if (s[i] == '\n')
			line++;
	return line;
}

/* rw_line_of from a cached position: readers go forward, so a file with
 * many requirements stays linear */
int rw_rq_line(struct rw_rq *q, size_t off)
{
	if (off < q->line_pos) {
		q->line_pos = 0;
		q->line_no = 1;
	}
	if (!q->line_no)
		q->line_no = 1;
	for (; q->line_pos < off; q->line_pos++)
		q->line_no += q->s[q->line_pos] == '\n';
	return q->line_no;
}

struct rw_found *rw_rq_add_found(struct rw_rq *q)
{
	struct rw_found *f;

	if (FERRY_GROW(q->found, q->capfound, q->nfound + 1))
		return NULL;
	f = &q->found[q->nfound++];
	memset(f, 0, sizeof(*f));
	return f;
}

/*
 * Rewrite one requirement at s[base .. base+len) (a requirements line or
 * the inside of a TOML string) and record what was found.
 */
int rw_rq_handle_req(struct rw_rq *q, size_t base, size_t len, int in_string,
		     struct rw_found **fout)
{
	const char *s = q->s + base;
	const struct rw_replace *rule;
	struct ferry_buf nb = FERRY_BUF_INIT;
	struct rw_req r;
	struct rw_found *f;
	int rc = 0;

	*fout = NULL;
	if (rw_req_parse(s, len, &r))
		return 0;
	if (req_norm(s, &r, &q->tmp))
		return FERRY_ENOMEM;
	f = rw_rq_add_found(q);
	if (!f)
		return FERRY_ENOMEM;
	*fout = f;
	f->edit_b = f->edit_e = q->edits.n;
	f->orig_norm = ferry_strdup(q->tmp.buf);
	/* the marker with the blanks before its ';', as written */
	f->marker = r.marker_e > r.marker_b ?
		ferry_strndup(s + r.spec_e, r.marker_e - r.spec_e) : ferry_strdup("");
	f->spec = ferry_strndup(s + r.name_b, r.spec_e - r.name_b);
	f->line = rw_rq_line(q, base + r.name_b);
	f->in_string = in_string;
	if (!f->orig_norm || !f->marker || !f->spec)
		return FERRY_ENOMEM;
	rule = rw_find_replace(q->r, f->orig_norm);
	if (!rule) {
		f->norm = ferry_strdup(f->orig_norm);
		return f->norm ? 0 : FERRY_ENOMEM;
	}
	f->norm = ferry_strdup(rule->to_norm);
	if (!f->norm)
		return FERRY_ENOMEM;
	/* name + extras (without the blank before them) + pin */
	if (ferry_buf_addstr(&nb, rule->to)) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	{
		size_t e = r.name_e;

		while (e < r.spec_b && rw_ws(s[e]))
			e++;
		if (ferry_buf_add(&nb, s + e, r.spec_b - e) ||
		    ferry_buf_addstr(&nb, rule->pin)) {
			rc = FERRY_ENOMEM;
			goto out;
		}
	}
	if ((rc = rw_edits_add(&q->edits, base + r.name_b, r.spec_e - r.name_b,
			       nb.buf, nb.len)))
		goto out;
	if (rule->comment && !in_string && !r.has_comment) {
		size_t e = r.end;

		while (e < len && s[e] != '\n' && s[e] != '\r')
			e++;
		/* only on a line that is not continued */
		if (!(e > 0 && s[e - 1] == '\\')) {
			ferry_buf_clear(&nb);
			if (ferry_buf_addf(&nb, "  # %s", rule->comment) ||
			    rw_edits_add(&q->edits, base + e, 0, nb.buf, nb.len)) {
				rc = FERRY_ENOMEM;
				goto out;
			}
		}
	}
	ferry_buf_clear(&nb);
	if (ferry_buf_addf(&nb, "%s%s", rule->to, rule->pin)) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	{
		char *old = ferry_strndup(s + r.name_b, r.name_e - r.name_b);

		if (!old) {
			rc = FERRY_ENOMEM;
			goto out;
		}
		rc = rw_rq_note(q, "%s -> %s", old, nb.buf);
		ferry_free(old);
	}
	f->edit_e = q->edits.n;
out:
	ferry_buf_release(&nb);
	return rc;
}

static int found_present(const struct rw_rq *q, const char *norm, int orig)
{
	size_t i;

	for (i = 0; i < q->nfound; i++)
		if (!q->found[i].deleted &&
		    !strcmp(orig ? q->found[i].orig_norm : q->found[i].norm, norm))
			return 1;
	return 0;
}

static int tagged(struct rw_rq *q, const char *tag, int line,
		  const char *fmt, va_list ap)
{
	if (!q->notes)
		return 0;
	if (ferry_buf_addf(q->notes, "%s: %d: ", tag, line) ||
	    ferry_buf_vaddf(q->notes, fmt, ap) ||
	    ferry_buf_addch(q->notes, '\n'))
		return FERRY_ENOMEM;
	return 0;
}

int rw_rq_warn(struct rw_rq *q, int line, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = tagged(q, "warning", line, fmt, ap);
	va_end(ap);
	return rc;
}

int rw_rq_partial(struct rw_rq *q, int line, const char *fmt, ...)
{
	va_list ap;
	int rc;

	q->hold = 1;
	va_start(ap, fmt);
	rc = tagged(q, "partial", line, fmt, ap);
	va_end(ap);
	return rc;
}

int rw_rq_lock(struct rw_rq *q, const char *command)
{
	if (!q->notes)
		return 0;
	return ferry_buf_addf(q->notes, "lock: %s\n", command) ? FERRY_ENOMEM : 0;
}

/*
 * Replaced packages whose target was already listed: drop the old entry
 * instead of listing the target twice (pip rejects double requirements).
 * Entries that share their line with others (inline TOML arrays) stay.
 */
static int drop_duplicates(struct rw_rq *q)
{
	size_t i, j;

	for (i = 0; i < q->nfound; i++) {
		struct rw_found *f = &q->found[i];

		if (!strcmp(f->norm, f->orig_norm) ||
		    (f->inline_array && f->layout != RW_LAY_WORD))
			continue;
		for (j = 0; j < q->nfound; j++)
			if (j != i && !strcmp(q->found[j].orig_norm, f->norm))
				break;
		if (j == q->nfound)
			continue;
		if (f->table_form) {
			/* a whole table: deleting it is not a line's edit */
			if (rw_rq_partial(q, f->line, "[...%s] table: '%s' is already "
					  "listed; remove the table by hand", f->spec,
					  f->norm))
				return FERRY_ENOMEM;
			continue;
		}
		/* neutralize this entry's edits, then delete its line */
		for (j = f->edit_b; j < f->edit_e; j++) {
			q->edits.v[j].len = 0;
			q->edits.v[j].text[0] = '\0';
		}
		if (rw_edits_add(&q->edits, f->line_b,
				 f->after + strlen(f->eol) - f->line_b, "", 0))
			return FERRY_ENOMEM;
		f->deleted = 1;
		if (rw_rq_warn(q, f->line, "'%s' dropped: '%s' is already listed",
			 f->spec, f->norm))
			return FERRY_ENOMEM;
	}
	return 0;
}

/* Add rules: after the first entry of `when`, unless the package is there. */
static int apply_adds(struct rw_rq *q)
{
	struct ferry_buf nb = FERRY_BUF_INIT;
	size_t i, j;
	int rc = 0;

	for (i = 0; i < q->r->nadd; i++) {
		const struct rw_add *a = &q->r->add[i];
		struct rw_found *w = NULL;

		for (j = 0; j < q->nfound; j++)
			if (!q->found[j].deleted &&
			    !strcmp(q->found[j].norm, a->when_norm)) {
				w = &q->found[j];
				break;
			}
		if (!w)
			continue;
		if (w->table_form && !found_present(q, a->norm, 1)) {
			if (rw_rq_warn(q, w->line, "add '%s%s' beside '%s' by hand "
				       "(ferry does not add tables)", a->package,
				       a->pin, a->when))
				goto nomem;
			continue;
		}
		if (found_present(q, a->norm, 1)) {
			for (j = 0; j < q->nfound; j++) {
				struct rw_found *f = &q->found[j];
				struct ferry_buf want = FERRY_BUF_INIT;

				if (strcmp(f->orig_norm, a->norm))
					continue;
				if (ferry_buf_addf(&want, "%s%s", a->package, a->pin)) {
					ferry_buf_release(&want);
					rc = FERRY_ENOMEM;
					goto out;
				}
				if (a->pin[0] && !strstr(f->spec, a->pin))
					rc = rw_rq_warn(q, f->line, "'%s' kept; the recipe "
						  "wants '%s' beside '%s'", f->spec,
						  want.buf, a->when);
				ferry_buf_release(&want);
				if (rc)
					goto out;
			}
			continue;
		}
		ferry_buf_clear(&nb);
		if (w->layout == RW_LAY_LINE) {
			if (!w->eol[0] && ferry_buf_addstr(&nb, "\n"))
				goto nomem;
			if (ferry_buf_addf(&nb, "%s%s%s", w->indent, a->package, a->pin))
				goto nomem;
			if (w->marker[0] && ferry_buf_addf(&nb, "%s", w->marker))
				goto nomem;
			if (a->comment && !w->no_comment &&
			    ferry_buf_addf(&nb, "  # %s", a->comment))
				goto nomem;
			if (w->eol[0] && ferry_buf_addstr(&nb, w->eol))
				goto nomem;
			/* insert after the whole logical line of `when` */
			if (rw_edits_add(&q->edits, w->after + strlen(w->eol), 0,
					 nb.buf, nb.len))
				goto nomem;
		} else if (w->layout == RW_LAY_KEYED) {
			if (ferry_buf_addf(&nb, "%s%s = ", w->indent, a->package))
				goto nomem;
			if (w->marker[0] && ferry_buf_addstr(&nb, "{ version = "))
				goto nomem;
			if (ferry_buf_addch(&nb, '"') ||
			    rw_keyed_spec(a->pin, w->poetry, &nb) ||
			    ferry_buf_addch(&nb, '"'))
				goto nomem;
			if (w->marker[0] && ferry_buf_addf(&nb, "%s }", w->marker))
				goto nomem;
			if (a->comment && ferry_buf_addf(&nb, "  # %s", a->comment))
				goto nomem;
			if (ferry_buf_addstr(&nb, w->eol[0] ? w->eol : "\n"))
				goto nomem;
			if (!w->eol[0] && rw_edits_add(&q->edits, w->after, 0, "\n", 1))
				goto nomem;
			if (rw_edits_add(&q->edits, w->after + strlen(w->eol), 0,
					 nb.buf, nb.len))
				goto nomem;
		} else if (w->layout == RW_LAY_WORD) {
			if (w->quote ? ferry_buf_addf(&nb, " %c%s%s%c", w->quote,
						      a->package, a->pin, w->quote) :
				       ferry_buf_addf(&nb, " %s%s", a->package, a->pin))
				goto nomem;
			if (rw_edits_add(&q->edits, w->after, 0, nb.buf, nb.len))
				goto nomem;
		} else if (w->inline_array) {
			if (ferry_buf_addf(&nb, ", %c%s%s%s%c", w->quote, a->package,
					   a->pin, w->marker, w->quote))
				goto nomem;
			if (rw_edits_add(&q->edits, w->after, 0, nb.buf, nb.len))
				goto nomem;
		} else {
			if (w->last_in_array &&
			    rw_edits_add(&q->edits, w->comma_at, 0, ",", 1))
				goto nomem;
			if (ferry_buf_addf(&nb, "%s%c%s%s%s%c%s", w->indent, w->quote,
					   a->package, a->pin, w->marker, w->quote,
					   w->last_in_array ? "" : ","))
				goto nomem;
			if (a->comment && !w->no_comment &&
			    ferry_buf_addf(&nb, "  # %s", a->comment))
				goto nomem;
			if (ferry_buf_addstr(&nb, w->eol[0] ? w->eol : "\n"))
				goto nomem;
			if (rw_edits_add(&q->edits, w->after + strlen(w->eol), 0,
					 nb.buf, nb.len))
				goto nomem;
		}
		ferry_buf_clear(&nb);
		if (rw_rq_note(q, "+ %s%s%s%s%s", a->package, a->pin,
			 a->comment ? " (" : "", a->comment ? a->comment : "",
			 a->comment ? ")" : ""))
			goto nomem;
	}
	goto out;
nomem:
	rc = FERRY_ENOMEM;
out:
	ferry_buf_release(&nb);
	return rc;
}

size_t rw_skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && rw_ws(s[i]))
		i++;
	return i;
}

/* ---- requirements.txt ------------------------------------------------- */

static int do_txt(struct rw_rq *q)
{
	const char *s = q->s;
	size_t n = q->n, pos = 0;

	while (pos < n) {
		size_t b = pos, e, le, nl;
		size_t first_e;
		int cont = 0;
		struct rw_found *f;
		int rc;

		/* physical line [b, e), its end of line [e, le) */
		e = b;
		while (e < n && s[e] != '\n')
			e++;
		first_e = e;
		if (e > b && s[e - 1] == '\r')
			first_e = e - 1;
		/* logical line: follow continuations (not on comment lines) */
		{
			size_t k = b;

			while (k < first_e && rw_ws(s[k]))
				k++;
			cont = k < first_e && s[k] != '#' && first_e > b &&
			       s[first_e - 1] == '\\';
		}
		le = e;
		while (cont && le < n) {
			size_t ee = le + 1, fe;

			while (ee < n && s[ee] != '\n')
				ee++;
			fe = (ee > le + 1 && s[ee - 1] == '\r') ? ee - 1 : ee;
			le = ee;
			cont = fe > 0 && s[fe - 1] == '\\';
		}
		nl = le < n ? le + 1 : n;
		{
			size_t k = b;

			while (k < first_e && rw_ws(s[k]))
				k++;
			if (k < first_e && s[k] != '#' && s[k] != '-') {
				if ((rc = rw_rq_handle_req(q, b, first_e - b, 0, &f)))
					return rc;
				if (f) {
					f->line_b = b;
					f->after = (le < n && le > b && s[le - 1] == '\r') ?
						   le - 1 : le;
					f->eol = ferry_strndup(s + f->after, nl - f->after);
					f->indent = ferry_strndup(s + b, k - b);
					if (!f->eol || !f->indent)
						return FERRY_ENOMEM;
					if (memmem(s + b, le - b, "--hash", 6) &&
					    strcmp(f->norm, f->orig_norm) &&
					    (rw_rq_warn(q, f->line, "hashes of '%s' no longer "
						 "match; regenerate them (pip-compile "
						 "--generate-hashes)", f->spec) ||
					     rw_rq_lock(q, "pip-compile --generate-hashes")))
						return FERRY_ENOMEM;
				}
			}
		}
		pos = nl;
	}
	return 0;
}

/* ---- lists of requirement strings (TOML, JSON, Python) -------------- */

/* Process the array starting at s[i] == '['; returns the index after it. */
int rw_rq_array(struct rw_rq *q, size_t i, size_t *end)
{
	const char *s = q->s;
	size_t n = q->n, open = i, close;
	int inline_array;
	struct rw_found *prev = NULL;
	int rc;

	close = rw_toml_skip_value(s, n, i);
	inline_array = !memchr(s + open, '\n', close - open);
	i++;
	while (i < close) {
		char c = s[i];

		if (c == '#') {
			while (i < n && s[i] != '\n')
				i++;
			continue;
		}
		if (c == '"' || c == '\'') {
			size_t se = rw_toml_skip_string(s, n, i), k;
			int triple = se - i >= 6 && s[i + 1] == c && s[i + 2] == c;
			struct rw_found *f = NULL;

			if (!triple) {
				if ((rc = rw_rq_handle_req(q, i + 1, se - i - 2, 1, &f)))
					return rc;
			}
			if (f) {
				size_t ls = i, k2;

				while (ls > 0 && s[ls - 1] != '\n')
					ls--;
				f->quote = c;
				f->layout = RW_LAY_ARRAY;
				f->inline_array = inline_array;
				f->indent = ferry_strndup(s + ls, rw_skip_ws(s, n, ls) - ls);
				if (!f->indent)
					return FERRY_ENOMEM;
				/* after: past the ',' and any comment to EOL */
				k = rw_skip_ws(s, n, se);
				f->last_in_array = !(k < n && s[k] == ',');
				f->comma_at = se;
				if (inline_array) {
					f->after = se;
					f->eol = ferry_strdup("");
				} else {
					k2 = k;
					while (k2 < n && s[k2] != '\n' && s[k2] != ']')
						k2++;
					if (k2 < n && s[k2] == ']') {
						/* "x"] on one line: insert before ']' */
						f->after = se;
						f->inline_array = 1;
						f->eol = ferry_strdup("");
					} else {
						f->after = (k2 > 0 && s[k2 - 1] == '\r') ?
							   k2 - 1 : k2;
						f->eol = ferry_strndup(s + f->after,
								       (k2 < n ? k2 + 1 : n) - f->after);
					}
				}
				if (!f->eol)
					return FERRY_ENOMEM;
				f->line_b = ls;
				prev = f;
			}
			i = se;
			continue;
		}
		i++;
	}
	(void)prev;
	*end = close;
	return 0;
}

int ferry_rewrite_requirements(const ferry_recipe *r, int kind,
			       const char *text, size_t len,
			       struct ferry_buf *out, struct ferry_buf *notes,
			       int *changed, struct ferry_error *err)
{
	struct rw_rq q;
	size_t start = out->len;
	int rc;

	memset(&q, 0, sizeof(q));
	q.r = r;
	q.s = text;
	q.n = len;
	q.kind = kind;
	q.notes = notes;
	ferry_buf_init(&q.tmp, 0);
	ferry_error_clear(err);
	switch (kind) {
	case FERRY_REQ_PYPROJECT: rc = rw_decl_pyproject(&q, err); break;
	case FERRY_REQ_PIPFILE: rc = rw_decl_pipfile(&q, err); break;
	case FERRY_REQ_SETUP_CFG: rc = rw_decl_setup_cfg(&q, err); break;
	case FERRY_REQ_SETUP_PY: rc = rw_decl_setup_py(&q, err); break;
	case FERRY_REQ_MANIFEST: rc = rw_decl_manifest(&q, err); break;
	case FERRY_REQ_DOCKERFILE: rc = rw_decl_dockerfile(&q, err); break;
	default: rc = do_txt(&q); break;
	}
	if (!rc)
		rc = drop_duplicates(&q);
	if (!rc && q.hold) {
		/* a declaration this reader cannot rewrite: never half edit */
		*changed = 0;
		rc = ferry_buf_add(out, text, len) ? FERRY_ENOMEM : 0;
		goto fail;
	}
	if (!rc)
		rc = apply_adds(&q);
	if (!rc)
		rc = rw_edits_apply(&q.edits, text, len, out);
	if (!rc)
		*changed = out->len - start != len ||
			   memcmp(out->buf + start, text, len);
fail:
	if (rc && !(err && err->code))
		ferry_error_set(err, rc, "cannot rewrite requirements: %s",
				ferry_strerror(rc));
	rq_release(&q);
	return rc;
}
