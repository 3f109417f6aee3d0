/* Unit tests for core/webrtc/nack.c: the NACK tracker (gaps, reordering,
 * retries, aging, overflow, wrap), the retransmission buffer (hit, miss,
 * wrap, age, throttle, plain and RTX answers, the byte ring's size against
 * the bitrate, byte-exact packets across its laps and growths), the keyframe limiter and the
 * TWCC recorder (feedback parsed back field by field). Times are
 * hand-picked microseconds. */
#include <string.h>

#include <glib.h>

#include "webrtc/nack.h"

#define MS 1000

/* Collects what is due now into a GArray-free fixed list. */
static size_t due(cardea_nack_tracker *t, int64_t now, int64_t rtt, uint16_t *out) {
	return cardea_nack_tracker_due(t, now, rtt, out, 64);
}

static void assert_seqs(const uint16_t *got, size_t n, const uint16_t *want, size_t wn) {
	g_assert_cmpuint(n, ==, wn);
	g_assert_cmpmem(got, n * sizeof(uint16_t), want, wn * sizeof(uint16_t));
}

/* ---- NACK tracker ---- */

static void test_tracker_gap_and_reorder(void) {
	cardea_nack_tracker t;
	uint16_t out[64];
	cardea_nack_tracker_init(&t, NULL);
	g_assert_cmpuint(t.cfg.max_retries, ==, 10);
	g_assert_cmpint(t.cfg.max_age_us, ==, 1000 * MS);
	g_assert_cmpint(cardea_nack_tracker_received(&t, 100, 0), ==, CARDEA_NACK_IN_ORDER);
	g_assert_cmpint(cardea_nack_tracker_received(&t, 101, 0), ==, CARDEA_NACK_IN_ORDER);
	g_assert_cmpuint(due(&t, 0, 0, out), ==, 0);
	/* 102..104 and 106 missing. */
	g_assert_cmpint(cardea_nack_tracker_received(&t, 105, 10 * MS), ==, CARDEA_NACK_GAP);
	g_assert_cmpint(cardea_nack_tracker_received(&t, 107, 11 * MS), ==, CARDEA_NACK_GAP);
	g_assert_cmpuint(t.count, ==, 4);
	/* 103 arrives late (reordered) before any NACK: never asked for. */
	g_assert_cmpint(cardea_nack_tracker_received(&t, 103, 12 * MS), ==, CARDEA_NACK_RECOVERED);
	g_assert_cmpint(cardea_nack_tracker_received(&t, 103, 12 * MS), ==, CARDEA_NACK_OLD);
	g_assert_cmpint(cardea_nack_tracker_received(&t, 101, 12 * MS), ==, CARDEA_NACK_OLD);
	static const uint16_t first[] = { 102, 104, 106 };
	assert_seqs(out, due(&t, 12 * MS, 0, out), first, 3);
	/* Not due again before the retry interval (unknown RTT: 100 ms). */
	g_assert_cmpuint(due(&t, 50 * MS, 0, out), ==, 0);
	g_assert_cmpuint(due(&t, 111 * MS, 0, out), ==, 0);
	/* 104 is repaired by the retransmission. */
	g_assert_cmpint(cardea_nack_tracker_received(&t, 104, 60 * MS), ==, CARDEA_NACK_RECOVERED);
	static const uint16_t second[] = { 102, 106 };
	assert_seqs(out, due(&t, 112 * MS, 0, out), second, 2);
	g_assert_cmpuint(t.recovered, ==, 2);
	g_assert_cmpuint(t.nacks_sent, ==, 5);
	/* With a known RTT of 30 ms the next retry comes 30 ms later. */
	g_assert_cmpuint(due(&t, 141 * MS, 30 * MS, out), ==, 0);
	assert_seqs(out, due(&t, 142 * MS, 30 * MS, out), second, 2);
	/* The floor (20 ms) applies to tiny RTTs. */
	g_assert_cmpuint(due(&t, 161 * MS, 1 * MS, out), ==, 0);
	assert_seqs(out, due(&t, 162 * MS, 1 * MS, out), second, 2);
	g_assert_false(cardea_nack_tracker_take_keyframe_request(&t));
}

