/*
 * recorder.c: traffic history. One libevent timer a record_interval reads
 * every mapping's counters (through the forwarder), turns them into the
 * interval's deltas and writes them to the store in one transaction;
 * another prunes expired records a bounded batch at a time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "gt/counters.h"
#include "gt/fwd.h"
#include "gt/log.h"
#include "gt/recorder.h"
#include "gt/store.h"

#define REC_COMP	"stats"
#define REC_DAY		86400

/* One counters the recorder follows: a mapping, or one removed since. */
struct rec_entry {
	struct gt_counters	*re_ctr;	/* a reference of ours */
	uint16_t		 re_port;
	time_t			 re_created;	/* the mapping's created_at */
	int			 re_seen;	/* served at this tick */
	struct gt_recorder_snap	 re_snap;	/* figures at the last tick */
	struct gt_traffic_record re_pend;	/* counted, not yet written */
	unsigned		 re_missed;	/* failed writes merged in re_pend */
};

struct gt_recorder {
	struct event_base	*r_base;
	struct gt_store		*r_store;
	struct gt_fwd		*r_fwd;
	unsigned		 r_interval;	/* seconds */
	unsigned		 r_retention;	/* days */
	struct event		*r_tick;
	struct event		*r_prune;
	struct rec_entry	*r_ents;
	size_t			 r_n, r_cap;
	size_t			 r_sorted;	/* r_ents[0..r_sorted) by re_ctr */
	int			 r_oom;		/* a mapping could not be followed */
	uint64_t		 r_written;
	uint64_t		 r_failed;
};

/* Clamp a difference of counters that only grow; a drop counts from 0. */
static uint64_t
rec_diff(uint64_t now, uint64_t prev)
{
	return now >= prev ? now - prev : now;
}

/* Add a to *acc without wrapping. */
static void
rec_add(uint64_t *acc, uint64_t a)
{
	*acc = UINT64_MAX - *acc < a ? UINT64_MAX : *acc + a;
}

/* Fold what ctr counted since prev into acc; prev becomes now. */
void
gt_recorder_delta(struct gt_recorder_snap *prev, const struct gt_counters *ctr,
    struct gt_traffic_record *acc)
{
	rec_add(&acc->bytes_in, rec_diff(ctr->bytes_in, prev->bytes_in));
	rec_add(&acc->bytes_out, rec_diff(ctr->bytes_out, prev->bytes_out));
	rec_add(&acc->sessions, rec_diff(ctr->total, prev->sessions));
	rec_add(&acc->refused, rec_diff(ctr->refused, prev->refused));
	if (ctr->peak > acc->peak_sessions)
		acc->peak_sessions = ctr->peak;
	prev->bytes_in = ctr->bytes_in;
	prev->bytes_out = ctr->bytes_out;
	prev->sessions = ctr->total;
	prev->refused = ctr->refused;
}

/* qsort/bsearch order of entries: by counters address. */
static int
rec_cmp(const void *a, const void *b)
{
	const struct rec_entry *x = a, *y = b;

	if (x->re_ctr == y->re_ctr)
		return 0;
	return (uintptr_t)x->re_ctr < (uintptr_t)y->re_ctr ? -1 : 1;
}

/* Sort every entry for rec_find (none: r_ents may be NULL). */
static void
rec_sort(struct gt_recorder *r)
{
	if (r->r_n > 0)
		qsort(r->r_ents, r->r_n, sizeof(*r->r_ents), rec_cmp);
	r->r_sorted = r->r_n;
}

/* The entry of ctr among the sorted ones, or NULL. */
static struct rec_entry *
rec_find(struct gt_recorder *r, const struct gt_counters *ctr)
{
	struct rec_entry key;

	memset(&key, 0, sizeof(key));
	key.re_ctr = (struct gt_counters *)(uintptr_t)ctr;
	if (r->r_sorted == 0)
		return NULL;
	return bsearch(&key, r->r_ents, r->r_sorted, sizeof(key), rec_cmp);
}

