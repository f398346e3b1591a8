/*
 * fuzz_recipe.c - rewrite recipes (YAML), and with the built-in recipes
 * the requirements and Python rewriters (renames and codemods) on
 * arbitrary input.
 */
#include <stdint.h>
#include <string.h>

#include "ferry/rewrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf out = FERRY_BUF_INIT, notes = FERRY_BUF_INIT;
	const char *s = (const char *)data;
	ferry_recipe *r = NULL;
	int changed;

	if (ferry_recipe_parse(s, n, "fuzz", &r, &err) == 0)
		ferry_recipe_free(r);
	r = NULL;
	if (ferry_recipe_load("asyncio-mqtt-to-aiomqtt", &r, &err) == 0) {
		ferry_rewrite_requirements(r, FERRY_REQ_TXT, s, n, &out, &notes, &changed, &err);
		ferry_buf_clear(&out);
		ferry_rewrite_requirements(r, FERRY_REQ_PYPROJECT, s, n, &out, &notes, &changed, &err);
		ferry_buf_clear(&out);
		ferry_rewrite_python(r, s, n, &out, &notes, &changed, &err);
		ferry_recipe_free(r);
	}
	/* the codemods: argument insertion spelled per file */
	r = NULL;
	ferry_buf_clear(&out);
	if (ferry_recipe_load("paho-mqtt-1-to-2", &r, &err) == 0) {
		ferry_rewrite_python(r, s, n, &out, &notes, &changed, &err);
		ferry_recipe_free(r);
	}
	ferry_buf_release(&out);
	ferry_buf_release(&notes);
	return 0;
}
