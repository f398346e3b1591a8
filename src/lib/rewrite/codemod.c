/*
 * codemod.c - call-site codemods a recipe declares (python.codemods):
 * keyword renames and argument insertion in calls of a class or function,
 * module attribute renames and method renames.
 *
 * An edit is made only where the tokens prove the target: the callee is
 * a dotted chain whose first name is bound in this file by imports only
 * (`import aiomqtt as am`, `from aiomqtt import Client as C`), never
 * rebound (assignment, def, class, parameter, for, with/except ... as),
 * and only the call's own top-level arguments are looked at.  Strings,
 * comments and f-strings are single tokens and so never touched.  What
 * cannot be proven (getattr, the class passed around, a rebound name,
 * `**kwargs`, a star import) becomes a warning with its line: a codemod
 * that guesses would break code silently, a warning costs a look.
 *
 * Names are tracked per file, not per scope: a name rebound anywhere in
 * the file is not trusted anywhere in it (safe, sometimes too careful).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ferry/alloc.h"
#include "rewrite_int.h"

/* Where a name gets its value. */
enum { B_IMPORT = 1, B_INSTANCE, B_OTHER };

struct bind {
	const char *name;
	size_t nlen;
	int kind;
	char *path;        /* B_IMPORT: dotted import path; B_INSTANCE: class */
	int line;
	size_t ins_off;    /* B_IMPORT by `from M import`: where a name fits */
	char *from_mod;    /* that M, else NULL */
	size_t rhs;        /* B_INSTANCE candidates: sig index of the callee */
	size_t stmt_off;   /* B_IMPORT: offset of its import statement */
	int top;           /* B_IMPORT: that statement starts a line */
};

struct cm {
	const struct ferry_recipe *r;
	const char *s;
	struct pyt_tokens t;
	size_t *sig;
	size_t nsig;
	unsigned char *in_import;   /* per sig index */
	struct bind *b;
	size_t nb, bcap;
	struct rw_strlist mods;     /* modules loaded by plain `import a.b` */
	struct rw_strlist added;    /* names this run added to a from-import */
	struct rw_edits edits;
	struct ferry_buf *notes;
	size_t *hits;               /* per codemod */
	int used;
	int oom;
};

/* Appends whose failure the buffer keeps (sticky): checked once with
 * ferry_buf_error() by the reader of the whole text. */
static void put(struct ferry_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct ferry_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (ferry_buf_vaddf(b, fmt, ap)) {
		/* sticky: see above */
	}
	va_end(ap);
}

static void putn(struct ferry_buf *b, const char *p, size_t n)
{
	if (ferry_buf_add(b, p, n)) {
		/* sticky: see put() */
	}
}

static const struct pyt_token *T(const struct cm *c, size_t k)
{
	return &c->t.v[c->sig[k]];
}

static int is(const struct cm *c, size_t k, const char *text)
{
	const struct pyt_token *t;

	if (k >= c->nsig)
		return 0;
	t = T(c, k);
	return t->len == strlen(text) && !memcmp(c->s + t->off, text, t->len);
}

static int is_name(const struct cm *c, size_t k)
{
	return k < c->nsig && T(c, k)->kind == PYT_NAME;
}

static int tok_is(const struct cm *c, size_t k, const char *p, size_t n)
{
	return k < c->nsig && T(c, k)->len == n && !memcmp(c->s + T(c, k)->off, p, n);
}

static void warn(struct cm *c, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void warn(struct cm *c, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->notes && ferry_buf_addf(c->notes, "warning: %d: %s\n", line, msg))
		c->oom = 1;
}

static void edit(struct cm *c, size_t off, size_t len, const char *text)
{
	if (rw_edits_add(&c->edits, off, len, text, strlen(text)))
		c->oom = 1;
}

static int stmt_start(const struct cm *c, size_t k)
{
	const struct pyt_token *p;

	if (k == 0)
		return 1;
	p = T(c, k - 1);
	if (p->kind == PYT_NEWLINE)
		return 1;
	return p->kind == PYT_OP && p->len == 1 &&
	       (c->s[p->off] == ';' || (c->s[p->off] == ':' && p->depth == 0));
}

/* End (exclusive) of the dotted chain NAME (. NAME)* at k. */
static size_t chain_end(const struct cm *c, size_t k)
{
	k++;
	while (is(c, k, ".") && is_name(c, k + 1))
		k += 2;
	return k;
}

/* The chain [k, e) as dotted text into b. */
static int chain_text(const struct cm *c, size_t k, size_t e,
		      struct ferry_buf *b)
{
	ferry_buf_clear(b);
	for (; k < e; k++)
		if (ferry_buf_add(b, c->s + T(c, k)->off, T(c, k)->len))
			return -1;
	return ferry_buf_error(b) ? -1 : 0;
}

static struct bind *add_bind(struct cm *c, size_t k, int kind)
{
	struct bind *b;

