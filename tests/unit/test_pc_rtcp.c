/* Unit tests for the pure parts of core/webrtc/pc-rtcp.c: what an answer
 * negotiates (rtcp-fb per payload and a=rtcp-fb:*, rtx/apt, transport-cc and
 * abs-send-time ids), the RTX SSRC and FID group added for what we send, and
 * which RTX seqs count as repairs. The packet path needs a live
 * PeerConnection and is covered by tests/integration/test_echotest.py. */
#include <string.h>

#include <glib.h>

#include "webrtc/pc-priv.h"

#define SDP_HEAD "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

/* The video section as the echotest answers a browser. */
static const char *video_answer =
	SDP_HEAD
	"m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"a=mid:1\r\n"
	"a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
	"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
	"a=sendrecv\r\n"
	"a=rtcp-mux\r\n"
	"a=rtpmap:96 VP8/90000\r\n"
	"a=rtcp-fb:96 nack\r\n"
	"a=rtcp-fb:96 nack pli\r\n"
	"a=rtcp-fb:96 goog-remb\r\n"
	"a=rtcp-fb:96 transport-cc\r\n"
	"a=rtpmap:97 rtx/90000\r\n"
	"a=fmtp:97 apt=96\r\n"
	"a=ssrc:1111 cname:janus\r\n";

static cardea_sdp *parse(const char *text) {
	GError *err = NULL;
	cardea_sdp *sdp = cardea_sdp_parse(text, strlen(text), NULL, &err);
	g_assert_no_error(err);
	g_assert_nonnull(sdp);
	return sdp;
}

static void test_answer_video(void) {
	cardea_sdp *sdp = parse(video_answer);
	cardea_sdp_mline *m = sdp->mlines[0];
	pc_media lm = { .send = TRUE, .local_ssrc = 1111 };
	cardea_pc_rtcp_answer_mline(sdp, m, &lm, 2222);
	const pc_rtcp_media *f = &lm.fb;
	g_assert_true(f->nack && f->pli && f->remb && f->twcc);
	g_assert_false(f->fir);
	g_assert_cmpuint(f->n_rtx, ==, 1);
	g_assert_cmpuint(f->rtx_pt[0], ==, 97);
	g_assert_cmpuint(f->rtx_apt[0], ==, 96);
	g_assert_cmpuint(f->twcc_ext_id, ==, 3);
	g_assert_cmpuint(f->abs_send_time_ext_id, ==, 2);
	g_assert_cmpuint(f->local_rtx_ssrc, ==, 2222);
	char *text = cardea_sdp_write(sdp);
	g_assert_nonnull(strstr(text, "a=ssrc-group:FID 1111 2222\r\n"));
	g_assert_nonnull(strstr(text, "a=ssrc:2222 cname:janus\r\n"));
	g_free(text);
	/* Answering again (renegotiation) does not add a second group. */
	pc_media again = { .send = TRUE, .local_ssrc = 1111 };
	cardea_pc_rtcp_answer_mline(sdp, m, &again, 2222);
	g_assert_cmpuint(m->n_ssrc_groups, ==, 1);
	g_assert_cmpuint(again.fb.local_rtx_ssrc, ==, 0);
	cardea_sdp_free(sdp);
}

/* Only receiving: the flags are read, no RTX SSRC is announced. */
static void test_answer_recvonly(void) {
	cardea_sdp *sdp = parse(video_answer);
	pc_media lm = { .send = FALSE, .local_ssrc = 1111 };
	cardea_pc_rtcp_answer_mline(sdp, sdp->mlines[0], &lm, 2222);
	g_assert_true(lm.fb.nack);
	g_assert_cmpuint(lm.fb.n_rtx, ==, 1);
	g_assert_cmpuint(lm.fb.local_rtx_ssrc, ==, 0);
	g_assert_cmpuint(sdp->mlines[0]->n_ssrc_groups, ==, 0);
	cardea_sdp_free(sdp);
}

/* rtcp-fb:* applies to every payload; transport-cc feedback without the
 * extension means nothing; an rtx without a usable apt is ignored; no rtx
 * means no FID even when we send. */