static void test_tracker_retries_and_age(void) {
	cardea_nack_config cfg = { .max_retries = 3, .max_age_us = 500 * MS, .min_retry_us = 10 * MS };
	cardea_nack_tracker t;
	uint16_t out[64];
	cardea_nack_tracker_init(&t, &cfg);
	g_assert_cmpint(t.cfg.default_rtt_us, ==, 100 * MS);  /* zero field: default */
	cardea_nack_tracker_received(&t, 1, 0);
	cardea_nack_tracker_received(&t, 3, 0);
	int64_t now = 0;
	for (int i = 0; i < 3; i++, now += 20 * MS)
		g_assert_cmpuint(due(&t, now, 20 * MS, out), ==, 1);
	/* Three NACKs sent: dropped at the next look. */
	g_assert_cmpuint(due(&t, now, 20 * MS, out), ==, 0);
	g_assert_cmpuint(t.count, ==, 0);
	g_assert_cmpuint(t.expired, ==, 1);
	/* Given up on: nobody downstream gets it, a keyframe is wanted (once). */
	g_assert_true(cardea_nack_tracker_take_keyframe_request(&t));
	g_assert_false(cardea_nack_tracker_take_keyframe_request(&t));
	/* Age: a loss older than max_age is dropped even with retries left. */
	cardea_nack_tracker_received(&t, 5, 1000 * MS);
	g_assert_cmpuint(due(&t, 1000 * MS, 200 * MS, out), ==, 1);
	g_assert_cmpuint(due(&t, 1200 * MS, 200 * MS, out), ==, 1);
	g_assert_cmpuint(due(&t, 1500 * MS, 200 * MS, out), ==, 1);  /* exactly 500 ms: still asked */
	g_assert_cmpuint(due(&t, 1501 * MS, 1 * MS, out), ==, 0);
	g_assert_cmpuint(t.count, ==, 0);
	g_assert_cmpuint(t.expired, ==, 2);
	g_assert_true(cardea_nack_tracker_take_keyframe_request(&t));
	/* A packet arriving after its entry expired is just old. */
	g_assert_cmpint(cardea_nack_tracker_received(&t, 4, 1600 * MS), ==, CARDEA_NACK_OLD);
}

static void test_tracker_reorder_delay(void) {
	cardea_nack_config cfg = { .reorder_delay_us = 15 * MS };
	cardea_nack_tracker t;
	uint16_t out[64];
	cardea_nack_tracker_init(&t, &cfg);
	cardea_nack_tracker_received(&t, 10, 0);
	cardea_nack_tracker_received(&t, 12, 100 * MS);
	g_assert_cmpuint(due(&t, 110 * MS, 0, out), ==, 0);
	/* Reordered by 5 ms: cancelled before any NACK went out. */
	cardea_nack_tracker_received(&t, 11, 105 * MS);
	g_assert_cmpuint(due(&t, 120 * MS, 0, out), ==, 0);
	cardea_nack_tracker_received(&t, 14, 200 * MS);
	g_assert_cmpuint(due(&t, 214 * MS, 0, out), ==, 0);
	g_assert_cmpuint(due(&t, 215 * MS, 0, out), ==, 1);
	g_assert_cmpuint(out[0], ==, 13);
}

static void test_tracker_wrap_and_cap(void) {
	cardea_nack_tracker t;
	uint16_t out[64];
	cardea_nack_tracker_init(&t, NULL);
	cardea_nack_tracker_received(&t, 65530, 0);
	g_assert_cmpint(cardea_nack_tracker_received(&t, 3, 0), ==, CARDEA_NACK_GAP);
	/* 65531..65535, 0, 1, 2 in order across the wrap. */
	static const uint16_t want[] = { 65531, 65532, 65533, 65534, 65535, 0, 1, 2 };
	assert_seqs(out, due(&t, 0, 0, out), want, 8);
	g_assert_cmpint(cardea_nack_tracker_received(&t, 65535, 1 * MS), ==, CARDEA_NACK_RECOVERED);
	g_assert_cmpint(cardea_nack_tracker_received(&t, 0, 1 * MS), ==, CARDEA_NACK_RECOVERED);
	/* Output cap: the rest stays due for the next call. */
	size_t n = cardea_nack_tracker_due(&t, 200 * MS, 0, out, 4);
	static const uint16_t part1[] = { 65531, 65532, 65533, 65534 };
	assert_seqs(out, n, part1, 4);
	n = cardea_nack_tracker_due(&t, 200 * MS, 0, out, 4);
	static const uint16_t part2[] = { 1, 2 };
	assert_seqs(out, n, part2, 2);
	g_assert_cmpuint(cardea_nack_tracker_due(&t, 500 * MS, 0, NULL, 0), ==, 0);
}

static void test_tracker_overflow(void) {
	cardea_nack_tracker t;
	uint16_t out[64];
	cardea_nack_tracker_init(&t, NULL);
	cardea_nack_tracker_received(&t, 0, 0);
	/* A burst larger than the list: no NACKs, a keyframe instead. */
	g_assert_cmpint(cardea_nack_tracker_received(&t, CARDEA_NACK_MAX_MISSING + 2, 0), ==, CARDEA_NACK_RESET);
	g_assert_cmpuint(t.count, ==, 0);
	g_assert_true(cardea_nack_tracker_take_keyframe_request(&t));
	g_assert_false(cardea_nack_tracker_take_keyframe_request(&t));
	g_assert_cmpuint(due(&t, 0, 0, out), ==, 0);
	/* The largest trackable gap is accepted. */
	uint16_t base = CARDEA_NACK_MAX_MISSING + 2;
	g_assert_cmpint(cardea_nack_tracker_received(&t, (uint16_t)(base + CARDEA_NACK_MAX_MISSING + 1), 0),
		==, CARDEA_NACK_GAP);
	g_assert_cmpuint(t.count, ==, CARDEA_NACK_MAX_MISSING);
	g_assert_false(cardea_nack_tracker_take_keyframe_request(&t));
	/* Gaps that together overflow: the oldest entries go, keyframe wanted. */
	uint16_t top = (uint16_t)(base + CARDEA_NACK_MAX_MISSING + 1);
	g_assert_cmpint(cardea_nack_tracker_received(&t, (uint16_t)(top + 11), 0), ==, CARDEA_NACK_GAP);
	g_assert_cmpuint(t.count, ==, CARDEA_NACK_MAX_MISSING);
	g_assert_cmpuint(t.missing[0].seq, ==, base + 1 + 10);
	g_assert_true(cardea_nack_tracker_take_keyframe_request(&t));
	g_assert_cmpuint(t.dropped, ==, CARDEA_NACK_MAX_MISSING + 1 + 10);
	/* A far jump (stream restart) resets too. */
	g_assert_cmpint(cardea_nack_tracker_received(&t, (uint16_t)(top + 20000), 0), ==, CARDEA_NACK_RESET);
	g_assert_cmpuint(t.count, ==, 0);
	g_assert_cmpint(cardea_nack_tracker_received(&t, (uint16_t)(top + 20001), 0), ==, CARDEA_NACK_IN_ORDER);
}

