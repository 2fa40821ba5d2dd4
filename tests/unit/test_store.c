/* test_store.c: the SQLite mappings store. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "gt/store.h"

struct tdir {
	char	dir[64];
	char	db[PATH_MAX];
};

/* nftw callback: remove one entry. */
static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	chmod(path, 0700);
	return remove(path);
}

/* A fresh temp folder per test; db is a path inside it. */
static int
setup(void **state)
{
	struct tdir *t;

	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "/tmp/gt_store_XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->db, sizeof(t->db), "%s/mappings.db", t->dir);
	*state = t;
	return 0;
}

/* Remove the temp folder and all it holds. */
static int
teardown(void **state)
{
	struct tdir *t = *state;

	nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return 0;
}

/* Open the store at path, failing the test with the error text if not. */
static struct gt_store *
open_ok(const char *path)
{
	struct gt_store *st;
	char err[512];

	st = gt_store_open(path, err, sizeof(err));
	if (st == NULL)
		fail_msg("gt_store_open(%s): %s", path, err);
	return st;
}

/* Fill a mapping. */
static void
mk(struct gt_mapping *m, uint16_t sp, const char *host, uint16_t tp,
    int tun, const char *client)
{
	memset(m, 0, sizeof(*m));
	m->source_port = sp;
	snprintf(m->target_host, sizeof(m->target_host), "%s", host);
	m->target_port = tp;
	m->use_tunnel = tun;
	snprintf(m->client, sizeof(m->client), "%s", client);
}

/* Run one SQL statement on a raw handle. */
static void
raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fail_msg("%s: %s", sql, msg != NULL ? msg : "?");
		sqlite3_free(msg);
	}
}

/* One integer from a raw handle. */
static int64_t
raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static void
test_crud(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	struct gt_mapping m, g;
	time_t before;

	st = open_ok(t->db);
	before = time(NULL);
	mk(&m, 10001, "192.0.2.7", 22, 1, "site-a");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);
	assert_true(m.id > 0);
	assert_true(m.created_at >= before && m.created_at <= time(NULL));

	assert_int_equal(gt_store_get(st, 10001, &g), GT_STORE_OK);
	assert_int_equal(g.id, m.id);
	assert_int_equal(g.source_port, 10001);
	assert_string_equal(g.target_host, "192.0.2.7");
	assert_int_equal(g.target_port, 22);
	assert_int_equal(g.use_tunnel, 1);
	assert_string_equal(g.client, "site-a");
	assert_int_equal(g.created_at, m.created_at);

	mk(&m, 10002, "example.org", 443, 0, "");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);
	assert_int_equal(gt_store_get(st, 10002, &g), GT_STORE_OK);
	assert_int_equal(g.use_tunnel, 0);
	assert_string_equal(g.client, "");

	assert_int_equal(gt_store_remove(st, 10001), GT_STORE_OK);
	assert_int_equal(gt_store_get(st, 10001, &g), GT_STORE_NOTFOUND);
	assert_int_equal(gt_store_get(st, 10002, &g), GT_STORE_OK);
	gt_store_close(st);
}

static void
test_duplicate(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	struct gt_mapping m, g;
	struct gt_mapping *v;
	size_t n;

	st = open_ok(t->db);
	mk(&m, 10010, "10.0.0.1", 80, 0, "");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);
	mk(&m, 10010, "10.0.0.2", 81, 1, "x");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_EXISTS);
	assert_non_null(strstr(gt_store_error(st), "10010"));
	/* the first one is untouched and the store still writes */
	assert_int_equal(gt_store_get(st, 10010, &g), GT_STORE_OK);
	assert_string_equal(g.target_host, "10.0.0.1");
	mk(&m, 10011, "10.0.0.3", 82, 0, "");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);
	assert_int_equal(gt_store_list(st, &v, &n), GT_STORE_OK);
	assert_int_equal(n, 2);
	free(v);
	gt_store_close(st);
}

