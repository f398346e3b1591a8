/*
 * decl_toml.c - dependency declarations in TOML: pyproject.toml (PEP 621
 * arrays, build-system.requires, PDM and uv dev-dependencies, Hatch
 * environments, Poetry tables) and Pipfile.
 *
 * Debian ships no TOML library we may depend on, so this is a small
 * line-oriented reader: it validates what it walks (strings, arrays,
 * inline tables, keys, no table or key defined twice) and hands each
 * `key = value` with its table and byte spans to the format's handler.
 * It never builds a document: every edit is a byte range of the
 * original, so comments and layout stay as written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "decl_int.h"

#define TOML_MAX_DEPTH 64

/* ---- forgiving scanners (used on lists of every format) --------------- */

size_t rw_toml_skip_string(const char *s, size_t n, size_t i)
{
	char qch = s[i];
	int triple = i + 2 < n && s[i + 1] == qch && s[i + 2] == qch;

	if (triple) {
		for (i += 3; i + 2 < n; i++) {
			if (qch == '"' && s[i] == '\\') {
				i++;
				continue;
			}
			if (s[i] == qch && s[i + 1] == qch && s[i + 2] == qch) {
				i += 3;
				while (i < n && s[i] == qch)
					i++;
				return i;
			}
		}
		return n;
	}
	for (i++; i < n && s[i] != '\n'; i++) {
		if (qch == '"' && s[i] == '\\') {
			i++;
			continue;
		}
		if (s[i] == qch)
			return i + 1;
	}
	return i;
}

size_t rw_toml_skip_value(const char *s, size_t n, size_t i)
{
	int depth = 0;

	while (i < n) {
		char c = s[i];

		if (c == '"' || c == '\'') {
			i = rw_toml_skip_string(s, n, i);
			continue;
		}
		if (c == '#') {
			while (i < n && s[i] != '\n')
				i++;
			continue;
		}
		if (c == '[' || c == '{')
			depth++;
		else if (c == ']' || c == '}')
			depth--;
		else if (c == '\n' && depth <= 0)
			return i;
		i++;
		if (depth <= 0 && (c == ']' || c == '}'))
			return i;
	}
	return i;
}

/* ---- the validating reader -------------------------------------------- */

struct tw {
	const char *s;
	size_t n;
	size_t bad;          /* offset of the first error */
	const char *why;     /* its reason, NULL while none */
};

static int fail_at(struct tw *t, size_t at, const char *why)
{
	if (!t->why) {
		t->bad = at;
		t->why = why;
	}
	return -1;
}

static int bare_ch(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Blanks, newlines and comments (inside arrays and inline tables). */
static size_t skip_gap(const char *s, size_t n, size_t i)
{
	while (i < n) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
			i++;
		else if (s[i] == '#')
			while (i < n && s[i] != '\n')
				i++;
		else
			break;
	}
	return i;
}

/* A string at s[*i]; *i after it.  Strict: errors are reported. */
static int str_value(struct tw *t, size_t *i)
{
	const char *s = t->s;
	size_t n = t->n, b = *i, k;
	char q = s[b];
	int triple = b + 2 < n && s[b + 1] == q && s[b + 2] == q;

	if (triple) {
		k = rw_toml_skip_string(s, n, b);
		if (k >= n && !(n - b >= 6 && s[n - 1] == q && s[n - 2] == q &&
				s[n - 3] == q))
			return fail_at(t, b, "unterminated multi-line string");
		*i = k;
		return 0;
	}
	for (k = b + 1; k < n && s[k] != '\n'; k++) {
		if (q == '"' && s[k] == '\\') {
			k++;
			continue;
		}
		if (s[k] == q) {
			*i = k + 1;
			return 0;
		}
	}
	return fail_at(t, b, "unterminated string");
}

/*
 * A dotted key at s[*i] into name (unquoted, "." between parts); *parts
 * (may be NULL) is the number of parts: "a.b" quoted is one.
 */
