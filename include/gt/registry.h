/*
 * registry.h: the tunnel clients connected to this server, by name (the
 * client certificate's CN, or the peer address without TLS).
 */
#ifndef GT_REGISTRY_H
#define GT_REGISTRY_H

#include <stddef.h>
#include <time.h>

struct gt_counters;
struct gt_ep;
struct gt_mux;
struct gt_registry;

struct gt_client_info {
	const char	*name;		/* borrowed for the callback's duration */
	const char	*address;
	time_t		 connected_at;
	unsigned	 streams;
};

typedef void gt_registry_each_cb(const struct gt_client_info *, void *arg);

struct gt_registry *gt_registry_new(void);
void	gt_registry_free(struct gt_registry *);	/* does not free the muxes */
/*
 * Register mux under name (copied). An existing tunnel of the same name is
 * replaced in one step and returned, so the caller closes it only once the
 * new one is findable; NULL if there was none.
 */
struct gt_mux *gt_registry_add(struct gt_registry *, const char *name, struct gt_mux *);
/* Forget mux (no-op if it was replaced already). Does not free it. */
void	gt_registry_remove(struct gt_registry *, struct gt_mux *);
/* The tunnel of that client, or the longest-connected live one if name is NULL or "". Borrowed. */
struct gt_mux *gt_registry_pick(struct gt_registry *, const char *name);
size_t	gt_registry_count(const struct gt_registry *);
/* Close, on every tunnel, the streams counted in ctr (a removed mapping's). */
void	gt_registry_close_streams(struct gt_registry *, const struct gt_counters *ctr);
/* The same for the streams of ctr that keep() refuses (gt_mux_close_streams_if). */
void	gt_registry_close_streams_if(struct gt_registry *,
	    const struct gt_counters *ctr, int (*keep)(const struct gt_ep *, void *),
	    void *arg, const char *why);
/*
 * End the live tunnel of client name now for why (gt_mux_end): 1, or 0 if
 * none is connected. The client may come back by its backoff.
 */
int	gt_registry_end(struct gt_registry *, const char *name, const char *why);
void	gt_registry_each(const struct gt_registry *, gt_registry_each_cb *, void *arg);

#endif
