/* Video payload inspection for the SDK (cardea/simulcast.h): keyframes and
 * layer ids of VP8, VP9, H.264 and AV1 RTP payloads, and the VP8 payload
 * descriptor.
 *
 * Pure (STYLE.md rule 18): no allocation, no logging, no globals; the bytes
 * come from the network, so every read is checked against the length and
 * every loop is bounded by it (or by a small constant).
 *
 * Formats: VP8 RFC 7741, VP9 RFC 9628 (the payload descriptor of
 * draft-ietf-payload-vp9), H.264 RFC 6184, AV1 "RTP Payload Format for AV1"
 * (AOMedia, aggregation header and OBU elements).
 */
#include <string.h>
#include <glib.h>

#include "cardea/simulcast.h"

cardea_video_codec cardea_video_codec_from_name(const char *name) {
	if (name == NULL)
		return CARDEA_VIDEO_CODEC_UNKNOWN;
	if (g_ascii_strcasecmp(name, "VP8") == 0)
		return CARDEA_VIDEO_CODEC_VP8;
	if (g_ascii_strcasecmp(name, "VP9") == 0)
		return CARDEA_VIDEO_CODEC_VP9;
	if (g_ascii_strcasecmp(name, "H264") == 0)
		return CARDEA_VIDEO_CODEC_H264;
	if (g_ascii_strcasecmp(name, "AV1") == 0 || g_ascii_strcasecmp(name, "AV1X") == 0)
		return CARDEA_VIDEO_CODEC_AV1;
	return CARDEA_VIDEO_CODEC_UNKNOWN;
}

const char *cardea_video_codec_name(cardea_video_codec codec) {
	switch (codec) {
	case CARDEA_VIDEO_CODEC_VP8: return "vp8";
	case CARDEA_VIDEO_CODEC_VP9: return "vp9";
	case CARDEA_VIDEO_CODEC_H264: return "h264";
	case CARDEA_VIDEO_CODEC_AV1: return "av1";
	default: return NULL;
	}
}

/* ---- VP8 ---- */

bool cardea_vp8_descriptor_parse(const uint8_t *p, size_t len, cardea_vp8_descriptor *d) {
	memset(d, 0, sizeof(*d));
	if (p == NULL || len < 1)
		return false;
	size_t off = 1;
	d->non_reference = (p[0] & 0x20) != 0;
	d->start = (p[0] & 0x10) != 0;
	d->partition = p[0] & 0x07;
	if (p[0] & 0x80) {
		if (len < 2)
			return false;
		uint8_t x = p[1];
		off = 2;
		if (x & 0x80) {
			if (off >= len)
				return false;
			d->has_picture_id = true;
			if (p[off] & 0x80) {
				if (off + 1 >= len)
					return false;
				d->picture_id_15 = true;
				d->picture_id = (uint16_t)(((p[off] & 0x7F) << 8) | p[off + 1]);
				off += 2;
			} else {
				d->picture_id = p[off] & 0x7F;
				off += 1;
			}
		}
		if (x & 0x40) {
			if (off >= len)
				return false;
			d->has_tl0picidx = true;
			d->tl0picidx = p[off++];
		}
		if (x & 0x30) {
			if (off >= len)
				return false;
			/* TID and Y are only meaningful with T, KEYIDX only with K; the
			 * byte is there when either is set. */
			if (x & 0x20) {
				d->has_tid = true;
				d->tid = p[off] >> 6;
				d->layer_sync = (p[off] & 0x20) != 0;
			}
			if (x & 0x10) {
				d->has_keyidx = true;
				d->keyidx = p[off] & 0x1F;
			}
			off++;
		}
	}
	if (off >= len)
		return false;
	d->size = (uint8_t)off;
	return true;
}

bool cardea_vp8_descriptor_write(uint8_t *p, size_t len, const cardea_vp8_descriptor *d) {
	cardea_vp8_descriptor now;
	if (!cardea_vp8_descriptor_parse(p, len, &now) || now.size != d->size ||
			now.has_picture_id != d->has_picture_id || now.picture_id_15 != d->picture_id_15 ||
			now.has_tl0picidx != d->has_tl0picidx || now.has_tid != d->has_tid || now.has_keyidx != d->has_keyidx)
		return false;
	p[0] = (uint8_t)((p[0] & ~0x20) | (d->non_reference ? 0x20 : 0));
	if (d->size == 1)
		return true;
	size_t off = 2;
	if (d->has_picture_id) {
		if (d->picture_id_15) {
			p[off] = (uint8_t)(0x80 | ((d->picture_id >> 8) & 0x7F));
			p[off + 1] = (uint8_t)(d->picture_id & 0xFF);
			off += 2;
		} else {
			p[off] = (uint8_t)(d->picture_id & 0x7F);
			off += 1;
		}
	}
	if (d->has_tl0picidx)
		p[off++] = d->tl0picidx;
	if (d->has_tid || d->has_keyidx) {
		uint8_t b = p[off];
		if (d->has_tid)
			b = (uint8_t)((b & 0x1F) | ((d->tid & 0x03) << 6) | (d->layer_sync ? 0x20 : 0));
		if (d->has_keyidx)
			b = (uint8_t)((b & 0xE0) | (d->keyidx & 0x1F));
		p[off] = b;
	}
	return true;
}

