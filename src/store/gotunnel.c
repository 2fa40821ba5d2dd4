/*
 * gotunnel.c: read go-tunnel's mappings.db without touching it. The file
 * is the operator's only copy of go-tunnel's state, so it is opened
 * read-only with query_only on; SQLite then writes nothing (no journal,
 * no WAL switch, no schema change), and a go-tunnel still running on it
 * keeps its own locks.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "gt/gotunnel.h"

#define GOTUNNEL_ERRLEN		256
#define GOTUNNEL_BUSY_MS	5000	/* a go-tunnel writing may hold the lock */
#define GOTUNNEL_VALUE_MAX	(1024 * 1024)	/* bytes of one value read */

struct gt_gotunnel {
	sqlite3		*gt_db;
	sqlite3_stmt	*gt_rows;
	int		 gt_have[GT_GOTUNNEL_NCOLS];
	const char	*gt_name[GT_GOTUNNEL_NCOLS];
	char		 gt_cols[160];
	char		 gt_err[GOTUNNEL_ERRLEN];
};

/* go-tunnel's names of the columns, in enum order (target_ip: see open). */
static const char *const gotunnel_names[GT_GOTUNNEL_NCOLS] = {
	"source_port", "target_host", "target_port", "use_tunnel",
	"bandwidth_limit", "access_rule", "access_ips", "created_at",
};

/* Record the last error, printf style. */
static void __attribute__((format(printf, 2, 3)))
gotunnel_seterr(struct gt_gotunnel *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->gt_err, sizeof(g->gt_err), fmt, ap);
	va_end(ap);
}

