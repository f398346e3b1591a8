/*
 * yaml.h - YAML text into a libfyaml document (module wire/, prefix
 * wire_): the one way ferry parses YAML (map files, rewrite recipes, the
 * relay's config).  libfyaml's diagnostics are collected, never printed
 * (errors are the caller's to word), and the text is checked to be UTF-8
 * first: libfyaml 0.7.12 loops forever on some invalid bytes ("%\x89",
 * found by fuzz_recipe).  No I/O: the caller reads the file.
 */
#ifndef FERRY_WIRE_YAML_H
#define FERRY_WIRE_YAML_H

#include <stddef.h>

#include <libfyaml.h>

struct wire_yaml {
	struct fy_document *doc;  /* NULL when the text holds no document */
	struct fy_diag *diag;
};

/* Why a text is not a YAML document. */
struct wire_yaml_error {
	int line;                 /* 1-based; 0 when unknown */
	char msg[256];            /* "invalid UTF-8", "NUL byte in text", or libfyaml's */
};

/*
 * Parse text[0..len).  0 with y->doc set (NULL for an empty text or only
 * comments, when libfyaml gives no document and no error); FERRY_EINVAL
 * when the text is not UTF-8 or has a NUL byte (ye: the line of the first
 * bad byte and why); FERRY_EPARSE for a YAML error (ye: its line and
 * libfyaml's message); FERRY_ENOMEM.  y is released by wire_yaml_release
 * in every case.
 */
int wire_yaml_parse(const char *text, size_t len, struct wire_yaml *y,
		    struct wire_yaml_error *ye);
void wire_yaml_release(struct wire_yaml *y);

/* The 1-based line of n (a collection: of its first scalar), 0 unknown. */
int wire_yaml_line(struct fy_node *n);
/* A scalar's text, owned (ferry_free); NULL when n is not a scalar or out
 * of memory. */
char *wire_yaml_str(struct fy_node *n);
/* Is k the scalar name? */
int wire_yaml_key_is(struct fy_node *k, const char *name);

#endif