/* Random loss and reordering: every seq reported is really missing at that
 * time, output is ascending, and nothing is asked more than max_retries. */
static void test_tracker_random(void) {
	cardea_nack_tracker t;
	cardea_nack_tracker_init(&t, NULL);
	static uint8_t asked[65536];
	static bool have[70000];
	memset(asked, 0, sizeof(asked));
	memset(have, 0, sizeof(have));
	int64_t now = 0;
	uint16_t out[256];
	for (int seq = 0; seq < 60000; seq++) {
		now += 2 * MS;
		int r = g_test_rand_int_range(0, 100);
		if (r < 5)
			continue;                                   /* lost for good */
		if (r < 10 && seq > 5) {
			int late = seq - g_test_rand_int_range(1, 5);  /* a retransmission arrives */
			cardea_nack_tracker_received(&t, (uint16_t)late, now);
			have[late] = true;
		}
		cardea_nack_tracker_received(&t, (uint16_t)seq, now);
		have[seq] = true;
		size_t n = cardea_nack_tracker_due(&t, now, 40 * MS, out, G_N_ELEMENTS(out));
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				g_assert_true(cardea_seq_newer(out[i], out[i - 1]));
			/* Map back to the full seq: within 300 of the current one. */
			int full = seq - (int)(uint16_t)((uint16_t)seq - out[i]);
			g_assert_cmpint(full, >=, 0);
			g_assert_false(have[full]);
			asked[full % 65536]++;
			g_assert_cmpuint(asked[full % 65536], <=, t.cfg.max_retries);
		}
	}
	g_assert_cmpuint(t.nacks_sent, >, 0);
	g_assert_cmpuint(t.recovered, >, 0);
	g_assert_cmpuint(t.expired, >, 0);
}

/* ---- Retransmission buffer ---- */

/* A packet with a one-byte extension block, seq and payload filled in. */
static size_t make_packet(uint8_t *buf, uint16_t seq, size_t payload) {
	static const uint8_t head[] = { 0x90, 0x60, 0, 0, 0, 0, 0x10, 0, 0xca, 0xfe, 0xba, 0xbe,
		0xbe, 0xde, 0x00, 0x01, 0x22, 0x11, 0x22, 0x33 };
	memcpy(buf, head, sizeof(head));
	buf[2] = (uint8_t)(seq >> 8);
	buf[3] = (uint8_t)seq;
	for (size_t i = 0; i < payload; i++)
		buf[sizeof(head) + i] = (uint8_t)(seq + i);
	return sizeof(head) + payload;
}

static void store(cardea_rtx_buffer *b, uint16_t seq, size_t payload, int64_t now) {
	uint8_t pkt[2000];
	cardea_rtp_info info;
	size_t len = make_packet(pkt, seq, payload);
	g_assert_cmpint(cardea_rtp_parse(pkt, len, &info), ==, CARDEA_RTP_OK);
	cardea_rtx_buffer_store(b, &info, now);
}

