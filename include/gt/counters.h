/* counters.h: live figures of one mapping, shared by its sessions (reference counted). */
#ifndef GT_COUNTERS_H
#define GT_COUNTERS_H

#include <stdint.h>

struct gt_counters {
	unsigned	refcnt;
	uint64_t	active;		/* sessions open now */
	uint64_t	total;		/* sessions ever accepted */
	uint64_t	bytes_in;	/* from public users toward the target */
	uint64_t	bytes_out;	/* from the target back to users */
};

struct gt_counters *gt_counters_new(void);	/* refcnt 1; NULL on ENOMEM */
struct gt_counters *gt_counters_ref(struct gt_counters *);
void	gt_counters_unref(struct gt_counters *);	/* NULL ok */

#endif
