/*
 * config.c - the options of `ferry relay` from a YAML file and from
 * FERRY_RELAY_* environment variables, and the phase names.
 *
 * One table (keys[] below) names every option once: its YAML key (nested
 * ones as "auth.user"), its kind and where it lives in struct
 * ferry_relay_opts; the environment variable is derived from the key
 * (FERRY_RELAY_ + upper case, '-' and '.' as '_'), so file, environment
 * and README cannot drift apart.
 *
 * Precedence is the caller's order: each loader fills only options that
 * are still unset (NULL, 0), so loading the command line first, then the
 * environment, then the file gives CLI > env > file.  Strings a loader
 * sets are copies kept in opts->owned (struct owned) and die with
 * ferry_relay_opts_release().
 */
#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/relay.h"
#include "ferry/size.h"
#include "model/value.h"
#include "wire/yaml.h"

/* ---- phase names ------------------------------------------------------------ */

static const char *const phase_names[] = { "old-only", "dual", "new-primary", "new-only" };

const char *ferry_phase_name(int phase)
{
	if (phase < FERRY_PHASE_OLD_ONLY || phase > FERRY_PHASE_NEW_ONLY)
		return NULL;
	return phase_names[phase];
}

int ferry_phase_parse(const char *s, int *phase)
{
	int i;

	for (i = FERRY_PHASE_OLD_ONLY; s && i <= FERRY_PHASE_NEW_ONLY; i++)
		if (!strcmp(s, phase_names[i])) {
			*phase = i;
			return 0;
		}
	return FERRY_EUSAGE;
}

int ferry_relay_is_pg_url(const char *s)
{
	return s && (!strncmp(s, "postgres://", 11) || !strncmp(s, "postgresql://", 13));
}

/* ---- owned strings ------------------------------------------------------------ */

struct owned {
	void **p;       /* every allocation a loader made */
	size_t n, cap;
	uint64_t set;   /* bit i: keys[i] was set by a loader, also to a value
			 * that looks unset (keep-ns: false from the environment
			 * must still win over the file's true) */
};

static struct owned *owned_of(struct ferry_relay_opts *o)
{
	if (!o->owned)
		o->owned = ferry_calloc(1, sizeof(struct owned));
	return o->owned;
}

static void *own(struct ferry_relay_opts *o, void *p)
{
	struct owned *w;

	if (!p)
		return NULL;
	if (!(w = owned_of(o))) {
		ferry_free(p);
		return NULL;
	}
	if (FERRY_GROW(w->p, w->cap, w->n + 1) < 0) {
		ferry_free(p);
		return NULL;
	}
	w->p[w->n++] = p;
	return p;
}

void ferry_relay_opts_init(struct ferry_relay_opts *o)
{
	memset(o, 0, sizeof(*o));
}

void ferry_relay_opts_release(struct ferry_relay_opts *o)
{
	struct owned *w = o->owned;
	size_t i;

	if (w) {
		for (i = 0; i < w->n; i++)
			ferry_free(w->p[i]);
		ferry_free(w->p);
		ferry_free(w);
	}
	ferry_relay_opts_init(o);
}

/* ---- the option table ------------------------------------------------------------ */

enum kind { K_STR, K_PGURL, K_PHASE, K_LAYOUT, K_SIZE64, K_SIZE, K_INT, K_WINDOW, K_BOOL, K_LIST };

struct key {
	const char *name;   /* YAML key, "auth.user" inside a mapping */
	enum kind kind;
	size_t off;         /* in struct ferry_relay_opts */
	const char *hint;   /* what a good value looks like */
};

