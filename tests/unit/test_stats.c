/*
 * test_stats.c: the traffic history recorder: its interval arithmetic,
 * one record per mapping per tick (idle ones too), seeding the live
 * counters from the store, a removed mapping's last figures, a failed
 * write merged into the next record, and pruning.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <sqlite3.h>

#include "gt/counters.h"
#include "gt/fwd.h"
#include "gt/recorder.h"
#include "gt/store.h"

#define DAY	86400

struct fix {
	char			 dir[64];
	char			 db[128];
	struct event_base	*base;
	struct gt_store		*st;
	struct gt_fwd		*fw;
};

/* A temp store, a loop and a forwarder with no mapping. */
static int
setup(void **state)
{
	struct fix	*f;
	char		 err[256];

	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/gt_stats_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/m.db", f->dir);
	assert_non_null(f->base = event_base_new());
	f->st = gt_store_open(f->db, err, sizeof(err));
	if (f->st == NULL)
		fail_msg("%s", err);
	assert_non_null(f->fw = gt_fwd_new(f->base, NULL, NULL, "127.0.0.1"));
	/* a failed bind is retried: keep that out of the test's way */
	gt_fwd_set_retry_interval(f->fw, 3600 * 1000);
	*state = f;
	return 0;
}

/* Free all and remove the files. */
static int
teardown(void **state)
{
	struct fix	*f = *state;
	char		 p[160];

	gt_fwd_free(f->fw);
	gt_store_close(f->st);
	event_base_free(f->base);
	snprintf(p, sizeof(p), "%s-wal", f->db);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->db);
	unlink(p);
	unlink(f->db);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Serve a direct mapping of port (bound or kept failed, either is fine). */
static struct gt_counters *
serve(struct fix *f, uint16_t port, time_t created)
{
	struct gt_mapping m;

	memset(&m, 0, sizeof(m));
	m.source_port = port;
	snprintf(m.target_host, sizeof(m.target_host), "127.0.0.1");
	m.target_port = 9;
	m.created_at = created;
	assert_true(gt_fwd_restore(f->fw, &m) >= 0);
	/* the forwarder's own counters, which the sessions would move */
	return (struct gt_counters *)(uintptr_t)gt_fwd_counters(f->fw, port);
}

/* Sessions, bytes and refusals as the forwarder would count them. */
static void
traffic(struct gt_counters *c, unsigned open, unsigned close, uint64_t in,
    uint64_t out, uint64_t refused)
{
	unsigned i;

	for (i = 0; i < open; i++)
		gt_counters_begin(c);
	c->bytes_in += in;
	c->bytes_out += out;
	c->refused += refused;
	for (i = 0; i < close; i++)
		gt_counters_end(c);
}

/* The one record of port at t. */
static struct gt_traffic_record
at(struct fix *f, uint16_t port, time_t t)
{
	struct gt_history_query	 q;
	struct gt_traffic_record *out = NULL, r;
	size_t			 n;

	memset(&q, 0, sizeof(q));
	q.port = port;
	q.from = q.to = t;
	q.limit = 10;
	assert_int_equal(gt_store_history(f->st, &q, &out, &n), GT_STORE_OK);
	if (n != 1)
		fail_msg("port %u at %lld: %zu records", port, (long long)t, n);
	r = out[0];
	free(out);
	return r;
}

/* Deltas between snapshots; the peak is the larger; a drop counts from 0. */
static void
test_delta(void **state)
{
	struct gt_counters	 c;
	struct gt_recorder_snap	 s;
	struct gt_traffic_record acc;

	(void)state;
	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	memset(&acc, 0, sizeof(acc));
	c.bytes_in = 100;
	c.bytes_out = 250;
	c.total = 3;
	c.refused = 1;
	c.peak = 2;
	gt_recorder_delta(&s, &c, &acc);
	assert_int_equal(acc.bytes_in, 100);
	assert_int_equal(acc.bytes_out, 250);
	assert_int_equal(acc.sessions, 3);
	assert_int_equal(acc.refused, 1);
	assert_int_equal(acc.peak_sessions, 2);
	assert_int_equal(s.bytes_in, 100);
	/* a second interval folded into the same record (a failed write) */
	c.bytes_in = 130;
	c.bytes_out = 250;
	c.total = 4;
	c.peak = 1;
	gt_recorder_delta(&s, &c, &acc);
	assert_int_equal(acc.bytes_in, 130);
	assert_int_equal(acc.bytes_out, 250);
	assert_int_equal(acc.sessions, 4);
	assert_int_equal(acc.peak_sessions, 2);
	/* counters below the snapshot: from 0, not a wrapped huge number */
	memset(&acc, 0, sizeof(acc));
	c.bytes_in = 5;
	gt_recorder_delta(&s, &c, &acc);
	assert_int_equal(acc.bytes_in, 5);
	/* sums saturate */
	acc.bytes_out = UINT64_MAX - 1;
	c.bytes_out = 500;
	s.bytes_out = 0;
	gt_recorder_delta(&s, &c, &acc);
	assert_true(acc.bytes_out == UINT64_MAX);
}

