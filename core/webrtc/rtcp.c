/* RTCP parsing, writing, compound building and SR/RR statistics.
 * See rtcp.h for the contract. Pure code: no allocation, no logging. */
#include <string.h>

#include "webrtc/rtcp.h"

static inline uint16_t rd16(const uint8_t *p) {
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t rd24(const uint8_t *p) {
	return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}
static inline uint32_t rd32(const uint8_t *p) {
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v) {
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void wr24(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}
static inline void wr32(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline int32_t sext24(uint32_t v) {
	return (v & 0x800000) ? (int32_t)(v | 0xFF000000u) : (int32_t)v;
}

/* Common header; len is the whole packet in bytes, a multiple of 4. */
static void wr_header(uint8_t *p, bool padding, uint8_t count, uint8_t pt, size_t len) {
	p[0] = (uint8_t)(0x80 | (padding ? 0x20 : 0) | (count & 0x1F));
	p[1] = pt;
	wr16(p + 2, (uint16_t)(len / 4 - 1));
}

static const char *const status_names[CARDEA_RTCP_STATUS_COUNT] = {
	[CARDEA_RTCP_OK] = "ok",
	[CARDEA_RTCP_ERR_ARGS] = "args",
	[CARDEA_RTCP_ERR_TOO_SHORT] = "too-short",
	[CARDEA_RTCP_ERR_VERSION] = "version",
	[CARDEA_RTCP_ERR_PT] = "pt",
	[CARDEA_RTCP_ERR_LENGTH] = "length",
	[CARDEA_RTCP_ERR_PADDING] = "padding",
	[CARDEA_RTCP_ERR_BODY] = "body",
	[CARDEA_RTCP_ERR_FORMAT] = "format",
	[CARDEA_RTCP_ERR_NO_SPACE] = "no-space",
};

const char *cardea_rtcp_status_name(cardea_rtcp_status status) {
	if ((unsigned)status >= CARDEA_RTCP_STATUS_COUNT)
		return "unknown";
	return status_names[status];
}

/* ---- Compound walking ---- */

/* Checks the header at buf[pos] and fills pkt. A packet is at least 4 bytes,
 * so every accepted header moves the walk forward: no zero-length loops. */
static cardea_rtcp_status check_header(const uint8_t *buf, size_t len, size_t pos, cardea_rtcp_pkt *pkt) {
	if (len - pos < 4)
		return CARDEA_RTCP_ERR_TOO_SHORT;
	const uint8_t *p = buf + pos;
	if ((p[0] >> 6) != 2)
		return CARDEA_RTCP_ERR_VERSION;
	if (p[1] < 192 || p[1] > 223)
		return CARDEA_RTCP_ERR_PT;
	size_t plen = ((size_t)rd16(p + 2) + 1) * 4;
	if (plen > len - pos)
		return CARDEA_RTCP_ERR_LENGTH;
	size_t body_len = plen - 4;
	/* Padding is tolerated in any packet, not only the last: libwebrtc pads
	 * its transport-cc feedback that way. */
	if (p[0] & 0x20) {
		uint8_t pad = p[plen - 1];
		if (pad == 0 || pad > body_len)
			return CARDEA_RTCP_ERR_PADDING;
		body_len -= pad;
	}
	pkt->data = p;
	pkt->len = plen;
	pkt->pt = p[1];
	pkt->count = p[0] & 0x1F;
	pkt->body = p + 4;
	pkt->body_len = body_len;
	return CARDEA_RTCP_OK;
}

cardea_rtcp_status cardea_rtcp_validate(const uint8_t *buf, size_t len, unsigned *count) {
	unsigned n = 0;
	if (buf == NULL)
		return CARDEA_RTCP_ERR_ARGS;
	if (len == 0)
		return CARDEA_RTCP_ERR_TOO_SHORT;
	size_t pos = 0;
	while (pos < len) {
		cardea_rtcp_pkt pkt;
		cardea_rtcp_status st = check_header(buf, len, pos, &pkt);
		if (st != CARDEA_RTCP_OK)
			return st;
		pos += pkt.len;
		n++;
	}
	if (count != NULL)
		*count = n;
	return CARDEA_RTCP_OK;
}

cardea_rtcp_status cardea_rtcp_iter_init(cardea_rtcp_iter *it, const uint8_t *buf, size_t len) {
	it->buf = buf;
	it->len = len;
	it->pos = 0;
	it->count = 0;
	it->error = cardea_rtcp_validate(buf, len, &it->count);
	return it->error;
}

bool cardea_rtcp_next(cardea_rtcp_iter *it, cardea_rtcp_pkt *pkt) {
	if (it->error != CARDEA_RTCP_OK || it->pos >= it->len)
		return false;
	if (check_header(it->buf, it->len, it->pos, pkt) != CARDEA_RTCP_OK)
		return false;  /* unreachable after validate, kept as a guard */
	it->pos += pkt->len;
	return true;
}

/* ---- SR / RR ---- */

static void parse_blocks(const uint8_t *p, uint8_t count, cardea_rtcp_report_block *out) {
	for (unsigned i = 0; i < count; i++, p += 24) {
		out[i].ssrc = rd32(p);
		out[i].fraction_lost = p[4];
		out[i].cumulative_lost = sext24(rd24(p + 5));
		out[i].ext_highest_seq = rd32(p + 8);
		out[i].jitter = rd32(p + 12);
		out[i].lsr = rd32(p + 16);
		out[i].dlsr = rd32(p + 20);
	}
}

static void write_blocks(uint8_t *p, uint8_t count, const cardea_rtcp_report_block *in) {
	for (unsigned i = 0; i < count; i++, p += 24) {
		int32_t lost = in[i].cumulative_lost;
		if (lost > 0x7FFFFF)
			lost = 0x7FFFFF;
		if (lost < -0x800000)
			lost = -0x800000;
		wr32(p, in[i].ssrc);
		p[4] = in[i].fraction_lost;
		wr24(p + 5, (uint32_t)lost & 0xFFFFFF);
		wr32(p + 8, in[i].ext_highest_seq);
		wr32(p + 12, in[i].jitter);
		wr32(p + 16, in[i].lsr);
		wr32(p + 20, in[i].dlsr);
	}
}

cardea_rtcp_status cardea_rtcp_parse_sr(const cardea_rtcp_pkt *pkt, cardea_rtcp_sr *out) {
	if (pkt == NULL || out == NULL || pkt->pt != CARDEA_RTCP_SR)
		return CARDEA_RTCP_ERR_ARGS;
	/* Profile-specific extensions may follow the blocks: allowed, ignored. */
	if (pkt->body_len < 24 + 24u * pkt->count)
		return CARDEA_RTCP_ERR_BODY;
	const uint8_t *b = pkt->body;
	out->ssrc = rd32(b);
	out->ntp_sec = rd32(b + 4);
	out->ntp_frac = rd32(b + 8);
	out->rtp_ts = rd32(b + 12);
	out->packet_count = rd32(b + 16);
	out->octet_count = rd32(b + 20);
	out->report_count = pkt->count;
	parse_blocks(b + 24, pkt->count, out->reports);
	return CARDEA_RTCP_OK;
}

cardea_rtcp_status cardea_rtcp_parse_rr(const cardea_rtcp_pkt *pkt, cardea_rtcp_rr *out) {
	if (pkt == NULL || out == NULL || pkt->pt != CARDEA_RTCP_RR)
		return CARDEA_RTCP_ERR_ARGS;
	if (pkt->body_len < 4 + 24u * pkt->count)
		return CARDEA_RTCP_ERR_BODY;
	out->ssrc = rd32(pkt->body);
	out->report_count = pkt->count;
	parse_blocks(pkt->body + 4, pkt->count, out->reports);
	return CARDEA_RTCP_OK;
}

size_t cardea_rtcp_write_sr(uint8_t *buf, size_t cap, const cardea_rtcp_sr *sr) {
	if (buf == NULL || sr == NULL || sr->report_count > CARDEA_RTCP_MAX_REPORTS)
		return 0;
	size_t len = 28 + 24u * sr->report_count;
	if (len > cap)
		return 0;
	wr_header(buf, false, sr->report_count, CARDEA_RTCP_SR, len);
	wr32(buf + 4, sr->ssrc);
	wr32(buf + 8, sr->ntp_sec);
	wr32(buf + 12, sr->ntp_frac);
	wr32(buf + 16, sr->rtp_ts);
	wr32(buf + 20, sr->packet_count);
	wr32(buf + 24, sr->octet_count);
	write_blocks(buf + 28, sr->report_count, sr->reports);
	return len;
}

size_t cardea_rtcp_write_rr(uint8_t *buf, size_t cap, const cardea_rtcp_rr *rr) {
	if (buf == NULL || rr == NULL || rr->report_count > CARDEA_RTCP_MAX_REPORTS)
		return 0;
	size_t len = 8 + 24u * rr->report_count;
	if (len > cap)
		return 0;
	wr_header(buf, false, rr->report_count, CARDEA_RTCP_RR, len);
	wr32(buf + 4, rr->ssrc);
	write_blocks(buf + 8, rr->report_count, rr->reports);
	return len;
}

/* ---- SDES, BYE ---- */

size_t cardea_rtcp_write_sdes_cname(uint8_t *buf, size_t cap, uint32_t ssrc, const char *cname) {
	if (buf == NULL || cname == NULL)
		return 0;
	size_t n = strlen(cname);
	if (n == 0 || n > 255)
		return 0;
	/* header, SSRC, CNAME item, then at least one NUL ending the item list,
	 * padded to a word (RFC 3550 6.5). */
	size_t len = (4 + 4 + 2 + n + 1 + 3) & ~(size_t)3;
	if (len > cap)
		return 0;
	memset(buf, 0, len);
	wr_header(buf, false, 1, CARDEA_RTCP_SDES, len);
	wr32(buf + 4, ssrc);
	buf[8] = 1;  /* CNAME */
	buf[9] = (uint8_t)n;
	memcpy(buf + 10, cname, n);
	return len;
}

cardea_rtcp_status cardea_rtcp_parse_bye(const cardea_rtcp_pkt *pkt, uint32_t *ssrcs, size_t cap, size_t *n) {
	if (pkt == NULL || n == NULL || pkt->pt != CARDEA_RTCP_BYE || (cap > 0 && ssrcs == NULL))
		return CARDEA_RTCP_ERR_ARGS;
	*n = 0;
	if (pkt->body_len < 4u * pkt->count)
		return CARDEA_RTCP_ERR_BODY;
	size_t i;
	for (i = 0; i < pkt->count && i < cap; i++)
		ssrcs[i] = rd32(pkt->body + 4 * i);
	*n = i;
	return i < pkt->count ? CARDEA_RTCP_ERR_NO_SPACE : CARDEA_RTCP_OK;
}

size_t cardea_rtcp_write_bye(uint8_t *buf, size_t cap, const uint32_t *ssrcs, size_t n) {
	if (buf == NULL || (n > 0 && ssrcs == NULL) || n > 31)
		return 0;
	size_t len = 4 + 4 * n;
	if (len > cap)
		return 0;
	wr_header(buf, false, (uint8_t)n, CARDEA_RTCP_BYE, len);
	for (size_t i = 0; i < n; i++)
		wr32(buf + 4 + 4 * i, ssrcs[i]);
	return len;
}

/* ---- Feedback ---- */

cardea_rtcp_status cardea_rtcp_parse_fb(const cardea_rtcp_pkt *pkt, cardea_rtcp_fb *out) {
	if (pkt == NULL || out == NULL || (pkt->pt != CARDEA_RTCP_RTPFB && pkt->pt != CARDEA_RTCP_PSFB))
		return CARDEA_RTCP_ERR_ARGS;
	if (pkt->body_len < 8)
		return CARDEA_RTCP_ERR_BODY;
	out->sender_ssrc = rd32(pkt->body);
	out->media_ssrc = rd32(pkt->body + 4);
	out->fci = pkt->body + 8;
	out->fci_len = pkt->body_len - 8;
	return CARDEA_RTCP_OK;
}

/* Parses the feedback header of a packet that must be (pt, fmt). */
static cardea_rtcp_status parse_fb_of(const cardea_rtcp_pkt *pkt, uint8_t pt, uint8_t fmt, cardea_rtcp_fb *out) {
	if (pkt == NULL || pkt->pt != pt || pkt->count != fmt)
		return CARDEA_RTCP_ERR_ARGS;
	return cardea_rtcp_parse_fb(pkt, out);
}

cardea_rtcp_status cardea_rtcp_parse_nack(const cardea_rtcp_pkt *pkt, cardea_rtcp_fb *fb,
		uint16_t *seqs, size_t cap, size_t *n) {
	cardea_rtcp_fb tmp;
	if (fb == NULL)
		fb = &tmp;
	if (n == NULL || (cap > 0 && seqs == NULL))
		return CARDEA_RTCP_ERR_ARGS;
	*n = 0;
	cardea_rtcp_status st = parse_fb_of(pkt, CARDEA_RTCP_RTPFB, CARDEA_RTCP_RTPFB_NACK, fb);
	if (st != CARDEA_RTCP_OK)
		return st;
	if (fb->fci_len == 0 || fb->fci_len % 4 != 0)
		return CARDEA_RTCP_ERR_BODY;
	size_t k = 0;
	for (size_t off = 0; off < fb->fci_len; off += 4) {
		uint16_t pid = rd16(fb->fci + off), blp = rd16(fb->fci + off + 2);
		if (k == cap)
			goto full;
		seqs[k++] = pid;
		for (unsigned bit = 0; bit < 16; bit++) {
			if (!(blp & (1u << bit)))
				continue;
			if (k == cap)
				goto full;
			seqs[k++] = (uint16_t)(pid + bit + 1);
		}
	}
	*n = k;
	return CARDEA_RTCP_OK;
full:
	*n = k;
	return CARDEA_RTCP_ERR_NO_SPACE;
}

/* Walks seqs the way the NACK writer packs them, calling back per pair.
 * Returns the number of pairs. */
static size_t nack_pack(const uint16_t *seqs, size_t n, uint8_t *fci) {
	size_t pairs = 0, i = 0;
	while (i < n) {
		uint16_t pid = seqs[i++], blp = 0;
		while (i < n) {
			uint16_t d = (uint16_t)(seqs[i] - pid);
			if (d == 0) {          /* duplicate */
				i++;
				continue;
			}
			if (d > 16)
				break;
			blp |= (uint16_t)(1u << (d - 1));
			i++;
		}
		if (fci != NULL) {
			wr16(fci + 4 * pairs, pid);
			wr16(fci + 4 * pairs + 2, blp);
		}
		pairs++;
	}
	return pairs;
}

size_t cardea_rtcp_nack_size(const uint16_t *seqs, size_t n) {
	if (seqs == NULL || n == 0)
		return 0;
	return 12 + 4 * nack_pack(seqs, n, NULL);
}

size_t cardea_rtcp_write_nack(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
		const uint16_t *seqs, size_t n) {
	if (buf == NULL)
		return 0;
	size_t len = cardea_rtcp_nack_size(seqs, n);
	if (len == 0 || len > cap || len / 4 - 1 > 0xFFFF)
		return 0;
	wr_header(buf, false, CARDEA_RTCP_RTPFB_NACK, CARDEA_RTCP_RTPFB, len);
	wr32(buf + 4, sender_ssrc);
	wr32(buf + 8, media_ssrc);
	nack_pack(seqs, n, buf + 12);
	return len;
}

size_t cardea_rtcp_write_pli(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc) {
	if (buf == NULL || cap < 12)
		return 0;
	wr_header(buf, false, CARDEA_RTCP_PSFB_PLI, CARDEA_RTCP_PSFB, 12);
	wr32(buf + 4, sender_ssrc);
	wr32(buf + 8, media_ssrc);
	return 12;
}

cardea_rtcp_status cardea_rtcp_parse_fir(const cardea_rtcp_pkt *pkt, cardea_rtcp_fb *fb,
		cardea_rtcp_fir_entry *entries, size_t cap, size_t *n) {
	cardea_rtcp_fb tmp;
	if (fb == NULL)
		fb = &tmp;
	if (n == NULL || (cap > 0 && entries == NULL))
		return CARDEA_RTCP_ERR_ARGS;
	*n = 0;
	cardea_rtcp_status st = parse_fb_of(pkt, CARDEA_RTCP_PSFB, CARDEA_RTCP_PSFB_FIR, fb);
	if (st != CARDEA_RTCP_OK)
		return st;
	if (fb->fci_len == 0 || fb->fci_len % 8 != 0)
		return CARDEA_RTCP_ERR_BODY;
	size_t total = fb->fci_len / 8, k;
	for (k = 0; k < total && k < cap; k++) {
		entries[k].ssrc = rd32(fb->fci + 8 * k);
		entries[k].seq_nr = fb->fci[8 * k + 4];
	}
	*n = k;
	return k < total ? CARDEA_RTCP_ERR_NO_SPACE : CARDEA_RTCP_OK;
}

size_t cardea_rtcp_write_fir(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t seq_nr) {
	if (buf == NULL || cap < 20)
		return 0;
	memset(buf, 0, 20);
	wr_header(buf, false, CARDEA_RTCP_PSFB_FIR, CARDEA_RTCP_PSFB, 20);
	wr32(buf + 4, sender_ssrc);
	wr32(buf + 12, media_ssrc);
	buf[16] = seq_nr;
	return 20;
}

cardea_rtcp_status cardea_rtcp_parse_remb(const cardea_rtcp_pkt *pkt, cardea_rtcp_remb *out,
		uint32_t *ssrcs, size_t cap, size_t *n) {
	cardea_rtcp_fb fb;
	if (out == NULL || (cap > 0 && ssrcs == NULL))
		return CARDEA_RTCP_ERR_ARGS;
	if (n != NULL)
		*n = 0;
	cardea_rtcp_status st = parse_fb_of(pkt, CARDEA_RTCP_PSFB, CARDEA_RTCP_PSFB_AFB, &fb);
	if (st != CARDEA_RTCP_OK)
		return st;
	if (fb.fci_len < 8)
		return CARDEA_RTCP_ERR_BODY;
	if (memcmp(fb.fci, "REMB", 4) != 0)
		return CARDEA_RTCP_ERR_FORMAT;
	uint8_t count = fb.fci[4];
	if (fb.fci_len < 8 + 4u * count)
		return CARDEA_RTCP_ERR_BODY;
	uint8_t exp = fb.fci[5] >> 2;
	uint64_t mantissa = ((uint64_t)(fb.fci[5] & 0x03) << 16) | rd16(fb.fci + 6);
	out->sender_ssrc = fb.sender_ssrc;
	out->ssrc_count = count;
	/* mantissa < 2^18, so any exponent up to 46 is exact. */
	if (mantissa != 0 && exp > 46)
		out->bitrate = UINT64_MAX;
	else
		out->bitrate = mantissa << exp;
	size_t k;
	for (k = 0; k < count && k < cap; k++)
		ssrcs[k] = rd32(fb.fci + 8 + 4 * k);
	if (n != NULL)
		*n = k;
	return k < count ? CARDEA_RTCP_ERR_NO_SPACE : CARDEA_RTCP_OK;
}

void cardea_rtcp_remb_encode(uint64_t bitrate, uint8_t *exp, uint32_t *mantissa) {
	uint8_t e = 0;
	while (bitrate >= (1u << 18)) {
		bitrate >>= 1;
		e++;
	}
	*exp = e;
	*mantissa = (uint32_t)bitrate;
}

size_t cardea_rtcp_write_remb(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint64_t bitrate,
		const uint32_t *ssrcs, size_t n) {
	if (buf == NULL || n > 255 || (n > 0 && ssrcs == NULL))
		return 0;
	size_t len = 20 + 4 * n;
	if (len > cap)
		return 0;
	uint8_t exp = 0;
	uint32_t mantissa = 0;
	cardea_rtcp_remb_encode(bitrate, &exp, &mantissa);
	wr_header(buf, false, CARDEA_RTCP_PSFB_AFB, CARDEA_RTCP_PSFB, len);
	wr32(buf + 4, sender_ssrc);
	wr32(buf + 8, 0);
	memcpy(buf + 12, "REMB", 4);
	buf[16] = (uint8_t)n;
	buf[17] = (uint8_t)((exp << 2) | (mantissa >> 16));
	wr16(buf + 18, (uint16_t)mantissa);
	for (size_t i = 0; i < n; i++)
		wr32(buf + 20 + 4 * i, ssrcs[i]);
	return len;
}

/* ---- Transport-wide CC feedback ----
 * Packet status symbols (2 bits): */
enum { TW_NONE = 0, TW_SMALL = 1, TW_LARGE = 2, TW_RESERVED = 3 };

/* Decodes one status chunk, appending at most `room` symbols to sym (when
 * not NULL). Returns how many symbols the chunk describes, capped at room,
 * or -1 for a reserved symbol. */
static int twcc_chunk_symbols(uint16_t chunk, size_t room, uint8_t *sym) {
	size_t k = 0;
	if (!(chunk & 0x8000)) {
		uint8_t s = (chunk >> 13) & 0x03;
		size_t run = chunk & 0x1FFF;
		if (s == TW_RESERVED && run > 0)
			return -1;
		for (k = 0; k < run && k < room; k++)
			if (sym != NULL)
				sym[k] = s;
		return (int)k;
	}
	bool two_bit = (chunk & 0x4000) != 0;
	unsigned per = two_bit ? 7 : 14;
	for (k = 0; k < per && k < room; k++) {
		uint8_t s = two_bit ? (uint8_t)((chunk >> (12 - 2 * k)) & 0x03) : (uint8_t)((chunk >> (13 - k)) & 0x01);
		if (s == TW_RESERVED)
			return -1;
		if (sym != NULL)
			sym[k] = s;
	}
	return (int)k;
}

/* Pass 1 over the status chunks: checks them and finds where the deltas
 * start and how many delta bytes the symbols promise. Run-length chunks are
 * counted without expanding them. */
static cardea_rtcp_status twcc_scan(const uint8_t *p, const uint8_t *end, size_t count,
		const uint8_t **deltas, size_t *delta_bytes) {
	size_t seen = 0, bytes = 0;
	while (seen < count) {
		uint8_t sym[14];
		if (end - p < 2)
			return CARDEA_RTCP_ERR_BODY;
		uint16_t chunk = rd16(p);
		p += 2;
		size_t room = count - seen;
		if (!(chunk & 0x8000)) {
			uint8_t s = (chunk >> 13) & 0x03;
			size_t run = chunk & 0x1FFF;
			if (run > room)
				run = room;
			if (s == TW_RESERVED && run > 0)
				return CARDEA_RTCP_ERR_FORMAT;
			bytes += run * (s == TW_LARGE ? 2 : s == TW_SMALL ? 1 : 0);
			seen += run;
			continue;
		}
		int got = twcc_chunk_symbols(chunk, room, sym);
		if (got < 0)
			return CARDEA_RTCP_ERR_FORMAT;
		for (int i = 0; i < got; i++)
			bytes += sym[i] == TW_LARGE ? 2 : sym[i] == TW_SMALL ? 1 : 0;
		seen += (size_t)got;
	}
	*deltas = p;
	*delta_bytes = bytes;
	return CARDEA_RTCP_OK;
}

/* Pass 2: expands symbols and reads deltas, both bounds-checked by pass 1.
 * Returns how many statuses were written (at most cap). */
static size_t twcc_expand(const cardea_rtcp_twcc *hdr, const uint8_t *c, const uint8_t *d,
		cardea_twcc_status *out, size_t cap) {
	int64_t t = (int64_t)hdr->ref_time * CARDEA_TWCC_REF_US;
	size_t k = 0, seen = 0;
	while (seen < hdr->status_count && k < cap) {
		uint16_t chunk = rd16(c);
		c += 2;
		size_t room = hdr->status_count - seen;
		uint8_t sym[14];
		bool rle = !(chunk & 0x8000);
		size_t got = rle ? (size_t)(chunk & 0x1FFF) : (size_t)twcc_chunk_symbols(chunk, room, sym);
		if (got > room)
			got = room;
		for (size_t i = 0; i < got && k < cap; i++) {
			uint8_t s = rle ? (uint8_t)((chunk >> 13) & 0x03) : sym[i];
			out[k].seq = (uint16_t)(hdr->base_seq + seen + i);
			out[k].received = s != TW_NONE;
			if (s == TW_SMALL) {
				t += (int64_t)d[0] * CARDEA_TWCC_DELTA_US;
				d += 1;
			} else if (s == TW_LARGE) {
				t += (int64_t)(int16_t)rd16(d) * CARDEA_TWCC_DELTA_US;
				d += 2;
			}
			out[k].recv_us = s != TW_NONE ? t : 0;
			k++;
		}
		seen += got;
	}
	return k;
}

cardea_rtcp_status cardea_rtcp_parse_twcc(const cardea_rtcp_pkt *pkt, cardea_rtcp_twcc *hdr,
		cardea_twcc_status *out, size_t cap, size_t *n) {
	cardea_rtcp_fb fb;
	if (hdr == NULL || (out != NULL && n == NULL))
		return CARDEA_RTCP_ERR_ARGS;
	if (n != NULL)
		*n = 0;
	cardea_rtcp_status st = parse_fb_of(pkt, CARDEA_RTCP_RTPFB, CARDEA_RTCP_RTPFB_TWCC, &fb);
	if (st != CARDEA_RTCP_OK)
		return st;
	if (fb.fci_len < 8)
		return CARDEA_RTCP_ERR_BODY;
	hdr->sender_ssrc = fb.sender_ssrc;
	hdr->media_ssrc = fb.media_ssrc;
	hdr->base_seq = rd16(fb.fci);
	hdr->status_count = rd16(fb.fci + 2);
	hdr->ref_time = sext24(rd24(fb.fci + 4));
	hdr->fb_count = fb.fci[7];
	const uint8_t *end = fb.fci + fb.fci_len, *deltas = NULL;
	size_t delta_bytes = 0;
	st = twcc_scan(fb.fci + 8, end, hdr->status_count, &deltas, &delta_bytes);
	if (st != CARDEA_RTCP_OK)
		return st;
	if ((size_t)(end - deltas) < delta_bytes)
		return CARDEA_RTCP_ERR_BODY;
	if (out == NULL)
		return CARDEA_RTCP_OK;
	size_t k = twcc_expand(hdr, fb.fci + 8, deltas, out, cap);
	*n = k;
	return k < hdr->status_count ? CARDEA_RTCP_ERR_NO_SPACE : CARDEA_RTCP_OK;
}

/* Writer state: symbols are produced on the fly from the arrival list so no
 * per-seq array is needed (the span may reach 65535 seqs). */
typedef struct twcc_cursor {
	const cardea_twcc_arrival *arr;
	const int32_t *delta;   /* ticks per arrival */
	size_t n;               /* arrivals in play */
	int64_t base;
	size_t pos;             /* symbol index from base */
	size_t j;               /* next arrival */
} twcc_cursor;

static uint8_t twcc_kind(int32_t ticks) {
	return (ticks >= 0 && ticks <= 255) ? TW_SMALL : TW_LARGE;
}

/* Symbol at the cursor; advance moves past it. */
static uint8_t twcc_sym(const twcc_cursor *c) {
	if (c->j < c->n && c->arr[c->j].seq == c->base + (int64_t)c->pos)
		return twcc_kind(c->delta[c->j]);
	return TW_NONE;
}
static void twcc_advance(twcc_cursor *c) {
	if (c->j < c->n && c->arr[c->j].seq == c->base + (int64_t)c->pos)
		c->j++;
	c->pos++;
}

/* Encodes the status chunks for `count` symbols. With out == NULL only counts.
 * Returns the number of chunks. Greedy: a run-length chunk for runs that fill
 * at least a vector, else a 1-bit vector when no large delta is in reach,
 * else a 2-bit vector. */
static size_t twcc_encode_chunks(twcc_cursor c, size_t count, uint8_t *out) {
	size_t chunks = 0;
	while (c.pos < count) {
		twcc_cursor look = c;
		uint8_t s0 = twcc_sym(&look);
		size_t run = 0;
		while (look.pos < count && run < 0x1FFF && twcc_sym(&look) == s0) {
			twcc_advance(&look);
			run++;
		}
		uint16_t chunk;
		if (run >= 14 || (s0 == TW_LARGE && run >= 7) || look.pos == count) {
			chunk = (uint16_t)((s0 << 13) | run);
			c = look;
		} else {
			look = c;
			bool large = false;
			for (size_t i = 0; i < 14 && look.pos < count; i++, twcc_advance(&look))
				large |= twcc_sym(&look) == TW_LARGE;
			if (!large) {
				chunk = 0x8000;
				for (unsigned i = 0; i < 14 && c.pos < count; i++, twcc_advance(&c))
					chunk |= (uint16_t)(twcc_sym(&c) << (13 - i));
			} else {
				chunk = 0xC000;
				for (unsigned i = 0; i < 7 && c.pos < count; i++, twcc_advance(&c))
					chunk |= (uint16_t)(twcc_sym(&c) << (12 - 2 * i));
			}
		}
		if (out != NULL)
			wr16(out + 2 * chunks, chunk);
		chunks++;
	}
	return chunks;
}

/* Bytes needed to report arrivals[0..m). */
static size_t twcc_size(const twcc_cursor *c0, size_t m) {
	twcc_cursor c = *c0;
	c.n = m;
	size_t count = (size_t)(c.arr[m - 1].seq - c.base) + 1;
	size_t len = 20 + 2 * twcc_encode_chunks(c, count, NULL);
	for (size_t i = 0; i < m; i++)
		len += twcc_kind(c.delta[i]) == TW_SMALL ? 1 : 2;
	return (len + 3) & ~(size_t)3;
}

/* Deltas in 250 us ticks for as many arrivals as one feedback can carry.
 * The reference time is the first arrival floored to 64 ms; every delta is
 * taken from the previous reported time (not the previous arrival) so the
 * rounding does not accumulate. Stops at a delta beyond 16 bits or a span
 * beyond 65535; returns how many deltas were filled, or 0 when arrivals are
 * not strictly ascending (a caller bug). */
static size_t twcc_deltas(const cardea_twcc_arrival *arrivals, size_t n, int64_t base, int64_t ref,
		int32_t *delta) {
	int64_t t = ref * CARDEA_TWCC_REF_US;
	size_t m = 0;
	while (m < n && m < CARDEA_TWCC_MAX_ARRIVALS) {
		if (m > 0 && arrivals[m].seq <= arrivals[m - 1].seq)
			return 0;
		if (arrivals[m].seq - base > 0xFFFE)
			break;
		int64_t diff = arrivals[m].arrival_us - t;
		int64_t ticks = diff >= 0 ? (diff + CARDEA_TWCC_DELTA_US / 2) / CARDEA_TWCC_DELTA_US
			: -((-diff + CARDEA_TWCC_DELTA_US / 2) / CARDEA_TWCC_DELTA_US);
		if (ticks < INT16_MIN || ticks > INT16_MAX)
			break;
		delta[m] = (int32_t)ticks;
		t += ticks * CARDEA_TWCC_DELTA_US;
		m++;
	}
	return m;
}

size_t cardea_rtcp_write_twcc(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
		uint8_t fb_count, int64_t base_seq, const cardea_twcc_arrival *arrivals, size_t n, size_t *consumed) {
	int32_t delta[CARDEA_TWCC_MAX_ARRIVALS];
	if (consumed != NULL)
		*consumed = 0;
	if (buf == NULL || arrivals == NULL || n == 0 || consumed == NULL || arrivals[0].arrival_us < 0)
		return 0;
	if (arrivals[0].seq < base_seq || arrivals[0].seq - base_seq > 0xFFFE)
		return 0;
	int64_t ref = arrivals[0].arrival_us / CARDEA_TWCC_REF_US, base = base_seq;
	size_t m = twcc_deltas(arrivals, n, base, ref, delta);
	if (m == 0)
		return 0;
	twcc_cursor c = { .arr = arrivals, .delta = delta, .n = m, .base = base };
	/* Shrink until it fits; sizes grow with m, so binary search. */
	if (twcc_size(&c, m) > cap) {
		size_t lo = 0, hi = m;  /* lo fits (0 = nothing), hi does not */
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			if (twcc_size(&c, mid) <= cap)
				lo = mid;
			else
				hi = mid;
		}
		m = lo;
		if (m == 0)
			return 0;
	}
	c.n = m;
	size_t count = (size_t)(arrivals[m - 1].seq - base) + 1;
	size_t chunks = twcc_encode_chunks(c, count, buf + 20);
	size_t len = 20 + 2 * chunks;
	for (size_t i = 0; i < m; i++) {
		if (twcc_kind(delta[i]) == TW_SMALL) {
			buf[len++] = (uint8_t)delta[i];
		} else {
			wr16(buf + len, (uint16_t)(int16_t)delta[i]);
			len += 2;
		}
	}
	size_t padded = (len + 3) & ~(size_t)3;
	if (padded > len) {
		/* libwebrtc pads this packet with the P bit and a count byte. */
		memset(buf + len, 0, padded - len);
		buf[padded - 1] = (uint8_t)(padded - len);
	}
	wr_header(buf, padded > len, CARDEA_RTCP_RTPFB_TWCC, CARDEA_RTCP_RTPFB, padded);
	wr32(buf + 4, sender_ssrc);
	wr32(buf + 8, media_ssrc);
	wr16(buf + 12, (uint16_t)base);
	wr16(buf + 14, (uint16_t)count);
	wr24(buf + 16, (uint32_t)ref & 0xFFFFFF);
	buf[19] = fb_count;
	*consumed = m;
	return padded;
}

/* ---- Compound builder ---- */

void cardea_rtcp_builder_init(cardea_rtcp_builder *b, uint8_t *buf, size_t cap, uint32_t sender_ssrc,
		bool reduced_size) {
	b->buf = buf;
	b->cap = buf != NULL ? cap : 0;
	b->len = 0;
	b->sender_ssrc = sender_ssrc;
	b->reduced_size = reduced_size;
	b->failed = buf == NULL;
}

uint8_t *cardea_rtcp_builder_tail(const cardea_rtcp_builder *b) {
	return b->buf != NULL ? b->buf + b->len : NULL;
}

size_t cardea_rtcp_builder_room(const cardea_rtcp_builder *b) {
	/* Keep 8 bytes back while the compound is empty and must start with a
	 * report: the empty RR may have to go in front. */
	size_t reserve = (b->len == 0 && !b->reduced_size) ? 8 : 0;
	if (b->failed || b->len + reserve > b->cap)
		return 0;
	return b->cap - b->len - reserve;
}

bool cardea_rtcp_builder_commit(cardea_rtcp_builder *b, size_t n) {
	if (b->failed || n < 4 || n % 4 != 0 || b->len + n > b->cap) {
		b->failed = true;
		return false;
	}
	uint8_t *p = b->buf + b->len;
	if (b->len == 0 && !b->reduced_size && p[1] != CARDEA_RTCP_SR && p[1] != CARDEA_RTCP_RR) {
		if (n + 8 > b->cap) {
			b->failed = true;
			return false;
		}
		cardea_rtcp_rr rr = { .ssrc = b->sender_ssrc };
		memmove(p + 8, p, n);
		cardea_rtcp_write_rr(p, 8, &rr);
		n += 8;
	}
	b->len += n;
	return true;
}

size_t cardea_rtcp_builder_finish(cardea_rtcp_builder *b) {
	return b->failed ? 0 : b->len;
}

/* ---- NTP ---- */

#define NTP_UNIX_OFFSET 2208988800u  /* seconds from 1900 to 1970 */

void cardea_ntp_from_unix_us(int64_t unix_us, uint32_t *sec, uint32_t *frac) {
	if (unix_us < 0)
		unix_us = 0;
	*sec = (uint32_t)(unix_us / 1000000 + NTP_UNIX_OFFSET);
	*frac = (uint32_t)(((uint64_t)(unix_us % 1000000) << 32) / 1000000);
}

/* ---- Receive statistics (RFC 3550 A.1, A.3, A.8) ---- */

#define SEQ_MOD (1u << 16)
#define MAX_DROPOUT 3000
#define MAX_MISORDER 100

void cardea_rtp_recv_stats_init(cardea_rtp_recv_stats *s, uint32_t ssrc, uint32_t clock_rate) {
	memset(s, 0, sizeof(*s));
	s->ssrc = ssrc;
	s->clock_rate = clock_rate;
}

static void recv_seq_restart(cardea_rtp_recv_stats *s, uint16_t seq) {
	s->base_seq = seq;
	s->max_seq = seq;
	s->bad_seq = SEQ_MOD + 1;  /* no candidate */
	s->cycles = 0;
	s->received = 0;
	s->received_prior = 0;
	s->expected_prior = 0;
	s->have_transit = false;
}

/* Our clock in RTP units; transit deltas are differences, so only the rate
 * matters, and 32-bit wrap is harmless. */
static uint32_t arrival_rtp_units(int64_t arrival_us, uint32_t clock_rate) {
	return (uint32_t)(uint64_t)((arrival_us / 1000000) * (int64_t)clock_rate
		+ (arrival_us % 1000000) * (int64_t)clock_rate / 1000000);
}

void cardea_rtp_recv_stats_update(cardea_rtp_recv_stats *s, uint16_t seq, uint32_t rtp_ts,
		size_t payload_len, int64_t arrival_us) {
	bool in_order = false;
	if (!s->init) {
		s->init = true;
		recv_seq_restart(s, seq);
		in_order = true;
	} else {
		uint16_t udelta = (uint16_t)(seq - s->max_seq);
		if (udelta == 0) {
			/* duplicate: counted as received, as A.1 does */
		} else if (udelta < MAX_DROPOUT) {
			if (seq < s->max_seq)
				s->cycles += SEQ_MOD;
			s->max_seq = seq;
			in_order = true;
		} else if (udelta <= SEQ_MOD - MAX_MISORDER) {
			/* A big jump: accept it only if the next packet continues from
			 * it, otherwise it is a stray and must not move max_seq. */
			if (seq == s->bad_seq) {
				recv_seq_restart(s, seq);
				s->restarts++;
				in_order = true;
			} else {
				s->bad_seq = (uint32_t)(uint16_t)(seq + 1);
				return;
			}
		} else {
			s->reordered++;
		}
	}
	s->received++;
	s->octets += payload_len;
	if (!in_order || s->clock_rate == 0)
		return;
	uint32_t transit = arrival_rtp_units(arrival_us, s->clock_rate) - rtp_ts;
	if (s->have_transit) {
		int32_t d = (int32_t)(transit - s->last_transit);
		uint32_t ad = d < 0 ? (uint32_t)-(int64_t)d : (uint32_t)d;
		s->jitter_q4 += ad - ((s->jitter_q4 + 8) >> 4);
	}
	s->last_transit = transit;
	s->have_transit = true;
}

void cardea_rtp_recv_stats_on_sr(cardea_rtp_recv_stats *s, uint32_t ntp_sec, uint32_t ntp_frac, int64_t now_us) {
	s->last_sr_mid = cardea_ntp_mid(ntp_sec, ntp_frac);
	s->last_sr_us = now_us;
	s->have_sr = true;
}

bool cardea_rtp_recv_stats_report(cardea_rtp_recv_stats *s, int64_t now_us, cardea_rtcp_report_block *out) {
	if (!s->init)
		return false;
	uint32_t expected = cardea_rtp_recv_stats_expected(s);
	int64_t lost = (int64_t)expected - s->received;
	if (lost > 0x7FFFFF)
		lost = 0x7FFFFF;
	if (lost < -0x800000)
		lost = -0x800000;
	uint32_t expected_interval = expected - s->expected_prior;
	uint32_t received_interval = s->received - s->received_prior;
	int64_t lost_interval = (int64_t)expected_interval - received_interval;
	s->expected_prior = expected;
	s->received_prior = s->received;
	memset(out, 0, sizeof(*out));
	out->ssrc = s->ssrc;
	out->fraction_lost = (expected_interval == 0 || lost_interval <= 0) ? 0
		: (uint8_t)((lost_interval << 8) / expected_interval);
	out->cumulative_lost = (int32_t)lost;
	out->ext_highest_seq = s->cycles + s->max_seq;
	out->jitter = s->jitter_q4 >> 4;
	if (s->have_sr) {
		int64_t since = now_us - s->last_sr_us;
		out->lsr = s->last_sr_mid;
		out->dlsr = since > 0 ? (uint32_t)(since * 65536 / 1000000) : 0;
	}
	return true;
}

/* ---- Send statistics ---- */

void cardea_rtp_send_stats_init(cardea_rtp_send_stats *s, uint32_t ssrc, uint32_t clock_rate) {
	memset(s, 0, sizeof(*s));
	s->ssrc = ssrc;
	s->clock_rate = clock_rate;
	s->rtt_us = -1;
}

void cardea_rtp_send_stats_update(cardea_rtp_send_stats *s, uint32_t rtp_ts, size_t payload_len, int64_t now_us) {
	s->packets++;
	s->octets += (uint32_t)payload_len;
	/* Only a newer timestamp anchors the SR's RTP time; a retransmission
	 * carries an old one. */
	if (!s->have_ts || (int32_t)(rtp_ts - s->last_ts) > 0) {
		s->have_ts = true;
		s->last_ts = rtp_ts;
		s->last_ts_us = now_us;
	}
}

void cardea_rtp_send_stats_build_sr(cardea_rtp_send_stats *s, int64_t now_us, int64_t wall_us, cardea_rtcp_sr *out) {
	memset(out, 0, sizeof(*out));
	out->ssrc = s->ssrc;
	cardea_ntp_from_unix_us(wall_us, &out->ntp_sec, &out->ntp_frac);
	if (s->have_ts) {
		int64_t elapsed = now_us - s->last_ts_us;
		if (elapsed < 0)
			elapsed = 0;
		out->rtp_ts = s->last_ts + (uint32_t)(uint64_t)(elapsed * (int64_t)s->clock_rate / 1000000);
	}
	out->packet_count = s->packets;
	out->octet_count = s->octets;
	s->sr_sent[s->sr_next].mid = cardea_ntp_mid(out->ntp_sec, out->ntp_frac);
	s->sr_sent[s->sr_next].sent_us = now_us;
	s->sr_sent[s->sr_next].used = true;
	s->sr_next = (s->sr_next + 1) % CARDEA_RTCP_SR_HISTORY;
}

bool cardea_rtp_send_stats_on_report(cardea_rtp_send_stats *s, const cardea_rtcp_report_block *rb, int64_t now_us) {
	s->fraction_lost = rb->fraction_lost;
	s->cumulative_lost = rb->cumulative_lost;
	s->jitter = rb->jitter;
	if (rb->lsr == 0)
		return false;
	/* RTT from our own send time of the SR the peer names, not from NTP
	 * arithmetic, so wall-clock steps cannot produce a bogus sample. */
	for (unsigned i = 0; i < CARDEA_RTCP_SR_HISTORY; i++) {
		if (!s->sr_sent[i].used || s->sr_sent[i].mid != rb->lsr)
			continue;
		int64_t rtt = now_us - s->sr_sent[i].sent_us - (int64_t)rb->dlsr * 1000000 / 65536;
		s->rtt_us = rtt > 0 ? rtt : 0;
		return true;
	}
	return false;
}
