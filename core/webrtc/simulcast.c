/* Simulcast for the SDK (cardea/simulcast.h): the rewrite context that
 * keeps one continuous outgoing stream, the per-receiver layer selector, and
 * the SDP helper that accepts a simulcast offer.
 *
 * Pure: no allocation, no logging, no globals. Contexts are owned by the
 * plugin that embeds them and used by one thread at a time (the media loop
 * that delivers the sender's packets).
 */
#include <string.h>
#include <glib.h>

#include "cardea/simulcast.h"

/* ---- packet header access (the buffer is authoritative) ---- */

static void put16(uint8_t *p, uint16_t v) {
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int16_t seq_diff(uint16_t a, uint16_t b) {
	return (int16_t)(uint16_t)(a - b);
}

static int32_t ts_diff(uint32_t a, uint32_t b) {
	return (int32_t)(a - b);
}

/* 15-bit picture id circle. */
static int16_t picid_diff(uint16_t a, uint16_t b) {
	int16_t d = (int16_t)((a - b) & 0x7FFF);
	return d >= 0x4000 ? (int16_t)(d - 0x8000) : d;
}

static bool packet_ok(const cardea_rtp_packet *p) {
	return p && p->buffer && p->length >= 12 && p->header_len >= 12 && p->header_len <= p->length;
}

/* ---- rewrite context ---- */

void cardea_sim_rewriter_init(cardea_sim_rewriter *r, uint32_t clock_rate) {
	memset(r, 0, sizeof(*r));
	r->clock_rate = clock_rate ? clock_rate : 90000;
	r->source = -1;
}

void cardea_sim_rewriter_rebase(cardea_sim_rewriter *r) {
	r->rebase = true;
}

/* VP8 picture id and TL0PICIDX: per-source offsets, rebased at a switch so
 * the first picture of the new source follows the last one sent. */
static void rewrite_vp8(cardea_sim_rewriter *r, cardea_rtp_packet *p) {
	uint8_t *payload = p->buffer + p->header_len;
	size_t len = (size_t)p->length - p->header_len;
	cardea_vp8_descriptor d;
	if (!cardea_vp8_descriptor_parse(payload, len, &d))
		return;
	if (d.has_picture_id) {
		uint16_t in = d.picture_id;
		if (r->vp8_rebase || !r->picid_valid)
			r->picid_offset = r->picid_valid ? (uint16_t)((r->last_picid_out + 1 - in) & 0x7FFF) : 0;
		uint16_t out = (uint16_t)((in + r->picid_offset) & 0x7FFF);
		if (!r->picid_valid || picid_diff(out, r->last_picid_out) > 0)
			r->last_picid_out = out;
		r->picid_valid = true;
		d.picture_id = out;
	}
	if (d.has_tl0picidx) {
		uint8_t in = d.tl0picidx;
		if (r->vp8_rebase || !r->tl0_valid)
			r->tl0_offset = r->tl0_valid ? (uint8_t)(r->last_tl0_out + 1 - in) : 0;
		uint8_t out = (uint8_t)(in + r->tl0_offset);
		if (!r->tl0_valid || (int8_t)(uint8_t)(out - r->last_tl0_out) > 0)
			r->last_tl0_out = out;
		r->tl0_valid = true;
		d.tl0picidx = out;
	}
	/* Only a rebase that met a descriptor with the fields counts. */
	if (d.has_picture_id || d.has_tl0picidx)
		r->vp8_rebase = false;
	cardea_vp8_descriptor_write(payload, len, &d);
}

bool cardea_sim_rewriter_rewrite(cardea_sim_rewriter *r, cardea_rtp_packet *p, int source,
		cardea_video_codec codec, int64_t now_us) {
	if (!packet_ok(p))
		return false;
	uint16_t seq = p->seq;
	uint32_t ts = p->timestamp;
	if (!r->started || r->rebase || source != r->source) {
		if (r->started) {
			/* Next seq after the last one sent; the timestamp moves on by
			 * the wall-clock time since the last frame (at least a tick, so
			 * the new frame never shares the previous one's timestamp). */
			r->seq_offset = (uint16_t)(r->last_seq_out + 1 - seq);
			int64_t elapsed = now_us > r->last_ts_us ? now_us - r->last_ts_us : 0;
			uint64_t ticks = (uint64_t)elapsed * r->clock_rate / G_USEC_PER_SEC;
			if (ticks < 1)
				ticks = 1;
			if (ticks > INT32_MAX / 2)
				ticks = INT32_MAX / 2;
			r->ts_offset = r->last_ts_out + (uint32_t)ticks - ts;
		} else {
			r->seq_offset = 0;
			r->ts_offset = 0;
		}
		r->source = source;
		r->base_seq = seq;
		r->skipped = false;
		r->rebase = false;
		r->vp8_rebase = true;
	} else {
		/* Older than the switch point: its slot belongs to the old source. */
		if (seq_diff(seq, r->base_seq) < 0)
			return false;
		/* Reordered across a skipped packet: it has no slot any more. */
		if (r->skipped && seq_diff(seq, r->skip_seq) < 0)
			return false;
	}
	uint16_t out_seq = (uint16_t)(seq + r->seq_offset);
	uint32_t out_ts = ts + r->ts_offset;
	if (!r->started || seq_diff(out_seq, r->last_seq_out) > 0) {
		r->last_seq_out = out_seq;
		r->last_seq_in = seq;
	}
	if (!r->started || ts_diff(out_ts, r->last_ts_out) > 0) {
		r->last_ts_out = out_ts;
		r->last_ts_us = now_us;
	}
	r->started = true;
	put16(p->buffer + 2, out_seq);
	put32(p->buffer + 4, out_ts);
	p->seq = out_seq;
	p->timestamp = out_ts;
	if (codec == CARDEA_VIDEO_CODEC_VP8)
		rewrite_vp8(r, p);
	return true;
}

void cardea_sim_rewriter_skip(cardea_sim_rewriter *r, const cardea_rtp_packet *p, int source) {
	if (!packet_ok(p) || !r->started || r->rebase || source != r->source)
		return;
	/* Only a packet newer than everything sent can be hidden: the ones
	 * after it close up by one. An older one left a hole already. */
	if (seq_diff(p->seq, r->last_seq_in) <= 0 || (r->skipped && seq_diff(p->seq, r->skip_seq) <= 0))
		return;
	/* Packets lost between the last one sent and this one keep their slots:
	 * they are real loss, and the receiver may NACK them. */
	r->seq_offset--;
	r->skip_seq = p->seq;
	r->skipped = true;
}

bool cardea_sim_packet_copy(const cardea_rtp_packet *in, uint8_t *buf, size_t cap, cardea_rtp_packet *out) {
	if (!packet_ok(in) || buf == NULL || cap < in->length)
		return false;
	memmove(buf, in->buffer, in->length);
	*out = *in;
	out->buffer = buf;
	return true;
}

/* ---- layer selector ---- */

void cardea_sim_selector_init(cardea_sim_selector *s, int substreams) {
	memset(s, 0, sizeof(*s));
	s->substreams = CLAMP(substreams, 1, CARDEA_SIM_MAX_SUBSTREAMS);
	s->substream_target = s->substreams - 1;
	s->temporal_target = 2;
	s->fallback_us = CARDEA_SIM_DEFAULT_FALLBACK_US;
	s->substream = -1;
	s->temporal = -1;
}

void cardea_sim_selector_set_substream(cardea_sim_selector *s, int substream) {
	s->substream_target = CLAMP(substream, 0, CARDEA_SIM_MAX_SUBSTREAMS - 1);
}

void cardea_sim_selector_set_temporal(cardea_sim_selector *s, int temporal) {
	s->temporal_target = CLAMP(temporal, 0, 2);
}

void cardea_sim_selector_set_fallback(cardea_sim_selector *s, int64_t fallback_us) {
	s->fallback_us = fallback_us > 0 ? fallback_us : CARDEA_SIM_DEFAULT_FALLBACK_US;
}

static bool alive(const cardea_sim_selector *s, int i, int64_t now) {
	if (i >= s->substreams)
		return false;
	if (s->last_seen_us[i] == 0)
		return now - s->start_us < s->fallback_us;
	return now - s->last_seen_us[i] < s->fallback_us;
}

/* The substream to be on: the best alive one not above the target, else
 * the lowest alive one above it, else stay. */
static int aim(const cardea_sim_selector *s, int64_t now) {
	int target = MIN(s->substream_target, s->substreams - 1);
	for (int i = target; i >= 0; i--)
		if (alive(s, i, now))
			return i;
	for (int i = target + 1; i < s->substreams; i++)
		if (alive(s, i, now))
			return i;
	return s->substream >= 0 ? s->substream : target;
}

unsigned cardea_sim_selector_process(cardea_sim_selector *s, const cardea_rtp_packet *packet,
		const cardea_video_frame_info *frame, int64_t now_us) {
	if (packet == NULL)
		return 0;
	int sub = packet->substream;
	if (sub < 0 || sub >= s->substreams)
		return 0;
	unsigned out = 0;
	if (s->start_us == 0)
		s->start_us = now_us ? now_us : 1;
	/* Padding keeps a paused layer's sequence going: it is not media. */
	if (frame)
		s->last_seen_us[sub] = now_us ? now_us : 1;
	int want = aim(s, now_us);
	if (want != s->substream) {
		if (sub == want && frame && frame->keyframe) {
			s->substream = want;
			out |= CARDEA_SIM_SUBSTREAM_CHANGED;
			/* A keyframe references nothing: any temporal layer can start here. */
			int t = frame->temporal >= 0 ? s->temporal_target : -1;
			if (t != s->temporal) {
				s->temporal = t;
				if (t >= 0)
					out |= CARDEA_SIM_TEMPORAL_CHANGED;
			}
		} else if (s->keyframe_asked_us == 0 || now_us - s->keyframe_asked_us >= CARDEA_SIM_KEYFRAME_RETRY_US) {
			s->keyframe_asked_us = now_us ? now_us : 1;
			out |= CARDEA_SIM_NEED_KEYFRAME;
		}
	}
	if (sub != s->substream)
		return out;
	if (frame && frame->temporal >= 0) {
		int tid = frame->temporal;
		if (frame->frame_start) {
			int t = s->temporal;
			if (t < 0 || frame->keyframe)
				t = s->temporal_target;
			else if (s->temporal_target < t)
				t = s->temporal_target;
			else if (s->temporal_target > t && tid > t && tid <= s->temporal_target && frame->layer_sync)
				t = tid;
			if (t != s->temporal) {
				s->temporal = t;
				out |= CARDEA_SIM_TEMPORAL_CHANGED;
			}
		}
		if (s->temporal >= 0 && tid > s->temporal)
			return out | CARDEA_SIM_SKIPPED;
	}
	return out | CARDEA_SIM_RELAY;
}

unsigned cardea_sim_forward(cardea_sim_selector *s, cardea_sim_rewriter *r, cardea_video_codec codec,
		cardea_rtp_packet *packet, int64_t now_us) {
	if (s == NULL || r == NULL || packet == NULL)
		return 0;
	cardea_video_frame_info fi;
	bool parsed = cardea_video_parse_rtp(codec, packet, &fi);
	unsigned out = cardea_sim_selector_process(s, packet, parsed ? &fi : NULL, now_us);
	if (out & CARDEA_SIM_RELAY) {
		if (!cardea_sim_rewriter_rewrite(r, packet, packet->substream, codec, now_us))
			out &= ~(unsigned)CARDEA_SIM_RELAY;
	} else if (out & CARDEA_SIM_SKIPPED) {
		cardea_sim_rewriter_skip(r, packet, packet->substream);
	}
	return out;
}

/* ---- SDP ---- */

int cardea_sim_sdp_answer(cardea_sdp *answer, cardea_sdp_mline *m, const cardea_sdp_mline *offer) {
	if (answer == NULL || m == NULL || offer == NULL)
		return 1;
	const cardea_sdp_ssrc_group *sim = cardea_sdp_find_ssrc_group(offer, "SIM");
	guint rid_id = cardea_sdp_find_extmap(offer, CARDEA_SDP_EXT_RID);
	if (!offer->simulcast.present || offer->simulcast.n_send == 0 || rid_id == 0) {
		if (sim && sim->n_ssrcs > 1)
			return (int)MIN(sim->n_ssrcs, CARDEA_SIM_MAX_SUBSTREAMS);
		return 1;
	}
	int n = 0;
	for (guint i = 0; i < offer->simulcast.n_send && n < CARDEA_SIM_MAX_SUBSTREAMS; i++) {
		const cardea_sdp_simulcast_stream *st = &offer->simulcast.send[i];
		if (st->n_alts == 0 || st->alts[0].rid == NULL)
			continue;
		const char *rid = st->alts[0].rid;
		n++;
		if (cardea_sdp_find_rid(m, rid))
			continue;
		cardea_sdp_rid_add(answer, m, rid, CARDEA_SDP_RID_RECV);
		cardea_sdp_simulcast_add(answer, m, CARDEA_SDP_RID_RECV, rid, FALSE);
	}
	if (n == 0)
		return 1;
	if (cardea_sdp_find_extmap(m, CARDEA_SDP_EXT_RID) == 0)
		cardea_sdp_extmap_add(answer, m, rid_id, cardea_sdp_ext_uri(CARDEA_SDP_EXT_RID));
	guint rrid_id = cardea_sdp_find_extmap(offer, CARDEA_SDP_EXT_REPAIRED_RID);
	if (rrid_id && cardea_sdp_find_extmap(m, CARDEA_SDP_EXT_REPAIRED_RID) == 0)
		cardea_sdp_extmap_add(answer, m, rrid_id, cardea_sdp_ext_uri(CARDEA_SDP_EXT_REPAIRED_RID));
	return n;
}
