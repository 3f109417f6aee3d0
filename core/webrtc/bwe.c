/* Bandwidth estimation: the core's transport-cc estimator and report gate
 * (webrtc/bwe.h), and the SDK's layer meter and policy (cardea/bwe.h).
 * All pure: no allocation, no clock reads, no logging. */
#include <string.h>
#include "webrtc/bwe.h"
#include "cardea/bwe.h"

#define SLOT_MASK (CARDEA_TWCC_BWE_SLOTS - 1)

/* ---- transport-cc estimator ---- */

void cardea_twcc_bwe_init(cardea_twcc_bwe *b) {
	memset(b, 0, sizeof(*b));
	for (size_t i = 0; i < CARDEA_TWCC_BWE_SLOTS; i++)
		b->slots[i].seq = -1;
}

void cardea_twcc_bwe_sent(cardea_twcc_bwe *b, uint16_t seq, size_t size, int64_t now_us) {
	(void)now_us;
	if (!b->started) {
		/* Start well above 0 so the first feedbacks never unwrap below it. */
		b->next_seq = (int64_t)seq + (1 << 16);
		b->started = true;
	} else {
		/* The caller's 16-bit counter: follow it, wraps included. */
		int16_t d = (int16_t)(uint16_t)(seq - (uint16_t)b->next_seq);
		b->next_seq += d;
	}
	cardea_twcc_bwe_slot *s = &b->slots[b->next_seq & SLOT_MASK];
	s->seq = b->next_seq;
	s->size = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
	s->reported = false;
	b->next_seq++;
}

static uint32_t clamp_bps(double v) {
	if (v < CARDEA_TWCC_BWE_MIN_BPS)
		return CARDEA_TWCC_BWE_MIN_BPS;
	if (v > CARDEA_TWCC_BWE_MAX_BPS)
		return CARDEA_TWCC_BWE_MAX_BPS;
	return (uint32_t)v;
}

/* The window's received rate and loss move the estimate (bwe.h). */
static void window_end(cardea_twcc_bwe *b, int64_t now_us) {
	uint32_t total = b->win_received + b->win_lost;
	double loss = total ? (double)b->win_lost / total : 0.0;
	int64_t span = b->win_last_arrival - b->win_first_arrival;
	double rate = 0.0;
	if (b->win_received >= 2 && span > 0)
		rate = (double)b->win_bytes * 8.0 * 1e6 / (double)(span < 50000 ? 50000 : span);
	double e = b->estimate_bps;
	if (b->estimate_bps == 0) {
		e = rate * (loss > 0.10 ? 1.0 - loss / 2 : 1.0);
	} else if (loss > 0.10) {
		e = (rate < e ? rate : e) * (1.0 - loss / 2);
	} else if (loss < 0.02) {
		int64_t dt = now_us - b->last_update_us;
		if (dt > 1000000)
			dt = 1000000;
		if (dt < 0)
			dt = 0;
		e = (rate > e ? rate : e) * (1.0 + 0.08 * (double)dt / 1e6);
	}
	b->estimate_bps = clamp_bps(e);
	b->received_bps = rate > UINT32_MAX ? UINT32_MAX : (uint32_t)rate;
	b->loss_permille = (uint32_t)(loss * 1000.0);
	b->windows++;
	b->last_update_us = now_us;
	b->win_start_us = 0;
	b->win_bytes = 0;
	b->win_received = b->win_lost = 0;
}

bool cardea_twcc_bwe_feedback(cardea_twcc_bwe *b, const cardea_twcc_status *st, size_t n, int64_t now_us) {
	if (!b->started)
		return false;
	int64_t newest = b->next_seq - 1;
	for (size_t i = 0; i < n; i++) {
		/* The status's seq nearest to what we sent last. */
		int16_t d = (int16_t)(uint16_t)(st[i].seq - (uint16_t)newest);
		int64_t seq = newest + d;
		cardea_twcc_bwe_slot *s = &b->slots[seq & SLOT_MASK];
		if (seq < 0 || s->seq != seq) {
			b->unknown++;
			continue;
		}
		if (s->reported)
			continue;
		s->reported = true;
		if (b->win_received + b->win_lost == 0)
			b->win_start_us = now_us;
		if (st[i].received) {
			if (b->win_received == 0 || st[i].recv_us < b->win_first_arrival)
				b->win_first_arrival = st[i].recv_us;
			if (b->win_received == 0 || st[i].recv_us > b->win_last_arrival)
				b->win_last_arrival = st[i].recv_us;
			b->win_received++;
			b->win_bytes += s->size;
		} else {
			b->win_lost++;
		}
	}
	if (b->win_received + b->win_lost < CARDEA_TWCC_BWE_MIN_PACKETS || now_us - b->win_start_us < CARDEA_TWCC_BWE_WINDOW_US)
		return false;
	if (b->last_update_us == 0)
		b->last_update_us = b->win_start_us;
	window_end(b, now_us);
	return true;
}

