/*
 * store.c: the mappings table in SQLite. The only module that speaks SQL.
 * WAL with synchronous=FULL; every write is one BEGIN IMMEDIATE ... COMMIT
 * that has committed before the function returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gt/log.h"
#include "gt/store.h"

#define STORE_ERRLEN	256

#define STORE_OPEN_BUSY_MS	5000	/* opening and migrating may wait */

struct gt_store {
	sqlite3		*st_db;
	int		 st_busy;	/* the last error was a lock held elsewhere */
	char		 st_err[STORE_ERRLEN];
};

/*
 * Ordered migration steps: step i brings the schema from version i to i + 1.
 * Each runs in its own transaction together with the user_version bump.
 */
static const char *const store_migrations[] = {
	/* v1: the mappings table (SPEC section 4). */
	"CREATE TABLE mappings ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" source_port INTEGER NOT NULL UNIQUE"
	"  CHECK(source_port BETWEEN 1 AND 65535),"
	" target_host TEXT NOT NULL,"
	" target_port INTEGER NOT NULL"
	"  CHECK(target_port BETWEEN 1 AND 65535),"
	" use_tunnel INTEGER NOT NULL CHECK(use_tunnel IN (0, 1)),"
	" client TEXT NOT NULL DEFAULT '',"
	" created_at INTEGER NOT NULL)",
	/*
	 * v2: SPEC 9's per-mapping fields; rows of v1 get the defaults (open
	 * to all, the server's session limit). access_ips is the canonical
	 * comma-separated CIDR list (gt_mapping_ips_format).
	 */
	"ALTER TABLE mappings ADD COLUMN access_rule TEXT NOT NULL"
	"  DEFAULT 'disabled'"
	"  CHECK(access_rule IN ('disabled', 'whitelist', 'blacklist'));"
	"ALTER TABLE mappings ADD COLUMN access_ips TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE mappings ADD COLUMN max_connections INTEGER NOT NULL"
	"  DEFAULT 0 CHECK(max_connections BETWEEN 0 AND 1000000);"
	"ALTER TABLE mappings ADD COLUMN bandwidth_limit INTEGER NOT NULL"
	"  DEFAULT 0 CHECK(bandwidth_limit >= 0);"
	"ALTER TABLE mappings ADD COLUMN proxy_protocol TEXT NOT NULL"
	"  DEFAULT '' CHECK(proxy_protocol IN ('', 'v1', 'v2'))",
	/*
	 * v3: traffic history (SPEC 9), one row per mapping port per
	 * stats.record_interval. Not tied to mappings by a foreign key: the
	 * history of a removed mapping stays until retention prunes it.
	 */
	"CREATE TABLE traffic_history ("
	" port INTEGER NOT NULL CHECK(port BETWEEN 1 AND 65535),"
	" recorded_at INTEGER NOT NULL,"
	" bytes_in INTEGER NOT NULL DEFAULT 0 CHECK(bytes_in >= 0),"
	" bytes_out INTEGER NOT NULL DEFAULT 0 CHECK(bytes_out >= 0),"
	" sessions INTEGER NOT NULL DEFAULT 0 CHECK(sessions >= 0),"
	" refused INTEGER NOT NULL DEFAULT 0 CHECK(refused >= 0),"
	" peak_sessions INTEGER NOT NULL DEFAULT 0 CHECK(peak_sessions >= 0),"
	" PRIMARY KEY (port, recorded_at));"
	"CREATE INDEX traffic_history_time ON traffic_history (recorded_at)",
};

#define STORE_NMIGRATIONS \
	((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

#define STORE_COLUMNS \
	"id, source_port, target_host, target_port, use_tunnel, client," \
	" created_at, access_rule, access_ips, max_connections," \
	" bandwidth_limit, proxy_protocol"

/* Room for access_ips as text: every entry at its longest, and commas. */
#define STORE_IPS_MAX	(GT_ACCESS_IPS_MAX * GT_CIDR_STRLEN)

/* Record the last error text, printf style. */
static void __attribute__((format(printf, 2, 3)))
store_seterr(struct gt_store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->st_err, sizeof(st->st_err), fmt, ap);
	va_end(ap);
}

/* Record "what: sqlite's message" as the last error. */
static void
store_dberr(struct gt_store *st, const char *what)
{
	int rc = sqlite3_errcode(st->st_db) & 0xff;

	/* Another process holds the lock: the caller may say "retry". */
	st->st_busy = rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
	store_seterr(st, "%s: %s", what, sqlite3_errmsg(st->st_db));
}

/* The failure code of the last error: busy, or any other. */
static int
store_failed(const struct gt_store *st)
{
	return st->st_busy ? GT_STORE_BUSY : GT_STORE_ERR;
}

/* Create dir and its parents with mode 0700 where missing. */
static int
store_mkdirs(const char *dir, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	size_t len, i;
	struct stat sb;

	len = strlen(dir);
	if (len == 0)
		return 0;
	if (len >= sizeof(buf)) {
		snprintf(err, errlen, "database folder name too long");
		return -1;
	}
	memcpy(buf, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create folder %s: %s",
			    buf, strerror(errno));
			return -1;
		}
		if (i < len)
			buf[i] = '/';
	}
	if (stat(dir, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "database folder %s is not a folder",
		    dir);
		return -1;
	}
	return 0;
}

