/*
 * rate.c: the token bucket of a mapping's direction (rate.h). Tokens are
 * bytes; they refill at limit bytes a second up to the burst, kept exact
 * with a remainder in byte-nanoseconds. Callers that find the bucket empty
 * (or others already waiting) queue; one libevent timer fires when a
 * quantum has refilled and wakes the queue's head with a grant of at most
 * a quantum, then the next, while tokens last: round-robin, so a session
 * that keeps wanting goes to the back each time and gets its turn again
 * after every other. The woken caller moves its bytes inside the callback
 * (its take() is the one that may use the grant), so nobody can take the
 * turn in between.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "gt/rate.h"

#define RATE_NS		1000000000ull
#define RATE_BURST_MIN	(64 * 1024)	/* a burst is at least this (or the limit) */
#define RATE_BURST_DIV	50		/* ... and 1/50 s at high rates */
#define RATE_QUANTUM_MIN 1024		/* a wake grants at least this ... */
#define RATE_QUANTUM_DIV 100		/* ... and about 1/100 s */
#define RATE_RUN_SLACK	16		/* wakes per run beyond twice the queue */

TAILQ_HEAD(rate_q, gt_rate_waiter);

struct gt_rate {
	unsigned		 r_refcnt;
	struct event		*r_timer;
	int			 r_armed;
	uint64_t		 r_limit;	/* bytes/s, 0: none */
	size_t			 r_burst;
	size_t			 r_quantum;
	int64_t			 r_tokens;	/* may go below 0: owed by an overdraw */
	uint64_t		 r_frac;	/* refill remainder, byte-ns (< 1e9) */
	uint64_t		 r_last;	/* ns of the last refill */
	struct rate_q		 r_q;
	size_t			 r_nwait;
	struct gt_rate_waiter	*r_serving;	/* woken now: its take may use the grant */
	uint64_t		 r_throttled;
	uint64_t		 r_waited;	/* ns */
	uint64_t		(*r_now)(void *);
	void			*r_now_arg;
};

static void	rate_timer_cb(evutil_socket_t, short, void *);

/* The default clock: monotonic nanoseconds. */
static uint64_t
rate_clock(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * RATE_NS + (uint64_t)ts.tv_nsec;
}

/* Burst and quantum follow the limit (rate.h says why these sizes). */
static void
rate_sizes(struct gt_rate *r)
{
	uint64_t b, q;

	b = r->r_limit / RATE_BURST_DIV;
	if (b < RATE_BURST_MIN)
		b = RATE_BURST_MIN;
	if (b > r->r_limit)
		b = r->r_limit;
	q = r->r_limit / RATE_QUANTUM_DIV;
	if (q < RATE_QUANTUM_MIN)
		q = RATE_QUANTUM_MIN;
	if (q > b)
		q = b;
	r->r_burst = (size_t)b;
	r->r_quantum = (size_t)q;
}

/* Add what the time since the last refill earned, up to the burst. */
static void
rate_refill(struct gt_rate *r)
{
	uint64_t now = r->r_now(r->r_now_arg), el, acc;

	if (now <= r->r_last)
		return;
	el = now - r->r_last;
	r->r_last = now;
	if (r->r_limit == 0)
		return;
	if (r->r_tokens >= (int64_t)r->r_burst) {
		r->r_frac = 0;
		return;
	}
	/* A second fills any bucket (burst <= limit); el * limit fits 64 bits. */
	if (el > RATE_NS)
		el = RATE_NS;
	acc = el * r->r_limit + r->r_frac;
	r->r_tokens += (int64_t)(acc / RATE_NS);
	r->r_frac = acc % RATE_NS;
	if (r->r_tokens >= (int64_t)r->r_burst) {
		r->r_tokens = (int64_t)r->r_burst;
		r->r_frac = 0;
	}
}

/* Arm the timer for when a quantum will be there (at once without a limit). */
static void
rate_arm(struct gt_rate *r)
{
	struct timeval	tv;
	uint64_t	need, ns = 0;

	if (r->r_armed || TAILQ_EMPTY(&r->r_q))
		return;
	if (r->r_limit != 0 && r->r_tokens < (int64_t)r->r_quantum) {
		need = (uint64_t)((int64_t)r->r_quantum - r->r_tokens);
		ns = (need * RATE_NS - r->r_frac + r->r_limit - 1) / r->r_limit;
	}
	ns = (ns + 999) / 1000;		/* us, rounded up */
	tv.tv_sec = (time_t)(ns / 1000000);
	tv.tv_usec = (suseconds_t)(ns % 1000000);
	if (evtimer_add(r->r_timer, &tv) == 0)
		r->r_armed = 1;
}

/* Put w at the back of the queue (where it stays if it is there already). */
static void
rate_enqueue(struct gt_rate *r, struct gt_rate_waiter *w)
{
	if (w->w_rate == r)
		return;
	w->w_rate = r;
	w->w_since = r->r_last;
	TAILQ_INSERT_TAIL(&r->r_q, w, w_entry);
	r->r_nwait++;
	r->r_throttled++;
	rate_arm(r);
}

struct gt_rate *
gt_rate_new(struct event_base *base, uint64_t limit)
{
	struct gt_rate *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->r_timer = evtimer_new(base, rate_timer_cb, r)) == NULL) {
		free(r);
		return NULL;
	}
	r->r_refcnt = 1;
	TAILQ_INIT(&r->r_q);
	r->r_now = rate_clock;
	r->r_last = rate_clock(NULL);
	r->r_limit = limit > GT_RATE_MAX ? GT_RATE_MAX : limit;
	rate_sizes(r);
	r->r_tokens = (int64_t)r->r_burst;
	return r;
}

struct gt_rate *
gt_rate_ref(struct gt_rate *r)
{
	if (r != NULL)
		r->r_refcnt++;
	return r;
}

