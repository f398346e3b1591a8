/*
 * walk.c - the files of a directory source (lp://DIR, csv://DIR): every
 * regular, non-hidden file under it whose name ends with one of the
 * source's extensions, recursively, as paths relative to the root in
 * bytewise order.
 *
 * Symbolic links are followed, but a link to a directory above it (a
 * loop) is not, and every file is read once, by device and inode, under
 * the bytewise-first of its paths: a second link to the same file would
 * read its points twice.  What is left
 * out (another extension, a file met again) is listed for the summary, so
 * a file the user expected is not missing silently.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ferry/alloc.h"
#include "tsmap/sources/walk.h"

struct seen {
	dev_t dev;
	ino_t ino;
};

struct cand {             /* a file found, before the links are sorted out */
	char *rel;
	dev_t dev;
	ino_t ino;
};

struct walker {
	const char *root;
	const char *const *exts;
	struct tm_walk *out;
	struct seen up[66];       /* the directories from the root down to here */
	struct cand *c;
	size_t nc, capc, caps;
};

static int ext_ok(const char *const *exts, const char *name)
{
	size_t n = strlen(name), i;

	for (i = 0; exts[i]; i++) {
		size_t e = strlen(exts[i]);

		if (n > e && !strcasecmp(name + n - e, exts[i]))
			return 1;
	}
	return 0;
}

static int push(char ***v, size_t *n, size_t *cap, char *s)
{
	if (!s || FERRY_GROW(*v, *cap, *n + 1) < 0) {
		ferry_free(s);
		return FERRY_ENOMEM;
	}
	(*v)[(*n)++] = s;
	return 0;
}

static int walk_dir(struct walker *w, const char *rel, int depth, struct ferry_error *err)
{
	struct ferry_buf dir = FERRY_BUF_INIT, sub = FERRY_BUF_INIT, full = FERRY_BUF_INIT;
	DIR *d = NULL;
	struct dirent *de;
	int rc = 0;

	if (ferry_buf_addf(&dir, "%s%s%s", w->root, *rel ? "/" : "", rel) < 0)
		goto oom;
	if (!(d = opendir(dir.buf))) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot open directory '%s': %s", dir.buf,
				     strerror(errno));
		goto out;
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		int k;

		if (de->d_name[0] == '.')
			continue;
		ferry_buf_clear(&sub);
		ferry_buf_clear(&full);
		if (ferry_buf_addf(&sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < 0 ||
		    ferry_buf_addf(&full, "%s/%s", dir.buf, de->d_name) < 0)
			goto oom;
		if (stat(full.buf, &st) < 0) {
			int e = errno;

			if (lstat(full.buf, &st) == 0 && S_ISLNK(st.st_mode)) {
				if (ferry_buf_addf(&sub, " (a link to nothing: %s)", strerror(e)) < 0 ||
				    push(&w->out->skipped, &w->out->nskipped, &w->caps,
					 ferry_buf_detach(&sub, NULL)) < 0)
					goto oom;
				continue;
			}
			rc = ferry_error_set(err, FERRY_EIO, "cannot open '%s': %s", full.buf,
					     strerror(e));
			goto out;
		}
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			continue;
		if (S_ISREG(st.st_mode) && !ext_ok(w->exts, de->d_name)) {
			int e = ferry_buf_addstr(&sub, " (not ");

			for (k = 0; w->exts[k]; k++)
				e |= ferry_buf_addf(&sub, "%s%s", k ? " or " : "", w->exts[k]);
			e |= ferry_buf_addch(&sub, ')');
			if (e < 0 || push(&w->out->skipped, &w->out->nskipped, &w->caps,
				 ferry_buf_detach(&sub, NULL)) < 0)
				goto oom;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			for (k = 0; k <= depth; k++)
				if (w->up[k].dev == st.st_dev && w->up[k].ino == st.st_ino)
					break;
			if (k <= depth) {  /* a link back up the tree: a loop */
				if (ferry_buf_addstr(&sub, " (a link to a directory above it)") < 0 ||
				    push(&w->out->skipped, &w->out->nskipped, &w->caps,
					 ferry_buf_detach(&sub, NULL)) < 0)
					goto oom;
				continue;
			}
			if (depth + 1 >= (int)(sizeof(w->up) / sizeof(w->up[0]))) {
				rc = ferry_error_set(err, FERRY_EINVAL,
						     "directory '%s' is nested too deeply", full.buf);
				goto out;
			}
			w->up[depth + 1].dev = st.st_dev;
			w->up[depth + 1].ino = st.st_ino;
			if ((rc = walk_dir(w, sub.buf, depth + 1, err)) < 0)
				goto out;
			continue;
		}
		if (FERRY_GROW(w->c, w->capc, w->nc + 1) < 0)
			goto oom;
		w->c[w->nc].dev = st.st_dev;
		w->c[w->nc].ino = st.st_ino;
		if (!(w->c[w->nc].rel = ferry_buf_detach(&sub, NULL)))
			goto oom;
		w->nc++;
	}
	if (errno) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot read directory '%s': %s",
				     dir.buf, strerror(errno));
		goto out;
	}
	goto out;
