/* log.c: stderr logging, one line an event; rate limits per peer. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

#include "gt/log.h"

static enum gt_log_level log_level = GT_LOG_INFO;
static int log_rate_limit = 10;
static const char *log_prog = "gt";

static const char *const log_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

/* Forward libevent's warnings into our format. */
static void
log_libevent_cb(int sev, const char *msg)
{
	enum gt_log_level l = GT_LOG_DEBUG;

	if (sev == EVENT_LOG_MSG)
		l = GT_LOG_INFO;
	else if (sev == EVENT_LOG_WARN)
		l = GT_LOG_WARN;
	else if (sev == EVENT_LOG_ERR)
		l = GT_LOG_ERROR;
	gt_log(l, "libevent", "%s", msg);
}

void
gt_log_init(const char *prog)
{
	if (prog != NULL)
		log_prog = prog;
	event_set_log_callback(log_libevent_cb);
}

void
gt_log_set_level(enum gt_log_level l)
{
	log_level = l;
}

enum gt_log_level
gt_log_get_level(void)
{
	return log_level;
}

const char *
gt_log_level_name(enum gt_log_level l)
{
	if ((unsigned)l > GT_LOG_ERROR)
		return "?";
	return log_names[l];
}

int
gt_log_level_parse(const char *s, enum gt_log_level *out)
{
	if (strcasecmp(s, "debug") == 0)
		*out = GT_LOG_DEBUG;
	else if (strcasecmp(s, "info") == 0)
		*out = GT_LOG_INFO;
	else if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
		*out = GT_LOG_WARN;
	else if (strcasecmp(s, "error") == 0)
		*out = GT_LOG_ERROR;
	else
		return -1;
	return 0;
}

void
gt_vlog(enum gt_log_level l, const char *comp, const char *fmt, va_list ap)
{
	char		 msg[1024], ts[32];
	struct timeval	 tv;
	struct tm	 tm;
	size_t		 i;

	if (l < log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One event, one line: a peer must not be able to forge log lines. */
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %-5s %s[%s] %s\n", ts, (long)tv.tv_usec / 1000,
	    gt_log_level_name(l), log_prog, comp ? comp : "-", msg);
}

void
gt_log(enum gt_log_level l, const char *comp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gt_vlog(l, comp, fmt, ap);
	va_end(ap);
}

void
gt_log_errno(enum gt_log_level l, const char *comp, const char *fmt, ...)
{
	char	 buf[900];
	int	 saved = errno;
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	gt_log(l, comp, "%s: %s", buf, strerror(saved));
}

/* The server sets log.rate_limit; the client keeps the default. */
void
gt_log_set_rate_limit(int n)
{
	log_rate_limit = n < 1 ? 1 : n;
}

/* Lines a key may log per window. */
int
gt_log_get_rate_limit(void)
{
	return log_rate_limit;
}

/*
 * Find key's slot, or take a free one, or reuse the least recently used
 * (telling the caller what that one had not reported yet); then count the
 * line against the key's window.
 */
void
gt_logrl_check(struct gt_logrl *rl, const char *key, time_t now, int limit,
    struct gt_logrl_verdict *v)
{
	struct gt_logrl_slot	*rs = NULL, *lru = NULL, *s;
	char			 k[GT_LOGRL_KEYMAX];
	size_t			 i;

	memset(v, 0, sizeof(*v));
	snprintf(k, sizeof(k), "%s", key != NULL && *key != '\0' ? key : "-");
	if (limit < 1)
		limit = 1;
	for (i = 0; i < GT_LOGRL_SLOTS && rs == NULL; i++) {
		s = &rl->rl_slot[i];
		if (s->rs_key[0] != '\0' && strcmp(s->rs_key, k) == 0)
			rs = s;
		else if (lru == NULL || (lru->rs_key[0] != '\0' &&
		    (s->rs_key[0] == '\0' || s->rs_used < lru->rs_used)))
			lru = s;
	}
	if (rs == NULL) {
		rs = lru;
		if (rs->rs_key[0] != '\0' && rs->rs_dropped > 0) {
			snprintf(v->evicted, sizeof(v->evicted), "%s",
			    rs->rs_key);
			v->evicted_dropped = rs->rs_dropped;
		}
		memset(rs, 0, sizeof(*rs));
		snprintf(rs->rs_key, sizeof(rs->rs_key), "%s", k);
		rs->rs_start = now;
	}
	/* A clock that went back starts a new window too. */
	if (now - rs->rs_start >= GT_LOGRL_WINDOW || now < rs->rs_start) {
		rs->rs_start = now;
		rs->rs_lines = 0;
	}
	rs->rs_used = now;
	if (rs->rs_lines < (unsigned)limit) {
		rs->rs_lines++;
		v->allow = 1;
		v->dropped = rs->rs_dropped;
		rs->rs_dropped = 0;
	} else
		rs->rs_dropped++;
}

/* Seconds of a clock that never jumps: windows survive date changes. */
static time_t
log_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return time(NULL);
	return ts.tv_sec;
}

/* A line a peer can provoke at will: logged while under the limit. */
void
gt_log_rl(struct gt_logrl *rl, enum gt_log_level l, const char *comp,
    const char *key, const char *fmt, ...)
{
	struct gt_logrl_verdict	 v;
	char			 msg[900];
	va_list			 ap;

	if (l < log_level)
		return;
	gt_logrl_check(rl, key, log_now(), log_rate_limit, &v);
	if (v.evicted_dropped > 0)
		gt_log(l, comp, "(%lu similar messages from %s suppressed)",
		    v.evicted_dropped, v.evicted);
	if (!v.allow)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (v.dropped > 0)
		gt_log(l, comp, "%s (%lu similar messages from %s suppressed)",
		    msg, v.dropped, key != NULL && *key != '\0' ? key : "-");
	else
		gt_log(l, comp, "%s", msg);
}

/* The source of key is gone: say now what it had suppressed. */
void
gt_logrl_flush(struct gt_logrl *rl, enum gt_log_level l, const char *comp,
    const char *key)
{
	struct gt_logrl_slot	*rs;
	char			 k[GT_LOGRL_KEYMAX];
	size_t			 i;

	snprintf(k, sizeof(k), "%s", key != NULL && *key != '\0' ? key : "-");
	for (i = 0; i < GT_LOGRL_SLOTS; i++) {
		rs = &rl->rl_slot[i];
		if (rs->rs_key[0] == '\0' || strcmp(rs->rs_key, k) != 0)
			continue;
		if (rs->rs_dropped > 0)
			gt_log(l, comp, "(%lu similar messages from %s "
			    "suppressed)", rs->rs_dropped, rs->rs_key);
		rs->rs_dropped = 0;
		return;
	}
}
