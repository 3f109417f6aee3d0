/* Unit tests for SVC layer selection (cardea/svc.h, core/webrtc/svc.c):
 * the VP9 payload descriptor, the AV1 Dependency Descriptor, and the
 * selector + rewriter on hand-built VP9 L3T3 streams (what is kept and
 * dropped, marker bits, sequence continuity, when layers switch) and an AV1
 * L2T2 stream carrying the Dependency Descriptor.
 *
 * The VP9 stream: pictures every 3000 ticks; each picture has spatial
 * layers 0..2, each layer frame two packets (B on the first, E on the
 * second), the marker on the very last packet (SID 2, E); temporal pattern
 * T0 T2 T1 T2 with U set on T1/T2; picture 0 (and any picture asked for) is
 * a keyframe: P = 0 on every layer, SS with 3 layers 320x180/640x360/1280x720.
 */
#include <string.h>

#include <glib.h>

#include "cardea/svc.h"

#include "test-util.h"

/* ---- VP9 packet builder ---- */

typedef struct vp9_pkt {
	uint8_t buf[128];
	cardea_rtp_packet p;
	int sid, tid;
	bool b, e, orig_marker;
} vp9_pkt;

typedef struct vp9_opts {
	bool inter;       /* P */
	bool switching_up;
	bool ss;
	bool padding_only;
} vp9_opts;