	if (FERRY_GROW(c->b, c->bcap, c->nb + 1)) {
		c->oom = 1;
		return NULL;
	}
	b = &c->b[c->nb++];
	memset(b, 0, sizeof(*b));
	b->name = c->s + T(c, k)->off;
	b->nlen = T(c, k)->len;
	b->kind = kind;
	b->line = T(c, k)->line;
	return b;
}

static char *dup_join(const char *a, const char *dot, const char *z, size_t zl)
{
	struct ferry_buf b = FERRY_BUF_INIT;

	if (ferry_buf_addf(&b, "%s%s%.*s", a, dot, (int)zl, z)) {
		ferry_buf_release(&b);
		return NULL;
	}
	return ferry_buf_detach(&b, NULL);
}

/* ---- 1. imports --------------------------------------------------------- */

static size_t do_import(struct cm *c, size_t k)
{
	struct ferry_buf path = FERRY_BUF_INIT;

	k++;
	while (is_name(c, k)) {
		size_t e = chain_end(c, k);
		struct bind *b;

		if (chain_text(c, k, e, &path)) {
			c->oom = 1;
			break;
		}
		if (is(c, e, "as") && is_name(c, e + 1)) {
			if ((b = add_bind(c, e + 1, B_IMPORT)) &&
			    !(b->path = ferry_strdup(path.buf)))
				c->oom = 1;
			e += 2;
		} else {
			if ((b = add_bind(c, k, B_IMPORT)) &&
			    !(b->path = ferry_strndup(c->s + T(c, k)->off, T(c, k)->len)))
				c->oom = 1;
			if (rw_strlist_push(&c->mods, path.buf))
				c->oom = 1;
		}
		k = e;
		if (!is(c, k, ","))
			break;
		k++;
	}
	ferry_buf_release(&path);
	return k;
}

static int is_target_module(const struct cm *c, const char *mod);

/* `from M import a, b as c`: binds a and c; a name the codemods need
 * joins the list after its last name (ins_off), where no rename edits. */
static size_t do_from(struct cm *c, size_t k)
{
	struct ferry_buf mod = FERRY_BUF_INIT;
	size_t e, first = c->nb, i, end = 0;

	k++;
	if (!is_name(c, k))   /* relative import: the project's own code */
		goto skip;
	e = chain_end(c, k);
	if (!is(c, e, "import") || chain_text(c, k, e, &mod))
		goto skip;
	k = e + 1;
	if (is(c, k, "("))
		k++;
	if (is(c, k, "*")) {
		if (is_target_module(c, mod.buf))
			warn(c, T(c, k)->line, "'from %s import *': names from it "
			     "are not followed, codemods skip this file's calls of them",
			     mod.buf);
		k++;
		goto skip;
	}
	while (is_name(c, k)) {
		size_t nk = k;
		struct bind *b;

		if (is(c, k + 1, "as") && is_name(c, k + 2))
			nk = k + 2;
		b = add_bind(c, nk, B_IMPORT);
		if (b) {
			b->path = dup_join(mod.buf, ".", c->s + T(c, k)->off, T(c, k)->len);
			b->from_mod = ferry_strdup(mod.buf);
			b->rhs = k;   /* the imported name's token */
			if (!b->path || !b->from_mod)
				c->oom = 1;
		}
		end = T(c, nk)->off + T(c, nk)->len;
		k = nk + 1;
		if (!is(c, k, ","))
			break;
		k++;
	}
	for (i = first; i < c->nb; i++)
		c->b[i].ins_off = end;
skip:
	while (k < c->nsig && T(c, k)->kind != PYT_NEWLINE && !is(c, k, ";"))
		k++;
	ferry_buf_release(&mod);
	return k;
}

static void scan_imports(struct cm *c)
{
	size_t k, e, x, nb;

	for (k = 0; k < c->nsig; k++) {
		if (!stmt_start(c, k) || !(is(c, k, "import") || is(c, k, "from")))
			continue;
		nb = c->nb;
		e = is(c, k, "import") ? do_import(c, k) : do_from(c, k);
		for (x = nb; x < c->nb; x++) {
			size_t off = T(c, k)->off;

			c->b[x].stmt_off = off;
			c->b[x].top = off == 0 || c->s[off - 1] == '\n';
		}
		for (x = k; x < e && x < c->nsig; x++)
			c->in_import[x] = 1;
		if (e > k)
			k = e - 1;
	}
}

/* ---- 2. every other binding -------------------------------------------- */

static void bind_other(struct cm *c, size_t k)
{
	if (is_name(c, k) && !(k > 0 && is(c, k - 1, ".")))
		add_bind(c, k, B_OTHER);
}