static int key_path(struct tw *t, size_t *i, struct ferry_buf *name, int *parts)
{
	const char *s = t->s;
	size_t n = t->n, k = *i;

	ferry_buf_clear(name);
	if (parts)
		*parts = 1;
	for (;;) {
		k = rw_skip_ws(s, n, k);
		if (k < n && (s[k] == '"' || s[k] == '\'')) {
			size_t b = k;

			if (k + 2 < n && s[k + 1] == s[k] && s[k + 2] == s[k])
				return fail_at(t, k, "a key cannot be a multi-line string");
			if (str_value(t, &k))
				return -1;
			if (ferry_buf_add(name, s + b + 1, k - b - 2))
				return fail_at(t, b, "out of memory");
		} else if (k < n && bare_ch(s[k])) {
			size_t b = k;

			while (k < n && bare_ch(s[k]))
				k++;
			if (ferry_buf_add(name, s + b, k - b))
				return fail_at(t, b, "out of memory");
		} else {
			return fail_at(t, k, "bad key (bare keys are letters, digits, "
				       "'_' and '-'; quote others)");
		}
		k = rw_skip_ws(s, n, k);
		if (k < n && s[k] == '.') {
			if (ferry_buf_addch(name, '.'))
				return fail_at(t, k, "out of memory");
			if (parts)
				++*parts;
			k++;
			continue;
		}
		*i = k;
		return 0;
	}
}

static int value(struct tw *t, size_t *i, int depth);

static int array_value(struct tw *t, size_t *i, int depth)
{
	const char *s = t->s;
	size_t n = t->n, open = *i, k = *i + 1;

	for (;;) {
		k = skip_gap(s, n, k);
		if (k >= n)
			return fail_at(t, open, "unterminated array");
		if (s[k] == ']')
			break;
		if (value(t, &k, depth + 1))
			return -1;
		k = skip_gap(s, n, k);
		if (k < n && s[k] == ',') {
			k++;
			continue;
		}
		if (k < n && s[k] == ']')
			break;
		return fail_at(t, k < n ? k : open, k < n ?
			       "expected ',' or ']' in the array" : "unterminated array");
	}
	*i = k + 1;
	return 0;
}

static int table_value(struct tw *t, size_t *i, int depth)
{
	const char *s = t->s;
	size_t n = t->n, open = *i, k = *i + 1;
	struct ferry_buf key = FERRY_BUF_INIT;
	int rc = -1;

	k = skip_gap(s, n, k);
	if (k < n && s[k] == '}') {
		*i = k + 1;
		return 0;
	}
	for (;;) {
		k = skip_gap(s, n, k);
		if (k >= n) {
			fail_at(t, open, "unterminated inline table");
			goto out;
		}
		if (key_path(t, &k, &key, NULL))
			goto out;
		if (k >= n || s[k] != '=') {
			fail_at(t, k, "expected '=' after the key");
			goto out;
		}
		k = rw_skip_ws(s, n, k + 1);
		if (value(t, &k, depth + 1))
			goto out;
		k = skip_gap(s, n, k);
		if (k < n && s[k] == ',')
			k++;
		else if (k < n && s[k] == '}')
			break;
		else {
			fail_at(t, k < n ? k : open, k < n ? "expected ',' or '}' in "
				"the inline table" : "unterminated inline table");
			goto out;
		}
	}
	*i = k + 1;
	rc = 0;
out:
	ferry_buf_release(&key);
	return rc;
}

static int value(struct tw *t, size_t *i, int depth)
{
	const char *s = t->s;
	size_t n = t->n, b = *i, k = *i;

	if (depth > TOML_MAX_DEPTH)
		return fail_at(t, b, "nested too deeply");
	if (k >= n || s[k] == '\n' || s[k] == '\r' || s[k] == '#')
		return fail_at(t, b, "missing value");
	if (s[k] == '"' || s[k] == '\'')
		return str_value(t, i);
	if (s[k] == '[')
		return array_value(t, i, depth);
	if (s[k] == '{')
		return table_value(t, i, depth);
	while (k < n && (bare_ch(s[k]) || s[k] == '.' || s[k] == ':' ||
			 s[k] == '+'))
		k++;
	/* a date-time may have a blank between date and time */
	if (k < n && s[k] == ' ' && k - b == 10 && k + 1 < n &&
	    s[k + 1] >= '0' && s[k + 1] <= '9')
		for (k++; k < n && (bare_ch(s[k]) || s[k] == '.' ||
				    s[k] == ':' || s[k] == '+'); k++)
			;
	if (k == b)
		return fail_at(t, b, "bad value (strings need quotes)");
	if (!((s[b] >= '0' && s[b] <= '9') || s[b] == '+' || s[b] == '-' ||
	      (k - b == 4 && !memcmp(s + b, "true", 4)) ||
	      (k - b == 5 && !memcmp(s + b, "false", 5)) ||
	      (k - b == 3 && (!memcmp(s + b, "inf", 3) || !memcmp(s + b, "nan", 3)))))
		return fail_at(t, b, "bad value (strings need quotes)");
	*i = k;
	return 0;
}

