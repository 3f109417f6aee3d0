/* SVC layer selection for the SDK (cardea/svc.h): the VP9 payload
 * descriptor with its scalability structure (RFC 9628), the AV1 Dependency
 * Descriptor (AV1 RTP specification, appendix A), and the per-receiver
 * selector that drops the layers a receiver does not want.
 *
 * Pure: no allocation, no logging, no globals. The selector is owned by the
 * plugin that embeds it and used by one thread at a time (the sender's media
 * loop). Parsers read input from the network: every read is bounds-checked.
 */
#include <string.h>
#include <glib.h>

#include "cardea/svc.h"
#include "webrtc/rtp.h"

/* ---- VP9 payload descriptor ---- */

bool cardea_vp9_descriptor_parse(const uint8_t *p, size_t len, cardea_vp9_descriptor *d) {
	memset(d, 0, sizeof(*d));
	if (p == NULL || len < 1)
		return false;
	uint8_t b0 = p[0];
	d->has_picture_id = b0 & 0x80;
	d->inter_picture = b0 & 0x40;
	d->has_layers = b0 & 0x20;
	d->flexible = b0 & 0x10;
	d->start = b0 & 0x08;
	d->end = b0 & 0x04;
	d->has_ss = b0 & 0x02;
	d->not_reference = b0 & 0x01;
	size_t off = 1;
	if (d->has_picture_id) {
		if (off >= len)
			return false;
		d->picture_id_15 = p[off] & 0x80;
		if (d->picture_id_15) {
			if (off + 2 > len)
				return false;
			d->picture_id = (uint16_t)(((p[off] & 0x7F) << 8) | p[off + 1]);
			off += 2;
		} else {
			d->picture_id = p[off] & 0x7F;
			off++;
		}
	}
	if (d->has_layers) {
		if (off >= len)
			return false;
		d->tid = p[off] >> 5;
		d->switching_up = p[off] & 0x10;
		d->sid = (p[off] >> 1) & 0x07;
		d->inter_layer = p[off] & 0x01;
		off++;
		if (!d->flexible) {
			if (off >= len)
				return false;
			d->has_tl0picidx = true;
			d->tl0picidx = p[off++];
		}
	}
	if (d->flexible && d->inter_picture) {
		/* Up to 3 reference differences, N = "another follows". */
		bool more = true;
		while (more) {
			if (off >= len || d->n_pdiff == 3)
				return false;
			d->pdiff[d->n_pdiff++] = p[off] >> 1;
			more = p[off++] & 0x01;
		}
	}
	if (d->has_ss) {
		if (off >= len)
			return false;
		uint8_t ss = p[off++];
		d->ss_spatial = (uint8_t)((ss >> 5) + 1);
		d->ss_has_size = ss & 0x10;
		bool g = ss & 0x08;
		if (d->ss_has_size) {
			if (off + 4 * (size_t)d->ss_spatial > len)
				return false;
			for (int k = 0; k < d->ss_spatial; k++, off += 4) {
				d->ss_width[k] = (uint16_t)((p[off] << 8) | p[off + 1]);
				d->ss_height[k] = (uint16_t)((p[off + 2] << 8) | p[off + 3]);
			}
		}
		if (g) {
			if (off >= len)
				return false;
			d->ss_gof = p[off++];
			for (int k = 0; k < d->ss_gof; k++) {
				if (off >= len)
					return false;
				off += 1 + (size_t)((p[off] >> 2) & 0x03);
			}
		}
		if (d->has_layers && d->sid >= d->ss_spatial)
			return false;
	}
	/* The descriptor is followed by frame data, always. */
	if (off >= len || off > UINT8_MAX)
		return false;
	d->size = (uint8_t)off;
	return true;
}

/* ---- AV1 Dependency Descriptor ---- */

typedef struct bits {
	const uint8_t *p;
	size_t len;      /* in bits */
	size_t pos;
	bool err;
} bits;

/* f(n), n <= 32; reading past the end sets err and gives 0. */
static uint32_t f(bits *b, int n) {
	uint32_t v = 0;
	if (b->err || n == 0)
		return 0;
	if ((size_t)n > b->len - b->pos) {
		b->err = true;
		return 0;
	}
	for (int k = 0; k < n; k++, b->pos++)
		v = (v << 1) | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1);
	return v;
}