oom:
	rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	if (d)
		closedir(d);
	ferry_buf_release(&dir);
	ferry_buf_release(&sub);
	ferry_buf_release(&full);
	return rc;
}

/* By file, then path: the first of each file is its bytewise-first path. */
static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return strcmp(x->rel, y->rel);
}

/* Each file once, by the bytewise-first of the paths that lead to it
 * (whatever order the directories list them in); the others skipped. */
static int take_files(struct walker *w)
{
	size_t i, capf = 0;

	qsort(w->c, w->nc, sizeof(*w->c), cmp_cand);
	for (i = 0; i < w->nc; i++) {
		struct cand *c = &w->c[i];
		int again = i > 0 && c->dev == w->c[i - 1].dev && c->ino == w->c[i - 1].ino;
		struct ferry_buf b = FERRY_BUF_INIT;

		if (!again) {
			if (push(&w->out->files, &w->out->nfiles, &capf, c->rel) < 0) {
				c->rel = NULL;
				return FERRY_ENOMEM;
			}
			c->rel = NULL;
			continue;
		}
		if (ferry_buf_addf(&b, "%s (already read as %s)", c->rel,
				   w->out->files[w->out->nfiles - 1]) < 0 ||
		    push(&w->out->skipped, &w->out->nskipped, &w->caps,
			 ferry_buf_detach(&b, NULL)) < 0)
			return FERRY_ENOMEM;
	}
	return 0;
}

int tm_walk(const char *root, const char *const *exts, struct tm_walk *out,
	    struct ferry_error *err)
{
	struct walker w;
	struct stat st;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	w.root = root;
	w.exts = exts;
	w.out = out;
	if (stat(root, &st) < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot open '%s': %s", root,
				       strerror(errno));
	w.up[0].dev = st.st_dev;
	w.up[0].ino = st.st_ino;
	if ((rc = walk_dir(&w, "", 0, err)) == 0 && (rc = take_files(&w)) < 0)
		ferry_error_set(err, rc, "out of memory");
	if (rc < 0) {
		tm_walk_release(out);
	} else {
		/* qsort's base must not be NULL, even for no elements */
		if (out->nfiles)
			qsort(out->files, out->nfiles, sizeof(*out->files), ferry_strp_cmp);
		if (out->nskipped)
			qsort(out->skipped, out->nskipped, sizeof(*out->skipped), ferry_strp_cmp);
	}
	for (i = 0; i < w.nc; i++)
		ferry_free(w.c[i].rel);
	ferry_free(w.c);
	return rc;
}

void tm_walk_release(struct tm_walk *w)
{
	size_t i;

	for (i = 0; i < w->nfiles; i++)
		ferry_free(w->files[i]);
	ferry_free(w->files);
	for (i = 0; i < w->nskipped; i++)
		ferry_free(w->skipped[i]);
	ferry_free(w->skipped);
	memset(w, 0, sizeof(*w));
}

int tm_walk_note(const struct tm_walk *w, const char *root, struct ferry_buf *out)
{
	size_t i;
	int rc;

	if (!w->nskipped)
		return 0;
	rc = ferry_buf_addf(out, "%zu file%s under '%s' not read:", w->nskipped,
			    w->nskipped == 1 ? "" : "s", root);
	for (i = 0; i < w->nskipped && i < 10 && rc == 0; i++)
		rc = ferry_buf_addf(out, "%s %s", i ? "," : "", w->skipped[i]);
	if (rc == 0 && w->nskipped > 10)
		rc = ferry_buf_addf(out, ", and %zu more", w->nskipped - 10);
	return rc == 0 ? ferry_buf_addch(out, '\n') : rc;
}