/* `with CALL(...) as V` / `V = CALL(...)`: the callee chain at rhs. */
static void bind_maybe_instance(struct cm *c, size_t v, size_t rhs)
{
	struct bind *b;
	size_t e, close;

	if (!is_name(c, rhs)) {
		bind_other(c, v);
		return;
	}
	e = chain_end(c, rhs);
	if (!is(c, e, "(")) {
		bind_other(c, v);
		return;
	}
	/* the call must be the whole value: V = Client(...) and nothing more */
	for (close = e + 1; close < c->nsig; close++)
		if (is(c, close, ")") && T(c, close)->depth == T(c, e)->depth)
			break;
	if (!(v > rhs ? close + 1 == v - 1 : (close + 1 >= c->nsig ||
		T(c, close + 1)->kind == PYT_NEWLINE || is(c, close + 1, ";")))) {
		bind_other(c, v);
		return;
	}
	if ((b = add_bind(c, v, B_INSTANCE)))
		b->rhs = rhs;
}

static int assign_op(const struct cm *c, size_t k)
{
	static const char *const ops[] = { "=", "+=", "-=", "*=", "/=", "//=",
		"%=", "**=", ">>=", "<<=", "&=", "|=", "^=", "@=", NULL };
	const char *const *o;

	if (T(c, k)->kind != PYT_OP || T(c, k)->depth != 0)
		return 0;
	for (o = ops; *o; o++)
		if (is(c, k, *o))
			return 1;
	return 0;
}

static void scan_bindings(struct cm *c)
{
	size_t k, j;

	for (k = 0; k < c->nsig; k++) {
		if (c->in_import[k])
			continue;
		if (is(c, k, "def") || is(c, k, "class")) {
			bind_other(c, k + 1);
			if (is(c, k, "def") && is(c, k + 2, "(")) {
				int d = T(c, k + 2)->depth;

				for (j = k + 3; j < c->nsig && !(is(c, j, ")") &&
					T(c, j)->depth == d); j++)
					if (T(c, j)->depth == d && (is(c, j - 1, "(") ||
					    is(c, j - 1, ",") || is(c, j - 1, "*") ||
					    is(c, j - 1, "**")))
						bind_other(c, j);
				k = j;
			}
			continue;
		}
		if (is(c, k, "lambda")) {
			for (j = k + 1; j < c->nsig && !is(c, j, ":"); j++)
				bind_other(c, j);
			continue;
		}
		if (is(c, k, "for")) {
			for (j = k + 1; j < c->nsig && !is(c, j, "in") &&
			     T(c, j)->kind != PYT_NEWLINE; j++)
				bind_other(c, j);
			continue;
		}
		if (is(c, k, "global") || is(c, k, "nonlocal") || is(c, k, "del")) {
			for (j = k + 1; j < c->nsig && T(c, j)->kind != PYT_NEWLINE &&
			     !is(c, j, ";"); j++)
				bind_other(c, j);
			continue;
		}
		if (is(c, k, "as") && is_name(c, k + 1)) {
			/* with CALL(...) as V: find the call's callee */
			size_t open = 0;

			if (k > 0 && is(c, k - 1, ")")) {
				int d = T(c, k - 1)->depth;

				for (j = k - 1; j-- > 0;)
					if (is(c, j, "(") && T(c, j)->depth == d)
						break;
				open = j;
			}
			if (open > 0 && is_name(c, open - 1)) {
				size_t h = open - 1;

				while (h >= 2 && is(c, h - 1, ".") && is_name(c, h - 2))
					h -= 2;
				if (h > 0 && (is(c, h - 1, "with") || is(c, h - 1, ","))) {
					bind_maybe_instance(c, k + 1, h);
					continue;
				}
			}
			bind_other(c, k + 1);
			continue;
		}
		if (is(c, k, ":=")) {
			bind_other(c, k - 1);
			continue;
		}
		if (stmt_start(c, k) && is_name(c, k) && is(c, k + 1, ":") &&
		    T(c, k + 1)->depth == 0) {
			bind_other(c, k);   /* annotated: V: T [= x] */
			continue;
		}
		if (stmt_start(c, k)) {
			/* assignment: targets are the names before a top-level '=' */
			size_t eq = 0;

			for (j = k; j < c->nsig && T(c, j)->kind != PYT_NEWLINE &&
			     !is(c, j, ";") && !(is(c, j, ":") && T(c, j)->depth == 0); j++)
				if (assign_op(c, j)) {
					eq = j;
					break;
				}
			if (!eq)
				continue;
			/* a = b = X(): every name before the last '=' is bound */
			for (j = eq + 1; j < c->nsig && T(c, j)->kind != PYT_NEWLINE &&
			     !is(c, j, ";"); j++)
				if (is(c, j, "=") && T(c, j)->depth == 0)
					eq = j;
			if (eq == k + 1 && is(c, eq, "=") && is_name(c, k)) {
				bind_maybe_instance(c, k, eq + 1);
				continue;
			}
			for (j = k; j < eq; j++)
				if (is_name(c, j) && !is(c, j + 1, ".") &&
				    !is(c, j + 1, "[") && !is(c, j + 1, "("))
					bind_other(c, j);
		}
	}
}

/* ---- 3. resolving names -------------------------------------------------- */