static void
test_not_found(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	struct gt_mapping g;

	st = open_ok(t->db);
	assert_int_equal(gt_store_remove(st, 12345), GT_STORE_NOTFOUND);
	assert_int_equal(gt_store_get(st, 12345, &g), GT_STORE_NOTFOUND);
	assert_true(strlen(gt_store_error(st)) > 0);
	gt_store_close(st);
}

static void
test_bad_values(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	struct gt_mapping m;

	st = open_ok(t->db);
	mk(&m, 0, "10.0.0.1", 80, 0, "");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_ERR);
	mk(&m, 10020, "10.0.0.1", 0, 0, "");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_ERR);
	/* an unterminated field is refused, not read past */
	mk(&m, 10020, "10.0.0.1", 80, 0, "");
	memset(m.client, 'c', sizeof(m.client));
	assert_int_equal(gt_store_add(st, &m), GT_STORE_ERR);
	gt_store_close(st);
}

static void
test_list_order(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	struct gt_mapping m, *v;
	size_t n, i;
	static const uint16_t ports[] = { 30000, 1, 65535, 10000, 20000 };
	static const uint16_t want[] = { 1, 10000, 20000, 30000, 65535 };

	st = open_ok(t->db);
	assert_int_equal(gt_store_list(st, &v, &n), GT_STORE_OK);
	assert_int_equal(n, 0);
	free(v);
	for (i = 0; i < 5; i++) {
		mk(&m, ports[i], "127.0.0.1", (uint16_t)(65536 - ports[i]), 0, "");
		assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);
	}
	assert_int_equal(gt_store_list(st, &v, &n), GT_STORE_OK);
	assert_int_equal(n, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(v[i].source_port, want[i]);
		assert_int_equal(v[i].target_port, 65536 - want[i]);
	}
	free(v);
	gt_store_close(st);
}

static void
test_reopen(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	struct gt_mapping m, g;
	int64_t id;

	st = open_ok(t->db);
	mk(&m, 10030, "db.internal", 5432, 1, "dc1");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);
	id = m.id;
	mk(&m, 10031, "gone", 1, 0, "");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);
	assert_int_equal(gt_store_remove(st, 10031), GT_STORE_OK);
	gt_store_close(st);

	st = open_ok(t->db);
	assert_int_equal(gt_store_get(st, 10030, &g), GT_STORE_OK);
	assert_int_equal(g.id, id);
	assert_string_equal(g.target_host, "db.internal");
	assert_string_equal(g.client, "dc1");
	assert_int_equal(gt_store_get(st, 10031, &g), GT_STORE_NOTFOUND);
	/* AUTOINCREMENT: ids are never reused */
	mk(&m, 10031, "again", 2, 0, "");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);
	assert_true(m.id > id + 1);
	gt_store_close(st);
}

static void
test_empty_file(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	struct gt_mapping m;
	sqlite3 *db;
	int fd;

	fd = open(t->db, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
	st = open_ok(t->db);
	mk(&m, 10040, "h", 1, 0, "");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);
	gt_store_close(st);

	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	assert_int_equal(raw_int(db, "PRAGMA user_version"),
	    gt_store_schema_version());
	assert_int_equal(raw_int(db, "SELECT count(*) FROM mappings"), 1);
	sqlite3_close(db);
	assert_true(gt_store_schema_version() >= 1);
}

static void
test_nested_folder(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	char path[PATH_MAX], dir[PATH_MAX];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/a/b/c/mappings.db", t->dir);
	st = open_ok(path);
	gt_store_close(st);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	snprintf(dir, sizeof(dir), "%s/a/b/c", t->dir);
	assert_int_equal(stat(dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 077, 0);	/* 0700 (less umask) */
	snprintf(dir, sizeof(dir), "%s/a", t->dir);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 077, 0);

	/* a file where a folder should be is a clean error */
	snprintf(path, sizeof(path), "%s/a/b/c/mappings.db/x.db", t->dir);
	{
		char err[256];

		assert_null(gt_store_open(path, err, sizeof(err)));
		assert_true(strlen(err) > 0);
	}
}