/* Run one statement that returns no rows. */
static int
gotunnel_exec(struct gt_gotunnel *g, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(g->gt_db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		gotunnel_seterr(g, "%s", msg != NULL ? msg :
		    sqlite3_errmsg(g->gt_db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * Which columns mappings has. -1 with the reason when the file is not
 * SQLite, has no mappings table, or is a gt store.
 */
static int
gotunnel_schema(struct gt_gotunnel *g, const char *path)
{
	sqlite3_stmt	*st;
	const char	*name;
	int		 rc, i, ncols = 0, target_ip = 0, client = 0;

	if (sqlite3_prepare_v2(g->gt_db, "SELECT 1 FROM sqlite_master WHERE "
	    "type = 'table' AND name = 'mappings'", -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = sqlite3_errcode(g->gt_db);
		gotunnel_seterr(g, "%s: %s", path, rc == SQLITE_NOTADB ?
		    "not a go-tunnel database (not an SQLite file)" :
		    sqlite3_errmsg(g->gt_db));
		return -1;
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE) {
		gotunnel_seterr(g, "%s: not a go-tunnel database (no mappings "
		    "table)", path);
		return -1;
	}
	if (rc != SQLITE_ROW) {
		rc = sqlite3_errcode(g->gt_db);
		gotunnel_seterr(g, "%s: %s", path, rc == SQLITE_NOTADB ?
		    "not a go-tunnel database (not an SQLite file)" :
		    sqlite3_errmsg(g->gt_db));
		return -1;
	}
	if (sqlite3_prepare_v2(g->gt_db, "PRAGMA table_info(mappings)", -1,
	    &st, NULL) != SQLITE_OK) {
		rc = sqlite3_errcode(g->gt_db);
		if (rc == SQLITE_NOTADB)
			gotunnel_seterr(g, "%s: not a go-tunnel database (not "
			    "an SQLite file)", path);
		else
			gotunnel_seterr(g, "%s: cannot read: %s", path,
			    sqlite3_errmsg(g->gt_db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ncols++;
		if ((name = (const char *)sqlite3_column_text(st, 1)) == NULL)
			continue;
		for (i = 0; i < GT_GOTUNNEL_NCOLS; i++)
			if (strcmp(name, gotunnel_names[i]) == 0)
				g->gt_have[i] = 1;
		if (strcmp(name, "target_ip") == 0)
			target_ip = 1;
		if (strcmp(name, "client") == 0)
			client = 1;
	}
	if (rc != SQLITE_DONE) {
		rc = sqlite3_errcode(g->gt_db);
		gotunnel_seterr(g, "%s: %s", path, rc == SQLITE_NOTADB ?
		    "not a go-tunnel database (not an SQLite file)" :
		    sqlite3_errmsg(g->gt_db));
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	if (ncols == 0) {
		gotunnel_seterr(g, "%s: not a go-tunnel database (no mappings "
		    "table)", path);
		return -1;
	}
	/* gt's own store has a client column and no target_ip, ever. */
	if (client) {
		gotunnel_seterr(g, "%s: this is a gt store, not a go-tunnel "
		    "database", path);
		return -1;
	}
	/* Before target_host, go-tunnel called the column target_ip. */
	if (!g->gt_have[GT_GOTUNNEL_TARGET_HOST] && target_ip) {
		g->gt_have[GT_GOTUNNEL_TARGET_HOST] = 1;
		g->gt_name[GT_GOTUNNEL_TARGET_HOST] = "target_ip";
	}
	for (i = 0; i <= GT_GOTUNNEL_TARGET_PORT; i++) {
		if (!g->gt_have[i]) {
			gotunnel_seterr(g, "%s: not a go-tunnel database "
			    "(mappings has no %s column)", path,
			    i == GT_GOTUNNEL_TARGET_HOST ?
			    "target_host or target_ip" : gotunnel_names[i]);
			return -1;
		}
	}
	return 0;
}

/* The SELECT of the columns the file has, NULL for the others. */
static int
gotunnel_prepare(struct gt_gotunnel *g)
{
	char	sql[512], *p = sql;
	size_t	left = sizeof(sql);
	int	i, n;

	n = snprintf(p, left, "SELECT rowid");
	p += n;
	left -= (size_t)n;
	for (i = 0; i < GT_GOTUNNEL_NCOLS; i++) {
		/* Our own fixed names: nothing from the file enters the SQL. */
		n = snprintf(p, left, ", %s", g->gt_have[i] ? g->gt_name[i] :
		    "NULL");
		if (n < 0 || (size_t)n >= left)
			return -1;
		p += n;
		left -= (size_t)n;
	}
	n = snprintf(p, left, " FROM mappings ORDER BY rowid");
	if (n < 0 || (size_t)n >= left)
		return -1;
	if (sqlite3_prepare_v2(g->gt_db, sql, -1, &g->gt_rows, NULL) !=
	    SQLITE_OK) {
		gotunnel_seterr(g, "cannot read mappings: %s",
		    sqlite3_errmsg(g->gt_db));
		return -1;
	}
	return 0;
}

struct gt_gotunnel *
gt_gotunnel_open(const char *path, char *err, size_t errlen)
{
	struct gt_gotunnel	*g;
	struct stat		 sb;
	size_t			 len;
	int			 i;

	if (err == NULL)
		errlen = 0;
	/* SQLite would say only "unable to open database file". */
	if (stat(path, &sb) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return NULL;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	for (i = 0; i < GT_GOTUNNEL_NCOLS; i++)
		g->gt_name[i] = gotunnel_names[i];
	if (sqlite3_open_v2(path, &g->gt_db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    g->gt_db != NULL ? sqlite3_errmsg(g->gt_db) :
		    "out of memory");
		gt_gotunnel_close(g);
		return NULL;
	}
	sqlite3_extended_result_codes(g->gt_db, 0);
	sqlite3_busy_timeout(g->gt_db, GOTUNNEL_BUSY_MS);
	/*
	 * The file is input like any other: SQLite's advice for databases
	 * from elsewhere (no functions run from its schema, no writes to it
	 * through any pragma, bounded values, pages checked as read).
	 */
	sqlite3_db_config(g->gt_db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(g->gt_db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_limit(g->gt_db, SQLITE_LIMIT_LENGTH, GOTUNNEL_VALUE_MAX);
	if (gotunnel_exec(g, "PRAGMA query_only = 1") == -1 ||
	    gotunnel_exec(g, "PRAGMA cell_size_check = 1") == -1 ||
	    gotunnel_schema(g, path) == -1)
		goto fail;
	/* One snapshot: a go-tunnel still writing cannot tear the list. */
	if (gotunnel_exec(g, "BEGIN") == -1 || gotunnel_prepare(g) == -1)
		goto fail;
	for (i = 0; i < GT_GOTUNNEL_NCOLS; i++) {
		if (!g->gt_have[i])
			continue;
		len = strlen(g->gt_cols);
		snprintf(g->gt_cols + len, sizeof(g->gt_cols) - len, "%s%s",
		    len > 0 ? ", " : "", g->gt_name[i]);
	}
	return g;
 fail:
	snprintf(err, errlen, "%s", g->gt_err);
	gt_gotunnel_close(g);
	return NULL;
}

const char *
gt_gotunnel_columns(const struct gt_gotunnel *g)
{
	return g->gt_cols;
}

const char *
gt_gotunnel_colname(const struct gt_gotunnel *g, enum gt_gotunnel_col c)
{
	return c < GT_GOTUNNEL_NCOLS ? g->gt_name[c] : "?";
}

int
gt_gotunnel_next(struct gt_gotunnel *g, struct gt_gotunnel_row *row)
{
	struct gt_gotunnel_value	*v;
	int				 rc, i;

	memset(row, 0, sizeof(*row));
	rc = sqlite3_step(g->gt_rows);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW) {
		gotunnel_seterr(g, "reading mappings: %s",
		    sqlite3_errmsg(g->gt_db));
		return -1;
	}
	row->id = sqlite3_column_int64(g->gt_rows, 0);
	for (i = 0; i < GT_GOTUNNEL_NCOLS; i++) {
		v = &row->v[i];
		if (!g->gt_have[i]) {
			v->type = GT_GOTUNNEL_ABSENT;
			continue;
		}
		switch (sqlite3_column_type(g->gt_rows, i + 1)) {
		case SQLITE_INTEGER:
			v->type = GT_GOTUNNEL_INT;
			v->i = sqlite3_column_int64(g->gt_rows, i + 1);
			break;
		case SQLITE_FLOAT:
			v->type = GT_GOTUNNEL_REAL;
			v->r = sqlite3_column_double(g->gt_rows, i + 1);
			break;
		case SQLITE_TEXT:
			v->type = GT_GOTUNNEL_TEXT;
			v->s = (const char *)sqlite3_column_text(g->gt_rows,
			    i + 1);
			v->len = (size_t)sqlite3_column_bytes(g->gt_rows, i + 1);
			if (v->s == NULL) {
				gotunnel_seterr(g, "out of memory");
				return -1;
			}
			break;
		case SQLITE_BLOB:
			v->type = GT_GOTUNNEL_BLOB;
			v->s = sqlite3_column_blob(g->gt_rows, i + 1);
			v->len = (size_t)sqlite3_column_bytes(g->gt_rows, i + 1);
			break;
		default:
			v->type = GT_GOTUNNEL_NULL;
			break;
		}
	}
	return 1;
}

const char *
gt_gotunnel_error(const struct gt_gotunnel *g)
{
	return g != NULL ? g->gt_err : "no database";
}

void
gt_gotunnel_close(struct gt_gotunnel *g)
{
	if (g == NULL)
		return;
	sqlite3_finalize(g->gt_rows);
	if (g->gt_db != NULL)
		sqlite3_close(g->gt_db);	/* ends the read transaction */
	free(g);
}
