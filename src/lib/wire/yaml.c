/*
 * yaml.c - YAML text into a libfyaml document: the UTF-8 check before
 * libfyaml sees a byte, a quiet parser, and the first error with its line
 * (see yaml.h).
 */
#include <stdio.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/error.h"
#include "model/value.h"
#include "wire/yaml.h"

int wire_yaml_parse(const char *text, size_t len, struct wire_yaml *y,
		    struct wire_yaml_error *ye)
{
	struct fy_diag_cfg dcfg;
	struct fy_parse_cfg cfg;
	const char *why = NULL;
	size_t ok, i;

	memset(y, 0, sizeof(*y));
	ye->line = 0;
	ye->msg[0] = '\0';
	if ((ok = val_utf8_prefix(text, len, 0, &why)) < len) {
		ye->line = 1;
		for (i = 0; i < ok; i++)
			ye->line += text[i] == '\n';
		snprintf(ye->msg, sizeof(ye->msg), "%s", why ? why : "invalid UTF-8");
		return FERRY_EINVAL;
	}
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;   /* errors are the caller's to report, not libfyaml's to print */
	if (!(y->diag = fy_diag_create(&dcfg)))
		return FERRY_ENOMEM;
	fy_diag_set_collect_errors(y->diag, true);
	memset(&cfg, 0, sizeof(cfg));
	cfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG;
	cfg.diag = y->diag;
	if (!(y->doc = fy_document_build_from_string(&cfg, text, len))) {
		void *it = NULL;
		struct fy_diag_error *de = fy_diag_errors_iterate(y->diag, &it);

		if (!de)
			return 0;   /* no document, no error: nothing but comments */
		ye->line = de->line;   /* libfyaml's diagnostics count from 1 already */
		snprintf(ye->msg, sizeof(ye->msg), "%s", de->msg ? de->msg : "invalid YAML");
		return FERRY_EPARSE;
	}
	return 0;
}

void wire_yaml_release(struct wire_yaml *y)
{
	if (y->doc)
		fy_document_destroy(y->doc);
	if (y->diag)
		fy_diag_destroy(y->diag);
	y->doc = NULL;
	y->diag = NULL;
}

/* libfyaml marks only tokens: a collection's line is its first scalar's */
int wire_yaml_line(struct fy_node *n)
{
	const struct fy_mark *mk;
	struct fy_node_pair *p;
	void *it = NULL;

	if (!n)
		return 0;
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR:
		mk = fy_node_get_scalar_token(n) ?
		     fy_token_start_mark(fy_node_get_scalar_token(n)) : NULL;
		return mk ? mk->line + 1 : 0;
	case FYNT_SEQUENCE:
		return wire_yaml_line(fy_node_sequence_iterate(n, &it));
	default:
		p = fy_node_mapping_iterate(n, &it);
		return p ? wire_yaml_line(fy_node_pair_key(p)) : 0;
	}
}

char *wire_yaml_str(struct fy_node *n)
{
	size_t len;
	const char *s;

	if (!n || fy_node_get_type(n) != FYNT_SCALAR)
		return NULL;
	s = fy_node_get_scalar(n, &len);
	return s ? ferry_strndup(s, len) : NULL;
}

int wire_yaml_key_is(struct fy_node *k, const char *name)
{
	const char *s;
	size_t n;

	if (!k || fy_node_get_type(k) != FYNT_SCALAR || !(s = fy_node_get_scalar(k, &n)))
		return 0;
	return n == strlen(name) && !memcmp(s, name, n);
}