/* The 12-byte fixed RTP header (X set with `ext`), SSRC 0x11223344. */
static void rtp_header(uint8_t *p, bool ext, bool marker, uint8_t pt, uint16_t seq, uint32_t ts) {
	p[0] = ext ? 0x90 : 0x80;
	p[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[4] = (uint8_t)(ts >> 24);
	p[5] = (uint8_t)(ts >> 16);
	p[6] = (uint8_t)(ts >> 8);
	p[7] = (uint8_t)ts;
	p[8] = 0x11; p[9] = 0x22; p[10] = 0x33; p[11] = 0x44;
}

static void build_vp9(vp9_pkt *k, uint16_t seq, uint32_t ts, uint16_t picid, int sid, int tid, bool b, bool e,
		bool marker, const vp9_opts *o) {
	memset(k, 0, sizeof(*k));
	uint8_t *p = k->buf;
	rtp_header(p, false, marker, 98, seq, ts);
	size_t n = 12;
	if (o->padding_only) {
		p[0] |= 0x20;
		memset(p + n, 0, 3);
		n += 3;
		p[n++] = 4;
	} else {
		/* I P L F=0 B E V Z=0 */
		p[n++] = (uint8_t)(0x80 | (o->inter ? 0x40 : 0) | 0x20 | (b ? 0x08 : 0) | (e ? 0x04 : 0) | (o->ss ? 0x02 : 0));
		p[n++] = (uint8_t)(0x80 | ((picid >> 8) & 0x7F));
		p[n++] = (uint8_t)picid;
		p[n++] = (uint8_t)((tid << 5) | (o->switching_up ? 0x10 : 0) | (sid << 1) | (sid > 0 && !o->inter ? 1 : 0));
		p[n++] = 7;           /* TL0PICIDX */
		if (o->ss) {
			static const uint16_t w[3] = { 320, 640, 1280 }, h[3] = { 180, 360, 720 };
			p[n++] = (2 << 5) | 0x10;     /* N_S = 2, Y, no G */
			for (int i = 0; i < 3; i++) {
				p[n++] = (uint8_t)(w[i] >> 8);
				p[n++] = (uint8_t)w[i];
				p[n++] = (uint8_t)(h[i] >> 8);
				p[n++] = (uint8_t)h[i];
			}
		}
		for (int i = 0; i < 8; i++)
			p[n++] = (uint8_t)(0xA0 + i);
	}
	k->p.buffer = k->buf;
	k->p.length = (uint16_t)n;
	k->p.video = true;
	k->p.pt = 98;
	k->p.marker = marker;
	k->p.seq = seq;
	k->p.timestamp = ts;
	k->p.ssrc = 0x11223344;
	k->p.header_len = 12;
	k->sid = sid;
	k->tid = tid;
	k->b = b;
	k->e = e;
	k->orig_marker = marker;
}

static const int tpattern[4] = { 0, 2, 1, 2 };

/* The sender: a sequence of pictures with the packets of each. */
typedef struct sender {
	uint16_t seq;
	uint16_t picid;
	int picture;
	int top;            /* highest spatial layer sent (2 normally) */
	bool intra_top;     /* the next picture's top layer uses no earlier picture */
	int64_t now;
} sender;

/* Builds picture `s->picture` into pk[] (6 packets at most), returns count. */
static int next_picture(sender *s, bool key, vp9_pkt *pk) {
	int tid = key ? 0 : tpattern[s->picture % 4];
	uint32_t ts = 1000 + 3000u * (uint32_t)s->picture;
	int n = 0;
	for (int sid = 0; sid <= s->top; sid++)
		for (int half = 0; half < 2; half++) {
			vp9_opts o = { .inter = !key && !(s->intra_top && sid == s->top), .switching_up = tid > 0,
				.ss = key && sid == 0 && half == 0 };
			build_vp9(&pk[n++], s->seq++, ts, s->picid, sid, tid, half == 0, half == 1,
				sid == s->top && half == 1, &o);
		}
	s->intra_top = false;
	s->picid = (s->picid + 1) & 0x7FFF;
	s->picture++;
	s->now += 33333;
	return n;
}

/* The receiver side of a test: what went out. */
typedef struct sink {
	int relayed;
	bool have_seq;
	uint16_t last_seq;
	int markers;
	int per_sid[3];
	unsigned bits;      /* OR of everything forward returned */
} sink;

static unsigned feed(cardea_svc_selector *sel, cardea_sim_rewriter *rw, sink *out, vp9_pkt *k, int64_t now) {
	unsigned r = cardea_svc_forward(sel, rw, CARDEA_VIDEO_CODEC_VP9, &k->p, now);
	out->bits |= r;
	if (r & CARDEA_SIM_RELAY) {
		if (out->have_seq)
			g_assert_cmpuint(k->p.seq, ==, (uint16_t)(out->last_seq + 1));
		/* The buffer carries what the struct says. */
		g_assert_cmpuint(((k->buf[2] << 8) | k->buf[3]), ==, k->p.seq);
		g_assert_cmpint(!!(k->buf[1] & 0x80), ==, k->p.marker);
		out->have_seq = true;
		out->last_seq = k->p.seq;
		out->relayed++;
		out->markers += k->p.marker;
		if (k->sid < 3)
			out->per_sid[k->sid]++;
	}
	return r;
}

/* Feeds one picture; checks that the kept packets are exactly those with
 * sid <= want_s and tid <= want_t, and that the marker sits on the E packet
 * of the highest kept layer. Returns the OR of the result bits. */
static unsigned picture(sender *s, cardea_svc_selector *sel, cardea_sim_rewriter *rw, sink *out, bool key,
		int want_s, int want_t) {
	vp9_pkt pk[6];
	int n = next_picture(s, key, pk);
	unsigned all = 0;
	for (int i = 0; i < n; i++) {
		unsigned r = feed(sel, rw, out, &pk[i], s->now);
		all |= r;
		bool keep = pk[i].sid <= want_s && pk[i].tid <= want_t;
		g_assert_cmpint(!!(r & CARDEA_SIM_RELAY), ==, keep);
		if (keep) {
			bool top = pk[i].sid == MIN(want_s, s->top);
			g_assert_cmpint(pk[i].p.marker, ==, top && pk[i].e);
		}
	}
	return all;
}

/* ---- descriptor ---- */

static void test_vp9_descriptor(void) {
	vp9_pkt k;
	vp9_opts o = { .ss = true };
	build_vp9(&k, 1, 1, 0x1234, 0, 0, true, false, false, &o);
	cardea_vp9_descriptor d;
	g_assert_true(cardea_vp9_descriptor_parse(k.buf + 12, k.p.length - 12u, &d));
	g_assert_true(d.has_picture_id && d.picture_id_15);
	g_assert_cmpuint(d.picture_id, ==, 0x1234);
	g_assert_true(d.has_layers && !d.flexible && d.start && !d.end && !d.inter_picture);
	g_assert_true(d.has_tl0picidx);
	g_assert_cmpuint(d.tl0picidx, ==, 7);
	g_assert_cmpuint(d.ss_spatial, ==, 3);
	g_assert_true(d.ss_has_size);
	g_assert_cmpuint(d.ss_width[2], ==, 1280);
	g_assert_cmpuint(d.ss_height[1], ==, 360);
	g_assert_cmpuint(d.size, ==, 1 + 2 + 2 + 1 + 12);

	/* Layer ids of an upper layer's delta frame. */
	vp9_opts od = { .inter = true, .switching_up = true };
	build_vp9(&k, 2, 1, 5, 2, 1, false, true, true, &od);
	g_assert_true(cardea_vp9_descriptor_parse(k.buf + 12, k.p.length - 12u, &d));
	g_assert_cmpuint(d.sid, ==, 2);
	g_assert_cmpuint(d.tid, ==, 1);
	g_assert_true(d.switching_up && d.end && d.inter_picture && !d.inter_layer);

	/* Flexible mode: reference differences with N chaining, 7-bit picture id. */
	const uint8_t flex2[] = { 0xF8, 0x05, 0x40, 0x03, 0x04, 0xAA };  /* I P L F B; pid 5; TID 2; P_DIFF 1 (N), 2 */
	g_assert_true(cardea_vp9_descriptor_parse(flex2, sizeof(flex2), &d));
	g_assert_true(d.flexible && !d.has_tl0picidx);
	g_assert_cmpuint(d.tid, ==, 2);
	g_assert_cmpuint(d.n_pdiff, ==, 2);
	g_assert_cmpuint(d.pdiff[0], ==, 1);
	g_assert_cmpuint(d.pdiff[1], ==, 2);
	g_assert_cmpuint(d.size, ==, 5);

	/* Four chained P_DIFFs are malformed; so is every truncation of a
	 * descriptor (nothing after it is frame data). */
	const uint8_t four[] = { 0xF8, 0x05, 0x40, 0x03, 0x03, 0x03, 0x02, 0xAA };
	g_assert_false(cardea_vp9_descriptor_parse(four, sizeof(four), &d));
	build_vp9(&k, 1, 1, 0x1234, 0, 0, true, false, false, &o);
	for (size_t cut = 0; cut <= 18; cut++)
		g_assert_false(cardea_vp9_descriptor_parse(k.buf + 12, cut, &d));
	g_assert_true(cardea_vp9_descriptor_parse(k.buf + 12, 19, &d));
	/* A layer id beyond the scalability structure. */
	k.buf[12 + 3] = (uint8_t)((k.buf[12 + 3] & ~0x0E) | (3 << 1));
	g_assert_false(cardea_vp9_descriptor_parse(k.buf + 12, k.p.length - 12u, &d));

	/* Padding-only packets are no media, not an error. */
	vp9_opts op = { .padding_only = true };
	build_vp9(&k, 3, 1, 0, 0, 0, false, false, false, &op);
	cardea_svc_info info;
	g_assert_true(cardea_svc_info_vp9(&k.p, &info));
	g_assert_false(info.media);
}

/* ---- selector on VP9 ---- */

static void setup(cardea_svc_selector *sel, cardea_sim_rewriter *rw, sender *s, sink *out) {
	cardea_svc_selector_init(sel);
	cardea_sim_rewriter_init(rw, 90000);
	memset(s, 0, sizeof(*s));
	s->seq = 65530;     /* wraps during the test */
	s->picid = 0x7FFE;
	s->top = 2;
	s->now = 1000000;
	memset(out, 0, sizeof(*out));
}

static void test_vp9_all_layers(void) {
	cardea_svc_selector sel;
	cardea_sim_rewriter rw;
	sender s;
	sink out;
	setup(&sel, &rw, &s, &out);
	/* Nothing before the first keyframe; it is asked for. */
	unsigned r = picture(&s, &sel, &rw, &out, false, -1, -1);
	g_assert_true(r & CARDEA_SIM_NEED_KEYFRAME);
	g_assert_cmpint(out.relayed, ==, 0);
	r = picture(&s, &sel, &rw, &out, true, 2, 0);
	g_assert_true(r & CARDEA_SVC_SPATIAL_CHANGED);
	g_assert_cmpint(sel.spatial, ==, 2);
	/* Temporal layers come up as the sender shows them. */
	for (int i = 0; i < 7; i++)
		picture(&s, &sel, &rw, &out, false, 2, 2);
	g_assert_cmpint(sel.temporal, ==, 2);
	g_assert_cmpint(out.relayed, ==, 8 * 6);
	g_assert_cmpint(out.markers, ==, 8);
}

static void test_vp9_spatial0(void) {
	cardea_svc_selector sel;
	cardea_sim_rewriter rw;
	sender s;
	sink out;
	setup(&sel, &rw, &s, &out);
	cardea_svc_selector_set_spatial(&sel, 0);
	unsigned r = picture(&s, &sel, &rw, &out, true, 0, 0);
	g_assert_true(r & CARDEA_SVC_SPATIAL_CHANGED);
	g_assert_cmpint(sel.spatial, ==, 0);
	for (int i = 0; i < 12; i++)
		picture(&s, &sel, &rw, &out, false, 0, 2);
	/* Only SID 0, every picture's E packet of SID 0 marked, seq continuous
	 * (checked in feed) across the 16-bit wrap. */
	g_assert_cmpint(out.per_sid[1] + out.per_sid[2], ==, 0);
	g_assert_cmpint(out.per_sid[0], ==, 13 * 2);
	g_assert_cmpint(out.markers, ==, 13);
	/* Nothing above layer 0 is wanted: no keyframe was ever asked for. */
	g_assert_false(out.bits & CARDEA_SIM_NEED_KEYFRAME);
}

static void test_vp9_spatial1_temporal0(void) {
	cardea_svc_selector sel;
	cardea_sim_rewriter rw;
	sender s;
	sink out;
	setup(&sel, &rw, &s, &out);
	cardea_svc_selector_set_spatial(&sel, 1);
	cardea_svc_selector_set_temporal(&sel, 0);
	picture(&s, &sel, &rw, &out, true, 1, 0);
	for (int i = 0; i < 8; i++)
		picture(&s, &sel, &rw, &out, false, 1, 0);
	g_assert_cmpint(sel.temporal, ==, 0);
	/* T0 pictures: the keyframe and pictures 4 and 8. */
	g_assert_cmpint(out.relayed, ==, 3 * 4);
	g_assert_cmpint(out.markers, ==, 3);
	g_assert_cmpint(out.per_sid[2], ==, 0);
}

static void test_vp9_spatial_switch_timing(void) {
	cardea_svc_selector sel;
	cardea_sim_rewriter rw;
	sender s;
	sink out;
	setup(&sel, &rw, &s, &out);
	cardea_svc_selector_set_spatial(&sel, 0);
	picture(&s, &sel, &rw, &out, true, 0, 0);
	for (int i = 0; i < 3; i++)
		picture(&s, &sel, &rw, &out, false, 0, 2);
	/* Up: not at a delta picture (upper layers reference their own earlier
	 * frames, which were dropped); a keyframe is asked for. */
	cardea_svc_selector_set_spatial(&sel, 2);
	unsigned r = picture(&s, &sel, &rw, &out, false, 0, 2);
	g_assert_true(r & CARDEA_SIM_NEED_KEYFRAME);
	g_assert_false(r & CARDEA_SVC_SPATIAL_CHANGED);
	r = picture(&s, &sel, &rw, &out, false, 0, 2);
	g_assert_false(r & CARDEA_SIM_NEED_KEYFRAME);    /* at most every CARDEA_SIM_KEYFRAME_RETRY_US */
	/* At the keyframe, every layer. */
	r = picture(&s, &sel, &rw, &out, true, 2, 2);
	g_assert_true(r & CARDEA_SVC_SPATIAL_CHANGED);
	g_assert_cmpint(sel.spatial, ==, 2);
	picture(&s, &sel, &rw, &out, false, 2, 2);

	/* Down, asked in the middle of a picture: that picture stays whole, the
	 * next one loses layers 1 and 2. */
	vp9_pkt pk[6];
	int n = next_picture(&s, false, pk);
	g_assert_cmpint(n, ==, 6);
	for (int i = 0; i < 2; i++)
		g_assert_true(feed(&sel, &rw, &out, &pk[i], s.now) & CARDEA_SIM_RELAY);
	cardea_svc_selector_set_spatial(&sel, 0);
	for (int i = 2; i < 6; i++) {
		r = feed(&sel, &rw, &out, &pk[i], s.now);
		g_assert_true(r & CARDEA_SIM_RELAY);
		g_assert_false(r & CARDEA_SVC_SPATIAL_CHANGED);
	}
	g_assert_true(pk[5].p.marker);
	r = picture(&s, &sel, &rw, &out, false, 0, 2);
	g_assert_true(r & CARDEA_SVC_SPATIAL_CHANGED);
	g_assert_cmpint(sel.spatial, ==, 0);
	g_assert_false(r & CARDEA_SIM_NEED_KEYFRAME);

	/* A layer frame that uses only the layer below (P = 0) is no switch
	 * point: the layer below already went out with the marker. */
	cardea_svc_selector_set_spatial(&sel, 1);
	s.top = 1;
	s.intra_top = true;
	for (int i = 0; i < 20; i++)     /* past CARDEA_SIM_KEYFRAME_RETRY_US */
		r = picture(&s, &sel, &rw, &out, false, 0, 2);
	g_assert_cmpint(sel.spatial, ==, 0);
	g_assert_true(out.bits & CARDEA_SIM_NEED_KEYFRAME);
	r = picture(&s, &sel, &rw, &out, true, 1, 2);
	g_assert_true(r & CARDEA_SVC_SPATIAL_CHANGED);
	g_assert_cmpint(sel.spatial, ==, 1);
	picture(&s, &sel, &rw, &out, false, 1, 2);
}

static void test_vp9_temporal_switch(void) {
	cardea_svc_selector sel;
	cardea_sim_rewriter rw;
	sender s;
	sink out;
	setup(&sel, &rw, &s, &out);
	cardea_svc_selector_set_spatial(&sel, 0);
	picture(&s, &sel, &rw, &out, true, 0, 0);
	for (int i = 0; i < 3; i++)         /* T2 T1 T2 */
		picture(&s, &sel, &rw, &out, false, 0, 2);
	g_assert_cmpint(sel.temporal, ==, 2);
	/* Down: from the next picture. */
	cardea_svc_selector_set_temporal(&sel, 0);
	unsigned r = picture(&s, &sel, &rw, &out, false, 0, 0);      /* T0 */
	g_assert_true(r & CARDEA_SIM_TEMPORAL_CHANGED);
	g_assert_cmpint(sel.temporal, ==, 0);
	picture(&s, &sel, &rw, &out, false, 0, 0);                   /* T2: dropped */
	/* Up to 1: at the next T1 picture with U (pattern: T1 next). */
	cardea_svc_selector_set_temporal(&sel, 1);
	r = picture(&s, &sel, &rw, &out, false, 0, 1);              /* T1 U */
	g_assert_true(r & CARDEA_SIM_TEMPORAL_CHANGED);
	g_assert_cmpint(sel.temporal, ==, 1);
	picture(&s, &sel, &rw, &out, false, 0, 1);                   /* T2: dropped */
	/* A T2 picture without U does not switch up. */
	cardea_svc_selector_set_temporal(&sel, 2);
	picture(&s, &sel, &rw, &out, false, 0, 1);                   /* T0 */
	vp9_pkt pk[6];
	int n = next_picture(&s, false, pk);                        /* T2, U cleared below */
	for (int i = 0; i < n; i++) {
		pk[i].buf[12 + 3] &= (uint8_t)~0x10;
		r = feed(&sel, &rw, &out, &pk[i], s.now);
		g_assert_false(r & CARDEA_SIM_RELAY);
	}
	g_assert_cmpint(sel.temporal, ==, 1);
	picture(&s, &sel, &rw, &out, false, 0, 1);                   /* T1 */
	r = picture(&s, &sel, &rw, &out, false, 0, 2);              /* T2 with U */
	g_assert_true(r & CARDEA_SIM_TEMPORAL_CHANGED);
	g_assert_cmpint(sel.temporal, ==, 2);
}

static void test_vp9_fallback(void) {
	cardea_svc_selector sel;
	cardea_sim_rewriter rw;
	sender s;
	sink out;
	setup(&sel, &rw, &s, &out);
	cardea_svc_selector_set_fallback(&sel, 100000);
	picture(&s, &sel, &rw, &out, true, 2, 0);
	picture(&s, &sel, &rw, &out, false, 2, 2);
	/* The sender stops layer 2: within the fallback the receiver stays on
	 * 2 (the marker then is the sender's own, on layer 1). */
	s.top = 1;
	picture(&s, &sel, &rw, &out, false, 2, 2);
	picture(&s, &sel, &rw, &out, false, 2, 2);
	g_assert_cmpint(sel.spatial, ==, 2);
	unsigned r = 0;
	for (int i = 0; i < 2; i++)
		r |= picture(&s, &sel, &rw, &out, false, 1, 2);
	g_assert_true(r & CARDEA_SVC_SPATIAL_CHANGED);
	g_assert_cmpint(sel.spatial, ==, 1);
	/* Layer 2 comes back (delta frames): seen alive again, so the selector
	 * wants it and asks for a keyframe; it switches at that keyframe. */
	s.top = 2;
	r = picture(&s, &sel, &rw, &out, false, 1, 2);
	g_assert_true(r & CARDEA_SIM_NEED_KEYFRAME);
	r = picture(&s, &sel, &rw, &out, true, 2, 2);
	g_assert_true(r & CARDEA_SVC_SPATIAL_CHANGED);
	g_assert_cmpint(sel.spatial, ==, 2);
}

static void test_vp9_padding_and_garbage(void) {
	cardea_svc_selector sel;
	cardea_sim_rewriter rw;
	sender s;
	sink out;
	setup(&sel, &rw, &s, &out);
	cardea_svc_selector_set_spatial(&sel, 0);
	picture(&s, &sel, &rw, &out, true, 0, 0);
	/* Padding and a truncated descriptor between pictures: dropped, and the
	 * sequence the receiver sees has no hole (feed checks). */
	vp9_pkt k;
	vp9_opts op = { .padding_only = true };
	build_vp9(&k, s.seq++, 1000 + 3000u * (uint32_t)s.picture, 0, 0, 0, false, false, false, &op);
	g_assert_false(feed(&sel, &rw, &out, &k, s.now) & CARDEA_SIM_RELAY);
	vp9_opts od = { .inter = true };
	build_vp9(&k, s.seq++, 1000 + 3000u * (uint32_t)s.picture, 0, 0, 0, true, false, false, &od);
	k.p.length = 12 + 2;
	g_assert_false(feed(&sel, &rw, &out, &k, s.now) & CARDEA_SIM_RELAY);
	for (int i = 0; i < 4; i++)
		picture(&s, &sel, &rw, &out, false, 0, 2);
	g_assert_cmpint(out.relayed, ==, 5 * 2);
}

/* The plugin rebases the rewriter in the middle of a picture (a configure):
 * the rest of the picture keeps its timestamp, the sequence has no hole. */
static void test_vp9_rebase_mid_picture(void) {
	cardea_svc_selector sel;
	cardea_sim_rewriter rw;
	sender s;
	sink out;
	setup(&sel, &rw, &s, &out);
	picture(&s, &sel, &rw, &out, true, 2, 0);
	vp9_pkt pk[6];
	int n = next_picture(&s, false, pk);
	g_assert_true(feed(&sel, &rw, &out, &pk[0], s.now) & CARDEA_SIM_RELAY);
	uint32_t ts = pk[0].p.timestamp;
	cardea_sim_rewriter_rebase(&rw);
	for (int i = 1; i < n; i++) {
		g_assert_true(feed(&sel, &rw, &out, &pk[i], s.now + 20000) & CARDEA_SIM_RELAY);
		g_assert_cmpuint(pk[i].p.timestamp, ==, ts);
	}
	picture(&s, &sel, &rw, &out, false, 2, 2);
}

/* The receiver is switched to another sender (another SSRC, unrelated
 * sequence numbers and timestamps): nothing of it goes out before its
 * keyframe, then the stream carries on without a hole. */
static void test_vp9_new_sender(void) {
	cardea_svc_selector sel;
	cardea_sim_rewriter rw;
	sender s;
	sink out;
	setup(&sel, &rw, &s, &out);
	cardea_svc_selector_set_spatial(&sel, 1);
	picture(&s, &sel, &rw, &out, true, 1, 0);
	picture(&s, &sel, &rw, &out, false, 1, 2);
	cardea_sim_rewriter_rebase(&rw);      /* what the plugin does at a switch */
	sender other = s;
	other.seq = 1234;
	other.picture = 50;                   /* timestamps well apart */
	s.picture = 2;
	vp9_pkt pk[6];
	unsigned r = 0;
	int n = next_picture(&other, false, pk);
	for (int i = 0; i < n; i++) {
		pk[i].p.ssrc = 0x55667788;
		r |= feed(&sel, &rw, &out, &pk[i], other.now);
		g_assert_false(r & CARDEA_SIM_RELAY);
	}
	g_assert_cmpint(sel.spatial, ==, -1);
	n = next_picture(&other, true, pk);
	for (int i = 0; i < n; i++) {
		pk[i].p.ssrc = 0x55667788;
		r = feed(&sel, &rw, &out, &pk[i], other.now);
		g_assert_cmpint(!!(r & CARDEA_SIM_RELAY), ==, pk[i].sid <= 1);
		if (i == 0)
			g_assert_true(r & CARDEA_SVC_SPATIAL_CHANGED);
	}
	g_assert_cmpint(sel.spatial, ==, 1);
}

/* ---- AV1 Dependency Descriptor ---- */

typedef struct bitw {
	uint8_t *p;
	size_t pos;
} bitw;

static void put(bitw *w, uint32_t v, int n) {
	for (int k = n - 1; k >= 0; k--, w->pos++)
		if ((v >> k) & 1)
			w->p[w->pos >> 3] |= (uint8_t)(0x80 >> (w->pos & 7));
}

/* L2T2, four templates (S0T0, S0T1, S1T0, S1T1), four decode targets
 * (S0T0, S0T1, S1T0, S1T1), template id offset 10. DTIs: S = switch on the
 * T0 templates for every target they serve, R/D otherwise. Returns bytes. */
static size_t dd_with_structure(uint8_t *out, int template_index, bool sof, bool eof, uint16_t frame) {
	memset(out, 0, 64);
	bitw w = { out, 0 };
	put(&w, sof, 1);
	put(&w, eof, 1);
	put(&w, (uint32_t)(10 + template_index) % 64, 6);
	put(&w, frame, 16);
	put(&w, 1, 1);      /* template_dependency_structure_present */
	put(&w, 0, 1);      /* active_decode_targets_present */
	put(&w, 0, 1);      /* custom dtis */
	put(&w, 0, 1);      /* custom fdiffs */
	put(&w, 0, 1);      /* custom chains */
	put(&w, 10, 6);     /* template_id_offset */
	put(&w, 3, 5);      /* dt_cnt - 1 */
	put(&w, 1, 2);      /* S0T0 -> next temporal */
	put(&w, 2, 2);      /* S0T1 -> next spatial */
	put(&w, 1, 2);      /* S1T0 -> next temporal */
	put(&w, 3, 2);      /* S1T1 -> end */
	/* dtis per template, per target (S0T0, S0T1, S1T0, S1T1): 0 -, 1 D, 2 S, 3 R */
	static const uint8_t dti[4][4] = { { 2, 2, 2, 2 }, { 0, 1, 0, 3 }, { 0, 0, 2, 2 }, { 0, 0, 0, 1 } };
	for (int t = 0; t < 4; t++)
		for (int d = 0; d < 4; d++)
			put(&w, dti[t][d], 2);
	for (int t = 0; t < 4; t++) {
		put(&w, 1, 1);  /* one fdiff */
		put(&w, 0, 4);
		put(&w, 0, 1);
	}
	put(&w, 0, 2);      /* chain_cnt = ns(5) = 0: "00" */
	put(&w, 1, 1);      /* resolutions */
	put(&w, 640 - 1, 16);
	put(&w, 360 - 1, 16);
	put(&w, 1280 - 1, 16);
	put(&w, 720 - 1, 16);
	return (w.pos + 7) / 8;
}

static size_t dd_plain(uint8_t *out, int template_index, bool sof, bool eof, uint16_t frame) {
	out[0] = (uint8_t)((sof ? 0x80 : 0) | (eof ? 0x40 : 0) | ((10 + template_index) % 64));
	out[1] = (uint8_t)(frame >> 8);
	out[2] = (uint8_t)frame;
	return 3;
}

static void test_av1_dd(void) {
	uint8_t b[64];
	cardea_av1_dd_structure st;
	memset(&st, 0, sizeof(st));
	cardea_av1_dd dd;
	/* Without a structure nothing can be named. */
	size_t n = dd_plain(b, 0, true, true, 1);
	g_assert_false(cardea_av1_dd_parse(b, n, &st, &dd));
	n = dd_with_structure(b, 0, true, false, 100);
	g_assert_true(cardea_av1_dd_parse(b, n, &st, &dd));
	g_assert_true(dd.has_structure && dd.start_of_frame && !dd.end_of_frame);
	g_assert_cmpuint(dd.frame_number, ==, 100);
	g_assert_cmpint(dd.spatial, ==, 0);
	g_assert_cmpint(dd.temporal, ==, 0);
	g_assert_true(st.valid);
	g_assert_cmpuint(st.n_templates, ==, 4);
	g_assert_cmpuint(st.n_targets, ==, 4);
	g_assert_cmpuint(st.max_spatial, ==, 1);
	g_assert_cmpuint(st.max_temporal, ==, 1);
	g_assert_cmpuint(st.target_spatial[2], ==, 1);
	g_assert_cmpuint(st.target_temporal[2], ==, 0);
	g_assert_cmpuint(st.target_temporal[3], ==, 1);
	g_assert_true(st.has_resolutions);
	g_assert_cmpuint(st.width[1], ==, 1280);
	g_assert_cmpuint(st.height[0], ==, 360);
	g_assert_cmpuint(dd.switch_mask, ==, 0xF);
	/* Later frames by template id. */
	for (int t = 0; t < 4; t++) {
		n = dd_plain(b, t, true, true, (uint16_t)(101 + t));
		g_assert_true(cardea_av1_dd_parse(b, n, &st, &dd));
		g_assert_cmpint(dd.spatial, ==, t / 2);
		g_assert_cmpint(dd.temporal, ==, t % 2);
		g_assert_false(dd.has_structure);
	}
	/* A template id outside the structure, and every truncation of the
	 * structure packet, are malformed and leave the structure alone. */
	b[0] = (uint8_t)(0xC0 | 20);
	g_assert_false(cardea_av1_dd_parse(b, 3, &st, &dd));
	n = dd_with_structure(b, 0, true, false, 200);
	for (size_t cut = 4; cut < n; cut++) {
		g_assert_false(cardea_av1_dd_parse(b, cut, &st, &dd));
		g_assert_true(st.valid);
		g_assert_cmpuint(st.n_templates, ==, 4);
	}
}

/* An AV1 packet with a two-byte header extension block (a structure does
 * not fit the one-byte form's 16 bytes) holding the DD as id 3, after an
 * abs-send-time element. */
static size_t av1_packet(uint8_t *buf, uint16_t seq, uint32_t ts, bool marker, const uint8_t *dd, size_t ddlen) {
	memset(buf, 0, 160);
	rtp_header(buf, true, marker, 45, seq, ts);
	size_t words = (2 + 3 + 2 + ddlen + 3) / 4;
	buf[12] = 0x10;
	buf[13] = 0x00;
	buf[14] = 0;
	buf[15] = (uint8_t)words;
	size_t off = 16;
	buf[off++] = 2;                 /* abs-send-time, 3 bytes */
	buf[off++] = 3;
	off += 3;
	buf[off++] = 3;
	buf[off++] = (uint8_t)ddlen;
	memcpy(buf + off, dd, ddlen);
	off = 16 + 4 * words;
	for (int i = 0; i < 10; i++)
		buf[off++] = (uint8_t)(0x10 + i);
	return off;
}

static void test_av1_selector(void) {
	cardea_svc_selector sel;
	cardea_sim_rewriter rw;
	cardea_svc_selector_init(&sel);
	cardea_sim_rewriter_init(&rw, 90000);
	sel.av1_dd_ext = 3;
	cardea_svc_selector_set_spatial(&sel, 0);
	uint8_t buf[160], dd[64];
	uint16_t seq = 500, frame = 1, last_out = 0;
	bool have = false;
	int relayed = 0, markers = 0;
	int64_t now = 1000000;
	for (int pic = 0; pic < 8; pic++, now += 33333) {
		/* T0 T1 T0 T1 ...; each picture: S0 then S1, one packet each. */
		int tid = pic % 2;
		for (int sid = 0; sid < 2; sid++) {
			size_t ddlen = pic == 0 && sid == 0 ? dd_with_structure(dd, 0, true, true, frame)
				: dd_plain(dd, sid * 2 + tid, true, true, frame);
			frame++;
			cardea_rtp_packet p = { 0 };
			p.buffer = buf;
			p.length = (uint16_t)av1_packet(buf, seq, 1000 + 3000u * (uint32_t)pic, sid == 1, dd, ddlen);
			p.header_len = (uint16_t)(16 + 4 * buf[15]);
			p.seq = seq++;
			p.timestamp = 1000 + 3000u * (uint32_t)pic;
			p.marker = sid == 1;
			p.video = true;
			unsigned r = cardea_svc_forward(&sel, &rw, CARDEA_VIDEO_CODEC_AV1, &p, now);
			g_assert_cmpint(!!(r & CARDEA_SIM_RELAY), ==, sid == 0);
			if (r & CARDEA_SIM_RELAY) {
				if (have)
					g_assert_cmpuint(p.seq, ==, (uint16_t)(last_out + 1));
				have = true;
				last_out = p.seq;
				relayed++;
				markers += p.marker;
				g_assert_true(buf[1] & 0x80);
			}
		}
	}
	g_assert_cmpint(relayed, ==, 8);
	g_assert_cmpint(markers, ==, 8);
	g_assert_cmpint(sel.spatial, ==, 0);
	g_assert_cmpint(sel.temporal, ==, 1);
	g_assert_cmpint(sel.n_spatial, ==, 2);
}

static void test_rtp_extension(void) {
	uint8_t buf[160], dd[3] = { 0xC0, 0, 1 };
	size_t n = av1_packet(buf, 1, 1, false, dd, 3);
	cardea_rtp_packet p = { .buffer = buf, .length = (uint16_t)n, .header_len = 28 };
	const uint8_t *data;
	size_t len;
	g_assert_true(cardea_svc_rtp_extension(&p, 3, &data, &len));
	g_assert_cmpuint(len, ==, 3);
	g_assert_true(data == buf + 23);
	g_assert_true(cardea_svc_rtp_extension(&p, 2, &data, &len));
	g_assert_cmpuint(len, ==, 3);
	g_assert_true(data == buf + 18);
	g_assert_false(cardea_svc_rtp_extension(&p, 4, &data, &len));
	/* An extension length past the packet. */
	buf[15] = 40;
	g_assert_false(cardea_svc_rtp_extension(&p, 3, &data, &len));
	/* One-byte form, with a padding byte; id 15 stops the walk. */
	memset(buf, 0, sizeof(buf));
	buf[0] = 0x90;
	buf[12] = 0xBE;
	buf[13] = 0xDE;
	buf[15] = 2;
	buf[16] = 0;            /* padding */
	buf[17] = (5 << 4) | 3; /* id 5, 4 bytes */
	memset(buf + 18, 0x77, 4);
	buf[22] = 0xF0;         /* id 15 */
	p.length = 30;
	p.header_len = 24;
	g_assert_true(cardea_svc_rtp_extension(&p, 5, &data, &len));
	g_assert_cmpuint(len, ==, 4);
	g_assert_true(data == buf + 18);
	g_assert_false(cardea_svc_rtp_extension(&p, 6, &data, &len));
	/* No extension block at all. */
	buf[0] = 0x80;
	g_assert_false(cardea_svc_rtp_extension(&p, 5, &data, &len));
}

/* ---- AV1 L3T3 through the selector ---- */

/* A DD whose structure is LxTy: template (s, t) at index s * y + t; one
 * decode target per (S, T) at index s * y + t. DTIs as libwebrtc's full
 * SVC structures: a template is in the targets at or above its layers; T0
 * templates are switch points for all of them, Tn templates (n > 0) are
 * required / discardable, never switch points. */
static size_t dd_structure_lxty(uint8_t *out, int sp, int tp, int template_index, bool sof, bool eof, uint16_t frame) {
	memset(out, 0, 96);
	bitw w = { out, 0 };
	put(&w, sof, 1);
	put(&w, eof, 1);
	put(&w, (uint32_t)template_index, 6);
	put(&w, frame, 16);
	put(&w, 1, 1);
	put(&w, 0, 4);
	put(&w, 0, 6);              /* template_id_offset */
	put(&w, (uint32_t)(sp * tp - 1), 5);
	for (int s = 0; s < sp; s++)
		for (int t = 0; t < tp; t++)
			put(&w, t < tp - 1 ? 1 : s < sp - 1 ? 2 : 3, 2);
	for (int s = 0; s < sp; s++)
		for (int t = 0; t < tp; t++)
			for (int ds = 0; ds < sp; ds++)
				for (int dt = 0; dt < tp; dt++)
					put(&w, s > ds || t > dt ? 0 : t == 0 ? 2 : t == dt ? 1 : 3, 2);
	for (int k = 0; k < sp * tp; k++) {
		put(&w, 1, 1);
		put(&w, 0, 4);
		put(&w, 0, 1);
	}
	/* chain_cnt = ns(dt_cnt + 1) = 0 */
	int width = 0;
	for (uint32_t x = (uint32_t)(sp * tp + 1); x; x >>= 1)
		width++;
	put(&w, 0, width - 1);
	put(&w, 1, 1);
	for (int s = 0; s < sp; s++) {
		put(&w, (160u << s) - 1, 16);
		put(&w, (120u << s) - 1, 16);
	}
	return (w.pos + 7) / 8;
}

typedef struct av1_stream {
	cardea_svc_selector sel;
	cardea_sim_rewriter rw;
	uint16_t seq, frame, last_out;
	bool have_out;
	int64_t now;
} av1_stream;

/* One L3T3 picture `pic` (temporal pattern T0 T2 T1 T2), spatial layers
 * 0..n_sid-1, one packet each, the marker on the last one sent; the DD
 * carries the structure when `key`. Returns the bits of each packet in
 * r[sid]; relayed[sid] / marker[sid] what went out. */
static void av1_picture(av1_stream *st, int pic, int n_sid, bool key, unsigned *r, bool *relayed, bool *marker) {
	static const int pattern[4] = { 0, 2, 1, 2 };
	int tid = key ? 0 : pattern[pic % 4];
	uint32_t ts = 5000 + 3000u * (uint32_t)pic;
	for (int sid = 0; sid < n_sid; sid++) {
		uint8_t dd[96], buf[256];
		size_t ddlen = 3;
		if (key && sid == 0) {
			ddlen = dd_structure_lxty(dd, 3, 3, 0, true, true, st->frame);
		} else {
			dd[0] = (uint8_t)(0xC0 | (sid * 3 + tid));   /* template id offset 0 */
			dd[1] = (uint8_t)(st->frame >> 8);
			dd[2] = (uint8_t)st->frame;
		}
		st->frame++;
		size_t n = av1_packet(buf, st->seq, ts, sid == n_sid - 1, dd, ddlen);
		cardea_rtp_packet p = { .buffer = buf, .length = (uint16_t)n, .header_len = (uint16_t)(16 + 4 * buf[15]),
			.seq = st->seq++, .timestamp = ts, .marker = sid == n_sid - 1, .video = true, .ssrc = 0x11223344 };
		r[sid] = cardea_svc_forward(&st->sel, &st->rw, CARDEA_VIDEO_CODEC_AV1, &p, st->now);
		relayed[sid] = r[sid] & CARDEA_SIM_RELAY;
		marker[sid] = relayed[sid] && (buf[1] & 0x80);
		if (relayed[sid]) {
			if (st->have_out)
				g_assert_cmpuint(p.seq, ==, (uint16_t)(st->last_out + 1));
			st->have_out = true;
			st->last_out = p.seq;
			/* The DD itself goes on untouched: the receiver's depacketizer reads it. */
			const uint8_t *data;
			size_t len;
			g_assert_true(cardea_svc_rtp_extension(&p, 3, &data, &len));
			g_assert_cmpuint(len, ==, ddlen);
			g_assert_cmpmem(data, len, dd, ddlen);
		}
	}
	st->now += 33333;
}

static void test_av1_l3t3(void) {
	uint8_t dd[96];
	cardea_av1_dd_structure s;
	memset(&s, 0, sizeof(s));
	cardea_av1_dd d;
	size_t n = dd_structure_lxty(dd, 3, 3, 0, true, false, 1);
	g_assert_true(cardea_av1_dd_parse(dd, n, &s, &d));
	g_assert_cmpuint(s.n_templates, ==, 9);
	g_assert_cmpuint(s.n_targets, ==, 9);
	g_assert_cmpuint(s.max_spatial, ==, 2);
	g_assert_cmpuint(s.max_temporal, ==, 2);
	g_assert_cmpuint(s.width[2], ==, 640);

	av1_stream st;
	memset(&st, 0, sizeof(st));
	cardea_svc_selector_init(&st.sel);
	cardea_sim_rewriter_init(&st.rw, 90000);
	st.sel.av1_dd_ext = 3;
	st.seq = 1000;
	st.frame = 1;
	st.now = 1000000;
	unsigned r[3];
	bool rel[3], mk[3];
	int pic = 0;
	/* Everything, the marker only on S2. */
	for (; pic < 4; pic++) {
		av1_picture(&st, pic, 3, pic == 0, r, rel, mk);
		for (int sid = 0; sid < 3; sid++) {
			g_assert_true(rel[sid]);
			g_assert_cmpint(mk[sid], ==, sid == 2);
		}
	}
	g_assert_cmpint(st.sel.spatial, ==, 2);
	g_assert_cmpint(st.sel.temporal, ==, 2);
	g_assert_cmpint(st.sel.n_spatial, ==, 3);
	/* Spatial down: at the next picture, the marker moves to S0. */
	cardea_svc_selector_set_spatial(&st.sel, 0);
	av1_picture(&st, pic++, 3, false, r, rel, mk);
	g_assert_true(r[0] & CARDEA_SVC_SPATIAL_CHANGED);
	g_assert_true(rel[0] && mk[0] && !rel[1] && !rel[2]);
	g_assert_cmpint(st.sel.spatial, ==, 0);
	for (; pic < 8; pic++) {
		av1_picture(&st, pic, 3, false, r, rel, mk);
		g_assert_true(rel[0] && mk[0] && !rel[1] && !rel[2]);
	}
	/* Temporal down to T0: only T0 pictures (every 4th) go out. */
	cardea_svc_selector_set_temporal(&st.sel, 0);
	for (; pic < 12; pic++) {
		av1_picture(&st, pic, 3, false, r, rel, mk);
		g_assert_cmpint(rel[0], ==, pic % 4 == 0);
		g_assert_false(rel[1] || rel[2]);
	}
	g_assert_cmpint(st.sel.temporal, ==, 0);
	/* Temporal up: not at a T2 or T1 frame (no switch indication)... */
	cardea_svc_selector_set_temporal(&st.sel, 2);
	g_assert_cmpint(pic % 4, ==, 0);
	pic++;                                             /* (the T0 picture is lost) */
	for (int k = 0; k < 3; k++, pic++) {
		av1_picture(&st, pic, 3, false, r, rel, mk);
		g_assert_false(rel[0] || rel[1] || rel[2]);
		g_assert_false(r[0] & CARDEA_SIM_TEMPORAL_CHANGED);
	}
	/* ...but at the next T0 one, a switch point of the T1 and T2 decode
	 * targets, without a keyframe; the T2 picture after it goes out. */
	av1_picture(&st, pic++, 3, false, r, rel, mk);     /* T0 */
	g_assert_true(r[0] & CARDEA_SIM_TEMPORAL_CHANGED);
	g_assert_false(r[0] & CARDEA_SIM_NEED_KEYFRAME);
	g_assert_true(rel[0] && mk[0]);
	g_assert_cmpint(st.sel.temporal, ==, 2);
	av1_picture(&st, pic++, 3, false, r, rel, mk);     /* T2 */
	g_assert_true(rel[0] && mk[0] && !rel[1]);
	/* Spatial up waits for a keyframe, asking for one. */
	cardea_svc_selector_set_spatial(&st.sel, 2);
	av1_picture(&st, pic++, 3, false, r, rel, mk);
	g_assert_true(r[0] & CARDEA_SIM_NEED_KEYFRAME);
	g_assert_true(rel[0] && !rel[1] && !rel[2]);
	av1_picture(&st, pic++, 3, false, r, rel, mk);
	g_assert_true(rel[0] && !rel[1] && !rel[2]);
	av1_picture(&st, pic++, 3, true, r, rel, mk);      /* the keyframe */
	g_assert_true(r[0] & CARDEA_SVC_SPATIAL_CHANGED);
	g_assert_true(rel[0] && rel[1] && rel[2] && !mk[0] && !mk[1] && mk[2]);
	g_assert_cmpint(st.sel.spatial, ==, 2);
	/* S2 stops (the sender dropped it): after the fallback time the
	 * receiver is on S1, the marker on S1's packet. */
	int64_t stop = st.now;
	bool fell = false;
	for (int k = 0; k < 15; k++, pic++) {
		av1_picture(&st, pic, 2, false, r, rel, mk);
		if (st.now - stop > CARDEA_SIM_DEFAULT_FALLBACK_US + 33333) {
			g_assert_true(rel[0] && rel[1] && mk[1] && !mk[0]);
			fell = true;
		}
	}
	g_assert_true(fell);
	g_assert_cmpint(st.sel.spatial, ==, 1);
	/* S2 is back: up again at the next keyframe. */
	av1_picture(&st, pic++, 3, false, r, rel, mk);
	g_assert_false(rel[2]);
	g_assert_cmpint(st.sel.spatial, ==, 1);
	av1_picture(&st, pic++, 3, true, r, rel, mk);
	g_assert_true(rel[0] && rel[1] && rel[2] && mk[2]);
	g_assert_cmpint(st.sel.spatial, ==, 2);
	/* Without the DD id the AV1 packets cannot be read: nothing goes out. */
	st.sel.av1_dd_ext = 0;
	av1_picture(&st, pic++, 3, false, r, rel, mk);
	g_assert_false(rel[0] || rel[1] || rel[2]);
}

/* ---- extension id swap ---- */

static void test_rtp_extension_swap(void) {
	uint8_t buf[160], orig[160], dd[3] = { 0xC0, 0, 1 };
	size_t n = av1_packet(buf, 1, 1, false, dd, 3);   /* two-byte: id 2 (3 bytes), id 3 (DD) */
	cardea_rtp_packet p = { .buffer = buf, .length = (uint16_t)n, .header_len = 28 };
	const uint8_t *data;
	size_t len;
	memcpy(orig, buf, n);
	g_assert_true(cardea_svc_rtp_extension_swap(&p, 3, 7));
	g_assert_true(cardea_svc_rtp_extension(&p, 7, &data, &len));
	g_assert_true(data == buf + 23 && len == 3);
	g_assert_false(cardea_svc_rtp_extension(&p, 3, &data, &len));
	/* A conflicting element moves out of the way: the DD to 2, and what was
	 * 2 (abs-send-time here) to 7, which the receiver did not negotiate. */
	g_assert_true(cardea_svc_rtp_extension_swap(&p, 7, 2));
	g_assert_true(cardea_svc_rtp_extension(&p, 2, &data, &len));
	g_assert_true(data == buf + 23);
	g_assert_true(cardea_svc_rtp_extension(&p, 7, &data, &len));
	g_assert_true(data == buf + 18);
	g_assert_true(cardea_svc_rtp_extension_swap(&p, 2, 7));
	g_assert_true(cardea_svc_rtp_extension_swap(&p, 7, 3));
	g_assert_cmpmem(buf, n, orig, n);
	g_assert_true(cardea_svc_rtp_extension_swap(&p, 4, 4));
	/* Two-byte ids above 14 are fine there... */
	g_assert_true(cardea_svc_rtp_extension_swap(&p, 3, 200));
	g_assert_true(cardea_svc_rtp_extension(&p, 200, &data, &len));
	g_assert_true(cardea_svc_rtp_extension_swap(&p, 3, 200));
	g_assert_cmpmem(buf, n, orig, n);
	/* ...a malformed block is left as it came. */
	buf[15] = 40;
	memcpy(orig, buf, n);
	g_assert_false(cardea_svc_rtp_extension_swap(&p, 3, 5));
	g_assert_cmpmem(buf, n, orig, n);
	/* One-byte form: ids 5 and 9; 15 and up cannot be written there; an
	 * element whose length runs past the block changes nothing. */
	memset(buf, 0, sizeof(buf));
	buf[0] = 0x90;
	buf[12] = 0xBE;
	buf[13] = 0xDE;
	buf[15] = 3;
	buf[16] = (5 << 4) | 1;     /* id 5, 2 bytes */
	buf[17] = 0xAA;
	buf[18] = 0xBB;
	buf[19] = 0;                /* padding */
	buf[20] = (9 << 4) | 0;     /* id 9, 1 byte */
	buf[21] = 0xCC;
	p.length = 32;
	p.header_len = 28;
	g_assert_true(cardea_svc_rtp_extension_swap(&p, 5, 9));
	g_assert_true(cardea_svc_rtp_extension(&p, 9, &data, &len));
	g_assert_true(data == buf + 17 && len == 2);
	g_assert_true(cardea_svc_rtp_extension(&p, 5, &data, &len));
	g_assert_true(data == buf + 21 && len == 1);
	memcpy(orig, buf, 32);
	g_assert_false(cardea_svc_rtp_extension_swap(&p, 5, 15));
	g_assert_cmpmem(buf, 32, orig, 32);
	buf[20] = (9 << 4) | 15;    /* 16 bytes: past the block */
	memcpy(orig, buf, 32);
	g_assert_false(cardea_svc_rtp_extension_swap(&p, 5, 9));
	g_assert_cmpmem(buf, 32, orig, 32);
	/* No extension block. */
	buf[0] = 0x80;
	g_assert_false(cardea_svc_rtp_extension_swap(&p, 5, 9));
}

/* ---- simulcast of encrypted payloads ---- */

/* A VP8 simulcast packet of substream `sub` (SSRC 0x5000 + sub): the VP8
 * descriptor (15-bit picture id, TL0PICIDX, TID 0), then "ciphertext"
 * whose first byte reads as a VP8 keyframe header (P = 0) on every packet:
 * a payload parser would take each for a keyframe. With `dd_ext` the
 * two-byte extension block carries a DD (a structure on keyframes). */
static size_t e2ee_packet(uint8_t *buf, int sub, uint16_t seq, uint32_t ts, uint16_t picid, int dd_ext, bool key,
		uint16_t frame) {
	memset(buf, 0, 256);
	rtp_header(buf, dd_ext > 0, true, 96, seq, ts);
	buf[8] = buf[9] = 0;        /* SSRC 0x5000 + sub */
	buf[10] = 0x50;
	buf[11] = (uint8_t)sub;
	size_t off = 12;
	if (dd_ext > 0) {
		uint8_t dd[96];
		size_t ddlen = key ? dd_structure_lxty(dd, 1, 1, 0, true, true, frame) : 3;
		if (!key) {
			dd[0] = 0xC0;
			dd[1] = (uint8_t)(frame >> 8);
			dd[2] = (uint8_t)frame;
		}
		size_t words = (2 + ddlen + 3) / 4;
		buf[12] = 0x10;
		buf[15] = (uint8_t)words;
		buf[16] = (uint8_t)dd_ext;
		buf[17] = (uint8_t)ddlen;
		memcpy(buf + 18, dd, ddlen);
		off = 16 + 4 * words;
	}
	static const uint8_t desc[] = { 0x90, 0xE0 };
	memcpy(buf + off, desc, 2);
	buf[off + 2] = (uint8_t)(0x80 | (picid >> 8));
	buf[off + 3] = (uint8_t)picid;
	buf[off + 4] = (uint8_t)picid;     /* TL0PICIDX */
	buf[off + 5] = 0x20;               /* TID 0, Y */
	off += 6;
	static const uint8_t cipher[] = { 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, 0x55, 0x66 };
	memcpy(buf + off, cipher, sizeof(cipher));
	return off + sizeof(cipher);
}

typedef struct e2ee_run {
	cardea_sim_e2ee e;
	cardea_sim_selector sel;
	cardea_sim_rewriter rw;
	uint16_t seq[3], picid[3], frame;
	int64_t now;
} e2ee_run;

/* Picture `pic` on all three substreams (keyframes on the ones in
 * `key_mask`); r[sub] gets each packet's bits. */
static void e2ee_picture(e2ee_run *x, int pic, int dd_ext, unsigned key_mask, unsigned *r) {
	for (int sub = 0; sub < 3; sub++) {
		uint8_t buf[256];
		uint32_t ts = 9000 + 3000u * (uint32_t)pic;
		size_t n = e2ee_packet(buf, sub, x->seq[sub], ts, x->picid[sub]++, dd_ext, key_mask & (1u << sub), x->frame++);
		uint16_t header_len = (uint16_t)(dd_ext > 0 ? 16 + 4 * buf[15] : 12);
		cardea_rtp_packet p = { .buffer = buf, .length = (uint16_t)n, .header_len = header_len,
			.seq = x->seq[sub]++, .timestamp = ts, .ssrc = 0x5000u + (uint32_t)sub, .video = true, .substream = sub };
		r[sub] = cardea_sim_e2ee_forward(&x->e, &x->sel, &x->rw, CARDEA_VIDEO_CODEC_VP8, &p, x->now);
	}
	x->now += 33333;
}

static void e2ee_init(e2ee_run *x, int dd_ext) {
	memset(x, 0, sizeof(*x));
	cardea_sim_e2ee_init(&x->e, dd_ext);
	cardea_sim_selector_init(&x->sel, 3);
	cardea_sim_rewriter_init(&x->rw, 90000);
	x->seq[0] = 100;
	x->seq[1] = 2000;
	x->seq[2] = 30000;
	x->frame = 1;
	x->now = 1000000;
}

static void test_e2ee_dd(void) {
	e2ee_run x;
	e2ee_init(&x, 3);
	unsigned r[3];
	int pic = 0;
	/* The ciphertext "keyframes" are not taken: nothing until a DD keyframe. */
	e2ee_picture(&x, pic++, 3, 0, r);
	g_assert_false((r[0] | r[1] | r[2]) & CARDEA_SIM_RELAY);
	g_assert_true(r[0] & CARDEA_SIM_NEED_KEYFRAME);
	g_assert_cmpint(x.sel.substream, ==, -1);
	e2ee_picture(&x, pic++, 3, 0x7, r);
	g_assert_true(r[2] & CARDEA_SIM_SUBSTREAM_CHANGED);
	g_assert_true(r[2] & CARDEA_SIM_RELAY);
	g_assert_false(r[2] & CARDEA_SIM_NEED_KEYFRAME);
	g_assert_false((r[0] | r[1]) & CARDEA_SIM_RELAY);
	g_assert_cmpint(x.sel.substream, ==, 2);
	/* Down to 0: waits for substream 0's DD keyframe, 2 goes on meanwhile. */
	cardea_sim_selector_set_substream(&x.sel, 0);
	x.now += CARDEA_SIM_KEYFRAME_RETRY_US;
	e2ee_picture(&x, pic++, 3, 0, r);
	g_assert_true(r[0] & CARDEA_SIM_NEED_KEYFRAME);
	g_assert_false(r[0] & CARDEA_SIM_RELAY);
	g_assert_true(r[2] & CARDEA_SIM_RELAY);
	for (int k = 0; k < 3; k++) {
		e2ee_picture(&x, pic++, 3, 0x6, r);   /* keyframes on 1 and 2 only */
		g_assert_false(r[0] & CARDEA_SIM_RELAY);
		g_assert_true(r[2] & CARDEA_SIM_RELAY);
	}
	e2ee_picture(&x, pic++, 3, 0x1, r);
	g_assert_true(r[0] & CARDEA_SIM_SUBSTREAM_CHANGED);
	g_assert_true(r[0] & CARDEA_SIM_RELAY);
	g_assert_false(r[2] & CARDEA_SIM_RELAY);
	g_assert_cmpint(x.sel.substream, ==, 0);
	/* The temporal layer comes from the clear VP8 descriptor. */
	g_assert_cmpint(x.sel.temporal, ==, 2);
}

static void test_e2ee_fallback(void) {
	e2ee_run x;
	e2ee_init(&x, 0);
	unsigned r[3];
	int pic = 0;
	/* No DD: the first picture of the substream aimed at, and a keyframe
	 * request right away. */
	e2ee_picture(&x, pic++, 0, 0, r);
	g_assert_true(r[2] & CARDEA_SIM_SUBSTREAM_CHANGED);
	g_assert_true(r[2] & CARDEA_SIM_NEED_KEYFRAME);
	g_assert_true(r[2] & CARDEA_SIM_RELAY);
	g_assert_false((r[0] | r[1]) & CARDEA_SIM_RELAY);
	/* Later pictures of the same substream are no switch points. */
	for (int k = 0; k < 3; k++) {
		e2ee_picture(&x, pic++, 0, 0, r);
		g_assert_true(r[2] & CARDEA_SIM_RELAY);
		g_assert_false(r[2] & (CARDEA_SIM_SUBSTREAM_CHANGED | CARDEA_SIM_NEED_KEYFRAME));
	}
	cardea_sim_selector_set_substream(&x.sel, 1);
	e2ee_picture(&x, pic++, 0, 0, r);
	g_assert_true(r[1] & CARDEA_SIM_SUBSTREAM_CHANGED);
	g_assert_true(r[1] & CARDEA_SIM_NEED_KEYFRAME);
	g_assert_true(r[1] & CARDEA_SIM_RELAY);
	g_assert_false(r[2] & CARDEA_SIM_RELAY);
	g_assert_cmpint(x.sel.substream, ==, 1);
	/* A second packet of the same picture is no picture start. */
	cardea_video_frame_info fi;
	uint8_t buf[256];
	size_t n = e2ee_packet(buf, 0, 7, 9000 + 3000u * (uint32_t)(pic - 1), 1, 0, false, 1);
	cardea_rtp_packet p = { .buffer = buf, .length = (uint16_t)n, .header_len = 12,
		.timestamp = 9000 + 3000u * (uint32_t)(pic - 1), .substream = 0 };
	g_assert_true(cardea_sim_e2ee_frame_info(&x.e, CARDEA_VIDEO_CODEC_VP8, &p, true, &fi, NULL));
	g_assert_false(fi.frame_start || fi.keyframe);
	g_assert_cmpint(fi.temporal, ==, 0);
	g_assert_true(fi.layer_sync);
	g_assert_cmpint(fi.width, ==, 0);
	/* Padding only: nothing to say. */
	p.length = 12;
	g_assert_false(cardea_sim_e2ee_frame_info(&x.e, CARDEA_VIDEO_CODEC_VP8, &p, true, &fi, NULL));
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/svc/vp9/descriptor", test_vp9_descriptor);
	g_test_add_func("/svc/vp9/all-layers", test_vp9_all_layers);
	g_test_add_func("/svc/vp9/spatial0", test_vp9_spatial0);
	g_test_add_func("/svc/vp9/spatial1-temporal0", test_vp9_spatial1_temporal0);
	g_test_add_func("/svc/vp9/spatial-switch-timing", test_vp9_spatial_switch_timing);
	g_test_add_func("/svc/vp9/temporal-switch", test_vp9_temporal_switch);
	g_test_add_func("/svc/vp9/fallback", test_vp9_fallback);
	g_test_add_func("/svc/vp9/padding-garbage", test_vp9_padding_and_garbage);
	g_test_add_func("/svc/vp9/rebase-mid-picture", test_vp9_rebase_mid_picture);
	g_test_add_func("/svc/vp9/new-sender", test_vp9_new_sender);
	g_test_add_func("/svc/av1/dependency-descriptor", test_av1_dd);
	g_test_add_func("/svc/av1/selector", test_av1_selector);
	g_test_add_func("/svc/rtp-extension", test_rtp_extension);
	g_test_add_func("/svc/av1/l3t3", test_av1_l3t3);
	g_test_add_func("/svc/rtp-extension-swap", test_rtp_extension_swap);
	g_test_add_func("/svc/e2ee/dependency-descriptor", test_e2ee_dd);
	g_test_add_func("/svc/e2ee/fallback", test_e2ee_fallback);
	return g_test_run();
}