/* ns(n): the non-symmetric unsigned code of values 0..n-1. */
static uint32_t ns(bits *b, uint32_t n) {
	int w = 0;
	for (uint32_t x = n; x != 0; x >>= 1)
		w++;
	uint32_t m = (1u << w) - n;
	uint32_t v = f(b, w - 1);
	if (v < m)
		return v;
	return (v << 1) - m + f(b, 1);
}

static bool dd_structure(bits *b, cardea_av1_dd_structure *st) {
	memset(st, 0, sizeof(*st));
	st->template_id_offset = (uint8_t)f(b, 6);
	int dts = (int)f(b, 5) + 1;
	st->n_targets = (uint8_t)dts;
	/* template_layers: next_layer_idc 0 same layer, 1 next temporal layer,
	 * 2 next spatial layer (temporal back to 0), 3 no more templates. */
	int sid = 0, tid = 0, n = 0;
	uint32_t idc;
	do {
		if (n >= CARDEA_AV1_DD_MAX_TEMPLATES || sid >= CARDEA_AV1_DD_MAX_SPATIAL || tid > 7)
			return false;
		st->spatial[n] = (uint8_t)sid;
		st->temporal[n] = (uint8_t)tid;
		if (tid > st->max_temporal)
			st->max_temporal = (uint8_t)tid;
		n++;
		idc = f(b, 2);
		if (idc == 1) {
			tid++;
		} else if (idc == 2) {
			tid = 0;
			sid++;
		}
	} while (idc != 3 && !b->err);
	st->n_templates = (uint8_t)n;
	st->max_spatial = (uint8_t)sid;
	/* template_dtis, and the decode target layers they imply. */
	for (int t = 0; t < n; t++)
		for (int dt = 0; dt < dts; dt++) {
			uint32_t dti = f(b, 2);
			if (dti == 2)
				st->switch_mask[t] |= 1u << dt;
			if (dti != 0) {
				st->target_spatial[dt] = MAX(st->target_spatial[dt], st->spatial[t]);
				st->target_temporal[dt] = MAX(st->target_temporal[dt], st->temporal[t]);
			}
		}
	/* template_fdiffs: read over. */
	for (int t = 0; t < n && !b->err; t++)
		while (f(b, 1) && !b->err)
			f(b, 4);
	/* template_chains: read over. */
	uint32_t chains = ns(b, (uint32_t)dts + 1);
	if (chains > 0) {
		for (int dt = 0; dt < dts; dt++)
			ns(b, chains);
		for (int t = 0; t < n; t++)
			for (uint32_t c = 0; c < chains; c++)
				f(b, 4);
	}
	st->has_resolutions = f(b, 1);
	if (st->has_resolutions)
		for (int s = 0; s <= st->max_spatial; s++) {
			st->width[s] = (uint16_t)(f(b, 16) + 1);
			st->height[s] = (uint16_t)(f(b, 16) + 1);
		}
	st->valid = !b->err;
	return st->valid;
}

bool cardea_av1_dd_parse(const uint8_t *data, size_t len, cardea_av1_dd_structure *structure, cardea_av1_dd *out) {
	memset(out, 0, sizeof(*out));
	if (data == NULL || len < 3 || structure == NULL || len > SIZE_MAX / 8)
		return false;
	bits b = { data, len * 8, 0, false };
	out->start_of_frame = f(&b, 1);
	out->end_of_frame = f(&b, 1);
	out->template_id = (uint8_t)f(&b, 6);
	out->frame_number = (uint16_t)f(&b, 16);
	bool custom_dtis = false;
	/* The structure this packet is read against: a new one is committed
	 * only when the whole descriptor parses. */
	cardea_av1_dd_structure fresh;
	const cardea_av1_dd_structure *st = structure;
	if (len > 3) {
		bool has_structure = f(&b, 1);
		out->has_active_targets = f(&b, 1);
		custom_dtis = f(&b, 1);
		f(&b, 1);    /* custom_fdiffs: nothing here needs them */
		f(&b, 1);    /* custom_chains */
		if (has_structure) {
			if (!dd_structure(&b, &fresh))
				return false;
			st = &fresh;
			out->has_structure = true;
			out->active_targets = st->n_targets >= 32 ? UINT32_MAX : (1u << st->n_targets) - 1;
		}
		if (out->has_active_targets) {
			if (!st->valid)
				return false;
			out->active_targets = f(&b, st->n_targets);
		}
		out->has_active_targets |= out->has_structure;
	}
	if (!st->valid)
		return false;
	int index = (out->template_id + 64 - st->template_id_offset) % 64;
	if (index >= st->n_templates)
		return false;
	out->spatial = st->spatial[index];
	out->temporal = st->temporal[index];
	out->switch_mask = st->switch_mask[index];
	if (custom_dtis) {
		out->switch_mask = 0;
		for (int dt = 0; dt < st->n_targets; dt++)
			if (f(&b, 2) == 2)
				out->switch_mask |= 1u << dt;
	}
	if (b.err)
		return false;
	if (out->has_structure)
		*structure = fresh;
	return true;
}

