/*
 * proto.h: every number of the tunnel wire protocol, in one place. Frame
 * types and codes are never renumbered; new ones are appended. The full
 * specification is docs/PROTOCOL.md.
 */
#ifndef GT_PROTO_H
#define GT_PROTO_H

#define GT_PROTO_VERSION	0x01	/* first byte of every frame */
#define GT_FRAME_HDR_LEN	6	/* version(1) type(1) length(4, big-endian) */

/* go-tunnel v2 base frames: understood by every peer. */
#define GT_FRAME_CONNECT_REQ	0x01	/* id(4) port(2) [hostlen(1) host [proxy ext, GT_CAP_PROXY]] */
#define GT_FRAME_CONNECT_RESP	0x02	/* id(4) status(1) */
#define GT_FRAME_DATA		0x03	/* id(4) bytes */
#define GT_FRAME_CLOSE		0x04	/* id(4) [reason(1), GT_CAP_ERRCODES only] */
#define GT_FRAME_KEEPALIVE	0x05	/* empty */
/* gt extensions: sent only once the peer's hello announced the capability. */
#define GT_FRAME_HELLO		0x06	/* magic(4) caps(4) window(4) [hb_interval(2) hb_timeout(2)] [more, ignored] */
#define GT_FRAME_WINDOW		0x07	/* id(4) increment(4): GT_CAP_FLOW */
#define GT_FRAME_SHUTDOWN	0x08	/* id(4): sender will send no more data (FIN), GT_CAP_HALFCLOSE */
#define GT_FRAME_TYPE_MAX	0x08

#define GT_HELLO_MAGIC		0x47545831u	/* "GTX1" */
#define GT_HELLO_MIN_LEN	12

/* Capability bits of the hello. */
#define GT_CAP_FLOW		0x00000001u	/* per-stream credit (WINDOW frames) */
#define GT_CAP_HALFCLOSE	0x00000002u	/* SHUTDOWN frames */
#define GT_CAP_ERRCODES		0x00000004u	/* status/reason codes beyond 0x00/0x01 */
#define GT_CAP_PROXY		0x00000008u	/* ConnectRequest's PROXY extension */
#define GT_CAP_ALL		(GT_CAP_FLOW | GT_CAP_HALFCLOSE | GT_CAP_ERRCODES | \
				 GT_CAP_PROXY)

/* ConnectResponse status and Close reason codes. A base peer gets only OK/FAILED. */
#define GT_STATUS_OK		0x00
#define GT_STATUS_FAILED	0x01	/* unspecified failure (go-tunnel) */
#define GT_STATUS_DENIED	0x02	/* target outside the client's -allow list */
#define GT_STATUS_REFUSED	0x03	/* target refused the connection */
#define GT_STATUS_TIMEOUT	0x04	/* target did not answer in time */
#define GT_STATUS_UNREACHABLE	0x05	/* no route / host unreachable */
#define GT_STATUS_DNS		0x06	/* target name did not resolve */
#define GT_STATUS_OVERRUN	0x07	/* Close: the peer sent past its window */
#define GT_STATUS_PROTOCOL	0x08	/* Close: a frame made no sense for this stream */
#define GT_STATUS_RESOURCE	0x09	/* too many streams, out of memory */

/* Limits. */
#define GT_FRAME_MAX_PAYLOAD	(1u << 20)	/* larger lengths end the tunnel */
/*
 * A Data frame of GT_DATA_CHUNK bytes is GT_RECORD bytes: one TLS record,
 * and, with libevent's chain header, one 16 KiB allocation at the receiver
 * (a 16384-byte payload would take a 32 KiB chain, doubling what a stalled
 * stream's window costs in memory).
 */
#define GT_RECORD		(16384 - 128)
#define GT_DATA_CHUNK		(GT_RECORD - GT_FRAME_HDR_LEN - 4)
#define GT_HOST_MAX		255
/*
 * ConnectRequest's PROXY extension after the host: version(1) family(1)
 * src(4|16) src_port(2) dst(4|16) dst_port(2).
 */
#define GT_PROXY_EXT4_LEN	14
#define GT_PROXY_EXT6_LEN	38
#define GT_WINDOW_DEFAULT	(256u * 1024)	/* a peer's window when its hello says less than 16 KiB */
#define GT_WINDOW_INITIAL	(32u * 1024)	/* gt's initial per-stream window (limits.stream_window) */
#define GT_WINDOW_GROW_MAX	(4u * 1024 * 1024)	/* a fast stream's window grows to this */
#define GT_WINDOW_MAX		(16u * 1024 * 1024)

#endif
