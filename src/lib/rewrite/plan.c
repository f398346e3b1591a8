/*
 * plan.c - turn one service directory into a rewrite plan.
 *
 * Walks the tree once (skipping hidden directories such as .git, .venv
 * and earlier .ferry-backup-* directories, and __pycache__/node_modules),
 * checks that the directory is a service, then reads every file the
 * recipe's globs select and computes its new content in memory.  Nothing
 * is written here: a plan that fails (unreadable, binary or non-UTF-8
 * input) leaves the tree exactly as it was.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/log.h"
#include "decl_int.h"

#define RW_MAX_FILE (64u << 20)   /* larger "sources" are not sources */
#define RW_MAX_FILES 200000
#define RW_MAX_DEPTH 64

/* ---- globs ------------------------------------------------------------ */

static int seg_match(const char *pat, size_t plen, const char *s, size_t slen)
{
	char p[512], t[512];

	if (plen >= sizeof(p) || slen >= sizeof(t))
		return 0;
	memcpy(p, pat, plen);
	p[plen] = '\0';
	memcpy(t, s, slen);
	t[slen] = '\0';
	return !fnmatch(p, t, FNM_PERIOD);
}

int rw_glob_match(const char *pat, const char *path)
{
	const char *ps = strchr(pat, '/');
	const char *ss = strchr(path, '/');
	size_t pl = ps ? (size_t)(ps - pat) : strlen(pat);
	size_t sl = ss ? (size_t)(ss - path) : strlen(path);

	if (pl == 2 && !memcmp(pat, "**", 2)) {
		const char *rest = ps ? ps + 1 : "";

		if (!ps)
			return 1;
		/* zero directories, or one and try again */
		if (rw_glob_match(rest, path))
			return 1;
		return ss ? rw_glob_match(pat, ss + 1) : 0;
	}
	if (!seg_match(pat, pl, path, sl))
		return 0;
	if (!ps && !ss)
		return 1;
	if (!ps || !ss)
		return 0;
	return rw_glob_match(ps + 1, ss + 1);
}

/* ---- walking ---------------------------------------------------------- */

static int skip_dir(const char *name)
{
	return name[0] == '.' || !strcmp(name, "__pycache__") ||
	       !strcmp(name, "node_modules");
}

static int walk(const char *root, const char *rel, int depth,
		struct rw_strlist *files, struct ferry_error *err)
{
	struct ferry_buf path = FERRY_BUF_INIT, sub = FERRY_BUF_INIT;
	DIR *d = NULL;
	struct dirent *e;
	int rc = 0;

	if (depth > RW_MAX_DEPTH)
		return 0;
	if (ferry_buf_addf(&path, "%s%s%s", root, rel[0] ? "/" : "", rel)) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	d = opendir(path.buf);
	if (!d) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot read directory '%s': %s",
				     path.buf, strerror(errno));
		goto out;
	}
	while ((e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		ferry_buf_clear(&sub);
		if (ferry_buf_addf(&sub, "%s/%s", path.buf, e->d_name)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		/* symlinks are not followed: a rename over one would replace it */
		if (lstat(sub.buf, &st))
			continue;
		ferry_buf_clear(&sub);
		if (ferry_buf_addf(&sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			if (skip_dir(e->d_name))
				continue;
			if ((rc = walk(root, sub.buf, depth + 1, files, err)))
				goto out;
		} else if (S_ISREG(st.st_mode)) {
			if (files->n >= RW_MAX_FILES) {
				rc = ferry_error_set(err, FERRY_ETOOBIG,
						     "'%s' has more than %d files; point "
						     "ferry at the service directories",
						     root, RW_MAX_FILES);
				goto out;
			}
			if (rw_strlist_push(files, sub.buf)) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
		}
	}
out:
	if (d)
		closedir(d);
	ferry_buf_release(&path);
	ferry_buf_release(&sub);
	return rc;
}

static int any_match(const struct rw_strlist *pats, const char *path)
{
	size_t i;

	for (i = 0; i < pats->n; i++)
		if (rw_glob_match(pats->v[i], path))
			return 1;
	return 0;
}

static int read_file(const char *dir, const char *rel, struct ferry_buf *out,
		     unsigned *mode, struct ferry_error *err)
{
	struct ferry_buf path = FERRY_BUF_INIT;
	struct stat st;
	char chunk[65536];
	ssize_t n;
	int fd = -1, rc = 0;

	if (ferry_buf_addf(&path, "%s/%s", dir, rel)) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	fd = open(path.buf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s; fix its "
				     "permissions or exclude it, nothing was changed",
				     path.buf, strerror(errno));
		goto out;
	}
	if (st.st_size > (off_t)RW_MAX_FILE) {
		rc = ferry_error_set(err, FERRY_ETOOBIG, "'%s' is larger than %u MiB; "
				     "not a source file", path.buf, RW_MAX_FILE >> 20);
		goto out;
	}
	*mode = st.st_mode & 07777;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s",
					     path.buf, strerror(errno));
			goto out;
		}
		if (ferry_buf_add(out, chunk, (size_t)n)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	ferry_buf_release(&path);
	return rc;
}