/* Start following ctr (of mapping m); figures so far count from snap. */
static struct rec_entry *
rec_follow(struct gt_recorder *r, const struct gt_mapping *m,
    struct gt_counters *ctr)
{
	struct rec_entry	*e;
	size_t			 cap;

	if (r->r_n == r->r_cap) {
		cap = r->r_cap == 0 ? 16 : r->r_cap * 2;
		if ((e = reallocarray(r->r_ents, cap, sizeof(*e))) == NULL)
			return NULL;
		r->r_ents = e;
		r->r_cap = cap;
	}
	e = &r->r_ents[r->r_n++];
	memset(e, 0, sizeof(*e));
	e->re_ctr = gt_counters_ref(ctr);
	e->re_port = m->source_port;
	e->re_created = m->created_at;
	e->re_seen = 1;
	return e;
}

/* Seed one served mapping's counters with its stored sums. */
static void
rec_seed_cb(const struct gt_mapping *m, struct gt_counters *ctr, void *arg)
{
	struct gt_recorder	*r = arg;
	struct gt_traffic_record sum;
	struct rec_entry	*e;

	/* Only this mapping's rows: a port mapped before has older ones. */
	if (gt_store_history_sum(r->r_store, m->source_port, m->created_at,
	    &sum) != GT_STORE_OK) {
		log_warnx(REC_COMP, "port %u: traffic history not read (%s); its "
		    "totals start at 0", m->source_port,
		    gt_store_error(r->r_store));
		memset(&sum, 0, sizeof(sum));
	}
	rec_add(&ctr->bytes_in, sum.bytes_in);
	rec_add(&ctr->bytes_out, sum.bytes_out);
	rec_add(&ctr->total, sum.sessions);
	rec_add(&ctr->refused, sum.refused);
	ctr->peak = ctr->active;
	if ((e = rec_follow(r, m, ctr)) == NULL) {
		r->r_oom = 1;
		return;
	}
	e->re_snap.bytes_in = ctr->bytes_in;
	e->re_snap.bytes_out = ctr->bytes_out;
	e->re_snap.sessions = ctr->total;
	e->re_snap.refused = ctr->refused;
}

/* Mark a served mapping seen, following it if it is new. */
static void
rec_scan_cb(const struct gt_mapping *m, struct gt_counters *ctr, void *arg)
{
	struct gt_recorder	*r = arg;
	struct rec_entry	*e;

	if ((e = rec_find(r, ctr)) != NULL) {
		e->re_seen = 1;
		return;
	}
	/* New since the last tick: everything it counted is this interval's. */
	if (rec_follow(r, m, ctr) == NULL)
		r->r_oom = 1;
}

/*
 * A reload serves the same stored mapping (same port, same created_at)
 * with new counters: carry the old ones' totals over, so that the live
 * figures do not fall back to 0. The carried part is in the new entry's
 * snapshot, so it is not recorded twice. first: the entries new this tick.
 */
static void
rec_carry(struct gt_recorder *r, size_t first)
{
	struct rec_entry	*n, *o;
	struct gt_counters	*c;
	size_t			 i, j;

	for (i = first; i < r->r_n; i++) {
		n = &r->r_ents[i];
		for (j = 0; j < first; j++) {
			o = &r->r_ents[j];
			if (o->re_seen || o->re_port != n->re_port ||
			    o->re_created != n->re_created)
				continue;
			c = n->re_ctr;
			rec_add(&c->bytes_in, o->re_ctr->bytes_in);
			rec_add(&c->bytes_out, o->re_ctr->bytes_out);
			rec_add(&c->total, o->re_ctr->total);
			rec_add(&c->refused, o->re_ctr->refused);
			rec_add(&n->re_snap.bytes_in, o->re_ctr->bytes_in);
			rec_add(&n->re_snap.bytes_out, o->re_ctr->bytes_out);
			rec_add(&n->re_snap.sessions, o->re_ctr->total);
			rec_add(&n->re_snap.refused, o->re_ctr->refused);
			/* Only once: the old entry goes with this tick's write. */
			o->re_created = (time_t)-1;
			break;
		}
	}
}