/* What the walk hands to a format: a header or a key = value. */
struct tent {
	const char *table;   /* dotted, unquoted */
	const char *key;     /* dotted, unquoted; NULL for a header */
	size_t kb, ke;       /* the key (or header) as written */
	size_t vb, ve;       /* the value */
	int line;
	int parts;           /* parts of the key: a.b = 1 is two */
};

typedef int (*tent_fn)(struct rw_rq *q, const struct tent *e,
		       struct ferry_error *err);

/*
 * Names defined in the file, for "defined twice": tables (by name) and
 * keys (by the header they follow and their name), checked once sorted
 * at the end so that large files stay n log n.
 */
struct defd {
	char *name;          /* table, or "<header seq>\001<key>" */
	const char *table;   /* for the message (points into name or tabs) */
	size_t off;
	int is_key;
};

struct defs {
	struct defd *v;
	size_t n, cap;
};

static int defs_add(struct defs *d, int is_key, size_t seq, const char *table,
		    const char *name, size_t off)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	struct defd *x;

	if (FERRY_GROW(d->v, d->cap, d->n + 1))
		return FERRY_ENOMEM;
	if (is_key ? ferry_buf_addf(&b, "%zu\001%s", seq, name) ||
		     ferry_buf_add(&b, "", 1) || ferry_buf_addstr(&b, table) :
		     ferry_buf_addstr(&b, name)) {
		ferry_buf_release(&b);
		return FERRY_ENOMEM;
	}
	x = &d->v[d->n++];
	/* a key is "<seq>\001<key>\0<table>": one block for both */
	x->name = ferry_malloc(b.len + 1);
	if (x->name) {
		memcpy(x->name, b.buf, b.len);
		x->name[b.len] = '\0';
	}
	x->table = x->name && is_key ? x->name + strlen(x->name) + 1 : x->name;
	x->off = off;
	x->is_key = is_key;
	ferry_buf_release(&b);
	if (!x->name) {
		d->n--;
		return FERRY_ENOMEM;
	}
	return 0;
}

static int defd_cmp(const void *a, const void *b)
{
	const struct defd *x = a, *y = b;
	int c = x->is_key - y->is_key;

	if (!c)
		c = strcmp(x->name, y->name);
	if (!c)
		c = x->off < y->off ? -1 : x->off > y->off;
	return c;
}

/* The first name (in file order) defined a second time, or NULL. */
static const struct defd *defs_twice(struct defs *d)
{
	const struct defd *first = NULL;
	size_t i;

	if (d->n)
		qsort(d->v, d->n, sizeof(*d->v), defd_cmp);
	for (i = 1; i < d->n; i++)
		if (d->v[i].is_key == d->v[i - 1].is_key &&
		    !strcmp(d->v[i].name, d->v[i - 1].name) &&
		    (!first || d->v[i].off < first->off))
			first = &d->v[i];
	return first;
}

static void defs_release(struct defs *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		ferry_free(d->v[i].name);
	ferry_free(d->v);
}

/* End of the line at i: only blanks and a comment may follow a value. */
static int line_end(struct tw *t, size_t *i, const char *what)
{
	const char *s = t->s;
	size_t n = t->n, k = rw_skip_ws(s, n, *i);

	if (k < n && s[k] == '#')
		while (k < n && s[k] != '\n')
			k++;
	if (k < n && s[k] == '\r' && k + 1 < n && s[k + 1] == '\n')
		k++;
	if (k < n && s[k] != '\n')
		return fail_at(t, k, what);
	*i = k < n ? k + 1 : n;
	return 0;
}

static int walk(struct rw_rq *q, tent_fn fn, const char *file,
		struct ferry_error *err)
{
	struct tw t = { q->s, q->n, 0, NULL };
	const char *s = q->s;
	size_t n = q->n, i = 0;
	struct ferry_buf table = FERRY_BUF_INIT, key = FERRY_BUF_INIT;
	struct defs defs = { NULL, 0, 0 };
	const struct defd *twice;
	char dup[160];
	size_t seen = 0, seq = 0;
	int rc = 0, line = 1;