struct rw_file *rw_plan_add_file(struct ferry_rewrite_plan *p, const char *path)
{
	struct rw_file *f;

	if (FERRY_GROW(p->files, p->cap, p->nfiles + 1))
		return NULL;
	f = &p->files[p->nfiles];
	memset(f, 0, sizeof(*f));
	f->path = ferry_strdup(path);
	if (!f->path)
		return NULL;
	ferry_buf_init(&f->old, 0);
	ferry_buf_init(&f->new_, 0);
	ferry_buf_init(&f->notes, 0);
	p->nfiles++;
	return f;
}

void ferry_rewrite_plan_free(ferry_rewrite_plan *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nfiles; i++) {
		ferry_free(p->files[i].path);
		ferry_buf_release(&p->files[i].old);
		ferry_buf_release(&p->files[i].new_);
		ferry_buf_release(&p->files[i].notes);
	}
	ferry_free(p->files);
	ferry_free(p->dir);
	ferry_buf_release(&p->warnings);
	ferry_buf_release(&p->partial);
	ferry_buf_release(&p->locks);
	ferry_free(p);
}

/* A lock file to regenerate, once per file. */
static int add_lock(struct ferry_rewrite_plan *p, const char *path,
		    const char *cmd, size_t cmdlen)
{
	struct ferry_buf line = FERRY_BUF_INIT;
	int rc = 0;

	if (ferry_buf_addf(&line, "%s\t%.*s\n", path, (int)cmdlen, cmd))
		rc = FERRY_ENOMEM;
	else if (!p->locks.len || !strstr(p->locks.buf, line.buf))
		rc = ferry_buf_add(&p->locks, line.buf, line.len) ? FERRY_ENOMEM : 0;
	ferry_buf_release(&line);
	return rc;
}

/*
 * Split notes: "warning: N: msg" lines go to the plan as "path:N: msg",
 * "partial: N: msg" to the declarations left behind, "lock: cmd" to the
 * lock files; the change notes stay with the file (keep).
 */
static int take_notes(struct ferry_rewrite_plan *p, const char *path,
		      const struct ferry_buf *notes, struct ferry_buf *keep)
{
	const char *s = notes->buf, *e;

	while (*s) {
		e = strchr(s, '\n');
		if (!e)
			e = s + strlen(s);
		if (!strncmp(s, "warning: ", 9)) {
			if (ferry_buf_addf(&p->warnings, "%s:%.*s\n", path,
					   (int)(e - s - 9), s + 9))
				return FERRY_ENOMEM;
		} else if (!strncmp(s, "partial: ", 9)) {
			if (ferry_buf_addf(&p->partial, "%s:%.*s\n", path,
					   (int)(e - s - 9), s + 9))
				return FERRY_ENOMEM;
		} else if (!strncmp(s, "lock: ", 6)) {
			if (add_lock(p, path, s + 6, (size_t)(e - s - 6)))
				return FERRY_ENOMEM;
		} else if (keep && (ferry_buf_add(keep, s, (size_t)(e - s)) ||
				    ferry_buf_addch(keep, '\n'))) {
			return FERRY_ENOMEM;
		}
		s = *e ? e + 1 : e;
	}
	return 0;
}

