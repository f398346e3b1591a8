/*
 * batch.c - row batches: the unit that moves between pipeline stages.
 */
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/error.h"
#include "ferry/model.h"

const char *ferry_type_name(int type)
{
	switch (type) {
	case FERRY_T_INT16: return "smallint";
	case FERRY_T_INT32: return "integer";
	case FERRY_T_INT64: return "bigint";
	case FERRY_T_FLOAT32: return "real";
	case FERRY_T_FLOAT64: return "double precision";
	case FERRY_T_NUMERIC: return "numeric";
	case FERRY_T_TEXT: return "text";
	case FERRY_T_BYTES: return "bytea";
	case FERRY_T_BOOL: return "boolean";
	case FERRY_T_DATE: return "date";
	case FERRY_T_TIMESTAMP: return "timestamp";
	case FERRY_T_TIMESTAMPTZ: return "timestamptz";
	case FERRY_T_JSON: return "json";
	case FERRY_T_JSONB: return "jsonb";
	case FERRY_T_UUID: return "uuid";
	case FERRY_T_TIME: return "time";
	}
	return "unknown";
}

const char *ferry_vkind_name(int kind)
{
	switch (kind) {
	case FERRY_V_INT: return "integer";
	case FERRY_V_REAL: return "real";
	case FERRY_V_TEXT: return "text";
	case FERRY_V_BLOB: return "blob";
	}
	return "null";
}

int ferry_batch_init(struct ferry_batch *b, size_t ncols, size_t cap)
{
	memset(b, 0, sizeof(*b));
	ferry_buf_init(&b->arena, 0);
	b->ncols = ncols;
	b->cap = cap ? cap : 1;
	b->cells = ferry_calloc(b->cap * (ncols ? ncols : 1), sizeof(*b->cells));
	b->keys = ferry_calloc(b->cap, sizeof(*b->keys));
	b->skip = ferry_calloc(b->cap, 1);
	if (!b->cells || !b->keys || !b->skip) {
		ferry_batch_release(b);
		return FERRY_ENOMEM;
	}
	return 0;
}

void ferry_batch_release(struct ferry_batch *b)
{
	ferry_free(b->cells);
	ferry_free(b->keys);
	ferry_free(b->skip);
	ferry_buf_release(&b->arena);
	b->cells = NULL;
	b->keys = NULL;
	b->skip = NULL;
	b->nrows = b->cap = 0;
}

void ferry_batch_clear(struct ferry_batch *b)
{
	if (b->nskipped)
		memset(b->skip, 0, b->nrows);
	b->nrows = 0;
	b->nskipped = 0;
	ferry_buf_clear(&b->arena);
}

int ferry_cell_set_bytes(struct ferry_batch *b, struct ferry_cell *c,
			 int kind, const void *data, size_t n)
{
	size_t off = b->arena.len;
	int rc;

	if (n > UINT32_MAX)
		return FERRY_ETOOBIG;
	if ((rc = ferry_buf_add(&b->arena, data, n)) < 0)
		return rc;
	c->kind = (uint8_t)kind;
	c->flags = 0;
	c->len = (uint32_t)n;
	c->v.off = off;
	return 0;
}
