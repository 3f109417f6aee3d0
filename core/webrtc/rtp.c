/* RTP parsing, header extensions, rewriting, demux, sequence helpers, RTX.
 * See rtp.h for the contract. Pure code: no allocation, no logging. */
#include <string.h>

#include "webrtc/rtp.h"

/* Byte-wise loads and stores: packets are not aligned, and this is endian-free. */
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

static const char *const status_names[CARDEA_RTP_STATUS_COUNT] = {
	[CARDEA_RTP_OK] = "ok",
	[CARDEA_RTP_ERR_ARGS] = "args",
	[CARDEA_RTP_ERR_TOO_SHORT] = "too-short",
	[CARDEA_RTP_ERR_TOO_LONG] = "too-long",
	[CARDEA_RTP_ERR_VERSION] = "version",
	[CARDEA_RTP_ERR_RTCP_PT] = "rtcp-pt",
	[CARDEA_RTP_ERR_CSRC] = "csrc",
	[CARDEA_RTP_ERR_EXT_HEADER] = "ext-header",
	[CARDEA_RTP_ERR_EXT_LENGTH] = "ext-length",
	[CARDEA_RTP_ERR_EXT_ELEMENT] = "ext-element",
	[CARDEA_RTP_ERR_PADDING_ZERO] = "padding-zero",
	[CARDEA_RTP_ERR_PADDING_LENGTH] = "padding-length",
	[CARDEA_RTP_ERR_NOT_FOUND] = "not-found",
	[CARDEA_RTP_ERR_EXT_SIZE] = "ext-size",
	[CARDEA_RTP_ERR_NO_SPACE] = "no-space",
	[CARDEA_RTP_ERR_RTX_EMPTY] = "rtx-empty",
};

const char *cardea_rtp_status_name(cardea_rtp_status status) {
	if ((unsigned)status >= CARDEA_RTP_STATUS_COUNT)
		return "unknown";
	return status_names[status];
}

static inline bool profile_one_byte(uint16_t profile) {
	return profile == CARDEA_RTP_EXT_PROFILE_ONE_BYTE;
}
static inline bool profile_two_byte(uint16_t profile) {
	return (profile & 0xFFF0) == CARDEA_RTP_EXT_PROFILE_TWO_BYTE;
}

/* One step of an RFC 8285 element walk. On return *pos is advanced past the
 * element (or padding byte); the result is 1 for an element, 0 for a padding
 * byte, 2 for "stop" (one-byte id 15 ends processing) and -1 for an element
 * that runs past end. Every call advances *pos by at least one byte, so a
 * caller loop `while (pos < end)` terminates. */
static int ext_step(const uint8_t *buf, size_t *pos, size_t end, bool two_byte,
		uint8_t *id, uint8_t *len, size_t *data_off) {
	size_t p = *pos;
	if (!two_byte) {
		uint8_t b = buf[p];
		if (b == 0) {
			*pos = p + 1;
			return 0;
		}
		*id = b >> 4;
		if (*id == 15) {
			*pos = end;
			return 2;
		}
		*len = (uint8_t)((b & 0x0F) + 1);
		if (p + 1 + *len > end)
			return -1;
		*data_off = p + 1;
		*pos = p + 1 + *len;
		return 1;
	}
	if (buf[p] == 0) {
		*pos = p + 1;
		return 0;
	}
	if (p + 2 > end)
		return -1;
	*id = buf[p];
	*len = buf[p + 1];
	if (p + 2 + *len > end)
		return -1;
	*data_off = p + 2;
	*pos = p + 2 + *len;
	return 1;
}

static cardea_rtp_status parse_ext_block(const uint8_t *buf, cardea_rtp_info *out) {
	bool one = profile_one_byte(out->ext_profile), two = profile_two_byte(out->ext_profile);
	if (!one && !two)
		return CARDEA_RTP_OK;
	size_t pos = (size_t)out->ext_offset + 4, end = pos + out->ext_len;
	while (pos < end) {
		uint8_t id = 0, len = 0;
		size_t data_off = 0;
		int r = ext_step(buf, &pos, end, two, &id, &len, &data_off);
		if (r < 0)
			return CARDEA_RTP_ERR_EXT_ELEMENT;
		if (r == 2)
			break;
		if (r == 0)
			continue;
		if (out->ext_count == CARDEA_RTP_MAX_EXT_ELEMS) {
			out->ext_overflow = true;
			continue;
		}
		out->ext[out->ext_count].id = id;
		out->ext[out->ext_count].len = len;
		out->ext[out->ext_count].offset = (uint16_t)data_off;
		out->ext_count++;
	}
	return CARDEA_RTP_OK;
}

