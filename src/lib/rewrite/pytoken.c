/*
 * pytoken.c - a Python tokenizer and the module rename built on it.
 *
 * The rename must never touch text inside strings (any prefix, single or
 * triple quoted, f-strings with nested expressions and quotes as Python
 * 3.12 allows), comments, or longer identifiers, so it works on real
 * tokens: only NAME tokens of import statements and of dotted attribute
 * chains are rewritten, and every other byte is copied through.  The
 * tokenizer does not track indentation (nothing here needs it) but does
 * track bracket depth, so NEWLINE marks the end of a logical line exactly
 * as Python's own tokenizer does.
 */
#include <stdio.h>
#include <string.h>

#include "ferry/alloc.h"
#include "model/value.h"
#include "rewrite_int.h"

/* The UTF-8 rule is model's (val_utf8_prefix); a NUL byte is the
 * caller's to refuse with its own message, so it passes here. */
int rw_utf8_check(const char *str, size_t n, int *bad_line)
{
	size_t ok = val_utf8_prefix(str, n, 1, NULL), i;
	int line = 1;

	if (ok == n)
		return 0;
	for (i = 0; i < ok; i++)
		if (str[i] == '\n')
			line++;
	*bad_line = line;
	return -1;
}

/* ---- tokenizer -------------------------------------------------------- */

static int is_id_start(unsigned char c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c >= 0x80;
}

static int is_id(unsigned char c)
{
	return is_id_start(c) || (c >= '0' && c <= '9');
}

static int is_string_prefix(const char *s, size_t n)
{
	static const char *const prefixes[] = { "r", "u", "b", "f", "t", "br",
		"rb", "fr", "rf", "tr", "rt", NULL };
	const char *const *p;
	char low[3];
	size_t i;

	if (n > 2)
		return 0;
	for (i = 0; i < n; i++)
		low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
	low[n] = '\0';
	for (p = prefixes; *p; p++)
		if (!strcmp(*p, low))
			return 1;
	return 0;
}

struct tz {
	const char *s;
	size_t n;
	int line;
	struct ferry_error *err;
};

static int scan_string(struct tz *z, size_t *pos, int fmt);

/* Inside an f-string replacement field, after '{'; stops after its '}'. */
static int scan_fexpr(struct tz *z, size_t *pos)
{
	size_t i = *pos;
	int depth = 0;
	int rc;

	while (i < z->n) {
		unsigned char c = (unsigned char)z->s[i];

		if (c == '\n') {
			z->line++;
			i++;
		} else if (c == '"' || c == '\'') {
			if ((rc = scan_string(z, &i, 0)))
				return rc;
		} else if (is_id_start(c)) {
			size_t b = i;

			while (i < z->n && is_id((unsigned char)z->s[i]))
				i++;
			if (i < z->n && (z->s[i] == '"' || z->s[i] == '\'') &&
			    is_string_prefix(z->s + b, i - b)) {
				int f = memchr(z->s + b, 'f', i - b) ||
					memchr(z->s + b, 'F', i - b) ||
					memchr(z->s + b, 't', i - b) ||
					memchr(z->s + b, 'T', i - b);

				if ((rc = scan_string(z, &i, f)))
					return rc;
			}
		} else if (c == '{' || c == '[' || c == '(') {
			depth++;
			i++;
		} else if (c == ']' || c == ')') {
			depth--;
			i++;
		} else if (c == '}') {
			i++;
			if (depth-- == 0) {
				*pos = i;
				return 0;
			}
		} else {
			i++;
		}
	}
	*pos = i;
	return 0;
}

/*
 * Scan a string whose opening quote is at *pos; leave *pos after it.
 * Backslashes always skip the next byte for scanning, raw or not: a raw
 * string cannot end in an odd backslash either.
 */
static int scan_string(struct tz *z, size_t *pos, int fmt)
{
	const char *s = z->s;
	size_t i = *pos;
	char q = s[i];
	int start_line = z->line;
	int triple = i + 2 < z->n && s[i + 1] == q && s[i + 2] == q;
	int rc;

	i += triple ? 3 : 1;
	while (i < z->n) {
		char c = s[i];

		if (c == '\\') {
			if (i + 1 < z->n && s[i + 1] == '\n')
				z->line++;
			i += 2;
			continue;
		}
		if (c == '\n') {
			if (!triple)
				break;
			z->line++;
			i++;
			continue;
		}
		if (fmt && c == '{') {
			if (i + 1 < z->n && s[i + 1] == '{') {
				i += 2;
				continue;
			}
			i++;
			if ((rc = scan_fexpr(z, &i)))
				return rc;
			continue;
		}
		if (c == q) {
			if (!triple) {
				*pos = i + 1;
				return 0;
			}
			if (i + 2 < z->n && s[i + 1] == q && s[i + 2] == q) {
				*pos = i + 3;
				return 0;
			}
		}
		i++;
	}
	ferry_error_origin(z->err, "line %d", start_line);
	return ferry_error_set(z->err, FERRY_EPARSE,
			       "unterminated string starting at line %d",
			       start_line);
}