/* A version 1 database (before SPEC 9's fields): its rows get the defaults. */
static void
test_migrate_v1(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	struct gt_mapping g;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	raw_exec(db, "CREATE TABLE mappings (id INTEGER PRIMARY KEY "
	    "AUTOINCREMENT, source_port INTEGER NOT NULL UNIQUE, target_host "
	    "TEXT NOT NULL, target_port INTEGER NOT NULL, use_tunnel INTEGER "
	    "NOT NULL, client TEXT NOT NULL DEFAULT '', created_at INTEGER "
	    "NOT NULL); INSERT INTO mappings (source_port, target_host, "
	    "target_port, use_tunnel, client, created_at) VALUES "
	    "(10050, 'old.host', 22, 0, '', 1); PRAGMA user_version = 1;");
	sqlite3_close(db);
	st = open_ok(t->db);
	assert_int_equal(gt_store_get(st, 10050, &g), GT_STORE_OK);
	assert_string_equal(g.target_host, "old.host");
	assert_int_equal(g.access_rule, GT_ACCESS_DISABLED);
	assert_int_equal(g.n_access_ips, 0);
	assert_int_equal(g.max_connections, 0);
	assert_int_equal(g.bandwidth_limit, 0);
	assert_string_equal(g.proxy_protocol, "");
	gt_store_close(st);
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	assert_int_equal(raw_int(db, "PRAGMA user_version"),
	    gt_store_schema_version());
	sqlite3_close(db);
}

/* SPEC 9's fields go in, come back after a reopen, and update rewrites them. */
static void
test_edge_fields(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	struct gt_mapping m, g;

	st = open_ok(t->db);
	mk(&m, 10060, "h", 80, 0, "");
	m.access_rule = GT_ACCESS_WHITELIST;
	assert_int_equal(gt_mapping_ips_parse(&m, "127.0.0.1/32,10.0.0.0/8,"
	    "::1/128,2001:db8::/32"), 0);
	m.max_connections = 7;
	assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);
	gt_store_close(st);
	st = open_ok(t->db);
	assert_int_equal(gt_store_get(st, 10060, &g), GT_STORE_OK);
	assert_int_equal(g.access_rule, GT_ACCESS_WHITELIST);
	assert_int_equal(g.n_access_ips, 4);
	assert_memory_equal(g.access_ips, m.access_ips, 4 * sizeof(m.access_ips[0]));
	assert_int_equal(g.max_connections, 7);

	g.access_rule = GT_ACCESS_BLACKLIST;
	g.n_access_ips = 1;
	g.max_connections = 0;
	g.target_port = 81;
	assert_int_equal(gt_store_update(st, &g), GT_STORE_OK);
	assert_int_equal(gt_store_get(st, 10060, &m), GT_STORE_OK);
	assert_int_equal(m.access_rule, GT_ACCESS_BLACKLIST);
	assert_int_equal(m.n_access_ips, 1);
	assert_int_equal(m.max_connections, 0);
	assert_int_equal(m.target_port, 81);
	assert_int_equal(m.id, g.id);
	g.source_port = 10061;
	assert_int_equal(gt_store_update(st, &g), GT_STORE_NOTFOUND);
	/* all or nothing on a bad list */
	assert_int_equal(gt_mapping_ips_parse(&m, "1.2.3.4,nope"), -1);
	assert_int_equal(m.n_access_ips, 1);
	assert_int_equal(gt_mapping_ips_parse(&m, "1.2.3.4,"), -1);
	gt_store_close(st);
}

static void
test_newer_version(void **state)
{
	struct tdir *t = *state;
	sqlite3 *db;
	char err[512];
	char sql[64];

	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	    gt_store_schema_version() + 1);
	raw_exec(db, sql);
	sqlite3_close(db);
	err[0] = '\0';
	assert_null(gt_store_open(t->db, err, sizeof(err)));
	assert_non_null(strstr(err, "newer"));
}

