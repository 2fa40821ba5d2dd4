/*
 * recorder.h: the traffic history recorder (SPEC 9). At the end of every
 * stats.record_interval it reads each mapping's counters from the
 * forwarder and writes one record per mapping (idle ones too) to the store,
 * all in one transaction; a timer prunes records older than
 * stats.retention_days in bounded batches. At start it seeds each served
 * mapping's live counters with the sums of its stored history, so totals
 * survive a restart.
 *
 * The recorder borrows the store and the forwarder (both must outlive
 * it) and holds a reference to every counters it tracks, so that the last
 * figures of a removed mapping are still recorded.
 */
#ifndef GT_RECORDER_H
#define GT_RECORDER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "gt/store.h"

struct event_base;
struct gt_counters;
struct gt_fwd;
struct gt_recorder;

#define GT_RECORDER_PRUNE_BATCH	1000	/* records one prune transaction deletes */
#define GT_RECORDER_PRUNE_GAP_MS 10	/* between batches while more are due */
#define GT_RECORDER_GONE_MAX	4096	/* removed mappings kept while writes fail */

/* The figures of one counters at one time, as the recorder last saw them. */
struct gt_recorder_snap {
	uint64_t	bytes_in, bytes_out, sessions, refused;
};

/*
 * Add what ctr counted since prev to acc (bytes, sessions, refused; the
 * peak the larger of acc's and ctr's) and make prev ctr's figures now. A
 * figure below prev (cannot happen with the forwarder's counters, which
 * only grow) counts from 0. Pure: for the unit tests.
 */
void	gt_recorder_delta(struct gt_recorder_snap *prev,
	    const struct gt_counters *ctr, struct gt_traffic_record *acc);

/*
 * Seed the live counters from the store, then record every interval_s
 * seconds and prune records older than retention_days. NULL on ENOMEM or
 * a bad argument.
 */
struct gt_recorder *gt_recorder_new(struct event_base *, struct gt_store *,
	    struct gt_fwd *, unsigned interval_s, unsigned retention_days);
/*
 * Record the interval so far now (recorded_at = when), as the timer does.
 * 0, or -1 if the write failed: the figures stay pending and are merged
 * into the next record, with a warning in the log.
 */
int	gt_recorder_tick(struct gt_recorder *, time_t when);
/* One prune batch now; how many records went, -1 on a database error. */
ssize_t	gt_recorder_prune(struct gt_recorder *, time_t now);
/* Records written and failed writes so far (for metrics and tests). */
void	gt_recorder_stats(const struct gt_recorder *, uint64_t *written,
	    uint64_t *failed);
/* Record the last partial interval, then free. NULL ok. */
void	gt_recorder_free(struct gt_recorder *);

#endif