#define OFF(f) offsetof(struct ferry_relay_opts, f)
static const struct key keys[] = {
	{ "listen", K_STR, OFF(listen), "HOST:PORT" },
	{ "old", K_STR, OFF(old_url), "a URL" },
	{ "new", K_STR, OFF(new_url), "a URL" },
	{ "spool", K_STR, OFF(spool_dir), "a directory" },
	{ "spool-max", K_SIZE64, OFF(spool_max), "e.g. 1GiB, 500MB, 1048576" },
	{ "phase", K_PHASE, OFF(phase), "old-only, dual, new-primary or new-only" },
	{ "cutover-db", K_PGURL, OFF(cutover_db), "the postgres:// URL of the database that holds "
	  "the cutover phase" },
	{ "layout", K_LAYOUT, OFF(ts.layout), "narrow or wide" },
	{ "map", K_STR, OFF(ts.map), "a map file" },
	{ "table", K_STR, OFF(ts.table), "a table name" },
	{ "series-tag", K_STR, OFF(ts.series_tag), "a tag name" },
	{ "keep-ns", K_BOOL, OFF(ts.keep_ns), "true or false" },
	{ "max-body", K_SIZE, OFF(max_body), "e.g. 25MB, 25000000" },
	{ "threads", K_INT, OFF(threads), "a positive number" },
	{ "databases", K_LIST, OFF(databases), "a list of database names" },
	{ "auth.user", K_STR, OFF(auth_user), "a user name" },
	{ "auth.password", K_STR, OFF(auth_password), "a password" },
	{ "devices.table", K_STR, OFF(devices_table), "a table name" },
	{ "devices.key-column", K_STR, OFF(devices_key_column), "a column name" },
	{ "devices.id-column", K_STR, OFF(devices_id_column), "a column name" },
	{ "devices.measurement", K_STR, OFF(telemetry_measurement), "a measurement name" },
	{ "commit-window-us", K_WINDOW, OFF(commit_window_us),
	  "microseconds, e.g. 2000 (0: no window)" },
	{ "mqtt", K_STR, OFF(mqtt_url), "mqtt[s]://[USER[:PASSWORD]@]HOST[:PORT]" },
	{ "mqtt-map", K_STR, OFF(mqtt_map), "a map file of MQTT subscriptions" },
	{ "mqtt-client-id", K_STR, OFF(mqtt_client_id), "a client id" },
	{ "mqtt-password", K_STR, OFF(mqtt_password), "the password of the mqtt:// URL's user" },
	{ "mqtt-cafile", K_STR, OFF(mqtt_cafile), "a CA certificate file (PEM) or directory" },
	{ "mqtt-cert", K_STR, OFF(mqtt_cert), "a client certificate file (PEM)" },
	{ "mqtt-key", K_STR, OFF(mqtt_key), "the client certificate's key file (PEM)" },
	{ "mqtt-insecure", K_BOOL, OFF(mqtt_insecure), "true or false" },
};
#undef OFF

#define FIELD(o, k, type) ((type *)(void *)((char *)(o) + (k)->off))

static int key_is_set(const struct ferry_relay_opts *o, const struct key *k)
{
	const struct owned *w = o->owned;

	if (w && (w->set >> (k - keys) & 1))
		return 1;
	switch (k->kind) {
	case K_SIZE64: return *FIELD(o, k, uint64_t) != 0;
	case K_SIZE: return *FIELD(o, k, size_t) != 0;
	case K_INT: case K_WINDOW: case K_BOOL: return *FIELD(o, k, int) != 0;
	case K_LIST: return *FIELD(o, k, const char *const *) != NULL;
	default: return *FIELD(o, k, const char *) != NULL;
	}
}

static int parse_bool(const char *v, int *b)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]))
			return *b = 1, 0;
		if (!strcasecmp(v, no[i]))
			return *b = 0, 0;
	}
	return -1;
}

/*
 * Set option k of o from the text v (a list: the items, n of them).  where
 * names the source for a message ("FERRY_RELAY_THREADS", "relay config 'F'
 * line 3").  0, FERRY_EUSAGE or FERRY_ENOMEM.
 */
static int key_set1(struct ferry_relay_opts *o, const struct key *k, const char *v,
		    const char *const *items, size_t n, const char *where,
		    struct ferry_error *err);

static int key_set(struct ferry_relay_opts *o, const struct key *k, const char *v,
		   const char *const *items, size_t n, const char *where,
		   struct ferry_error *err)
{
	struct owned *w;
	int rc = key_set1(o, k, v, items, n, where, err);

	if (rc < 0)
		return rc;
	if (!(w = owned_of(o)))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	w->set |= 1ULL << (k - keys);
	return 0;
}

static int key_set1(struct ferry_relay_opts *o, const struct key *k, const char *v,
		    const char *const *items, size_t n, const char *where,
		    struct ferry_error *err)
{
	uint64_t u;
	long l;
	char *end;
	int ph, b;

