/* RTCP for the media core: compound packet walking and validation, parsers
 * and writers for the packet types a WebRTC leg uses, a compound builder, and
 * the per-stream statistics behind SR/RR (RFC 3550 A.1, A.3, A.8).
 *
 * Types: SR, RR, SDES (skipped; a CNAME writer), BYE, APP (skipped),
 * RTPFB generic NACK (RFC 4585) and transport-wide CC feedback
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01), PSFB PLI and FIR
 * (RFC 5104) and REMB (draft-alvestrand-rmcat-remb).
 *
 * Parsers and writers are pure (STYLE.md rule 18): no I/O, no logging, no
 * allocation, loops bounded by the input length. Writers take a caller buffer
 * and its capacity and return the bytes written, or 0 when the packet does
 * not fit or the arguments are invalid (no RTCP packet is shorter than 4
 * bytes, so 0 is never a valid length).
 *
 * Stats objects hold no pointers; each belongs to the loop thread of its leg
 * (DESIGN.md: one peer connection, one thread) and takes times from the
 * caller, so tests can drive them with hand-picked clocks.
 */
#ifndef CARDEA_WEBRTC_RTCP_H
#define CARDEA_WEBRTC_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "webrtc/rtp.h"

/* Packet types */
#define CARDEA_RTCP_SR    200
#define CARDEA_RTCP_RR    201
#define CARDEA_RTCP_SDES  202
#define CARDEA_RTCP_BYE   203
#define CARDEA_RTCP_APP   204
#define CARDEA_RTCP_RTPFB 205
#define CARDEA_RTCP_PSFB  206
#define CARDEA_RTCP_XR    207
/* Feedback message types (FMT, in the count field) */
#define CARDEA_RTCP_RTPFB_NACK 1
#define CARDEA_RTCP_RTPFB_TWCC 15
#define CARDEA_RTCP_PSFB_PLI   1
#define CARDEA_RTCP_PSFB_FIR   4
#define CARDEA_RTCP_PSFB_AFB   15   /* application layer feedback: REMB */

#define CARDEA_RTCP_MAX_REPORTS 31  /* 5-bit report count */

typedef enum cardea_rtcp_status {
	CARDEA_RTCP_OK = 0,
	CARDEA_RTCP_ERR_ARGS,          /* caller bug: NULL, wrong packet type for this parser */
	CARDEA_RTCP_ERR_TOO_SHORT,     /* fewer than 4 bytes where a header should be */
	CARDEA_RTCP_ERR_VERSION,       /* V != 2 */
	CARDEA_RTCP_ERR_PT,            /* packet type outside 192..223 */
	CARDEA_RTCP_ERR_LENGTH,        /* length field runs past the end */
	CARDEA_RTCP_ERR_PADDING,       /* padding count 0 or larger than the body */
	CARDEA_RTCP_ERR_BODY,          /* body too short for its type / counts */
	CARDEA_RTCP_ERR_FORMAT,        /* bad content (REMB id, reserved TWCC symbol ...) */
	CARDEA_RTCP_ERR_NO_SPACE,      /* caller array too small: results truncated */
	CARDEA_RTCP_STATUS_COUNT
} cardea_rtcp_status;

const char *cardea_rtcp_status_name(cardea_rtcp_status status);

/* ---- Compound walking ---- */

/* One packet inside a compound. Pointers borrow the compound's buffer. */
typedef struct cardea_rtcp_pkt {
	const uint8_t *data;   /* the 4-byte common header */
	size_t len;            /* whole packet, (length + 1) * 4 */
	uint8_t pt;
	uint8_t count;         /* RC / SC / FMT */
	const uint8_t *body;   /* after the common header */
	size_t body_len;       /* padding excluded */
} cardea_rtcp_pkt;

/* Walks a compound packet. init() validates every common header first, so a
 * compound with any broken header yields no packet at all (it->error says
 * why): half-processing an attacker's compound is never useful. */
typedef struct cardea_rtcp_iter {
	const uint8_t *buf;    /* borrowed */
	size_t len;
	size_t pos;
	unsigned count;        /* packets in the compound (valid when error == OK) */
	cardea_rtcp_status error;
} cardea_rtcp_iter;

cardea_rtcp_status cardea_rtcp_iter_init(cardea_rtcp_iter *it, const uint8_t *buf, size_t len);
bool cardea_rtcp_next(cardea_rtcp_iter *it, cardea_rtcp_pkt *pkt);

