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