cardea_rtp_status cardea_rtp_parse(const uint8_t *buf, size_t len, cardea_rtp_info *out) {
	if (buf == NULL || out == NULL)
		return CARDEA_RTP_ERR_ARGS;
	if (len < CARDEA_RTP_HEADER_SIZE)
		return CARDEA_RTP_ERR_TOO_SHORT;
	if (len > CARDEA_RTP_MAX_PACKET)
		return CARDEA_RTP_ERR_TOO_LONG;
	if ((buf[0] >> 6) != 2)
		return CARDEA_RTP_ERR_VERSION;
	uint8_t pt = buf[1] & 0x7F;
	if (pt >= 64 && pt <= 95)
		return CARDEA_RTP_ERR_RTCP_PT;
	cardea_rtp_info info;
	memset(&info, 0, sizeof(info));
	info.buf = buf;
	info.len = (uint16_t)len;
	info.pt = pt;
	info.marker = (buf[1] & 0x80) != 0;
	info.seq = rd16(buf + 2);
	info.timestamp = rd32(buf + 4);
	info.ssrc = rd32(buf + 8);
	info.csrc_count = buf[0] & 0x0F;
	size_t hlen = CARDEA_RTP_HEADER_SIZE + 4u * info.csrc_count;
	if (hlen > len)
		return CARDEA_RTP_ERR_CSRC;
	if (buf[0] & 0x10) {
		if (hlen + 4 > len)
			return CARDEA_RTP_ERR_EXT_HEADER;
		info.has_ext = true;
		info.ext_offset = (uint16_t)hlen;
		info.ext_profile = rd16(buf + hlen);
		size_t elen = 4u * rd16(buf + hlen + 2);
		if (hlen + 4 + elen > len)
			return CARDEA_RTP_ERR_EXT_LENGTH;
		info.ext_len = (uint16_t)elen;
		hlen += 4 + elen;
	}
	size_t padding = 0;
	if (buf[0] & 0x20) {
		padding = buf[len - 1];
		if (padding == 0)
			return CARDEA_RTP_ERR_PADDING_ZERO;
		if (hlen + padding > len)
			return CARDEA_RTP_ERR_PADDING_LENGTH;
	}
	info.header_len = (uint16_t)hlen;
	info.payload_offset = (uint16_t)hlen;
	info.payload_len = (uint16_t)(len - hlen - padding);
	info.padding_len = (uint8_t)padding;
	if (info.has_ext) {
		cardea_rtp_status st = parse_ext_block(buf, &info);
		if (st != CARDEA_RTP_OK)
			return st;
	}
	*out = info;
	return CARDEA_RTP_OK;
}

/* Walks the block for ids the index could not hold. */
static cardea_rtp_status ext_find_walk(const cardea_rtp_info *info, uint8_t id, const uint8_t **data, uint8_t *len) {
	bool two = profile_two_byte(info->ext_profile);
	size_t pos = (size_t)info->ext_offset + 4, end = pos + info->ext_len;
	while (pos < end) {
		uint8_t eid = 0, elen = 0;
		size_t off = 0;
		int r = ext_step(info->buf, &pos, end, two, &eid, &elen, &off);
		if (r < 0 || r == 2)
			break;
		if (r == 1 && eid == id) {
			*data = info->buf + off;
			*len = elen;
			return CARDEA_RTP_OK;
		}
	}
	return CARDEA_RTP_ERR_NOT_FOUND;
}

cardea_rtp_status cardea_rtp_ext_find(const cardea_rtp_info *info, uint8_t id, const uint8_t **data, uint8_t *len) {
	if (info == NULL || data == NULL || len == NULL || id == 0)
		return CARDEA_RTP_ERR_ARGS;
	for (unsigned i = 0; i < info->ext_count; i++) {
		if (info->ext[i].id == id) {
			*data = info->buf + info->ext[i].offset;
			*len = info->ext[i].len;
			return CARDEA_RTP_OK;
		}
	}
	if (info->ext_overflow)
		return ext_find_walk(info, id, data, len);
	return CARDEA_RTP_ERR_NOT_FOUND;
}

