/* NACK tracker, retransmission buffer, keyframe limiter, TWCC recorder.
 * See nack.h for the contract. Only cardea_rtx_buffer_init() and the ring growth allocate. */
#include <string.h>

#include <glib.h>

#include "webrtc/nack.h"

/* ---- NACK tracker ---- */

void cardea_nack_config_defaults(cardea_nack_config *cfg) {
	cfg->max_retries = 10;
	cfg->max_age_us = 1000 * 1000;
	cfg->reorder_delay_us = 0;
	cfg->min_retry_us = 20 * 1000;
	cfg->default_rtt_us = 100 * 1000;
}

void cardea_nack_tracker_init(cardea_nack_tracker *t, const cardea_nack_config *cfg) {
	cardea_nack_config def;
	cardea_nack_config_defaults(&def);
	memset(t, 0, sizeof(*t));
	t->cfg = def;
	if (cfg == NULL)
		return;
	if (cfg->max_retries > 0)
		t->cfg.max_retries = cfg->max_retries > 255 ? 255 : cfg->max_retries;
	if (cfg->max_age_us > 0)
		t->cfg.max_age_us = cfg->max_age_us;
	if (cfg->reorder_delay_us > 0)
		t->cfg.reorder_delay_us = cfg->reorder_delay_us;
	if (cfg->min_retry_us > 0)
		t->cfg.min_retry_us = cfg->min_retry_us;
	if (cfg->default_rtt_us > 0)
		t->cfg.default_rtt_us = cfg->default_rtt_us;
}