static void test_rtx_buffer(void) {
	cardea_rtx_buffer b;
	g_assert_true(cardea_rtx_buffer_init(&b, 100, 0, 0));
	g_assert_cmpuint(b.n_slots, ==, 128);
	g_assert_cmpuint(b.slot_size, ==, CARDEA_RTX_DEFAULT_SLOT_SIZE);
	g_assert_cmpint(b.max_age_us, ==, 200 * MS);
	/* The slots, not the ring, are under test here: full size from the start. */
	g_assert_cmpuint(b.ring_size, ==, CARDEA_RTX_INITIAL_RING);
	cardea_rtx_buffer_reserve(&b, SIZE_MAX);
	g_assert_cmpuint(b.ring_size, ==, 128 * CARDEA_RTX_DEFAULT_SLOT_SIZE);
	const uint8_t *p;
	size_t len;
	uint8_t expect[2000];
	for (int i = 0; i < 200; i++)
		store(&b, (uint16_t)(65500 + i), 100 + (size_t)i, i * MS);   /* wraps at 36 */
	/* Hit: byte-exact copy. */
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 130, 200 * MS, 0, &p, &len), ==, CARDEA_RTX_HIT);
	size_t elen = make_packet(expect, 130, 100 + 166);
	g_assert_cmpmem(p, len, expect, elen);
	/* 128 slots hold the last 128 seqs: 65510 (i = 10) and 65571 (i = 71,
	 * slot 35, now seq 163) were overwritten; 65572 (i = 72) is the oldest
	 * still there. */
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 65510, 200 * MS, 0, &p, &len), ==, CARDEA_RTX_MISS);
	g_assert_cmpint(cardea_rtx_buffer_get(&b, (uint16_t)(65500 + 71), 200 * MS, 0, &p, &len), ==, CARDEA_RTX_MISS);
	g_assert_cmpint(cardea_rtx_buffer_get(&b, (uint16_t)(65500 + 72), 200 * MS, 0, &p, &len), ==, CARDEA_RTX_HIT);
	/* Overwritten by a later seq: gone for good. */
	g_assert_true(cardea_rtx_buffer_gone(&b, 65510, 200 * MS));
	g_assert_true(cardea_rtx_buffer_gone(&b, (uint16_t)(65500 + 71), 200 * MS));
	g_assert_false(cardea_rtx_buffer_gone(&b, (uint16_t)(65500 + 72), 200 * MS));
	/* has(): stored and still in its slot, at any age, throttle untouched. */
	g_assert_false(cardea_rtx_buffer_has(&b, 65510));
	g_assert_true(cardea_rtx_buffer_has(&b, (uint16_t)(65500 + 72)));
	g_assert_true(cardea_rtx_buffer_has(&b, 163));
	g_assert_false(cardea_rtx_buffer_has(&b, 1000));
	g_assert_false(cardea_rtx_buffer_has(&b, 200));
	/* Never stored. */
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 1000, 200 * MS, 0, &p, &len), ==, CARDEA_RTX_MISS);
	/* ... and later than anything sent (slot 1000 & 127 holds 104): not
	 * sent yet, maybe still coming, not gone. Seq 200 is past the end
	 * too (the newest is 163), its slot holds seq 72. */
	g_assert_false(cardea_rtx_buffer_gone(&b, 1000, 200 * MS));
	g_assert_false(cardea_rtx_buffer_gone(&b, 200, 200 * MS));
	/* Too old: stored at 73 ms, asked at 274 ms. */
	g_assert_cmpint(cardea_rtx_buffer_get(&b, (uint16_t)(65500 + 73), 273 * MS, 0, &p, &len), ==, CARDEA_RTX_HIT);
	g_assert_cmpint(cardea_rtx_buffer_get(&b, (uint16_t)(65500 + 74), 274 * MS + 1, 0, &p, &len), ==, CARDEA_RTX_TOO_OLD);
	g_assert_true(cardea_rtx_buffer_gone(&b, (uint16_t)(65500 + 74), 274 * MS + 1));
	g_assert_false(cardea_rtx_buffer_gone(&b, (uint16_t)(65500 + 74), 274 * MS));
	/* Throttle: 130 was resent at 200 ms; RTT 30 ms. */
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 130, 229 * MS, 30 * MS, &p, &len), ==, CARDEA_RTX_THROTTLED);
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 130, 230 * MS, 30 * MS, &p, &len), ==, CARDEA_RTX_HIT);
	/* Unknown RTT: 50 ms; tiny RTT: 5 ms floor. */
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 130, 279 * MS, 0, &p, &len), ==, CARDEA_RTX_THROTTLED);
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 130, 280 * MS, 0, &p, &len), ==, CARDEA_RTX_HIT);
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 130, 284 * MS, 1, &p, &len), ==, CARDEA_RTX_THROTTLED);
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 130, 285 * MS, 1, &p, &len), ==, CARDEA_RTX_HIT);
	/* Storing the seq again resets its throttle. */
	store(&b, 130, 10, 286 * MS);
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 130, 286 * MS, 0, &p, &len), ==, CARDEA_RTX_HIT);
	g_assert_cmpuint(len, ==, 30);
	/* Larger than a slot: not stored. */
	store(&b, 131, 1600, 290 * MS);
	g_assert_cmpuint(b.too_big, ==, 1);
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 131, 290 * MS, 0, &p, &len), ==, CARDEA_RTX_MISS);
	g_assert_cmpuint(b.hits, ==, 7);
	g_assert_cmpuint(b.throttled, ==, 3);
	g_assert_cmpuint(b.too_old, ==, 1);
	/* Clear forgets everything. */
	cardea_rtx_buffer_clear(&b);
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 130, 300 * MS, 0, &p, &len), ==, CARDEA_RTX_MISS);
	cardea_rtx_buffer_free(&b);
	cardea_rtx_buffer_free(&b);  /* idempotent */
	g_assert_cmpint(cardea_rtx_buffer_get(&b, 130, 300 * MS, 0, &p, &len), ==, CARDEA_RTX_MISS);
	/* Absurd sizes. */
	g_assert_false(cardea_rtx_buffer_init(&b, 100000, 0, 0));
	g_assert_false(cardea_rtx_buffer_init(&b, 16, 8, 0));
	g_assert_false(cardea_rtx_buffer_init(&b, 16, 70000, 0));
}

