/*
 * store.h: the mappings, kept in SQLite (WAL, synchronous=FULL). The store
 * is the only module that speaks SQL. Every write commits before it returns.
 */
#ifndef GT_STORE_H
#define GT_STORE_H

#include <stddef.h>
#include <stdint.h>

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

#endif
