/*
 * recipe.c - load rewrite recipes (YAML, via libfyaml) into struct
 * ferry_recipe.
 *
 * A recipe is the whole input of `ferry rewrite`: which files make a
 * directory a service, the requirement rules, the module renames, the API
 * warnings and the test command.  Unknown keys are errors so that a typo
 * in a recipe never silently turns a rule off.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libfyaml.h>

#include "ferry/alloc.h"
#include "rewrite_int.h"
#include "wire/yaml.h"

#define RW_DEFAULT_TEST_CMD "pytest tests/ -v --tb=short"

int rw_strlist_push(struct rw_strlist *l, const char *s)
{
	char *d;

	if (FERRY_GROW(l->v, l->cap, l->n + 1))
		return FERRY_ENOMEM;
	d = ferry_strdup(s);
	if (!d)
		return FERRY_ENOMEM;
	l->v[l->n++] = d;
	return 0;
}

void rw_strlist_release(struct rw_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		ferry_free(l->v[i]);
	ferry_free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

void ferry_recipe_free(ferry_recipe *r)
{
	size_t i;

	if (!r)
		return;
	ferry_free(r->name);
	ferry_free(r->description);
	rw_strlist_release(&r->service_any);
	rw_strlist_release(&r->service_all);
	rw_strlist_release(&r->req_files);
	for (i = 0; i < r->nreplace; i++) {
		ferry_free(r->replace[i].from);
		ferry_free(r->replace[i].from_norm);
		ferry_free(r->replace[i].to);
		ferry_free(r->replace[i].to_norm);
		ferry_free(r->replace[i].pin);
		ferry_free(r->replace[i].comment);
	}
	ferry_free(r->replace);
	for (i = 0; i < r->nadd; i++) {
		ferry_free(r->add[i].package);
		ferry_free(r->add[i].norm);
		ferry_free(r->add[i].pin);
		ferry_free(r->add[i].when);
		ferry_free(r->add[i].when_norm);
		ferry_free(r->add[i].comment);
	}
	ferry_free(r->add);
	rw_strlist_release(&r->py_files);
	for (i = 0; i < r->nmodules; i++) {
		ferry_free(r->modules[i].from);
		ferry_free(r->modules[i].to);
	}
	ferry_free(r->modules);
	for (i = 0; i < r->nwarnings; i++) {
		rw_strlist_release(&r->warnings[i].match);
		ferry_free(r->warnings[i].message);
	}
	ferry_free(r->warnings);
	for (i = 0; i < r->ncodemods; i++)
		rw_codemod_release(&r->codemods[i]);
	ferry_free(r->codemods);
	ferry_free(r->test_cmd);
	ferry_free(r);
}

const char *ferry_recipe_name(const ferry_recipe *r)
{
	return r->name;
}

const char *ferry_recipe_test_cmd(const ferry_recipe *r)
{
	return r->test_cmd ? r->test_cmd : "";
}

int ferry_recipe_test_cmd_given(const ferry_recipe *r)
{
	return r->test_cmd_given;
}

/* ---- YAML helpers ----------------------------------------------------- */

struct ctx {
	const char *origin;
	struct ferry_error *err;
};

/* Start of a node: libfyaml marks only tokens, so use the first scalar. */
static const struct fy_mark *node_mark(struct fy_node *n)
{
	void *it = NULL;

	while (n) {
		switch (fy_node_get_type(n)) {
		case FYNT_SCALAR:
			return fy_node_get_scalar_token(n) ?
				fy_token_start_mark(fy_node_get_scalar_token(n)) : NULL;
		case FYNT_SEQUENCE:
			n = fy_node_sequence_iterate(n, &it);
			break;
		case FYNT_MAPPING: {
			struct fy_node_pair *pair = fy_node_mapping_iterate(n, &it);

			n = pair ? fy_node_pair_key(pair) : NULL;
			break;
		}
		default:
			return NULL;
		}
		it = NULL;
	}
	return NULL;
}

static int bad(struct ctx *c, struct fy_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct ctx *c, struct fy_node *n, const char *fmt, ...)
{
	const struct fy_mark *m = node_mark(n);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m)
		return ferry_error_set(c->err, FERRY_EPARSE,
				       "invalid recipe '%s' at line %d: %s",
				       c->origin, m->line + 1, msg);
	return ferry_error_set(c->err, FERRY_EPARSE, "invalid recipe '%s': %s",
			       c->origin, msg);
}

