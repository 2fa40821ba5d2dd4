/* loop.h: the event loop every gt process runs on. */
#ifndef GT_LOOP_H
#define GT_LOOP_H

#include <stdint.h>

struct event_base;

/* Milliseconds on a clock that never jumps (CLOCK_MONOTONIC). */
int64_t	gt_mono_ms(void);

/*
 * A libevent base with epoll's changelist on: adding and removing the same
 * event within one loop pass (a bufferevent's EV_WRITE around each burst)
 * then costs no epoll_ctl. Safe for gt, which never dup()s a socket it
 * registers. It also keeps a few MiB of freed heap for reuse (malloc trim
 * threshold), since buffers churn under load, and raises the soft limit on
 * open files to the hard one. NULL on failure.
 */
struct event_base *gt_loop_new(void);

#endif
