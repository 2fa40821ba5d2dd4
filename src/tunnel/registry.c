/* registry.c: connected tunnel clients by name. */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "gt/log.h"
#include "gt/mux.h"
#include "gt/registry.h"

struct reg_entry {
	TAILQ_ENTRY(reg_entry)	 re_link;
	char			*re_name;
	struct gt_mux		*re_mux;
};

struct gt_registry {
	TAILQ_HEAD(, reg_entry)	 rg_list;	/* oldest first */
	size_t			 rg_count;
};

struct gt_registry *
gt_registry_new(void)
{
	struct gt_registry *r = calloc(1, sizeof(*r));

	if (r != NULL)
		TAILQ_INIT(&r->rg_list);
	return r;
}

/* Free the index only: the muxes belong to the tunnel server. */
void
gt_registry_free(struct gt_registry *r)
{
	struct reg_entry *e;

	if (r == NULL)
		return;
	while ((e = TAILQ_FIRST(&r->rg_list)) != NULL) {
		TAILQ_REMOVE(&r->rg_list, e, re_link);
		free(e->re_name);
		free(e);
	}
	free(r);
}

/* Look up an entry by name. */
static struct reg_entry *
registry_find(const struct gt_registry *r, const char *name)
{
	struct reg_entry *e;

	TAILQ_FOREACH(e, &r->rg_list, re_link)
		if (strcmp(e->re_name, name) == 0)
			return e;
	return NULL;
}

struct gt_mux *
gt_registry_add(struct gt_registry *r, const char *name, struct gt_mux *mux)
{
	struct reg_entry	*e;
	struct gt_mux		*old;
	char			*copy;

	if ((e = registry_find(r, name)) != NULL) {
		/* Swap in place: there is no moment without a tunnel for name. */
		old = e->re_mux;
		e->re_mux = mux;
		return old;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (copy = strdup(name)) == NULL) {
		free(e);
		log_warnx("registry", "out of memory registering %s", name);
		return NULL;
	}
	e->re_name = copy;
	e->re_mux = mux;
	TAILQ_INSERT_TAIL(&r->rg_list, e, re_link);
	r->rg_count++;
	return NULL;
}

void
gt_registry_remove(struct gt_registry *r, struct gt_mux *mux)
{
	struct reg_entry *e;

	TAILQ_FOREACH(e, &r->rg_list, re_link) {
		if (e->re_mux == mux) {
			TAILQ_REMOVE(&r->rg_list, e, re_link);
			r->rg_count--;
			free(e->re_name);
			free(e);
			return;
		}
	}
}

struct gt_mux *
gt_registry_pick(struct gt_registry *r, const char *name)
{
	struct reg_entry *e;

	if (r == NULL)
		return NULL;
	if (name != NULL && *name != '\0') {
		e = registry_find(r, name);
		if (e == NULL || gt_mux_is_closed(e->re_mux))
			return NULL;
		return e->re_mux;
	}
	TAILQ_FOREACH(e, &r->rg_list, re_link)
		if (!gt_mux_is_closed(e->re_mux))
			return e->re_mux;
	return NULL;
}

size_t
gt_registry_count(const struct gt_registry *r)
{
	return r == NULL ? 0 : r->rg_count;
}

/* An operator ends a client's tunnel; the tunnel server frees it from the loop. */
int
gt_registry_end(struct gt_registry *r, const char *name, const char *why)
{
	struct gt_mux *m;

	/* An empty name would pick any client. */
	if (name == NULL || *name == '\0' ||
	    (m = gt_registry_pick(r, name)) == NULL)
		return 0;
	gt_mux_end(m, why);
	return 1;
}

void
gt_registry_each(const struct gt_registry *r, gt_registry_each_cb *cb, void *arg)
{
	struct gt_client_info	 ci;
	struct reg_entry	*e;

	if (r == NULL)
		return;
	TAILQ_FOREACH(e, &r->rg_list, re_link) {
		ci.name = e->re_name;
		ci.address = gt_mux_peer_addr(e->re_mux);
		ci.connected_at = gt_mux_started(e->re_mux);
		ci.streams = gt_mux_streams(e->re_mux);
		cb(&ci, arg);
	}
}

void
gt_registry_close_streams(struct gt_registry *r, const struct gt_counters *ctr)
{
	struct reg_entry *e;

	if (r == NULL || ctr == NULL)
		return;
	TAILQ_FOREACH(e, &r->rg_list, re_link)
		gt_mux_close_streams(e->re_mux, ctr);
}

/* Close, on every tunnel, the streams of ctr that keep() refuses. */
void
gt_registry_close_streams_if(struct gt_registry *r, const struct gt_counters *ctr,
    int (*keep)(const struct gt_ep *, void *), void *arg, const char *why)
{
	struct reg_entry *e;

	if (r == NULL || ctr == NULL)
		return;
	TAILQ_FOREACH(e, &r->rg_list, re_link)
		gt_mux_close_streams_if(e->re_mux, ctr, keep, arg, why);
}