/* Feeds a stream of `pps` packets of `payload` bytes per second for `secs`
 * seconds, checking each hit byte for byte; returns the next seq. */
static uint16_t feed(cardea_rtx_buffer *b, uint16_t seq, size_t payload, int pps, int secs, int64_t *now) {
	for (int i = 0; i < pps * secs; i++, seq++) {
		store(b, seq, payload, *now);
		*now += G_USEC_PER_SEC / pps;
	}
	return seq;
}

/* Every seq stored in the last `age` microseconds is there, byte for byte. */
static void assert_history(cardea_rtx_buffer *b, uint16_t next, size_t payload, int pps, int64_t age, int64_t now) {
	int n = (int)(age * pps / G_USEC_PER_SEC);
	uint8_t expect[2000];
	for (int k = 1; k <= n; k++) {
		uint16_t seq = (uint16_t)(next - k);
		const uint8_t *p = NULL;
		size_t len = 0;
		g_assert_true(cardea_rtx_buffer_has(b, seq));
		g_assert_cmpint(cardea_rtx_buffer_get(b, seq, now, 0, &p, &len), ==, CARDEA_RTX_HIT);
		size_t want = make_packet(expect, seq, payload);
		g_assert_cmpmem(p, len, expect, want);
	}
}

/* The ring follows the stream: a low bitrate keeps a small ring that still
 * holds max_age of history, the slots bound a high one at n_slots packets,
 * and audio (64 slots) never grows past the initial ring. Before the ring,
 * every one of these cost n_slots * 1500 bytes. */
static void test_rtx_ring_sizes(void) {
	const int64_t age = 2 * G_USEC_PER_SEC;
	cardea_rtx_buffer b;
	int64_t now = 0;
	/* 300 kbit/s video: 1,000-byte packets, 37.5 a second (here 38), after
	 * a 40 KB keyframe sent in 40 ms: that burst alone must not take the
	 * ring to its cap. */
	g_assert_true(cardea_rtx_buffer_init(&b, 256, 0, age));
	g_assert_cmpuint(b.ring_size, ==, CARDEA_RTX_INITIAL_RING);
	uint16_t next = 100;
	for (int i = 0; i < 40; i++, next++) {
		store(&b, next, 1000 - 20, now);
		now += MS;
	}
	next = feed(&b, next, 1000 - 20, 38, 6, &now);
	g_test_message("300 kbit/s video: ring %zu bytes after %" G_GUINT64_FORMAT " growths", b.ring_size, b.grown);
	g_assert_cmpuint(b.ring_size, <=, 128 * 1024);
	g_assert_cmpuint(b.ring_size, <, b.ring_cap / 2);
	g_assert_cmpuint(b.grown, >=, 1);
	assert_history(&b, next, 1000 - 20, 38, age, now);
	cardea_rtx_buffer_free(&b);
	/* 2.5 Mbit/s: 256 packets last under a second, the ring reaches its cap
	 * and every slot's packet is still there. */
	now = 0;
	g_assert_true(cardea_rtx_buffer_init(&b, 256, 0, age));
	next = feed(&b, 65000, 1200 - 20, 260, 4, &now);
	g_test_message("2.5 Mbit/s video: ring %zu bytes after %" G_GUINT64_FORMAT " growths", b.ring_size, b.grown);
	g_assert_cmpuint(b.ring_size, ==, b.ring_cap);
	g_assert_cmpuint(b.ring_cap, ==, 256 * CARDEA_RTX_DEFAULT_SLOT_SIZE);
	assert_history(&b, next, 1200 - 20, 260, (int64_t)256 * G_USEC_PER_SEC / 260, now);
	cardea_rtx_buffer_free(&b);
	/* Opus with NACK: 50 packets of 120 bytes a second in 64 slots. */
	now = 0;
	g_assert_true(cardea_rtx_buffer_init(&b, 64, 0, age));
	next = feed(&b, 7, 120 - 20, 50, 10, &now);
	g_test_message("opus: ring %zu bytes after %" G_GUINT64_FORMAT " growths", b.ring_size, b.grown);
	g_assert_cmpuint(b.ring_size, ==, CARDEA_RTX_INITIAL_RING);
	g_assert_cmpuint(b.grown, ==, 0);
	assert_history(&b, next, 120 - 20, 50, (int64_t)64 * G_USEC_PER_SEC / 50, now);
	cardea_rtx_buffer_free(&b);
}

/* Random sizes up to the slot size, a bitrate that jumps up and down: every
 * hit is byte-exact (no packet straddles the ring's end, growth keeps them),
 * the newest packets are always there, and a packet too big for a slot is
 * refused without disturbing the others. */