/* Finds an element that must be exactly `want` bytes long. */
static cardea_rtp_status ext_find_sized(const cardea_rtp_info *info, uint8_t id, uint8_t want, const uint8_t **data) {
	uint8_t len = 0;
	cardea_rtp_status st = cardea_rtp_ext_find(info, id, data, &len);
	if (st != CARDEA_RTP_OK)
		return st;
	return len == want ? CARDEA_RTP_OK : CARDEA_RTP_ERR_EXT_SIZE;
}

cardea_rtp_status cardea_rtp_ext_get_string(const cardea_rtp_info *info, uint8_t id, char *out, size_t cap) {
	const uint8_t *data = NULL;
	uint8_t len = 0;
	if (out == NULL || cap == 0)
		return CARDEA_RTP_ERR_ARGS;
	cardea_rtp_status st = cardea_rtp_ext_find(info, id, &data, &len);
	if (st != CARDEA_RTP_OK)
		return st;
	/* Senders may pad SDES items with trailing NULs; the value ends there. */
	size_t n = 0;
	while (n < len && data[n] != 0)
		n++;
	if (n + 1 > cap)
		return CARDEA_RTP_ERR_NO_SPACE;
	memcpy(out, data, n);
	out[n] = '\0';
	return CARDEA_RTP_OK;
}

cardea_rtp_status cardea_rtp_ext_get_abs_send_time(const cardea_rtp_info *info, uint8_t id, uint32_t *ast24) {
	const uint8_t *data = NULL;
	cardea_rtp_status st = ext_find_sized(info, id, 3, &data);
	if (st == CARDEA_RTP_OK && ast24 != NULL)
		*ast24 = rd24(data);
	return st;
}

cardea_rtp_status cardea_rtp_ext_get_transport_seq(const cardea_rtp_info *info, uint8_t id, uint16_t *seq) {
	const uint8_t *data = NULL;
	cardea_rtp_status st = ext_find_sized(info, id, 2, &data);
	if (st == CARDEA_RTP_OK && seq != NULL)
		*seq = rd16(data);
	return st;
}

cardea_rtp_status cardea_rtp_ext_get_audio_level(const cardea_rtp_info *info, uint8_t id, bool *voice, uint8_t *level) {
	const uint8_t *data = NULL;
	uint8_t len = 0;
	/* RFC 6464 allows the one byte to be padded out in two-byte blocks. */
	cardea_rtp_status st = cardea_rtp_ext_find(info, id, &data, &len);
	if (st != CARDEA_RTP_OK)
		return st;
	if (len < 1)
		return CARDEA_RTP_ERR_EXT_SIZE;
	if (voice != NULL)
		*voice = (data[0] & 0x80) != 0;
	if (level != NULL)
		*level = data[0] & 0x7F;
	return CARDEA_RTP_OK;
}

cardea_rtp_status cardea_rtp_ext_get_video_orientation(const cardea_rtp_info *info, uint8_t id,
		bool *camera, bool *flip, uint16_t *rotation) {
	const uint8_t *data = NULL;
	uint8_t len = 0;
	cardea_rtp_status st = cardea_rtp_ext_find(info, id, &data, &len);
	if (st != CARDEA_RTP_OK)
		return st;
	if (len < 1)
		return CARDEA_RTP_ERR_EXT_SIZE;
	if (camera != NULL)
		*camera = (data[0] & 0x08) != 0;
	if (flip != NULL)
		*flip = (data[0] & 0x04) != 0;
	if (rotation != NULL)
		*rotation = (uint16_t)((data[0] & 0x03) * 90);
	return CARDEA_RTP_OK;
}

/* ---- In-place rewriting ---- */

void cardea_rtp_set_seq(uint8_t *buf, uint16_t seq) {
	wr16(buf + 2, seq);
}
void cardea_rtp_set_timestamp(uint8_t *buf, uint32_t ts) {
	wr32(buf + 4, ts);
}
void cardea_rtp_set_ssrc(uint8_t *buf, uint32_t ssrc) {
	wr32(buf + 8, ssrc);
}
void cardea_rtp_set_pt(uint8_t *buf, uint8_t pt) {
	buf[1] = (uint8_t)((buf[1] & 0x80) | (pt & 0x7F));
}
void cardea_rtp_set_marker(uint8_t *buf, bool marker) {
	buf[1] = (uint8_t)((buf[1] & 0x7F) | (marker ? 0x80 : 0));
}