/* Forget entries of removed mappings once nothing of theirs is pending. */
static void
rec_compact(struct gt_recorder *r, int written)
{
	size_t i, o = 0, gone = 0;

	for (i = 0; i < r->r_n; i++)
		if (!r->r_ents[i].re_seen)
			gone++;
	for (i = 0; i < r->r_n; i++) {
		struct rec_entry *e = &r->r_ents[i];

		if (!e->re_seen && (written || gone > GT_RECORDER_GONE_MAX)) {
			if (!written)
				log_errorx(REC_COMP, "port %u: %llu+%llu bytes "
				    "never recorded: the database keeps failing "
				    "and %zu removed mappings wait",
				    e->re_port,
				    (unsigned long long)e->re_pend.bytes_in,
				    (unsigned long long)e->re_pend.bytes_out,
				    gone);
			gt_counters_unref(e->re_ctr);
			gone--;
			continue;
		}
		r->r_ents[o++] = *e;
	}
	r->r_n = o;
	rec_sort(r);
}

/* End an interval: every followed counters' deltas, one transaction. */
int
gt_recorder_tick(struct gt_recorder *r, time_t when)
{
	struct gt_traffic_record *recs;
	struct rec_entry	*e;
	size_t			 i, first;
	int			 rc;

	for (i = 0; i < r->r_n; i++)
		r->r_ents[i].re_seen = 0;
	r->r_oom = 0;
	first = r->r_n;
	gt_fwd_maps_foreach(r->r_fwd, rec_scan_cb, r);
	rec_carry(r, first);
	if (r->r_oom)
		log_warnx(REC_COMP, "out of memory: a new mapping's traffic is "
		    "recorded from the next interval");
	for (i = 0; i < r->r_n; i++) {
		e = &r->r_ents[i];
		gt_recorder_delta(&e->re_snap, e->re_ctr, &e->re_pend);
		/* The next interval's peak starts from what is open now. */
		e->re_ctr->peak = e->re_ctr->active;
		e->re_pend.port = e->re_port;
		e->re_pend.recorded_at = when;
	}
	if ((recs = calloc(r->r_n + 1, sizeof(*recs))) == NULL) {
		rc = GT_STORE_ERR;
		log_warnx(REC_COMP, "out of memory: traffic of this interval "
		    "is merged into the next record");
	} else {
		for (i = 0; i < r->r_n; i++)
			recs[i] = r->r_ents[i].re_pend;
		rc = gt_store_history_add(r->r_store, recs, r->r_n);
		free(recs);
		if (rc != GT_STORE_OK)
			log_warnx(REC_COMP, "traffic history of %zu mappings not "
			    "written: %s; merged into the next record",
			    r->r_n, gt_store_error(r->r_store));
	}
	if (rc != GT_STORE_OK) {
		r->r_failed++;
		for (i = 0; i < r->r_n; i++)
			r->r_ents[i].re_missed++;
		rec_compact(r, 0);
		return -1;
	}
	for (i = 0; i < r->r_n; i++) {
		e = &r->r_ents[i];
		if (e->re_missed > 0)
			log_info(REC_COMP, "port %u: record at %lld holds %u "
			    "intervals (the writes before failed)", e->re_port,
			    (long long)when, e->re_missed + 1);
		memset(&e->re_pend, 0, sizeof(e->re_pend));
		e->re_missed = 0;
	}
	r->r_written += r->r_n;
	rec_compact(r, 1);
	return 0;
}