/* Import path of name at sig k: NULL unless every binding is one import
 * of one path.  *shadow is set when an import of it is also rebound. */
static const struct bind *resolve(const struct cm *c, size_t k, int *shadow)
{
	const struct pyt_token *t = T(c, k);
	const struct bind *imp = NULL;
	int other = 0;
	size_t i;

	*shadow = 0;
	for (i = 0; i < c->nb; i++) {
		const struct bind *b = &c->b[i];

		if (b->nlen != t->len || memcmp(b->name, c->s + t->off, t->len))
			continue;
		if (b->kind != B_IMPORT)
			other = 1;
		else if (imp && strcmp(imp->path, b->path))
			other = 1;
		else if (!imp)
			imp = b;
	}
	if (imp && other)
		*shadow = 1;
	return other ? NULL : imp;
}

/* Full dotted path of the chain [k, e) or NULL (caller frees). */
static char *chain_path(const struct cm *c, size_t k, size_t e, int *shadow,
			const char **head_path)
{
	const struct bind *b = resolve(c, k, shadow);
	struct ferry_buf p = FERRY_BUF_INIT;
	size_t j;

	if (head_path)
		*head_path = b ? b->path : NULL;
	if (!b)
		return NULL;
	put(&p, "%s", b->path);
	for (j = k + 1; j < e; j++)
		putn(&p, c->s + T(c, j)->off, T(c, j)->len);
	if (ferry_buf_error(&p)) {
		ferry_buf_release(&p);
		return NULL;
	}
	return ferry_buf_detach(&p, NULL);
}

/* Class path when the variable at k is bound only to calls of one class. */
static const char *instance_of(struct cm *c, size_t k)
{
	const struct pyt_token *t = T(c, k);
	const char *cls = NULL;
	size_t i;

	for (i = 0; i < c->nb; i++) {
		const struct bind *b = &c->b[i];

		if (b->nlen != t->len || memcmp(b->name, c->s + t->off, t->len))
			continue;
		if (b->kind != B_INSTANCE || !b->path ||
		    (cls && strcmp(cls, b->path)))
			return NULL;
		cls = b->path;
	}
	return cls;
}

static void resolve_instances(struct cm *c)
{
	size_t i;
	int shadow;

	for (i = 0; i < c->nb; i++) {
		struct bind *b = &c->b[i];

		if (b->kind == B_INSTANCE)
			b->path = chain_path(c, b->rhs, chain_end(c, b->rhs), &shadow,
					     NULL);
	}
}

static int is_target_module(const struct cm *c, const char *mod)
{
	size_t i, n = strlen(mod);

	for (i = 0; i < c->r->ncodemods; i++) {
		const char *t = c->r->codemods[i].target;

		if (!strncmp(t, mod, n) && t[n] == '.')
			return 1;
	}
	return 0;
}

/* Does some binding of this file import from a codemod's package? */
static int file_uses(const struct cm *c)
{
	size_t i, j;

	for (i = 0; i < c->nb; i++) {
		if (c->b[i].kind != B_IMPORT)
			continue;
		for (j = 0; j < c->r->ncodemods; j++) {
			const char *t = c->r->codemods[j].target;
			const char *p = c->b[i].path;
			size_t n = strcspn(t, ".");

			if (!strncmp(p, t, n) && (p[n] == '\0' || p[n] == '.'))
				return 1;
		}
	}
	return 0;
}

/* ---- 4. the edits --------------------------------------------------------- */

/* May a name bound by import b be used at offset `at`?  Only a module
 * level import (column 0) that comes before: an alias imported later, or
 * inside some function, would be a NameError there. */
static int visible(const struct cm *c, const struct bind *b, size_t at)
{
	return b->top && b->stmt_off < at && (b->stmt_off == 0 ||
					      c->s[b->stmt_off - 1] == '\n');
}

/* Is b the only meaning of its name in this file? */
static int unique_import(const struct cm *c, const struct bind *b)
{
	size_t i;

	for (i = 0; i < c->nb; i++)
		if (c->b[i].nlen == b->nlen && !memcmp(c->b[i].name, b->name, b->nlen) &&
		    (c->b[i].kind != B_IMPORT || strcmp(c->b[i].path, b->path)))
			return 0;
	return 1;
}

/*
 * Spell "{module:Name}" / "{module}" of a template for a call at offset
 * `at` made through import binding via, with names that are in scope
 * there: via itself (`mqtt.Client` -> mqtt.Name), the full dotted path
 * after a plain `import paho.mqtt.client`, a module-level import of Name
 * or module before the call, or else Name added to via's own
 * `from module import` (once per file).  0 when it cannot be spelled.
 */