/* ---- header extensions ---- */

bool cardea_svc_rtp_extension(const cardea_rtp_packet *pkt, int id, const uint8_t **data, size_t *len) {
	cardea_rtp_info info;
	uint8_t elen = 0;
	if (pkt == NULL || pkt->buffer == NULL || id <= 0 || id > 255 ||
			cardea_rtp_parse(pkt->buffer, pkt->length, &info) != CARDEA_RTP_OK ||
			cardea_rtp_ext_find(&info, (uint8_t)id, data, &elen) != CARDEA_RTP_OK)
		return false;
	*len = elen;
	return true;
}

/* ---- packet info ---- */

/* Payload bounds of a packet, RTP padding stripped. */
static bool payload_of(const cardea_rtp_packet *pkt, const uint8_t **payload, size_t *len) {
	if (pkt == NULL || pkt->buffer == NULL || pkt->length < 12 || pkt->header_len < 12 ||
			pkt->header_len > pkt->length)
		return false;
	size_t n = (size_t)pkt->length - pkt->header_len;
	if ((pkt->buffer[0] & 0x20) && n > 0) {
		uint8_t pad = pkt->buffer[pkt->length - 1];
		n = pad <= n ? n - pad : 0;
	}
	*payload = pkt->buffer + pkt->header_len;
	*len = n;
	return true;
}

bool cardea_svc_info_vp9(const cardea_rtp_packet *pkt, cardea_svc_info *out) {
	memset(out, 0, sizeof(*out));
	const uint8_t *payload;
	size_t len;
	if (!payload_of(pkt, &payload, &len))
		return false;
	if (len == 0)
		return true;             /* padding only */
	cardea_vp9_descriptor d;
	if (!cardea_vp9_descriptor_parse(payload, len, &d))
		return false;
	out->media = true;
	out->spatial = d.sid;
	out->temporal = d.tid;
	out->layer_start = d.start;
	out->layer_end = d.end;
	out->intra_layer = !d.inter_picture;
	out->switching_up = d.switching_up;
	out->keyframe = d.start && !d.inter_picture && d.sid == 0;
	out->n_spatial = d.has_ss ? d.ss_spatial : 0;
	return true;
}

bool cardea_svc_info_av1(const cardea_rtp_packet *pkt, int dd_ext, cardea_av1_dd_structure *st, cardea_svc_info *out) {
	memset(out, 0, sizeof(*out));
	const uint8_t *payload, *ext;
	size_t len, elen;
	if (!payload_of(pkt, &payload, &len))
		return false;
	if (len == 0)
		return true;
	cardea_av1_dd dd;
	if (!cardea_svc_rtp_extension(pkt, dd_ext, &ext, &elen) || !cardea_av1_dd_parse(ext, elen, st, &dd))
		return false;
	out->media = true;
	out->spatial = dd.spatial;
	out->temporal = dd.temporal;
	out->layer_start = dd.start_of_frame;
	out->layer_end = dd.end_of_frame;
	out->keyframe = dd.has_structure && dd.start_of_frame;
	/* A switch indication for a decode target of this frame's spatial layer
	 * means that layer can be started here; one of its temporal layer, that
	 * the temporal layer can. */
	for (int dt = 0; dt < st->n_targets; dt++) {
		if (!(dd.switch_mask & (1u << dt)))
			continue;
		if (st->target_spatial[dt] == dd.spatial)
			out->intra_layer = true;
		if (st->target_temporal[dt] == dd.temporal)
			out->switching_up = true;
		if (st->target_spatial[dt] == dd.spatial && st->target_temporal[dt] > out->switch_temporal)
			out->switch_temporal = st->target_temporal[dt];
	}
	out->intra_layer |= out->keyframe;
	out->n_spatial = dd.has_structure ? st->max_spatial + 1 : 0;
	return true;
}

/* ---- selector ---- */

