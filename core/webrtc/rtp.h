/* RTP packet parsing and rewriting for the media core (RFC 3550, RFC 8285
 * header extensions, RFC 4588 RTX, RFC 7983 demultiplexing).
 *
 * Everything here is pure (STYLE.md rule 18): no I/O, no logging, no
 * globals, no allocation, and every loop is bounded by the packet length.
 * Input comes from the network, i.e. from attackers, so cardea_rtp_parse()
 * checks the version, CSRC count, extension block and padding before anything
 * looks at the payload; every reason to reject a packet has its own status so
 * callers can count drops by reason (cardea_rtp_status_name()).
 *
 * Buffers: a cardea_rtp_info borrows the buffer it was parsed from and stays
 * valid while that buffer is unchanged. The in-place setters below keep the
 * layout (lengths do not change), so an info stays valid across them. Every
 * writer takes a caller buffer and its capacity and never writes past it.
 *
 * Threads: no shared state; use from any thread.
 */
#ifndef CARDEA_WEBRTC_RTP_H
#define CARDEA_WEBRTC_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>

#define CARDEA_RTP_HEADER_SIZE 12
/* Nothing bigger fits in a UDP datagram; keeps every offset in 16 bits. */
#define CARDEA_RTP_MAX_PACKET 65535
/* Elements indexed by the parser. One-byte headers carry at most 14 distinct
 * ids; a two-byte block may carry more, which cardea_rtp_ext_find() then
 * finds by walking the block (still bounded). */
#define CARDEA_RTP_MAX_EXT_ELEMS 16

/* Extension block profiles (RFC 8285 section 4). */
#define CARDEA_RTP_EXT_PROFILE_ONE_BYTE 0xBEDE
#define CARDEA_RTP_EXT_PROFILE_TWO_BYTE 0x1000 /* top 12 bits 0x100, low 4 "appbits" */

/* Extension URIs, for matching a=extmap lines. */
#define CARDEA_RTP_EXT_URI_MID             "urn:ietf:params:rtp-hdrext:sdes:mid"
#define CARDEA_RTP_EXT_URI_RID             "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
#define CARDEA_RTP_EXT_URI_REPAIRED_RID    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
#define CARDEA_RTP_EXT_URI_ABS_SEND_TIME   "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
#define CARDEA_RTP_EXT_URI_TRANSPORT_CC    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
#define CARDEA_RTP_EXT_URI_AUDIO_LEVEL     "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
#define CARDEA_RTP_EXT_URI_VIDEO_ORIENTATION "urn:3gpp:video-orientation"

/* Why a packet was rejected. 0 is success; the others are stable so they can
 * index a counter array of CARDEA_RTP_STATUS_COUNT entries. */
typedef enum cardea_rtp_status {
	CARDEA_RTP_OK = 0,
	CARDEA_RTP_ERR_ARGS,            /* NULL buffer, bad id, capacity 0 ... (caller bug) */
	CARDEA_RTP_ERR_TOO_SHORT,       /* fewer than 12 bytes */
	CARDEA_RTP_ERR_TOO_LONG,        /* more than CARDEA_RTP_MAX_PACKET bytes */
	CARDEA_RTP_ERR_VERSION,         /* V != 2 */
	CARDEA_RTP_ERR_RTCP_PT,         /* PT 64..95 collides with RTCP under rtcp-mux (RFC 5761) */
	CARDEA_RTP_ERR_CSRC,            /* CSRC list runs past the end */
	CARDEA_RTP_ERR_EXT_HEADER,      /* X set but no room for the 4-byte extension header */
	CARDEA_RTP_ERR_EXT_LENGTH,      /* extension length runs past the end */
	CARDEA_RTP_ERR_EXT_ELEMENT,     /* a one/two-byte element runs past its block */
	CARDEA_RTP_ERR_PADDING_ZERO,    /* P set and the padding count is 0 */
	CARDEA_RTP_ERR_PADDING_LENGTH,  /* padding count runs into the header */
	CARDEA_RTP_ERR_NOT_FOUND,       /* ext_find/get: no such element */
	CARDEA_RTP_ERR_EXT_SIZE,        /* element has the wrong size for its type */
	CARDEA_RTP_ERR_NO_SPACE,        /* caller buffer too small */
	CARDEA_RTP_ERR_RTX_EMPTY,       /* RTX packet without an OSN (e.g. a padding-only probe) */
	CARDEA_RTP_STATUS_COUNT
} cardea_rtp_status;