void
gt_rate_unref(struct gt_rate *r)
{
	struct gt_rate_waiter *w;

	if (r == NULL || --r->r_refcnt > 0)
		return;
	/* Waiters hold references: none is left, but be safe. */
	while ((w = TAILQ_FIRST(&r->r_q)) != NULL)
		gt_rate_cancel(w);
	event_free(r->r_timer);
	free(r);
}

void
gt_rate_set(struct gt_rate *r, uint64_t limit)
{
	if (limit > GT_RATE_MAX)
		limit = GT_RATE_MAX;
	rate_refill(r);
	if (limit == r->r_limit)
		return;
	if (r->r_limit == 0) {
		/* From unlimited: start full, as a new bucket does. */
		r->r_limit = limit;
		rate_sizes(r);
		r->r_tokens = (int64_t)r->r_burst;
	} else {
		r->r_limit = limit;
		rate_sizes(r);
		if (r->r_tokens > (int64_t)r->r_burst)
			r->r_tokens = (int64_t)r->r_burst;
	}
	r->r_frac = 0;
	/* The waiters' wake time changed: compute it again at the new rate. */
	if (r->r_armed) {
		evtimer_del(r->r_timer);
		r->r_armed = 0;
	}
	rate_arm(r);
}

uint64_t
gt_rate_limit(const struct gt_rate *r)
{
	return r->r_limit;
}

void
gt_rate_waiter_init(struct gt_rate_waiter *w, gt_rate_wake_cb *cb, void *arg)
{
	memset(w, 0, sizeof(*w));
	w->w_cb = cb;
	w->w_arg = arg;
}

size_t
gt_rate_take(struct gt_rate *r, struct gt_rate_waiter *w, size_t want)
{
	size_t	grant;
	int	served;

	if (want == 0)
		return 0;
	if (r->r_limit == 0) {
		gt_rate_cancel(w);
		return want;
	}
	rate_refill(r);
	served = r->r_serving == w;
	if (served)
		r->r_serving = NULL;
	/*
	 * Nobody jumps the queue: its members have waited longer. Out of
	 * turn, a caller takes only a quantum or all it asks: the few bytes
	 * that refill while it works would make a syscall each.
	 */
	if (r->r_tokens <= 0 || (!served && (!TAILQ_EMPTY(&r->r_q) ||
	    (uint64_t)r->r_tokens < (want < r->r_quantum ? want :
	    r->r_quantum)))) {
		rate_enqueue(r, w);
		return 0;
	}
	grant = (uint64_t)r->r_tokens < want ? (size_t)r->r_tokens : want;
	/* A turn is a quantum while others wait for theirs. */
	if (served && r->r_nwait > 0 && grant > r->r_quantum)
		grant = r->r_quantum;
	r->r_tokens -= (int64_t)grant;
	return grant;
}

void
gt_rate_settle(struct gt_rate *r, size_t granted, size_t used)
{
	if (r->r_limit == 0)
		return;
	r->r_tokens += (int64_t)granted - (int64_t)used;
	if (r->r_tokens > (int64_t)r->r_burst)
		r->r_tokens = (int64_t)r->r_burst;
}

void
gt_rate_cancel(struct gt_rate_waiter *w)
{
	struct gt_rate *r = w->w_rate;

	if (r == NULL)
		return;
	TAILQ_REMOVE(&r->r_q, w, w_entry);
	r->r_nwait--;
	w->w_rate = NULL;
	if (r->r_serving == w)
		r->r_serving = NULL;
}

size_t
gt_rate_waiting(const struct gt_rate *r)
{
	return r->r_nwait;
}

uint64_t
gt_rate_throttled(const struct gt_rate *r)
{
	return r->r_throttled;
}

uint64_t
gt_rate_waited_ns(const struct gt_rate *r)
{
	return r->r_waited;
}

/*
 * Wake waiters in turn while a quantum is there for each (all of them
 * without a limit). Bounded per run; what is left waits for the timer.
 */
void
gt_rate_run(struct gt_rate *r)
{
	struct gt_rate_waiter	*w;
	size_t			 n, max;

	gt_rate_ref(r);		/* a callback may drop the last other reference */
	rate_refill(r);
	max = 2 * r->r_nwait + RATE_RUN_SLACK;
	for (n = 0; n < max && (w = TAILQ_FIRST(&r->r_q)) != NULL; n++) {
		if (r->r_limit != 0 && r->r_tokens < (int64_t)r->r_quantum)
			break;
		TAILQ_REMOVE(&r->r_q, w, w_entry);
		r->r_nwait--;
		w->w_rate = NULL;
		if (r->r_last > w->w_since)
			r->r_waited += r->r_last - w->w_since;
		r->r_serving = w;
		w->w_cb(w, w->w_arg);
		if (r->r_serving == w)
			r->r_serving = NULL;
		rate_refill(r);
	}
	rate_arm(r);
	gt_rate_unref(r);
}

/* The timer: a quantum has refilled (or the limit changed). */
static void
rate_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_rate *r = arg;

	(void)fd;
	(void)what;
	r->r_armed = 0;
	gt_rate_run(r);
}

void
gt_rate_set_clock(struct gt_rate *r, uint64_t (*now)(void *), void *arg)
{
	r->r_now = now != NULL ? now : rate_clock;
	r->r_now_arg = arg;
	r->r_last = r->r_now(arg);
	r->r_frac = 0;
}

int64_t
gt_rate_tokens(struct gt_rate *r)
{
	rate_refill(r);
	return r->r_tokens;
}

size_t
gt_rate_burst(const struct gt_rate *r)
{
	return r->r_burst;
}

size_t
gt_rate_quantum(const struct gt_rate *r)
{
	return r->r_quantum;
}