static void
test_durability_pragmas(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	struct gt_mapping m;
	sqlite3 *db;
	sqlite3_stmt *stmt;
	char mode[32];
	int sync = -1;

	st = open_ok(t->db);
	/* the store's own connection */
	assert_int_equal(gt_store_durability(st, mode, sizeof(mode), &sync),
	    GT_STORE_OK);
	assert_string_equal(mode, "wal");
	assert_int_equal(sync, 2);	/* FULL */
	mk(&m, 10050, "h", 1, 0, "");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);

	/* a second handle sees the WAL file mode and the committed row */
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1,
	    &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
	sqlite3_finalize(stmt);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM mappings"), 1);
	sqlite3_close(db);
	gt_store_close(st);
}

static void
test_db_errors(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	struct gt_mapping m, g, *v;
	sqlite3 *db;
	size_t n;
	char sql[512], longhost[300];

	st = open_ok(t->db);
	mk(&m, 10060, "h", 1, 0, "");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);

	/* a value longer than the struct holds is an error, not an overflow */
	memset(longhost, 'a', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "INSERT INTO mappings (source_port, "
	    "target_host, target_port, use_tunnel, created_at) VALUES "
	    "(10061, '%s', 1, 0, 0)", longhost);
	raw_exec(db, sql);
	assert_int_equal(gt_store_get(st, 10061, &g), GT_STORE_ERR);
	assert_non_null(strstr(gt_store_error(st), "too long"));
	assert_int_equal(gt_store_list(st, &v, &n), GT_STORE_ERR);
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(gt_store_get(st, 10060, &g), GT_STORE_OK);

	/* the table gone under us: clean errors with a message */
	raw_exec(db, "DROP TABLE mappings");
	sqlite3_close(db);
	mk(&m, 10062, "h", 1, 0, "");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_ERR);
	assert_true(strlen(gt_store_error(st)) > 0);
	assert_int_equal(gt_store_remove(st, 10060), GT_STORE_ERR);
	assert_int_equal(gt_store_list(st, &v, &n), GT_STORE_ERR);
	assert_int_equal(gt_store_get(st, 10060, &g), GT_STORE_ERR);
	gt_store_close(st);
}

/*
 * Open a write-protected database: a clean error with a message, or, if it
 * opens, a write that fails cleanly. 0 when that holds.
 */
static int
ro_check(const char *db, char *err, size_t errlen)
{
	struct gt_store *st;
	struct gt_mapping m;
	int ret;

	err[0] = '\0';
	st = gt_store_open(db, err, errlen);
	if (st == NULL) {
		print_message("read-only database refused: %s\n", err);
		return strstr(err, "read-only") != NULL ? 0 : -1;
	}
	mk(&m, 10071, "h", 1, 0, "");
	ret = gt_store_add(st, &m) == GT_STORE_ERR &&
	    strlen(gt_store_error(st)) > 0 ? 0 : -1;
	gt_store_close(st);
	return ret;
}