	switch (k->kind) {
	case K_PHASE:
		if (ferry_phase_parse(v, &ph) < 0)
			goto bad;
		/* fall through */
	case K_PGURL:
		if (k->kind == K_PGURL && !ferry_relay_is_pg_url(v))
			goto bad;
		/* fall through */
	case K_STR:
	case K_LAYOUT:
		if (k->kind == K_LAYOUT && strcmp(v, "narrow") && strcmp(v, "wide"))
			goto bad;
		if (!*v)
			goto bad;
		if (!(*FIELD(o, k, const char *) = own(o, ferry_strdup(v))))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		return 0;
	case K_SIZE64:
	case K_SIZE:
		if (ferry_size_parse(v, &u) < 0 || !u || (k->kind == K_SIZE && u > SIZE_MAX))
			goto bad;
		if (k->kind == K_SIZE64)
			*FIELD(o, k, uint64_t) = u;
		else
			*FIELD(o, k, size_t) = (size_t)u;
		return 0;
	case K_INT:
		errno = 0;
		l = strtol(v, &end, 10);
		if (!isdigit((unsigned char)*v) || *end || errno || l <= 0 || l > 1000000000)
			goto bad;
		*FIELD(o, k, int) = (int)l;
		return 0;
	case K_WINDOW:
		/* 0 is "unset" in the options (the default window): a window of
		 * none is -1 there */
		errno = 0;
		l = strtol(v, &end, 10);
		if (!isdigit((unsigned char)*v) || *end || errno || l < 0 || l > 10000000)
			goto bad;
		*FIELD(o, k, int) = l ? (int)l : -1;
		return 0;
	case K_BOOL:
		if (parse_bool(v, &b) < 0)
			goto bad;
		*FIELD(o, k, int) = b;
		return 0;
	case K_LIST: {
		const char **list;
		size_t i;

		if (!n)
			goto bad;
		if (!(list = own(o, ferry_calloc(n + 1, sizeof(*list)))))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		for (i = 0; i < n; i++) {
			if (!*items[i]) {
				v = "";
				goto bad;
			}
			if (!(list[i] = own(o, ferry_strdup(items[i]))))
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		*FIELD(o, k, const char *const *) = list;
		return 0;
	}
	}
bad:
	return ferry_error_set(err, FERRY_EUSAGE, "%s: invalid %s '%s': use %s", where,
			       k->name, v ? v : "", k->hint);
}

/* ---- environment ------------------------------------------------------------ */

static void env_name(const struct key *k, char *out, size_t cap)
{
	size_t i = 0, j;

	i = (size_t)snprintf(out, cap, "FERRY_RELAY_");
	for (j = 0; k->name[j] && i + 1 < cap; j++)
		out[i++] = k->name[j] == '-' || k->name[j] == '.' ? '_' :
			   (char)toupper((unsigned char)k->name[j]);
	out[i] = '\0';
}

int ferry_relay_env_load(struct ferry_relay_opts *o, struct ferry_error *err)
{
	char name[64];
	size_t i;
	int rc = 0;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]) && !rc; i++) {
		const struct key *k = &keys[i];
		const char *v;

		env_name(k, name, sizeof(name));
		/* an empty variable is an unset one (VAR= in a unit file) */
		if (!(v = getenv(name)) || !*v || key_is_set(o, k))
			continue;
		if (k->kind == K_LIST) {
			/* comma-separated: "home_assistant,telegraf" */
			const char *items[64];
			char *copy = ferry_strdup(v), *p, *save = NULL;
			size_t n = 0;

			if (!copy)
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			for (p = strtok_r(copy, ",", &save); p && n < 64;
			     p = strtok_r(NULL, ",", &save)) {
				while (*p == ' ')
					p++;
				items[n++] = p;
			}
			rc = key_set(o, k, v, items, n, name, err);
			ferry_free(copy);
		} else {
			rc = key_set(o, k, v, NULL, 0, name, err);
		}
	}
	return rc;
}

/* ---- YAML file ------------------------------------------------------------ */

struct cfgctx {
	const char *path;
	struct ferry_relay_opts *o;
	struct ferry_error *err;
};

static int node_line(struct fy_node *n)
{
	struct fy_token *t = n && fy_node_get_type(n) == FYNT_SCALAR ?
			     fy_node_get_scalar_token(n) : NULL;
	const struct fy_mark *mk = t ? fy_token_start_mark(t) : NULL;

	return mk ? mk->line + 1 : 0;
}