static void test_rtx_ring_random(void) {
	cardea_rtx_buffer b;
	g_assert_true(cardea_rtx_buffer_init(&b, 128, 1200, 500 * MS));
	GRand *rnd = g_rand_new_with_seed(7);
	size_t sizes[65536];
	int64_t now = 0;
	uint16_t seq = 65000;
	uint8_t expect[2000];
	guint64 hits = 0;
	for (int i = 0; i < 20000; i++, seq++) {
		size_t payload = (size_t)g_rand_int_range(rnd, 0, 1200 - 20 + 1);
		if (i % 997 == 0)
			payload = 1200;   /* 1,220 bytes: too big */
		sizes[seq] = payload;
		store(&b, seq, payload, now);
		/* 20-400 packets a second, changing every 2,000 packets. */
		now += G_USEC_PER_SEC / (20 + (i / 2000 % 3) * 190);
		for (int k = 0; k < 8; k++) {
			uint16_t s = (uint16_t)(seq - (uint16_t)g_rand_int_range(rnd, 0, 128));
			const uint8_t *p = NULL;
			size_t len = 0;
			if (cardea_rtx_buffer_get(&b, s, now, 0, &p, &len) != CARDEA_RTX_HIT)
				continue;
			hits++;
			size_t want = make_packet(expect, s, sizes[s]);
			g_assert_cmpmem(p, len, expect, want);
		}
		if (payload < 1200 - 20 + 1)
			g_assert_true(cardea_rtx_buffer_has(&b, seq));
		else
			g_assert_false(cardea_rtx_buffer_has(&b, seq));
	}
	g_assert_cmpuint(b.too_big, ==, 21);
	g_assert_cmpuint(hits, >, 20000);
	g_assert_cmpuint(b.ring_size, <=, b.ring_cap);
	g_rand_free(rnd);
	cardea_rtx_buffer_free(&b);
}

static void test_rtx_answer(void) {
	cardea_rtx_buffer b;
	g_assert_true(cardea_rtx_buffer_init(&b, 64, 1200, 1000 * MS));
	store(&b, 500, 40, 0);
	store(&b, 501, 41, 0);
	uint8_t out[1500], expect[1500];
	size_t n;
	/* Plain: the stored bytes. */
	g_assert_cmpint(cardea_rtx_buffer_answer(&b, 500, 10 * MS, 0, NULL, out, sizeof(out), &n), ==, CARDEA_RTX_HIT);
	size_t elen = make_packet(expect, 500, 40);
	g_assert_cmpmem(out, n, expect, elen);
	/* RTX: OSN first, RTX pt/ssrc/seq, seq counter advanced. */
	cardea_rtx_stream rtx = { .pt = 97, .ssrc = 0x0badf00d, .next_seq = 65535 };
	g_assert_cmpint(cardea_rtx_buffer_answer(&b, 501, 10 * MS, 0, &rtx, out, sizeof(out), &n), ==, CARDEA_RTX_HIT);
	g_assert_cmpuint(n, ==, 20 + 2 + 41);
	g_assert_cmpuint(rtx.next_seq, ==, 0);
	cardea_rtp_info info;
	g_assert_cmpint(cardea_rtp_parse(out, n, &info), ==, CARDEA_RTP_OK);
	g_assert_cmpuint(info.pt, ==, 97);
	g_assert_cmphex(info.ssrc, ==, 0x0badf00d);
	g_assert_cmpuint(info.seq, ==, 65535);
	g_assert_cmphex(out[20], ==, 0x01);
	g_assert_cmphex(out[21], ==, 0xf5);
	/* ... and unwraps to the original. */
	size_t nl;
	g_assert_cmpint(cardea_rtx_unwrap(out, &info, 96, 0xcafebabe, &nl), ==, CARDEA_RTP_OK);
	elen = make_packet(expect, 501, 41);
	g_assert_cmpmem(out, nl, expect, elen);
	/* Within the RTT: throttled, counter untouched. */
	g_assert_cmpint(cardea_rtx_buffer_answer(&b, 501, 20 * MS, 0, &rtx, out, sizeof(out), &n), ==, CARDEA_RTX_THROTTLED);
	g_assert_cmpuint(n, ==, 0);
	g_assert_cmpuint(rtx.next_seq, ==, 0);
	/* No room: reported, and the seq can still be answered right after. */
	g_assert_cmpint(cardea_rtx_buffer_answer(&b, 500, 100 * MS, 0, &rtx, out, 20 + 41, &n), ==, CARDEA_RTX_NO_SPACE);
	g_assert_cmpint(cardea_rtx_buffer_answer(&b, 500, 100 * MS, 0, NULL, out, 59, &n), ==, CARDEA_RTX_NO_SPACE);
	g_assert_cmpint(cardea_rtx_buffer_answer(&b, 500, 100 * MS, 0, NULL, out, 60, &n), ==, CARDEA_RTX_HIT);
	g_assert_cmpint(cardea_rtx_buffer_answer(&b, 9, 100 * MS, 0, NULL, out, 60, &n), ==, CARDEA_RTX_MISS);
	cardea_rtx_buffer_free(&b);
}

/* ---- Keyframe limiter ---- */