void cardea_svc_selector_init(cardea_svc_selector *s) {
	memset(s, 0, sizeof(*s));
	s->spatial_target = CARDEA_SVC_MAX_SPATIAL - 1;
	s->temporal_target = 7;
	s->fallback_us = CARDEA_SIM_DEFAULT_FALLBACK_US;
	s->spatial = s->temporal = -1;
	s->max_temporal_seen = -1;
}

void cardea_svc_selector_set_spatial(cardea_svc_selector *s, int spatial) {
	s->spatial_target = CLAMP(spatial, 0, CARDEA_SVC_MAX_SPATIAL - 1);
}

void cardea_svc_selector_set_temporal(cardea_svc_selector *s, int temporal) {
	s->temporal_target = CLAMP(temporal, 0, 7);
}

void cardea_svc_selector_set_fallback(cardea_svc_selector *s, int64_t fallback_us) {
	s->fallback_us = fallback_us > 0 ? fallback_us : CARDEA_SIM_DEFAULT_FALLBACK_US;
}

static bool layer_alive(const cardea_svc_selector *s, int i, int64_t now) {
	if (s->n_spatial > 0 && i >= s->n_spatial)
		return false;
	if (s->last_seen_us[i] == 0)
		return now - s->start_us < s->fallback_us;
	return now - s->last_seen_us[i] < s->fallback_us;
}

/* The spatial layer to be on: the best alive one not above the target,
 * else the lowest alive one above it, else stay. */
static int spatial_aim(const cardea_svc_selector *s, int64_t now) {
	int target = s->spatial_target;
	if (s->n_spatial > 0)
		target = MIN(target, s->n_spatial - 1);
	for (int i = target; i >= 0; i--)
		if (layer_alive(s, i, now))
			return i;
	for (int i = target + 1; i < CARDEA_SVC_MAX_SPATIAL; i++)
		if (layer_alive(s, i, now))
			return i;
	return s->spatial >= 0 ? s->spatial : target;
}

/* The temporal layer a start point gives: the target, but not above what
 * the sender was seen to send (a layer it never sent can be taken as soon
 * as it shows up: none of its frames was dropped). */
static int temporal_start(const cardea_svc_selector *s) {
	return MIN(s->temporal_target, MAX(s->max_temporal_seen, 0));
}

unsigned cardea_svc_selector_process(cardea_svc_selector *s, const cardea_rtp_packet *pkt,
		const cardea_svc_info *info, int64_t now_us) {
	if (pkt == NULL)
		return 0;
	if (s->start_us == 0)
		s->start_us = now_us ? now_us : 1;
	/* Malformed or padding-only: never relayed (probing padding can be most
	 * of the bitrate); the rewriter closes the gap. */
	if (info == NULL || !info->media)
		return CARDEA_SIM_SKIPPED;
	/* Another sender (the plugin switched the receiver to another feed):
	 * its layers reference nothing the receiver has, so start over at its
	 * next keyframe. */
	if (s->have_ts && pkt->ssrc != s->ssrc) {
		s->have_ts = false;
		s->spatial = s->temporal = -1;
		s->n_spatial = 0;
		s->max_temporal_seen = -1;
		memset(s->last_seen_us, 0, sizeof(s->last_seen_us));
		s->start_us = now_us ? now_us : 1;
		memset(&s->av1, 0, sizeof(s->av1));
	}
	s->ssrc = pkt->ssrc;
	int sid = CLAMP(info->spatial, 0, CARDEA_SVC_MAX_SPATIAL - 1);
	int tid = CLAMP(info->temporal, 0, 7);
	s->last_seen_us[sid] = now_us ? now_us : 1;
	if (info->n_spatial > 0)
		s->n_spatial = MIN(info->n_spatial, CARDEA_SVC_MAX_SPATIAL);
	bool new_picture = !s->have_ts || (int32_t)(pkt->timestamp - s->last_ts) > 0;
	if (new_picture) {
		s->have_ts = true;
		s->last_ts = pkt->timestamp;
	}
	bool new_temporal = tid > s->max_temporal_seen;
	if (new_temporal)
		s->max_temporal_seen = tid;
	int old_spatial = s->spatial, old_temporal = s->temporal;
	int want = spatial_aim(s, now_us);
	unsigned out = 0;
	if (info->keyframe && new_picture) {
		/* Nothing before a keyframe is needed: any layer can start here. */
		s->spatial = want;
		s->temporal = temporal_start(s);
	} else if (s->spatial >= 0) {
		if (new_picture) {
			/* Down at the next picture: lower layers never use upper ones. */
			if (want < s->spatial)
				s->spatial = want;
			if (s->temporal_target < s->temporal)
				s->temporal = s->temporal_target;
		}
		/* Spatial up only at keyframes: a layer frame above the current one
		 * that uses no earlier picture of its layer (VP9 P = 0) would do for
		 * decoding, but by the time it arrives the layer below already went
		 * out with the picture's marker. */
		/* Up in time at a switching-up point starting a picture, or as soon
		 * as a layer never seen before appears. */
		if (s->temporal_target > s->temporal && tid > s->temporal && tid <= s->temporal_target &&
				((new_picture && info->layer_start && info->switching_up) || new_temporal))
			s->temporal = tid;
		/* AV1: a frame that starts decode targets of higher temporal layers
		 * (their later frames reference nothing before it) lifts the
		 * temporal layer here, though it is a T0 frame itself. */
		if (s->temporal_target > s->temporal && new_picture && info->layer_start &&
				info->switch_temporal > s->temporal)
			s->temporal = MIN(info->switch_temporal, s->temporal_target);
	}
	if (s->spatial != old_spatial)
		out |= CARDEA_SVC_SPATIAL_CHANGED;
	if (s->temporal != old_temporal)
		out |= CARDEA_SIM_TEMPORAL_CHANGED;
	if (s->spatial < 0 || want > s->spatial) {
		if (s->keyframe_asked_us == 0 || now_us - s->keyframe_asked_us >= CARDEA_SIM_KEYFRAME_RETRY_US) {
			s->keyframe_asked_us = now_us ? now_us : 1;
			out |= CARDEA_SIM_NEED_KEYFRAME;
		}
	}
	if (s->spatial < 0 || sid > s->spatial || tid > s->temporal)
		return out | CARDEA_SIM_SKIPPED;
	out |= CARDEA_SIM_RELAY;
	if (info->layer_end && sid == s->spatial)
		out |= CARDEA_SVC_MARKER;
	return out;
}