/* Maps an element found in info back into the caller's writable copy. */
static cardea_rtp_status ext_locate_rw(uint8_t *buf, const cardea_rtp_info *info, uint8_t id, uint8_t want,
		uint8_t **data) {
	const uint8_t *ro = NULL;
	if (buf == NULL)
		return CARDEA_RTP_ERR_ARGS;
	cardea_rtp_status st = ext_find_sized(info, id, want, &ro);
	if (st != CARDEA_RTP_OK)
		return st;
	*data = buf + (ro - info->buf);
	return CARDEA_RTP_OK;
}

cardea_rtp_status cardea_rtp_ext_swap_ids(uint8_t *buf, const cardea_rtp_info *info, uint8_t a, uint8_t b) {
	if (buf == NULL || info == NULL || a == 0 || b == 0)
		return CARDEA_RTP_ERR_ARGS;
	bool one = profile_one_byte(info->ext_profile), two = profile_two_byte(info->ext_profile);
	if (!info->has_ext || (!one && !two))
		return CARDEA_RTP_ERR_NOT_FOUND;
	if (one && (a > 14 || b > 14))
		return CARDEA_RTP_ERR_ARGS;
	if (a == b)
		return CARDEA_RTP_OK;
	/* cardea_rtp_parse() checked every element lies inside the block, so
	 * this walk cannot stop half way through the rewrite. */
	size_t pos = (size_t)info->ext_offset + 4, end = pos + info->ext_len;
	while (pos < end) {
		uint8_t id = 0, len = 0;
		size_t data_off = 0;
		int r = ext_step(buf, &pos, end, two, &id, &len, &data_off);
		if (r < 0 || r == 2)
			break;
		if (r == 0 || (id != a && id != b))
			continue;
		uint8_t to = id == a ? b : a;
		if (one)
			buf[data_off - 1] = (uint8_t)((to << 4) | (buf[data_off - 1] & 0x0F));
		else
			buf[data_off - 2] = to;
	}
	return CARDEA_RTP_OK;
}

cardea_rtp_status cardea_rtp_ext_set_abs_send_time(uint8_t *buf, const cardea_rtp_info *info, uint8_t id, uint32_t ast24) {
	uint8_t *data = NULL;
	cardea_rtp_status st = ext_locate_rw(buf, info, id, 3, &data);
	if (st == CARDEA_RTP_OK)
		wr24(data, ast24 & 0xFFFFFF);
	return st;
}

cardea_rtp_status cardea_rtp_ext_set_transport_seq(uint8_t *buf, const cardea_rtp_info *info, uint8_t id, uint16_t seq) {
	uint8_t *data = NULL;
	cardea_rtp_status st = ext_locate_rw(buf, info, id, 2, &data);
	if (st == CARDEA_RTP_OK)
		wr16(data, seq);
	return st;
}

cardea_rtp_status cardea_rtp_ext_set_string(uint8_t *buf, const cardea_rtp_info *info, uint8_t id, const char *value) {
	uint8_t *data = NULL;
	if (value == NULL)
		return CARDEA_RTP_ERR_ARGS;
	size_t n = strlen(value);
	if (n == 0 || n > 255)
		return CARDEA_RTP_ERR_EXT_SIZE;
	cardea_rtp_status st = ext_locate_rw(buf, info, id, (uint8_t)n, &data);
	if (st == CARDEA_RTP_OK)
		memcpy(data, value, n);
	return st;
}

uint32_t cardea_rtp_abs_send_time_from_us(int64_t us) {
	/* 6.18 fixed point, modulo 64 s; reduce first so the shift cannot overflow. */
	int64_t r = us % 64000000;
	if (r < 0)
		r += 64000000;
	return (uint32_t)(((((uint64_t)r) << 18) + 500000) / 1000000) & 0xFFFFFF;
}

/* ---- Extension block writer ---- */

void cardea_rtp_ext_writer_init(cardea_rtp_ext_writer *w, uint8_t *buf, size_t cap, bool two_byte) {
	w->buf = buf;
	w->cap = cap;
	w->two_byte = two_byte;
	w->failed = buf == NULL || cap < 4;
	w->len = 4;  /* room for the block header, written by finish() */
}