	while (i < n && !t.why && !rc) {
		struct tent e;

		i = rw_skip_ws(s, n, i);
		if (i >= n)
			break;
		if (s[i] == '\n' || s[i] == '\r' || s[i] == '#') {
			line_end(&t, &i, "stray carriage return");
			continue;
		}
		memset(&e, 0, sizeof(e));
		/* lines counted as the walk goes: large files stay linear */
		for (; seen < i; seen++)
			line += s[seen] == '\n';
		e.line = line;
		if (s[i] == '[') {
			int arr = i + 1 < n && s[i + 1] == '[';
			size_t hb = i;

			i += arr ? 2 : 1;
			if (key_path(&t, &i, &table, NULL))
				break;
			if (i >= n || s[i] != ']' || (arr && (i + 1 >= n || s[i + 1] != ']'))) {
				fail_at(&t, i, arr ? "expected ']]' to close the table "
					"header" : "expected ']' to close the table header");
				break;
			}
			i += arr ? 2 : 1;
			e.kb = hb;
			e.ke = i;
			if (line_end(&t, &i, "text after the table header"))
				break;
			if (!arr && defs_add(&defs, 0, 0, "", table.buf, hb)) {
				rc = FERRY_ENOMEM;
				break;
			}
			seq++;
			e.table = table.buf;
			if (fn)
				rc = fn(q, &e, err);
			continue;
		}
		e.kb = i;
		if (key_path(&t, &i, &key, &e.parts))
			break;
		e.ke = i;
		while (e.ke > e.kb && rw_ws(s[e.ke - 1]))
			e.ke--;
		if (i >= n || s[i] != '=') {
			fail_at(&t, i, "expected '=' after the key");
			break;
		}
		i = rw_skip_ws(s, n, i + 1);
		e.vb = i;
		if (value(&t, &i, 0))
			break;
		e.ve = i;
		if (line_end(&t, &i, "text after the value"))
			break;
		if (defs_add(&defs, 1, seq, table.buf, key.buf, e.kb)) {
			rc = FERRY_ENOMEM;
			break;
		}
		e.table = table.buf;
		e.key = key.buf;
		if (fn)
			rc = fn(q, &e, err);
	}
	if (!t.why && !rc && (twice = defs_twice(&defs))) {
		if (twice->is_key)
			snprintf(dup, sizeof(dup), "key '%s' is defined twice in [%s]",
				 strchr(twice->name, 1) + 1, twice->table);
		else
			snprintf(dup, sizeof(dup), "table [%s] is defined twice",
				 twice->name);
		fail_at(&t, twice->off, dup);
	}
	if (t.why && !rc)
		rc = ferry_error_set(err, FERRY_EPARSE, "line %d: not valid %s: %s",
				     rw_line_of(s, t.bad), file, t.why);
	ferry_buf_release(&table);
	ferry_buf_release(&key);
	defs_release(&defs);
	return rc;
}

int rw_toml_check(const char *s, size_t n, struct ferry_error *err)
{
	struct rw_rq q;

	memset(&q, 0, sizeof(q));
	q.s = s;
	q.n = n;
	return walk(&q, NULL, "TOML", err);
}

/* ---- keyed tables: Poetry and Pipfile --------------------------------- */

int rw_keyed_spec(const char *pin, int poetry, struct ferry_buf *out)
{
	if (!pin[0])
		return ferry_buf_addch(out, '*');
	/* Poetry's exact version is bare; anything else is PEP 440 there too */
	if (poetry && !strncmp(pin, "==", 2) && !strpbrk(pin + 2, ",*;") &&
	    pin[2] >= '0' && pin[2] <= '9')
		return ferry_buf_addstr(out, pin + 2);
	return ferry_buf_addstr(out, pin);
}

/* Inside of the string value s[b, e) (quotes excluded) into *ib, *ie. */
static int string_inside(const char *s, size_t b, size_t e, size_t *ib,
			 size_t *ie)
{
	if (e - b < 2 || (s[b] != '"' && s[b] != '\'') || s[e - 1] != s[b])
		return -1;
	if (e - b >= 6 && s[b + 1] == s[b] && s[b + 2] == s[b])
		return -1;   /* multi-line: not a version */
	*ib = b + 1;
	*ie = e - 1;
	return 0;
}

/* Pairs of an inline table we care about. */
struct itab {
	size_t ver_b, ver_e;       /* inside of version = "..." (0, 0: none) */
	const char *source;        /* "git", "path", "url", "file" or NULL */
	struct ferry_buf marker;   /* ", markers = ..., python = ..." */
};

