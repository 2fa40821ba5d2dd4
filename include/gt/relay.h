/*
 * relay.h: two open endpoints joined back to back (relayd's two halves):
 * what one reads the other writes, with backpressure (a side stops reading
 * while the other side's output is over the high-water mark) and half-close
 * both ways (an EOF becomes a FIN on the other side once its bytes are out).
 * A direct mapping's session is exactly one relay. The relay knows nothing
 * of mappings or sockets beyond its two endpoints.
 */
#ifndef GT_RELAY_H
#define GT_RELAY_H

#include <stddef.h>
#include <stdint.h>

struct gt_ep;
struct gt_relay;

/*
 * Both directions finished (why = "done") or one failed (why says how; it
 * names the side). Called once; free the relay from here or later.
 */
typedef void gt_relay_done_cb(struct gt_relay *, const char *why, void *arg);

/*
 * Join a and b (open endpoints, owned from now on, freed with the relay,
 * also on failure). hiwat bounds the bytes buffered per direction (0: 256
 * KiB). count_ab and count_ba (may be NULL, borrowed for the relay's life)
 * grow by the bytes moved each way. NULL on ENOMEM.
 */
struct gt_relay *gt_relay_new(struct gt_ep *a, struct gt_ep *b, size_t hiwat,
	    uint64_t *count_ab, uint64_t *count_ba, gt_relay_done_cb *, void *arg);
/* Close both endpoints now and free. Safe inside the done callback. */
void	gt_relay_free(struct gt_relay *);
/* Bytes moved so far: dir 0 from a to b, 1 from b to a. */
uint64_t gt_relay_moved(const struct gt_relay *, int dir);
/* Bytes buffered in both directions now. */
size_t	gt_relay_buffered(const struct gt_relay *);

#endif