cardea_rtp_status cardea_rtp_ext_writer_add(cardea_rtp_ext_writer *w, uint8_t id, const void *data, size_t len) {
	if (w->failed)
		return CARDEA_RTP_ERR_NO_SPACE;
	bool ok = w->two_byte ? (id >= 1 && len <= 255) : (id >= 1 && id <= 14 && len >= 1 && len <= 16);
	if (!ok || (len > 0 && data == NULL)) {
		w->failed = true;
		return CARDEA_RTP_ERR_ARGS;
	}
	size_t need = (w->two_byte ? 2 : 1) + len;
	if (w->len + need > w->cap) {
		w->failed = true;
		return CARDEA_RTP_ERR_NO_SPACE;
	}
	uint8_t *p = w->buf + w->len;
	if (w->two_byte) {
		p[0] = id;
		p[1] = (uint8_t)len;
		p += 2;
	} else {
		p[0] = (uint8_t)((id << 4) | (len - 1));
		p++;
	}
	if (len > 0)
		memcpy(p, data, len);
	w->len += need;
	return CARDEA_RTP_OK;
}

cardea_rtp_status cardea_rtp_ext_writer_add_string(cardea_rtp_ext_writer *w, uint8_t id, const char *value) {
	if (value == NULL) {
		w->failed = true;
		return CARDEA_RTP_ERR_ARGS;
	}
	return cardea_rtp_ext_writer_add(w, id, value, strlen(value));
}

cardea_rtp_status cardea_rtp_ext_writer_add_abs_send_time(cardea_rtp_ext_writer *w, uint8_t id, uint32_t ast24) {
	uint8_t b[3];
	wr24(b, ast24 & 0xFFFFFF);
	return cardea_rtp_ext_writer_add(w, id, b, sizeof(b));
}

cardea_rtp_status cardea_rtp_ext_writer_add_transport_seq(cardea_rtp_ext_writer *w, uint8_t id, uint16_t seq) {
	uint8_t b[2];
	wr16(b, seq);
	return cardea_rtp_ext_writer_add(w, id, b, sizeof(b));
}

cardea_rtp_status cardea_rtp_ext_writer_add_audio_level(cardea_rtp_ext_writer *w, uint8_t id, bool voice, uint8_t level) {
	uint8_t b = (uint8_t)((voice ? 0x80 : 0) | (level > 127 ? 127 : level));
	return cardea_rtp_ext_writer_add(w, id, &b, 1);
}

cardea_rtp_status cardea_rtp_ext_writer_add_video_orientation(cardea_rtp_ext_writer *w, uint8_t id,
		bool camera, bool flip, uint16_t rotation) {
	if (rotation % 90 != 0 || rotation >= 360) {
		w->failed = true;
		return CARDEA_RTP_ERR_ARGS;
	}
	uint8_t b = (uint8_t)((camera ? 0x08 : 0) | (flip ? 0x04 : 0) | (rotation / 90));
	return cardea_rtp_ext_writer_add(w, id, &b, 1);
}

int cardea_rtp_ext_writer_finish(cardea_rtp_ext_writer *w) {
	if (w->failed)
		return -1;
	if (w->len == 4)
		return 0;
	size_t padded = (w->len + 3) & ~(size_t)3;
	if (padded > w->cap)
		return -1;
	memset(w->buf + w->len, 0, padded - w->len);
	wr16(w->buf, w->two_byte ? CARDEA_RTP_EXT_PROFILE_TWO_BYTE : CARDEA_RTP_EXT_PROFILE_ONE_BYTE);
	wr16(w->buf + 2, (uint16_t)((padded - 4) / 4));
	w->len = padded;
	return (int)padded;
}

int cardea_rtp_rewrite(const cardea_rtp_info *info, const uint8_t *ext_block, size_t ext_block_len,
		uint8_t *out, size_t cap) {
	if (info == NULL || out == NULL || (ext_block_len > 0 && ext_block == NULL))
		return -1;
	/* A block is its 4-byte header plus whole words, or nothing. */
	if (ext_block_len != 0 && (ext_block_len < 4 || ext_block_len % 4 != 0))
		return -1;
	size_t fixed = CARDEA_RTP_HEADER_SIZE + 4u * info->csrc_count;
	size_t tail = (size_t)info->payload_len + info->padding_len;
	size_t total = fixed + ext_block_len + tail;
	if (total > cap || total > CARDEA_RTP_MAX_PACKET)
		return -1;
	/* memmove: out may alias info->buf when the caller rewrites in a scratch copy. */
	memmove(out + fixed + ext_block_len, info->buf + info->payload_offset, tail);
	memmove(out, info->buf, fixed);
	if (ext_block_len > 0) {
		memmove(out + fixed, ext_block, ext_block_len);
		out[0] |= 0x10;
	} else {
		out[0] &= (uint8_t)~0x10;
	}
	return (int)total;
}

