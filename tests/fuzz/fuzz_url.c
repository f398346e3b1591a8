/*
 * fuzz_url.c - endpoint URL parsing and password redaction, on any text
 * (redaction runs on error messages built from user input).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf red = FERRY_BUF_INIT;
	char *s = ferry_strndup((const char *)data, n);
	ferry_url *u = NULL;

	if (!s)
		return 0;
	ferry_url_redact(s, &red);
	if (ferry_url_parse(s, &u, &err) == 0) {
		ferry_url_param(u, "p");
		ferry_url_free(u);
	}
	ferry_buf_release(&red);
	ferry_free(s);
	return 0;
}