/* Scalar value as a new string; *out NULL when n is NULL. */
static int get_str(struct ctx *c, struct fy_node *n, const char *key,
		   char **out)
{
	const char *s;
	size_t len;

	*out = NULL;
	if (!n)
		return 0;
	if (fy_node_get_type(n) != FYNT_SCALAR)
		return bad(c, n, "'%s' must be a string", key);
	s = fy_node_get_scalar(n, &len);
	if (!s)
		return bad(c, n, "'%s' must be a string", key);
	if (memchr(s, '\0', len))
		return bad(c, n, "'%s' contains a NUL byte", key);
	*out = ferry_strndup(s, len);
	return *out ? 0 : ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
}

/* A string or a sequence of strings. */
static int get_strlist(struct ctx *c, struct fy_node *n, const char *key,
		       struct rw_strlist *out)
{
	void *it = NULL;
	struct fy_node *e;
	char *s;
	int rc;

	if (!n)
		return 0;
	if (fy_node_get_type(n) == FYNT_SCALAR) {
		if ((rc = get_str(c, n, key, &s)))
			return rc;
		rc = rw_strlist_push(out, s);
		ferry_free(s);
		return rc ? ferry_error_set(c->err, rc, "out of memory") : 0;
	}
	if (fy_node_get_type(n) != FYNT_SEQUENCE)
		return bad(c, n, "'%s' must be a string or a list of strings", key);
	while ((e = fy_node_sequence_iterate(n, &it))) {
		if ((rc = get_str(c, e, key, &s)))
			return rc;
		rc = rw_strlist_push(out, s);
		ferry_free(s);
		if (rc)
			return ferry_error_set(c->err, rc, "out of memory");
	}
	return 0;
}

/* Check that mapping n has only the allowed keys (NULL-terminated). */
static int check_keys(struct ctx *c, struct fy_node *n, const char *section,
		      const char *const *allowed)
{
	void *it = NULL;
	struct fy_node_pair *pair;
	char what[256];

	if (fy_node_get_type(n) != FYNT_MAPPING)
		return bad(c, n, "'%s' must be a mapping", section);
	while ((pair = fy_node_mapping_iterate(n, &it))) {
		struct fy_node *k = fy_node_pair_key(pair);
		const char *ks;
		size_t kl;
		const char *const *a;

		ks = k ? fy_node_get_scalar(k, &kl) : NULL;
		if (!ks)
			return bad(c, k, "a key in '%s' is not a string", section);
		for (a = allowed; *a; a++)
			if (strlen(*a) == kl && !memcmp(*a, ks, kl))
				break;
		if (!*a) {
			snprintf(what, sizeof(what), "%.*s' in '%s", (int)kl, ks,
				 section);
			return bad(c, k, "unknown key '%s'", what);
		}
	}
	return 0;
}

static struct fy_node *get(struct fy_node *map, const char *key)
{
	return fy_node_mapping_lookup_by_string(map, key, FY_NT);
}

static int norm_dup(const char *s, char **out)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	int rc;

	rc = ferry_pip_normalize(s, strlen(s), &b);
	if (rc) {
		ferry_buf_release(&b);
		return rc;
	}
	*out = ferry_buf_detach(&b, NULL);
	return *out ? 0 : FERRY_ENOMEM;
}

static int valid_package(const char *s)
{
	size_t i, n = strlen(s);

	if (!n)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' ||
		      s[i] == '.'))
			return 0;
	return 1;
}

static int valid_module(const char *s)
{
	size_t i, n = strlen(s);
	int start = 1;

	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (start)
				return 0;
			start = 1;
			continue;
		}
		if (!(ch == '_' || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || (!start && ch >= '0' && ch <= '9')))
			return 0;
		start = 0;
	}
	return !start;
}

static int parse_requirements(struct ctx *c, struct ferry_recipe *r,
			      struct fy_node *n)
{
	static const char *const keys[] = { "files", "replace", "add", NULL };
	static const char *const rkeys[] = { "package", "with", "pin", "comment", NULL };
	static const char *const akeys[] = { "package", "pin", "when", "comment", NULL };
	struct fy_node *seq, *e;
	void *it = NULL;
	int rc;

