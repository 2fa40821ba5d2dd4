/* loop.c: the tuned event base. */
#include <malloc.h>
#include <sys/resource.h>

#include <event2/event.h>

#include <time.h>

#include "gt/loop.h"

struct event_base *
gt_loop_new(void)
{
	struct event_config	*cfg;
	struct event_base	*base;
	struct rlimit		 rl;

	/*
	 * Buffers come and go by the thousand a second under load: keep up to
	 * 4 MiB of freed heap instead of handing it back (brk) on every free.
	 */
	mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
	/* Every session is a descriptor: take all the system allows us. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((cfg = event_config_new()) == NULL)
		return event_base_new();
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base != NULL ? base : event_base_new();
}

/* Milliseconds on a clock that never jumps. */
int64_t
gt_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
