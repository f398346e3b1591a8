/*
 * mapfile.c - what the two kinds of map file share (mapping.c's table
 * map, pmap.c's point map): reading and parsing the YAML with errors that
 * name the file and line, scalars and name lists, glob lists, and whether
 * a double holds an integer exactly.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "tsmap/tm_int.h"

int tm_yaml_bad(struct tm_mapfile *c, struct fy_node *n, const char *fmt, ...)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	va_list ap;
	int rc, line = wire_yaml_line(n);

	va_start(ap, fmt);
	rc = ferry_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (rc < 0)
		rc = ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
	else if (line)
		rc = ferry_error_set(c->err, FERRY_EUSAGE, "map '%s' line %d: %s", c->path, line,
				     b.buf);
	else
		rc = ferry_error_set(c->err, FERRY_EUSAGE, "map '%s': %s", c->path, b.buf);
	ferry_buf_release(&b);
	return rc;
}

int tm_yaml_list(struct tm_mapfile *c, struct fy_node *n, char ***out)
{
	void *it = NULL;
	struct fy_node *e;
	size_t k = 0, cnt;
	char **v;

	cnt = fy_node_get_type(n) == FYNT_SEQUENCE ? (size_t)fy_node_sequence_item_count(n) : 1;
	v = ferry_calloc(cnt + 1, sizeof(*v));
	if (!v)
		return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
	*out = v;
	if (fy_node_get_type(n) == FYNT_SCALAR) {
		v[0] = wire_yaml_str(n);
		return v[0] ? 0 : ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
	}
	if (fy_node_get_type(n) != FYNT_SEQUENCE)
		return tm_yaml_bad(c, n, "expected a name or a list of names");
	while ((e = fy_node_sequence_iterate(n, &it)) != NULL) {
		if (fy_node_get_type(e) != FYNT_SCALAR)
			return tm_yaml_bad(c, e, "expected a name");
		if (!(v[k++] = wire_yaml_str(e)))
			return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
	}
	return 0;
}

void tm_strs_free(char **v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; v[i]; i++)
		ferry_free(v[i]);
	ferry_free(v);
}

int tm_yaml_load(const char *path, struct ferry_buf *text, struct wire_yaml *y,
		 struct ferry_error *err)
{
	struct wire_yaml_error ye;
	int rc;

	if ((rc = ferry_buf_read_file(text, path)) == FERRY_ENOTFOUND)
		return ferry_error_set(err, FERRY_EUSAGE, "cannot open map '%s': %s", path,
				       strerror(errno));
	if (rc == FERRY_EIO)
		return ferry_error_set(err, FERRY_EIO, "cannot read map '%s': %s", path,
				       strerror(errno));
	if (rc < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if ((rc = wire_yaml_parse(text->buf, text->len, y, &ye)) < 0) {
		if (rc == FERRY_ENOMEM)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		if (rc == FERRY_EINVAL)
			return ferry_error_set(err, FERRY_EUSAGE, "cannot read map '%s': %s at line %d",
					       path, ye.msg, ye.line);
		return ferry_error_set(err, FERRY_EUSAGE, "cannot parse map '%s' at line %d: %s",
				       path, ye.line, ye.msg);
	}
	return 0;
}

int tm_glob_any(char *const *globs, const char *s, size_t n)
{
	char tmp[512];
	size_t i;
	int copied = 0;

	for (i = 0; globs[i]; i++) {
		/* per point and rule: "*" and plain names without fnmatch */
		if (globs[i][0] == '*' && !globs[i][1])
			return 1;
		if (!strpbrk(globs[i], "*?[\\")) {
			if (strlen(globs[i]) == n && !memcmp(globs[i], s, n))
				return 1;
			continue;
		}
		if (!copied) {
			if (n >= sizeof(tmp))
				n = sizeof(tmp) - 1;
			memcpy(tmp, s, n);
			tmp[n] = 0;
			copied = 1;
		}
		if (fnmatch(globs[i], tmp, 0) == 0)
			return 1;
	}
	return 0;
}
