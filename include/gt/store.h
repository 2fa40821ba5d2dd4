/*
 * store.h: the mappings and the traffic history, kept in SQLite (WAL,
 * synchronous=FULL). The store is the only module that speaks SQL. Every
 * write commits before it returns.
 */
#ifndef GT_STORE_H
#define GT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "gt/mapping.h"

struct gt_store;

#define GT_STORE_OK		0
#define GT_STORE_ERR		(-1)	/* database error: gt_store_error() */
#define GT_STORE_EXISTS		(-2)	/* that source_port is mapped already */
#define GT_STORE_NOTFOUND	(-3)
#define GT_STORE_BUSY		(-4)	/* locked by another process: retry later */

/* Open (creating the file, and its folder mode 0700, if missing) and migrate. NULL + err on failure. */
struct gt_store *gt_store_open(const char *path, char *err, size_t errlen);
void	gt_store_close(struct gt_store *);
/*
 * Opening (and migrating) waits up to 5 s for a lock another process
 * holds; every call after this one waits at most ms (the event loop waits
 * with it) and then fails with GT_STORE_BUSY.
 */
void	gt_store_set_busy_timeout(struct gt_store *, int ms);
/*
 * Insert m; on success m->id and m->created_at are set (created_at: m's
 * own when it is > 0, as for an imported mapping, else now).
 */
int	gt_store_add(struct gt_store *, struct gt_mapping *m);
int	gt_store_remove(struct gt_store *, uint16_t source_port);
/*
 * Rewrite the mapping of m->source_port (target, client and SPEC 9's
 * fields; id, use_tunnel and created_at stay). GT_STORE_NOTFOUND if none.
 */
int	gt_store_update(struct gt_store *, const struct gt_mapping *m);
int	gt_store_get(struct gt_store *, uint16_t source_port, struct gt_mapping *out);
/* All mappings by source_port; *out is malloc'ed (caller frees), *n its count. */
int	gt_store_list(struct gt_store *, struct gt_mapping **out, size_t *n);
/* Last error text (borrowed). */
const char *gt_store_error(const struct gt_store *);
/* Schema version this build writes (PRAGMA user_version). */
int	gt_store_schema_version(void);
/* This connection's journal_mode (e.g. "wal") and synchronous (2 = FULL). */
int	gt_store_durability(struct gt_store *, char *mode, size_t modelen,
	    int *synchronous);


/* --- traffic history (SPEC 9; written by the recorder, recorder.h) --- */

#define GT_STORE_HISTORY_MAX	1000	/* records one query returns at most */

/* One mapping port's traffic over one stats.record_interval. */
struct gt_traffic_record {
	uint16_t	port;
	time_t		recorded_at;	/* the interval's end, unix seconds */
	uint64_t	bytes_in;	/* public users -> target */
	uint64_t	bytes_out;	/* target -> public users */
	uint64_t	sessions;	/* sessions opened */
	uint64_t	refused;	/* connections the access rule refused */
	uint64_t	peak_sessions;	/* most sessions open at once */
};

/* Which records gt_store_history returns; from and to are inclusive. */
struct gt_history_query {
	uint16_t	port;		/* 0: every port */
	int64_t		from, to;	/* recorded_at bounds, unix seconds */
	size_t		limit;		/* 1..GT_STORE_HISTORY_MAX */
};

/*
 * Write n records in one committed transaction; a (port, recorded_at) that
 * exists already is merged (figures added, peak_sessions the larger).
 */
int	gt_store_history_add(struct gt_store *, const struct gt_traffic_record *r,
	    size_t n);
/* The records of q, newest first; *out malloc'ed (caller frees), *n its count. */
int	gt_store_history(struct gt_store *, const struct gt_history_query *q,
	    struct gt_traffic_record **out, size_t *n);
/* The records of the newest recorded_at, by port; *out malloc'ed, *n its count. */
int	gt_store_history_latest(struct gt_store *, struct gt_traffic_record **out,
	    size_t *n);
/* Sums of port's records with recorded_at >= since (zeros if none). */
int	gt_store_history_sum(struct gt_store *, uint16_t port, time_t since,
	    struct gt_traffic_record *sum);
/* Delete at most max records with recorded_at < before; *deleted how many. */
int	gt_store_history_prune(struct gt_store *, time_t before, size_t max,
	    size_t *deleted);

#endif