/* Header check of a whole compound: version, types, lengths summing exactly
 * to len, padding. Accepts reduced-size RTCP (RFC 5506: no SR/RR first). */
cardea_rtcp_status cardea_rtcp_validate(const uint8_t *buf, size_t len, unsigned *count);

/* ---- SR / RR ---- */

typedef struct cardea_rtcp_report_block {
	uint32_t ssrc;
	uint8_t fraction_lost;     /* loss since the previous report, /256 */
	int32_t cumulative_lost;   /* 24-bit signed */
	uint32_t ext_highest_seq;
	uint32_t jitter;           /* RTP timestamp units */
	uint32_t lsr;              /* middle 32 bits of the last SR's NTP time */
	uint32_t dlsr;             /* 1/65536 s since that SR */
} cardea_rtcp_report_block;

typedef struct cardea_rtcp_sr {
	uint32_t ssrc;
	uint32_t ntp_sec;
	uint32_t ntp_frac;
	uint32_t rtp_ts;
	uint32_t packet_count;
	uint32_t octet_count;
	uint8_t report_count;
	cardea_rtcp_report_block reports[CARDEA_RTCP_MAX_REPORTS];
} cardea_rtcp_sr;

typedef struct cardea_rtcp_rr {
	uint32_t ssrc;
	uint8_t report_count;
	cardea_rtcp_report_block reports[CARDEA_RTCP_MAX_REPORTS];
} cardea_rtcp_rr;

cardea_rtcp_status cardea_rtcp_parse_sr(const cardea_rtcp_pkt *pkt, cardea_rtcp_sr *out);
cardea_rtcp_status cardea_rtcp_parse_rr(const cardea_rtcp_pkt *pkt, cardea_rtcp_rr *out);
size_t cardea_rtcp_write_sr(uint8_t *buf, size_t cap, const cardea_rtcp_sr *sr);
size_t cardea_rtcp_write_rr(uint8_t *buf, size_t cap, const cardea_rtcp_rr *rr);

/* ---- SDES, BYE ---- */

/* One chunk with a CNAME item (1..255 bytes). */
size_t cardea_rtcp_write_sdes_cname(uint8_t *buf, size_t cap, uint32_t ssrc, const char *cname);
/* Copies up to cap SSRCs; *n is how many were copied. NO_SPACE if more. */
cardea_rtcp_status cardea_rtcp_parse_bye(const cardea_rtcp_pkt *pkt, uint32_t *ssrcs, size_t cap, size_t *n);
size_t cardea_rtcp_write_bye(uint8_t *buf, size_t cap, const uint32_t *ssrcs, size_t n);

/* ---- Feedback (RFC 4585 common part) ---- */

typedef struct cardea_rtcp_fb {
	uint32_t sender_ssrc;
	uint32_t media_ssrc;
	const uint8_t *fci;    /* borrowed */
	size_t fci_len;
} cardea_rtcp_fb;

/* For RTPFB/PSFB packets: the two SSRCs and the FCI. */
cardea_rtcp_status cardea_rtcp_parse_fb(const cardea_rtcp_pkt *pkt, cardea_rtcp_fb *out);

/* Generic NACK: expands every PID/BLP pair into sequence numbers, in packet
 * order, up to cap (NO_SPACE when truncated). */
cardea_rtcp_status cardea_rtcp_parse_nack(const cardea_rtcp_pkt *pkt, cardea_rtcp_fb *fb,
	uint16_t *seqs, size_t cap, size_t *n);
/* Packs seqs (ascending, wraparound-aware, as the NACK tracker yields them)
 * into PID/BLP pairs: each pair covers PID and the 16 seqs after it. */
size_t cardea_rtcp_write_nack(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
	const uint16_t *seqs, size_t n);
/* How many bytes cardea_rtcp_write_nack() needs for these seqs. */
size_t cardea_rtcp_nack_size(const uint16_t *seqs, size_t n);

size_t cardea_rtcp_write_pli(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc);

typedef struct cardea_rtcp_fir_entry {
	uint32_t ssrc;
	uint8_t seq_nr;
} cardea_rtcp_fir_entry;
cardea_rtcp_status cardea_rtcp_parse_fir(const cardea_rtcp_pkt *pkt, cardea_rtcp_fb *fb,
	cardea_rtcp_fir_entry *entries, size_t cap, size_t *n);
/* One FCI entry; the header's media SSRC is 0 as RFC 5104 4.3.1.2 asks. */
size_t cardea_rtcp_write_fir(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t seq_nr);

