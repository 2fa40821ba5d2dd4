/*
 * gotunnel.h: go-tunnel's mappings.db, read only (gt-server
 * -import-gotunnel). Part of the store module, the only one that speaks
 * SQL. The file is opened SQLITE_OPEN_READONLY with query_only set and
 * read in one read transaction; nothing in it or beside it is written.
 *
 * go-tunnel's schema grew over its releases (src/server/db/database.go):
 * the first had target_ip and no use_tunnel; use_tunnel came next;
 * target_ip was then renamed target_host, and bandwidth_limit,
 * access_rule and access_ips were added. Each row comes back as the raw
 * SQLite values of the columns the file has; a column it lacks is
 * GT_GOTUNNEL_ABSENT, and what the values mean is the caller's to judge.
 */
#ifndef GT_GOTUNNEL_H
#define GT_GOTUNNEL_H

#include <stddef.h>
#include <stdint.h>

struct gt_gotunnel;

enum gt_gotunnel_type {
	GT_GOTUNNEL_ABSENT = 0,	/* the file's schema has no such column */
	GT_GOTUNNEL_NULL,
	GT_GOTUNNEL_INT,
	GT_GOTUNNEL_REAL,
	GT_GOTUNNEL_TEXT,
	GT_GOTUNNEL_BLOB,
};

/* The columns read, in this order. */
enum gt_gotunnel_col {
	GT_GOTUNNEL_SOURCE_PORT = 0,
	GT_GOTUNNEL_TARGET_HOST,	/* target_host, or the older target_ip */
	GT_GOTUNNEL_TARGET_PORT,
	GT_GOTUNNEL_USE_TUNNEL,
	GT_GOTUNNEL_BANDWIDTH_LIMIT,
	GT_GOTUNNEL_ACCESS_RULE,
	GT_GOTUNNEL_ACCESS_IPS,
	GT_GOTUNNEL_CREATED_AT,
	GT_GOTUNNEL_NCOLS
};

struct gt_gotunnel_value {
	enum gt_gotunnel_type	 type;
	int64_t			 i;	/* INT */
	double			 r;	/* REAL */
	const char		*s;	/* TEXT or BLOB bytes; borrowed until the next row */
	size_t			 len;	/* of s */
};

struct gt_gotunnel_row {
	int64_t			 id;	/* go-tunnel's row id */
	struct gt_gotunnel_value v[GT_GOTUNNEL_NCOLS];
};

/*
 * Open path read-only and check it is go-tunnel's: a mappings table with
 * source_port, target_port and target_host (or target_ip), and not a gt
 * store. NULL with one line in err otherwise (missing file, not SQLite,
 * not go-tunnel's schema).
 */
struct gt_gotunnel *gt_gotunnel_open(const char *path, char *err, size_t errlen);
/* The columns read that the file has, as it names them, e.g. "source_port, target_ip, target_port" (borrowed). */
const char *gt_gotunnel_columns(const struct gt_gotunnel *);
/* Name of a column as go-tunnel spells it in this file (borrowed). */
const char *gt_gotunnel_colname(const struct gt_gotunnel *, enum gt_gotunnel_col);
/* The next row, by go-tunnel's id: 1 with *row, 0 at the end, -1 on error. */
int	gt_gotunnel_next(struct gt_gotunnel *, struct gt_gotunnel_row *row);
/* Last error text (borrowed). */
const char *gt_gotunnel_error(const struct gt_gotunnel *);
/* Close; NULL is fine. */
void	gt_gotunnel_close(struct gt_gotunnel *);

#endif
