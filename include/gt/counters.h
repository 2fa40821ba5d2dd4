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
	uint64_t	refused;	/* connections the access rule closed at accept */
	/*
	 * Most sessions open at once since the history recorder last read
	 * it (it sets it back to active); since creation if none reads it.
	 */
	uint64_t	peak;
	/*
	 * Told of every session that begins (+1) or ends (-1), so the owner
	 * of the mapping can pause and resume accepting; the owner clears it
	 * before it goes (sessions may outlive it).
	 */
	void		(*on_session)(int delta, void *arg);
	void		*on_session_arg;
};

struct gt_counters *gt_counters_new(void);	/* refcnt 1; NULL on ENOMEM */
struct gt_counters *gt_counters_ref(struct gt_counters *);
void	gt_counters_unref(struct gt_counters *);	/* NULL ok */
/* A session of the mapping begins (active and total grow) or ends. */
void	gt_counters_begin(struct gt_counters *);
void	gt_counters_end(struct gt_counters *);

#endif
