/*
 * points_int.h - ferry copy into a point store (InfluxDB, a line-protocol
 * file): the driver (points_out.c) and its done-chunk log (points_state.c).
 */
#ifndef FERRY_COPY_POINTS_INT_H
#define FERRY_COPY_POINTS_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

struct run;

/* Copy r->o->src (a point source) into r->o->dst (FERRY_CAP_POINTS):
 * chunks of the source's plan, through the map's points: rules, as line
 * protocol, each chunk recorded as done in the state log once InfluxDB
 * acknowledged or refused all its points (a file: once written). */
int copy_points_run(struct run *r, struct ferry_error *err);

/* The done-chunk log (see points_state.c). */
struct pstate {
	pthread_mutex_t lock;
	char *path;
	int fd;
	char fp[33];
	size_t nchunks;
	unsigned char *done;   /* nchunks flags */
	size_t ndone;
	uint64_t offset;       /* the largest offset recorded */
	int resumed;           /* an earlier run recorded done chunks */
	struct ferry_conn *pg; /* --state postgres://: the state's database */
	char *key;             /* its job key */
};

/* Open the log at path (a file, or a postgres:// URL: tables in schema
 * ferry, key job) for a job of nchunks chunks with fingerprint fp:
 * its done chunks when it has the same fingerprint, a new log when there
 * is none or restart; FERRY_EUSAGE (naming job and path) when it is
 * another job's.  copy_pst_close() in every case. */
int copy_pst_open(struct pstate *s, const char *path, const char *fp, size_t nchunks,
		  int restart, const char *job, struct ferry_error *err);
/* Record chunk as done (offset: the lp file's size after it, else 0),
 * fsync'd before it returns; thread-safe. */
int copy_pst_mark(struct pstate *s, size_t chunk, uint64_t offset, struct ferry_error *err);
void copy_pst_close(struct pstate *s);
/* write(2) all of p[0..n) (EINTR retried): 0, or -1 with errno set. */
int copy_write_all(int fd, const char *p, size_t n);

#endif