static int scan_itab(const char *s, size_t n, size_t b, size_t e, struct itab *it)
{
	struct tw t = { s, n, 0, NULL };
	struct ferry_buf key = FERRY_BUF_INIT;
	size_t k = b + 1;
	int rc = 0;

	while (k < e) {
		size_t kb, vb, ve;

		k = skip_gap(s, e, k);
		if (k >= e || s[k] == '}')
			break;
		kb = k;
		if (key_path(&t, &k, &key, NULL) || k >= e || s[k] != '=')
			break;
		vb = k = rw_skip_ws(s, e, k + 1);
		if (value(&t, &k, 1))
			break;
		ve = k;
		if (!strcmp(key.buf, "version") &&
		    string_inside(s, vb, ve, &it->ver_b, &it->ver_e))
			it->ver_b = it->ver_e = 0;
		else if (!strcmp(key.buf, "git") || !strcmp(key.buf, "path") ||
			 !strcmp(key.buf, "url") || !strcmp(key.buf, "file"))
			it->source = !strcmp(key.buf, "git") ? "git" :
				     !strcmp(key.buf, "path") ? "path" :
				     !strcmp(key.buf, "url") ? "url" : "file";
		else if ((!strcmp(key.buf, "markers") || !strcmp(key.buf, "python")) &&
			 ferry_buf_addf(&it->marker, ", %.*s", (int)(ve - kb), s + kb))
			rc = FERRY_ENOMEM;
		k = skip_gap(s, e, k);
		if (k < e && s[k] == ',')
			k++;
	}
	ferry_buf_release(&key);
	return rc;
}

