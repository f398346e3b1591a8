/*
 * services_env.h - how C integration tests find the servers tests/services
 * started: it parses the KEY=VALUE file named by $FERRY_SERVICES_ENV
 * (FERRY_PG_URL, FERRY_PG_HOST, FERRY_PG_PORT, FERRY_PG_USER,
 * FERRY_INFLUX_URL, FERRY_MQTT_HOST, FERRY_MQTT_PORT, ...; see
 * tests/services) and makes fresh PostgreSQL databases.
 *
 * Linked into every tests/integration/test_*.c executable (tests/CMakeLists.txt).
 * Not thread-safe: call svc_load() from main() or a group setup first.
 */
#ifndef FERRY_TESTS_SERVICES_ENV_H
#define FERRY_TESTS_SERVICES_ENV_H

/*
 * Read $FERRY_SERVICES_ENV once (later calls return the first result).
 * Returns 0, or -1 with the reason on stderr (variable unset, file
 * unreadable, no FERRY_PG_URL in it).
 */
int svc_load(void);

/*
 * The value of KEY in the env file, or NULL when the file has no such key
 * (e.g. FERRY_INFLUX_URL when InfluxDB was not started). Loads the file on
 * first use. The string lives until the process ends.
 */
const char *svc_get(const char *key);

/*
 * Create a new, empty database named PREFIX_<random hex> (PREFIX is
 * lower-cased, anything but [a-z0-9_] becomes '_') on the test PostgreSQL
 * and return its URL, postgres://USER@HOST:PORT/NAME, which the caller
 * frees with free(). Returns NULL with the reason on stderr on failure.
 */
char *svc_new_pg_db(const char *prefix);

/*
 * Private servers (a test that stops or restarts one must not touch the
 * shared ones): run `tests/services CMD DIR [ARG]` ($FERRY_SRC), its
 * output appended to LOG; its exit code (-1 when it did not exit).
 */
int svc_run(const char *cmd, const char *dir, const char *arg, const char *log);

/* The value of KEY in DIR/env, the env file of private servers started in
 * DIR ("" when none); a static buffer, overwritten by the next call. */
const char *svc_env_of(const char *dir, const char *key);

/*
 * Start tests/integration/influx2_fake.py (a stand-in for the InfluxDB 2.x
 * API: org "acme", token "s3cret", bucket "ha") on a free loopback port,
 * its port file in DIR.  Its pid (stop it with svc_fake2_stop), and its
 * port in *port; -1 with the reason on stderr.
 */
int svc_fake2_start(const char *dir, int *port);
void svc_fake2_stop(int pid);

#endif
