/*
 * rate.h: a token bucket that paces the bytes one direction of a mapping
 * may move, shared by all the mapping's sessions (SPEC 9 bandwidth_limit).
 *
 * A caller (an endpoint's read or write pass, a relay's splice) asks
 * gt_rate_take() how much it may move now, moves at most that, and gives
 * back what it did not use with gt_rate_settle(). When the bucket is empty
 * the caller's waiter is queued and the caller stops: it must not touch
 * its socket until the waiter's callback runs. Waiters are woken in turn,
 * one quantum each (round-robin), so sessions that all want more get equal
 * shares, and one that wants less leaves the rest to the others. While
 * anybody waits, a caller that is not being woken queues behind them
 * instead of taking what has refilled; out of turn, a caller also queues
 * unless the bucket holds a quantum or all it asks (no syscall per few
 * bytes refilled).
 *
 * Refill: limit bytes per second, at most a burst in the bucket:
 * burst = min(limit, max(64 KiB, limit / 50)) (20 ms at high rates, so a
 * 1 ms timer granularity still reaches the limit), quantum per wake =
 * min(burst, max(1 KiB, limit / 100)) (about 100 wakes a second).
 * limit 0: no limit, take() gives all that is asked.
 *
 * Ownership: reference counted; the mapping holds one reference and every
 * endpoint or relay that is limited by it holds one, so a session outlives
 * its mapping's removal safely. A waiter is embedded in its caller, which
 * cancels it before it goes.
 */
#ifndef GT_RATE_H
#define GT_RATE_H

#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct gt_rate;
struct gt_rate_waiter;

/* 10 GiB/s: the highest limit (keeps the refill arithmetic in 64 bits). */
#define GT_RATE_MAX	(10ull * 1024 * 1024 * 1024)

/* Called from the bucket's timer when the waiter's turn comes. */
typedef void gt_rate_wake_cb(struct gt_rate_waiter *, void *arg);

struct gt_rate_waiter {
	TAILQ_ENTRY(gt_rate_waiter) w_entry;
	struct gt_rate		*w_rate;	/* set while queued */
	uint64_t		 w_since;	/* ns, when queued */
	gt_rate_wake_cb		*w_cb;
	void			*w_arg;
};

/* A bucket of limit bytes/s (0: none, clamped to GT_RATE_MAX), full. NULL on ENOMEM. */
struct gt_rate *gt_rate_new(struct event_base *, uint64_t limit);
struct gt_rate *gt_rate_ref(struct gt_rate *);
/* Drop a reference; NULL is fine. */
void	gt_rate_unref(struct gt_rate *);
/*
 * A new limit, applied at once to everyone (0 wakes every waiter, who then
 * take without limit; a lower one clamps what the bucket holds).
 */
void	gt_rate_set(struct gt_rate *, uint64_t limit);
uint64_t gt_rate_limit(const struct gt_rate *);

void	gt_rate_waiter_init(struct gt_rate_waiter *, gt_rate_wake_cb *, void *arg);
/*
 * Bytes the caller of w may move now, at most want, taken from the bucket;
 * 0 means w is queued (the callback will say when to try again).
 */
size_t	gt_rate_take(struct gt_rate *, struct gt_rate_waiter *w, size_t want);
/* After a take of granted bytes, used were moved: the rest goes back (or more is owed). */
void	gt_rate_settle(struct gt_rate *, size_t granted, size_t used);
/* Leave the queue (no callback will come). Fine when not queued. */
void	gt_rate_cancel(struct gt_rate_waiter *);
/* Waiters queued now. */
size_t	gt_rate_waiting(const struct gt_rate *);

/* Throttle events (a caller had to wait) and the time waiters waited, summed. */
uint64_t gt_rate_throttled(const struct gt_rate *);
uint64_t gt_rate_waited_ns(const struct gt_rate *);

/* Tests: the clock in ns (default CLOCK_MONOTONIC), and one timer run now. */
void	gt_rate_set_clock(struct gt_rate *, uint64_t (*now)(void *), void *arg);
void	gt_rate_run(struct gt_rate *);
/* Bytes the bucket holds now (negative: owed), and its burst and quantum. */
int64_t	gt_rate_tokens(struct gt_rate *);
size_t	gt_rate_burst(const struct gt_rate *);
size_t	gt_rate_quantum(const struct gt_rate *);

#endif