static void where_of(struct cfgctx *c, struct fy_node *n, char *out, size_t cap)
{
	int line = node_line(n);

	if (line)
		snprintf(out, cap, "relay config '%s' line %d", c->path, line);
	else
		snprintf(out, cap, "relay config '%s'", c->path);
}

/* "listen, old, ..." or, for prefix "auth.", "user, password". */
static int valid_keys(const char *prefix, struct ferry_buf *b)
{
	size_t i, pl = strlen(prefix);
	int e = 0, first = 1;
	const char *last = "";
	size_t lastn = 0;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *nm = keys[i].name, *dot;
		size_t n;

		if (strncmp(nm, prefix, pl))
			continue;
		nm += pl;
		n = (dot = strchr(nm, '.')) ? (size_t)(dot - nm) : strlen(nm);
		if (n == lastn && !strncmp(nm, last, n))
			continue;  /* auth.user, auth.password: "auth" once */
		e |= ferry_buf_addf(b, "%s%.*s", first ? "" : ", ", (int)n, nm);
		first = 0;
		last = nm;
		lastn = n;
	}
	return e;
}

static int scalar_of(struct fy_node *n, char **out)
{
	const char *s;
	size_t len;

	*out = NULL;
	if (!n || fy_node_get_type(n) != FYNT_SCALAR)
		return 0;
	s = fy_node_get_scalar(n, &len);
	if (!s)
		s = "", len = 0;
	if (!(*out = ferry_strndup(s, len)))
		return FERRY_ENOMEM;
	return 1;
}

static int load_value(struct cfgctx *c, const struct key *k, struct fy_node *kn,
		      struct fy_node *v)
{
	char where[1200];
	char *s = NULL;
	int rc;

	where_of(c, kn, where, sizeof(where));
	if (key_is_set(c->o, k))
		return 0;
	if (k->kind == K_LIST) {
		const char **items = NULL;
		char **held = NULL;
		size_t n = 0, i;
		void *it = NULL;
		struct fy_node *e;

		if (!v || (fy_node_get_type(v) != FYNT_SEQUENCE &&
			   fy_node_get_type(v) != FYNT_SCALAR))
			return ferry_error_set(c->err, FERRY_EUSAGE, "%s: invalid %s: use %s",
					       where, k->name, k->hint);
		n = fy_node_get_type(v) == FYNT_SEQUENCE ?
		    (size_t)fy_node_sequence_item_count(v) : 1;
		items = ferry_calloc(n + 1, sizeof(*items));
		held = ferry_calloc(n + 1, sizeof(*held));
		if (!items || !held) {
			rc = ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
			goto list_out;
		}
		i = 0;
		if (fy_node_get_type(v) == FYNT_SCALAR) {
			if ((rc = scalar_of(v, &held[0])) < 0)
				goto list_nomem;
			items[i++] = held[0];
		} else {
			while ((e = fy_node_sequence_iterate(v, &it)) != NULL && i < n) {
				if ((rc = scalar_of(e, &held[i])) < 0)
					goto list_nomem;
				if (!rc) {
					rc = ferry_error_set(c->err, FERRY_EUSAGE,
							     "%s: invalid %s: use %s", where,
							     k->name, k->hint);
					goto list_out;
				}
				items[i] = held[i];
				i++;
			}
		}
		rc = key_set(c->o, k, "", items, i, where, c->err);
		goto list_out;
list_nomem:
		rc = ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
list_out:
		for (i = 0; held && i < n; i++)
			ferry_free(held[i]);
		ferry_free(held);
		ferry_free(items);
		return rc;
	}
	if ((rc = scalar_of(v, &s)) < 0)
		return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
	if (!rc || fy_node_is_null(v)) {
		ferry_free(s);
		return ferry_error_set(c->err, FERRY_EUSAGE, "%s: '%s' needs a value: use %s",
				       where, k->name, k->hint);
	}
	rc = key_set(c->o, k, s, NULL, 0, where, c->err);
	ferry_free(s);
	return rc;
}