static int spell(struct cm *c, const char *tmpl, const struct bind *via,
		 size_t at, struct ferry_buf *out)
{
	const char *o = strchr(tmpl, '{'), *z = o ? strchr(o, '}') : NULL;
	char mod[256], full[512], *colon;
	const char *attr = NULL;
	size_t i;

	ferry_buf_clear(out);
	if (!o || !z || (size_t)(z - o - 1) >= sizeof(mod))
		return ferry_buf_addstr(out, tmpl) == 0;
	memcpy(mod, o + 1, (size_t)(z - o - 1));
	mod[z - o - 1] = '\0';
	if ((colon = strchr(mod, ':'))) {
		*colon = '\0';
		attr = colon + 1;
	}
	snprintf(full, sizeof(full), "%s%s%s", mod, attr ? "." : "",
		 attr ? attr : "");
	putn(out, tmpl, (size_t)(o - tmpl));
	/* 1. through the call's own module binding */
	if (via && !strcmp(via->path, mod)) {
		put(out, "%.*s%s%s%s", (int)via->nlen, via->name, attr ? "." : "",
		    attr ? attr : "", z + 1);
		return !ferry_buf_error(out);
	}
	if (via && !via->from_mod && !strncmp(mod, via->path, strlen(via->path)) &&
	    mod[strlen(via->path)] == '.' && via->nlen == strlen(via->path) &&
	    !memcmp(via->name, via->path, via->nlen)) {
		put(out, "%s%s", full, z + 1);
		return !ferry_buf_error(out);
	}
	/* 2. a module-level import of Name (or of the module) before the call,
	 * or Name imported by via's own statement */
	for (i = 0; i < c->nb; i++) {
		const struct bind *b = &c->b[i];
		int same, hit;

		if (b->kind != B_IMPORT)
			continue;
		same = via && via->from_mod && b->from_mod &&
		       b->ins_off == via->ins_off;
		hit = !strcmp(b->path, full) ? 2 : attr && !strcmp(b->path, mod);
		if (!hit || !(same || visible(c, b, at)) || !unique_import(c, b))
			continue;
		putn(out, b->name, b->nlen);
		if (hit == 1)
			put(out, ".%s", attr);
		put(out, "%s", z + 1);
		return !ferry_buf_error(out);
	}
	/* 3. add Name to the `from module import Client` the call came through */
	if (attr && via && via->from_mod && !strcmp(via->from_mod, mod)) {
		for (i = 0; i < c->nb; i++)
			if (c->b[i].nlen == strlen(attr) &&
			    !memcmp(c->b[i].name, attr, c->b[i].nlen) &&
			    (c->b[i].kind != B_IMPORT || strcmp(c->b[i].path, full)))
				return 0;   /* the name means something else here */
		for (i = 0; i < c->added.n; i++)
			if (!strcmp(c->added.v[i], attr))
				break;
		if (i == c->added.n) {
			struct ferry_buf ins = FERRY_BUF_INIT;

			put(&ins, ", %s", attr);
			if (ferry_buf_error(&ins) ||
			    rw_edits_add(&c->edits, via->ins_off, 0, ins.buf, ins.len) ||
			    rw_strlist_push(&c->added, attr))
				c->oom = 1;
			ferry_buf_release(&ins);
		}
		put(out, "%s%s", attr, z + 1);
		return !ferry_buf_error(out);
	}
	return 0;
}

struct arg {
	size_t a, e;       /* sig range [a, e) */
	int kw;            /* keyword argument: name token at a */
	int star;          /* 1: *x, 2: **x */
};

