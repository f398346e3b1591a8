/*
 * services_env.c - see services_env.h. Test support code: plain libc
 * allocation, errors go to stderr, nothing here is part of libferry.
 */
#include "services_env.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#define SVC_MAX_KEYS 64

struct svc_kv {
	char *key;
	char *value;
};

static struct svc_kv kvs[SVC_MAX_KEYS];
static int nkvs;
static int load_state; /* 0 not tried, 1 loaded, -1 failed */

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int parse_line(char *line, const char *path, int lineno)
{
	char *eq, *key, *value;

	line = trim(line);
	if (*line == '\0' || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		fprintf(stderr, "services_env: %s:%d: expected KEY=VALUE\n", path, lineno);
		return -1;
	}
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	/* tests/services writes plain values; accept simple quoting too */
	if (strlen(value) >= 2 && (value[0] == '"' || value[0] == '\'') &&
	    value[strlen(value) - 1] == value[0]) {
		value[strlen(value) - 1] = '\0';
		value++;
	}
	if (nkvs == SVC_MAX_KEYS) {
		fprintf(stderr, "services_env: %s: more than %d keys\n", path, SVC_MAX_KEYS);
		return -1;
	}
	kvs[nkvs].key = strdup(key);
	kvs[nkvs].value = strdup(value);
	if (!kvs[nkvs].key || !kvs[nkvs].value) {
		fprintf(stderr, "services_env: out of memory\n");
		return -1;
	}
	nkvs++;
	return 0;
}

int svc_load(void)
{
	const char *path = getenv("FERRY_SERVICES_ENV");
	char line[4096];
	FILE *f;
	int lineno = 0;

	if (load_state)
		return load_state > 0 ? 0 : -1;
	load_state = -1;
	if (!path || !*path) {
		fprintf(stderr, "services_env: FERRY_SERVICES_ENV is not set; run through "
			"ctest, or 'tests/services start DIR' and export "
			"FERRY_SERVICES_ENV=DIR/env\n");
		return -1;
	}
	f = fopen(path, "r");
	if (!f) {
		perror(path);
		fprintf(stderr, "services_env: cannot read the services env file; "
			"did 'tests/services start' succeed?\n");
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (parse_line(line, path, lineno) < 0) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	load_state = 1;
	if (!svc_get("FERRY_PG_URL")) {
		fprintf(stderr, "services_env: %s has no FERRY_PG_URL\n", path);
		load_state = -1;
		return -1;
	}
	return 0;
}

const char *svc_get(const char *key)
{
	int i;

	if (!load_state && svc_load() < 0)
		return NULL;
	for (i = nkvs - 1; i >= 0; i--)
		if (strcmp(kvs[i].key, key) == 0)
			return kvs[i].value;
	return NULL;
}

static unsigned long long random_bits(void)
{
	unsigned long long r = 0;
	FILE *f = fopen("/dev/urandom", "rb");

	if (!f || fread(&r, sizeof(r), 1, f) != 1) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		r = ((unsigned long long)ts.tv_nsec << 20) ^ (unsigned long long)ts.tv_sec ^
		    ((unsigned long long)getpid() << 40);
	}
	if (f)
		fclose(f);
	return r;
}

char *svc_new_pg_db(const char *prefix)
{
	const char *url, *host, *port, *user;
	char name[64], sql[128], *out = NULL;
	size_t i, n;
	PGconn *conn = NULL;
	PGresult *res = NULL;

	if (svc_load() < 0)
		return NULL;
	url = svc_get("FERRY_PG_URL");
	host = svc_get("FERRY_PG_HOST");
	port = svc_get("FERRY_PG_PORT");
	user = svc_get("FERRY_PG_USER");
	if (!host || !port || !user) {
		fprintf(stderr, "services_env: env file lacks FERRY_PG_HOST/PORT/USER\n");
		return NULL;
	}

	/* name: sanitized prefix (at most 40 bytes), '_', 12 hex digits */
	if (!prefix || !*prefix)
		prefix = "t";
	for (n = 0; prefix[n] && n < 40; n++) {
		unsigned char c = (unsigned char)tolower((unsigned char)prefix[n]);

		name[n] = (isalnum(c) && c < 128) || c == '_' ? (char)c : '_';
	}
	snprintf(name + n, sizeof(name) - n, "_%012llx", random_bits() & 0xffffffffffffULL);
	for (i = 0; name[i]; i++) /* belt and braces: only [a-z0-9_] reach SQL */
		if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i]) &&
		    name[i] != '_')
			return NULL;

	conn = PQconnectdb(url);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "services_env: cannot connect to %s: %s", url,
			PQerrorMessage(conn));
		goto out;
	}
	snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "services_env: %s failed: %s", sql, PQerrorMessage(conn));
		goto out;
	}
	n = strlen(user) + strlen(host) + strlen(port) + strlen(name) + 32;
	out = malloc(n);
	if (!out) {
		fprintf(stderr, "services_env: out of memory\n");
		goto out;
	}
	snprintf(out, n, "postgres://%s@%s:%s/%s", user, host, port, name);
out:
	PQclear(res);
	PQfinish(conn);
	return out;
}

int svc_run(const char *cmd, const char *dir, const char *arg, const char *log)
{
	char line[4096];
	int st;

	snprintf(line, sizeof(line), "\"%s/tests/services\" %s \"%s\" %s >>\"%s\" 2>&1",
		 getenv("FERRY_SRC"), cmd, dir, arg ? arg : "", log);
	st = system(line);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *svc_env_of(const char *dir, const char *key)
{
	static char val[512];
	char path[4096], line[1024];
	size_t kl = strlen(key);
	FILE *f;

	val[0] = '\0';
	snprintf(path, sizeof(path), "%s/env", dir);
	if (!(f = fopen(path, "r")))
		return val;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == '=') {
			snprintf(val, sizeof(val), "%.500s", line + kl + 1);
			val[strcspn(val, "\n")] = '\0';
		}
	fclose(f);
	return val;
}

int svc_fake2_start(const char *dir, int *port)
{
	char script[4096], portf[4096];
	FILE *f = NULL;
	pid_t pid;
	int i;

	snprintf(portf, sizeof(portf), "%s/fake2.port", dir);
	unlink(portf);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		/* not the test's stdout: ctest waits for every holder of that pipe */
		snprintf(script, sizeof(script), "%s/fake2.log", dir);
		if (!freopen(script, "a", stdout) || !freopen(script, "a", stderr))
			_exit(126);
		snprintf(script, sizeof(script), "%s/tests/integration/influx2_fake.py",
			 getenv("FERRY_SRC"));
		execl("/usr/bin/python3", "python3", script, portf, (char *)NULL);
		_exit(127);
	}
	/* it writes the port once it listens (a rename: whole or absent) */
	for (i = 0; i < 300 && !(f = fopen(portf, "r")); i++)
		usleep(100000);
	if (!f || fscanf(f, "%d", port) != 1) {
		fprintf(stderr, "influx2_fake.py did not start (no %s)\n", portf);
		if (f)
			fclose(f);
		svc_fake2_stop(pid);
		return -1;
	}
	fclose(f);
	return (int)pid;
}

void svc_fake2_stop(int pid)
{
	if (pid <= 0)
		return;
	kill((pid_t)pid, SIGTERM);
	waitpid((pid_t)pid, NULL, 0);
}