static bool parse_vp8(const uint8_t *p, size_t len, cardea_video_frame_info *out) {
	cardea_vp8_descriptor d;
	if (!cardea_vp8_descriptor_parse(p, len, &d))
		return false;
	out->frame_start = d.start && d.partition == 0;
	if (d.has_tid) {
		out->temporal = d.tid;
		out->layer_sync = d.layer_sync;
	}
	if (!out->frame_start)
		return true;
	const uint8_t *h = p + d.size;
	size_t hl = len - d.size;
	/* Payload header: bit 0 of the first byte is P, the inverse keyframe flag. */
	out->keyframe = (h[0] & 0x01) == 0;
	/* A keyframe's header: 3 bytes frame tag, start code 9d 01 2a, then
	 * 14-bit width and height (each with a 2-bit scale on top). */
	if (out->keyframe && hl >= 10 && h[3] == 0x9d && h[4] == 0x01 && h[5] == 0x2a) {
		out->width = (h[6] | (h[7] << 8)) & 0x3FFF;
		out->height = (h[8] | (h[9] << 8)) & 0x3FFF;
	}
	return true;
}

/* ---- VP9 ---- */

static bool parse_vp9(const uint8_t *p, size_t len, cardea_video_frame_info *out) {
	if (len < 1)
		return false;
	uint8_t b0 = p[0];
	bool i = b0 & 0x80, inter = b0 & 0x40, l = b0 & 0x20, f = b0 & 0x10, b = b0 & 0x08, v = b0 & 0x02;
	size_t off = 1;
	if (i) {
		if (off >= len)
			return false;
		off += (p[off] & 0x80) ? 2 : 1;
	}
	if (l) {
		if (off >= len)
			return false;
		out->temporal = p[off] >> 5;
		out->layer_sync = (p[off] & 0x10) != 0;
		out->spatial = (p[off] >> 1) & 0x07;
		off++;
		if (!f)
			off++;              /* TL0PICIDX */
	}
	if (f && inter) {
		/* Up to 3 reference indices, each with N = "another follows". */
		for (int k = 0; k < 3; k++) {
			if (off >= len)
				return false;
			bool more = p[off++] & 0x01;
			if (!more)
				break;
		}
	}
	if (v) {
		if (off >= len)
			return false;
		uint8_t ss = p[off++];
		int n_s = (ss >> 5) + 1;
		bool y = ss & 0x10, g = ss & 0x08;
		if (y) {
			if (off + 4 * (size_t)n_s > len)
				return false;
			/* The first resolution is spatial layer 0's. */
			out->width = (p[off] << 8) | p[off + 1];
			out->height = (p[off + 2] << 8) | p[off + 3];
			off += 4 * (size_t)n_s;
		}
		if (g) {
			if (off >= len)
				return false;
			int n_g = p[off++];
			for (int k = 0; k < n_g; k++) {
				if (off >= len)
					return false;
				int r = (p[off] >> 2) & 0x03;
				off += 1 + (size_t)r;
			}
		}
	}
	if (off >= len)
		return false;
	out->frame_start = b;
	out->keyframe = b && !inter && out->spatial <= 0;
	if (!out->keyframe) {
		out->width = out->height = 0;
	}
	return true;
}

/* ---- H.264 ---- */

/* A NAL unit starting a keyframe: IDR slice (5) or SPS (7). */
static bool h264_key_nal(uint8_t type) {
	return type == 5 || type == 7;
}

/* The first NAL of an access unit: AUD, SPS, PPS, SEI, or a slice whose
 * first_mb_in_slice is 0 (ue(v) "1" = a leading 1 bit). `next` is the byte
 * after the NAL header, -1 if absent. */
static bool h264_au_start(uint8_t type, int next) {
	if (type == 6 || type == 7 || type == 8 || type == 9)
		return true;
	if (type == 1 || type == 5)
		return next >= 0 && (next & 0x80);
	return false;
}

