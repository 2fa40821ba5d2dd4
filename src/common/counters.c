/* counters.c: reference-counted per-mapping figures. */
#include <stdlib.h>

#include "gt/counters.h"

struct gt_counters *
gt_counters_new(void)
{
	struct gt_counters *c = calloc(1, sizeof(*c));

	if (c != NULL)
		c->refcnt = 1;
	return c;
}

struct gt_counters *
gt_counters_ref(struct gt_counters *c)
{
	c->refcnt++;
	return c;
}

void
gt_counters_unref(struct gt_counters *c)
{
	if (c != NULL && --c->refcnt == 0)
		free(c);
}

/* A session begins: count it and tell the mapping's owner. */
void
gt_counters_begin(struct gt_counters *c)
{
	c->active++;
	c->total++;
	if (c->active > c->peak)
		c->peak = c->active;
	if (c->on_session != NULL)
		c->on_session(1, c->on_session_arg);
}

/* A session ends: count it and tell the mapping's owner. */
void
gt_counters_end(struct gt_counters *c)
{
	if (c->active == 0)
		return;
	c->active--;
	if (c->on_session != NULL)
		c->on_session(-1, c->on_session_arg);
}
