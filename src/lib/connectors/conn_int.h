/*
 * conn_int.h - helpers shared by connector implementations.
 */
#ifndef FERRY_CONN_INT_H
#define FERRY_CONN_INT_H

#include "ferry/buf.h"

/* Append name as a double-quoted SQL identifier ("a""b"). */
int conn_quote_dq(const char *name, struct ferry_buf *out);

#include "ferry/error.h"


#endif
