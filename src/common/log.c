/* log.c: stderr logging, one line an event. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

#include "gt/log.h"

static enum gt_log_level log_level = GT_LOG_INFO;
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