static void call_codemod(struct cm *c, size_t ci, size_t open,
			 const struct bind *via)
{
	const struct rw_codemod *m = &c->r->codemods[ci];
	struct arg args[64];
	size_t nargs = 0, j, close, i;
	int d = T(c, open)->depth, line = T(c, open)->line, hits = 0, dstar = 0;

	/* top-level arguments only: a nested call is another call */
	for (close = open + 1; close < c->nsig; close++)
		if (is(c, close, ")") && T(c, close)->depth == d)
			break;
	if (close >= c->nsig)
		return;
	for (j = open + 1; j < close;) {
		size_t a = j;

		while (j < close && !(is(c, j, ",") && T(c, j)->depth == d))
			j++;
		if (a < j) {
			if (nargs == sizeof(args) / sizeof(*args)) {
				warn(c, line, "call of %s with more than 64 arguments "
				     "left unchanged", m->target);
				return;
			}
			args[nargs].a = a;
			args[nargs].e = j;
			args[nargs].kw = is_name(c, a) && is(c, a + 1, "=");
			args[nargs].star = is(c, a, "*") ? 1 : is(c, a, "**") ? 2 : 0;
			dstar |= args[nargs].star == 2;
			nargs++;
		}
		j++;
	}
	for (i = 0; i < m->kw_from.n; i++) {
		const char *from = m->kw_from.v[i], *to = m->kw_to.v[i];
		size_t f = nargs, t = nargs;

		for (j = 0; j < nargs; j++)
			if (args[j].kw && is(c, args[j].a, from))
				f = j;
			else if (args[j].kw && is(c, args[j].a, to))
				t = j;
		if (f < nargs && t < nargs) {
			warn(c, line, "%s(...) is given both '%s' and '%s'; left "
			     "unchanged", m->target, from, to);
		} else if (f < nargs) {
			edit(c, T(c, args[f].a)->off, T(c, args[f].a)->len, to);
			hits++;
		} else if (dstar) {
			warn(c, line, "%s(...) gets '**' keyword arguments that may "
			     "carry '%s' (now '%s'); check them by hand", m->target,
			     from, to);
		}
	}
	if (m->insert_value) {
		struct ferry_buf v = FERRY_BUF_INIT;
		size_t npos = 0;
		int skip = 0;

		/* "already there": a name of `unless`, also under an alias
		 * (from paho.mqtt.client import CallbackAPIVersion as V) */
		for (j = open + 1; j < close && !skip; j++) {
			const struct bind *ab;
			const char *last = NULL;
			int sh;

			if (!is_name(c, j))
				continue;
			if ((ab = resolve(c, j, &sh)))
				last = strrchr(ab->path, '.');
			for (i = 0; i < m->insert_unless.n; i++)
				if (is(c, j, m->insert_unless.v[i]) ||
				    (last && !strcmp(last + 1, m->insert_unless.v[i])))
					skip = 1;
		}
		for (j = 0; j < nargs && !args[j].kw && !args[j].star; j++)
			npos++;
		if (skip) {
			/* already given: nothing to do */
		} else if (dstar) {
			warn(c, line, "%s(...) gets '**' keyword arguments that may "
			     "already give what '%s' inserts; insert it by hand",
			     m->target, m->insert_value);
		} else if (npos < (size_t)m->insert_pos ||
			   (npos == (size_t)m->insert_pos && npos < nargs &&
			    args[npos].star == 1)) {
			warn(c, line, "%s(...): cannot tell where positional "
			     "argument %d goes (fewer or '*' arguments); insert it by "
			     "hand", m->target, m->insert_pos + 1);
		} else if (!spell(c, m->insert_value, via, T(c, open)->off, &v)) {
			warn(c, line, "%s(...): cannot spell '%s' with this file's "
			     "imports; insert it by hand", m->target, m->insert_value);
		} else {
			size_t p = (size_t)m->insert_pos;

			if (p < nargs) {
				put(&v, "%s", ", ");
				if (!ferry_buf_error(&v))
					edit(c, T(c, args[p].a)->off, 0, v.buf);
			} else if (p == 0) {
				edit(c, T(c, open)->off + 1, 0, v.buf);
			} else {
				const struct pyt_token *l = T(c, args[p - 1].e - 1);
				struct ferry_buf w = FERRY_BUF_INIT;

				put(&w, ", %s", v.buf);
				if (!ferry_buf_error(&w))
					edit(c, l->off + l->len, 0, w.buf);
				ferry_buf_release(&w);
			}
			hits++;
		}
		if (ferry_buf_error(&v))
			c->oom = 1;
		ferry_buf_release(&v);
	}
	c->hits[ci] += hits ? 1 : 0;
}

/* Is the reference at [k, e) a type annotation or an isinstance() test
 * (uses that need no codemod), rather than the class handed around? */
static int annotation(const struct cm *c, size_t k, size_t e)
{
	size_t j, open = 0;
	int found = 0;

	/* the bracket the reference sits in: `{` makes ':' a dict value */
	for (j = k; j-- > 0 && T(c, k)->depth > 0;)
		if (T(c, j)->kind == PYT_OP && T(c, j)->len == 1 &&
		    strchr("([{", c->s[T(c, j)->off]) &&
		    T(c, j)->depth == T(c, k)->depth) {
			open = j;
			found = 1;
			break;
		}
	if (found && is(c, open, "{"))
		return 0;
	if (k > 0 && (is(c, k - 1, ":") || is(c, k - 1, "->") ||
		      is(c, k - 1, "[") || is(c, k - 1, "|")))
		return 1;
	if (is(c, e, "]") || is(c, e, "|"))
		return 1;
	return found && open > 0 && (is(c, open - 1, "isinstance") ||
				     is(c, open - 1, "issubclass"));
}

/* Is the token at k where a name is bound (not a use of it)? */
static int binding_site(const struct cm *c, size_t k)
{
	size_t i;

	for (i = 0; i < c->nb; i++)
		if (c->b[i].name == c->s + T(c, k)->off)
			return 1;
	return 0;
}

/* A use of a name imported from a target's module but rebound in this
 * file: had it not been rebound, would a codemod apply?  Say so. */