/* ---- report gate ---- */

bool cardea_bwe_gate_pass(cardea_bwe_gate *g, uint32_t bps, int64_t now_us) {
	if (bps == 0)
		return false;
	if (g->last_bps != 0) {
		if (now_us - g->last_us < CARDEA_BWE_GATE_US)
			return false;
		uint64_t diff = bps > g->last_bps ? bps - g->last_bps : g->last_bps - bps;
		if (diff * 100 <= (uint64_t)g->last_bps * CARDEA_BWE_GATE_PERCENT)
			return false;
	}
	g->last_bps = bps;
	g->last_us = now_us;
	return true;
}

/* ---- SDK: layer meter ---- */

void cardea_bwe_meter_init(cardea_bwe_meter *m) {
	memset(m, 0, sizeof(*m));
	m->window_start_us = -1;
}

bool cardea_bwe_meter_add(cardea_bwe_meter *m, int layer, size_t bytes, int64_t now_us) {
	if (layer < 0 || layer >= CARDEA_BWE_LAYERS)
		return false;
	bool ended = false;
	if (m->window_start_us < 0) {
		m->window_start_us = now_us;
	} else if (now_us - m->window_start_us >= CARDEA_BWE_METER_WINDOW_US) {
		int64_t span = now_us - m->window_start_us;
		for (int i = 0; i < CARDEA_BWE_LAYERS; i++) {
			uint64_t bps = m->bytes[i] * 8 * 1000000 / (uint64_t)span;
			m->rate_bps[i] = bps > UINT32_MAX ? UINT32_MAX : (uint32_t)bps;
			m->bytes[i] = 0;
		}
		m->window_start_us = now_us;
		ended = true;
	}
	m->bytes[layer] += bytes;
	return ended;
}

/* ---- SDK: layer policy ---- */

void cardea_bwe_policy_init(cardea_bwe_policy *p) {
	memset(p, 0, sizeof(*p));
	p->layer = -1;
	p->hold_us = CARDEA_BWE_HOLD_US;
}

static bool affords(uint32_t estimate, uint32_t rate, unsigned percent) {
	return (uint64_t)estimate * 100 >= (uint64_t)rate * percent;
}

int cardea_bwe_policy_choose(cardea_bwe_policy *p, const uint32_t *rates, int n, uint32_t estimate_bps,
		int64_t now_us) {
	if (n < 1)
		n = 1;
	if (n > CARDEA_BWE_LAYERS)
		n = CARDEA_BWE_LAYERS;
	int lowest = -1, highest = -1;
	for (int i = 0; i < n; i++) {
		if (rates[i] == 0)
			continue;
		if (lowest < 0)
			lowest = i;
		highest = i;
	}
	int cur = p->layer;
	if (estimate_bps == 0 || lowest < 0) {
		/* Nothing to go by: the best there is. */
		p->layer = highest >= 0 ? highest : n - 1;
		return p->layer;
	}
	if (cur < 0 || cur >= n || rates[cur] == 0)
		cur = -1;
	/* Highest layer worth moving up to, and highest worth staying on. */
	int up = -1, stay = -1;
	for (int i = lowest; i < n; i++) {
		if (rates[i] == 0)
			continue;
		if (affords(estimate_bps, rates[i], CARDEA_BWE_UP_PERCENT))
			up = i;
		if (affords(estimate_bps, rates[i], CARDEA_BWE_STAY_PERCENT))
			stay = i;
	}
	int pick;
	if (cur < 0)
		pick = stay >= 0 ? stay : lowest;       /* first choice (or the old one stopped): no hysteresis */
	else if (stay < cur)
		pick = stay >= 0 ? stay : lowest;       /* the current one no longer fits: down now */
	else if (up > cur && (p->down_us == 0 || now_us - p->down_us >= p->hold_us))
		pick = up;
	else
		pick = cur;
	if (cur >= 0 && pick < cur) {
		/* A move up that did not last: the link cannot carry it, wait longer. */
		if (p->up_us != 0 && now_us - p->up_us < CARDEA_BWE_FAILED_UP_US)
			p->hold_us = p->hold_us * 2 > CARDEA_BWE_HOLD_MAX_US ? CARDEA_BWE_HOLD_MAX_US : p->hold_us * 2;
		else
			p->hold_us = CARDEA_BWE_HOLD_US;
		p->down_us = now_us;
	} else if (cur >= 0 && pick > cur) {
		p->up_us = now_us;
	}
	p->layer = pick;
	return pick;
}