/* The keys of mapping m, whose full names start with prefix ("" or "auth."). */
static int load_mapping(struct cfgctx *c, struct fy_node *m, const char *prefix)
{
	struct fy_node_pair *p;
	void *it = NULL;
	int rc = 0;

	while ((p = fy_node_mapping_iterate(m, &it)) != NULL && !rc) {
		struct fy_node *kn = fy_node_pair_key(p), *v = fy_node_pair_value(p);
		char full[128], where[1200];
		const char *ks = NULL;
		size_t kl = 0, i, pl = strlen(prefix);
		int found = 0;

		if (kn && fy_node_get_type(kn) == FYNT_SCALAR)
			ks = fy_node_get_scalar(kn, &kl);
		snprintf(full, sizeof(full), "%s%.*s", prefix, ks ? (int)kl : 0, ks ? ks : "");
		for (i = 0; ks && i < sizeof(keys) / sizeof(keys[0]); i++) {
			size_t fl = strlen(full);

			if (!strcmp(keys[i].name, full)) {
				rc = load_value(c, &keys[i], kn, v);
				found = 1;
				break;
			}
			/* "auth" -> its own mapping of auth.* keys */
			if (!strncmp(keys[i].name, full, fl) && keys[i].name[fl] == '.') {
				where_of(c, kn, where, sizeof(where));
				if (!v || fy_node_get_type(v) != FYNT_MAPPING) {
					struct ferry_buf b = FERRY_BUF_INIT;
					char sub[130];

					snprintf(sub, sizeof(sub), "%s.", full);
					if (valid_keys(sub, &b) < 0)
						rc = ferry_error_set(c->err, FERRY_ENOMEM,
								     "out of memory");
					else
						rc = ferry_error_set(c->err, FERRY_EUSAGE,
							"%s: '%s' takes a mapping of %s", where,
							full, b.buf);
					ferry_buf_release(&b);
				} else {
					char sub[130];

					snprintf(sub, sizeof(sub), "%s.", full);
					rc = load_mapping(c, v, sub);
				}
				found = 1;
				break;
			}
		}
		if (!found) {
			struct ferry_buf b = FERRY_BUF_INIT;

			where_of(c, kn, where, sizeof(where));
			if (valid_keys(prefix, &b) < 0)
				rc = ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
			else
				rc = ferry_error_set(c->err, FERRY_EUSAGE,
						     "%s: unknown key '%s': use %s", where,
						     ks ? full + pl : "(not a name)", b.buf);
			ferry_buf_release(&b);
		}
	}
	return rc;
}

int ferry_relay_config_load(struct ferry_relay_opts *o, const char *path,
			    struct ferry_error *err)
{
	struct cfgctx c = { path, o, err };
	struct ferry_buf text = FERRY_BUF_INIT;
	struct wire_yaml y = { NULL, NULL };
	struct wire_yaml_error ye;
	struct fy_node *root;
	int rc = 0, e;

	if ((e = ferry_buf_read_file(&text, path)) == FERRY_ENOTFOUND)
		return ferry_error_set(err, FERRY_EUSAGE, "cannot open relay config '%s': %s",
				       path, strerror(errno));
	if (e == FERRY_EIO) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot read relay config '%s'", path);
		goto out;
	}
	if (e < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = wire_yaml_parse(text.buf, text.len, &y, &ye)) < 0) {
		if (rc == FERRY_ENOMEM)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		else if (rc == FERRY_EINVAL)
			rc = ferry_error_set(err, FERRY_EUSAGE, "cannot read relay config '%s': %s",
					     path, ye.msg);
		else
			rc = ferry_error_set(err, FERRY_EUSAGE,
					     "cannot parse relay config '%s' at line %d: %s",
					     path, ye.line, ye.msg);
		goto out;
	}
	if (!y.doc)
		goto out;  /* an empty file, or only comments, sets nothing */
	root = fy_document_root(y.doc);
	if (!root || (fy_node_get_type(root) == FYNT_SCALAR && fy_node_is_null(root)))
		goto out;  /* an empty file (or only comments) sets nothing */
	if (fy_node_get_type(root) != FYNT_MAPPING) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "cannot read relay config '%s': expected a mapping of "
				     "options (listen: HOST:PORT, old: URL, ...)", path);
		goto out;
	}
	rc = load_mapping(&c, root, "");
out:
	wire_yaml_release(&y);
	ferry_buf_release(&text);
	return rc;
}