/* The counters' peak follows the most sessions open at once. */
static void
test_peak(void **state)
{
	struct gt_counters *c = gt_counters_new();

	(void)state;
	assert_non_null(c);
	traffic(c, 3, 2, 0, 0, 0);
	assert_int_equal(c->active, 1);
	assert_int_equal(c->peak, 3);
	traffic(c, 1, 0, 0, 0, 0);
	assert_int_equal(c->peak, 3);
	gt_counters_unref(c);
}

/* Intervals, idle rows, seeding, removal, re-creation on the same port. */
static void
test_ticks(void **state)
{
	struct fix		*f = *state;
	struct gt_recorder	*r;
	struct gt_counters	*a, *b, *b2;
	struct gt_traffic_record rec, seed[2];
	uint64_t		 written, failed;

	/* history of port 21001 before and after its mapping was created */
	memset(seed, 0, sizeof(seed));
	seed[0].port = seed[1].port = 21001;
	seed[0].recorded_at = 50;	/* an older mapping of that port */
	seed[0].bytes_in = 999;
	seed[1].recorded_at = 150;
	seed[1].bytes_in = 1000;
	seed[1].bytes_out = 2000;
	seed[1].sessions = 7;
	seed[1].refused = 2;
	assert_int_equal(gt_store_history_add(f->st, seed, 2), GT_STORE_OK);
	a = serve(f, 21001, 100);
	b = serve(f, 21002, 100);
	traffic(b, 2, 2, 1, 1, 0);	/* before the recorder: not history */
	r = gt_recorder_new(f->base, f->st, f->fw, 60, 7);
	assert_non_null(r);
	/* live totals start from the store, this mapping's rows only */
	assert_int_equal(a->bytes_in, 1000);
	assert_int_equal(a->bytes_out, 2000);
	assert_int_equal(a->total, 7);
	assert_int_equal(a->refused, 2);
	assert_int_equal(b->bytes_in, 1);

	traffic(a, 3, 1, 300, 600, 1);
	traffic(b, 0, 0, 0, 0, 0);
	assert_int_equal(gt_recorder_tick(r, 1000), 0);
	rec = at(f, 21001, 1000);
	assert_int_equal(rec.bytes_in, 300);
	assert_int_equal(rec.bytes_out, 600);
	assert_int_equal(rec.sessions, 3);
	assert_int_equal(rec.refused, 1);
	assert_int_equal(rec.peak_sessions, 3);
	rec = at(f, 21002, 1000);	/* idle: a row of zeros */
	assert_int_equal(rec.bytes_in, 0);
	assert_int_equal(rec.sessions, 0);
	assert_int_equal(rec.peak_sessions, 0);

	/* next interval: the peak starts from the 2 still open */
	traffic(a, 1, 3, 10, 20, 0);
	traffic(b, 1, 0, 5, 5, 0);
	/* b goes mid-interval; its figures so far still count */
	assert_int_equal(gt_fwd_remove(f->fw, 21002), 0);
	b2 = serve(f, 21002, 1500);
	traffic(b2, 1, 1, 7, 8, 0);
	assert_int_equal(gt_recorder_tick(r, 2000), 0);
	rec = at(f, 21001, 2000);
	assert_int_equal(rec.bytes_in, 10);
	assert_int_equal(rec.sessions, 1);
	assert_int_equal(rec.peak_sessions, 3);
	rec = at(f, 21002, 2000);	/* old and new mapping of the port, merged */
	assert_int_equal(rec.bytes_in, 12);
	assert_int_equal(rec.bytes_out, 13);
	assert_int_equal(rec.sessions, 2);
	gt_recorder_stats(r, &written, &failed);
	assert_int_equal(written, 2 + 3);
	assert_int_equal(failed, 0);
	/* freeing records the interval so far */
	traffic(a, 0, 0, 4, 4, 0);
	gt_recorder_free(r);
	assert_int_equal(gt_store_history_sum(f->st, 21001, 100, &rec),
	    GT_STORE_OK);
	assert_int_equal(rec.bytes_in, 1000 + 300 + 10 + 4);
}

