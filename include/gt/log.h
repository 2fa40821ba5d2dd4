/* log.h: one line an event on stderr: time, level, component, message. */
#ifndef GT_LOG_H
#define GT_LOG_H

#include <stdarg.h>
#include <time.h>

enum gt_log_level {
	GT_LOG_DEBUG = 0,
	GT_LOG_INFO,
	GT_LOG_WARN,
	GT_LOG_ERROR,
};

/* Name the program (borrowed, must outlive logging) and route libevent's own logs here. */
void	gt_log_init(const char *prog);
void	gt_log_set_level(enum gt_log_level);
enum gt_log_level gt_log_get_level(void);
/* Parse "debug", "info", "warn"/"warning", "error"; 0 on success, -1 if unknown. */
int	gt_log_level_parse(const char *, enum gt_log_level *);
const char *gt_log_level_name(enum gt_log_level);

void	gt_log(enum gt_log_level, const char *comp, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	gt_vlog(enum gt_log_level, const char *comp, const char *fmt, va_list)
	    __attribute__((format(printf, 3, 0)));
/* As gt_log at WARN, with ": strerror(errno)" appended (relayd's log_warn). */
void	gt_log_errno(enum gt_log_level, const char *comp, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * Rate-limited lines, for what a peer can make us say at will. Each call
 * site owns a static struct gt_logrl: a fixed table of the last
 * GT_LOGRL_SLOTS keys (a peer address, usually), the least recently used
 * one reused when full, so memory is bounded whatever the peers do. A key
 * may log gt_log_get_rate_limit() lines per GT_LOGRL_WINDOW seconds; the
 * rest are counted, and the count is told in the key's next line after its
 * window ended, when its slot is reused, or by gt_logrl_flush().
 */
#define GT_LOGRL_SLOTS		64
#define GT_LOGRL_WINDOW		10	/* seconds */
#define GT_LOGRL_KEYMAX		64

struct gt_logrl_slot {
	char		rs_key[GT_LOGRL_KEYMAX];	/* "": slot free */
	time_t		rs_start;	/* this window began */
	time_t		rs_used;	/* last call, for reuse */
	unsigned	rs_lines;	/* lines logged in this window */
	unsigned long	rs_dropped;	/* suppressed, not reported yet */
};

struct gt_logrl {
	struct gt_logrl_slot	rl_slot[GT_LOGRL_SLOTS];
};

/* What gt_logrl_check() decided for one line. */
struct gt_logrl_verdict {
	int		allow;		/* log this line */
	unsigned long	dropped;	/* to report with it (allow only) */
	char		evicted[GT_LOGRL_KEYMAX];	/* slot reused from */
	unsigned long	evicted_dropped;	/* its unreported count */
};

/* Lines per key and window (config log.rate_limit); below 1 means 1. */
void	gt_log_set_rate_limit(int);
int	gt_log_get_rate_limit(void);
/* The decision alone, at time now with limit lines a window: no output. */
void	gt_logrl_check(struct gt_logrl *, const char *key, time_t now,
	    int limit, struct gt_logrl_verdict *);
/* Log at level unless key is over its limit; counts the line otherwise. */
void	gt_log_rl(struct gt_logrl *, enum gt_log_level, const char *comp,
	    const char *key, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
/* Report and clear what key has suppressed (its source went away). */
void	gt_logrl_flush(struct gt_logrl *, enum gt_log_level, const char *comp,
	    const char *key);

#define log_debug(comp, ...)	do { if (gt_log_get_level() <= GT_LOG_DEBUG) \
	gt_log(GT_LOG_DEBUG, comp, __VA_ARGS__); } while (0)
#define log_info(comp, ...)	gt_log(GT_LOG_INFO, comp, __VA_ARGS__)
#define log_warnx(comp, ...)	gt_log(GT_LOG_WARN, comp, __VA_ARGS__)
#define log_warn(comp, ...)	gt_log_errno(GT_LOG_WARN, comp, __VA_ARGS__)
#define log_errorx(comp, ...)	gt_log(GT_LOG_ERROR, comp, __VA_ARGS__)

#endif