static int push(struct pyt_tokens *t, int kind, size_t off, size_t len,
		int line, int depth)
{
	if (FERRY_GROW(t->v, t->cap, t->n + 1))
		return FERRY_ENOMEM;
	t->v[t->n].kind = kind;
	t->v[t->n].off = off;
	t->v[t->n].len = len;
	t->v[t->n].line = line;
	t->v[t->n].depth = depth;
	t->n++;
	return 0;
}

static size_t op_len(const char *s, size_t n)
{
	static const char *const ops3[] = { "**=", "//=", ">>=", "<<=", "...",
		NULL };
	static const char *const ops2[] = { "==", "!=", "<=", ">=", "**", "//",
		"<<", ">>", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=",
		"->", ":=", NULL };
	const char *const *p;

	for (p = ops3; *p; p++)
		if (n >= 3 && !memcmp(s, *p, 3))
			return 3;
	for (p = ops2; *p; p++)
		if (n >= 2 && !memcmp(s, *p, 2))
			return 2;
	return 1;
}

int rw_pyt_tokenize(const char *s, size_t n, struct pyt_tokens *out,
		 struct ferry_error *err)
{
	struct tz z = { s, n, 1, err };
	size_t i = 0;
	int depth = 0, content = 0;
	int rc;

	if (n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t b = i;
		int line = z.line;

		if (c == ' ' || c == '\t' || c == '\f') {
			i++;
		} else if (c == '\\' && i + 1 < n &&
			   (s[i + 1] == '\n' || (s[i + 1] == '\r' && i + 2 < n &&
						 s[i + 2] == '\n'))) {
			i += s[i + 1] == '\n' ? 2 : 3;
			z.line++;
		} else if (c == '\n' || c == '\r') {
			if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
				i++;
			i++;
			rc = push(out, depth == 0 && content ? PYT_NEWLINE : PYT_NL,
				  b, i - b, line, depth);
			if (rc)
				return ferry_error_set(err, rc, "out of memory");
			if (depth == 0)
				content = 0;
			z.line++;
		} else if (c == '#') {
			while (i < n && s[i] != '\n' && s[i] != '\r')
				i++;
			if (push(out, PYT_COMMENT, b, i - b, line, depth))
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		} else if (is_id_start(c)) {
			while (i < n && is_id((unsigned char)s[i]))
				i++;
			if (i < n && (s[i] == '"' || s[i] == '\'') &&
			    is_string_prefix(s + b, i - b)) {
				int f = memchr(s + b, 'f', i - b) ||
					memchr(s + b, 'F', i - b) ||
					memchr(s + b, 't', i - b) ||
					memchr(s + b, 'T', i - b);

				if ((rc = scan_string(&z, &i, f)))
					return rc;
				rc = push(out, PYT_STRING, b, i - b, line, depth);
			} else {
				rc = push(out, PYT_NAME, b, i - b, line, depth);
			}
			if (rc)
				return ferry_error_set(err, rc, "out of memory");
			content = 1;
		} else if ((c >= '0' && c <= '9') ||
			   (c == '.' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')) {
			int hex = c == '0' && i + 1 < n && (s[i + 1] == 'x' || s[i + 1] == 'X');

			i++;
			while (i < n && (is_id((unsigned char)s[i]) || s[i] == '.' ||
					 ((s[i] == '+' || s[i] == '-') && !hex &&
					  (s[i - 1] == 'e' || s[i - 1] == 'E'))))
				i++;
			if (push(out, PYT_NUMBER, b, i - b, line, depth))
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			content = 1;
		} else if (c == '"' || c == '\'') {
			if ((rc = scan_string(&z, &i, 0)))
				return rc;
			if (push(out, PYT_STRING, b, i - b, line, depth))
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			content = 1;
		} else {
			size_t l = op_len(s + i, n - i);

			if (c == '(' || c == '[' || c == '{')
				depth++;
			if (push(out, PYT_OP, b, l, line, depth))
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			if ((c == ')' || c == ']' || c == '}') && depth > 0)
				depth--;
			i += l;
			content = 1;
		}
	}
	if (content && push(out, PYT_NEWLINE, n, 0, z.line, 0))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

size_t *rw_pyt_significant(const struct pyt_tokens *t, size_t *n)
{
	size_t *sig = ferry_calloc(t->n + 1, sizeof(*sig)), i;

	*n = 0;
	if (!sig)
		return NULL;
	for (i = 0; i < t->n; i++)
		if (t->v[i].kind != PYT_NL && t->v[i].kind != PYT_COMMENT)
			sig[(*n)++] = i;
	return sig;
}

void rw_pyt_tokens_release(struct pyt_tokens *t)
{
	ferry_free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}

/* ---- the rename ------------------------------------------------------- */

struct py {
	const struct ferry_recipe *r;
	const char *s;
	struct pyt_tokens t;
	size_t *sig;         /* indexes of tokens other than NL and COMMENT */
	size_t nsig;
	struct rw_edits edits;
	size_t *count;       /* rewrites per rename rule */
	int *bare;           /* per rule: plain `import <from>` seen */
};

static int tok_eq(const struct py *p, size_t k, const char *text)
{
	const struct pyt_token *t;

	if (k >= p->nsig)
		return 0;
	t = &p->t.v[p->sig[k]];
	return strlen(text) == t->len && !memcmp(p->s + t->off, text, t->len);
}

static int tok_kind(const struct py *p, size_t k)
{
	return k < p->nsig ? p->t.v[p->sig[k]].kind : 0;
}

/* Number of components of dotted name d. */
static size_t ncomp(const char *d)
{
	size_t n = 1;

	for (; *d; d++)
		n += *d == '.';
	return n;
}

/*
 * Does rule `from` match the dotted chain at sig[k] (NAME . NAME ...)?
 * Returns the number of sig tokens the match covers (0 = no match).
 */
static size_t match_chain(const struct py *p, size_t k, const char *from)
{
	size_t j = k;
	const char *c = from;

	for (;;) {
		const char *dot = strchr(c, '.');
		size_t len = dot ? (size_t)(dot - c) : strlen(c);
		const struct pyt_token *t;

		if (tok_kind(p, j) != PYT_NAME)
			return 0;
		t = &p->t.v[p->sig[j]];
		if (t->len != len || memcmp(p->s + t->off, c, len))
			return 0;
		j++;
		if (!dot)
			return j - k;
		if (!tok_eq(p, j, "."))
			return 0;
		j++;
		c = dot + 1;
	}
}

/* Best (longest) rule matching the chain at k; *ntok its token count. */
static int best_rule(const struct py *p, size_t k, size_t *ntok)
{
	size_t i, best_n = 0;
	int best = -1;

	for (i = 0; i < p->r->nmodules; i++) {
		size_t m = match_chain(p, k, p->r->modules[i].from);

		if (m > best_n) {
			best_n = m;
			best = (int)i;
		}
	}
	*ntok = best_n;
	return best;
}

/* Replace the tokens sig[k .. k+ntok) by rule i's target. */
static int rename_at(struct py *p, size_t k, size_t ntok, int i)
{
	const struct rw_module *m = &p->r->modules[i];
	const struct pyt_token *a = &p->t.v[p->sig[k]];
	const struct pyt_token *z = &p->t.v[p->sig[k + ntok - 1]];
	size_t x;

	/* a comment inside a dotted span would be lost: leave such spans */
	for (x = p->sig[k]; x <= p->sig[k + ntok - 1]; x++)
		if (p->t.v[x].kind == PYT_COMMENT)
			return 0;
	if (rw_edits_add(&p->edits, a->off, z->off + z->len - a->off, m->to,
			 strlen(m->to)))
		return FERRY_ENOMEM;
	p->count[i]++;
	return 0;
}

static int stmt_start(const struct py *p, size_t k)
{
	const struct pyt_token *prev;

	if (k == 0)
		return 1;
	prev = &p->t.v[p->sig[k - 1]];
	if (prev->kind == PYT_NEWLINE)
		return 1;
	if (prev->kind == PYT_OP && prev->len == 1 &&
	    (p->s[prev->off] == ';' || (p->s[prev->off] == ':' && prev->depth == 0)))
		return 1;
	return 0;
}

/* `import a.b [as c], d` at sig[k] == "import"; returns the next index. */
static int do_import(struct py *p, size_t k, size_t *next)
{
	size_t ntok;
	int i, rc;

	k++;
	for (;;) {
		if (tok_kind(p, k) != PYT_NAME)
			break;
		i = best_rule(p, k, &ntok);
		if (i >= 0) {
			size_t after = k + ntok;

			if ((rc = rename_at(p, k, ntok, i)))
				return rc;
			/* `import asyncio_mqtt[.sub]` binds the name itself */
			while (tok_eq(p, after, ".") && tok_kind(p, after + 1) == PYT_NAME)
				after += 2;
			if (!tok_eq(p, after, "as"))
				p->bare[i] = 1;
		}
		while (tok_kind(p, k) == PYT_NAME || tok_eq(p, k, "."))
			k++;
		if (tok_eq(p, k, "as"))
			k += 2;
		if (!tok_eq(p, k, ","))
			break;
		k++;
	}
	*next = k;
	return 0;
}

/* `from a.b import ...` at sig[k] == "from"; relative imports are local. */
static int do_from(struct py *p, size_t k, size_t *next)
{
	size_t ntok;
	int i, rc;

	k++;
	if (tok_kind(p, k) == PYT_NAME) {
		i = best_rule(p, k, &ntok);
		/* the whole module path must be covered or continue with '.' */
		if (i >= 0 && (tok_eq(p, k + ntok, "import") ||
			       tok_eq(p, k + ntok, ".")))
			if ((rc = rename_at(p, k, ntok, i)))
				return rc;
	}
	while (k < p->nsig && !tok_eq(p, k, "import") &&
	       tok_kind(p, k) != PYT_NEWLINE)
		k++;
	*next = k;
	return 0;
}

static int rename_all(struct py *p)
{
	size_t k, ntok, next;
	int i, rc, pass;

	/* pass 0: import statements (they decide which bare names are the
	 * module); pass 1: attribute chains and bare names elsewhere */
	for (pass = 0; pass < 2; pass++) {
		for (k = 0; k < p->nsig; k++) {
			int start = stmt_start(p, k);

			if (start && (tok_eq(p, k, "import") || tok_eq(p, k, "from"))) {
				if (pass == 0) {
					rc = tok_eq(p, k, "import") ?
						do_import(p, k, &next) : do_from(p, k, &next);
					if (rc)
						return rc;
				} else {
					next = k + 1;
					while (next < p->nsig &&
					       tok_kind(p, next) != PYT_NEWLINE &&
					       !tok_eq(p, next, ";"))
						next++;
				}
				k = next > k ? next - 1 : k;
				continue;
			}
			if (pass == 0 || tok_kind(p, k) != PYT_NAME)
				continue;
			if (k > 0 && (tok_eq(p, k - 1, ".") || tok_eq(p, k - 1, "def") ||
				      tok_eq(p, k - 1, "class") || tok_eq(p, k - 1, "as")))
				continue;
			i = best_rule(p, k, &ntok);
			if (i < 0)
				continue;
			if (tok_eq(p, k + ntok, ".")) {
				/* attribute chain: asyncio_mqtt.Client */
			} else if (p->bare[i] && ncomp(p->r->modules[i].from) == 1 &&
				   !(tok_eq(p, k + ntok, "=") &&
				     p->t.v[p->sig[k]].depth > 0)) {
				/* the bound module name itself, not a kwarg */
			} else {
				continue;
			}
			if ((rc = rename_at(p, k, ntok, i)))
				return rc;
			k += ntok - 1;
		}
	}
	return 0;
}

/* Warnings: token patterns matched on code, once per (rule, line). */
static int check_warnings(struct py *p, struct ferry_buf *notes,
			  struct ferry_error *err)
{
	struct pyt_tokens pt = { NULL, 0, 0 };
	size_t w, m, k, j;
	int rc = 0;

	for (w = 0; w < p->r->nwarnings; w++) {
		const struct rw_warning *rule = &p->r->warnings[w];
		int last_line = 0;

		for (m = 0; m < rule->match.n; m++) {
			const char *pat = rule->match.v[m];
			size_t np = 0;

			pt.n = 0;
			if ((rc = rw_pyt_tokenize(pat, strlen(pat), &pt, err)))
				goto out;
			while (np < pt.n && pt.v[np].kind != PYT_NEWLINE &&
			       pt.v[np].kind != PYT_NL && pt.v[np].kind != PYT_COMMENT)
				np++;
			if (!np)
				continue;
			for (k = 0; k + np <= p->nsig; k++) {
				for (j = 0; j < np; j++) {
					const struct pyt_token *a = &p->t.v[p->sig[k + j]];
					const struct pyt_token *b = &pt.v[j];

					if (a->kind != b->kind || a->len != b->len ||
					    memcmp(p->s + a->off, pat + b->off, a->len))
						break;
				}
				if (j < np)
					continue;
				if (p->t.v[p->sig[k]].line == last_line)
					continue;
				last_line = p->t.v[p->sig[k]].line;
				if (notes && ferry_buf_addf(notes, "warning: %d: %s\n",
							    last_line, rule->message)) {
					rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
					goto out;
				}
			}
		}
	}
out:
	rw_pyt_tokens_release(&pt);
	return rc;
}

/* Strings that name a renamed module stay as they are: say so. */
static int check_strings(struct py *p, struct ferry_buf *notes)
{
	size_t x, i;

	for (x = 0; x < p->t.n; x++) {
		const struct pyt_token *t = &p->t.v[x];

		if (t->kind != PYT_STRING)
			continue;
		for (i = 0; i < p->r->nmodules; i++) {
			const char *from = p->r->modules[i].from;
			size_t fl = strlen(from);
			const char *h = p->s + t->off, *end = h + t->len;

			while ((h = memmem(h, (size_t)(end - h), from, fl))) {
				int left = h == p->s + t->off || !is_id((unsigned char)h[-1]);
				int right = h + fl >= end || !is_id((unsigned char)h[fl]);

				if (left && right)
					break;
				h++;
			}
			if (h && notes && ferry_buf_addf(notes, "warning: %d: string "
				"mentions '%s', left unchanged (check mock.patch "
				"targets and messages)\n", t->line, from))
				return FERRY_ENOMEM;
			if (h)
				break;
		}
	}
	return 0;
}

int ferry_rewrite_python(const ferry_recipe *r, const char *text, size_t len,
			 struct ferry_buf *out, struct ferry_buf *notes,
			 int *changed, struct ferry_error *err)
{
	struct py p;
	struct ferry_buf mid = FERRY_BUF_INIT;
	size_t i, total = 0, start = out->len;
	int bad_line, rc = 0, used = 0;

	memset(&p, 0, sizeof(p));
	p.r = r;
	p.s = text;
	if (memchr(text, '\0', len)) {
		rc = ferry_error_set(err, FERRY_EPARSE,
				     "binary file (NUL byte); not a Python source");
		goto out;
	}
	if (rw_utf8_check(text, len, &bad_line)) {
		ferry_error_origin(err, "line %d", bad_line);
		rc = ferry_error_set(err, FERRY_EPARSE,
				     "not valid UTF-8 at line %d; convert it "
				     "first (iconv -t UTF-8)", bad_line);
		goto out;
	}
	if ((rc = rw_pyt_tokenize(text, len, &p.t, err)))
		goto out;
	p.sig = rw_pyt_significant(&p.t, &p.nsig);
	p.count = ferry_calloc(r->nmodules + 1, sizeof(*p.count));
	p.bare = ferry_calloc(r->nmodules + 1, sizeof(*p.bare));
	if (!p.sig || !p.count || !p.bare) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = rename_all(&p))) {
		ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	for (i = 0; i < r->nmodules; i++) {
		total += p.count[i];
		if (p.count[i] && notes &&
		    ferry_buf_addf(notes, "%s -> %s (%zu place%s)\n",
				   r->modules[i].from, r->modules[i].to,
				   p.count[i], p.count[i] == 1 ? "" : "s")) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	}
	if ((rc = rw_edits_apply(&p.edits, text, len, &mid))) {
		ferry_error_set(err, rc, "cannot apply the rename: %s",
				ferry_strerror(rc));
		goto out;
	}
	/* codemods see the renamed imports (aiomqtt.Client, not asyncio_mqtt) */
	if ((rc = rw_codemod_python(r, mid.buf ? mid.buf : "", mid.len, out,
				    notes, &used, err)))
		goto out;
	/* API warnings only where the old module (or a codemod's) was in use */
	if ((total || used) && (rc = check_warnings(&p, notes, err)))
		goto out;
	if ((rc = check_strings(&p, notes))) {
		ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	*changed = out->len - start != len || memcmp(out->buf + start, text, len);
out:
	ferry_buf_release(&mid);
	rw_edits_release(&p.edits);
	rw_pyt_tokens_release(&p.t);
	ferry_free(p.sig);
	ferry_free(p.count);
	ferry_free(p.bare);
	return rc;
}