static void test_answer_wildcard_and_gaps(void) {
	cardea_sdp *sdp = parse(SDP_HEAD
		"m=video 9 UDP/TLS/RTP/SAVPF 100 101\r\n"
		"c=IN IP4 0.0.0.0\r\n"
		"a=mid:v\r\n"
		"a=rtcp-fb:* nack\r\n"
		"a=rtcp-fb:* ccm fir\r\n"
		"a=rtcp-fb:100 transport-cc\r\n"
		"a=rtpmap:100 H264/90000\r\n"
		"a=fmtp:100 packetization-mode=1\r\n"
		"a=rtpmap:101 rtx/90000\r\n"
		"a=ssrc:5 cname:janus\r\n");
	pc_media lm = { .send = TRUE, .local_ssrc = 5 };
	cardea_pc_rtcp_answer_mline(sdp, sdp->mlines[0], &lm, 6);
	g_assert_true(lm.fb.nack && lm.fb.fir);
	g_assert_false(lm.fb.pli || lm.fb.remb || lm.fb.twcc);
	g_assert_cmpuint(lm.fb.twcc_ext_id, ==, 0);
	g_assert_cmpuint(lm.fb.n_rtx, ==, 0);
	g_assert_cmpuint(lm.fb.local_rtx_ssrc, ==, 0);
	g_assert_cmpuint(sdp->mlines[0]->n_ssrc_groups, ==, 0);
	cardea_sdp_free(sdp);
}

/* Audio as browsers answer it: transport-cc only. */
static void test_answer_audio(void) {
	cardea_sdp *sdp = parse(SDP_HEAD
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
		"c=IN IP4 0.0.0.0\r\n"
		"a=mid:0\r\n"
		"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
		"a=rtpmap:111 opus/48000/2\r\n"
		"a=rtcp-fb:111 transport-cc\r\n"
		"a=ssrc:7 cname:janus\r\n");
	pc_media lm = { .send = TRUE, .local_ssrc = 7 };
	cardea_pc_rtcp_answer_mline(sdp, sdp->mlines[0], &lm, 8);
	g_assert_true(lm.fb.twcc);
	g_assert_false(lm.fb.nack || lm.fb.pli || lm.fb.fir || lm.fb.remb);
	g_assert_cmpuint(lm.fb.twcc_ext_id, ==, 3);
	g_assert_cmpuint(lm.fb.local_rtx_ssrc, ==, 0);
	cardea_sdp_free(sdp);
}

static void test_tracker_wants(void) {
	cardea_nack_tracker t;
	cardea_nack_tracker_init(&t, NULL);
	/* Nothing seen yet: anything may be wanted. */
	g_assert_true(cardea_pc_rtcp_tracker_wants(&t, 7));
	cardea_nack_tracker_received(&t, 65533, 0);
	cardea_nack_tracker_received(&t, 65534, 0);
	/* 65535 and 0 lost across the wrap, 1 arrived. */
	g_assert_cmpint(cardea_nack_tracker_received(&t, 1, 0), ==, CARDEA_NACK_GAP);
	g_assert_true(cardea_pc_rtcp_tracker_wants(&t, 65535));
	g_assert_true(cardea_pc_rtcp_tracker_wants(&t, 0));
	g_assert_false(cardea_pc_rtcp_tracker_wants(&t, 1));      /* have it */
	g_assert_false(cardea_pc_rtcp_tracker_wants(&t, 65534)); /* have it */
	g_assert_false(cardea_pc_rtcp_tracker_wants(&t, 60000)); /* older than anything tracked */
	g_assert_true(cardea_pc_rtcp_tracker_wants(&t, 2));      /* not yet seen */
	/* The query changed nothing: the repair still counts as one. */
	g_assert_cmpint(cardea_nack_tracker_received(&t, 0, 0), ==, CARDEA_NACK_RECOVERED);
	g_assert_false(cardea_pc_rtcp_tracker_wants(&t, 0));
	g_assert_true(cardea_pc_rtcp_tracker_wants(&t, 65535));
	g_assert_cmpuint(t.count, ==, 1);
}


/* The per-PC RTCP tick runs on a grid timer: timers of one period created at
 * different moments fire in the same main-context iteration, on multiples of
 * the period, so N PeerConnections wake their loop once per period, not N
 * times. */