static void test_keyframe_limiter(void) {
	cardea_keyframe_limiter l;
	cardea_keyframe_limiter_init(&l, 1000 * MS);
	g_assert_false(cardea_keyframe_limiter_poll(&l, 0));
	g_assert_true(cardea_keyframe_limiter_request(&l, 5000 * MS));
	g_assert_false(cardea_keyframe_limiter_request(&l, 5100 * MS));
	g_assert_false(cardea_keyframe_limiter_request(&l, 5200 * MS));
	g_assert_false(cardea_keyframe_limiter_poll(&l, 5999 * MS));
	/* The pending request goes out once the interval has passed, once. */
	g_assert_true(cardea_keyframe_limiter_poll(&l, 6000 * MS));
	g_assert_false(cardea_keyframe_limiter_poll(&l, 9000 * MS));
	g_assert_cmpuint(l.sent, ==, 2);
	g_assert_cmpuint(l.suppressed, ==, 2);
	/* A request long after goes out at once. */
	g_assert_true(cardea_keyframe_limiter_request(&l, 9000 * MS));
	g_assert_false(cardea_keyframe_limiter_poll(&l, 20000 * MS));
	g_assert_cmpuint(cardea_keyframe_limiter_next_fir_seq(&l), ==, 0);
	g_assert_cmpuint(cardea_keyframe_limiter_next_fir_seq(&l), ==, 1);
	l.fir_seq = 255;
	g_assert_cmpuint(cardea_keyframe_limiter_next_fir_seq(&l), ==, 255);
	g_assert_cmpuint(cardea_keyframe_limiter_next_fir_seq(&l), ==, 0);
	/* Interval 0: never limited. */
	cardea_keyframe_limiter_init(&l, 0);
	g_assert_true(cardea_keyframe_limiter_request(&l, 1));
	g_assert_true(cardea_keyframe_limiter_request(&l, 1));
}

/* ---- TWCC recorder ---- */

/* Parses one feedback into st; returns the status count. */
static size_t parse_feedback(const uint8_t *buf, size_t len, cardea_rtcp_twcc *tw, cardea_twcc_status *st, size_t cap) {
	cardea_rtcp_iter it;
	cardea_rtcp_pkt pkt;
	size_t n = 0;
	g_assert_cmpint(cardea_rtcp_iter_init(&it, buf, len), ==, CARDEA_RTCP_OK);
	g_assert_true(cardea_rtcp_next(&it, &pkt));
	g_assert_cmpint(cardea_rtcp_parse_twcc(&pkt, tw, st, cap, &n), ==, CARDEA_RTCP_OK);
	return n;
}