/* ---- Demultiplexing ---- */

cardea_packet_kind cardea_packet_classify(const uint8_t *buf, size_t len) {
	if (buf == NULL || len == 0)
		return CARDEA_PACKET_UNKNOWN;
	uint8_t b = buf[0];
	if (b <= 3)
		return CARDEA_PACKET_STUN;
	if (b >= 20 && b <= 63)
		return CARDEA_PACKET_DTLS;
	if (b >= 128 && b <= 191) {
		if (len < 2)
			return CARDEA_PACKET_UNKNOWN;
		/* RFC 5761 4: RTCP packet types 192..223 occupy what would be RTP
		 * PT 64..95 with the marker bit set. */
		return (buf[1] >= 192 && buf[1] <= 223) ? CARDEA_PACKET_RTCP : CARDEA_PACKET_RTP;
	}
	return CARDEA_PACKET_UNKNOWN;
}

bool cardea_packet_is_rtp(const uint8_t *buf, size_t len) {
	return len >= CARDEA_RTP_HEADER_SIZE && cardea_packet_classify(buf, len) == CARDEA_PACKET_RTP;
}

bool cardea_packet_is_rtcp(const uint8_t *buf, size_t len) {
	return len >= 4 && cardea_packet_classify(buf, len) == CARDEA_PACKET_RTCP;
}

/* ---- Sequence numbers ---- */

int64_t cardea_seq_unwrap(cardea_seq_unwrapper *u, uint16_t seq) {
	if (!u->init) {
		u->init = true;
		u->last = seq;
		return u->last;
	}
	int64_t v = u->last + cardea_seq_diff(seq, (uint16_t)u->last);
	if (v > u->last)
		u->last = v;
	return v;
}

int64_t cardea_ts_unwrap(cardea_ts_unwrapper *u, uint32_t ts) {
	if (!u->init) {
		u->init = true;
		u->last = ts;
		return u->last;
	}
	int64_t v = u->last + (int32_t)(uint32_t)(ts - (uint32_t)u->last);
	if (v > u->last)
		u->last = v;
	return v;
}

/* ---- RTX ---- */

int cardea_rtx_build(const cardea_rtp_info *info, uint8_t rtx_pt, uint32_t rtx_ssrc, uint16_t rtx_seq,
		uint8_t *out, size_t cap) {
	if (info == NULL || out == NULL || out == info->buf)
		return -1;
	size_t total = (size_t)info->header_len + 2 + info->payload_len;
	if (total > cap || total > CARDEA_RTP_MAX_PACKET)
		return -1;
	memcpy(out, info->buf, info->header_len);
	out[0] &= (uint8_t)~0x20;  /* padding dropped */
	wr16(out + info->header_len, info->seq);
	memcpy(out + info->header_len + 2, info->buf + info->payload_offset, info->payload_len);
	cardea_rtp_set_pt(out, rtx_pt);
	cardea_rtp_set_ssrc(out, rtx_ssrc);
	cardea_rtp_set_seq(out, rtx_seq);
	return (int)total;
}

cardea_rtp_status cardea_rtx_unwrap(uint8_t *buf, const cardea_rtp_info *info, uint8_t orig_pt,
		uint32_t orig_ssrc, size_t *new_len) {
	if (buf == NULL || info == NULL || new_len == NULL)
		return CARDEA_RTP_ERR_ARGS;
	if (info->payload_len < 2)
		return CARDEA_RTP_ERR_RTX_EMPTY;
	uint16_t osn = rd16(buf + info->payload_offset);
	/* Payload and padding slide back over the OSN; the padding count byte
	 * stays last, so a padded packet remains valid. */
	size_t tail = (size_t)info->payload_len - 2 + info->padding_len;
	memmove(buf + info->payload_offset, buf + info->payload_offset + 2, tail);
	cardea_rtp_set_seq(buf, osn);
	cardea_rtp_set_pt(buf, orig_pt);
	cardea_rtp_set_ssrc(buf, orig_ssrc);
	*new_len = (size_t)info->len - 2;
	return CARDEA_RTP_OK;
}
