/*
 * accept_pause.h: the one way a gt listener reacts to accept() failing for
 * want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM). A level-triggered
 * listener would otherwise spin on the connection it cannot take: instead
 * the owner's listeners stop for a moment (relayd's accept-pause), with one
 * log line per pause, not one per failure.
 */
#ifndef GT_ACCEPT_PAUSE_H
#define GT_ACCEPT_PAUSE_H

struct event_base;
struct gt_accept_pause;

/* Apply the state to the owner's listeners: paused 1 stop, 0 go on. */
typedef void gt_accept_pause_cb(int paused, void *arg);

/* what names the listeners in logs (copied up to 63 bytes). NULL on ENOMEM. */
struct gt_accept_pause *gt_accept_pause_new(struct event_base *,
	    unsigned ms, const char *what, gt_accept_pause_cb *, void *arg);
void	gt_accept_pause_free(struct gt_accept_pause *);
/*
 * accept() failed with err (an errno): for a resource error, pause (unless
 * paused already) and return 1; other errors are only logged (0).
 */
int	gt_accept_pause_error(struct gt_accept_pause *, int err);
int	gt_accept_paused(const struct gt_accept_pause *);
/* Pauses so far. */
unsigned gt_accept_pause_count(const struct gt_accept_pause *);
void	gt_accept_pause_set_interval(struct gt_accept_pause *, unsigned ms);

#endif