static void shadowed_use(struct cm *c, size_t k, size_t e)
{
	size_t i, j, ci;

	if (binding_site(c, k))
		return;
	for (i = 0; i < c->nb; i++) {
		struct ferry_buf p = FERRY_BUF_INIT;

		if (c->b[i].kind != B_IMPORT || !tok_is(c, k, c->b[i].name,
							c->b[i].nlen))
			continue;
		put(&p, "%s", c->b[i].path);
		for (j = k + 1; j < e; j++)
			putn(&p, c->s + T(c, j)->off, T(c, j)->len);
		for (ci = 0; ci < c->r->ncodemods && !ferry_buf_error(&p); ci++)
			if (c->r->codemods[ci].kind == RW_CM_CALL &&
			    !strcmp(c->r->codemods[ci].target, p.buf))
				break;
		if (ferry_buf_error(&p) || ci == c->r->ncodemods)
			;
		else if (is(c, e, "("))
			warn(c, T(c, k)->line, "'%.*s' is imported from %s but also "
			     "rebound in this file; this call is not rewritten",
			     (int)T(c, k)->len, c->s + T(c, k)->off, c->b[i].path);
		else if (!annotation(c, k, e))
			warn(c, T(c, k)->line, "%s is used here without a call "
			     "(and '%.*s' is rebound in this file); calls made "
			     "through it are not rewritten", p.buf,
			     (int)T(c, k)->len, c->s + T(c, k)->off);
		ferry_buf_release(&p);
		if (ci < c->r->ncodemods)
			return;
	}
}

static void walk(struct cm *c)
{
	size_t k, ci;

	for (k = 0; k < c->nsig; k++) {
		const struct bind *head;
		const char *hp;
		char *full;
		size_t e;
		int shadow;

		if (c->in_import[k] || !is_name(c, k) || (k > 0 && is(c, k - 1, ".")))
			continue;
		e = chain_end(c, k);
		if (is(c, k, "getattr") && is(c, k + 1, "(") && is_name(c, k + 2)) {
			full = chain_path(c, k + 2, chain_end(c, k + 2), &shadow, NULL);
			if (full && is_target_module(c, full))
				warn(c, T(c, k)->line, "getattr() on %s: codemods "
				     "do not follow it; check the names by hand", full);
			ferry_free(full);
		}
		/* methods: V.name where V is only ever bound to Class(...) */
		if (e > k + 1) {
			const char *cls = instance_of(c, k);

			for (ci = 0; ci < c->r->ncodemods; ci++) {
				const struct rw_codemod *m = &c->r->codemods[ci];
				const char *dot = strrchr(m->target, '.');

				if (m->kind != RW_CM_METHOD || !is(c, k + 2, dot + 1))
					continue;
				if (cls && !strncmp(cls, m->target, (size_t)(dot - m->target)) &&
				    cls[dot - m->target] == '\0') {
					edit(c, T(c, k + 2)->off, T(c, k + 2)->len, m->to);
					c->hits[ci]++;
				} else if (c->used) {
					warn(c, T(c, k)->line, "'.%s' on '%.*s', which "
					     "ferry cannot prove is a %.*s: renamed to '%s' "
					     "only where it can; check this one", dot + 1,
					     (int)T(c, k)->len, c->s + T(c, k)->off,
					     (int)(dot - m->target), m->target, m->to);
				}
			}
		}
		head = resolve(c, k, &shadow);
		full = chain_path(c, k, e, &shadow, &hp);
		if (shadow)
			shadowed_use(c, k, e);
		if (!full) {
			k = e - 1;
			continue;
		}
		for (ci = 0; ci < c->r->ncodemods; ci++) {
			const struct rw_codemod *m = &c->r->codemods[ci];
			size_t tl = strlen(m->target);

			if (m->kind == RW_CM_CALL && !strcmp(full, m->target)) {
				if (is(c, e, "("))
					call_codemod(c, ci, e, head);
				else if (!annotation(c, k, e))
					warn(c, T(c, k)->line, "%s is used here without "
					     "a call; calls made through it are not rewritten",
					     m->target);
			} else if (m->kind == RW_CM_ATTR && !strncmp(full, m->target, tl) &&
				   (full[tl] == '\0' || full[tl] == '.') &&
				   strlen(hp) < tl) {
				/* the chain component that is the attribute */
				size_t x = k, have = strlen(hp);

				while (have < tl && x + 2 < e) {
					x += 2;
					have += 1 + T(c, x)->len;
				}
				if (have == tl) {
					edit(c, T(c, x)->off, T(c, x)->len, m->to);
					c->hits[ci]++;
				}
			}
		}
		ferry_free(full);
		k = e - 1;
	}
}

/* `from mod import Old [as X]` of a renamed attribute. */
static void attr_imports(struct cm *c)
{
	size_t i, ci;

	for (i = 0; i < c->nb; i++) {
		const struct bind *b = &c->b[i];

		if (b->kind != B_IMPORT || !b->from_mod)
			continue;
		for (ci = 0; ci < c->r->ncodemods; ci++) {
			const struct rw_codemod *m = &c->r->codemods[ci];
			const struct pyt_token *t = T(c, b->rhs);
			struct ferry_buf nt = FERRY_BUF_INIT;

			if (m->kind != RW_CM_ATTR || strcmp(m->target, b->path))
				continue;
			/* keep the local name so its uses need no edit */
			if (is(c, b->rhs + 1, "as"))
				put(&nt, "%s", m->to);
			else
				put(&nt, "%s as %.*s", m->to, (int)t->len,
					       c->s + t->off);
			if (ferry_buf_error(&nt))
				c->oom = 1;
			else
				edit(c, t->off, t->len, nt.buf);
			ferry_buf_release(&nt);
			c->hits[ci]++;
		}
	}
}