static bool parse_h264(const uint8_t *p, size_t len, cardea_video_frame_info *out) {
	if (len < 1 || (p[0] & 0x80))      /* forbidden_zero_bit */
		return false;
	uint8_t type = p[0] & 0x1F;
	if (type >= 1 && type <= 23) {
		out->keyframe = h264_key_nal(type);
		out->frame_start = h264_au_start(type, len > 1 ? p[1] : -1);
		return true;
	}
	if (type == 24) {
		/* STAP-A: (16-bit size, NAL)+ */
		size_t off = 1;
		bool first = true;
		while (off + 2 <= len) {
			size_t n = (size_t)((p[off] << 8) | p[off + 1]);
			off += 2;
			if (n == 0 || off + n > len)
				return false;
			uint8_t t = p[off] & 0x1F;
			if (h264_key_nal(t))
				out->keyframe = true;
			if (first)
				out->frame_start = h264_au_start(t, n > 1 ? p[off + 1] : -1);
			first = false;
			off += n;
		}
		return !first;
	}
	if (type == 28) {
		/* FU-A: FU header S|E|R|type */
		if (len < 3)
			return false;
		if (p[1] & 0x80) {
			uint8_t t = p[1] & 0x1F;
			out->keyframe = h264_key_nal(t);
			out->frame_start = h264_au_start(t, p[2]);
		}
		return true;
	}
	/* STAP-B, MTAP, FU-B: not used by WebRTC (packetization-mode 1). */
	return false;
}

/* ---- AV1 ---- */

#define AV1_OBU_SEQUENCE_HEADER 1
#define AV1_OBU_TEMPORAL_DELIMITER 2

/* LEB128 as used by AV1 (at most 8 bytes). */
static bool leb128(const uint8_t *p, size_t len, size_t *off, uint64_t *value) {
	uint64_t v = 0;
	for (int k = 0; k < 8; k++) {
		if (*off >= len)
			return false;
		uint8_t b = p[(*off)++];
		v |= (uint64_t)(b & 0x7F) << (7 * k);
		if (!(b & 0x80)) {
			*value = v;
			return true;
		}
	}
	return false;
}

static bool parse_av1(const uint8_t *p, size_t len, cardea_video_frame_info *out) {
	if (len < 2)
		return false;
	bool z = p[0] & 0x80, n = p[0] & 0x08;
	int w = (p[0] >> 4) & 0x03;
	out->frame_start = !z;
	if (z) {
		/* Continues an OBU from the previous packet: nothing new starts here. */
		return true;
	}
	out->keyframe = n;
	size_t off = 1;
	/* Walk the OBU elements up to the first one that is not a temporal
	 * delimiter (those should not be sent, but may be). W = 1..3 is the
	 * element count with no length on the last one; W = 0 means every
	 * element has a length. Bounded by len: each step moves off forward. */
	for (int k = 0; off < len; k++) {
		bool last = w != 0 && k == w - 1;
		uint64_t size = len - off;
		if (!last && !leb128(p, len, &off, &size))
			return false;
		if (size == 0 || off >= len || size > len - off)
			return false;
		uint8_t type = (p[off] >> 3) & 0x0F;
		if (type != AV1_OBU_TEMPORAL_DELIMITER) {
			if (type == AV1_OBU_SEQUENCE_HEADER)
				out->keyframe = true;
			return true;
		}
		off += (size_t)size;
		if (last)
			break;
	}
	return true;
}

bool cardea_video_parse(cardea_video_codec codec, const uint8_t *payload, size_t len, cardea_video_frame_info *out) {
	memset(out, 0, sizeof(*out));
	out->temporal = out->spatial = -1;
	if (payload == NULL || len == 0)
		return false;
	bool ok = false;
	switch (codec) {
	case CARDEA_VIDEO_CODEC_VP8: ok = parse_vp8(payload, len, out); break;
	case CARDEA_VIDEO_CODEC_VP9: ok = parse_vp9(payload, len, out); break;
	case CARDEA_VIDEO_CODEC_H264: ok = parse_h264(payload, len, out); break;
	case CARDEA_VIDEO_CODEC_AV1: ok = parse_av1(payload, len, out); break;
	default: break;
	}
	if (!ok) {
		memset(out, 0, sizeof(*out));
		out->temporal = out->spatial = -1;
	}
	return ok;
}

bool cardea_video_parse_rtp(cardea_video_codec codec, const cardea_rtp_packet *packet, cardea_video_frame_info *out) {
	if (packet == NULL || packet->buffer == NULL || packet->length < 12 || packet->header_len > packet->length)
		return cardea_video_parse(codec, NULL, 0, out);
	size_t len = (size_t)packet->length - packet->header_len;
	if ((packet->buffer[0] & 0x20) && len > 0) {
		/* Padding: the last byte counts it (itself included). */
		uint8_t pad = packet->buffer[packet->length - 1];
		len = pad <= len ? len - pad : 0;
	}
	return cardea_video_parse(codec, packet->buffer + packet->header_len, len, out);
}

bool cardea_video_is_keyframe(cardea_video_codec codec, const uint8_t *payload, size_t len) {
	cardea_video_frame_info fi;
	return cardea_video_parse(codec, payload, len, &fi) && fi.keyframe;
}
