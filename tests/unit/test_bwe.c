/* Unit tests for core/webrtc/bwe.c: the transport-cc estimator fed with
 * real feedback packets (written and parsed by rtcp.c) for a clean link,
 * heavy and light loss, seq wrap, unknown and repeated seqs; the report
 * gate; the SDK's layer meter and the estimate -> layer policy (hysteresis,
 * hold after a move down, doubling after a failed move up). Times are
 * hand-picked microseconds. */
#include <string.h>

#include <glib.h>

#include "webrtc/bwe.h"
#include "webrtc/rtcp.h"
#include "cardea/bwe.h"

#define MS 1000
#define SEC 1000000

/* A sender on a simulated link: `size`-byte packets every `gap_us`, each
 * arriving `delay_us` later unless `lost(i)` says otherwise; feedback every
 * 100 ms, written with cardea_rtcp_write_twcc and parsed back. */
typedef struct simlink {
	cardea_twcc_bwe *b;
	uint16_t seq;                 /* next transport seq */
	uint16_t first_seq;
	int64_t i;                    /* packets sent so far */
	int64_t now;
	int64_t first_unreported;     /* index of the first packet not fed back */
	uint8_t fb_count;
	int updates;                  /* windows that ended */
} simlink;

static void link_init(simlink *l, cardea_twcc_bwe *b, uint16_t first_seq) {
	memset(l, 0, sizeof(*l));
	l->b = b;
	l->seq = l->first_seq = first_seq;
	l->now = 10 * SEC;
	cardea_twcc_bwe_init(b);
}

/* Feeds back packets [first_unreported, i) as one feedback packet. */
static void link_feedback(simlink *l, gboolean (*lost)(int64_t), int64_t delay_us, int64_t gap_us) {
	cardea_twcc_arrival arr[1024];
	size_t n = 0;
	int64_t first = l->first_unreported;
	/* Arrival seqs are unwrapped in the writer's numbering: seq of packet k
	 * is (first_seq + k), kept unwrapped here as 100000 + k. */
	for (int64_t k = first; k < l->i; k++) {
		if (lost && lost(k))
			continue;
		arr[n].seq = 100000 + k;
		arr[n].arrival_us = k * gap_us + delay_us + 64000;
		n++;
	}
	if (n == 0) {
		l->first_unreported = l->i;
		return;
	}
	guint8 buf[1500];
	size_t consumed = 0;
	size_t len = cardea_rtcp_write_twcc(buf, sizeof(buf), 1, 2, l->fb_count++, 100000 + first, arr, n, &consumed);
	g_assert_cmpuint(len, >, 0);
	g_assert_cmpuint(consumed, ==, n);
	cardea_rtcp_pkt p;
	cardea_rtcp_iter it;
	g_assert_cmpint(cardea_rtcp_iter_init(&it, buf, len), ==, CARDEA_RTCP_OK);
	g_assert_true(cardea_rtcp_next(&it, &p));
	cardea_rtcp_twcc hdr;
	cardea_twcc_status st[1024];
	size_t ns = 0;
	g_assert_cmpint(cardea_rtcp_parse_twcc(&p, &hdr, st, G_N_ELEMENTS(st), &ns), ==, CARDEA_RTCP_OK);
	/* The writer numbered from 100000 + first; the wire carries 16 bits:
	 * shift them to the sender's real seqs. */
	uint16_t shift = (uint16_t)(l->first_seq - (uint16_t)100000);
	for (size_t k = 0; k < ns; k++)
		st[k].seq = (uint16_t)(st[k].seq + shift);
	if (cardea_twcc_bwe_feedback(l->b, st, ns, l->now))
		l->updates++;
	l->first_unreported = l->i;
}

/* Runs the link for `dur_us`. */
static void link_run(simlink *l, int64_t dur_us, size_t size, int64_t gap_us, gboolean (*lost)(int64_t)) {
	int64_t end = l->now + dur_us;
	int64_t next_fb = l->now + 100 * MS;
	while (l->now < end) {
		cardea_twcc_bwe_sent(l->b, l->seq, size, l->now);
		l->seq++;
		l->i++;
		l->now += gap_us;
		if (l->now >= next_fb) {
			link_feedback(l, lost, 20 * MS, gap_us);
			next_fb += 100 * MS;
		}
	}
}

static gboolean lose_none(int64_t k) { return FALSE; }
static gboolean lose_fifth(int64_t k) { return k % 5 == 0; }            /* 20 % */
static gboolean lose_twentieth(int64_t k) { return k % 20 == 0; }       /* 5 % */

/* 1250-byte packets every 10 ms: 1 Mbps. */
#define SIZE 1250
#define GAP (10 * MS)