int rw_rq_keyed(struct rw_rq *q, size_t kb, size_t ke, size_t vb, size_t ve,
		int line, int poetry)
{
	const char *s = q->s;
	const struct rw_replace *rule;
	struct ferry_buf nb = FERRY_BUF_INIT;
	struct itab it;
	struct rw_found *f;
	size_t nmb = kb, nme = ke, ib = 0, ie = 0, le, ls;
	int rc = 0, other = 0;

	memset(&it, 0, sizeof(it));
	ferry_buf_init(&it.marker, 0);
	if (ke - kb >= 2 && (s[kb] == '"' || s[kb] == '\'') && s[ke - 1] == s[kb]) {
		nmb++;
		nme--;
	}
	ferry_buf_clear(&q->tmp);
	if (ferry_pip_normalize(s + nmb, nme - nmb, &q->tmp))
		return FERRY_ENOMEM;
	if (poetry && !strcmp(q->tmp.buf, "python"))
		return 0;
	f = rw_rq_add_found(q);
	if (!f)
		return FERRY_ENOMEM;
	f->layout = RW_LAY_KEYED;
	f->poetry = poetry;
	f->edit_b = f->edit_e = q->edits.n;
	f->line = line;
	f->orig_norm = ferry_strdup(q->tmp.buf);
	for (ls = kb; ls > 0 && s[ls - 1] != '\n'; ls--)
		;
	f->line_b = ls;
	f->indent = ferry_strndup(s + ls, kb - ls);
	for (le = ve; le < q->n && s[le] != '\n'; le++)
		;
	f->after = le > ve && s[le - 1] == '\r' ? le - 1 : le;
	f->eol = ferry_strndup(s + f->after, (le < q->n ? le + 1 : le) - f->after);
	if (!f->orig_norm || !f->indent || !f->eol)
		goto nomem;
	if (s[vb] == '{') {
		if (scan_itab(s, q->n, vb, ve, &it))
			goto nomem;
		ib = it.ver_b;
		ie = it.ver_e;
	} else if (s[vb] == '[' || string_inside(s, vb, ve, &ib, &ie)) {
		other = 1;
		ib = ie = 0;
	}
	/* the spec as pip would read it, for "kept; the recipe wants" */
	if (ferry_buf_add(&nb, s + nmb, nme - nmb) ||
	    (ie > ib && poetry && s[ib] >= '0' && s[ib] <= '9' &&
	     ferry_buf_addstr(&nb, "==")) ||
	    (ie > ib && !(ie - ib == 1 && s[ib] == '*') &&
	     ferry_buf_add(&nb, s + ib, ie - ib)))
		goto nomem;
	f->spec = ferry_strdup(nb.buf);
	f->marker = ferry_strdup(it.marker.len ? it.marker.buf : "");
	if (!f->spec || !f->marker)
		goto nomem;
	rule = rw_find_replace(q->r, f->orig_norm);
	f->norm = ferry_strdup(rule ? rule->to_norm : f->orig_norm);
	if (!f->norm)
		goto nomem;
	if (!rule)
		goto out;
	if (s[vb] == '[') {
		rc = rw_rq_partial(q, f->line, "'%.*s' has several constraints; "
				   "replace them by '%s' by hand", (int)(nme - nmb),
				   s + nmb, rule->to);
		goto out;
	}
	if (it.source) {
		rc = rw_rq_partial(q, f->line, "'%.*s' is a %s dependency; replace "
				   "it by '%s' by hand", (int)(nme - nmb), s + nmb,
				   it.source, rule->to);
		goto out;
	}
	if (other) {
		rc = rw_rq_partial(q, f->line, "'%.*s' has a value ferry cannot "
				   "read; replace it by '%s' by hand",
				   (int)(nme - nmb), s + nmb, rule->to);
		goto out;
	}
	if (rw_edits_add(&q->edits, nmb, nme - nmb, rule->to, strlen(rule->to)))
		goto nomem;
	ferry_buf_clear(&nb);
	if (s[vb] != '{' || it.ver_b) {
		/* a string value, or the version of an inline table */
		if (rw_keyed_spec(rule->pin, poetry, &nb) ||
		    rw_edits_add(&q->edits, ib, ie - ib, nb.buf, nb.len))
			goto nomem;
	} else {
		/* an inline table without a version gets the recipe's */
		size_t at = skip_gap(s, ve, vb + 1);

		if (ferry_buf_addstr(&nb, "version = \"") ||
		    rw_keyed_spec(rule->pin, poetry, &nb) ||
		    ferry_buf_addstr(&nb, s[at] == '}' ? "\" " : "\", ") ||
		    rw_edits_add(&q->edits, at, 0, nb.buf, nb.len))
			goto nomem;
	}
	if (rule->comment && !memchr(s + ve, '#', f->after - ve)) {
		ferry_buf_clear(&nb);
		if (ferry_buf_addf(&nb, "  # %s", rule->comment) ||
		    rw_edits_add(&q->edits, f->after, 0, nb.buf, nb.len))
			goto nomem;
	}
	f->edit_e = q->edits.n;
	rc = rw_rq_note(q, "%.*s -> %s%s", (int)(nme - nmb), s + nmb, rule->to,
			rule->pin);
	goto out;
nomem:
	rc = FERRY_ENOMEM;
out:
	ferry_buf_release(&nb);
	ferry_buf_release(&it.marker);
	return rc;
}

/* ---- pyproject.toml --------------------------------------------------- */

static int dep_array(const char *table, const char *key)
{
	if (!strcmp(table, "project"))
		return !strcmp(key, "dependencies") ||
		       !strncmp(key, "optional-dependencies.", 22);
	if (!strcmp(table, "build-system"))
		return !strcmp(key, "requires");
	if (!strcmp(table, "tool.uv"))
		return !strcmp(key, "dev-dependencies");
	/* Hatch environments: [tool.hatch.envs.<env>] */
	if (!strncmp(table, "tool.hatch.envs.", 16) && !strchr(table + 16, '.'))
		return !strcmp(key, "dependencies") ||
		       !strcmp(key, "extra-dependencies");
	return !strcmp(table, "project.optional-dependencies") ||
	       !strcmp(table, "dependency-groups") ||
	       !strcmp(table, "tool.pdm.dev-dependencies");
}

/* [tool.poetry.dependencies], dev-dependencies, group.<g>.dependencies */
static int poetry_table(const char *t)
{
	size_t n = strlen(t);

	if (!strcmp(t, "tool.poetry.dependencies") ||
	    !strcmp(t, "tool.poetry.dev-dependencies"))
		return 1;
	return !strncmp(t, "tool.poetry.group.", 18) && n > 31 &&
	       !strcmp(t + n - 13, ".dependencies") &&
	       !memchr(t + 18, '.', n - 13 - 18);
}