	if ((rc = check_keys(c, n, "requirements", keys)))
		return rc;
	if ((rc = get_strlist(c, get(n, "files"), "files", &r->req_files)))
		return rc;
	seq = get(n, "replace");
	if (seq && fy_node_get_type(seq) != FYNT_SEQUENCE)
		return bad(c, seq, "'%s' must be a list", "replace");
	while (seq && (e = fy_node_sequence_iterate(seq, &it))) {
		struct rw_replace *x;
		size_t cap = r->nreplace;

		if ((rc = check_keys(c, e, "replace", rkeys)))
			return rc;
		if (ferry_array_grow((void **)&r->replace, &cap, r->nreplace + 1,
				     sizeof(*r->replace)))
			return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
		x = &r->replace[r->nreplace++];
		memset(x, 0, sizeof(*x));
		if ((rc = get_str(c, get(e, "package"), "package", &x->from)) ||
		    (rc = get_str(c, get(e, "with"), "with", &x->to)) ||
		    (rc = get_str(c, get(e, "pin"), "pin", &x->pin)) ||
		    (rc = get_str(c, get(e, "comment"), "comment", &x->comment)))
			return rc;
		if (!x->from || !valid_package(x->from))
			return bad(c, e, "'%s' needs a valid 'package'", "replace");
		if (!x->to || !valid_package(x->to))
			return bad(c, e, "'%s' needs a valid 'with' package", "replace");
		if (!x->pin && !(x->pin = ferry_strdup("")))
			return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
		if (norm_dup(x->from, &x->from_norm) || norm_dup(x->to, &x->to_norm))
			return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
	}
	it = NULL;
	seq = get(n, "add");
	if (seq && fy_node_get_type(seq) != FYNT_SEQUENCE)
		return bad(c, seq, "'%s' must be a list", "add");
	while (seq && (e = fy_node_sequence_iterate(seq, &it))) {
		struct rw_add *x;
		size_t cap = r->nadd;

		if ((rc = check_keys(c, e, "add", akeys)))
			return rc;
		if (ferry_array_grow((void **)&r->add, &cap, r->nadd + 1,
				     sizeof(*r->add)))
			return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
		x = &r->add[r->nadd++];
		memset(x, 0, sizeof(*x));
		if ((rc = get_str(c, get(e, "package"), "package", &x->package)) ||
		    (rc = get_str(c, get(e, "pin"), "pin", &x->pin)) ||
		    (rc = get_str(c, get(e, "when"), "when", &x->when)) ||
		    (rc = get_str(c, get(e, "comment"), "comment", &x->comment)))
			return rc;
		if (!x->package || !valid_package(x->package))
			return bad(c, e, "'%s' needs a valid 'package'", "add");
		if (!x->when || !valid_package(x->when))
			return bad(c, e, "'%s' needs a valid 'when' package", "add");
		if (!x->pin && !(x->pin = ferry_strdup("")))
			return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
		if (norm_dup(x->package, &x->norm) || norm_dup(x->when, &x->when_norm))
			return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
	}
	return 0;
}