static void test_twcc_clean_link(void) {
	cardea_twcc_bwe *b = g_new(cardea_twcc_bwe, 1);
	simlink l;
	link_init(&l, b, 1000);
	link_run(&l, 400 * MS, SIZE, GAP, lose_none);
	g_assert_cmpuint(b->estimate_bps, ==, 0);          /* no full window yet */
	link_run(&l, 200 * MS, SIZE, GAP, lose_none);
	g_assert_cmpint(l.updates, ==, 1);
	/* First window: the received rate. */
	g_assert_cmpuint(b->estimate_bps, >=, 950000);
	g_assert_cmpuint(b->estimate_bps, <=, 1100000);
	g_assert_cmpuint(b->loss_permille, ==, 0);
	uint32_t first = b->estimate_bps;
	/* No loss: it probes up, about 8 % a second. */
	link_run(&l, 3 * SEC, SIZE, GAP, lose_none);
	g_assert_cmpint(l.updates, >=, 5);
	g_assert_cmpuint(b->estimate_bps, >, first * 115 / 100);
	g_assert_cmpuint(b->estimate_bps, <, first * 135 / 100);
	g_assert_cmpuint(b->unknown, ==, 0);
	g_free(b);
}

static void test_twcc_loss(void) {
	cardea_twcc_bwe *b = g_new(cardea_twcc_bwe, 1);
	simlink l;
	link_init(&l, b, 65000);   /* wraps on the way */
	link_run(&l, 2 * SEC, SIZE, GAP, lose_none);
	uint32_t clean = b->estimate_bps;
	g_assert_cmpuint(clean, >, 1000000);
	/* 5 %: held. */
	link_run(&l, 100 * MS, SIZE, GAP, lose_twentieth);   /* the window in progress */
	int before = l.updates;
	link_run(&l, 2 * SEC, SIZE, GAP, lose_twentieth);
	g_assert_cmpint(l.updates, >, before);
	g_assert_cmpuint(b->loss_permille, >=, 30);
	g_assert_cmpuint(b->loss_permille, <=, 70);
	g_assert_cmpuint(b->estimate_bps, <=, clean * 101 / 100);
	g_assert_cmpuint(b->estimate_bps, >=, clean * 95 / 100);
	/* 20 %: down below what got through (0.8 Mbps), times 0.9. */
	link_run(&l, 1 * SEC, SIZE, GAP, lose_fifth);
	g_assert_cmpuint(b->loss_permille, >=, 150);
	g_assert_cmpuint(b->estimate_bps, <, 800000);
	g_assert_cmpuint(b->estimate_bps, >, 500000);
	/* Clean again: back up to at least what gets through. */
	link_run(&l, 1 * SEC, SIZE, GAP, lose_none);
	g_assert_cmpuint(b->estimate_bps, >=, 950000);
	g_assert_cmpuint(b->unknown, ==, 0);
	g_free(b);
}

static void test_twcc_unknown_and_repeated(void) {
	cardea_twcc_bwe *b = g_new(cardea_twcc_bwe, 1);
	cardea_twcc_bwe_init(b);
	cardea_twcc_status st[20];
	/* Nothing sent yet: ignored. */
	st[0] = (cardea_twcc_status){ 5, true, 1000 };
	g_assert_false(cardea_twcc_bwe_feedback(b, st, 1, 0));
	for (int k = 0; k < 10; k++)
		cardea_twcc_bwe_sent(b, (uint16_t)(500 + k), 1000, k * 10 * MS);
	/* Seqs far from anything sent. */
	for (int k = 0; k < 10; k++)
		st[k] = (cardea_twcc_status){ (uint16_t)(20000 + k), true, k * 10 * MS };
	g_assert_false(cardea_twcc_bwe_feedback(b, st, 10, SEC));
	g_assert_cmpuint(b->unknown, ==, 10);
	/* The real ones, twice over: counted once, so no window closes on the
	 * repeat alone. */
	for (int k = 0; k < 10; k++)
		st[k] = (cardea_twcc_status){ (uint16_t)(500 + k), true, k * 10 * MS };
	g_assert_false(cardea_twcc_bwe_feedback(b, st, 5, SEC));
	g_assert_false(cardea_twcc_bwe_feedback(b, st, 5, SEC + 100 * MS));
	g_assert_cmpuint(b->win_received, ==, 5);
	g_assert_true(cardea_twcc_bwe_feedback(b, st, 10, SEC + 600 * MS));
	/* 10 x 1000 bytes over 90 ms of arrivals. */
	g_assert_cmpuint(b->received_bps, >=, 880000);
	g_assert_cmpuint(b->received_bps, <=, 900000);
	g_free(b);
}