/*
 * Make path (the database, its -wal or -shm) readable by its owner only:
 * mappings are the map of what the private network exposes. create: make
 * the file with mode 0600 if it is missing, so SQLite, which gives -wal
 * and -shm the database's mode, never sees a wider one. A file that had
 * group or other bits loses them, with a warning.
 */
static int
store_secure_file(const char *path, int create, char *err, size_t errlen)
{
	struct stat	sb;
	int		fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd == -1) {
		if (!create && errno == ENOENT)
			return 0;	/* SQLite has not made it (yet) */
		snprintf(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		snprintf(err, errlen, "cannot stat %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (S_ISREG(sb.st_mode) && (sb.st_mode & 077) != 0) {
		/*
		 * Only take bits away: a read-only file stays read-only. A
		 * file we do not own is the operator's setup: say so loudly
		 * and let the open tell whether it is usable at all.
		 */
		if (fchmod(fd, sb.st_mode & 0600) == -1)
			log_warn("store", "%s has mode %04o (group/other "
			    "access) and cannot be made 0600", path,
			    (unsigned)(sb.st_mode & 07777));
		else
			log_warnx("store", "%s had mode %04o (group/other "
			    "access): now %04o", path,
			    (unsigned)(sb.st_mode & 07777),
			    (unsigned)(sb.st_mode & 0600));
	}
	close(fd);
	return 0;
}

/* The -wal and -shm files next to path: owner only, as the database. */
static int
store_secure_sidecars(const char *path, char *err, size_t errlen)
{
	static const char *const suffix[] = { "-wal", "-shm" };
	char	 side[PATH_MAX];
	size_t	 i;

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		if ((size_t)snprintf(side, sizeof(side), "%s%s", path,
		    suffix[i]) >= sizeof(side)) {
			snprintf(err, errlen, "database path too long");
			return -1;
		}
		if (store_secure_file(side, 0, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* Create the folder that holds path, if it has one. */
static int
store_mkparent(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash;
	size_t len;

	if ((slash = strrchr(path, '/')) == NULL)
		return 0;
	len = (size_t)(slash - path);
	if (len == 0)
		return 0;	/* a file in / */
	if (len >= sizeof(dir)) {
		snprintf(err, errlen, "database path too long");
		return -1;
	}
	memcpy(dir, path, len);
	dir[len] = '\0';
	return store_mkdirs(dir, err, errlen);
}

/*
 * Run SQL that returns no rows, statement by statement (a migration step
 * may hold several: SQLite's ALTER TABLE adds one column at a time).
 */
static int
store_exec(struct gt_store *st, const char *sql)
{
	sqlite3_stmt *stmt;
	const char *tail;
	int rc;

	while (*sql != '\0') {
		if (sqlite3_prepare_v2(st->st_db, sql, -1, &stmt, &tail) !=
		    SQLITE_OK) {
			store_dberr(st, sql);
			return -1;
		}
		if (stmt == NULL)	/* only blanks or comments left */
			break;
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
			;
		if (rc != SQLITE_DONE) {
			store_dberr(st, sql);
			sqlite3_finalize(stmt);
			return -1;
		}
		sqlite3_finalize(stmt);
		sql = tail;
	}
	return 0;
}

/* Read an integer pragma (or any one-integer query) into *out. */
static int
store_query_int(struct gt_store *st, const char *sql, int64_t *out)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(st->st_db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		store_dberr(st, sql);
		return -1;
	}
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		store_dberr(st, sql);
		sqlite3_finalize(stmt);
		return -1;
	}
	*out = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

/* Read a text pragma into buf (bounded). */
static int
store_query_text(struct gt_store *st, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *stmt;
	const unsigned char *s;

	if (sqlite3_prepare_v2(st->st_db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		store_dberr(st, sql);
		return -1;
	}
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		store_dberr(st, sql);
		sqlite3_finalize(stmt);
		return -1;
	}
	s = sqlite3_column_text(stmt, 0);
	snprintf(buf, len, "%s", s != NULL ? (const char *)s : "");
	sqlite3_finalize(stmt);
	return 0;
}

/* Roll back after a failed write; the error text already says why. */
static void
store_rollback(struct gt_store *st)
{
	sqlite3_stmt *stmt;

	if (sqlite3_get_autocommit(st->st_db))
		return;		/* sqlite rolled back already */
	if (sqlite3_prepare_v2(st->st_db, "ROLLBACK", -1, &stmt, NULL) ==
	    SQLITE_OK) {
		(void)sqlite3_step(stmt);
		sqlite3_finalize(stmt);
	}
}

/* Bring the schema up to this build's version, one transaction a step. */
static int
store_migrate(struct gt_store *st)
{
	int64_t ver;
	int i;
	char sql[64];

	if (store_query_int(st, "PRAGMA user_version", &ver) == -1)
		return -1;
	if (ver > STORE_NMIGRATIONS) {
		store_seterr(st, "database schema version %lld is newer than "
		    "this build knows (%d): refusing to use it",
		    (long long)ver, STORE_NMIGRATIONS);
		return -1;
	}
	if (ver < 0) {
		store_seterr(st, "database schema version %lld is invalid",
		    (long long)ver);
		return -1;
	}
	for (i = (int)ver; i < STORE_NMIGRATIONS; i++) {
		if (store_exec(st, "BEGIN IMMEDIATE") == -1)
			return -1;
		if (store_exec(st, store_migrations[i]) == -1)
			goto fail;
		/* PRAGMA binds no parameters; the value is our own int. */
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", i + 1);
		if (store_exec(st, sql) == -1)
			goto fail;
		if (store_exec(st, "COMMIT") == -1)
			goto fail;
		log_info("store", "database schema migrated to version %d",
		    i + 1);
	}
	return 0;
 fail:
	store_rollback(st);
	return -1;
}

/* The schema version this build migrates to. */
int
gt_store_schema_version(void)
{
	return STORE_NMIGRATIONS;
}

/*
 * Whether path is an SQLite file with a mappings table but no gt schema
 * (user_version 0): go-tunnel's mappings.db, left as database.path by a
 * user moving over. Probed read-only before anything else touches it:
 * opening it as our store would switch it to WAL and fail on the
 * migration. 1 foreign, 0 not (or not readable: the real open will say).
 */
static int
store_foreign(const char *path)
{
	sqlite3		*db = NULL;
	sqlite3_stmt	*stmt = NULL;
	int		 foreign = 0;

	if (access(path, F_OK) == -1)
		return 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	sqlite3_busy_timeout(db, STORE_OPEN_BUSY_MS);
	if (sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM "
	    "pragma_user_version) = 0 AND EXISTS (SELECT 1 FROM sqlite_master "
	    "WHERE type = 'table' AND name = 'mappings')", -1, &stmt,
	    NULL) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
		foreign = sqlite3_column_int(stmt, 0) == 1;
 out:
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return foreign;
}

/* Create the folder, open, set durability pragmas, migrate. */
struct gt_store *
gt_store_open(const char *path, char *err, size_t errlen)
{
	struct gt_store *st;
	char mode[32];
	int64_t sync;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (err == NULL)
		errlen = 0;
	if (path == NULL || *path == '\0') {
		snprintf(err, errlen, "empty database path");
		return NULL;
	}
	if (store_foreign(path)) {
		snprintf(err, errlen, "%s holds a mappings table gt did not "
		    "make (go-tunnel's mappings.db?): give gt a new file and "
		    "copy these with gt-server -import-gotunnel %s", path, path);
		return NULL;
	}
	if (store_mkparent(path, err, errlen) == -1 ||
	    store_secure_file(path, 1, err, errlen) == -1 ||
	    store_secure_sidecars(path, err, errlen) == -1)
		return NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &st->st_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
		    st->st_db != NULL ? sqlite3_errmsg(st->st_db) :
		    "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(st->st_db, 1);
	/* At start there is time to wait; serving, gt_store_set_busy_timeout. */
	sqlite3_busy_timeout(st->st_db, STORE_OPEN_BUSY_MS);
	/* SQLite opens a write-protected file read-only: refuse now. */
	if (sqlite3_db_readonly(st->st_db, "main") == 1) {
		store_seterr(st, "database file is read-only");
		goto dbfail;
	}
	if (store_query_text(st, "PRAGMA journal_mode=WAL", mode,
	    sizeof(mode)) == -1)
		goto dbfail;
	if (strcmp(mode, "wal") != 0) {
		store_seterr(st, "cannot switch to WAL (journal_mode is %s)",
		    mode);
		goto dbfail;
	}
	if (store_exec(st, "PRAGMA synchronous=FULL") == -1 ||
	    store_query_int(st, "PRAGMA synchronous", &sync) == -1)
		goto dbfail;
	if (sync != 2) {
		store_seterr(st, "cannot set synchronous=FULL");
		goto dbfail;
	}
	if (store_exec(st, "PRAGMA foreign_keys=ON") == -1)
		goto dbfail;
	if (store_migrate(st) == -1)
		goto dbfail;
	/* WAL made -wal and -shm by now; check what SQLite gave them. */
	if (store_secure_sidecars(path, err, errlen) == -1)
		goto fail;
	return st;
 dbfail:
	snprintf(err, errlen, "database %s: %s", path, st->st_err);
 fail:
	gt_store_close(st);
	return NULL;
}

/* Close the database; NULL is fine. */
void
gt_store_close(struct gt_store *st)
{
	if (st == NULL)
		return;
	if (st->st_db != NULL && sqlite3_close(st->st_db) != SQLITE_OK)
		log_warnx("store", "close: %s", sqlite3_errmsg(st->st_db));
	st->st_db = NULL;
	free(st);
}

/* Last error text of this store (borrowed). */
const char *
gt_store_error(const struct gt_store *st)
{
	if (st == NULL)
		return "no database";
	return st->st_err;
}

/* Copy a text column into dst of size dstlen; too long is an error. */
static int
store_copy_text(struct gt_store *st, sqlite3_stmt *stmt, int col,
    char *dst, size_t dstlen, const char *name)
{
	const unsigned char *s;
	int n;

	s = sqlite3_column_text(stmt, col);
	n = sqlite3_column_bytes(stmt, col);
	if (s == NULL)
		n = 0;
	if (n < 0 || (size_t)n >= dstlen) {
		store_seterr(st, "stored %s is too long (%d bytes)", name, n);
		return -1;
	}
	if (n > 0)
		memcpy(dst, s, (size_t)n);
	dst[n] = '\0';
	return 0;
}

/*
 * The SPEC 9 columns (7..11) of the current row into m. A value this
 * build cannot read is an error, not a default: a whitelist read back as
 * "open to all" would fail open.
 */
static int
store_row_edge(struct gt_store *st, sqlite3_stmt *stmt, struct gt_mapping *m)
{
	char	rule[16], ips[STORE_IPS_MAX];
	int64_t	maxc, bw;

	if (store_copy_text(st, stmt, 7, rule, sizeof(rule),
	    "access_rule") == -1 ||
	    store_copy_text(st, stmt, 8, ips, sizeof(ips), "access_ips") == -1 ||
	    store_copy_text(st, stmt, 11, m->proxy_protocol,
	    sizeof(m->proxy_protocol), "proxy_protocol") == -1)
		return -1;
	if (gt_mapping_rule_parse(rule, &m->access_rule) == -1 ||
	    gt_mapping_ips_parse(m, ips) == -1) {
		store_seterr(st, "stored access rule of port %u is not valid",
		    m->source_port);
		return -1;
	}
	maxc = sqlite3_column_int64(stmt, 9);
	bw = sqlite3_column_int64(stmt, 10);
	if (maxc < 0 || maxc > GT_MAXCONN_MAX || bw < 0) {
		store_seterr(st, "stored limits of port %u out of range",
		    m->source_port);
		return -1;
	}
	m->max_connections = (unsigned)maxc;
	m->bandwidth_limit = (uint64_t)bw;
	return 0;
}

/* Length of a bounded string field, or -1 when it has no NUL inside. */
static int
store_fieldlen(const char *s, size_t size)
{
	size_t n;

	n = strnlen(s, size);
	if (n >= size)
		return -1;
	return (int)n;
}

/* Fill m from the current row of a STORE_COLUMNS query. */
static int
store_row(struct gt_store *st, sqlite3_stmt *stmt, struct gt_mapping *m)
{
	int64_t sp, tp;

	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(stmt, 0);
	sp = sqlite3_column_int64(stmt, 1);
	tp = sqlite3_column_int64(stmt, 3);
	if (sp < 1 || sp > 65535 || tp < 1 || tp > 65535) {
		store_seterr(st, "stored port out of range (row %lld)",
		    (long long)m->id);
		return -1;
	}
	m->source_port = (uint16_t)sp;
	m->target_port = (uint16_t)tp;
	m->use_tunnel = sqlite3_column_int64(stmt, 4) != 0;
	m->created_at = (time_t)sqlite3_column_int64(stmt, 6);
	if (store_copy_text(st, stmt, 2, m->target_host,
	    sizeof(m->target_host), "target_host") == -1 ||
	    store_copy_text(st, stmt, 5, m->client, sizeof(m->client),
	    "client") == -1)
		return -1;
	return store_row_edge(st, stmt, m);
}

/*
 * Bind m's SPEC 9 fields to parameters first..first+4 (access_rule,
 * access_ips, max_connections, bandwidth_limit, proxy_protocol).
 */
static int
store_bind_edge(struct gt_store *st, sqlite3_stmt *stmt, int first,
    const struct gt_mapping *m)
{
	char	ips[STORE_IPS_MAX];
	int	plen;

	plen = store_fieldlen(m->proxy_protocol, sizeof(m->proxy_protocol));
	if (plen < 0 || gt_mapping_ips_format(m, ips, sizeof(ips)) == -1 ||
	    m->max_connections > GT_MAXCONN_MAX ||
	    m->bandwidth_limit > (uint64_t)INT64_MAX) {
		store_seterr(st, "mapping fields out of range");
		return -1;
	}
	if (sqlite3_bind_text(stmt, first, gt_mapping_rule_name(m->access_rule),
	    -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(stmt, first + 1, ips, -1,
	    SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, first + 2, m->max_connections) !=
	    SQLITE_OK ||
	    sqlite3_bind_int64(stmt, first + 3,
	    (sqlite3_int64)m->bandwidth_limit) != SQLITE_OK ||
	    sqlite3_bind_text(stmt, first + 4, m->proxy_protocol, plen,
	    SQLITE_TRANSIENT) != SQLITE_OK) {
		store_dberr(st, "bind");
		return -1;
	}
	return 0;
}

/* Insert m in its own committed transaction; set id and created_at. */
int
gt_store_add(struct gt_store *st, struct gt_mapping *m)
{
	sqlite3_stmt *stmt = NULL;
	int hlen, clen, rc, ext;
	time_t now;

	if (st == NULL || m == NULL)
		return GT_STORE_ERR;
	st->st_busy = 0;
	hlen = store_fieldlen(m->target_host, sizeof(m->target_host));
	clen = store_fieldlen(m->client, sizeof(m->client));
	if (hlen < 0 || clen < 0) {
		store_seterr(st, "mapping field not terminated");
		return GT_STORE_ERR;
	}
	if (m->source_port == 0 || m->target_port == 0) {
		store_seterr(st, "port 0 is not a valid port");
		return GT_STORE_ERR;
	}
	/* An imported mapping keeps the time it was first made. */
	now = m->created_at > 0 ? m->created_at : time(NULL);
	if (store_exec(st, "BEGIN IMMEDIATE") == -1)
		return store_failed(st);
	if (sqlite3_prepare_v2(st->st_db, "INSERT INTO mappings (source_port,"
	    " target_host, target_port, use_tunnel, client, created_at,"
	    " access_rule, access_ips, max_connections, bandwidth_limit,"
	    " proxy_protocol) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1,
	    &stmt, NULL) != SQLITE_OK) {
		store_dberr(st, "insert");
		goto fail;
	}
	if (store_bind_edge(st, stmt, 7, m) == -1)
		goto fail;
	if (sqlite3_bind_int(stmt, 1, m->source_port) != SQLITE_OK ||
	    sqlite3_bind_text(stmt, 2, m->target_host, hlen,
	    SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int(stmt, 3, m->target_port) != SQLITE_OK ||
	    sqlite3_bind_int(stmt, 4, m->use_tunnel ? 1 : 0) != SQLITE_OK ||
	    sqlite3_bind_text(stmt, 5, m->client, clen,
	    SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 6, (sqlite3_int64)now) != SQLITE_OK) {
		store_dberr(st, "insert");
		goto fail;
	}
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		ext = sqlite3_extended_errcode(st->st_db);
		store_dberr(st, "insert");
		sqlite3_finalize(stmt);
		stmt = NULL;
		if (ext == SQLITE_CONSTRAINT_UNIQUE) {
			store_seterr(st, "port %u is mapped already",
			    m->source_port);
			store_rollback(st);
			return GT_STORE_EXISTS;
		}
		goto fail;
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (store_exec(st, "COMMIT") == -1)
		goto fail;
	m->id = sqlite3_last_insert_rowid(st->st_db);
	m->created_at = now;
	return GT_STORE_OK;
 fail:
	if (stmt != NULL)
		sqlite3_finalize(stmt);
	store_rollback(st);
	return store_failed(st);
}

/*
 * Run stmt (prepared, bound, inside BEGIN IMMEDIATE), which changes the
 * mapping of port: commit if it did, roll back and NOTFOUND if there was
 * none. stmt is finalized either way.
 */
static int
store_commit_one(struct gt_store *st, sqlite3_stmt *stmt, const char *what,
    uint16_t port)
{
	int changes;

	if (sqlite3_step(stmt) != SQLITE_DONE) {
		store_dberr(st, what);
		sqlite3_finalize(stmt);
		store_rollback(st);
		return store_failed(st);
	}
	changes = sqlite3_changes(st->st_db);
	sqlite3_finalize(stmt);
	if (changes == 0) {
		store_rollback(st);
		store_seterr(st, "port %u is not mapped", port);
		return GT_STORE_NOTFOUND;
	}
	if (store_exec(st, "COMMIT") == -1) {
		store_rollback(st);
		return store_failed(st);
	}
	return GT_STORE_OK;
}

/*
 * Rewrite every field of the mapping of m->source_port but its id, port,
 * use_tunnel and created_at, in its own committed transaction.
 */
int
gt_store_update(struct gt_store *st, const struct gt_mapping *m)
{
	sqlite3_stmt *stmt = NULL;
	int hlen, clen;

	if (st == NULL || m == NULL)
		return GT_STORE_ERR;
	st->st_busy = 0;
	hlen = store_fieldlen(m->target_host, sizeof(m->target_host));
	clen = store_fieldlen(m->client, sizeof(m->client));
	if (hlen < 0 || clen < 0 || m->target_port == 0) {
		store_seterr(st, "mapping field not valid");
		return GT_STORE_ERR;
	}
	if (store_exec(st, "BEGIN IMMEDIATE") == -1)
		return store_failed(st);
	if (sqlite3_prepare_v2(st->st_db, "UPDATE mappings SET target_host = ?,"
	    " target_port = ?, client = ?, access_rule = ?, access_ips = ?,"
	    " max_connections = ?, bandwidth_limit = ?, proxy_protocol = ?"
	    " WHERE source_port = ?", -1, &stmt, NULL) != SQLITE_OK) {
		store_dberr(st, "update");
		goto fail;
	}
	if (sqlite3_bind_text(stmt, 1, m->target_host, hlen,
	    SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int(stmt, 2, m->target_port) != SQLITE_OK ||
	    sqlite3_bind_text(stmt, 3, m->client, clen,
	    SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_int(stmt, 9, m->source_port) != SQLITE_OK) {
		store_dberr(st, "update");
		goto fail;
	}
	if (store_bind_edge(st, stmt, 4, m) == -1)
		goto fail;
	return store_commit_one(st, stmt, "update", m->source_port);
 fail:
	if (stmt != NULL)
		sqlite3_finalize(stmt);
	store_rollback(st);
	return store_failed(st);
}

/* Delete the mapping of source_port in its own committed transaction. */
int
gt_store_remove(struct gt_store *st, uint16_t source_port)
{
	sqlite3_stmt *stmt = NULL;

	if (st == NULL)
		return GT_STORE_ERR;
	st->st_busy = 0;
	if (store_exec(st, "BEGIN IMMEDIATE") == -1)
		return store_failed(st);
	if (sqlite3_prepare_v2(st->st_db, "DELETE FROM mappings WHERE"
	    " source_port = ?", -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_bind_int(stmt, 1, source_port) != SQLITE_OK) {
		store_dberr(st, "delete");
		goto fail;
	}
	return store_commit_one(st, stmt, "delete", source_port);
 fail:
	if (stmt != NULL)
		sqlite3_finalize(stmt);
	store_rollback(st);
	return store_failed(st);
}

/* Read the mapping of source_port into out. */
int
gt_store_get(struct gt_store *st, uint16_t source_port, struct gt_mapping *out)
{
	sqlite3_stmt *stmt;
	int rc, ret;

	if (st == NULL || out == NULL)
		return GT_STORE_ERR;
	st->st_busy = 0;
	if (sqlite3_prepare_v2(st->st_db, "SELECT " STORE_COLUMNS
	    " FROM mappings WHERE source_port = ?", -1, &stmt, NULL) !=
	    SQLITE_OK) {
		store_dberr(st, "select");
		return store_failed(st);
	}
	if (sqlite3_bind_int(stmt, 1, source_port) != SQLITE_OK) {
		store_dberr(st, "select");
		sqlite3_finalize(stmt);
		return store_failed(st);
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		ret = store_row(st, stmt, out) == 0 ? GT_STORE_OK :
		    store_failed(st);
	else if (rc == SQLITE_DONE) {
		store_seterr(st, "port %u is not mapped", source_port);
		ret = GT_STORE_NOTFOUND;
	} else {
		store_dberr(st, "select");
		ret = store_failed(st);
	}
	sqlite3_finalize(stmt);
	return ret;
}

/* Every mapping, ordered by source_port, in a malloc'ed array. */
int
gt_store_list(struct gt_store *st, struct gt_mapping **out, size_t *n)
{
	sqlite3_stmt *stmt;
	struct gt_mapping *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (n != NULL)
		*n = 0;
	if (st == NULL || out == NULL || n == NULL)
		return GT_STORE_ERR;
	st->st_busy = 0;
	if (sqlite3_prepare_v2(st->st_db, "SELECT " STORE_COLUMNS
	    " FROM mappings ORDER BY source_port", -1, &stmt, NULL) !=
	    SQLITE_OK) {
		store_dberr(st, "list");
		return store_failed(st);
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				store_seterr(st, "list: out of memory");
				goto fail;
			}
			v = nv;
		}
		if (store_row(st, stmt, &v[cnt]) == -1)
			goto fail;
		cnt++;
	}
	if (rc != SQLITE_DONE) {
		store_dberr(st, "list");
		goto fail;
	}
	sqlite3_finalize(stmt);
	*out = v;
	*n = cnt;
	return GT_STORE_OK;
 fail:
	sqlite3_finalize(stmt);
	free(v);
	return store_failed(st);
}

/* Read back this connection's journal mode and synchronous level. */
int
gt_store_durability(struct gt_store *st, char *mode, size_t modelen,
    int *synchronous)
{
	int64_t sync;

	if (st == NULL || mode == NULL || modelen == 0 || synchronous == NULL)
		return GT_STORE_ERR;
	if (store_query_text(st, "PRAGMA journal_mode", mode, modelen) == -1 ||
	    store_query_int(st, "PRAGMA synchronous", &sync) == -1)
		return GT_STORE_ERR;
	*synchronous = (int)sync;
	return GT_STORE_OK;
}

/* How long a call waits for a lock another process holds (ms). */
void
gt_store_set_busy_timeout(struct gt_store *st, int ms)
{
	if (st != NULL && st->st_db != NULL)
		sqlite3_busy_timeout(st->st_db, ms > 0 ? ms : 0);
}

/* A 64-bit figure as SQLite's signed integer, saturated (never negative). */
static sqlite3_int64
store_u64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

/* A stored figure back; a negative one (a foreign writer) reads as 0. */
static uint64_t
store_col_u64(sqlite3_stmt *stmt, int col)
{
	sqlite3_int64 v = sqlite3_column_int64(stmt, col);

	return v < 0 ? 0 : (uint64_t)v;
}

/*
 * Write n records in one committed transaction. A record whose (port,
 * recorded_at) exists already is added to it (peak_sessions takes the
 * larger): two counters of one port in the same interval (a mapping
 * removed and created again) and a retried interval merge, never replace.
 */
int
gt_store_history_add(struct gt_store *st, const struct gt_traffic_record *r,
    size_t n)
{
	sqlite3_stmt	*stmt = NULL;
	size_t		 i;

	if (st == NULL || (r == NULL && n > 0))
		return GT_STORE_ERR;
	st->st_busy = 0;
	if (n == 0)
		return GT_STORE_OK;
	if (store_exec(st, "BEGIN IMMEDIATE") == -1)
		return store_failed(st);
	if (sqlite3_prepare_v2(st->st_db, "INSERT INTO traffic_history (port,"
	    " recorded_at, bytes_in, bytes_out, sessions, refused, peak_sessions)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (port, recorded_at) DO"
	    " UPDATE SET bytes_in = bytes_in + excluded.bytes_in,"
	    " bytes_out = bytes_out + excluded.bytes_out,"
	    " sessions = sessions + excluded.sessions,"
	    " refused = refused + excluded.refused,"
	    " peak_sessions = max(peak_sessions, excluded.peak_sessions)", -1,
	    &stmt, NULL) != SQLITE_OK) {
		store_dberr(st, "history insert");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if (r[i].port == 0) {
			store_seterr(st, "history record of port 0");
			goto fail;
		}
		if (sqlite3_reset(stmt) != SQLITE_OK ||
		    sqlite3_bind_int(stmt, 1, r[i].port) != SQLITE_OK ||
		    sqlite3_bind_int64(stmt, 2, (sqlite3_int64)r[i].recorded_at) !=
		    SQLITE_OK ||
		    sqlite3_bind_int64(stmt, 3, store_u64(r[i].bytes_in)) !=
		    SQLITE_OK ||
		    sqlite3_bind_int64(stmt, 4, store_u64(r[i].bytes_out)) !=
		    SQLITE_OK ||
		    sqlite3_bind_int64(stmt, 5, store_u64(r[i].sessions)) !=
		    SQLITE_OK ||
		    sqlite3_bind_int64(stmt, 6, store_u64(r[i].refused)) !=
		    SQLITE_OK ||
		    sqlite3_bind_int64(stmt, 7, store_u64(r[i].peak_sessions)) !=
		    SQLITE_OK) {
			store_dberr(st, "history insert");
			goto fail;
		}
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			store_dberr(st, "history insert");
			goto fail;
		}
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (store_exec(st, "COMMIT") == -1)
		goto fail;
	return GT_STORE_OK;
 fail:
	if (stmt != NULL)
		sqlite3_finalize(stmt);
	store_rollback(st);
	return store_failed(st);
}

/* The current row of a history SELECT (port, recorded_at, figures) into r. */
static void
store_history_row(sqlite3_stmt *stmt, struct gt_traffic_record *r)
{
	sqlite3_int64 port = sqlite3_column_int64(stmt, 0);

	memset(r, 0, sizeof(*r));
	r->port = port >= 1 && port <= 65535 ? (uint16_t)port : 0;
	r->recorded_at = (time_t)sqlite3_column_int64(stmt, 1);
	r->bytes_in = store_col_u64(stmt, 2);
	r->bytes_out = store_col_u64(stmt, 3);
	r->sessions = store_col_u64(stmt, 4);
	r->refused = store_col_u64(stmt, 5);
	r->peak_sessions = store_col_u64(stmt, 6);
}

/*
 * The records of q, newest first (port ascending within one time), at most
 * q->limit of them (capped at GT_STORE_HISTORY_MAX).
 */
int
gt_store_history(struct gt_store *st, const struct gt_history_query *q,
    struct gt_traffic_record **out, size_t *n)
{
	sqlite3_stmt		*stmt;
	struct gt_traffic_record *v = NULL;
	size_t			 cnt = 0, limit;
	int			 rc = SQLITE_DONE;

	if (out != NULL)
		*out = NULL;
	if (n != NULL)
		*n = 0;
	if (st == NULL || q == NULL || out == NULL || n == NULL)
		return GT_STORE_ERR;
	st->st_busy = 0;
	limit = q->limit;
	if (limit == 0 || limit > GT_STORE_HISTORY_MAX)
		limit = GT_STORE_HISTORY_MAX;
	if (sqlite3_prepare_v2(st->st_db, "SELECT port, recorded_at, bytes_in,"
	    " bytes_out, sessions, refused, peak_sessions FROM traffic_history"
	    " WHERE (?1 = 0 OR port = ?1) AND recorded_at >= ?2 AND"
	    " recorded_at <= ?3 ORDER BY recorded_at DESC, port ASC LIMIT ?4",
	    -1, &stmt, NULL) != SQLITE_OK) {
		store_dberr(st, "history");
		return store_failed(st);
	}
	if (sqlite3_bind_int(stmt, 1, q->port) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 2, q->from) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 3, q->to) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 4, (sqlite3_int64)limit) != SQLITE_OK) {
		store_dberr(st, "history");
		goto fail;
	}
	if ((v = calloc(limit, sizeof(*v))) == NULL) {
		store_seterr(st, "history: out of memory");
		goto fail;
	}
	while (cnt < limit && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
		store_history_row(stmt, &v[cnt++]);
	if (cnt < limit && rc != SQLITE_DONE) {
		store_dberr(st, "history");
		goto fail;
	}
	sqlite3_finalize(stmt);
	*out = v;
	*n = cnt;
	return GT_STORE_OK;
 fail:
	sqlite3_finalize(stmt);
	free(v);
	return store_failed(st);
}

/*
 * Sum of port's records at or after since into *sum (recorded_at: the
 * newest; peak_sessions: the largest). Zeros when there are none.
 */
int
gt_store_history_sum(struct gt_store *st, uint16_t port, time_t since,
    struct gt_traffic_record *sum)
{
	sqlite3_stmt *stmt;

	if (st == NULL || sum == NULL)
		return GT_STORE_ERR;
	st->st_busy = 0;
	memset(sum, 0, sizeof(*sum));
	if (sqlite3_prepare_v2(st->st_db, "SELECT ?1, ifnull(max(recorded_at), 0),"
	    " ifnull(sum(bytes_in), 0), ifnull(sum(bytes_out), 0),"
	    " ifnull(sum(sessions), 0), ifnull(sum(refused), 0),"
	    " ifnull(max(peak_sessions), 0) FROM traffic_history"
	    " WHERE port = ?1 AND recorded_at >= ?2", -1, &stmt, NULL) !=
	    SQLITE_OK) {
		store_dberr(st, "history sum");
		return store_failed(st);
	}
	if (sqlite3_bind_int(stmt, 1, port) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 2, (sqlite3_int64)since) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		/* sum() past INT64_MAX is an "integer overflow" error here. */
		store_dberr(st, "history sum");
		sqlite3_finalize(stmt);
		return store_failed(st);
	}
	store_history_row(stmt, sum);
	sqlite3_finalize(stmt);
	return GT_STORE_OK;
}

/*
 * Delete at most max records older than before (recorded_at < before), in
 * one short committed transaction; *deleted says how many went. The caller
 * comes back for the rest, so that no call holds the loop for long.
 */
int
gt_store_history_prune(struct gt_store *st, time_t before, size_t max,
    size_t *deleted)
{
	sqlite3_stmt *stmt = NULL;

	if (deleted != NULL)
		*deleted = 0;
	if (st == NULL || max == 0)
		return GT_STORE_ERR;
	st->st_busy = 0;
	if (store_exec(st, "BEGIN IMMEDIATE") == -1)
		return store_failed(st);
	if (sqlite3_prepare_v2(st->st_db, "DELETE FROM traffic_history WHERE"
	    " rowid IN (SELECT rowid FROM traffic_history WHERE recorded_at < ?"
	    " ORDER BY recorded_at LIMIT ?)", -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 1, (sqlite3_int64)before) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 2, (sqlite3_int64)store_u64(max)) !=
	    SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE) {
		store_dberr(st, "history prune");
		goto fail;
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (deleted != NULL)
		*deleted = (size_t)sqlite3_changes(st->st_db);
	if (store_exec(st, "COMMIT") == -1)
		goto fail;
	return GT_STORE_OK;
 fail:
	if (stmt != NULL)
		sqlite3_finalize(stmt);
	store_rollback(st);
	if (deleted != NULL)
		*deleted = 0;
	return store_failed(st);
}

/*
 * The records of the newest recorded_at (one per port that had a mapping
 * then: at most 65535, the key says so), by port; *out malloc'ed.
 */
int
gt_store_history_latest(struct gt_store *st, struct gt_traffic_record **out,
    size_t *n)
{
	sqlite3_stmt		*stmt;
	struct gt_traffic_record *v = NULL, *nv;
	size_t			 cnt = 0, cap = 0;
	int			 rc;

	if (out != NULL)
		*out = NULL;
	if (n != NULL)
		*n = 0;
	if (st == NULL || out == NULL || n == NULL)
		return GT_STORE_ERR;
	st->st_busy = 0;
	if (sqlite3_prepare_v2(st->st_db, "SELECT port, recorded_at, bytes_in,"
	    " bytes_out, sessions, refused, peak_sessions FROM traffic_history"
	    " WHERE recorded_at = (SELECT max(recorded_at) FROM traffic_history)"
	    " ORDER BY port", -1, &stmt, NULL) != SQLITE_OK) {
		store_dberr(st, "history latest");
		return store_failed(st);
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if (cap > 65536 ||
			    (nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				store_seterr(st, "history latest: out of memory");
				goto fail;
			}
			v = nv;
		}
		store_history_row(stmt, &v[cnt++]);
	}
	if (rc != SQLITE_DONE) {
		store_dberr(st, "history latest");
		goto fail;
	}
	sqlite3_finalize(stmt);
	*out = v;
	*n = cnt;
	return GT_STORE_OK;
 fail:
	sqlite3_finalize(stmt);
	free(v);
	return store_failed(st);
}