/* One python.codemods entry: exactly one of call/attribute/method. */
static int parse_codemod(struct ctx *c, struct rw_codemod *m, struct fy_node *e)
{
	static const char *const keys[] = { "call", "attribute", "method",
		"rename_keywords", "insert_argument", "to", NULL };
	static const char *const ikeys[] = { "position", "value", "unless", NULL };
	struct fy_node *kw, *ins, *x;
	char *call = NULL, *attr = NULL, *meth = NULL, *s = NULL;
	int rc, nkind;

	m->insert_pos = -1;
	if ((rc = check_keys(c, e, "codemods", keys)))
		return rc;
	if ((rc = get_str(c, get(e, "call"), "call", &call)) ||
	    (rc = get_str(c, get(e, "attribute"), "attribute", &attr)) ||
	    (rc = get_str(c, get(e, "method"), "method", &meth)) ||
	    (rc = get_str(c, get(e, "to"), "to", &m->to))) {
		ferry_free(call);
		ferry_free(attr);
		ferry_free(meth);
		return rc;
	}
	nkind = !!call + !!attr + !!meth;
	m->kind = call ? RW_CM_CALL : attr ? RW_CM_ATTR : RW_CM_METHOD;
	m->target = call ? call : attr ? attr : meth;
	if (call && attr)
		ferry_free(attr);
	if ((call || attr) && meth)
		ferry_free(meth);
	if (nkind != 1)
		return bad(c, e, "%s", "a codemod names exactly one of 'call', "
			   "'attribute' or 'method'");
	if (!valid_module(m->target) || !strchr(m->target, '.'))
		return bad(c, e, "codemod target '%s' must be a dotted import path "
			   "(module.Name)", m->target);
	if (m->kind != RW_CM_CALL) {
		if (!m->to || !valid_module(m->to) || strchr(m->to, '.'))
			return bad(c, e, "'%s' codemods need a 'to' name",
				   m->kind == RW_CM_ATTR ? "attribute" : "method");
		if (get(e, "rename_keywords") || get(e, "insert_argument"))
			return bad(c, e, "%s", "'rename_keywords' and "
				   "'insert_argument' belong to 'call' codemods");
		if (m->kind == RW_CM_METHOD && !strchr(strchr(m->target, '.') + 1, '.'))
			return bad(c, e, "method '%s' must be module.Class.method",
				   m->target);
		return 0;
	}
	if (m->to)
		return bad(c, e, "%s", "'to' belongs to 'attribute' and 'method' "
			   "codemods; a call takes 'rename_keywords'");
	if ((kw = get(e, "rename_keywords"))) {
		void *it = NULL;
		struct fy_node_pair *pair;

		if (fy_node_get_type(kw) != FYNT_MAPPING)
			return bad(c, kw, "%s", "'rename_keywords' must be a mapping "
				   "old: new");
		while ((pair = fy_node_mapping_iterate(kw, &it))) {
			char *from = NULL, *to = NULL;

			if ((rc = get_str(c, fy_node_pair_key(pair), "rename_keywords", &from)) ||
			    (rc = get_str(c, fy_node_pair_value(pair), "rename_keywords", &to))) {
				ferry_free(from);
				return rc;
			}
			rc = !from || !to || !valid_module(from) || !valid_module(to) ||
			     strchr(from, '.') || strchr(to, '.');
			if (!rc && (rw_strlist_push(&m->kw_from, from) ||
				    rw_strlist_push(&m->kw_to, to)))
				rc = -1;
			ferry_free(from);
			ferry_free(to);
			if (rc > 0)
				return bad(c, kw, "%s", "'rename_keywords' maps "
					   "Python names to Python names");
			if (rc)
				return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
		}
	}
	if ((ins = get(e, "insert_argument"))) {
		char *end;

		if ((rc = check_keys(c, ins, "insert_argument", ikeys)) ||
		    (rc = get_str(c, get(ins, "value"), "value", &m->insert_value)) ||
		    (rc = get_strlist(c, get(ins, "unless"), "unless",
				      &m->insert_unless)) ||
		    (rc = get_str(c, (x = get(ins, "position")), "position", &s)))
			return rc;
		m->insert_pos = s ? (int)strtol(s, &end, 10) : 0;
		if (s && (end == s || *end || m->insert_pos < 0 || m->insert_pos > 32)) {
			ferry_free(s);
			return bad(c, x, "%s", "'position' must be 0..32 (0: first "
				   "argument)");
		}
		ferry_free(s);
		if (!m->insert_value || !m->insert_value[0])
			return bad(c, ins, "%s", "'insert_argument' needs a 'value'");
		if (strchr(m->insert_value, '{') &&
		    (!strchr(m->insert_value, '}') ||
		     strchr(m->insert_value, '}') < strchr(m->insert_value, '{')))
			return bad(c, ins, "%s", "'value': '{module:Name}' is missing "
				   "its '}'");
	}
	if (!m->kw_from.n && !m->insert_value)
		return bad(c, e, "call codemod '%s' needs 'rename_keywords' or "
			   "'insert_argument'", m->target);
	return 0;
}

static int parse_python(struct ctx *c, struct ferry_recipe *r,
			struct fy_node *n)
{
	static const char *const keys[] = { "files", "rename", "warnings",
		"codemods", NULL };
	static const char *const mkeys[] = { "module", "to", NULL };
	static const char *const wkeys[] = { "match", "message", NULL };
	struct fy_node *seq, *e;
	void *it = NULL;
	int rc;