int rw_codemod_mentions(const struct ferry_recipe *r, const char *text,
			size_t len)
{
	size_t i;

	for (i = 0; i < r->ncodemods; i++) {
		const char *t = r->codemods[i].target;
		size_t n = strcspn(t, ".");
		const char *h = text, *end = text + len;

		while ((h = memmem(h, (size_t)(end - h), t, n))) {
			if ((h == text || !(h[-1] == '_' || (unsigned)((h[-1] | 32) - 'a') < 26u ||
					    (unsigned)(h[-1] - '0') < 10u)) &&
			    (h + n == end || !(h[n] == '_' || (unsigned)((h[n] | 32) - 'a') < 26u ||
					       (unsigned)(h[n] - '0') < 10u)))
				return 1;
			h++;
		}
	}
	return 0;
}

int rw_codemod_python(const struct ferry_recipe *r, const char *text,
		      size_t len, struct ferry_buf *out, struct ferry_buf *notes,
		      int *used, struct ferry_error *err)
{
	struct cm c;
	size_t i;
	int rc = 0;

	*used = 0;
	if (!r->ncodemods)
		return ferry_buf_add(out, text, len) ?
			ferry_error_set(err, FERRY_ENOMEM, "out of memory") : 0;
	memset(&c, 0, sizeof(c));
	c.r = r;
	c.s = text;
	c.notes = notes;
	if ((rc = rw_pyt_tokenize(text, len, &c.t, err)))
		goto out;
	c.sig = rw_pyt_significant(&c.t, &c.nsig);
	c.in_import = ferry_calloc(c.t.n + 1, 1);
	c.hits = ferry_calloc(r->ncodemods, sizeof(*c.hits));
	if (!c.sig || !c.in_import || !c.hits) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	scan_imports(&c);
	c.used = file_uses(&c);
	if (c.used) {
		scan_bindings(&c);
		resolve_instances(&c);
		attr_imports(&c);
		walk(&c);
	}
	for (i = 0; i < r->ncodemods && notes; i++) {
		const struct rw_codemod *m = &r->codemods[i];

		if (!c.hits[i])
			continue;
		if (m->kind == RW_CM_CALL && m->kw_from.n && ferry_buf_addf(notes,
			"%s(%s=) -> %s= (%zu call%s)\n", m->target, m->kw_from.v[0],
			m->kw_to.v[0], c.hits[i], c.hits[i] == 1 ? "" : "s"))
			c.oom = 1;
		if (m->kind == RW_CM_CALL && m->insert_value) {
			/* "{paho.mqtt.client:CallbackAPIVersion}.VERSION1" is
			 * shown as CallbackAPIVersion.VERSION1 */
			const char *o = strchr(m->insert_value, '{');
			const char *z = o ? strchr(o, '}') : NULL;
			const char *col = o ? memchr(o, ':', (size_t)(z - o)) : NULL;
			const char *nm = col ? col + 1 : o ? o + 1 : "";
			int nl = o ? (int)(z - nm) : 0;

			if (ferry_buf_addf(notes, "%s(): %.*s%.*s%s inserted as "
				"argument %d (%zu call%s)\n", m->target,
				o ? (int)(o - m->insert_value) : 0, m->insert_value,
				nl, nm, o ? z + 1 : m->insert_value, m->insert_pos + 1,
				c.hits[i], c.hits[i] == 1 ? "" : "s"))
				c.oom = 1;
		}
		if (m->kind != RW_CM_CALL && ferry_buf_addf(notes,
			"%s -> %s (%zu place%s)\n", m->target, m->to, c.hits[i],
			c.hits[i] == 1 ? "" : "s"))
			c.oom = 1;
	}
	if (c.oom) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = rw_edits_apply(&c.edits, text, len, out))) {
		ferry_error_set(err, rc, "cannot apply the codemods: %s",
				ferry_strerror(rc));
		goto out;
	}
	*used = c.used;
out:
	for (i = 0; i < c.nb; i++) {
		ferry_free(c.b[i].path);
		ferry_free(c.b[i].from_mod);
	}
	ferry_free(c.b);
	rw_strlist_release(&c.mods);
	rw_strlist_release(&c.added);
	rw_edits_release(&c.edits);
	rw_pyt_tokens_release(&c.t);
	ferry_free(c.sig);
	ferry_free(c.in_import);
	ferry_free(c.hits);
	return rc;
}

void rw_codemod_release(struct rw_codemod *m)
{
	ferry_free(m->target);
	rw_strlist_release(&m->kw_from);
	rw_strlist_release(&m->kw_to);
	ferry_free(m->insert_value);
	rw_strlist_release(&m->insert_unless);
	ferry_free(m->to);
}
