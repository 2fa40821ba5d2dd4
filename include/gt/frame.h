/*
 * frame.h: encode and incrementally decode tunnel frames (proto.h) on
 * libevent evbuffers. No sockets, no TLS, no stream state: the codec only
 * turns bytes into frames and back.
 */
#ifndef GT_FRAME_H
#define GT_FRAME_H

#include <stdint.h>
#include <stddef.h>

#include "gt/proto.h"
#include "gt/proxy_hdr.h"

struct evbuffer;

/* Decoder results: > 0 a frame, 0 need more bytes, < 0 a protocol error. */
#define GT_FRAME_OK		1
#define GT_FRAME_NEED_MORE	0
#define GT_FRAME_E_VERSION	(-1)	/* first byte is not GT_PROTO_VERSION */
#define GT_FRAME_E_TYPE		(-2)	/* type 0 or above GT_FRAME_TYPE_MAX */
#define GT_FRAME_E_LENGTH	(-3)	/* length over the caller's maximum */
#define GT_FRAME_E_SHORT	(-4)	/* payload too short for its type */
#define GT_FRAME_E_LONG		(-5)	/* payload too long for a fixed-size type */
#define GT_FRAME_E_HOST		(-6)	/* ConnectRequest host length/chars invalid */
#define GT_FRAME_E_EXT		(-7)	/* ConnectRequest extension malformed */
#define GT_FRAME_E_MIN		GT_FRAME_E_EXT

struct gt_frame {
	uint8_t		type;		/* GT_FRAME_* */
	uint32_t	length;		/* payload length from the header */
	uint32_t	id;		/* conn ID: all types but KEEPALIVE, HELLO */
	/* CONNECT_REQ */
	uint16_t	port;
	uint8_t		host_len;	/* 0: the 6-byte form (means 127.0.0.1) */
	char		host[GT_HOST_MAX + 1];	/* NUL-terminated */
	int		has_proxy;	/* the PROXY extension followed the host */
	struct gt_proxy_addr proxy;	/* its fields (zeroed when absent) */
	/* CONNECT_RESP status; CLOSE reason (GT_STATUS_FAILED when absent) */
	uint8_t		status;
	int		has_reason;	/* CLOSE carried a reason byte */
	/* DATA: bytes still at the front of the input buffer (see decode) */
	uint32_t	data_len;
	/* WINDOW */
	uint32_t	increment;
	/* HELLO */
	uint32_t	magic, caps, window;
	uint16_t	hb_interval, hb_timeout;	/* seconds; 0 when absent */
};

/*
 * Decode one frame from the front of `in`. Returns GT_FRAME_NEED_MORE and
 * leaves `in` untouched until the whole frame is buffered. On GT_FRAME_OK
 * the frame's header and fixed fields are drained; for DATA, f->data_len
 * payload bytes remain at the front of `in` for the caller to move out
 * (evbuffer_remove_buffer) or drain. On an error nothing is drained and the
 * stream of frames cannot be resynchronised: end the tunnel.
 * max_payload: the largest length accepted (<= GT_FRAME_MAX_PAYLOAD).
 */
int	gt_frame_decode(struct evbuffer *in, struct gt_frame *f, uint32_t max_payload);
/* A short fixed string for a decoder result ("bad version", ...). */
const char *gt_frame_strerror(int);
const char *gt_frame_type_name(uint8_t);

/*
 * Encoders append one whole frame to `out`; 0 on success, -1 on bad
 * arguments or allocation failure (nothing appended then).
 * host NULL: the 6-byte go-tunnel v2.0.0 form; else 1..255 chars.
 */
int	gt_frame_add_connect_req(struct evbuffer *out, uint32_t id, uint16_t port,
	    const char *host);
/*
 * The long form with the PROXY extension after the host (GT_CAP_PROXY
 * peers only): pa's version, family, addresses and ports. host is required.
 */
int	gt_frame_add_connect_req_proxy(struct evbuffer *out, uint32_t id,
	    uint16_t port, const char *host, const struct gt_proxy_addr *pa);
int	gt_frame_add_connect_resp(struct evbuffer *out, uint32_t id, uint8_t status);
/* Header of a DATA frame of len payload bytes; the caller appends them next. */
int	gt_frame_add_data_hdr(struct evbuffer *out, uint32_t id, uint32_t len);
int	gt_frame_add_data(struct evbuffer *out, uint32_t id, const void *, size_t);
/* reason < 0: the 4-byte go-tunnel form. */
int	gt_frame_add_close(struct evbuffer *out, uint32_t id, int reason);
int	gt_frame_add_keepalive(struct evbuffer *out);
/* 16-byte hello: magic, caps, window, heartbeat interval and timeout. */
int	gt_frame_add_hello(struct evbuffer *out, uint32_t caps, uint32_t window,
	    uint16_t hb_interval, uint16_t hb_timeout);
int	gt_frame_add_window(struct evbuffer *out, uint32_t id, uint32_t increment);
int	gt_frame_add_shutdown(struct evbuffer *out, uint32_t id);

#endif