/* REMB: bitrate in bits/s (saturates at UINT64_MAX), SSRCs up to cap. */
typedef struct cardea_rtcp_remb {
	uint32_t sender_ssrc;
	uint64_t bitrate;
	uint8_t ssrc_count;    /* as carried in the packet */
} cardea_rtcp_remb;
/* ERR_FORMAT when the AFB is not a REMB (no "REMB" identifier). */
cardea_rtcp_status cardea_rtcp_parse_remb(const cardea_rtcp_pkt *pkt, cardea_rtcp_remb *out,
	uint32_t *ssrcs, size_t cap, size_t *n);
/* The 18-bit mantissa / 6-bit exponent form, rounded down. */
void cardea_rtcp_remb_encode(uint64_t bitrate, uint8_t *exp, uint32_t *mantissa);
size_t cardea_rtcp_write_remb(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint64_t bitrate,
	const uint32_t *ssrcs, size_t n);

/* ---- Transport-wide congestion control feedback ---- */

/* Delta unit and reference time unit of the feedback format. */
#define CARDEA_TWCC_DELTA_US 250
#define CARDEA_TWCC_REF_US   64000

typedef struct cardea_rtcp_twcc {
	uint32_t sender_ssrc;
	uint32_t media_ssrc;
	uint16_t base_seq;
	uint16_t status_count;
	int32_t ref_time;      /* 24-bit signed, units of 64 ms */
	uint8_t fb_count;
} cardea_rtcp_twcc;

/* One decoded packet status. recv_us is the arrival time relative to time 0
 * of the reference clock (ref_time * 64 ms plus the running deltas). */
typedef struct cardea_twcc_status {
	uint16_t seq;
	bool received;
	int64_t recv_us;
} cardea_twcc_status;

/* Header always; with out != NULL also the statuses, up to cap (NO_SPACE if
 * truncated). Chunks and deltas are checked against the packet either way. */
cardea_rtcp_status cardea_rtcp_parse_twcc(const cardea_rtcp_pkt *pkt, cardea_rtcp_twcc *hdr,
	cardea_twcc_status *out, size_t cap, size_t *n);

/* A packet that arrived: transport-wide seq (unwrapped) and arrival time. */
typedef struct cardea_twcc_arrival {
	int64_t seq;
	int64_t arrival_us;
} cardea_twcc_arrival;

/* Writes one feedback covering base_seq up to the last arrival it takes from
 * arrivals[0..n) (ascending seq, no duplicates, all >= base_seq and
 * arrival_us >= 0); every seq in that range without an arrival is reported
 * as not received. Stops early when the packet would not fit in cap, a delta
 * would not fit in 16 bits, the span would exceed 65535 or 1024 arrivals
 * were taken; *consumed says how many arrivals went in (at least one on
 * success), so the caller starts the next feedback after them. */
size_t cardea_rtcp_write_twcc(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
	uint8_t fb_count, int64_t base_seq, const cardea_twcc_arrival *arrivals, size_t n, size_t *consumed);
#define CARDEA_TWCC_MAX_ARRIVALS 1024

/* ---- Compound builder ----
 * Usage: a writer fills the free tail, commit() adds what it wrote:
 *   cardea_rtcp_builder_commit(&b, cardea_rtcp_write_pli(cardea_rtcp_builder_tail(&b),
 *       cardea_rtcp_builder_room(&b), me, them));
 * (tail and room are independent, so argument order does not matter).
 * RFC 3550 6.1 wants an SR or RR first; unless reduced_size is set the
 * builder puts an empty RR (from sender_ssrc) in front when the first packet
 * committed is something else. */
typedef struct cardea_rtcp_builder {
	uint8_t *buf;          /* borrowed */
	size_t cap;
	size_t len;
	uint32_t sender_ssrc;
	bool reduced_size;
	bool failed;           /* a commit did not fit: finish() fails */
} cardea_rtcp_builder;

void cardea_rtcp_builder_init(cardea_rtcp_builder *b, uint8_t *buf, size_t cap, uint32_t sender_ssrc,
	bool reduced_size);
uint8_t *cardea_rtcp_builder_tail(const cardea_rtcp_builder *b);
/* Free bytes at the tail (0 once failed). */
size_t cardea_rtcp_builder_room(const cardea_rtcp_builder *b);
/* n is what the writer returned (0 marks the builder failed). */
bool cardea_rtcp_builder_commit(cardea_rtcp_builder *b, size_t n);
/* The compound length, or 0 if empty or anything failed. */
size_t cardea_rtcp_builder_finish(cardea_rtcp_builder *b);