static void test_twcc_recorder(void) {
	cardea_twcc_recorder *r = g_new(cardea_twcc_recorder, 1);
	cardea_twcc_recorder_init(r);
	uint8_t buf[1500];
	cardea_rtcp_twcc tw;
	cardea_twcc_status st[2048];
	g_assert_cmpuint(cardea_twcc_recorder_build(r, 1, 2, buf, sizeof(buf)), ==, 0);
	/* 65530..65535, 0..3 with 65533 lost and 1 reordered after 2. */
	int64_t t = 10000 * MS;
	const int seqs[] = { 65530, 65531, 65532, 65534, 65535, 0, 2, 1, 3 };
	for (size_t i = 0; i < G_N_ELEMENTS(seqs); i++)
		cardea_twcc_recorder_add(r, (uint16_t)seqs[i], t + (int64_t)i * 5 * MS);
	size_t len = cardea_twcc_recorder_build(r, 0x11, 0x22, buf, sizeof(buf));
	g_assert_cmpuint(len, >, 0);
	size_t n = parse_feedback(buf, len, &tw, st, G_N_ELEMENTS(st));
	g_assert_cmpuint(tw.sender_ssrc, ==, 0x11);
	g_assert_cmpuint(tw.media_ssrc, ==, 0x22);
	g_assert_cmpuint(tw.base_seq, ==, 65530);
	g_assert_cmpuint(tw.fb_count, ==, 0);
	g_assert_cmpuint(n, ==, 10);
	for (size_t i = 0; i < n; i++) {
		uint16_t seq = (uint16_t)(65530 + i);
		g_assert_cmpuint(st[i].seq, ==, seq);
		ssize_t k = -1;
		for (size_t j = 0; j < G_N_ELEMENTS(seqs); j++)
			if (seqs[j] == seq)
				k = (ssize_t)j;
		g_assert_cmpint(st[i].received, ==, k >= 0);
		if (k >= 0)
			g_assert_cmpint(st[i].recv_us, ==, t + k * 5 * MS);
	}
	/* Nothing new: nothing to send. A packet for a reported seq is late. */
	g_assert_cmpuint(cardea_twcc_recorder_build(r, 0x11, 0x22, buf, sizeof(buf)), ==, 0);
	cardea_twcc_recorder_add(r, 65533, t + 100 * MS);
	g_assert_cmpuint(r->late, ==, 1);
	g_assert_cmpuint(cardea_twcc_recorder_build(r, 0x11, 0x22, buf, sizeof(buf)), ==, 0);
	/* The next feedback starts after the last reported seq, losses first. */
	cardea_twcc_recorder_add(r, 6, t + 200 * MS);
	len = cardea_twcc_recorder_build(r, 0x11, 0x22, buf, sizeof(buf));
	n = parse_feedback(buf, len, &tw, st, G_N_ELEMENTS(st));
	g_assert_cmpuint(tw.base_seq, ==, 4);
	g_assert_cmpuint(tw.fb_count, ==, 1);
	g_assert_cmpuint(n, ==, 3);
	g_assert_false(st[0].received);
	g_assert_false(st[1].received);
	g_assert_true(st[2].received);
	g_assert_cmpint(st[2].recv_us, ==, t + 200 * MS);
	/* Duplicate within the window keeps the first arrival. */
	cardea_twcc_recorder_add(r, 7, t + 300 * MS);
	cardea_twcc_recorder_add(r, 7, t + 301 * MS);
	len = cardea_twcc_recorder_build(r, 0x11, 0x22, buf, sizeof(buf));
	n = parse_feedback(buf, len, &tw, st, G_N_ELEMENTS(st));
	g_assert_cmpuint(n, ==, 1);
	g_assert_cmpint(st[0].recv_us, ==, t + 300 * MS);

	/* More than a window between two feedbacks: the oldest are dropped, the
	 * rest reported across as many packets as the buffer size needs. */
	for (int i = 0; i < CARDEA_TWCC_WINDOW + 100; i++)
		cardea_twcc_recorder_add(r, (uint16_t)(8 + i), t + 400 * MS + i * 100);
	g_assert_cmpuint(r->dropped, ==, 100);
	size_t total = 0, packets = 0;
	int64_t expect_seq = 8 + 100;
	while ((len = cardea_twcc_recorder_build(r, 0x11, 0x22, buf, 200)) > 0) {
		g_assert_cmpuint(len, <=, 200);
		n = parse_feedback(buf, len, &tw, st, G_N_ELEMENTS(st));
		g_assert_cmpuint(tw.base_seq, ==, (uint16_t)expect_seq);
		for (size_t i = 0; i < n; i++) {
			g_assert_true(st[i].received);
			int64_t want = t + 400 * MS + (expect_seq + (int64_t)i - 8) * 100;
			g_assert_cmpint(st[i].recv_us - want, <=, 125);
			g_assert_cmpint(st[i].recv_us - want, >=, -125);
		}
		expect_seq += (int64_t)n;
		total += n;
		packets++;
	}
	g_assert_cmpuint(total, ==, CARDEA_TWCC_WINDOW);
	g_assert_cmpuint(packets, >, 1);
	/* Too small a buffer: nothing written, nothing lost. */
	cardea_twcc_recorder_add(r, (uint16_t)expect_seq, t + 900 * MS);
	g_assert_cmpuint(cardea_twcc_recorder_build(r, 0x11, 0x22, buf, 8), ==, 0);
	len = cardea_twcc_recorder_build(r, 0x11, 0x22, buf, sizeof(buf));
	g_assert_cmpuint(len, >, 0);
	/* A jump over more than a window clears the stale slots. */
	cardea_twcc_recorder_add(r, (uint16_t)(expect_seq + 5000), t + 1000 * MS);
	len = cardea_twcc_recorder_build(r, 0x11, 0x22, buf, sizeof(buf));
	n = parse_feedback(buf, len, &tw, st, G_N_ELEMENTS(st));
	g_assert_cmpuint(n, ==, CARDEA_TWCC_WINDOW);
	for (size_t i = 0; i + 1 < n; i++)
		g_assert_false(st[i].received);
	g_assert_true(st[n - 1].received);
	/* Negative arrival times are refused. */
	cardea_twcc_recorder_add(r, (uint16_t)(expect_seq + 5001), -1);
	g_assert_cmpuint(cardea_twcc_recorder_build(r, 0x11, 0x22, buf, sizeof(buf)), ==, 0);
	g_free(r);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/nack/tracker/gap-reorder", test_tracker_gap_and_reorder);
	g_test_add_func("/nack/tracker/retries-age", test_tracker_retries_and_age);
	g_test_add_func("/nack/tracker/reorder-delay", test_tracker_reorder_delay);
	g_test_add_func("/nack/tracker/wrap-cap", test_tracker_wrap_and_cap);
	g_test_add_func("/nack/tracker/overflow", test_tracker_overflow);
	g_test_add_func("/nack/tracker/random", test_tracker_random);
	g_test_add_func("/nack/rtx-buffer/lookup", test_rtx_buffer);
	g_test_add_func("/nack/rtx-buffer/answer", test_rtx_answer);
	g_test_add_func("/nack/rtx-buffer/ring-sizes", test_rtx_ring_sizes);
	g_test_add_func("/nack/rtx-buffer/ring-random", test_rtx_ring_random);
	g_test_add_func("/nack/keyframe-limiter", test_keyframe_limiter);
	g_test_add_func("/nack/twcc-recorder", test_twcc_recorder);
	return g_test_run();
}