static void test_gate(void) {
	cardea_bwe_gate g = { 0 };
	g_assert_false(cardea_bwe_gate_pass(&g, 0, 0));
	g_assert_true(cardea_bwe_gate_pass(&g, 1000000, 0));
	/* Too soon, whatever the change. */
	g_assert_false(cardea_bwe_gate_pass(&g, 100000, 100 * MS));
	/* Late enough but within 10 %. */
	g_assert_false(cardea_bwe_gate_pass(&g, 1090000, 300 * MS));
	g_assert_false(cardea_bwe_gate_pass(&g, 910000, 400 * MS));
	g_assert_true(cardea_bwe_gate_pass(&g, 1200000, 500 * MS));
	g_assert_cmpuint(g.last_bps, ==, 1200000);
	g_assert_false(cardea_bwe_gate_pass(&g, 100000, 700 * MS));
	g_assert_true(cardea_bwe_gate_pass(&g, 100000, 750 * MS));
}

static void test_meter(void) {
	cardea_bwe_meter m;
	cardea_bwe_meter_init(&m);
	int64_t t = 5 * SEC;
	gboolean ended = FALSE;
	/* 50 packets/s per layer: 100, 500 and 1000 bytes. */
	for (int k = 0; k < 50; k++, t += 20 * MS) {
		ended |= cardea_bwe_meter_add(&m, 0, 100, t);
		ended |= cardea_bwe_meter_add(&m, 1, 500, t);
		ended |= cardea_bwe_meter_add(&m, 2, 1000, t);
		g_assert_false(cardea_bwe_meter_add(&m, 3, 99999, t));
		g_assert_false(cardea_bwe_meter_add(&m, -1, 99999, t));
	}
	g_assert_false(ended);
	g_assert_cmpuint(m.rate_bps[2], ==, 0);
	g_assert_true(cardea_bwe_meter_add(&m, 0, 100, t));
	g_assert_cmpuint(m.rate_bps[0], ==, 40000);
	g_assert_cmpuint(m.rate_bps[1], ==, 200000);
	g_assert_cmpuint(m.rate_bps[2], ==, 400000);
	/* Layer 2 stops: 0 at the next window. */
	for (int k = 0; k < 50; k++, t += 20 * MS)
		cardea_bwe_meter_add(&m, 0, 100, t);
	g_assert_true(cardea_bwe_meter_add(&m, 1, 500, t));
	g_assert_cmpuint(m.rate_bps[0], >, 38000);
	g_assert_cmpuint(m.rate_bps[2], ==, 0);
}

static void test_policy(void) {
	const uint32_t rates[3] = { 100000, 300000, 1000000 };
	cardea_bwe_policy p;
	cardea_bwe_policy_init(&p);
	int64_t t = 100 * SEC;
	g_assert_cmpint(p.layer, ==, -1);
	/* No estimate: the highest. */
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 0, t), ==, 2);
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 2000000, t), ==, 2);
	/* Stays while estimate >= 0.9 x rate. */
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 900000, t), ==, 2);
	/* Down at once, to the best that fits. */
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 500000, t), ==, 1);
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 250000, t + 1), ==, 0);
	/* Below every layer: the lowest. */
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 10000, t + 2), ==, 0);
	/* Up waits out the hold (3 s after the last move down). */
	t += 2;
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 5000000, t + SEC), ==, 0);
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 5000000, t + 3 * SEC), ==, 2);
	t += 3 * SEC;
	/* The move up failed within 10 s: the next hold is 6 s. */
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 200000, t + 2 * SEC), ==, 0);
	t += 2 * SEC;
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 5000000, t + 4 * SEC), ==, 0);
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 5000000, t + 6 * SEC), ==, 2);
	t += 6 * SEC;
	/* Up needs 1.2 x: 1.1 M does not lift layer 1 to 2. */
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 500000, t + 20 * SEC), ==, 1);
	t += 20 * SEC;
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 1100000, t + 10 * SEC), ==, 1);
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 3, 1200000, t + 10 * SEC), ==, 2);
	/* A layer not flowing is never chosen. */
	const uint32_t holes[3] = { 100000, 0, 1000000 };
	cardea_bwe_policy_init(&p);
	g_assert_cmpint(cardea_bwe_policy_choose(&p, holes, 3, 500000, t), ==, 0);
	const uint32_t none[3] = { 0, 0, 0 };
	cardea_bwe_policy_init(&p);
	g_assert_cmpint(cardea_bwe_policy_choose(&p, none, 3, 500000, t), ==, 2);
	/* Two layers only. */
	cardea_bwe_policy_init(&p);
	g_assert_cmpint(cardea_bwe_policy_choose(&p, rates, 2, 10000000, t), ==, 1);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/bwe/twcc/clean-link", test_twcc_clean_link);
	g_test_add_func("/bwe/twcc/loss", test_twcc_loss);
	g_test_add_func("/bwe/twcc/unknown-repeated", test_twcc_unknown_and_repeated);
	g_test_add_func("/bwe/gate", test_gate);
	g_test_add_func("/bwe/meter", test_meter);
	g_test_add_func("/bwe/policy", test_policy);
	return g_test_run();
}