/* ---- NTP time ---- */

/* Unix time in microseconds to NTP seconds/fraction (RFC 5905 era 0). */
void cardea_ntp_from_unix_us(int64_t unix_us, uint32_t *sec, uint32_t *frac);
static inline uint32_t cardea_ntp_mid(uint32_t sec, uint32_t frac) {
	return (sec << 16) | (frac >> 16);
}

/* ---- Per-stream statistics ---- */

/* Receiving side of one SSRC: feeds RR report blocks. */
typedef struct cardea_rtp_recv_stats {
	uint32_t ssrc;
	uint32_t clock_rate;
	bool init;
	uint16_t max_seq;
	uint32_t cycles;           /* wraps << 16 */
	uint32_t base_seq;
	uint32_t bad_seq;          /* RFC 3550 A.1 restart candidate */
	uint32_t received;
	uint32_t expected_prior;
	uint32_t received_prior;
	uint64_t octets;           /* payload bytes */
	uint64_t reordered;        /* arrived after a newer seq */
	uint64_t restarts;         /* sequence restarts accepted (A.1 bad_seq) */
	uint32_t jitter_q4;        /* interarrival jitter, RTP units << 4 (A.8) */
	uint32_t last_transit;
	bool have_transit;
	uint32_t last_sr_mid;      /* LSR */
	int64_t last_sr_us;        /* when that SR arrived, caller clock */
	bool have_sr;
} cardea_rtp_recv_stats;

void cardea_rtp_recv_stats_init(cardea_rtp_recv_stats *s, uint32_t ssrc, uint32_t clock_rate);
/* Every incoming packet of the stream, in arrival order. Jitter is updated
 * only by in-order packets (a retransmission or reordered packet would count
 * its delay as jitter). */
void cardea_rtp_recv_stats_update(cardea_rtp_recv_stats *s, uint16_t seq, uint32_t rtp_ts,
	size_t payload_len, int64_t arrival_us);
void cardea_rtp_recv_stats_on_sr(cardea_rtp_recv_stats *s, uint32_t ntp_sec, uint32_t ntp_frac, int64_t now_us);
/* Fills a report block and starts a new interval for fraction_lost.
 * Returns false (nothing filled) before the first packet. */
bool cardea_rtp_recv_stats_report(cardea_rtp_recv_stats *s, int64_t now_us, cardea_rtcp_report_block *out);
static inline uint32_t cardea_rtp_recv_stats_expected(const cardea_rtp_recv_stats *s) {
	return s->init ? s->cycles + s->max_seq - s->base_seq + 1 : 0;
}

/* Sending side of one SSRC: feeds SRs and learns RTT from the peer's RRs. */
#define CARDEA_RTCP_SR_HISTORY 4
typedef struct cardea_rtp_send_stats {
	uint32_t ssrc;
	uint32_t clock_rate;
	uint32_t packets;
	uint32_t octets;           /* payload bytes, as the SR counts them */
	bool have_ts;
	uint32_t last_ts;
	int64_t last_ts_us;        /* when last_ts was sent, caller clock */
	struct {
		uint32_t mid;
		int64_t sent_us;
		bool used;
	} sr_sent[CARDEA_RTCP_SR_HISTORY];  /* to match an RR's LSR */
	unsigned sr_next;
	/* From the latest report block about this SSRC. */
	int64_t rtt_us;            /* -1 until known */
	uint8_t fraction_lost;
	int32_t cumulative_lost;
	uint32_t jitter;
} cardea_rtp_send_stats;

void cardea_rtp_send_stats_init(cardea_rtp_send_stats *s, uint32_t ssrc, uint32_t clock_rate);
void cardea_rtp_send_stats_update(cardea_rtp_send_stats *s, uint32_t rtp_ts, size_t payload_len, int64_t now_us);
/* Fills the sender-info part of an SR (report_count 0): NTP from wall_us,
 * RTP time extrapolated from the last packet to now_us. Remembers the SR for
 * RTT. */
void cardea_rtp_send_stats_build_sr(cardea_rtp_send_stats *s, int64_t now_us, int64_t wall_us, cardea_rtcp_sr *out);
/* A report block about this stream arrived. Returns true when it gave an RTT
 * sample (its LSR matched an SR sent from here). */
bool cardea_rtp_send_stats_on_report(cardea_rtp_send_stats *s, const cardea_rtcp_report_block *rb, int64_t now_us);

#endif