/* A reload's new counters carry the old totals on; nothing counts twice. */
static void
test_reload_carry(void **state)
{
	struct fix		*f = *state;
	struct gt_recorder	*r;
	struct gt_counters	*a, *a2;
	struct gt_traffic_record rec;
	struct gt_mapping	 m;

	a = serve(f, 21004, 100);
	r = gt_recorder_new(f->base, f->st, f->fw, 60, 7);
	assert_non_null(r);
	traffic(a, 2, 2, 100, 200, 1);
	assert_int_equal(gt_recorder_tick(r, 1000), 0);
	traffic(a, 1, 1, 10, 20, 0);
	memset(&m, 0, sizeof(m));
	m.source_port = 21004;
	snprintf(m.target_host, sizeof(m.target_host), "127.0.0.1");
	m.target_port = 9;
	m.created_at = 100;		/* the same stored mapping */
	assert_true(gt_fwd_reload(f->fw, &m) >= 0);
	a2 = (struct gt_counters *)(uintptr_t)gt_fwd_counters(f->fw, 21004);
	assert_ptr_not_equal(a, a2);
	traffic(a2, 1, 1, 1, 2, 0);
	assert_int_equal(gt_recorder_tick(r, 1060), 0);
	rec = at(f, 21004, 1060);
	assert_int_equal(rec.bytes_in, 11);
	assert_int_equal(rec.bytes_out, 22);
	assert_int_equal(rec.sessions, 2);
	/* the live totals went on from the old counters */
	assert_int_equal(a2->bytes_in, 111);
	assert_int_equal(a2->bytes_out, 222);
	assert_int_equal(a2->total, 4);
	assert_int_equal(a2->refused, 1);
	traffic(a2, 0, 0, 5, 5, 0);
	assert_int_equal(gt_recorder_tick(r, 1120), 0);
	rec = at(f, 21004, 1120);
	assert_int_equal(rec.bytes_in, 5);
	gt_recorder_free(r);
	assert_int_equal(gt_store_history_sum(f->st, 21004, 100, &rec),
	    GT_STORE_OK);
	assert_int_equal(rec.bytes_in, 116);
}

/* A write that fails (the database locked elsewhere) is merged, not lost. */
static void
test_failed_write(void **state)
{
	struct fix		*f = *state;
	struct gt_recorder	*r;
	struct gt_counters	*a;
	struct gt_traffic_record rec;
	struct gt_history_query	 q;
	struct gt_traffic_record *out = NULL;
	sqlite3			*other;
	uint64_t		 written, failed;
	size_t			 n;

	a = serve(f, 21003, 100);
	r = gt_recorder_new(f->base, f->st, f->fw, 60, 7);
	assert_non_null(r);
	gt_store_set_busy_timeout(f->st, 1);
	assert_int_equal(sqlite3_open(f->db, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
	traffic(a, 2, 1, 100, 200, 1);
	assert_int_equal(gt_recorder_tick(r, 1000), -1);
	traffic(a, 1, 0, 1, 2, 0);
	/* gone while its figures wait: still written once the lock goes */
	assert_int_equal(gt_fwd_remove(f->fw, 21003), 0);
	assert_int_equal(gt_recorder_tick(r, 1060), -1);
	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(gt_recorder_tick(r, 1120), 0);
	rec = at(f, 21003, 1120);
	assert_int_equal(rec.bytes_in, 101);
	assert_int_equal(rec.bytes_out, 202);
	assert_int_equal(rec.sessions, 3);
	assert_int_equal(rec.refused, 1);
	assert_int_equal(rec.peak_sessions, 2);
	gt_recorder_stats(r, &written, &failed);
	assert_int_equal(failed, 2);
	assert_int_equal(written, 1);
	/* and then it is forgotten: no more rows for the port */
	assert_int_equal(gt_recorder_tick(r, 1180), 0);
	memset(&q, 0, sizeof(q));
	q.port = 21003;
	q.to = INT64_MAX;
	q.limit = 10;
	assert_int_equal(gt_store_history(f->st, &q, &out, &n), GT_STORE_OK);
	assert_int_equal(n, 1);
	free(out);
	gt_recorder_free(r);
}

/* Pruning: records older than the retention go, in batches. */
static void
test_prune(void **state)
{
	struct fix		*f = *state;
	struct gt_recorder	*r;
	struct gt_traffic_record *rs;
	time_t			 now = 100 * DAY;
	size_t			 i;
	ssize_t			 got, total = 0;

	rs = calloc(2500, sizeof(*rs));
	assert_non_null(rs);
	for (i = 0; i < 2500; i++) {
		rs[i].port = 30000;
		rs[i].recorded_at = now - 8 * DAY + (time_t)i;
	}
	rs[2499].recorded_at = now - 6 * DAY;
	assert_int_equal(gt_store_history_add(f->st, rs, 2500), GT_STORE_OK);
	free(rs);
	r = gt_recorder_new(f->base, f->st, f->fw, 60, 7);
	assert_non_null(r);
	while ((got = gt_recorder_prune(r, now)) == GT_RECORDER_PRUNE_BATCH)
		total += got;
	assert_true(got >= 0);
	total += got;
	assert_int_equal(total, 2499);
	assert_int_equal(gt_recorder_prune(r, now), 0);
	gt_recorder_free(r);
}

/* Bad arguments are refused. */
static void
test_bad_args(void **state)
{
	struct fix *f = *state;

	assert_null(gt_recorder_new(f->base, f->st, f->fw, 0, 7));
	assert_null(gt_recorder_new(f->base, f->st, f->fw, 60, 0));
	assert_null(gt_recorder_new(f->base, NULL, f->fw, 60, 7));
	gt_recorder_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delta),
		cmocka_unit_test(test_peak),
		cmocka_unit_test_setup_teardown(test_ticks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_carry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_failed_write, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