unsigned cardea_svc_forward(cardea_svc_selector *s, cardea_sim_rewriter *r, cardea_video_codec codec,
		cardea_rtp_packet *pkt, int64_t now_us) {
	if (s == NULL || r == NULL || pkt == NULL)
		return 0;
	cardea_svc_info info;
	bool ok = false;
	if (codec == CARDEA_VIDEO_CODEC_VP9)
		ok = cardea_svc_info_vp9(pkt, &info);
	else if (codec == CARDEA_VIDEO_CODEC_AV1 && s->av1_dd_ext > 0)
		ok = cardea_svc_info_av1(pkt, s->av1_dd_ext, &s->av1, &info);
	bool same_sender = s->have_ts && pkt->ssrc == s->ssrc;
	unsigned out = cardea_svc_selector_process(s, pkt, ok ? &info : NULL, now_us);
	if (out & CARDEA_SIM_RELAY) {
		if (r->rebase && r->started && r->source == 0 && same_sender) {
			/* A rebase (the plugin's, after a settings change or a pause)
			 * within one sender's stream: its timestamps already run on,
			 * and this packet may be in the middle of a picture whose first
			 * packets went out, so only the sequence numbers start anew. */
			r->seq_offset = (uint16_t)(r->last_seq_out + 1 - pkt->seq);
			r->base_seq = pkt->seq;
			r->skipped = false;
			r->rebase = false;
		}
		if (!cardea_sim_rewriter_rewrite(r, pkt, 0, codec, now_us)) {
			out &= ~(unsigned)CARDEA_SIM_RELAY;
		} else if ((out & CARDEA_SVC_MARKER) && !(pkt->buffer[1] & 0x80)) {
			pkt->buffer[1] |= 0x80;
			pkt->marker = true;
		}
	} else if (out & CARDEA_SIM_SKIPPED) {
		cardea_sim_rewriter_skip(r, pkt, 0);
	}
	return out;
}

/* ---- header extension id swap ---- */

bool cardea_svc_rtp_extension_swap(cardea_rtp_packet *pkt, int a, int b) {
	if (a == b)
		return true;
	cardea_rtp_info info;
	return pkt != NULL && pkt->buffer != NULL && a > 0 && b > 0 && a <= 255 && b <= 255 &&
		cardea_rtp_parse(pkt->buffer, pkt->length, &info) == CARDEA_RTP_OK &&
		cardea_rtp_ext_swap_ids(pkt->buffer, &info, (uint8_t)a, (uint8_t)b) == CARDEA_RTP_OK;
}

