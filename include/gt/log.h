/* log.h: one line an event on stderr: time, level, component, message. */
#ifndef GT_LOG_H
#define GT_LOG_H

#include <stdarg.h>

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

#define log_debug(comp, ...)	do { if (gt_log_get_level() <= GT_LOG_DEBUG) \
	gt_log(GT_LOG_DEBUG, comp, __VA_ARGS__); } while (0)
#define log_info(comp, ...)	gt_log(GT_LOG_INFO, comp, __VA_ARGS__)
#define log_warnx(comp, ...)	gt_log(GT_LOG_WARN, comp, __VA_ARGS__)
#define log_warn(comp, ...)	gt_log_errno(GT_LOG_WARN, comp, __VA_ARGS__)
#define log_errorx(comp, ...)	gt_log(GT_LOG_ERROR, comp, __VA_ARGS__)

#endif
