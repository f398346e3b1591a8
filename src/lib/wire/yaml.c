/*
 * yaml.c - YAML text into a libfyaml document: the UTF-8 check before
 * libfyaml sees a byte, a quiet parser, and the first error with its line
 * (see yaml.h).
 */
#include <stdio.h>
#include <string.h>

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