	if ((rc = check_keys(c, n, "python", keys)))
		return rc;
	if ((rc = get_strlist(c, get(n, "files"), "files", &r->py_files)))
		return rc;
	seq = get(n, "rename");
	if (seq && fy_node_get_type(seq) != FYNT_SEQUENCE)
		return bad(c, seq, "'%s' must be a list", "rename");
	while (seq && (e = fy_node_sequence_iterate(seq, &it))) {
		struct rw_module *m;
		size_t cap = r->nmodules;

		if ((rc = check_keys(c, e, "rename", mkeys)))
			return rc;
		if (ferry_array_grow((void **)&r->modules, &cap, r->nmodules + 1,
				     sizeof(*r->modules)))
			return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
		m = &r->modules[r->nmodules++];
		memset(m, 0, sizeof(*m));
		if ((rc = get_str(c, get(e, "module"), "module", &m->from)) ||
		    (rc = get_str(c, get(e, "to"), "to", &m->to)))
			return rc;
		if (!m->from || !valid_module(m->from))
			return bad(c, e, "'%s' needs a dotted Python 'module' name", "rename");
		if (!m->to || !valid_module(m->to))
			return bad(c, e, "'%s' needs a dotted Python 'to' name", "rename");
	}
	it = NULL;
	seq = get(n, "warnings");
	if (seq && fy_node_get_type(seq) != FYNT_SEQUENCE)
		return bad(c, seq, "'%s' must be a list", "warnings");
	while (seq && (e = fy_node_sequence_iterate(seq, &it))) {
		struct rw_warning *w;
		size_t cap = r->nwarnings;

		if ((rc = check_keys(c, e, "warnings", wkeys)))
			return rc;
		if (ferry_array_grow((void **)&r->warnings, &cap, r->nwarnings + 1,
				     sizeof(*r->warnings)))
			return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
		w = &r->warnings[r->nwarnings++];
		memset(w, 0, sizeof(*w));
		if ((rc = get_strlist(c, get(e, "match"), "match", &w->match)) ||
		    (rc = get_str(c, get(e, "message"), "message", &w->message)))
			return rc;
		if (!w->match.n || !w->message)
			return bad(c, e, "'%s' entries need 'match' and 'message'",
				   "warnings");
	}
	it = NULL;
	seq = get(n, "codemods");
	if (seq && fy_node_get_type(seq) != FYNT_SEQUENCE)
		return bad(c, seq, "'%s' must be a list", "codemods");
	while (seq && (e = fy_node_sequence_iterate(seq, &it))) {
		size_t cap = r->ncodemods;

		if (ferry_array_grow((void **)&r->codemods, &cap, r->ncodemods + 1,
				     sizeof(*r->codemods)))
			return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
		memset(&r->codemods[r->ncodemods], 0, sizeof(*r->codemods));
		r->ncodemods++;
		if ((rc = parse_codemod(c, &r->codemods[r->ncodemods - 1], e)))
			return rc;
	}
	return 0;
}

static int parse_root(struct ctx *c, struct ferry_recipe *r,
		      struct fy_node *root)
{
	static const char *const keys[] = { "name", "description", "service",
		"requirements", "python", "tests", NULL };
	static const char *const skeys[] = { "any", "all", NULL };
	static const char *const tkeys[] = { "command", "timeout", NULL };
	struct fy_node *n;
	char *s = NULL;
	int rc;

