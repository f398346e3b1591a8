/*
 * relay_pg.h - the little of libpq that phase.c and devices.c share
 * (defined in phase.c).
 *
 * Why libpq here and not the connector layer: the phase watcher needs
 * LISTEN, PQsocket and PQnotifies, which struct ferry_conn_ops does not
 * offer (and should not: only the relay waits on a connection), and both
 * watchers must tell a lost connection (reconnect, keep the last answer)
 * from a bad statement, which they do with PQstatus on their own PGconn.
 */
#ifndef FERRY_RELAY_PG_H
#define FERRY_RELAY_PG_H

#include <libpq-fe.h>

#include "ferry/error.h"

/* A relay is live while its heartbeats (every 10 s) are this recent. */
#define RELAY_LIVE_S 30
#define RELAY_S_(x) #x
#define RELAY_S(x) RELAY_S_(x)
/* SQL: timestamptz expression c as RFC 3339 text in UTC, to the microsecond */
#define RELAY_PG_RFC(c) "to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* Connect to url (a postgres:// URL or a libpq string) with a 5 s connect
 * timeout and application_name "ferry relay".  NULL with err set
 * (FERRY_ECONN, the message redacted) when it fails. */
PGconn *relay_pg_connect(const char *url, struct ferry_error *err);
/* Fill err from a failed result (or the connection's message when res is
 * NULL): FERRY_ECONN when the connection is lost or the server is going
 * away, else FERRY_ESQL with the SQLSTATE as origin.  Returns the code;
 * clears res. */
int relay_pg_fail(PGconn *pg, PGresult *res, const char *what, struct ferry_error *err);
/* Run sql with nparams text parameters; 0 and *out (PQclear it) when it
 * succeeded (commands and row sets), else relay_pg_fail's code. */
int relay_pg_exec(PGconn *pg, const char *sql, int nparams, const char *const *params,
		  PGresult **out, const char *what, struct ferry_error *err);
/* Inside the caller's transaction (phase.c): ferry.cutover, ferry.cutover_log
 * and ferry.relays made when missing (under an advisory lock), with phase
 * initial unless a phase is stored (*inserted: 1 when this call stored it). */
int relay_phase_tables(PGconn *pg, int initial, int *inserted, struct ferry_error *err);
/* Inside the caller's transaction: set the phase, log it, notify the relays
 * (delivered at the caller's COMMIT). */
int relay_phase_set_tx(PGconn *pg, int phase, const char *by, struct ferry_error *err);
/* Milliseconds of CLOCK_MONOTONIC. */
int64_t relay_pg_now_ms(void);

#endif
