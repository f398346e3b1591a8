/*
 * rejects.c - the reject file: one NDJSON line per row that could not be
 * copied exactly, with the table, key, column, reason and the original
 * value (base64), so nothing is lost silently and everything can be
 * replayed by hand.  The file is created on the first reject only.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "copy/copy_int.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"

int rej_init(struct rejects *r, const char *dir)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->dir = ferry_strdup(dir);
	return r->dir ? 0 : FERRY_ENOMEM;
}

void rej_release(struct rejects *r)
{
	if (r->f)
		fclose(r->f);
	ferry_free(r->dir);
	ferry_free(r->path);
	pthread_mutex_destroy(&r->lock);
	memset(r, 0, sizeof(*r));
}

/* mkdir -p */
int rej_mkdir(const char *path)
{
	char tmp[4096];
	size_t i, n = strlen(path);

	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char c = tmp[i];

			tmp[i] = '\0';
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return -1;
			tmp[i] = c;
		}
	}
	return 0;
}

int rej_add(struct rejects *r, const char *table, const char *key_json,
	    const char *column, const char *reason, int vkind,
	    const void *value, size_t n, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf line = FERRY_BUF_INIT;
	int rc = 0;

	if (!r)
		return 0;   /* a second read of rows already accounted for */
	berr |= ferry_buf_addstr(&line, "{\"table\":");
	berr |= ferry_buf_addjson(&line, table, strlen(table));
	berr |= ferry_buf_addstr(&line, ",\"key\":");
	berr |= ferry_buf_addstr(&line, key_json);
	berr |= ferry_buf_addstr(&line, ",\"column\":");
	berr |= ferry_buf_addjson(&line, column, strlen(column));
	berr |= ferry_buf_addstr(&line, ",\"reason\":");
	berr |= ferry_buf_addjson(&line, reason, strlen(reason));
	berr |= ferry_buf_addstr(&line, ",\"storage_class\":\"");
	berr |= ferry_buf_addstr(&line, ferry_vkind_name(vkind));
	berr |= ferry_buf_addstr(&line, "\",\"value_base64\":");
	if (value) {
		berr |= ferry_buf_addch(&line, '"');
		berr |= ferry_buf_addbase64(&line, value, n);
		berr |= ferry_buf_addch(&line, '"');
	} else {
		berr |= ferry_buf_addstr(&line, "null");
	}
	berr |= ferry_buf_addstr(&line, "}\n");
	if (berr < 0) {  /* a line cut short is never written */
		ferry_buf_release(&line);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&r->lock);  /* a chunk's reader and its worker both add */
	if (r->mem) {
		rc = ferry_buf_add(r->mem, line.buf, line.len);
		if (rc < 0)
			ferry_error_set(err, rc, "out of memory");
		else
			r->count++;
		goto out;
	}
	if (!r->f) {
		struct ferry_buf p = FERRY_BUF_INIT;

		if (ferry_buf_addf(&p, "%s/rejects.ndjson", r->dir) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			ferry_buf_release(&p);
			goto out;
		}
		if (rej_mkdir(r->dir) < 0 || !(r->f = fopen(p.buf, "a"))) {
			rc = ferry_error_set(err, FERRY_EIO,
				"cannot write the reject file '%s': %s; choose another place with --rejects DIR",
				p.buf, strerror(errno));
			ferry_buf_release(&p);
			goto out;
		}
		r->path = ferry_buf_detach(&p, NULL);
	}
	if (fwrite(line.buf, 1, line.len, r->f) != line.len) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot write the reject file '%s': %s",
				     r->path, strerror(errno));
		goto out;
	}
	r->count++;
out:
	pthread_mutex_unlock(&r->lock);
	ferry_buf_release(&line);
	return rc;
}