/* Stable short name ("ext-length"), for logs and counters. */
const char *cardea_rtp_status_name(cardea_rtp_status status);

/* The fixed 12-byte header as it is on the wire (network byte order).
 * Packed, so it can be laid over any byte buffer; use the accessors. Only
 * lay it over a buffer that cardea_rtp_parse() accepted (or that holds at
 * least 12 bytes). */
typedef struct __attribute__((packed)) cardea_rtp_header {
	uint8_t vpxcc;     /* V(2) P(1) X(1) CC(4) */
	uint8_t mpt;       /* M(1) PT(7) */
	uint16_t seq_be;
	uint32_t ts_be;
	uint32_t ssrc_be;
} cardea_rtp_header;

static inline uint8_t cardea_rtp_header_version(const cardea_rtp_header *h) {
	return h->vpxcc >> 6;
}
static inline uint8_t cardea_rtp_header_pt(const cardea_rtp_header *h) {
	return h->mpt & 0x7F;
}
static inline bool cardea_rtp_header_marker(const cardea_rtp_header *h) {
	return (h->mpt & 0x80) != 0;
}
static inline uint16_t cardea_rtp_header_seq(const cardea_rtp_header *h) {
	return ntohs(h->seq_be);
}
static inline uint32_t cardea_rtp_header_timestamp(const cardea_rtp_header *h) {
	return ntohl(h->ts_be);
}
static inline uint32_t cardea_rtp_header_ssrc(const cardea_rtp_header *h) {
	return ntohl(h->ssrc_be);
}

/* One indexed header extension element. offset is from the packet start. */
typedef struct cardea_rtp_ext_elem {
	uint8_t id;
	uint8_t len;
	uint16_t offset;
} cardea_rtp_ext_elem;

/* What cardea_rtp_parse() learned. Filled only on CARDEA_RTP_OK. */
typedef struct cardea_rtp_info {
	const uint8_t *buf;      /* borrowed: the parsed packet */
	uint16_t len;            /* whole packet */
	uint32_t ssrc;
	uint32_t timestamp;
	uint16_t seq;
	uint8_t pt;
	bool marker;
	uint8_t csrc_count;
	uint16_t header_len;     /* fixed header + CSRCs + extension block */
	uint16_t payload_offset; /* == header_len */
	uint16_t payload_len;    /* without padding; may be 0 (padding-only probes) */
	uint8_t padding_len;     /* 0 when P is clear */
	/* Extension block (X set): the 4-byte header is at ext_offset, its data
	 * (ext_len bytes, a multiple of 4) follows. */
	bool has_ext;
	uint16_t ext_profile;
	uint16_t ext_offset;
	uint16_t ext_len;
	uint8_t ext_count;       /* elements in ext[] */
	bool ext_overflow;       /* more elements than ext[] holds */
	cardea_rtp_ext_elem ext[CARDEA_RTP_MAX_EXT_ELEMS];
} cardea_rtp_info;

/* ---- Parsing ---- */

/* Validates buf[0..len) as an RTP packet and fills *out. For one-byte
 * (0xBEDE) and two-byte (0x100x) blocks every element is checked to lie
 * inside the block; other profiles are kept opaque. */
cardea_rtp_status cardea_rtp_parse(const uint8_t *buf, size_t len, cardea_rtp_info *out);

/* Finds the element with this id (1..14 one-byte, 1..255 two-byte). *data
 * points into info->buf; for the in-place setters cast the constness away
 * only if you own the buffer. */
cardea_rtp_status cardea_rtp_ext_find(const cardea_rtp_info *info, uint8_t id,
	const uint8_t **data, uint8_t *len);