/* As root: run ro_check in a child that drops to nobody. */
static void
ro_as_nobody(struct tdir *t)
{
	pid_t pid;
	int status, fd;
	char err[512];

	if (geteuid() != 0) {
		print_message("read-only check skipped: uid %d can write a "
		    "0444 file\n", (int)geteuid());
		return;
	}
	assert_int_equal(chmod(t->dir, 0777), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) == -1 || setuid(65534) == -1)
			_exit(77);
		fd = open(t->db, O_WRONLY);
		if (fd >= 0)
			_exit(77);
		_exit(ro_check(t->db, err, sizeof(err)) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		print_message("read-only check skipped: running as root and "
		    "cannot drop to nobody, chmod 0444 does not block writes\n");
		return;
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_read_only(void **state)
{
	struct tdir *t = *state;
	struct gt_store *st;
	struct gt_mapping m;
	char err[512];
	int fd;

	st = open_ok(t->db);
	mk(&m, 10070, "h", 1, 0, "");
	assert_int_equal(gt_store_add(st, &m), GT_STORE_OK);
	gt_store_close(st);
	assert_int_equal(chmod(t->db, 0444), 0);

	/* root ignores file modes: try again as nobody, else skip */
	fd = open(t->db, O_WRONLY);
	if (fd >= 0) {
		close(fd);
		ro_as_nobody(t);
		return;
	}
	assert_int_equal(ro_check(t->db, err, sizeof(err)), 0);
}

static void
test_null_args(void **state)
{
	char err[64];
	struct gt_mapping *v = (void *)1;
	size_t n = 7;

	(void)state;
	assert_null(gt_store_open("", err, sizeof(err)));
	assert_null(gt_store_open(NULL, NULL, 0));
	gt_store_close(NULL);
	assert_int_equal(gt_store_list(NULL, &v, &n), GT_STORE_ERR);
	assert_null(v);
	assert_int_equal(n, 0);
}

/* A history record of port at t with figures from base. */
static struct gt_traffic_record
rec(uint16_t port, time_t t, uint64_t base)
{
	struct gt_traffic_record r;

	memset(&r, 0, sizeof(r));
	r.port = port;
	r.recorded_at = t;
	r.bytes_in = base;
	r.bytes_out = base * 2;
	r.sessions = base % 7;
	r.refused = base % 3;
	r.peak_sessions = base % 5;
	return r;
}

/* History: add, merge of one (port, time), filters, order, limit, sums. */
static void
test_history_query(void **state)
{
	struct tdir		*t = *state;
	struct gt_store		*st = open_ok(t->db);
	struct gt_traffic_record rs[6], *out = NULL, sum, dup;
	struct gt_history_query	 q;
	size_t			 n;

	rs[0] = rec(1000, 100, 10);
	rs[1] = rec(1000, 160, 20);
	rs[2] = rec(2000, 160, 30);
	rs[3] = rec(1000, 220, 40);
	rs[4] = rec(2000, 220, 50);
	rs[5] = rec(1000, 280, 60);
	assert_int_equal(gt_store_history_add(st, rs, 6), GT_STORE_OK);
	/* the same (port, time) again: figures add, the peak is the larger */
	dup = rec(1000, 220, 1);
	dup.peak_sessions = 9;
	assert_int_equal(gt_store_history_add(st, &dup, 1), GT_STORE_OK);

	memset(&q, 0, sizeof(q));
	q.to = INT64_MAX;
	q.limit = 1000;
	assert_int_equal(gt_store_history(st, &q, &out, &n), GT_STORE_OK);
	assert_int_equal(n, 6);
	/* newest first, ports ascending within one time */
	assert_int_equal(out[0].recorded_at, 280);
	assert_int_equal(out[1].port, 1000);
	assert_int_equal(out[1].recorded_at, 220);
	assert_int_equal(out[1].bytes_in, 41);
	assert_int_equal(out[1].bytes_out, 82);
	assert_int_equal(out[1].peak_sessions, 9);
	assert_int_equal(out[2].port, 2000);
	assert_int_equal(out[5].recorded_at, 100);
	free(out);

	q.port = 1000;
	q.from = 160;
	q.to = 220;
	assert_int_equal(gt_store_history(st, &q, &out, &n), GT_STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].recorded_at, 220);
	assert_int_equal(out[1].recorded_at, 160);
	assert_int_equal(out[1].bytes_in, 20);
	free(out);

	q.port = 0;
	q.from = 0;
	q.to = INT64_MAX;
	q.limit = 2;
	assert_int_equal(gt_store_history(st, &q, &out, &n), GT_STORE_OK);
	assert_int_equal(n, 2);
	free(out);
	q.port = 3000;
	q.limit = 10;
	assert_int_equal(gt_store_history(st, &q, &out, &n), GT_STORE_OK);
	assert_int_equal(n, 0);
	free(out);

	/* sums since a time, for the live counters at start */
	assert_int_equal(gt_store_history_sum(st, 1000, 160, &sum), GT_STORE_OK);
	assert_int_equal(sum.bytes_in, 20 + 41 + 60);
	assert_int_equal(sum.bytes_out, 40 + 82 + 120);
	assert_int_equal(sum.sessions, 20 % 7 + 40 % 7 + 1 % 7 + 60 % 7);
	assert_int_equal(sum.refused, 20 % 3 + 40 % 3 + 1 % 3 + 60 % 3);
	assert_int_equal(sum.peak_sessions, 9);
	assert_int_equal(sum.recorded_at, 280);
	assert_int_equal(gt_store_history_sum(st, 4000, 0, &sum), GT_STORE_OK);
	assert_int_equal(sum.bytes_in, 0);
	assert_int_equal(sum.recorded_at, 0);

	/* the newest time's records, by port */
	assert_int_equal(gt_store_history_latest(st, &out, &n), GT_STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].recorded_at, 280);
	free(out);

	/* a record of port 0 is refused and nothing of its batch is kept */
	rs[0] = rec(5000, 500, 1);
	rs[1] = rec(0, 500, 1);
	assert_int_equal(gt_store_history_add(st, rs, 2), GT_STORE_ERR);
	assert_int_equal(gt_store_history_sum(st, 5000, 0, &sum), GT_STORE_OK);
	assert_int_equal(sum.bytes_in, 0);
	/* saturated, never negative, when a figure passes INT64_MAX */
	rs[0] = rec(6000, 600, 1);
	rs[0].bytes_in = UINT64_MAX;
	assert_int_equal(gt_store_history_add(st, rs, 1), GT_STORE_OK);
	assert_int_equal(gt_store_history_sum(st, 6000, 0, &sum), GT_STORE_OK);
	assert_true(sum.bytes_in == (uint64_t)INT64_MAX);
	gt_store_close(st);
}