/* ---- simulcast of encrypted payloads ---- */

void cardea_sim_e2ee_init(cardea_sim_e2ee *e, int dd_ext) {
	memset(e, 0, sizeof(*e));
	e->dd_ext = dd_ext > 0 && dd_ext < 256 ? dd_ext : 0;
}

bool cardea_sim_e2ee_frame_info(cardea_sim_e2ee *e, cardea_video_codec codec, const cardea_rtp_packet *pkt,
		bool switch_pending, cardea_video_frame_info *fi, bool *from_dd) {
	memset(fi, 0, sizeof(*fi));
	fi->temporal = fi->spatial = -1;
	if (from_dd)
		*from_dd = false;
	const uint8_t *payload;
	size_t len;
	if (e == NULL || !payload_of(pkt, &payload, &len) || len == 0)
		return false;
	int sub = pkt->substream;
	if (sub < 0 || sub >= CARDEA_SIM_MAX_SUBSTREAMS)
		return false;
	/* A picture starts with a newer timestamp: nothing of the payload needed. */
	fi->frame_start = !e->have_ts[sub] || (int32_t)(pkt->timestamp - e->last_ts[sub]) > 0;
	if (fi->frame_start) {
		e->have_ts[sub] = true;
		e->last_ts[sub] = pkt->timestamp;
	}
	/* The VP8 descriptor is written by the packetizer, after the frame
	 * was encrypted: its temporal layer id and sync bit are clear text. */
	if (codec == CARDEA_VIDEO_CODEC_VP8) {
		cardea_vp8_descriptor d;
		if (cardea_vp8_descriptor_parse(payload, len, &d) && d.has_tid) {
			fi->temporal = d.tid;
			fi->layer_sync = d.layer_sync;
		}
	}
	const uint8_t *ext;
	size_t elen;
	if (e->dd_ext > 0 && cardea_svc_rtp_extension(pkt, e->dd_ext, &ext, &elen)) {
		e->dd_seen[sub] = true;
		cardea_av1_dd dd;
		if (cardea_av1_dd_parse(ext, elen, &e->dd[sub], &dd)) {
			fi->keyframe = dd.has_structure && dd.start_of_frame;
			if (fi->temporal < 0 && e->dd[sub].max_temporal > 0) {
				fi->temporal = dd.temporal;
				for (int dt = 0; dt < e->dd[sub].n_targets; dt++)
					if ((dd.switch_mask & (1u << dt)) && e->dd[sub].target_temporal[dt] == dd.temporal)
						fi->layer_sync = true;
			}
		}
		if (from_dd)
			*from_dd = true;
		return true;
	}
	if (e->dd_seen[sub]) {
		/* This sender sends the DD: a packet without it is not a keyframe's first. */
		if (from_dd)
			*from_dd = true;
		return true;
	}
	fi->keyframe = fi->frame_start && switch_pending;
	return true;
}

unsigned cardea_sim_e2ee_forward(cardea_sim_e2ee *e, cardea_sim_selector *s, cardea_sim_rewriter *r,
		cardea_video_codec codec, cardea_rtp_packet *pkt, int64_t now_us) {
	if (e == NULL || s == NULL || r == NULL || pkt == NULL)
		return 0;
	cardea_video_frame_info fi;
	bool from_dd = false;
	bool ok = cardea_sim_e2ee_frame_info(e, codec, pkt, pkt->substream != s->substream, &fi, &from_dd);
	unsigned out = cardea_sim_selector_process(s, pkt, ok ? &fi : NULL, now_us);
	if ((out & CARDEA_SIM_SUBSTREAM_CHANGED) && !from_dd) {
		/* Switched at a picture that may not be a keyframe: ask for one now. */
		s->keyframe_asked_us = now_us ? now_us : 1;
		out |= CARDEA_SIM_NEED_KEYFRAME;
	}
	if (out & CARDEA_SIM_RELAY) {
		if (!cardea_sim_rewriter_rewrite(r, pkt, pkt->substream, codec, now_us))
			out &= ~(unsigned)CARDEA_SIM_RELAY;
	} else if (out & CARDEA_SIM_SKIPPED) {
		cardea_sim_rewriter_skip(r, pkt, pkt->substream);
	}
	return out;
}