/* [tool.poetry.dependencies.<pkg>]: the package of such a subtable */
static const char *poetry_subtable(const char *t)
{
	const char *dot = strrchr(t, '.');
	size_t n;

	if (!dot)
		return NULL;
	n = (size_t)(dot - t);
	if ((n == 24 && !strncmp(t, "tool.poetry.dependencies", 24)) ||
	    (n == 28 && !strncmp(t, "tool.poetry.dev-dependencies", 28)))
		return dot + 1;
	if (n > 31 && !strncmp(t, "tool.poetry.group.", 18) &&
	    !strncmp(t + n - 13, ".dependencies", 13) &&
	    !memchr(t + 18, '.', n - 13 - 18))
		return dot + 1;
	return NULL;
}

/* Poetry extras list package names only: rename, never pin. */
static int poetry_extras(struct rw_rq *q, size_t b, size_t e)
{
	const char *s = q->s;
	size_t i = b + 1;

	while (i < e) {
		if (s[i] == '#') {
			while (i < e && s[i] != '\n')
				i++;
			continue;
		}
		if (s[i] == '"' || s[i] == '\'') {
			size_t se = rw_toml_skip_string(s, q->n, i);
			const struct rw_replace *rule;

			ferry_buf_clear(&q->tmp);
			if (se > i + 1 &&
			    ferry_pip_normalize(s + i + 1, se - i - 2, &q->tmp))
				return FERRY_ENOMEM;
			rule = q->tmp.len ? rw_find_replace(q->r, q->tmp.buf) : NULL;
			if (rule && rw_edits_add(&q->edits, i + 1, se - i - 2,
						 rule->to, strlen(rule->to)))
				return FERRY_ENOMEM;
			i = se;
			continue;
		}
		i++;
	}
	return 0;
}

/*
 * Close the open [tool.poetry.dependencies.<pkg>] table: a replaced
 * package without a version key gets the recipe's.
 */
static int sub_close(struct rw_rq *q)
{
	struct ferry_buf nb = FERRY_BUF_INIT;
	int rc = 0;

	if (q->sub.rule && !q->sub.has_version && !q->sub.source) {
		if (ferry_buf_addstr(&nb, "version = \"") ||
		    rw_keyed_spec(q->sub.rule->pin, 1, &nb) ||
		    ferry_buf_addstr(&nb, "\"\n") ||
		    rw_edits_add(&q->edits, q->sub.body, 0, nb.buf, nb.len))
			rc = FERRY_ENOMEM;
	}
	ferry_buf_release(&nb);
	ferry_free(q->sub.table);
	memset(&q->sub, 0, sizeof(q->sub));
	return rc;
}

/* The header of [tool.poetry.dependencies.<pkg>] (pkg as written last). */
static int sub_open(struct rw_rq *q, const struct tent *e, const char *pkg)
{
	const char *s = q->s;
	const struct rw_replace *rule;
	struct rw_found *f;
	size_t pe = e->ke, pb, le;

	ferry_buf_clear(&q->tmp);
	if (ferry_pip_normalize(pkg, strlen(pkg), &q->tmp))
		return FERRY_ENOMEM;
	rule = rw_find_replace(q->r, q->tmp.buf);
	f = rw_rq_add_found(q);
	if (!f)
		return FERRY_ENOMEM;
	f->layout = RW_LAY_KEYED;
	f->table_form = 1;
	f->poetry = 1;
	f->line = e->line;
	f->edit_b = f->edit_e = q->edits.n;
	f->orig_norm = ferry_strdup(q->tmp.buf);
	f->norm = ferry_strdup(rule ? rule->to_norm : q->tmp.buf);
	f->spec = ferry_strdup(pkg);
	f->marker = ferry_strdup("");
	f->indent = ferry_strdup("");
	f->eol = ferry_strdup("");
	if (!f->orig_norm || !f->norm || !f->spec || !f->marker || !f->indent ||
	    !f->eol)
		return FERRY_ENOMEM;
	for (le = e->ke; le < q->n && s[le] != '\n'; le++)
		;
	f->line_b = f->after = le;
	if (!rule)
		return 0;
	/* the last key part of the header: before the ']' */
	while (pe > e->kb && s[pe - 1] == ']')
		pe--;
	while (pe > e->kb && rw_ws(s[pe - 1]))
		pe--;
	if (pe > e->kb && (s[pe - 1] == '"' || s[pe - 1] == '\'')) {
		char qc = s[--pe];

		for (pb = pe; pb > e->kb && s[pb - 1] != qc; pb--)
			;
	} else {
		for (pb = pe; pb > e->kb && s[pb - 1] != '.' && s[pb - 1] != '[' &&
		     !rw_ws(s[pb - 1]); pb--)
			;
	}
	if (rw_edits_add(&q->edits, pb, pe - pb, rule->to, strlen(rule->to)))
		return FERRY_ENOMEM;
	f->edit_e = q->edits.n;
	q->sub.rule = rule;
	q->sub.table = ferry_strdup(e->table);
	q->sub.body = le < q->n ? le + 1 : le;
	q->sub.line = e->line;
	if (!q->sub.table)
		return FERRY_ENOMEM;
	return rw_rq_note(q, "%s -> %s%s", pkg, rule->to, rule->pin);
}

