/*
 * fuzz_pgcopy.c - the PostgreSQL binary COPY decoder of wire/pgcopy.c:
 * a header, every field type, and numerics.  Invariants besides memory
 * safety: a numeric's text, encoded again and decoded, is stable after
 * one round (the encoder takes what the decoder prints).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/model.h"
#include "wire/pgcopy.h"

static const int types[] = {
	FERRY_T_INT16, FERRY_T_INT32, FERRY_T_INT64, FERRY_T_FLOAT32, FERRY_T_FLOAT64,
	FERRY_T_NUMERIC, FERRY_T_TEXT, FERRY_T_BYTES, FERRY_T_BOOL, FERRY_T_DATE,
	FERRY_T_TIMESTAMP, FERRY_T_TIMESTAMPTZ, FERRY_T_JSON, FERRY_T_JSONB,
	FERRY_T_UUID, FERRY_T_TIME
};

/* Text of numeric bytes p[0..n) re-encoded and decoded into out. */
static int again(const char *text, size_t len, struct ferry_buf *enc, struct ferry_buf *out)
{
	ferry_buf_clear(enc);
	if (wire_pgcopy_add_numeric(enc, text, len) < 0 || enc->len < 4)
		return -1;
	return wire_pgcopy_numeric_text((const unsigned char *)enc->buf + 4, enc->len - 4, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct ferry_buf tmp = FERRY_BUF_INIT, enc = FERRY_BUF_INIT, t2 = FERRY_BUF_INIT,
			 t3 = FERRY_BUF_INIT;
	struct ferry_batch b;
	size_t i;

	wire_pgcopy_header_len(data, n);
	if (ferry_batch_init(&b, 1, 1) == 0) {
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			wire_pgcopy_decode_field(&b, ferry_batch_cell(&b, 0, 0), types[i], data, n, &tmp);
		ferry_batch_release(&b);
	}
	/* text from the decoder, bounded as the copy transform bounds digits */
	if (wire_pgcopy_numeric_text(data, n, &tmp) == 0 && tmp.len < 1000 &&
	    strcmp(tmp.buf, "Infinity") && strcmp(tmp.buf, "-Infinity") &&
	    again(tmp.buf, tmp.len, &enc, &t2) == 0 &&
	    (again(t2.buf, t2.len, &enc, &t3) != 0 || strcmp(t2.buf, t3.buf)))
		abort();
	ferry_buf_release(&tmp);
	ferry_buf_release(&enc);
	ferry_buf_release(&t2);
	ferry_buf_release(&t3);
	return 0;
}