static int service_check(const struct ferry_recipe *r, const char *dir,
			 const struct rw_strlist *files, struct ferry_error *err)
{
	struct ferry_buf want = FERRY_BUF_INIT;
	size_t i, j;
	int ok = !r->service_any.n, rc = 0;

	for (i = 0; i < r->service_any.n && !ok; i++)
		for (j = 0; j < files->n && !ok; j++)
			ok = rw_glob_match(r->service_any.v[i], files->v[j]);
	if (!ok) {
		int e = 0;

		for (i = 0; i < r->service_any.n; i++)
			e |= ferry_buf_addf(&want, "%s%s", i ? ", " : "", r->service_any.v[i]);
		if (e < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		else
			rc = ferry_error_set(err, FERRY_ENOTFOUND,
					     "'%s' does not look like a service: none of %s "
					     "exists in it; pass the service directories, "
					     "not their parent", dir, want.buf);

		goto out;
	}
	for (i = 0; i < r->service_all.n; i++) {
		for (j = 0; j < files->n; j++)
			if (rw_glob_match(r->service_all.v[i], files->v[j]))
				break;
		if (j == files->n) {
			rc = ferry_error_set(err, FERRY_ENOTFOUND,
					     "'%s' does not look like a service: "
					     "'%s' is missing", dir,
					     r->service_all.v[i]);
			goto out;
		}
	}
out:
	ferry_buf_release(&want);
	return rc;
}

static int mentions(const struct ferry_buf *b, const char *word)
{
	return memmem(b->buf, b->len, word, strlen(word)) != NULL;
}

/* Case-insensitive "does the text name this package" for the state. */
static int names_package(const struct ferry_buf *b, const char *norm)
{
	struct ferry_buf low = FERRY_BUF_INIT;
	int found;

	if (ferry_pip_normalize(b->buf, b->len, &low)) {
		ferry_buf_release(&low);
		return 0;
	}
	found = strstr(low.buf, norm) != NULL;
	ferry_buf_release(&low);
	return found;
}

/* A lock file (poetry.lock, ...) that still names a replaced package. */
static int lock_file(struct ferry_rewrite_plan *p, const char *dir,
		     const char *rel, struct ferry_buf *text,
		     struct ferry_error *err)
{
	unsigned mode;
	size_t m;
	int rc;

	ferry_buf_clear(text);
	if ((rc = read_file(dir, rel, text, &mode, err)))
		return rc;
	for (m = 0; m < p->recipe->nreplace; m++)
		if (names_package(text, p->recipe->replace[m].from_norm))
			break;
	if (m == p->recipe->nreplace)
		return 0;
	if (add_lock(p, rel, rw_lock_command(rel), strlen(rw_lock_command(rel))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/* setup.py is a declaration and a Python source: its imports too. */
static int setup_py_imports(const ferry_recipe *r, const struct ferry_buf *text,
			    struct ferry_buf *nb, struct ferry_buf *notes,
			    int *changed, struct ferry_error *err)
{
	struct ferry_buf py = FERRY_BUF_INIT;
	const struct ferry_buf *src = *changed ? nb : text;
	size_t m;
	int ch = 0, rc;

	for (m = 0; m < r->nmodules; m++)
		if (mentions(src, r->modules[m].from))
			break;
	if (m == r->nmodules)
		return 0;
	rc = ferry_rewrite_python(r, src->buf, src->len, &py, notes, &ch, err);
	if (!rc && ch) {
		ferry_buf_release(nb);
		*nb = py;
		ferry_buf_init(&py, 0);
		*changed = 1;
	}
	ferry_buf_release(&py);
	return rc;
}

int ferry_rewrite_plan_dir(const ferry_recipe *r, const char *dir,
			   ferry_rewrite_plan **out, struct ferry_error *err)
{
	struct ferry_rewrite_plan *p = NULL;
	struct rw_strlist files = { NULL, 0, 0 };
	struct ferry_buf text = FERRY_BUF_INIT, notes = FERRY_BUF_INIT;
	struct stat st;
	size_t i, k;
	int rc = 0, migrated = 0, used = 0;

	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
				     "'%s' is not a directory", dir);
		goto out;
	}
	p = ferry_calloc(1, sizeof(*p));
	if (!p || !(p->dir = ferry_strdup(dir))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = strlen(p->dir); i > 1 && p->dir[i - 1] == '/'; i--)
		p->dir[i - 1] = '\0';
	p->recipe = r;
	ferry_buf_init(&p->warnings, 0);
	ferry_buf_init(&p->partial, 0);
	ferry_buf_init(&p->locks, 0);
	if ((rc = walk(dir, "", 0, &files, err)))
		goto out;
	if (files.n)  /* qsort(NULL, 0) is undefined */
		qsort(files.v, files.n, sizeof(*files.v), ferry_strp_cmp);
	if ((rc = service_check(r, dir, &files, err)))
		goto out;

	/* requirement files first, then Python sources */
	for (k = 0; k < 2; k++) {
		for (i = 0; i < files.n; i++) {
			const char *rel = files.v[i];
			int kind = ferry_rewrite_req_kind(rel);
			/* the recipe's files, and every declaration format
			 * wherever it is: none may keep the old package */
			int is_req = any_match(&r->req_files, rel) ||
				     kind > FERRY_REQ_TXT;
			const char *lock = rw_lock_command(rel);
			int changed = 0, bad_line;
			unsigned mode = 0644;
			struct ferry_buf nb = FERRY_BUF_INIT;
			struct rw_file *f;
			size_t m;

			if (k == 0 && lock) {
				if ((rc = lock_file(p, dir, rel, &text, err)))
					goto out;
				continue;
			}
			if (k == 0 ? !is_req : (is_req || !any_match(&r->py_files, rel)))
				continue;
			ferry_buf_clear(&text);
			ferry_buf_clear(&notes);
			if ((rc = read_file(dir, rel, &text, &mode, err)))
				goto out;
			if (k == 1) {
				/* a source that never names a renamed module is
				 * not ours to judge, whatever its encoding */
				for (m = 0; m < r->nmodules; m++)
					if (mentions(&text, r->modules[m].from))
						break;
				for (size_t t = 0; t < r->nmodules && !migrated; t++)
					migrated = mentions(&text, r->modules[t].to);
				if (m == r->nmodules &&
				    !rw_codemod_mentions(r, text.buf, text.len))
					continue;
				used = 1;
				rc = ferry_rewrite_python(r, text.buf, text.len, &nb,
							  &notes, &changed, err);
			} else {
				for (m = 0; m < r->nreplace; m++) {
					if (names_package(&text, r->replace[m].from_norm))
						used = 1;
					if (names_package(&text, r->replace[m].to_norm))
						migrated = 1;
				}
				if (memchr(text.buf, '\0', text.len))
					rc = ferry_error_set(err, FERRY_EPARSE,
							     "binary file (NUL byte)");
				else if (rw_utf8_check(text.buf, text.len, &bad_line))
					rc = ferry_error_set(err, FERRY_EPARSE,
							     "not valid UTF-8 at line %d",
							     bad_line);
				else
					rc = ferry_rewrite_requirements(r,
						kind < 0 ? FERRY_REQ_TXT : kind,
						text.buf, text.len, &nb, &notes, &changed, err);
				if (!rc && kind == FERRY_REQ_SETUP_PY)
					rc = setup_py_imports(r, &text, &nb, &notes,
							      &changed, err);
			}
			if (rc) {
				ferry_error_prefix(err, "cannot rewrite '%s/%s'", dir, rel);
				ferry_buf_release(&nb);
				goto out;
			}
			if (!changed) {
				rc = take_notes(p, rel, &notes, NULL);
				ferry_buf_release(&nb);
				if (rc) {
					rc = ferry_error_set(err, rc, "out of memory");
					goto out;
				}
				continue;
			}
			f = rw_plan_add_file(p, rel);
			if (!f) {
				ferry_buf_release(&nb);
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
			f->mode = mode;
			f->old = text;
			ferry_buf_init(&text, 0);
			f->new_ = nb;
			if (take_notes(p, rel, &notes, &f->notes)) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
		}
	}
	/* "used" but unchanged means only strings or comments name it */
	(void)used;
	p->state = p->nfiles ? FERRY_RW_CHANGES :
		   migrated ? FERRY_RW_MIGRATED : FERRY_RW_UNUSED;
	*out = p;
	p = NULL;
out:
	ferry_rewrite_plan_free(p);
	rw_strlist_release(&files);
	ferry_buf_release(&text);
	ferry_buf_release(&notes);
	return rc;
}

int ferry_rewrite_plan_state(const ferry_rewrite_plan *p)
{
	return p->state;
}

const char *ferry_rewrite_plan_dir_path(const ferry_rewrite_plan *p)
{
	return p->dir;
}

size_t ferry_rewrite_plan_nfiles(const ferry_rewrite_plan *p)
{
	return p->nfiles;
}

const char *ferry_rewrite_plan_file(const ferry_rewrite_plan *p, size_t i)
{
	return i < p->nfiles ? p->files[i].path : NULL;
}

const char *ferry_rewrite_plan_file_notes(const ferry_rewrite_plan *p,
					  size_t i)
{
	return i < p->nfiles ? p->files[i].notes.buf : NULL;
}

const char *ferry_rewrite_plan_warnings(const ferry_rewrite_plan *p)
{
	return p->warnings.buf;
}

const char *ferry_rewrite_plan_partial(const ferry_rewrite_plan *p)
{
	return p->partial.buf;
}

const char *ferry_rewrite_plan_locks(const ferry_rewrite_plan *p)
{
	return p->locks.buf;
}

int ferry_rewrite_plan_diff(const ferry_rewrite_plan *p, struct ferry_buf *out)
{
	struct ferry_buf a = FERRY_BUF_INIT, b = FERRY_BUF_INIT;
	size_t i;
	int rc = 0;

	for (i = 0; i < p->nfiles && !rc; i++) {
		const struct rw_file *f = &p->files[i];

		ferry_buf_clear(&a);
		ferry_buf_clear(&b);
		if (ferry_buf_addf(&a, "%s/%s", p->dir, f->path) ||
		    ferry_buf_addf(&b, "%s/%s", p->dir, f->path)) {
			rc = FERRY_ENOMEM;
			break;
		}
		rc = ferry_diff_unified(f->created ? "/dev/null" : a.buf, f->old.buf,
					f->old.len, b.buf, f->new_.buf, f->new_.len,
					3, out);
	}
	ferry_buf_release(&a);
	ferry_buf_release(&b);
	return rc;
}