/* Typed readers. Strings (mid/rid/repaired-rid) are copied NUL-terminated
 * into out (cap includes the NUL; at most 255 chars + NUL). */
cardea_rtp_status cardea_rtp_ext_get_string(const cardea_rtp_info *info, uint8_t id, char *out, size_t cap);
cardea_rtp_status cardea_rtp_ext_get_abs_send_time(const cardea_rtp_info *info, uint8_t id, uint32_t *ast24);
cardea_rtp_status cardea_rtp_ext_get_transport_seq(const cardea_rtp_info *info, uint8_t id, uint16_t *seq);
/* level is -dBov 0..127 (0 loudest); voice is the V flag. */
cardea_rtp_status cardea_rtp_ext_get_audio_level(const cardea_rtp_info *info, uint8_t id, bool *voice, uint8_t *level);
/* CVO (3GPP TS 26.114): camera (C), flip (F), rotation in degrees 0/90/180/270. */
cardea_rtp_status cardea_rtp_ext_get_video_orientation(const cardea_rtp_info *info, uint8_t id,
	bool *camera, bool *flip, uint16_t *rotation);

/* ---- In-place rewriting (packet layout unchanged) ----
 * buf must be the buffer info was parsed from. The extension setters need an
 * element of the right size to be present already. */
void cardea_rtp_set_seq(uint8_t *buf, uint16_t seq);
void cardea_rtp_set_timestamp(uint8_t *buf, uint32_t ts);
void cardea_rtp_set_ssrc(uint8_t *buf, uint32_t ssrc);
void cardea_rtp_set_pt(uint8_t *buf, uint8_t pt);
void cardea_rtp_set_marker(uint8_t *buf, bool marker);
cardea_rtp_status cardea_rtp_ext_set_abs_send_time(uint8_t *buf, const cardea_rtp_info *info, uint8_t id, uint32_t ast24);
cardea_rtp_status cardea_rtp_ext_set_transport_seq(uint8_t *buf, const cardea_rtp_info *info, uint8_t id, uint16_t seq);
/* The element must have exactly strlen(value) bytes (a different length
 * needs a new block: use the writer below). */
cardea_rtp_status cardea_rtp_ext_set_string(uint8_t *buf, const cardea_rtp_info *info, uint8_t id, const char *value);

/* Exchanges ids a and b on every element of buf's (parsed into info)
 * one- or two-byte block, in place: a forwarded packet's extensions take the
 * receiver's negotiated ids. Ids above 14 cannot be written in a one-byte
 * block (CARDEA_RTP_ERR_ARGS, nothing changed). */
cardea_rtp_status cardea_rtp_ext_swap_ids(uint8_t *buf, const cardea_rtp_info *info, uint8_t a, uint8_t b);

/* abs-send-time is 6.18 fixed-point seconds, 24 bits (wraps every 64 s). */
uint32_t cardea_rtp_abs_send_time_from_us(int64_t us);

/* ---- Building a new extension block ----
 * Elements are appended to a caller buffer; finish() pads to 32 bits and
 * writes the 4-byte block header, giving a block for cardea_rtp_rewrite().
 * Use the one-byte form unless an element is longer than 16 bytes or an id
 * above 14 is needed (the peer must have signalled a=extmap-allow-mixed). */
typedef struct cardea_rtp_ext_writer {
	uint8_t *buf;            /* borrowed */
	size_t cap;
	size_t len;              /* bytes used, incl. the 4-byte block header */
	bool two_byte;
	bool failed;             /* a previous add did not fit: finish() fails */
} cardea_rtp_ext_writer;