typedef struct {
	guint fired;
	guint iteration;       /* the iteration of the last firing */
	gint64 slot;           /* the period (monotonic time / period) it last fired in */
	gboolean once;         /* return G_SOURCE_REMOVE */
} grid_probe;

#define GRID_PERIOD_MS 20

static guint grid_iteration;

static gboolean grid_fired(gpointer data) {
	grid_probe *p = data;
	gint64 slot = g_get_monotonic_time() / (GRID_PERIOD_MS * 1000);
	/* Once per period at most: the next ready time is the next grid point. */
	g_assert_cmpint(slot, >, p->slot);
	p->slot = slot;
	p->fired++;
	p->iteration = grid_iteration;
	return p->once ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static void test_tick_grid(void) {
	const guint period_ms = GRID_PERIOD_MS;
	GMainContext *ctx = g_main_context_new();
	grid_probe a = { 0 }, b = { 0 }, c = { .once = TRUE };
	GSource *tc = cardea_loop_grid_timer_new(period_ms);
	g_source_set_callback(tc, grid_fired, &c, NULL);
	g_source_attach(tc, ctx);
	GSource *ta = cardea_loop_grid_timer_new(period_ms);
	g_source_set_callback(ta, grid_fired, &a, NULL);
	g_source_attach(ta, ctx);
	g_usleep(7 * 1000);   /* another phase, as PCs created at other times */
	GSource *tb = cardea_loop_grid_timer_new(period_ms);
	g_source_set_callback(tb, grid_fired, &b, NULL);
	g_source_attach(tb, ctx);
	/* After the first period (the second timer may start one grid point
	 * later), every iteration that fires one fires both. */
	guint together = 0;
	while (a.fired < 6 || b.fired < 6) {
		gboolean both_started = a.fired > 0 && b.fired > 0;
		guint before = a.fired + b.fired;
		grid_iteration++;
		g_main_context_iteration(ctx, TRUE);
		if (both_started && a.fired + b.fired > before) {
			g_assert_cmpuint(a.iteration, ==, grid_iteration);
			g_assert_cmpuint(b.iteration, ==, grid_iteration);
			g_assert_cmpint(a.slot, ==, b.slot);
			together++;
		}
	}
	g_assert_cmpuint(together, >=, 4);
	/* A callback returning G_SOURCE_REMOVE ends the timer like any source. */
	g_assert_cmpuint(c.fired, ==, 1);
	g_assert_true(g_source_is_destroyed(tc));
	g_source_unref(tc);
	g_source_destroy(ta);
	g_source_unref(ta);
	g_source_destroy(tb);
	g_source_unref(tb);
	g_main_context_unref(ctx);
}

/* Shared ticks (loop.h): every PC's report and feedback ticks of one period
 * run from one timer source per context; removal from a callback, of the
 * tick itself or of another, takes effect at once; the source goes with
 * the last tick. */
typedef struct shared_probe {
	guint fired;
	guint iteration;
	gint64 slot;
	gboolean once;                      /* return G_SOURCE_REMOVE */
	cardea_loop_tick *self;             /* removes itself after firing twice */
	cardea_loop_tick **victim;          /* removes this one when it fires */
} shared_probe;

static gboolean shared_fired(gpointer data) {
	shared_probe *p = data;
	gint64 slot = g_get_monotonic_time() / (GRID_PERIOD_MS * 1000);
	g_assert_cmpint(slot, >, p->slot);
	p->slot = slot;
	p->fired++;
	p->iteration = grid_iteration;
	if (p->victim && *p->victim) {
		cardea_loop_tick_remove(*p->victim);
		*p->victim = NULL;
	}
	if (p->self && p->fired == 2)
		cardea_loop_tick_remove(p->self);
	return p->once ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static void test_tick_shared(void) {
	GMainContext *ctx = g_main_context_new();
	g_assert_true(g_main_context_acquire(ctx));
	g_assert_cmpuint(cardea_loop_tick_sources(), ==, 0);
	shared_probe a = { 0 }, b = { 0 }, once = { .once = TRUE }, selfish = { 0 }, killer = { 0 }, victim = { 0 },
		other = { 0 };
	cardea_loop_tick *ta = cardea_loop_tick_add(ctx, GRID_PERIOD_MS, shared_fired, &a);
	cardea_loop_tick_add(ctx, GRID_PERIOD_MS, shared_fired, &once);
	/* The killer comes before its victim in the list, the victim is
	 * removed in the same round before it runs. */
	cardea_loop_tick *tv = NULL;
	killer.victim = &tv;
	cardea_loop_tick_add(ctx, GRID_PERIOD_MS, shared_fired, &killer);
	tv = cardea_loop_tick_add(ctx, GRID_PERIOD_MS, shared_fired, &victim);
	selfish.self = cardea_loop_tick_add(ctx, GRID_PERIOD_MS, shared_fired, &selfish);
	g_usleep(7 * 1000);   /* another phase, as PCs created at other times */
	cardea_loop_tick *tb = cardea_loop_tick_add(ctx, GRID_PERIOD_MS, shared_fired, &b);
	/* One source for the period, another for another period. */
	g_assert_cmpuint(cardea_loop_tick_sources(), ==, 1);
	cardea_loop_tick *to = cardea_loop_tick_add(ctx, GRID_PERIOD_MS * 3, shared_fired, &other);
	g_assert_cmpuint(cardea_loop_tick_sources(), ==, 2);
	guint together = 0;
	while (a.fired < 6) {
		guint before = a.fired + b.fired;
		grid_iteration++;
		g_main_context_iteration(ctx, TRUE);
		if (a.fired + b.fired > before) {
			/* Ticks of one period fire in one iteration, whenever added. */
			g_assert_cmpuint(a.iteration, ==, grid_iteration);
			g_assert_cmpuint(b.iteration, ==, grid_iteration);
			g_assert_cmpint(a.slot, ==, b.slot);
			together++;
		}
	}
	g_assert_cmpuint(together, ==, 6);
	g_assert_cmpuint(b.fired, ==, 6);
	g_assert_cmpuint(once.fired, ==, 1);
	g_assert_cmpuint(killer.fired, ==, 6);
	g_assert_cmpuint(victim.fired, ==, 0);
	g_assert_null(tv);
	g_assert_cmpuint(selfish.fired, ==, 2);
	/* 6 periods of 20 ms are 2 of 60 ms, give or take one. */
	g_assert_cmpuint(other.fired, >=, 1);
	g_assert_cmpuint(other.fired, <=, 3);
	/* Removing the last tick of a period takes its source away. */
	cardea_loop_tick_remove(to);
	g_assert_cmpuint(cardea_loop_tick_sources(), ==, 1);
	cardea_loop_tick_remove(ta);
	g_assert_cmpuint(cardea_loop_tick_sources(), ==, 1);
	/* The killer is left: a round removes nothing else. */
	cardea_loop_tick_remove(tb);
	guint killer_before = killer.fired;
	while (killer.fired == killer_before)
		g_main_context_iteration(ctx, TRUE);
	g_assert_cmpuint(a.fired, ==, 6);
	g_assert_cmpuint(b.fired, ==, 6);
	/* A tick whose callback says G_SOURCE_REMOVE as the group's last one:
	 * the group's source goes at the end of that round. */
	killer.once = TRUE;
	killer_before = killer.fired;
	while (killer.fired == killer_before)
		g_main_context_iteration(ctx, TRUE);
	g_assert_cmpuint(cardea_loop_tick_sources(), ==, 0);
	while (g_main_context_iteration(ctx, FALSE))
		;
	g_main_context_release(ctx);
	g_main_context_unref(ctx);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/pc-rtcp/answer/video", test_answer_video);
	g_test_add_func("/pc-rtcp/answer/recvonly", test_answer_recvonly);
	g_test_add_func("/pc-rtcp/answer/wildcard-and-gaps", test_answer_wildcard_and_gaps);
	g_test_add_func("/pc-rtcp/answer/audio", test_answer_audio);
	g_test_add_func("/pc-rtcp/tracker-wants", test_tracker_wants);
	g_test_add_func("/pc-rtcp/tick-grid", test_tick_grid);
	g_test_add_func("/pc-rtcp/tick-shared", test_tick_shared);
	return g_test_run();
}