/* A key of the open [tool.poetry.dependencies.<pkg>] table. */
static int sub_key(struct rw_rq *q, const struct tent *e)
{
	struct ferry_buf nb = FERRY_BUF_INIT;
	size_t ib, ie;
	int rc = 0;

	if (!strcmp(e->key, "version")) {
		q->sub.has_version = 1;
		if (string_inside(q->s, e->vb, e->ve, &ib, &ie))
			return rw_rq_partial(q, e->line, "the version of [%s] is no "
					     "string; replace it by hand", e->table);
		if (rw_keyed_spec(q->sub.rule->pin, 1, &nb) ||
		    rw_edits_add(&q->edits, ib, ie - ib, nb.buf, nb.len))
			rc = FERRY_ENOMEM;
		ferry_buf_release(&nb);
		return rc;
	}
	if (!strcmp(e->key, "git") || !strcmp(e->key, "path") ||
	    !strcmp(e->key, "url") || !strcmp(e->key, "file")) {
		q->sub.source = 1;
		return rw_rq_partial(q, e->line, "[%s] is a %s dependency; replace "
				     "it by '%s' by hand", e->table, e->key,
				     q->sub.rule->to);
	}
	return 0;
}

static int pyproject_ent(struct rw_rq *q, const struct tent *e,
			 struct ferry_error *err)
{
	size_t end;
	const char *pkg;
	int rc;

	(void)err;
	if (!e->key) {
		if ((rc = sub_close(q)))
			return rc;
		pkg = poetry_subtable(e->table);
		return pkg ? sub_open(q, e, pkg) : 0;
	}
	if (q->sub.rule && !strcmp(e->table, q->sub.table))
		return sub_key(q, e);
	if (q->s[e->vb] == '[' && dep_array(e->table, e->key))
		return rw_rq_array(q, e->vb, &end);
	if (!strcmp(e->table, "tool.poetry.extras") && q->s[e->vb] == '[')
		return poetry_extras(q, e->vb, e->ve);
	if (poetry_table(e->table) && e->parts == 1)
		return rw_rq_keyed(q, e->kb, e->ke, e->vb, e->ve, e->line, 1);
	return 0;
}

int rw_decl_pyproject(struct rw_rq *q, struct ferry_error *err)
{
	int rc = walk(q, pyproject_ent, "TOML", err);

	return rc ? rc : sub_close(q);
}

/* ---- Pipfile ---------------------------------------------------------- */

static int pipfile_packages(const char *t)
{
	size_t n = strlen(t);

	/* pipenv categories: [packages], [dev-packages], [<name>-packages] */
	return !strcmp(t, "packages") ||
	       (n > 9 && !strcmp(t + n - 9, "-packages") && !strchr(t, '.'));
}

static int pipfile_ent(struct rw_rq *q, const struct tent *e,
		       struct ferry_error *err)
{
	static const char *const known[] = { "source", "requires", "scripts",
					      "pipenv", NULL };
	const char *root = e->table;
	size_t i;

	if (!e->key) {
		if (pipfile_packages(root))
			return 0;
		for (i = 0; known[i]; i++)
			if (!strcmp(root, known[i]))
				return 0;
		return ferry_error_set(err, FERRY_EPARSE, "line %d: unknown "
				       "section [%s] in a Pipfile (known: [packages], "
				       "[dev-packages], [<category>-packages], [source], "
				       "[requires], [scripts], [pipenv])", e->line, root);
	}
	if (pipfile_packages(e->table) && e->parts == 1)
		return rw_rq_keyed(q, e->kb, e->ke, e->vb, e->ve, e->line, 0);
	return 0;
}

int rw_decl_pipfile(struct rw_rq *q, struct ferry_error *err)
{
	return walk(q, pipfile_ent, "TOML", err);
}