	if (!root)
		return bad(c, NULL, "%s", "the recipe is empty");
	if ((rc = check_keys(c, root, "recipe", keys)))
		return rc;
	if ((rc = get_str(c, get(root, "name"), "name", &r->name)) ||
	    (rc = get_str(c, get(root, "description"), "description",
			  &r->description)))
		return rc;
	if (!r->name || !valid_package(r->name))
		return bad(c, root, "%s", "'name' is required (letters, digits, '-', '_', '.')");
	if ((n = get(root, "service"))) {
		if ((rc = check_keys(c, n, "service", skeys)) ||
		    (rc = get_strlist(c, get(n, "any"), "any", &r->service_any)) ||
		    (rc = get_strlist(c, get(n, "all"), "all", &r->service_all)))
			return rc;
	}
	if ((n = get(root, "requirements")) && (rc = parse_requirements(c, r, n)))
		return rc;
	if ((n = get(root, "python")) && (rc = parse_python(c, r, n)))
		return rc;
	if (!r->req_files.n &&
	    (rw_strlist_push(&r->req_files, "requirements*.txt") ||
	     rw_strlist_push(&r->req_files, "constraints*.txt") ||
	     rw_strlist_push(&r->req_files, "pyproject.toml")))
		return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
	if (!r->py_files.n &&
	    (rw_strlist_push(&r->py_files, "src/**/*.py") ||
	     rw_strlist_push(&r->py_files, "tests/**/*.py")))
		return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
	if ((n = get(root, "tests"))) {
		if ((rc = check_keys(c, n, "tests", tkeys)) ||
		    (rc = get_str(c, get(n, "command"), "command", &r->test_cmd)) ||
		    (rc = get_str(c, get(n, "timeout"), "timeout", &s)))
			return rc;
		if (s) {
			char *end;

			errno = 0;
			r->test_timeout = strtod(s, &end);
			if (errno || end == s || *end || r->test_timeout < 0) {
				ferry_free(s);
				return bad(c, get(n, "timeout"), "%s",
					   "'timeout' must be a number of seconds");
			}
			ferry_free(s);
		}
	}
	r->test_cmd_given = r->test_cmd != NULL;
	if (!r->test_cmd && !(r->test_cmd = ferry_strdup(RW_DEFAULT_TEST_CMD)))
		return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
	if (!r->nreplace && !r->nadd && !r->nmodules && !r->ncodemods)
		return bad(c, root, "%s", "the recipe has no 'replace', 'add', "
			   "'rename' or 'codemods' rule");
	return 0;
}

int ferry_recipe_parse(const char *text, size_t len, const char *origin,
		       ferry_recipe **out, struct ferry_error *err)
{
	struct wire_yaml y = { NULL, NULL };
	struct wire_yaml_error ye;
	struct ferry_recipe *r = NULL;
	struct ctx c = { origin, err };
	int rc = 0;

	r = ferry_calloc(1, sizeof(*r));
	if (!r) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = wire_yaml_parse(text, len, &y, &ye)) < 0 || !y.doc) {
		if (rc == FERRY_ENOMEM)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		else if (rc == FERRY_EINVAL)
			rc = ferry_error_set(err, FERRY_EPARSE,
				"cannot parse recipe '%s': line %d is not valid UTF-8 text",
				origin, ye.line);
		else if (rc == FERRY_EPARSE)
			rc = ferry_error_set(err, FERRY_EPARSE,
					     "cannot parse recipe '%s' at line %d: %s",
					     origin, ye.line, ye.msg);
		else
			rc = ferry_error_set(err, FERRY_EPARSE,
					     "cannot parse recipe '%s': invalid YAML", origin);
		goto out;
	}
	if ((rc = parse_root(&c, r, fy_document_root(y.doc))))
		goto out;
	*out = r;
	r = NULL;
out:
	ferry_recipe_free(r);
	wire_yaml_release(&y);
	return rc;
}

int ferry_recipe_load_file(const char *path, ferry_recipe **out,
			   struct ferry_error *err)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	int rc = ferry_buf_read_file(&b, path);

	if (rc == FERRY_ENOTFOUND)
		rc = ferry_error_set(err, FERRY_EIO, "cannot open recipe '%s': %s",
				     path, strerror(errno));
	else if (rc == FERRY_EIO)
		rc = ferry_error_set(err, FERRY_EIO, "cannot read recipe '%s': %s",
				     path, strerror(errno));
	else if (rc < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	else
		rc = ferry_recipe_parse(b.buf, b.len, path, out, err);
	ferry_buf_release(&b);
	return rc;
}

int ferry_recipe_load(const char *name_or_path, ferry_recipe **out,
		      struct ferry_error *err)
{
	struct stat st;
	const char *text;

	if (!stat(name_or_path, &st) || strchr(name_or_path, '/'))
		return ferry_recipe_load_file(name_or_path, out, err);
	text = ferry_recipe_builtin_text(name_or_path);
	if (!text)
		return ferry_error_set(err, FERRY_ENOTFOUND,
				       "no recipe file or built-in recipe named '%s'; "
				       "built-in: asyncio-mqtt-to-aiomqtt",
				       name_or_path);
	return ferry_recipe_parse(text, strlen(text), name_or_path, out, err);
}