void cardea_rtp_ext_writer_init(cardea_rtp_ext_writer *w, uint8_t *buf, size_t cap, bool two_byte);
cardea_rtp_status cardea_rtp_ext_writer_add(cardea_rtp_ext_writer *w, uint8_t id, const void *data, size_t len);
cardea_rtp_status cardea_rtp_ext_writer_add_string(cardea_rtp_ext_writer *w, uint8_t id, const char *value);
cardea_rtp_status cardea_rtp_ext_writer_add_abs_send_time(cardea_rtp_ext_writer *w, uint8_t id, uint32_t ast24);
cardea_rtp_status cardea_rtp_ext_writer_add_transport_seq(cardea_rtp_ext_writer *w, uint8_t id, uint16_t seq);
cardea_rtp_status cardea_rtp_ext_writer_add_audio_level(cardea_rtp_ext_writer *w, uint8_t id, bool voice, uint8_t level);
cardea_rtp_status cardea_rtp_ext_writer_add_video_orientation(cardea_rtp_ext_writer *w, uint8_t id,
	bool camera, bool flip, uint16_t rotation);
/* Returns the block length (0 when there are no elements: send no block),
 * or -1 when an add failed or the padding does not fit. */
int cardea_rtp_ext_writer_finish(cardea_rtp_ext_writer *w);

/* Copies the packet in info into out with a different extension block
 * (ext_block/ext_block_len from the writer; NULL/0 drops the block) and
 * returns the new length, or -1 if cap is too small. CSRCs, payload and
 * padding are kept; seq/ts/ssrc/pt can then be set with the setters above. */
int cardea_rtp_rewrite(const cardea_rtp_info *info, const uint8_t *ext_block, size_t ext_block_len,
	uint8_t *out, size_t cap);

/* ---- Demultiplexing (RFC 7983, RFC 5761) ---- */
typedef enum cardea_packet_kind {
	CARDEA_PACKET_UNKNOWN = 0,
	CARDEA_PACKET_STUN,      /* first byte 0..3 */
	CARDEA_PACKET_DTLS,      /* 20..63 */
	CARDEA_PACKET_RTP,       /* 128..191, second byte not RTCP */
	CARDEA_PACKET_RTCP,      /* 128..191, second byte 192..223 */
} cardea_packet_kind;

cardea_packet_kind cardea_packet_classify(const uint8_t *buf, size_t len);
bool cardea_packet_is_rtp(const uint8_t *buf, size_t len);
bool cardea_packet_is_rtcp(const uint8_t *buf, size_t len);

/* ---- Sequence numbers ---- */

/* a - b as a signed distance on the 16-bit circle (-32768..32767). */
static inline int16_t cardea_seq_diff(uint16_t a, uint16_t b) {
	return (int16_t)(uint16_t)(a - b);
}
/* true if a comes after b (wraparound-aware). */
static inline bool cardea_seq_newer(uint16_t a, uint16_t b) {
	return cardea_seq_diff(a, b) > 0;
}

/* Extends 16-bit sequence numbers to 64 bits across wraps. Reordered packets
 * (up to half the circle back) map below the newest value. Zero-initialise. */
typedef struct cardea_seq_unwrapper {
	int64_t last;
	bool init;
} cardea_seq_unwrapper;
int64_t cardea_seq_unwrap(cardea_seq_unwrapper *u, uint16_t seq);

/* The same for 32-bit RTP timestamps. */
typedef struct cardea_ts_unwrapper {
	int64_t last;
	bool init;
} cardea_ts_unwrapper;
int64_t cardea_ts_unwrap(cardea_ts_unwrapper *u, uint32_t ts);

/* ---- RTX (RFC 4588) ---- */

/* Builds the RTX form of the packet in info into out: same header and
 * extension block with rtx_pt/rtx_ssrc/rtx_seq, the original seq (OSN) as
 * the first two payload bytes, then the original payload. Padding is
 * dropped. Returns the length or -1 if cap is too small. */
int cardea_rtx_build(const cardea_rtp_info *info, uint8_t rtx_pt, uint32_t rtx_ssrc, uint16_t rtx_seq,
	uint8_t *out, size_t cap);

/* Turns the RTX packet in buf (parsed into info) back into the original in
 * place: seq = OSN, pt/ssrc as given, the OSN removed. *new_len is the new
 * packet length; re-parse before further use. */
cardea_rtp_status cardea_rtx_unwrap(uint8_t *buf, const cardea_rtp_info *info, uint8_t orig_pt,
	uint32_t orig_ssrc, size_t *new_len);

#endif