/* One bounded batch of expired records. */
ssize_t
gt_recorder_prune(struct gt_recorder *r, time_t now)
{
	time_t	 before = now - (time_t)r->r_retention * REC_DAY;
	size_t	 deleted;

	if (gt_store_history_prune(r->r_store, before, GT_RECORDER_PRUNE_BATCH,
	    &deleted) != GT_STORE_OK) {
		log_warnx(REC_COMP, "traffic history not pruned: %s; retrying "
		    "next interval", gt_store_error(r->r_store));
		return -1;
	}
	if (deleted > 0)
		log_debug(REC_COMP, "pruned %zu traffic records older than "
		    "%u days", deleted, r->r_retention);
	return (ssize_t)deleted;
}

/* The prune timer: one batch; another soon while batches come back full. */
static void
rec_prune_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct gt_recorder	*r = arg;
	struct timeval		 tv = { 0, GT_RECORDER_PRUNE_GAP_MS * 1000 };

	(void)fd;
	(void)ev;
	if (gt_recorder_prune(r, time(NULL)) == GT_RECORDER_PRUNE_BATCH)
		evtimer_add(r->r_prune, &tv);
}

/* The interval timer: record, then prune. */
static void
rec_tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct gt_recorder	*r = arg;
	struct timeval		 tv = { 0, 0 };

	(void)fd;
	(void)ev;
	(void)gt_recorder_tick(r, time(NULL));
	/* Its own event, so that a long prune is cut into loop turns. */
	if (!evtimer_pending(r->r_prune, NULL))
		evtimer_add(r->r_prune, &tv);
}

/* Seed the live counters from the store, then start both timers. */
struct gt_recorder *
gt_recorder_new(struct event_base *base, struct gt_store *st,
    struct gt_fwd *fw, unsigned interval_s, unsigned retention_days)
{
	struct gt_recorder	*r;
	struct timeval		 tv;
	size_t			 i;

	if (base == NULL || st == NULL || fw == NULL || interval_s == 0 ||
	    retention_days == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->r_base = base;
	r->r_store = st;
	r->r_fwd = fw;
	r->r_interval = interval_s;
	r->r_retention = retention_days;
	if ((r->r_tick = event_new(base, -1, EV_PERSIST, rec_tick_cb, r)) ==
	    NULL || (r->r_prune = evtimer_new(base, rec_prune_cb, r)) == NULL)
		goto fail;
	gt_fwd_maps_foreach(fw, rec_seed_cb, r);
	if (r->r_oom)
		goto fail;
	rec_sort(r);
	tv.tv_sec = interval_s;
	tv.tv_usec = 0;
	if (evtimer_add(r->r_tick, &tv) == -1)
		goto fail;
	/* Old records go from the start, not only after the first interval. */
	tv.tv_sec = 0;
	if (evtimer_add(r->r_prune, &tv) == -1)
		goto fail;
	return r;
 fail:
	for (i = 0; i < r->r_n; i++)
		gt_counters_unref(r->r_ents[i].re_ctr);
	free(r->r_ents);
	if (r->r_tick != NULL)
		event_free(r->r_tick);
	if (r->r_prune != NULL)
		event_free(r->r_prune);
	free(r);
	errno = ENOMEM;
	return NULL;
}

/* Records written and writes failed so far. */
void
gt_recorder_stats(const struct gt_recorder *r, uint64_t *written,
    uint64_t *failed)
{
	if (written != NULL)
		*written = r != NULL ? r->r_written : 0;
	if (failed != NULL)
		*failed = r != NULL ? r->r_failed : 0;
}

/* Record the interval so far, then let go of everything. */
void
gt_recorder_free(struct gt_recorder *r)
{
	size_t i;

	if (r == NULL)
		return;
	/* The interval so far is history too: a clean stop loses nothing. */
	if (gt_recorder_tick(r, time(NULL)) == -1)
		log_warnx(REC_COMP, "the last partial interval of traffic was "
		    "not recorded");
	for (i = 0; i < r->r_n; i++)
		gt_counters_unref(r->r_ents[i].re_ctr);
	free(r->r_ents);
	event_free(r->r_tick);
	event_free(r->r_prune);
	free(r);
}