/* Index of seq in the sorted list, or -1. */
static ssize_t nack_find(const cardea_nack_tracker *t, int64_t seq) {
	size_t lo = 0, hi = t->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->missing[mid].seq == seq)
			return (ssize_t)mid;
		if (t->missing[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void nack_remove(cardea_nack_tracker *t, size_t i) {
	memmove(&t->missing[i], &t->missing[i + 1], (t->count - i - 1) * sizeof(t->missing[0]));
	t->count--;
}

static void nack_reset(cardea_nack_tracker *t, int64_t seq, uint64_t lost) {
	t->dropped += t->count + lost;
	t->count = 0;
	t->highest = seq;
	t->keyframe_needed = true;
}

cardea_nack_event cardea_nack_tracker_received(cardea_nack_tracker *t, uint16_t seq16, int64_t now_us) {
	int64_t seq = cardea_seq_unwrap(&t->unwrap, seq16);
	if (!t->init) {
		t->init = true;
		t->highest = seq;
		return CARDEA_NACK_IN_ORDER;
	}
	if (seq <= t->highest) {
		ssize_t i = nack_find(t, seq);
		if (i < 0)
			return CARDEA_NACK_OLD;
		nack_remove(t, (size_t)i);
		t->recovered++;
		return CARDEA_NACK_RECOVERED;
	}
	int64_t gap = seq - t->highest - 1;
	if (gap == 0) {
		t->highest = seq;
		return CARDEA_NACK_IN_ORDER;
	}
	if (gap > CARDEA_NACK_MAX_MISSING) {
		nack_reset(t, seq, (uint64_t)gap);
		return CARDEA_NACK_RESET;
	}
	/* Make room by giving up the oldest entries: they are the least likely
	 * to be repaired in time, and the keyframe covers them. */
	size_t excess = t->count + (size_t)gap > CARDEA_NACK_MAX_MISSING
		? t->count + (size_t)gap - CARDEA_NACK_MAX_MISSING : 0;
	if (excess > 0) {
		memmove(&t->missing[0], &t->missing[excess], (t->count - excess) * sizeof(t->missing[0]));
		t->count -= excess;
		t->dropped += excess;
		t->keyframe_needed = true;
	}
	for (int64_t s = t->highest + 1; s < seq; s++) {
		cardea_nack_entry *e = &t->missing[t->count++];
		e->seq = s;
		e->missed_us = now_us;
		e->sent_us = 0;
		e->retries = 0;
	}
	t->highest = seq;
	return CARDEA_NACK_GAP;
}

size_t cardea_nack_tracker_due(cardea_nack_tracker *t, int64_t now_us, int64_t rtt_us, uint16_t *out, size_t cap) {
	int64_t retry = rtt_us > 0 ? rtt_us : t->cfg.default_rtt_us;
	if (retry < t->cfg.min_retry_us)
		retry = t->cfg.min_retry_us;
	size_t n = 0, w = 0;
	/* One pass: drop what is expired, emit what is due, compact in place. */
	for (size_t r = 0; r < t->count; r++) {
		cardea_nack_entry e = t->missing[r];
		if (now_us - e.missed_us > t->cfg.max_age_us || e.retries >= t->cfg.max_retries) {
			/* Nobody downstream can get this packet any more: what
			 * depends on it needs a keyframe. */
			t->expired++;
			t->keyframe_needed = true;
			continue;
		}
		bool due = e.retries == 0 ? now_us - e.missed_us >= t->cfg.reorder_delay_us
			: now_us - e.sent_us >= retry;
		if (due && n < cap && out != NULL) {
			out[n++] = (uint16_t)e.seq;
			e.retries++;
			e.sent_us = now_us;
			t->nacks_sent++;
		}
		t->missing[w++] = e;
	}
	t->count = w;
	return n;
}

bool cardea_nack_tracker_take_keyframe_request(cardea_nack_tracker *t) {
	bool k = t->keyframe_needed;
	t->keyframe_needed = false;
	return k;
}

/* ---- Retransmission buffer ---- */

bool cardea_rtx_buffer_init(cardea_rtx_buffer *b, size_t n_slots, size_t slot_size, int64_t max_age_us) {
	memset(b, 0, sizeof(*b));
	if (n_slots == 0)
		n_slots = CARDEA_RTX_DEFAULT_SLOTS;
	if (slot_size == 0)
		slot_size = CARDEA_RTX_DEFAULT_SLOT_SIZE;
	if (max_age_us <= 0)
		max_age_us = CARDEA_RTX_DEFAULT_MAX_AGE_US;
	/* More slots than seqs would only alias; bigger slots than an RTP packet
	 * can be are waste. */
	if (n_slots > 65536 || slot_size < CARDEA_RTP_HEADER_SIZE || slot_size > CARDEA_RTP_MAX_PACKET)
		return false;
	size_t n = 1;
	while (n < n_slots)
		n <<= 1;
	b->n_slots = n;
	b->slot_size = slot_size;
	b->max_age_us = max_age_us;
	b->ring_cap = n * slot_size;
	b->ring_size = MIN(b->ring_cap, MAX((size_t)CARDEA_RTX_INITIAL_RING, 2 * slot_size));
	b->ring = g_malloc(b->ring_size);
	b->lap_start_us = -1;
	b->slots = g_new0(cardea_rtx_slot, n);
	return true;
}

void cardea_rtx_buffer_free(cardea_rtx_buffer *b) {
	g_free(b->ring);
	g_free(b->slots);
	b->ring = NULL;
	b->slots = NULL;
	b->n_slots = 0;
	b->ring_size = 0;
}

void cardea_rtx_buffer_clear(cardea_rtx_buffer *b) {
	if (b->slots != NULL)
		memset(b->slots, 0, b->n_slots * sizeof(b->slots[0]));
}

/* Its bytes are still in the ring: fewer than ring_size bytes were written
 * since it started (positions skipped at a lap's end count as written, which
 * only errs towards "gone"). */
static bool slot_intact(const cardea_rtx_buffer *b, const cardea_rtx_slot *s) {
	return s->used && b->write_pos - s->pos <= b->ring_size;
}

/* Moves the intact packets, oldest first, to the start of a bigger ring and
 * renumbers their positions from 0, so none straddles the new ring's end. */
static void ring_grow(cardea_rtx_buffer *b, size_t new_size) {
	uint64_t from = b->write_pos > b->ring_size ? b->write_pos - b->ring_size : 0;
	uint8_t *ring = g_malloc(new_size);
	size_t used = 0;
	for (uint64_t p = from; p < b->write_pos; ) {
		size_t off = (size_t)(p % b->ring_size);
		size_t n = (size_t)MIN(b->write_pos - p, (uint64_t)(b->ring_size - off));
		memcpy(ring + used, b->ring + off, n);
		used += n;
		p += n;
	}
	for (size_t i = 0; i < b->n_slots; i++) {
		cardea_rtx_slot *s = &b->slots[i];
		if (slot_intact(b, s))
			s->pos -= from;
		else
			s->used = false;
	}
	g_free(b->ring);
	b->ring = ring;
	b->ring_size = new_size;
	b->write_pos = used;
	b->write_off = used;
	b->grown++;
}

/* At the end of each lap: a lap that took less than max_age_us held less
 * history than wanted. Unless the slots bound it anyway (a lap of n_slots
 * packets or more), the ring grows to what max_age_us at the lap's rate
 * needs plus a quarter, but by 1.5x to 2x at a time, up to ring_cap: a
 * keyframe's burst makes a short lap of a small ring look like a huge rate,
 * and one such lap must not take the ring to its cap. */
static void lap_check(cardea_rtx_buffer *b, int64_t now_us) {
	if (b->lap_start_us < 0) {
		b->lap_start_us = now_us;
		b->lap_start_pos = b->write_pos;
		b->lap_packets = 0;
		return;
	}
	if (b->write_pos - b->lap_start_pos < b->ring_size)
		return;
	int64_t took = now_us - b->lap_start_us;
	if (took < b->max_age_us && b->lap_packets < b->n_slots && b->ring_size < b->ring_cap) {
		double want = (double)b->ring_size * (double)b->max_age_us / (double)MAX(took, 1) * 1.25;
		double size = MAX(MIN(want, 2.0 * (double)b->ring_size), 1.5 * (double)b->ring_size);
		ring_grow(b, size >= (double)b->ring_cap ? b->ring_cap : (size_t)size);
	}
	b->lap_start_us = now_us;
	b->lap_start_pos = b->write_pos;
	b->lap_packets = 0;
}

void cardea_rtx_buffer_reserve(cardea_rtx_buffer *b, size_t bytes) {
	if (b->slots != NULL && bytes > b->ring_size)
		ring_grow(b, MIN(bytes, b->ring_cap));
}

bool cardea_rtx_buffer_store(cardea_rtx_buffer *b, const cardea_rtp_info *info, int64_t now_us) {
	if (b->slots == NULL || info == NULL)
		return false;
	size_t i = info->seq & (b->n_slots - 1);
	if (info->len > b->slot_size) {
		/* The slot would have been overwritten: whatever it holds is older
		 * than this packet and must not answer for it. */
		b->slots[i].used = false;
		b->too_big++;
		return false;
	}
	lap_check(b, now_us);
	if (b->write_off + info->len > b->ring_size) {
		b->write_pos += b->ring_size - b->write_off;
		b->write_off = 0;
	}
	memcpy(b->ring + b->write_off, info->buf, info->len);
	b->slots[i].pos = b->write_pos;
	b->slots[i].seq = info->seq;
	b->slots[i].len = info->len;
	b->slots[i].stored_us = now_us;
	b->slots[i].resent_us = 0;
	b->slots[i].used = true;
	b->write_pos += info->len;
	b->write_off += info->len;
	if (b->write_off == b->ring_size)
		b->write_off = 0;
	b->lap_packets++;
	b->stored++;
	return true;
}

cardea_rtx_result cardea_rtx_buffer_get(cardea_rtx_buffer *b, uint16_t seq, int64_t now_us, int64_t rtt_us,
		const uint8_t **pkt, size_t *len) {
	if (b->slots == NULL) {
		b->misses++;
		return CARDEA_RTX_MISS;
	}
	size_t i = seq & (b->n_slots - 1);
	cardea_rtx_slot *s = &b->slots[i];
	if (!slot_intact(b, s) || s->seq != seq) {
		b->misses++;
		return CARDEA_RTX_MISS;
	}
	if (now_us - s->stored_us > b->max_age_us) {
		b->too_old++;
		return CARDEA_RTX_TOO_OLD;
	}
	int64_t interval = rtt_us > 0 ? rtt_us : CARDEA_RTX_UNKNOWN_RTT_US;
	if (interval < CARDEA_RTX_MIN_RESEND_US)
		interval = CARDEA_RTX_MIN_RESEND_US;
	if (s->resent_us != 0 && now_us - s->resent_us < interval) {
		b->throttled++;
		return CARDEA_RTX_THROTTLED;
	}
	/* 0 means "never resent"; a caller clock at exactly 0 just loses one
	 * throttle window. */
	s->resent_us = now_us != 0 ? now_us : 1;
	b->hits++;
	if (pkt != NULL)
		*pkt = b->ring + (size_t)(s->pos % b->ring_size);
	if (len != NULL)
		*len = s->len;
	return CARDEA_RTX_HIT;
}

bool cardea_rtx_buffer_has(const cardea_rtx_buffer *b, uint16_t seq) {
	if (b->slots == NULL)
		return false;
	const cardea_rtx_slot *s = &b->slots[seq & (b->n_slots - 1)];
	return slot_intact(b, s) && s->seq == seq;
}

bool cardea_rtx_buffer_gone(const cardea_rtx_buffer *b, uint16_t seq, int64_t now_us) {
	if (b->slots == NULL)
		return false;
	const cardea_rtx_slot *s = &b->slots[seq & (b->n_slots - 1)];
	if (!s->used)
		return false;
	if (s->seq == seq)
		return now_us - s->stored_us > b->max_age_us || !slot_intact(b, s);
	/* The slot's seq is later than the one asked for (RFC 3550 modular
	 * order): seq's turn in this slot is over. An earlier one means seq
	 * has not been stored yet. */
	return (int16_t)(uint16_t)(s->seq - seq) > 0;
}

cardea_rtx_result cardea_rtx_buffer_answer(cardea_rtx_buffer *b, uint16_t seq, int64_t now_us, int64_t rtt_us,
		cardea_rtx_stream *rtx, uint8_t *out, size_t cap, size_t *out_len) {
	const uint8_t *pkt = NULL;
	size_t len = 0;
	*out_len = 0;
	size_t i = seq & (b->n_slots - 1);
	/* Check the room first so a failed answer does not use up the throttle. */
	if (b->slots != NULL && slot_intact(b, &b->slots[i]) && b->slots[i].seq == seq) {
		size_t need = b->slots[i].len + (rtx != NULL ? 2 : 0);
		if (out == NULL || need > cap)
			return CARDEA_RTX_NO_SPACE;
	}
	cardea_rtx_result r = cardea_rtx_buffer_get(b, seq, now_us, rtt_us, &pkt, &len);
	if (r != CARDEA_RTX_HIT)
		return r;
	if (rtx == NULL) {
		memcpy(out, pkt, len);
		*out_len = len;
		return CARDEA_RTX_HIT;
	}
	/* Stored packets were valid when stored; re-parsing is cheap and keeps
	 * the slot free of a cached info with pointers. */
	cardea_rtp_info info;
	if (cardea_rtp_parse(pkt, len, &info) != CARDEA_RTP_OK)
		return CARDEA_RTX_MISS;
	int n = cardea_rtx_build(&info, rtx->pt, rtx->ssrc, rtx->next_seq, out, cap);
	if (n < 0)
		return CARDEA_RTX_NO_SPACE;
	rtx->next_seq++;
	*out_len = (size_t)n;
	return CARDEA_RTX_HIT;
}

/* ---- Keyframe limiter ---- */

void cardea_keyframe_limiter_init(cardea_keyframe_limiter *l, int64_t interval_us) {
	memset(l, 0, sizeof(*l));
	l->interval_us = interval_us > 0 ? interval_us : 0;
}

static bool limiter_may_send(const cardea_keyframe_limiter *l, int64_t now_us) {
	return !l->sent_once || now_us - l->last_us >= l->interval_us;
}

static void limiter_sent(cardea_keyframe_limiter *l, int64_t now_us) {
	l->sent_once = true;
	l->last_us = now_us;
	l->pending = false;
	l->sent++;
}

bool cardea_keyframe_limiter_request(cardea_keyframe_limiter *l, int64_t now_us) {
	if (limiter_may_send(l, now_us)) {
		limiter_sent(l, now_us);
		return true;
	}
	l->pending = true;
	l->suppressed++;
	return false;
}

bool cardea_keyframe_limiter_poll(cardea_keyframe_limiter *l, int64_t now_us) {
	if (!l->pending || !limiter_may_send(l, now_us))
		return false;
	limiter_sent(l, now_us);
	return true;
}

uint8_t cardea_keyframe_limiter_next_fir_seq(cardea_keyframe_limiter *l) {
	return l->fir_seq++;
}

/* ---- TWCC recorder ---- */

#define TWCC_MASK (CARDEA_TWCC_WINDOW - 1)

void cardea_twcc_recorder_init(cardea_twcc_recorder *r) {
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < CARDEA_TWCC_WINDOW; i++)
		r->arrival_us[i] = -1;
}

void cardea_twcc_recorder_add(cardea_twcc_recorder *r, uint16_t seq16, int64_t arrival_us) {
	if (arrival_us < 0)
		return;
	int64_t seq = cardea_seq_unwrap(&r->unwrap, seq16);
	if (!r->init) {
		r->init = true;
		r->next_seq = seq;
		r->max_seq = seq - 1;
	}
	if (seq < r->next_seq) {
		r->late++;
		return;
	}
	if (seq > r->max_seq) {
		/* Slots between the old max and seq still hold values from one
		 * window ago: clear them (at most one window's worth). */
		int64_t from = r->max_seq + 1;
		if (seq - from >= CARDEA_TWCC_WINDOW)
			from = seq - CARDEA_TWCC_WINDOW + 1;
		for (int64_t s = from; s < seq; s++)
			r->arrival_us[s & TWCC_MASK] = -1;
		r->max_seq = seq;
		if (seq - r->next_seq >= CARDEA_TWCC_WINDOW) {
			int64_t keep_from = seq - CARDEA_TWCC_WINDOW + 1;
			r->dropped += (uint64_t)(keep_from - r->next_seq);
			r->next_seq = keep_from;
		}
		r->arrival_us[seq & TWCC_MASK] = arrival_us;
	} else if (r->arrival_us[seq & TWCC_MASK] < 0) {
		r->arrival_us[seq & TWCC_MASK] = arrival_us;  /* reordered */
	}
	r->pending = true;
}

size_t cardea_twcc_recorder_build(cardea_twcc_recorder *r, uint32_t sender_ssrc, uint32_t media_ssrc,
		uint8_t *buf, size_t cap) {
	if (!r->pending)
		return 0;
	size_t n = 0;
	for (int64_t s = r->next_seq; s <= r->max_seq; s++) {
		int64_t t = r->arrival_us[s & TWCC_MASK];
		if (t < 0)
			continue;
		r->scratch[n].seq = s;
		r->scratch[n].arrival_us = t;
		n++;
	}
	if (n == 0) {
		r->pending = false;
		return 0;
	}
	size_t consumed = 0;
	size_t len = cardea_rtcp_write_twcc(buf, cap, sender_ssrc, media_ssrc, r->fb_count, r->next_seq,
		r->scratch, n, &consumed);
	if (len == 0)
		return 0;
	r->fb_count++;
	r->next_seq = r->scratch[consumed - 1].seq + 1;
	r->pending = r->next_seq <= r->max_seq;
	return len;
}
