/*
 * registry.h: the tunnel clients connected to this server, by name (the
 * client certificate's CN, or the peer address without TLS).
 */
#ifndef GT_REGISTRY_H
#define GT_REGISTRY_H

#include <stddef.h>
#include <time.h>

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
void	gt_registry_free(struct gt_registry *);	/* frees the muxes it holds */
/*
 * Register mux under name. An existing tunnel of the same name is replaced
 * atomically: the new one is findable before the old one is closed.
 */
void	gt_registry_add(struct gt_registry *, const char *name, struct gt_mux *);
/* Forget mux (no-op if it was replaced already). Does not free it. */
void	gt_registry_remove(struct gt_registry *, struct gt_mux *);
/* The tunnel of that client, or any live one if name is NULL or "". Borrowed. */
struct gt_mux *gt_registry_pick(struct gt_registry *, const char *name);
size_t	gt_registry_count(const struct gt_registry *);
void	gt_registry_each(const struct gt_registry *, gt_registry_each_cb *, void *arg);

#endif