/* Pruning goes in bounded batches, oldest first, and keeps the young. */
static void
test_history_prune(void **state)
{
	struct tdir		*t = *state;
	struct gt_store		*st = open_ok(t->db);
	struct gt_traffic_record *rs;
	struct gt_history_query	 q;
	struct gt_traffic_record *out = NULL;
	size_t			 i, n, deleted, total = 0;

	rs = calloc(2500, sizeof(*rs));
	assert_non_null(rs);
	for (i = 0; i < 2500; i++)
		rs[i] = rec((uint16_t)(1 + i % 10), (time_t)(1000 + i / 10), i);
	assert_int_equal(gt_store_history_add(st, rs, 2500), GT_STORE_OK);
	free(rs);
	/* before 1200: the first 200 times, 2000 rows, in batches of 300 */
	do {
		assert_int_equal(gt_store_history_prune(st, 1200, 300, &deleted),
		    GT_STORE_OK);
		assert_true(deleted <= 300);
		total += deleted;
	} while (deleted == 300);
	assert_int_equal(total, 2000);
	assert_int_equal(gt_store_history_prune(st, 1200, 300, &deleted),
	    GT_STORE_OK);
	assert_int_equal(deleted, 0);
	memset(&q, 0, sizeof(q));
	q.to = INT64_MAX;
	q.limit = 1000;
	assert_int_equal(gt_store_history(st, &q, &out, &n), GT_STORE_OK);
	assert_int_equal(n, 500);
	assert_int_equal(out[n - 1].recorded_at, 1200);
	free(out);
	assert_int_equal(gt_store_history_prune(st, 1200, 0, &deleted),
	    GT_STORE_ERR);
	gt_store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_list_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_nested_folder, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_edge_fields, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_newer_version, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_durability_pragmas, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_db_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
		cmocka_unit_test(test_null_args),
		cmocka_unit_test_setup_teardown(test_history_query, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_history_prune, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
