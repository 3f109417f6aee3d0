/* Unit tests for core/webrtc/sdp*: parser, validator, writer, candidate
 * codec matching and PT remapping (candidate helpers: test_sdp_candidate.c).
 *
 * Fixtures are the real captures in tests/fixtures/sdp/ (found through
 * G_TEST_SRCDIR, i.e. $(srcdir)/tests/unit/../fixtures/sdp).
 *
 * Round trip: the writer is deterministic and emits every field of the
 * model, so "write(a) == write(b)" is model equality. Each fixture must
 * satisfy write(parse(write(parse(x)))) == write(parse(x)), and write(parse(x))
 * must hold exactly the input's lines, section by section (order aside), which
 * shows nothing was dropped on the way.
 */
#include <string.h>

#include "webrtc/sdp.h"

static const char *const fixtures[] = {
	"aiortc-offer-audio-video.sdp",
	"chromium-offer-audio-video-datachannel.sdp",
	"chromium-offer-audio-video-gathered.sdp",
	"chromium-offer-audio-video.sdp",
	"chromium-offer-simulcast-video.sdp",
	"chromium-videoroom-subscriber-answer.sdp",
	"janus-answer-aiortc.sdp",
	"janus-answer-audio-video-datachannel.sdp",
	"janus-answer-audio-video.sdp",
	"janus-answer-simulcast-video.sdp",
	"janus-videoroom-subscriber-offer.sdp",
};

static const cardea_sdp_limits unlimited = { G_MAXSIZE, G_MAXUINT, G_MAXUINT, G_MAXUINT };

/* A minimal valid WebRTC offer that the broken-input cases edit one line of. */
static const char base_sdp[] =
	"v=0\r\n"
	"o=- 1 2 IN IP4 127.0.0.1\r\n"
	"s=-\r\n"
	"t=0 0\r\n"
	"a=group:BUNDLE 0\r\n"
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 96\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"a=mid:0\r\n"
	"a=ice-ufrag:abcd\r\n"
	"a=ice-pwd:abcdefghijklmnopqrstuv\r\n"
	"a=fingerprint:sha-256 00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:"
		"10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F\r\n"
	"a=setup:actpass\r\n"
	"a=rtcp-mux\r\n"
	"a=rtpmap:111 opus/48000/2\r\n"
	"a=rtpmap:96 rtx/48000\r\n";

/* ---- Helpers ---- */

static char *load_fixture(const char *name, gsize *len) {
	char *path = g_test_build_filename(G_TEST_DIST, "..", "fixtures", "sdp", name, NULL);
	char *text = NULL;
	GError *err = NULL;
	if (!g_file_get_contents(path, &text, len, &err))
		g_error("cannot read fixture %s: %s", path, err->message);
	g_free(path);
	return text;
}

static cardea_sdp *parse_text(const char *text, gssize len) {
	GError *err = NULL;
	cardea_sdp *s = cardea_sdp_parse(text, len < 0 ? strlen(text) : (gsize)len, NULL, &err);
	g_assert_no_error(err);
	g_assert_nonnull(s);
	return s;
}

static cardea_sdp *parse_fixture(const char *name) {
	gsize len;
	char *text = load_fixture(name, &len);
	cardea_sdp *s = parse_text(text, (gssize)len);
	g_free(text);
	return s;
}

static void validate_ok(const cardea_sdp *s) {
	GError *err = NULL;
	g_assert_true(cardea_sdp_validate_webrtc(s, &err));
	g_assert_no_error(err);
}

/* The text with `find`'s line (matched by prefix, first one) replaced by
 * `with` (NULL deletes it), or `with` appended when `find` is NULL. */
static char *edit_sdp(const char *sdp, const char *find, const char *with) {
	GString *out = g_string_new(NULL);
	char **lines = g_strsplit(sdp, "\r\n", -1);
	gboolean done = FALSE;
	guint i;
	for (i = 0; lines[i] != NULL; i++) {
		if (lines[i][0] == '\0')
			continue;
		if (!done && find != NULL && g_str_has_prefix(lines[i], find)) {
			done = TRUE;
			if (with != NULL)
				g_string_append_printf(out, "%s\r\n", with);
			continue;
		}
		g_string_append_printf(out, "%s\r\n", lines[i]);
	}
	if (find == NULL)
		g_string_append_printf(out, "%s\r\n", with);
	else if (!done)
		g_error("edit_sdp: no line starts with '%s'", find);
	g_strfreev(lines);
	return g_string_free(out, FALSE);
}

static void expect_parse_error(const char *text, gsize len, const cardea_sdp_limits *lim, gint code, const char *msg) {
	GError *err = NULL;
	cardea_sdp *s = cardea_sdp_parse(text, len, lim, &err);
	if (s != NULL) {
		char *w = cardea_sdp_write(s);
		g_test_message("unexpectedly parsed (wanted '%s'):\n%s", msg, w);
		g_free(w);
		cardea_sdp_free(s);
	}
	g_assert_null(s);
	g_assert_nonnull(err);
	if (msg != NULL && strstr(err->message, msg) == NULL)
		g_test_message("error '%s' does not contain '%s'", err->message, msg);
	g_assert_error(err, CARDEA_SDP_ERROR, code);
	g_assert_nonnull(strstr(err->message, msg));
	g_error_free(err);
}

static void expect_edit_error(const char *find, const char *with, gint code, const char *msg) {
	char *text = edit_sdp(base_sdp, find, with);
	expect_parse_error(text, strlen(text), NULL, code, msg);
	g_free(text);
}

static void expect_invalid(const char *text, const char *msg) {
	GError *err = NULL;
	cardea_sdp *s = parse_text(text, -1);
	g_assert_false(cardea_sdp_validate_webrtc(s, &err));
	if (strstr(err->message, msg) == NULL)
		g_test_message("error '%s' does not contain '%s'", err->message, msg);
	g_assert_error(err, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_INVALID);
	g_assert_nonnull(strstr(err->message, msg));
	g_error_free(err);
	cardea_sdp_free(s);
}

static void expect_edit_invalid(const char *find, const char *with, const char *msg) {
	char *text = edit_sdp(base_sdp, find, with);
	expect_invalid(text, msg);
	g_free(text);
}

/* parse(write(s)) must succeed and write back identically. Returns the text. */
static char *check_roundtrip(const cardea_sdp *s) {
	GError *err = NULL;
	char *w1 = cardea_sdp_write(s), *w2;
	cardea_sdp *s2 = cardea_sdp_parse(w1, strlen(w1), &unlimited, &err);
	if (s2 == NULL)
		g_test_message("reparse failed (%s) for:\n%s", err->message, w1);
	g_assert_no_error(err);
	w2 = cardea_sdp_write(s2);
	g_assert_cmpstr(w1, ==, w2);
	g_free(w2);
	cardea_sdp_free(s2);
	return w1;
}

/* "NNN|line" for every non-empty line, NNN = section (0 = session), sorted. */
static GPtrArray *section_lines(const char *text) {
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	char **lines = g_strsplit(text, "\n", -1);
	guint i, section = 0;
	for (i = 0; lines[i] != NULL; i++) {
		char *l = lines[i];
		gsize n = strlen(l);
		if (n > 0 && l[n - 1] == '\r')
			l[--n] = '\0';
		if (n == 0)
			continue;
		if (g_str_has_prefix(l, "m="))
			section++;
		/* Browsers write "msid-semantic: WMS", aiortc "msid-semantic:WMS"; the
		 * writer uses the browsers' form */
		if (g_str_has_prefix(l, "a=msid-semantic:") && l[16] != ' ')
			g_ptr_array_add(out, g_strdup_printf("%03u|a=msid-semantic: %s", section, l + 16));
		else
			g_ptr_array_add(out, g_strdup_printf("%03u|%s", section, l));
	}
	g_strfreev(lines);
	return out;
}

static gint cmp_strp(gconstpointer a, gconstpointer b) {
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void assert_same_lines(const char *input, const char *written) {
	GPtrArray *a = section_lines(input), *b = section_lines(written);
	guint i;
	g_ptr_array_sort(a, cmp_strp);
	g_ptr_array_sort(b, cmp_strp);
	for (i = 0; i < MIN(a->len, b->len); i++) {
		if (strcmp(a->pdata[i], b->pdata[i]) != 0)
			g_test_message("line differs: input '%s' written '%s'", (char *)a->pdata[i], (char *)b->pdata[i]);
		g_assert_cmpstr(a->pdata[i], ==, b->pdata[i]);
	}
	g_assert_cmpuint(a->len, ==, b->len);
	g_ptr_array_unref(a);
	g_ptr_array_unref(b);
}

static char *to_crlf(const char *lf) {
	char **parts = g_strsplit(lf, "\n", -1);
	char *crlf = g_strjoinv("\r\n", parts);
	g_strfreev(parts);
	return crlf;
}

/* ---- Every fixture: parse (LF and CRLF), validate, round trip, lossless ---- */

static void test_fixture(gconstpointer data) {
	const char *name = data;
	gsize len;
	char *text = load_fixture(name, &len), *crlf, *w1, *w_crlf;
	cardea_sdp *s = parse_text(text, (gssize)len), *s_crlf, *copy;

	validate_ok(s);
	w1 = check_roundtrip(s);
	g_assert_true(g_str_has_suffix(w1, "\r\n"));
	assert_same_lines(text, w1);

	/* Real SDP uses CRLF: same model either way */
	crlf = to_crlf(text);
	s_crlf = parse_text(crlf, -1);
	w_crlf = cardea_sdp_write(s_crlf);
	g_assert_cmpstr(w1, ==, w_crlf);

	copy = cardea_sdp_copy(s);
	g_assert_nonnull(copy);
	g_free(w_crlf);
	w_crlf = cardea_sdp_write(copy);
	g_assert_cmpstr(w1, ==, w_crlf);

	cardea_sdp_free(copy);
	cardea_sdp_free(s_crlf);
	cardea_sdp_free(s);
	g_free(w_crlf);
	g_free(crlf);
	g_free(w1);
	g_free(text);
}

/* ---- Field checks per fixture ---- */

static const cardea_sdp_payload *payload(const cardea_sdp_mline *m, guint pt) {
	const cardea_sdp_payload *p = cardea_sdp_find_payload(m, pt);
	g_assert_nonnull(p);
	return p;
}

static void assert_fb(const cardea_sdp_payload *p, guint i, const char *type, const char *param) {
	g_assert_cmpuint(i, <, p->n_fb);
	g_assert_cmpstr(p->fb[i].type, ==, type);
	g_assert_cmpstr(p->fb[i].param, ==, param);
}

static void test_chromium_offer(void) {
	cardea_sdp *s = parse_fixture("chromium-offer-audio-video.sdp");
	const cardea_sdp_mline *a, *v;
	const cardea_sdp_payload *p;
	const cardea_sdp_group *g;
	const cardea_sdp_fingerprint *f;
	const cardea_sdp_ssrc_group *fid;
	const cardea_sdp_ssrc *ss;
	guint i;

	g_assert_cmpuint(s->origin.sess_id, ==, G_GUINT64_CONSTANT(7527544462808822175));
	g_assert_cmpuint(s->origin.sess_version, ==, 2);
	g_assert_cmpstr(s->origin.address, ==, "127.0.0.1");
	g_assert_true(s->extmap_allow_mixed);
	g_assert_cmpstr(s->msid_semantic, ==, "WMS");
	g_assert_cmpstr(s->msid_semantic_ids, ==, "825a89db-48a0-4007-83e8-284cee2f3085");
	g_assert_nonnull(g = cardea_sdp_find_group(s, "BUNDLE"));
	g_assert_cmpuint(g->n_mids, ==, 2);
	g_assert_cmpstr(g->mids[0], ==, "0");
	g_assert_cmpstr(g->mids[1], ==, "1");
	g_assert_cmpuint(s->n_mlines, ==, 2);

	a = s->mlines[0];
	g_assert_cmpint(a->kind, ==, CARDEA_SDP_MEDIA_AUDIO);
	g_assert_cmpuint(a->port, ==, 9);
	g_assert_cmpstr(a->proto, ==, "UDP/TLS/RTP/SAVPF");
	g_assert_true(a->rtp);
	g_assert_cmpstr(a->mid, ==, "0");
	g_assert_cmpint(a->direction, ==, CARDEA_SDP_DIR_SENDRECV);
	g_assert_true(a->rtcp_mux);
	g_assert_true(a->rtcp_rsize);
	g_assert_cmpint(a->rtcp_port, ==, 9);
	g_assert_cmpstr(a->rtcp_address, ==, "IN IP4 0.0.0.0");
	g_assert_cmpstr(a->connection->address, ==, "0.0.0.0");
	g_assert_cmpstr(cardea_sdp_mline_ice_ufrag(s, a), ==, "aNHB");
	g_assert_cmpstr(cardea_sdp_mline_ice_pwd(s, a), ==, "bB0AZbyGKaAdJPwjp+zn743S");
	g_assert_true(cardea_sdp_ice_options_has(cardea_sdp_mline_ice_options(s, a), "trickle"));
	g_assert_false(cardea_sdp_ice_options_has(cardea_sdp_mline_ice_options(s, a), "renomination"));
	g_assert_cmpint(cardea_sdp_mline_setup(s, a), ==, CARDEA_SDP_SETUP_ACTPASS);
	g_assert_nonnull(f = cardea_sdp_mline_fingerprint(s, a));
	g_assert_cmpint(f->hash, ==, CARDEA_SDP_HASH_SHA256);
	g_assert_cmpuint(f->digest_len, ==, 32);
	g_assert_cmpuint(f->digest[0], ==, 0x69);
	g_assert_cmpuint(f->digest[31], ==, 0xAE);
	g_assert_cmpuint(a->n_payloads, ==, 8);
	{
		static const guint pts[] = { 111, 63, 9, 0, 8, 13, 110, 126 };
		for (i = 0; i < G_N_ELEMENTS(pts); i++)
			g_assert_cmpuint(a->payloads[i].pt, ==, pts[i]);
	}
	p = payload(a, 111);
	g_assert_cmpstr(p->name, ==, "opus");
	g_assert_cmpuint(p->clock, ==, 48000);
	g_assert_cmpuint(p->channels, ==, 2);
	g_assert_cmpstr(p->fmtp, ==, "minptime=10;useinbandfec=1");
	g_assert_cmpuint(p->n_params, ==, 2);
	g_assert_cmpstr(cardea_sdp_payload_param(p, "useinbandfec"), ==, "1");
	g_assert_cmpstr(cardea_sdp_payload_param(p, "MINPTIME"), ==, "10");
	g_assert_null(cardea_sdp_payload_param(p, "stereo"));
	assert_fb(p, 0, "transport-cc", NULL);
	p = payload(a, 63);
	g_assert_cmpstr(p->name, ==, "red");
	g_assert_cmpuint(p->n_params, ==, 1);
	g_assert_cmpstr(p->params[0].key, ==, "111/111");
	g_assert_null(p->params[0].value);
	g_assert_cmpuint(payload(a, 126)->clock, ==, 8000);
	g_assert_cmpuint(payload(a, 9)->channels, ==, 0);
	g_assert_cmpuint(cardea_sdp_find_extmap(a, CARDEA_SDP_EXT_AUDIO_LEVEL), ==, 1);
	g_assert_cmpuint(cardea_sdp_find_extmap(a, CARDEA_SDP_EXT_ABS_SEND_TIME), ==, 2);
	g_assert_cmpuint(cardea_sdp_find_extmap(a, CARDEA_SDP_EXT_TRANSPORT_WIDE_CC), ==, 3);
	g_assert_cmpuint(cardea_sdp_find_extmap(a, CARDEA_SDP_EXT_MID), ==, 4);
	g_assert_cmpuint(cardea_sdp_find_extmap(a, CARDEA_SDP_EXT_RID), ==, 0);
	g_assert_cmpuint(a->n_msids, ==, 1);
	g_assert_cmpstr(a->msids[0].stream, ==, "825a89db-48a0-4007-83e8-284cee2f3085");
	g_assert_cmpstr(a->msids[0].track, ==, "843e68d6-8273-412a-a8a0-ad4b4a00452e");
	g_assert_nonnull(ss = cardea_sdp_find_ssrc(a, 679841407));
	g_assert_cmpstr(ss->cname, ==, "ktTi7d8KmCcSQHrS");
	g_assert_cmpstr(ss->msid_track, ==, "843e68d6-8273-412a-a8a0-ad4b4a00452e");
	/* a=rtcp-xr is unknown to the model: kept verbatim */
	g_assert_cmpuint(a->n_attributes, ==, 1);
	g_assert_cmpstr(a->attributes[0].key, ==, "rtcp-xr");
	g_assert_cmpstr(a->attributes[0].value, ==, "rcvr-rtt=all");
	g_assert_cmpuint(a->n_candidates, ==, 0);
	g_assert_false(a->end_of_candidates);

	v = s->mlines[1];
	g_assert_cmpint(v->kind, ==, CARDEA_SDP_MEDIA_VIDEO);
	g_assert_cmpuint(v->index, ==, 1);
	g_assert_cmpuint(v->n_payloads, ==, 23);
	p = payload(v, 96);
	g_assert_cmpstr(p->name, ==, "VP8");
	g_assert_cmpuint(p->clock, ==, 90000);
	g_assert_cmpuint(p->n_fb, ==, 5);
	assert_fb(p, 0, "goog-remb", NULL);
	assert_fb(p, 1, "transport-cc", NULL);
	assert_fb(p, 2, "ccm", "fir");
	assert_fb(p, 3, "nack", NULL);
	assert_fb(p, 4, "nack", "pli");
	g_assert_cmpint(p->apt, ==, -1);
	/* rtx -> apt */
	{
		static const guint rtx[][2] = { { 97, 96 }, { 103, 102 }, { 107, 104 }, { 109, 108 }, { 115, 114 },
			{ 117, 116 }, { 40, 39 }, { 46, 45 }, { 99, 98 }, { 101, 100 }, { 119, 118 } };
		for (i = 0; i < G_N_ELEMENTS(rtx); i++) {
			p = payload(v, rtx[i][0]);
			g_assert_cmpstr(p->name, ==, "rtx");
			g_assert_cmpint(p->apt, ==, (gint)rtx[i][1]);
			g_assert_true(cardea_sdp_find_rtx(v, rtx[i][1]) == p);
		}
	}
	p = payload(v, 108);
	g_assert_cmpstr(p->name, ==, "H264");
	g_assert_cmpstr(cardea_sdp_payload_param(p, "profile-level-id"), ==, "42e01f");
	g_assert_cmpstr(cardea_sdp_payload_param(p, "packetization-mode"), ==, "1");
	g_assert_cmpstr(payload(v, 45)->name, ==, "AV1");
	g_assert_cmpstr(cardea_sdp_payload_param(payload(v, 45), "level-idx"), ==, "5");
	g_assert_cmpstr(cardea_sdp_payload_param(payload(v, 100), "profile-id"), ==, "2");
	g_assert_cmpstr(payload(v, 120)->name, ==, "ulpfec");
	g_assert_cmpuint(cardea_sdp_find_extmap(v, CARDEA_SDP_EXT_VIDEO_ORIENTATION), ==, 13);
	g_assert_cmpuint(cardea_sdp_find_extmap(v, CARDEA_SDP_EXT_RID), ==, 10);
	g_assert_cmpuint(cardea_sdp_find_extmap(v, CARDEA_SDP_EXT_REPAIRED_RID), ==, 11);
	g_assert_cmpuint(cardea_sdp_find_extmap(v, CARDEA_SDP_EXT_PLAYOUT_DELAY), ==, 5);
	g_assert_cmpuint(v->n_extmaps, ==, 11);
	g_assert_cmpuint(v->extmaps[0].id, ==, 14);
	g_assert_cmpint(v->extmaps[0].ext, ==, CARDEA_SDP_EXT_OTHER);
	g_assert_cmpstr(v->extmaps[0].uri, ==, "urn:ietf:params:rtp-hdrext:toffset");
	g_assert_nonnull(fid = cardea_sdp_find_ssrc_group(v, "FID"));
	g_assert_cmpuint(fid->n_ssrcs, ==, 2);
	g_assert_cmpuint(fid->ssrcs[0], ==, 1736961773);
	g_assert_cmpuint(fid->ssrcs[1], ==, 4269179569u);
	g_assert_cmpuint(v->n_ssrcs, ==, 2);
	g_assert_cmpstr(cardea_sdp_find_ssrc(v, 4269179569u)->msid_stream, ==, "825a89db-48a0-4007-83e8-284cee2f3085");
	g_assert_null(cardea_sdp_find_ssrc_group(v, "SIM"));
	g_assert_false(v->simulcast.present);
	cardea_sdp_free(s);
}

static void test_chromium_gathered(void) {
	cardea_sdp *s = parse_fixture("chromium-offer-audio-video-gathered.sdp");
	const cardea_sdp_mline *a = s->mlines[0];
	const cardea_sdp_candidate *c;
	g_assert_cmpuint(a->port, ==, 54762);
	g_assert_cmpstr(a->connection->address, ==, "127.0.0.1");
	g_assert_cmpuint(a->n_candidates, ==, 4);
	c = &a->candidates[0];
	g_assert_cmpstr(c->foundation, ==, "1035314020");
	g_assert_cmpuint(c->component, ==, 1);
	g_assert_cmpstr(c->transport, ==, "udp");
	g_assert_cmpuint(c->priority, ==, 2122194687u);
	g_assert_cmpstr(c->address, ==, "127.0.0.1");
	g_assert_cmpuint(c->port, ==, 54762);
	g_assert_cmpint(c->type, ==, CARDEA_SDP_CANDIDATE_HOST);
	g_assert_null(c->raddr);
	g_assert_cmpint(c->rport, ==, -1);
	g_assert_cmpint(c->tcptype, ==, CARDEA_SDP_TCPTYPE_NONE);
	g_assert_cmpuint(c->n_extensions, ==, 3);
	g_assert_cmpstr(c->extensions[0].key, ==, "generation");
	g_assert_cmpstr(c->extensions[0].value, ==, "0");
	g_assert_cmpstr(c->extensions[2].key, ==, "network-cost");
	g_assert_cmpstr(c->extensions[2].value, ==, "50");
	g_assert_cmpstr(a->candidates[2].address, ==, "::1");
	g_assert_cmpstr(s->mlines[1]->candidates[3].address, ==, "fd00::2");
	g_assert_cmpuint(s->mlines[1]->candidates[3].port, ==, 47538);
	g_assert_false(a->end_of_candidates);
	cardea_sdp_free(s);
}

static void test_chromium_simulcast(void) {
	cardea_sdp *s = parse_fixture("chromium-offer-simulcast-video.sdp");
	const cardea_sdp_mline *v = s->mlines[0];
	static const char *const rids[] = { "h", "m", "l" };
	guint i;
	g_assert_cmpuint(s->n_mlines, ==, 1);
	g_assert_cmpuint(v->n_rids, ==, 3);
	g_assert_true(v->simulcast.present);
	g_assert_cmpuint(v->simulcast.n_send, ==, 3);
	g_assert_cmpuint(v->simulcast.n_recv, ==, 0);
	for (i = 0; i < 3; i++) {
		g_assert_cmpstr(v->rids[i].id, ==, rids[i]);
		g_assert_cmpint(v->rids[i].direction, ==, CARDEA_SDP_RID_SEND);
		g_assert_cmpuint(v->rids[i].n_pts, ==, 0);
		g_assert_cmpuint(v->simulcast.send[i].n_alts, ==, 1);
		g_assert_cmpstr(v->simulcast.send[i].alts[0].rid, ==, rids[i]);
		g_assert_false(v->simulcast.send[i].alts[0].paused);
	}
	g_assert_nonnull(cardea_sdp_find_rid(v, "m"));
	g_assert_null(cardea_sdp_find_rid(v, "x"));
	g_assert_cmpuint(cardea_sdp_find_extmap(v, CARDEA_SDP_EXT_DEPENDENCY_DESCRIPTOR), ==, 13);
	g_assert_cmpuint(cardea_sdp_find_extmap(v, CARDEA_SDP_EXT_MID), ==, 9);
	/* No SSRCs: simulcast by rid */
	g_assert_cmpuint(v->n_ssrcs, ==, 0);
	cardea_sdp_free(s);

	s = parse_fixture("janus-answer-simulcast-video.sdp");
	v = s->mlines[0];
	g_assert_cmpuint(v->simulcast.n_recv, ==, 3);
	g_assert_cmpuint(v->simulcast.n_send, ==, 0);
	g_assert_cmpint(v->rids[2].direction, ==, CARDEA_SDP_RID_RECV);
	g_assert_cmpstr(v->simulcast.recv[2].alts[0].rid, ==, "l");
	g_assert_cmpint(cardea_sdp_mline_setup(s, v), ==, CARDEA_SDP_SETUP_ACTIVE);
	g_assert_cmpuint(v->n_candidates, ==, 1);
	g_assert_true(v->end_of_candidates);
	cardea_sdp_free(s);
}

static void test_datachannel(void) {
	cardea_sdp *s = parse_fixture("chromium-offer-audio-video-datachannel.sdp");
	const cardea_sdp_mline *d = s->mlines[2];
	const cardea_sdp_ssrc *ss;
	g_assert_cmpuint(s->n_mlines, ==, 3);
	g_assert_cmpuint(cardea_sdp_find_group(s, "bundle")->n_mids, ==, 3);
	g_assert_cmpint(d->kind, ==, CARDEA_SDP_MEDIA_APPLICATION);
	g_assert_false(d->rtp);
	g_assert_cmpstr(d->proto, ==, "UDP/DTLS/SCTP");
	g_assert_cmpstr(d->fmt, ==, "webrtc-datachannel");
	g_assert_cmpuint(d->n_payloads, ==, 0);
	g_assert_cmpint(d->sctp_port, ==, 5000);
	g_assert_cmpint(d->max_message_size, ==, 262144);
	g_assert_cmpstr(d->mid, ==, "2");
	g_assert_false(d->rtcp_mux);
	g_assert_cmpint(d->direction, ==, CARDEA_SDP_DIR_UNSET);
	g_assert_cmpint(cardea_sdp_mline_direction(s, d), ==, CARDEA_SDP_DIR_SENDRECV);
	g_assert_nonnull(ss = cardea_sdp_find_ssrc(s->mlines[0], 2222283629u));
	g_assert_cmpstr(ss->cname, ==, "U5wcgWRG8RlRgOFz");
	g_assert_cmpstr(ss->msid_stream, ==, "9b3d6537-1026-419f-9a05-7dc33f5ffa1c");
	cardea_sdp_free(s);

	s = parse_fixture("janus-answer-audio-video-datachannel.sdp");
	d = s->mlines[2];
	g_assert_cmpint(d->sctp_port, ==, 5000);
	g_assert_cmpint(d->max_message_size, ==, -1);
	g_assert_cmpint(d->direction, ==, CARDEA_SDP_DIR_SENDRECV);
	g_assert_cmpuint(d->n_candidates, ==, 1);
	g_assert_true(d->end_of_candidates);
	/* Janus puts the fingerprint at session level only */
	g_assert_cmpuint(d->n_fingerprints, ==, 0);
	g_assert_cmpuint(s->n_fingerprints, ==, 1);
	g_assert_true(cardea_sdp_mline_fingerprint(s, d) == &s->fingerprints[0]);
	g_assert_cmpuint(s->fingerprints[0].digest[0], ==, 0x68);
	g_assert_cmpstr(s->ice_options, ==, "trickle");
	g_assert_cmpint(cardea_sdp_mline_setup(s, d), ==, CARDEA_SDP_SETUP_ACTIVE);
	cardea_sdp_free(s);
}

static void test_janus_answers(void) {
	cardea_sdp *s = parse_fixture("janus-answer-audio-video.sdp");
	const cardea_sdp_mline *a = s->mlines[0], *v = s->mlines[1];
	const cardea_sdp_candidate *c;
	g_assert_cmpstr(s->origin.address, ==, "192.0.2.2");
	g_assert_cmpstr(s->msid_semantic_ids, ==, "*");
	g_assert_cmpuint(a->n_payloads, ==, 1);
	g_assert_cmpstr(payload(a, 111)->fmtp, ==, "useinbandfec=1");
	g_assert_cmpstr(a->msids[0].stream, ==, "janus");
	g_assert_cmpstr(a->msids[0].track, ==, "janus0");
	g_assert_cmpstr(cardea_sdp_find_ssrc(a, 810430279)->cname, ==, "janus");
	g_assert_cmpuint(a->n_candidates, ==, 1);
	c = &a->candidates[0];
	g_assert_cmpstr(c->foundation, ==, "1");
	g_assert_cmpuint(c->priority, ==, 2015363327u);
	g_assert_cmpuint(c->port, ==, 35770);
	g_assert_cmpuint(c->n_extensions, ==, 0);
	g_assert_true(a->end_of_candidates);
	g_assert_cmpuint(v->n_payloads, ==, 2);
	g_assert_cmpint(payload(v, 97)->apt, ==, 96);
	g_assert_cmpuint(payload(v, 96)->n_fb, ==, 5);
	assert_fb(payload(v, 96), 0, "ccm", "fir");
	g_assert_cmpuint(cardea_sdp_find_ssrc_group(v, "FID")->ssrcs[1], ==, 2943453173u);
	cardea_sdp_free(s);

	s = parse_fixture("janus-answer-aiortc.sdp");
	g_assert_cmpuint(s->mlines[1]->n_extmaps, ==, 1);
	g_assert_cmpuint(cardea_sdp_find_extmap(s->mlines[1], CARDEA_SDP_EXT_MID), ==, 1);
	g_assert_cmpuint(cardea_sdp_find_extmap(s->mlines[0], CARDEA_SDP_EXT_AUDIO_LEVEL), ==, 2);
	cardea_sdp_free(s);
}

static void test_videoroom(void) {
	cardea_sdp *s = parse_fixture("janus-videoroom-subscriber-offer.sdp");
	const cardea_sdp_mline *a = s->mlines[0], *v = s->mlines[1];
	g_assert_cmpstr(s->session_name, ==, "VideoRoom 338928467");
	g_assert_cmpuint(s->origin.sess_id, ==, G_GUINT64_CONSTANT(1795458346944277));
	g_assert_cmpuint(s->origin.sess_version, ==, 1);
	g_assert_cmpint(a->direction, ==, CARDEA_SDP_DIR_SENDONLY);
	g_assert_cmpint(v->direction, ==, CARDEA_SDP_DIR_SENDONLY);
	g_assert_cmpint(cardea_sdp_mline_setup(s, v), ==, CARDEA_SDP_SETUP_ACTPASS);
	g_assert_cmpstr(v->msids[0].track, ==, "janus1");
	g_assert_cmpuint(cardea_sdp_find_extmap(v, CARDEA_SDP_EXT_PLAYOUT_DELAY), ==, 12);
	g_assert_cmpuint(cardea_sdp_find_ssrc_group(v, "FID")->ssrcs[0], ==, 1116223132u);
	cardea_sdp_free(s);

	s = parse_fixture("chromium-videoroom-subscriber-answer.sdp");
	a = s->mlines[0];
	v = s->mlines[1];
	g_assert_cmpstr(s->msid_semantic, ==, "WMS");
	g_assert_null(s->msid_semantic_ids);
	g_assert_cmpint(a->direction, ==, CARDEA_SDP_DIR_RECVONLY);
	g_assert_cmpint(cardea_sdp_mline_setup(s, v), ==, CARDEA_SDP_SETUP_ACTIVE);
	g_assert_cmpuint(a->n_payloads, ==, 1);
	g_assert_cmpuint(v->n_payloads, ==, 2);
	g_assert_cmpuint(v->n_ssrcs, ==, 0);
	g_assert_cmpuint(a->n_msids, ==, 0);
	cardea_sdp_free(s);
}

static void test_aiortc(void) {
	cardea_sdp *s = parse_fixture("aiortc-offer-audio-video.sdp");
	const cardea_sdp_mline *a = s->mlines[0], *v = s->mlines[1];
	g_assert_null(s->ice_ufrag);
	g_assert_cmpstr(cardea_sdp_mline_ice_ufrag(s, a), ==, "VnUU");
	g_assert_cmpstr(cardea_sdp_mline_ice_ufrag(s, v), ==, "uar6");
	g_assert_null(cardea_sdp_mline_ice_options(s, a));
	g_assert_cmpuint(a->port, ==, 42955);
	g_assert_cmpstr(a->connection->address, ==, "192.0.2.2");
	g_assert_cmpuint(a->n_payloads, ==, 3);
	g_assert_cmpstr(payload(a, 0)->name, ==, "PCMU");
	g_assert_cmpuint(payload(a, 96)->channels, ==, 2);
	g_assert_cmpuint(a->n_candidates, ==, 2);
	g_assert_cmpstr(a->candidates[0].foundation, ==, "f957a2332b1715da3b0ef8ba684454eb");
	g_assert_cmpstr(a->candidates[1].address, ==, "fd00::2");
	g_assert_true(a->end_of_candidates);
	g_assert_cmpuint(cardea_sdp_find_extmap(v, CARDEA_SDP_EXT_ABS_SEND_TIME), ==, 2);
	g_assert_cmpint(payload(v, 102)->apt, ==, 101);
	g_assert_cmpstr(cardea_sdp_payload_param(payload(v, 101), "profile-level-id"), ==, "42e01f");
	g_assert_cmpuint(cardea_sdp_find_ssrc_group(v, "FID")->ssrcs[1], ==, 1888724838u);
	cardea_sdp_free(s);
}

/* ---- Broken inputs ---- */

static void test_broken_framing(void) {
	char *text;
	expect_parse_error("", 0, NULL, CARDEA_SDP_ERROR_SYNTAX, "empty SDP");
	expect_parse_error("\r\n\r\n", 4, NULL, CARDEA_SDP_ERROR_SYNTAX, "empty SDP");
	expect_parse_error(NULL, 0, NULL, CARDEA_SDP_ERROR_SYNTAX, "empty SDP");
	expect_edit_error("v=0", NULL, CARDEA_SDP_ERROR_SYNTAX, "line 1: the SDP must start with v=0");
	expect_edit_error("v=0", "v=1", CARDEA_SDP_ERROR_SYNTAX, "must start with v=0");
	expect_edit_error("s=-", "s=-\r\nv=0", CARDEA_SDP_ERROR_SYNTAX, "line 4: duplicate v=");
	expect_edit_error("o=", NULL, CARDEA_SDP_ERROR_SYNTAX, "missing o=");
	expect_edit_error("s=", NULL, CARDEA_SDP_ERROR_SYNTAX, "missing s=");
	expect_edit_error("t=", NULL, CARDEA_SDP_ERROR_SYNTAX, "missing t=");
	expect_edit_error("s=", "s=-\r\ns=x", CARDEA_SDP_ERROR_SYNTAX, "line 4: duplicate s=");
	expect_edit_error("o=", "o=- 1 2 IN IP4", CARDEA_SDP_ERROR_SYNTAX, "line 2: bad o= line");
	expect_edit_error("o=", "o=- x 2 IN IP4 127.0.0.1", CARDEA_SDP_ERROR_SYNTAX, "bad o= line");
	expect_edit_error("o=", "o=- 99999999999999999999 2 IN IP4 127.0.0.1", CARDEA_SDP_ERROR_SYNTAX, "bad o=");
	expect_edit_error("t=", "t=0", CARDEA_SDP_ERROR_SYNTAX, "bad t= line");
	expect_edit_error("c=", "c=IN IP4", CARDEA_SDP_ERROR_SYNTAX, "line 7: bad c= line");
	expect_edit_error("c=", "c=IN IP4 0.0.0.0\r\nc=IN IP4 0.0.0.0", CARDEA_SDP_ERROR_SYNTAX, "duplicate c=");
	expect_edit_error(NULL, "b=AS", CARDEA_SDP_ERROR_SYNTAX, "bad b= line");
	expect_edit_error(NULL, "b=AS:x", CARDEA_SDP_ERROR_SYNTAX, "bad b= line");
	/* bad line syntax */
	expect_edit_error("s=", "garbage", CARDEA_SDP_ERROR_SYNTAX, "line 3: bad line syntax");
	expect_edit_error("s=", "S=-", CARDEA_SDP_ERROR_SYNTAX, "bad line syntax");
	expect_edit_error("s=", "s", CARDEA_SDP_ERROR_SYNTAX, "bad line syntax");
	expect_edit_error("s=", "=s", CARDEA_SDP_ERROR_SYNTAX, "bad line syntax");
	expect_edit_error("s=", "s-", CARDEA_SDP_ERROR_SYNTAX, "bad line syntax");
	expect_edit_error(NULL, "x=1", CARDEA_SDP_ERROR_SYNTAX, "unknown line type x=");
	expect_edit_error(NULL, "o=- 1 2 IN IP4 127.0.0.1", CARDEA_SDP_ERROR_SYNTAX, "o= is not allowed in a media");
	expect_edit_error(NULL, "a=", CARDEA_SDP_ERROR_SYNTAX, "bad attribute name");
	expect_edit_error(NULL, "a=:x", CARDEA_SDP_ERROR_SYNTAX, "bad attribute name");
	expect_edit_error(NULL, "a=foo bar", CARDEA_SDP_ERROR_SYNTAX, "bad attribute name");
	/* empty lines only at the end */
	expect_edit_error("s=", "s=-\r\n", CARDEA_SDP_ERROR_SYNTAX, "line 4: empty line");
	/* control characters: lone CR, NUL, escape */
	expect_edit_error("s=", "s=a\rb", CARDEA_SDP_ERROR_SYNTAX, "control character");
	expect_edit_error("s=", "s=a\033b", CARDEA_SDP_ERROR_SYNTAX, "control character");
	text = g_strdup(base_sdp);
	text[20] = '\0';
	expect_parse_error(text, strlen(base_sdp), NULL, CARDEA_SDP_ERROR_SYNTAX, "line 2: control character");
	g_free(text);
	/* flag attributes take no value; value attributes need one */
	expect_edit_error("a=rtcp-mux", "a=rtcp-mux:1", CARDEA_SDP_ERROR_SYNTAX, "bad a=rtcp-mux (takes no value)");
	expect_edit_error("a=mid", "a=mid", CARDEA_SDP_ERROR_SYNTAX, "bad a=mid (missing value)");
	expect_edit_error("a=mid", "a=mid:", CARDEA_SDP_ERROR_SYNTAX, "bad a=mid (missing value)");
	/* wrong level */
	expect_edit_error("a=group", "a=mid:0", CARDEA_SDP_ERROR_SYNTAX, "line 5: a=mid is not allowed at session level");
	expect_edit_error("a=group", "a=rtcp-mux", CARDEA_SDP_ERROR_SYNTAX, "not allowed at session level");
	expect_edit_error(NULL, "a=group:BUNDLE 0", CARDEA_SDP_ERROR_SYNTAX, "a=group is not allowed at media level");
	expect_edit_error(NULL, "a=ice-lite", CARDEA_SDP_ERROR_SYNTAX, "not allowed at media level");
}

static void test_line_endings(void) {
	cardea_sdp *crlf = parse_text(base_sdp, -1), *s;
	char *w = cardea_sdp_write(crlf), *lf, *text;
	GString *mixed = g_string_new(NULL);
	guint i, n = 0;

	lf = g_strdup(base_sdp);
	for (i = 0; base_sdp[i]; i++) {
		if (base_sdp[i] != '\r')
			lf[n++] = base_sdp[i];
	}
	lf[n] = '\0';
	/* LF only */
	s = parse_text(lf, -1);
	text = cardea_sdp_write(s);
	g_assert_cmpstr(w, ==, text);
	g_free(text);
	cardea_sdp_free(s);
	/* no EOL on the last line */
	s = parse_text(lf, (gssize)n - 1);
	text = cardea_sdp_write(s);
	g_assert_cmpstr(w, ==, text);
	g_free(text);
	cardea_sdp_free(s);
	/* mixed, trailing blanks and blank lines at the end */
	for (i = 0; base_sdp[i]; i++) {
		if (base_sdp[i] == '\r' && (i % 3) == 0)
			continue;
		if (base_sdp[i] == '\r')
			g_string_append(mixed, " \t");
		g_string_append_c(mixed, base_sdp[i]);
	}
	g_string_append(mixed, "\r\n\n\r\n");
	s = parse_text(mixed->str, (gssize)mixed->len);
	text = cardea_sdp_write(s);
	g_assert_cmpstr(w, ==, text);
	g_free(text);
	cardea_sdp_free(s);

	g_string_free(mixed, TRUE);
	g_free(lf);
	g_free(w);
	cardea_sdp_free(crlf);
}

static void test_limits(void) {
	cardea_sdp_limits lim;
	GString *big = g_string_new(base_sdp);
	char *huge, *line;
	cardea_sdp *s;
	guint i;

	cardea_sdp_limits_init(&lim);
	g_assert_cmpuint(lim.max_size, ==, 64 * 1024);
	g_assert_cmpuint(lim.max_mlines, ==, 64);
	g_assert_cmpuint(lim.max_attributes, ==, 512);

	/* huge line */
	huge = g_strnfill(5000, 'a');
	line = g_strdup_printf("a=x-huge:%s", huge);
	expect_edit_error(NULL, line, CARDEA_SDP_ERROR_LIMIT, "line 16: line too long (max 4096 bytes)");
	g_free(line);
	g_free(huge);

	/* 500 m-lines */
	for (i = 1; i < 500; i++)
		g_string_append_printf(big, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:%u\r\n", i);
	expect_parse_error(big->str, big->len, NULL, CARDEA_SDP_ERROR_LIMIT, "too many m-lines (max 64)");
	/* ...fine with a raised limit */
	lim.max_mlines = 500;
	s = cardea_sdp_parse(big->str, big->len, &lim, NULL);
	g_assert_nonnull(s);
	g_assert_cmpuint(s->n_mlines, ==, 500);
	g_assert_cmpstr(s->mlines[499]->mid, ==, "499");
	cardea_sdp_free(s);
	/* ...and a lowered one */
	lim.max_mlines = 2;
	expect_parse_error(big->str, big->len, &lim, CARDEA_SDP_ERROR_LIMIT, "line 18: too many m-lines (max 2)");

	/* too many attributes in a section (unknown ones count too) */
	g_string_assign(big, base_sdp);
	for (i = 0; i < 600; i++)
		g_string_append_printf(big, "a=x-unknown:%u\r\n", i);
	expect_parse_error(big->str, big->len, NULL, CARDEA_SDP_ERROR_LIMIT, "too many lines in one section (max 512)");
	lim.max_attributes = 1000;
	lim.max_mlines = 0;   /* default */
	s = cardea_sdp_parse(big->str, big->len, &lim, NULL);
	g_assert_nonnull(s);
	g_assert_cmpuint(s->mlines[0]->n_attributes, ==, 600);
	g_assert_cmpstr(s->mlines[0]->attributes[599].value, ==, "599");
	cardea_sdp_free(s);
	/* at session level too */
	g_string_assign(big, "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
	for (i = 0; i < 600; i++)
		g_string_append_printf(big, "a=x:%u\r\n", i);
	expect_parse_error(big->str, big->len, NULL, CARDEA_SDP_ERROR_LIMIT, "too many lines in one section");

	/* total size */
	g_string_assign(big, base_sdp);
	while (big->len <= 64 * 1024)
		g_string_append(big, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
	expect_parse_error(big->str, big->len, NULL, CARDEA_SDP_ERROR_LIMIT, "SDP too large");
	lim.max_size = 100;
	expect_parse_error(base_sdp, strlen(base_sdp), &lim, CARDEA_SDP_ERROR_LIMIT, "SDP too large");
	g_string_free(big, TRUE);
}

static void test_broken_mline(void) {
	expect_edit_error("m=", "m=audio abc UDP/TLS/RTP/SAVPF 111 96", CARDEA_SDP_ERROR_SYNTAX, "line 6: bad m= line (port)");
	expect_edit_error("m=", "m=audio 70000 UDP/TLS/RTP/SAVPF 111 96", CARDEA_SDP_ERROR_SYNTAX, "bad m= line (port)");
	expect_edit_error("m=", "m=audio -1 UDP/TLS/RTP/SAVPF 111 96", CARDEA_SDP_ERROR_SYNTAX, "bad m= line (port)");
	expect_edit_error("m=", "m=audio 9/0 UDP/TLS/RTP/SAVPF 111 96", CARDEA_SDP_ERROR_SYNTAX, "bad m= line (port)");
	expect_edit_error("m=", "m=audio 9/x UDP/TLS/RTP/SAVPF 111 96", CARDEA_SDP_ERROR_SYNTAX, "bad m= line (port)");
	expect_edit_error("m=", "m=audio 9 UDP/TLS/RTP/SAVPF 128", CARDEA_SDP_ERROR_SYNTAX, "bad m= line (payload type)");
	expect_edit_error("m=", "m=audio 9 UDP/TLS/RTP/SAVPF 111 x", CARDEA_SDP_ERROR_SYNTAX, "bad m= line (payload type)");
	expect_edit_error("m=", "m=audio 9 UDP/TLS/RTP/SAVPF 111  96", CARDEA_SDP_ERROR_SYNTAX, "bad m= line (payload type)");
	expect_edit_error("m=", "m=audio 9 UDP/TLS/RTP/SAVPF 111 96 111", CARDEA_SDP_ERROR_SYNTAX, "duplicate payload type");
	expect_edit_error("m=", "m=audio 9 UDP/TLS/RTP/SAVPF", CARDEA_SDP_ERROR_SYNTAX, "bad m= line");
	expect_edit_error("m=", "m=audio 9", CARDEA_SDP_ERROR_SYNTAX, "bad m= line");
	expect_edit_error("m=", "m= 9 RTP/AVP 0", CARDEA_SDP_ERROR_SYNTAX, "bad m= line");
	expect_edit_error(NULL, "m=application 9 UDP/DTLS/SCTP web\x7f", CARDEA_SDP_ERROR_SYNTAX, "control character");
	expect_edit_error(NULL, "m=application 9 UDP/DTLS/SCTP a\"b", CARDEA_SDP_ERROR_SYNTAX, "bad m= line (format)");
	/* duplicate mid (parse) and two mids in one section */
	expect_edit_error(NULL, "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0", CARDEA_SDP_ERROR_SYNTAX,
		"line 17: bad a=mid (duplicate mid)");
	expect_edit_error(NULL, "a=mid:1", CARDEA_SDP_ERROR_SYNTAX, "more than one in the section");
	expect_edit_error("a=mid", "a=mid:a b", CARDEA_SDP_ERROR_SYNTAX, "bad a=mid");
	expect_edit_error("a=mid", "a=mid:0123456789012345678901234567890123456789012345678901234567890123456789",
		CARDEA_SDP_ERROR_SYNTAX, "bad a=mid");
}

static void test_broken_attributes(void) {
	/* rtpmap */
	expect_edit_error("a=rtpmap:111", "a=rtpmap:111 opus", CARDEA_SDP_ERROR_SYNTAX, "line 14: bad a=rtpmap");
	expect_edit_error("a=rtpmap:111", "a=rtpmap:111 opus/", CARDEA_SDP_ERROR_SYNTAX, "bad a=rtpmap");
	expect_edit_error("a=rtpmap:111", "a=rtpmap:111 opus/0", CARDEA_SDP_ERROR_SYNTAX, "bad a=rtpmap");
	expect_edit_error("a=rtpmap:111", "a=rtpmap:111 opus/48000/0", CARDEA_SDP_ERROR_SYNTAX, "bad a=rtpmap (channels)");
	expect_edit_error("a=rtpmap:111", "a=rtpmap:111 opus/48000/2/1", CARDEA_SDP_ERROR_SYNTAX, "bad a=rtpmap");
	expect_edit_error("a=rtpmap:111", "a=rtpmap:111 opus/48000 x", CARDEA_SDP_ERROR_SYNTAX, "bad a=rtpmap");
	expect_edit_error("a=rtpmap:111", "a=rtpmap:111 /48000", CARDEA_SDP_ERROR_SYNTAX, "bad a=rtpmap");
	expect_edit_error("a=rtpmap:111", "a=rtpmap:abc opus/48000", CARDEA_SDP_ERROR_SYNTAX, "not in the m= line");
	expect_edit_error("a=rtpmap:111", "a=rtpmap:112 opus/48000", CARDEA_SDP_ERROR_SYNTAX, "not in the m= line");
	expect_edit_error("a=rtpmap:111", "a=rtpmap:300 opus/48000", CARDEA_SDP_ERROR_SYNTAX, "not in the m= line");
	expect_edit_error(NULL, "a=rtpmap:111 opus/48000/2", CARDEA_SDP_ERROR_SYNTAX, "bad a=rtpmap (duplicate)");
	/* fmtp */
	expect_edit_error(NULL, "a=fmtp:111", CARDEA_SDP_ERROR_SYNTAX, "bad a=fmtp");
	expect_edit_error(NULL, "a=fmtp:111 ", CARDEA_SDP_ERROR_SYNTAX, "bad a=fmtp");
	expect_edit_error(NULL, "a=fmtp:99 minptime=10", CARDEA_SDP_ERROR_SYNTAX, "bad a=fmtp (payload type not in");
	expect_edit_error(NULL, "a=fmtp:96 apt=300", CARDEA_SDP_ERROR_SYNTAX, "bad a=fmtp (parameters)");
	expect_edit_error(NULL, "a=fmtp:96 apt=x", CARDEA_SDP_ERROR_SYNTAX, "bad a=fmtp (parameters)");
	expect_edit_error(NULL, "a=fmtp:96 apt=111;apt=111", CARDEA_SDP_ERROR_SYNTAX, "bad a=fmtp (parameters)");
	expect_edit_error(NULL, "a=fmtp:111 =5", CARDEA_SDP_ERROR_SYNTAX, "bad a=fmtp (parameters)");
	expect_edit_error(NULL, "a=fmtp:111 minptime=", CARDEA_SDP_ERROR_SYNTAX, "bad a=fmtp (parameters)");
	expect_edit_error(NULL, "a=fmtp:111 a b=1", CARDEA_SDP_ERROR_SYNTAX, "bad a=fmtp (parameters)");
	expect_edit_error(NULL, "a=fmtp:111 x=1\r\na=fmtp:111 y=2", CARDEA_SDP_ERROR_SYNTAX, "bad a=fmtp (duplicate)");
	/* rtcp-fb */
	expect_edit_error(NULL, "a=rtcp-fb:111", CARDEA_SDP_ERROR_SYNTAX, "bad a=rtcp-fb");
	expect_edit_error(NULL, "a=rtcp-fb:99 nack", CARDEA_SDP_ERROR_SYNTAX, "bad a=rtcp-fb (payload type not in");
	/* extmap */
	expect_edit_error(NULL, "a=extmap:0 urn:x", CARDEA_SDP_ERROR_SYNTAX, "bad a=extmap (id)");
	expect_edit_error(NULL, "a=extmap:256 urn:x", CARDEA_SDP_ERROR_SYNTAX, "bad a=extmap (id)");
	expect_edit_error(NULL, "a=extmap:x urn:x", CARDEA_SDP_ERROR_SYNTAX, "bad a=extmap (id)");
	expect_edit_error(NULL, "a=extmap:1", CARDEA_SDP_ERROR_SYNTAX, "bad a=extmap");
	expect_edit_error(NULL, "a=extmap:1/sideways urn:x", CARDEA_SDP_ERROR_SYNTAX, "bad a=extmap (direction)");
	expect_edit_error(NULL, "a=extmap:1 urn:x\r\na=extmap:1 urn:y", CARDEA_SDP_ERROR_SYNTAX, "bad a=extmap (duplicate id)");
	/* rid */
	expect_edit_error(NULL, "a=rid:h sideways", CARDEA_SDP_ERROR_SYNTAX, "bad a=rid (direction)");
	expect_edit_error(NULL, "a=rid:h", CARDEA_SDP_ERROR_SYNTAX, "bad a=rid");
	expect_edit_error(NULL, "a=rid:h! send", CARDEA_SDP_ERROR_SYNTAX, "bad a=rid");
	expect_edit_error(NULL, "a=rid:h send pt=120", CARDEA_SDP_ERROR_SYNTAX, "bad a=rid (payload type not in");
	expect_edit_error(NULL, "a=rid:h send pt=111,", CARDEA_SDP_ERROR_SYNTAX, "bad a=rid (payload type not in");
	expect_edit_error(NULL, "a=rid:h send max-width", CARDEA_SDP_ERROR_SYNTAX, "bad a=rid (parameters)");
	expect_edit_error(NULL, "a=rid:h send max-width=", CARDEA_SDP_ERROR_SYNTAX, "bad a=rid (parameters)");
	expect_edit_error(NULL, "a=rid:h send pt=111;pt=96", CARDEA_SDP_ERROR_SYNTAX, "bad a=rid (parameters)");
	expect_edit_error(NULL, "a=rid:h send\r\na=rid:h recv", CARDEA_SDP_ERROR_SYNTAX, "bad a=rid (duplicate id)");
	/* simulcast */
	expect_edit_error(NULL, "a=rid:h send\r\na=simulcast:send", CARDEA_SDP_ERROR_SYNTAX, "bad a=simulcast");
	expect_edit_error(NULL, "a=rid:h send\r\na=simulcast:up h", CARDEA_SDP_ERROR_SYNTAX, "bad a=simulcast");
	expect_edit_error(NULL, "a=rid:h send\r\na=simulcast:send h;;m", CARDEA_SDP_ERROR_SYNTAX, "bad a=simulcast");
	expect_edit_error(NULL, "a=rid:h send\r\na=simulcast:send ~", CARDEA_SDP_ERROR_SYNTAX, "bad a=simulcast");
	expect_edit_error(NULL, "a=rid:h send\r\na=simulcast:send h send h", CARDEA_SDP_ERROR_SYNTAX, "bad a=simulcast");
	expect_edit_error(NULL, "a=rid:h send\r\na=simulcast:send h recv", CARDEA_SDP_ERROR_SYNTAX, "bad a=simulcast");
	expect_edit_error(NULL, "a=rid:h send\r\na=simulcast:send h x y", CARDEA_SDP_ERROR_SYNTAX, "bad a=simulcast");
	expect_edit_error(NULL, "a=rid:h send\r\na=simulcast:send h\r\na=simulcast:send h", CARDEA_SDP_ERROR_SYNTAX,
		"more than one");
	/* undeclared rid, and rid in the wrong direction: reported on the simulcast line */
	expect_edit_error(NULL, "a=simulcast:send x\r\na=rid:x recv", CARDEA_SDP_ERROR_SYNTAX,
		"line 16: bad a=simulcast (rid not declared");
	expect_edit_error(NULL, "a=rid:h send\r\na=simulcast:send h;x", CARDEA_SDP_ERROR_SYNTAX, "rid not declared");
	/* candidate */
	expect_edit_error(NULL, "a=candidate:1 1 udp 2122194687 127.0.0.1 54762", CARDEA_SDP_ERROR_SYNTAX, "bad a=candidate");
	expect_edit_error(NULL, "a=candidate:1 0 udp 1 127.0.0.1 1 typ host", CARDEA_SDP_ERROR_SYNTAX, "bad a=candidate");
	expect_edit_error(NULL, "a=candidate:1 1 udp 1 127.0.0.1 70000 typ host", CARDEA_SDP_ERROR_SYNTAX, "bad a=candidate");
	expect_edit_error(NULL, "a=candidate:1 1 udp 1 127.0.0.1 1 typ foo", CARDEA_SDP_ERROR_SYNTAX, "bad a=candidate");
	expect_edit_error(NULL, "a=candidate:1 1 udp 1 127.0.0.1 1 type host", CARDEA_SDP_ERROR_SYNTAX, "bad a=candidate");
	expect_edit_error(NULL, "a=candidate:1 1 udp 1 127.0.0.1 1 typ host generation", CARDEA_SDP_ERROR_SYNTAX,
		"bad a=candidate");
	expect_edit_error(NULL, "a=candidate:1 1 udp 1 127.0.0.1' 1 typ host", CARDEA_SDP_ERROR_SYNTAX, "bad a=candidate");
	expect_edit_error(NULL, "a=candidate:1 1 udp 4294967296 127.0.0.1 1 typ host", CARDEA_SDP_ERROR_SYNTAX,
		"bad a=candidate");
	expect_edit_error("a=group", "a=candidate:1 1 udp 1 127.0.0.1 1 typ host", CARDEA_SDP_ERROR_SYNTAX,
		"not allowed at session level");
	/* fingerprint, setup, ice */
	expect_edit_error("a=fingerprint", "a=fingerprint:sha-256 00:01", CARDEA_SDP_ERROR_SYNTAX,
		"bad a=fingerprint (wrong length for the hash)");
	expect_edit_error("a=fingerprint", "a=fingerprint:sha-256 0:01", CARDEA_SDP_ERROR_SYNTAX, "bad a=fingerprint");
	expect_edit_error("a=fingerprint", "a=fingerprint:sha-256 00:01:", CARDEA_SDP_ERROR_SYNTAX, "bad a=fingerprint");
	expect_edit_error("a=fingerprint", "a=fingerprint:sha-256 0G:01", CARDEA_SDP_ERROR_SYNTAX, "bad a=fingerprint");
	expect_edit_error("a=fingerprint", "a=fingerprint:sha-256", CARDEA_SDP_ERROR_SYNTAX, "bad a=fingerprint");
	expect_edit_error("a=setup", "a=setup:sideways", CARDEA_SDP_ERROR_SYNTAX, "bad a=setup");
	expect_edit_error(NULL, "a=setup:active", CARDEA_SDP_ERROR_SYNTAX, "bad a=setup (more than one");
	expect_edit_error("a=ice-ufrag", "a=ice-ufrag:ab;cd", CARDEA_SDP_ERROR_SYNTAX, "bad a=ice-ufrag");
	expect_edit_error(NULL, "a=ice-pwd:abcdefghijklmnopqrstuv", CARDEA_SDP_ERROR_SYNTAX, "bad a=ice-pwd (more than");
	expect_edit_error(NULL, "a=ice-options:trickle  x", CARDEA_SDP_ERROR_SYNTAX, "bad a=ice-options");
	expect_edit_error(NULL, "a=sendonly\r\na=recvonly", CARDEA_SDP_ERROR_SYNTAX, "bad a=recvonly (more than one direction)");
	/* ssrc, ssrc-group, msid */
	expect_edit_error(NULL, "a=ssrc:x cname:a", CARDEA_SDP_ERROR_SYNTAX, "bad a=ssrc");
	expect_edit_error(NULL, "a=ssrc:4294967296 cname:a", CARDEA_SDP_ERROR_SYNTAX, "bad a=ssrc");
	expect_edit_error(NULL, "a=ssrc:1", CARDEA_SDP_ERROR_SYNTAX, "bad a=ssrc");
	expect_edit_error(NULL, "a=ssrc:1 cname:", CARDEA_SDP_ERROR_SYNTAX, "bad a=ssrc");
	expect_edit_error(NULL, "a=ssrc:1 cname:a\r\na=ssrc:1 cname:b", CARDEA_SDP_ERROR_SYNTAX, "bad a=ssrc (cname)");
	expect_edit_error(NULL, "a=ssrc:1 msid:a b c", CARDEA_SDP_ERROR_SYNTAX, "bad a=ssrc (msid)");
	expect_edit_error(NULL, "a=ssrc-group:FID 1", CARDEA_SDP_ERROR_SYNTAX, "bad a=ssrc-group (needs two SSRCs)");
	expect_edit_error(NULL, "a=ssrc-group:FID 1 x", CARDEA_SDP_ERROR_SYNTAX, "bad a=ssrc-group");
	expect_edit_error(NULL, "a=ssrc-group:SIM", CARDEA_SDP_ERROR_SYNTAX, "bad a=ssrc-group");
	expect_edit_error(NULL, "a=msid:a b c", CARDEA_SDP_ERROR_SYNTAX, "bad a=msid");
	expect_edit_error(NULL, "a=msid:a  b", CARDEA_SDP_ERROR_SYNTAX, "bad a=msid");
	/* data channel */
	expect_edit_error(NULL, "a=sctp-port:x", CARDEA_SDP_ERROR_SYNTAX, "bad a=sctp-port");
	expect_edit_error(NULL, "a=sctp-port:65536", CARDEA_SDP_ERROR_SYNTAX, "bad a=sctp-port");
	expect_edit_error(NULL, "a=max-message-size:-1", CARDEA_SDP_ERROR_SYNTAX, "bad a=max-message-size");
	/* rtcp, group, msid-semantic */
	expect_edit_error(NULL, "a=rtcp:x", CARDEA_SDP_ERROR_SYNTAX, "bad a=rtcp");
	expect_edit_error(NULL, "a=rtcp:9 IN IP4", CARDEA_SDP_ERROR_SYNTAX, "bad a=rtcp");
	expect_edit_error("a=group", "a=group:BUNDLE 0  1", CARDEA_SDP_ERROR_SYNTAX, "bad a=group");
	expect_edit_error("a=group", "a=msid-semantic:", CARDEA_SDP_ERROR_SYNTAX, "bad a=msid-semantic");
	expect_edit_error("a=group", "a=msid-semantic: WMS\r\na=msid-semantic: WMS", CARDEA_SDP_ERROR_SYNTAX,
		"bad a=msid-semantic (more than one)");
}

static void test_validate(void) {
	cardea_sdp *s = parse_text(base_sdp, -1);
	const char *sdp_no_m = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
	char *two;
	validate_ok(s);
	cardea_sdp_free(s);

	expect_edit_invalid("a=fingerprint", NULL, "m-line 0 (mid 0): no a=fingerprint with sha-256");
	expect_edit_invalid("a=fingerprint", "a=fingerprint:sha-1 00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:"
		"10:11:12:13", "no a=fingerprint with sha-256");
	expect_edit_invalid("a=fingerprint", "a=fingerprint:md5 00:01", "no a=fingerprint");
	expect_edit_invalid("a=ice-ufrag", NULL, "missing or too short a=ice-ufrag");
	expect_edit_invalid("a=ice-ufrag", "a=ice-ufrag:abc", "missing or too short a=ice-ufrag");
	expect_edit_invalid("a=ice-pwd", NULL, "missing or too short a=ice-pwd");
	expect_edit_invalid("a=ice-pwd", "a=ice-pwd:short", "missing or too short a=ice-pwd");
	expect_edit_invalid("a=rtcp-mux", NULL, "no a=rtcp-mux");
	expect_edit_invalid("a=mid", NULL, "m-line 0: no a=mid");
	expect_edit_invalid("a=group", NULL, "not in the BUNDLE group");
	expect_edit_invalid("a=group", "a=group:BUNDLE 1", "not in the BUNDLE group");
	expect_edit_invalid("a=group", "a=group:BUNDLE 0 7", "the BUNDLE group names a mid no m-line has");
	expect_edit_invalid("m=", "m=audio 9 RTP/AVP 111 96", "unsupported transport protocol");
	expect_invalid(sdp_no_m, "no m-lines");

	/* Session-level credentials and fingerprint count for every m-line */
	two = edit_sdp(base_sdp, "a=ice-ufrag", NULL);
	{
		char *t2 = edit_sdp(two, "a=group", "a=group:BUNDLE 0\r\na=ice-ufrag:wxyz");
		cardea_sdp *s2 = parse_text(t2, -1);
		validate_ok(s2);
		g_assert_cmpstr(cardea_sdp_mline_ice_ufrag(s2, s2->mlines[0]), ==, "wxyz");
		cardea_sdp_free(s2);
		g_free(t2);
	}
	g_free(two);

	/* A rejected m-line (port 0) needs nothing; a bundle-only one does */
	two = edit_sdp(base_sdp, NULL, "m=video 0 UDP/TLS/RTP/SAVPF 96");
	s = parse_text(two, -1);
	validate_ok(s);
	g_assert_false(cardea_sdp_mline_is_active(s->mlines[1]));
	cardea_sdp_free(s);
	g_free(two);
	two = edit_sdp(base_sdp, NULL, "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=bundle-only\r\na=mid:1");
	expect_invalid(two, "m-line 1 (mid 1): missing or too short a=ice-ufrag");
	g_free(two);
	/* Duplicate mids built by hand (the parser refuses them in text) */
	s = parse_text(base_sdp, -1);
	{
		cardea_sdp_mline *m = cardea_sdp_mline_add(s, CARDEA_SDP_MEDIA_VIDEO, NULL);
		GError *err = NULL;
		m->mid = cardea_sdp_strdup(s, "0");
		g_assert_false(cardea_sdp_validate_webrtc(s, &err));
		g_assert_error(err, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_INVALID);
		g_assert_nonnull(strstr(err->message, "duplicate mid"));
		g_error_free(err);
	}
	cardea_sdp_free(s);
	/* A data channel m-line must be DTLS/SCTP */
	two = edit_sdp(base_sdp, "a=group", "a=group:BUNDLE 0 1");
	{
		char *t2 = edit_sdp(two, NULL, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:1\r\n"
			"a=sctp-port:5000");
		char *t3 = edit_sdp(two, NULL, "m=application 9 SCTP webrtc-datachannel\r\na=mid:1");
		s = parse_text(t2, -1);
		/* credentials only at m-line 0 here: m-line 1 lacks them */
		g_assert_false(cardea_sdp_validate_webrtc(s, NULL));
		cardea_sdp_free(s);
		expect_invalid(t3, "m-line 1 (mid 1): unsupported transport protocol");
		g_free(t2);
		g_free(t3);
	}
	g_free(two);
}

/* Unknown attributes and lines survive a round trip verbatim. */
static void test_unknown_kept(void) {
	char *text = edit_sdp(base_sdp, "t=", "i=info\r\nu=http://x\r\ne=a@b\r\nb=AS:300\r\nt=0 0\r\nr=7d 1h 0 25h\r\n"
		"a=x-session:1\r\na=sendrecv\r\na=ice-lite\r\na=extmap:3 urn:s");
	char *t2 = edit_sdp(text, NULL, "i=media info\r\nb=TIAS:128000\r\nk=prompt\r\na=x-media\r\na=ptime:20\r\n"
		"a=rtcp-fb:* nack\r\na=fmtp:111 x=1; y=2;\r\na=ssrc:5 label:abc\r\na=ssrc:5 foo\r\n"
		"a=extmap:2/recvonly urn:x attr1 attr2\r\na=extmap-allow-mixed\r\na=bundle-only\r\na=end-of-candidates");
	cardea_sdp *s = parse_text(t2, -1);
	const cardea_sdp_mline *m = s->mlines[0];
	char *w = check_roundtrip(s);
	assert_same_lines(t2, w);
	g_assert_cmpuint(s->n_lines, ==, 4);
	g_assert_cmpint(s->lines[3].type, ==, 'r');
	g_assert_cmpuint(s->bandwidths[0].value, ==, 300);
	g_assert_cmpstr(s->attributes[0].key, ==, "x-session");
	g_assert_cmpint(s->direction, ==, CARDEA_SDP_DIR_SENDRECV);
	g_assert_true(s->ice_lite);
	g_assert_cmpuint(s->extmaps[0].id, ==, 3);
	g_assert_cmpstr(m->bandwidths[0].type, ==, "TIAS");
	g_assert_cmpuint(m->n_lines, ==, 2);
	g_assert_cmpuint(m->n_attributes, ==, 2);
	g_assert_cmpstr(m->attributes[1].key, ==, "ptime");
	g_assert_cmpstr(m->attributes[1].value, ==, "20");
	g_assert_null(m->attributes[0].value);
	g_assert_cmpuint(m->n_fb_all, ==, 1);
	g_assert_cmpstr(payload(m, 111)->fmtp, ==, "x=1; y=2;");
	g_assert_cmpstr(cardea_sdp_payload_param(payload(m, 111), "y"), ==, "2");
	g_assert_cmpuint(cardea_sdp_find_ssrc(m, 5)->n_attrs, ==, 2);
	g_assert_null(cardea_sdp_find_ssrc(m, 5)->attrs[1].value);
	g_assert_cmpint(m->extmaps[0].direction, ==, CARDEA_SDP_DIR_RECVONLY);
	g_assert_cmpstr(m->extmaps[0].attributes, ==, "attr1 attr2");
	g_assert_true(m->extmap_allow_mixed);
	g_assert_true(m->bundle_only);
	g_assert_true(m->end_of_candidates);
	g_assert_cmpint(cardea_sdp_mline_direction(s, m), ==, CARDEA_SDP_DIR_SENDRECV);
	g_free(w);
	cardea_sdp_free(s);
	g_free(t2);
	g_free(text);

	/* rid with pt and params, paused simulcast alternatives, both directions */
	text = edit_sdp(base_sdp, NULL, "a=rid:a send pt=111,96;max-width=1280;max-fps=30\r\na=rid:b send\r\n"
		"a=rid:c recv max-br=1000\r\na=simulcast:recv c send a,~b");
	s = parse_text(text, -1);
	m = s->mlines[0];
	g_assert_cmpuint(m->rids[0].n_pts, ==, 2);
	g_assert_cmpuint(m->rids[0].pts[1], ==, 96);
	g_assert_cmpuint(m->rids[0].n_params, ==, 2);
	g_assert_cmpstr(m->rids[0].params[1].key, ==, "max-fps");
	g_assert_cmpuint(m->simulcast.n_send, ==, 1);
	g_assert_cmpuint(m->simulcast.send[0].n_alts, ==, 2);
	g_assert_true(m->simulcast.send[0].alts[1].paused);
	g_assert_cmpstr(m->simulcast.send[0].alts[1].rid, ==, "b");
	g_assert_cmpuint(m->simulcast.n_recv, ==, 1);
	g_free(check_roundtrip(s));
	cardea_sdp_free(s);
	g_free(text);
}

/* ---- Trickle candidates ---- */

static void test_find_codec(void) {
	cardea_sdp *s = parse_fixture("chromium-offer-audio-video.sdp");
	const cardea_sdp_mline *a = s->mlines[0], *v = s->mlines[1];
	const cardea_sdp_payload *p;

	g_assert_cmpuint(cardea_sdp_find_codec(v, "VP8", 90000, NULL)->pt, ==, 96);
	g_assert_cmpuint(cardea_sdp_find_codec(v, "vp8", 0, NULL)->pt, ==, 96);
	g_assert_null(cardea_sdp_find_codec(v, "VP8", 8000, NULL));
	g_assert_cmpuint(cardea_sdp_find_codec(v, "VP9", 0, NULL)->pt, ==, 98);
	g_assert_cmpuint(cardea_sdp_find_codec(v, "VP9", 0, "profile-id=0")->pt, ==, 98);
	g_assert_cmpuint(cardea_sdp_find_codec(v, "VP9", 0, "profile-id=2")->pt, ==, 100);
	g_assert_null(cardea_sdp_find_codec(v, "VP9", 0, "profile-id=1"));
	g_assert_cmpuint(cardea_sdp_find_codec(v, "AV1", 90000, "profile=0")->pt, ==, 45);
	g_assert_cmpuint(cardea_sdp_find_codec(v, "AV1", 90000, "")->pt, ==, 45);
	g_assert_null(cardea_sdp_find_codec(v, "AV1", 90000, "profile=1"));
	/* H.264: packetization-mode must match, the profile must match, the level need not */
	g_assert_cmpuint(cardea_sdp_find_codec(v, "H264", 90000, NULL)->pt, ==, 102);
	g_assert_cmpuint(cardea_sdp_find_codec(v, "H264", 0, "packetization-mode=1;profile-level-id=42e01f")->pt, ==, 108);
	g_assert_cmpuint(cardea_sdp_find_codec(v, "H264", 0, "profile-level-id=42e01f")->pt, ==, 114);
	g_assert_cmpuint(cardea_sdp_find_codec(v, "H264", 0, "packetization-mode=1;profile-level-id=42001f")->pt, ==, 102);
	g_assert_cmpuint(cardea_sdp_find_codec(v, "H264", 0, "packetization-mode=1;profile-level-id=4d0032")->pt, ==, 116);
	g_assert_cmpuint(cardea_sdp_find_codec(v, "H264", 0, "packetization-mode=1;profile-level-id=42e00a")->pt, ==, 108);
	g_assert_null(cardea_sdp_find_codec(v, "H264", 0, "packetization-mode=1;profile-level-id=640c1f"));
	g_assert_null(cardea_sdp_find_codec(v, "H264", 0, "packetization-mode=2"));
	g_assert_null(cardea_sdp_find_codec(v, "H264", 0, "profile-level-id=zz"));
	g_assert_null(cardea_sdp_find_codec(v, "H264", 0, "=bad"));
	/* rtx by apt */
	g_assert_cmpuint(cardea_sdp_find_codec(v, "rtx", 90000, "apt=96")->pt, ==, 97);
	g_assert_cmpuint(cardea_sdp_find_codec(v, "rtx", 90000, "apt=45")->pt, ==, 46);
	g_assert_null(cardea_sdp_find_codec(v, "rtx", 90000, "apt=120"));
	g_assert_null(cardea_sdp_find_rtx(v, 120));
	/* audio */
	p = cardea_sdp_find_codec(a, "opus", 48000, NULL);
	g_assert_cmpuint(p->pt, ==, 111);
	g_assert_cmpuint(cardea_sdp_find_codec(a, "telephone-event", 8000, NULL)->pt, ==, 126);
	g_assert_cmpuint(cardea_sdp_find_codec(a, "telephone-event", 48000, NULL)->pt, ==, 110);
	g_assert_null(cardea_sdp_find_codec(a, "VP8", 0, NULL));
	cardea_sdp_free(s);

	/* static payload types without a=rtpmap */
	s = parse_text("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 8 9 101\r\n", -1);
	a = s->mlines[0];
	g_assert_null(payload(a, 0)->name);
	g_assert_cmpstr(cardea_sdp_payload_name(payload(a, 0)), ==, "PCMU");
	g_assert_cmpuint(cardea_sdp_payload_clock(payload(a, 8)), ==, 8000);
	g_assert_null(cardea_sdp_payload_name(payload(a, 101)));
	g_assert_cmpuint(cardea_sdp_find_codec(a, "PCMA", 8000, NULL)->pt, ==, 8);
	g_assert_cmpuint(cardea_sdp_find_codec(a, "G722", 0, NULL)->pt, ==, 9);
	g_free(check_roundtrip(s));
	cardea_sdp_free(s);
}

static cardea_sdp_h264_plid plid(const char *s) {
	cardea_sdp_h264_plid p;
	g_assert_true(cardea_sdp_h264_plid_parse(s, &p));
	return p;
}

static void test_h264_plid(void) {
	cardea_sdp_h264_plid p, a, b;
	static const char *const bad[] = { "42e01", "42e01f0", "xyz123", "42e0 f", "+42e01" };
	guint i;

	p = plid("42e01f");
	g_assert_cmpuint(p.profile_idc, ==, 0x42);
	g_assert_cmpuint(p.profile_iop, ==, 0xe0);
	g_assert_cmpuint(p.level_idc, ==, 0x1f);
	p = plid("640C34");
	g_assert_cmpuint(p.profile_iop, ==, 0x0c);
	p = plid(NULL);
	g_assert_cmpuint(p.profile_idc, ==, 0x42);
	g_assert_cmpuint(p.level_idc, ==, 10);
	for (i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(cardea_sdp_h264_plid_parse(bad[i], &p));

	/* same profile: profile_idc and constraint flags, any level */
	a = plid("42e01f"), b = plid("42e00a");
	g_assert_true(cardea_sdp_h264_same_profile(&a, &b));
	b = plid("42001f");   /* Baseline vs Constrained Baseline */
	g_assert_false(cardea_sdp_h264_same_profile(&a, &b));
	b = plid("4d001f");
	g_assert_false(cardea_sdp_h264_same_profile(&a, &b));
	b = plid("42e31f");   /* reserved low bits are ignored */
	g_assert_true(cardea_sdp_h264_same_profile(&a, &b));
	a = plid("640c1f"), b = plid("64001f");
	g_assert_false(cardea_sdp_h264_same_profile(&a, &b));

	/* level: the sender's must not exceed the receiver's */
	a = plid("42e01f"), b = plid("42e02a");
	g_assert_true(cardea_sdp_h264_plid_compatible(&a, &b));
	g_assert_false(cardea_sdp_h264_plid_compatible(&b, &a));
	g_assert_true(cardea_sdp_h264_plid_compatible(&a, &a));
	b = plid("4d002a");
	g_assert_false(cardea_sdp_h264_plid_compatible(&a, &b));
	/* level 1b (constraint_set3 + level 11 in Baseline) sits between 1.0 and 1.1 */
	a = plid("42f00b"), b = plid("42e00a");
	g_assert_true(cardea_sdp_h264_same_profile(&a, &b));
	g_assert_false(cardea_sdp_h264_plid_compatible(&a, &b));
	g_assert_true(cardea_sdp_h264_plid_compatible(&b, &a));
	b = plid("42e00b");
	g_assert_true(cardea_sdp_h264_plid_compatible(&a, &b));
	g_assert_false(cardea_sdp_h264_plid_compatible(&b, &a));
	/* High profile level 1b is level_idc 9 */
	a = plid("640009"), b = plid("64000a");
	g_assert_false(cardea_sdp_h264_plid_compatible(&a, &b));
	b = plid("64000b");
	g_assert_true(cardea_sdp_h264_plid_compatible(&a, &b));
}

static void test_pt_map(void) {
	cardea_sdp *chrome = parse_fixture("chromium-offer-audio-video.sdp");
	cardea_sdp *aiortc = parse_fixture("aiortc-offer-audio-video.sdp");
	cardea_sdp_pt_map map;
	guint i;

	/* video: Chromium's PTs -> aiortc's */
	cardea_sdp_pt_map_build(&map, chrome->mlines[1], aiortc->mlines[1]);
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 96), ==, 97);    /* VP8 */
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 97), ==, 98);    /* its rtx */
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 102), ==, 99);   /* H264 pm1 42001f */
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 103), ==, 100);
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 108), ==, 101);  /* H264 pm1 42e01f */
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 109), ==, 102);
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 104), ==, -1);   /* pm0: aiortc has none */
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 107), ==, -1);
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 45), ==, -1);    /* AV1 */
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 116), ==, -1);   /* Main profile */
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 200), ==, -1);
	for (i = 0; i < 128; i++) {
		if (cardea_sdp_find_payload(chrome->mlines[1], i) == NULL)
			g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, i), ==, -1);
	}
	/* and back */
	cardea_sdp_pt_map_build(&map, aiortc->mlines[1], chrome->mlines[1]);
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 97), ==, 96);
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 98), ==, 97);
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 101), ==, 108);
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 102), ==, 109);
	/* audio: opus 111 -> 96, static PCMU/PCMA keep 0/8, G722 unmapped */
	cardea_sdp_pt_map_build(&map, chrome->mlines[0], aiortc->mlines[0]);
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 111), ==, 96);
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 0), ==, 0);
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 8), ==, 8);
	g_assert_cmpint(cardea_sdp_pt_map_lookup(&map, 9), ==, -1);
	/* audio vs video: nothing in common */
	cardea_sdp_pt_map_build(&map, chrome->mlines[0], aiortc->mlines[1]);
	for (i = 0; i < 128; i++)
		g_assert_cmpint(map.pt[i], ==, -1);
	g_assert_true(cardea_sdp_codec_match(payload(chrome->mlines[0], 111), payload(aiortc->mlines[0], 96)));
	g_assert_false(cardea_sdp_codec_match(payload(chrome->mlines[0], 111), payload(aiortc->mlines[0], 0)));
	cardea_sdp_free(aiortc);
	cardea_sdp_free(chrome);
}

/* ---- Building a gateway offer ---- */

static void test_builder(void) {
	cardea_sdp *s = cardea_sdp_new(), *back;
	cardea_sdp_mline *a, *v, *d;
	cardea_sdp_payload *p;
	cardea_sdp_group *g;
	cardea_sdp_candidate *cand;
	guint8 digest[32];
	guint32 fid[2] = { 1111, 2222 };
	char *text;
	guint i;

	for (i = 0; i < sizeof(digest); i++)
		digest[i] = (guint8)(i * 7);
	s->origin.sess_id = 42;
	s->ice_ufrag = cardea_sdp_strdup(s, "gw01");
	s->ice_pwd = cardea_sdp_strdup(s, "abcdefghijklmnopqrstuvwx");
	s->ice_options = cardea_sdp_strdup(s, "trickle");
	s->msid_semantic = cardea_sdp_strdup(s, "WMS");
	s->msid_semantic_ids = cardea_sdp_strdup(s, "*");
	s->extmap_allow_mixed = TRUE;
	g_assert_nonnull(cardea_sdp_fingerprint_add(s, NULL, CARDEA_SDP_HASH_SHA256, digest, sizeof(digest)));
	g_assert_null(cardea_sdp_fingerprint_add(s, NULL, CARDEA_SDP_HASH_SHA256, digest, 0));
	s->setup = CARDEA_SDP_SETUP_ACTPASS;

	a = cardea_sdp_mline_add(s, CARDEA_SDP_MEDIA_AUDIO, NULL);
	a->mid = cardea_sdp_strdup(s, "0");
	a->direction = CARDEA_SDP_DIR_SENDONLY;
	a->rtcp_mux = TRUE;
	p = cardea_sdp_payload_add(s, a, 111, "opus", 48000, 2);
	g_assert_true(cardea_sdp_payload_set_fmtp(s, p, "minptime=10;useinbandfec=1"));
	g_assert_false(cardea_sdp_payload_set_fmtp(s, p, "=broken"));
	g_assert_cmpstr(p->fmtp, ==, "minptime=10;useinbandfec=1");
	cardea_sdp_payload_add_fb(s, p, "transport-cc", NULL);
	g_assert_null(cardea_sdp_payload_add(s, a, 111, "opus", 48000, 2));
	g_assert_null(cardea_sdp_payload_add(s, a, 128, "x", 1, 0));
	cardea_sdp_extmap_add(s, a, 1, cardea_sdp_ext_uri(CARDEA_SDP_EXT_AUDIO_LEVEL));
	cardea_sdp_extmap_add(s, a, 4, cardea_sdp_ext_uri(CARDEA_SDP_EXT_MID));
	cardea_sdp_msid_add(s, a, "cardea", "cardea0");
	cardea_sdp_ssrc_add(s, a, 999, "cardea", NULL, NULL);
	cardea_sdp_attribute_add(s, a, "ptime", "20");

	v = cardea_sdp_mline_add(s, CARDEA_SDP_MEDIA_VIDEO, NULL);
	v->mid = cardea_sdp_strdup(s, "1");
	v->direction = CARDEA_SDP_DIR_SENDONLY;
	v->rtcp_mux = TRUE;
	v->rtcp_rsize = TRUE;
	p = cardea_sdp_payload_add(s, v, 96, "VP8", 90000, 0);
	cardea_sdp_payload_add_fb(s, p, "nack", NULL);
	cardea_sdp_payload_add_fb(s, p, "nack", "pli");
	cardea_sdp_payload_add_fb(s, p, "ccm", "fir");
	cardea_sdp_payload_add_fb(s, p, "goog-remb", NULL);
	p = cardea_sdp_payload_add(s, v, 97, "rtx", 90000, 0);
	cardea_sdp_payload_set_fmtp(s, p, "apt=96");
	g_assert_cmpint(p->apt, ==, 96);
	p = cardea_sdp_payload_add(s, v, 102, "H264", 90000, 0);
	cardea_sdp_payload_set_fmtp(s, p, "packetization-mode=1;profile-level-id=42e01f");
	p = cardea_sdp_payload_add(s, v, 103, "rtx", 90000, 0);
	cardea_sdp_payload_set_fmtp(s, p, "apt=102");
	cardea_sdp_extmap_add(s, v, 4, cardea_sdp_ext_uri(CARDEA_SDP_EXT_MID));
	cardea_sdp_extmap_add(s, v, 10, cardea_sdp_ext_uri(CARDEA_SDP_EXT_RID));
	cardea_sdp_extmap_add(s, v, 11, cardea_sdp_ext_uri(CARDEA_SDP_EXT_REPAIRED_RID));
	cardea_sdp_msid_add(s, v, "cardea", "cardea1");
	cardea_sdp_ssrc_group_add(s, v, "FID", fid, 2);
	cardea_sdp_ssrc_add(s, v, 1111, "cardea", "cardea", "cardea1");
	cardea_sdp_ssrc_add(s, v, 2222, "cardea", "cardea", "cardea1");
	cardea_sdp_rid_add(s, v, "h", CARDEA_SDP_RID_RECV);
	cardea_sdp_rid_add(s, v, "l", CARDEA_SDP_RID_RECV);
	cardea_sdp_simulcast_add(s, v, CARDEA_SDP_RID_RECV, "h", FALSE);
	cardea_sdp_simulcast_add(s, v, CARDEA_SDP_RID_RECV, "l", TRUE);

	d = cardea_sdp_mline_add(s, CARDEA_SDP_MEDIA_APPLICATION, NULL);
	d->mid = cardea_sdp_strdup(s, "2");
	d->sctp_port = 5000;
	d->max_message_size = 262144;

	g = cardea_sdp_group_add(s, "BUNDLE");
	for (i = 0; i < s->n_mlines; i++) {
		cardea_sdp_group_add_mid(s, g, s->mlines[i]->mid);
		g_assert_cmpuint(s->mlines[i]->index, ==, i);
	}
	cand = cardea_sdp_candidate_parse("candidate:1 1 udp 2015363327 192.0.2.2 25028 typ host", NULL);
	for (i = 0; i < s->n_mlines; i++) {
		cardea_sdp_candidate_add(s, s->mlines[i], cand);
		s->mlines[i]->end_of_candidates = TRUE;
	}
	cardea_sdp_candidate_free(cand);
	validate_ok(s);

	text = cardea_sdp_write(s);
	back = parse_text(text, -1);
	validate_ok(back);
	g_assert_cmpuint(back->origin.sess_id, ==, 42);
	g_assert_cmpuint(back->n_mlines, ==, 3);
	g_assert_cmpint(back->mlines[0]->direction, ==, CARDEA_SDP_DIR_SENDONLY);
	g_assert_cmpuint(cardea_sdp_find_extmap(back->mlines[1], CARDEA_SDP_EXT_RID), ==, 10);
	g_assert_cmpint(payload(back->mlines[1], 103)->apt, ==, 102);
	g_assert_cmpuint(back->mlines[1]->simulcast.n_recv, ==, 2);
	g_assert_true(back->mlines[1]->simulcast.recv[1].alts[0].paused);
	g_assert_cmpstr(back->mlines[2]->fmt, ==, "webrtc-datachannel");
	g_assert_cmpint(back->mlines[2]->sctp_port, ==, 5000);
	g_assert_cmpstr(back->mlines[2]->candidates[0].address, ==, "192.0.2.2");
	g_assert_cmpmem(cardea_sdp_mline_fingerprint(back, back->mlines[2])->digest, 32, digest, 32);
	g_assert_nonnull(strstr(text, "a=fingerprint:sha-256 00:07:0E:15:"));
	g_assert_nonnull(strstr(text, "a=simulcast:recv h;~l\r\n"));
	g_free(check_roundtrip(back));
	cardea_sdp_free(back);
	g_free(text);

	/* Narrowing to one codec for an answer */
	g_assert_true(cardea_sdp_payload_remove(v, 102));
	g_assert_true(cardea_sdp_payload_remove(v, 103));
	g_assert_false(cardea_sdp_payload_remove(v, 103));
	g_assert_cmpuint(v->n_payloads, ==, 2);
	p = cardea_sdp_payload_add(s, v, 35, "AV1", 90000, 0);
	g_assert_cmpuint(v->n_payloads, ==, 3);
	g_assert_true(p == &v->payloads[2]);
	g_assert_cmpuint(p->n_fb, ==, 0);
	g_assert_null(p->fmtp);
	back = cardea_sdp_copy(s);
	g_assert_nonnull(back);
	g_assert_cmpuint(back->mlines[1]->n_payloads, ==, 3);
	g_assert_cmpuint(back->mlines[1]->payloads[2].pt, ==, 35);
	cardea_sdp_free(back);

	/* A model the parser would refuse can't be copied */
	v->mid = cardea_sdp_strdup(s, "bad mid");
	g_assert_null(cardea_sdp_copy(s));
	cardea_sdp_free(s);
	cardea_sdp_free(NULL);
}

/* ---- Robustness ---- */

/* Whatever parses must write, re-parse and write back identically. */
static void exercise(const char *text, gsize len) {
	cardea_sdp *s = cardea_sdp_parse(text, len, NULL, NULL);
	guint i;
	if (s == NULL)
		return;
	cardea_sdp_validate_webrtc(s, NULL);
	for (i = 0; i < s->n_mlines; i++) {
		cardea_sdp_pt_map map;
		cardea_sdp_find_codec(s->mlines[i], "H264", 0, "packetization-mode=1;profile-level-id=42e01f");
		cardea_sdp_pt_map_build(&map, s->mlines[i], s->mlines[0]);
		cardea_sdp_mline_fingerprint(s, s->mlines[i]);
	}
	g_free(check_roundtrip(s));
	cardea_sdp_free(s);
}

static void test_truncation(void) {
	guint f, first = g_test_slow() ? 0 : 1, last = g_test_slow() ? G_N_ELEMENTS(fixtures) : 2;
	for (f = first; f < last; f++) {
		gsize len, i;
		char *text = load_fixture(fixtures[f], &len);
		/* Exact-size copies so ASan sees any read past `len` */
		for (i = 0; i <= len; i++) {
			char *cut = g_malloc(i ? i : 1);
			memcpy(cut, text, i);
			exercise(cut, i);
			g_free(cut);
		}
		g_free(text);
	}
}

static void test_garbage(void) {
	GRand *r = g_rand_new_with_seed(0xCA4DEA);
	guint iter, n = g_test_slow() ? 20000 : 1000;
	for (iter = 0; iter < n; iter++) {
		gsize len = (gsize)g_rand_int_range(r, 1, 600), i;
		guint8 *buf = g_malloc(len);
		for (i = 0; i < len; i++)
			buf[i] = (guint8)g_rand_int_range(r, 0, 256);
		/* Half the time, start like an SDP so the parser gets further */
		if (iter % 2 == 0 && len > 6)
			memcpy(buf, "v=0\r\no=", 6);
		g_assert_null(cardea_sdp_parse((const char *)buf, len, NULL, NULL));
		g_free(buf);
	}
	g_rand_free(r);
}

/* A tiny mutation fuzzer over the fixtures: byte flips, SDP-ish bytes,
 * deletions, insertions and line duplications. */
static void test_mutations(void) {
	static const char interesting[] = " :=/;,~\r\n\t0129a*-";
	GRand *r = g_rand_new_with_seed(0x5D9);
	GPtrArray *texts = g_ptr_array_new_with_free_func(g_free);
	GArray *lens = g_array_new(FALSE, FALSE, sizeof(gsize));
	guint iter, n = g_test_slow() ? 100000 : 4000, f, parsed = 0;

	for (f = 0; f < G_N_ELEMENTS(fixtures); f++) {
		gsize len;
		g_ptr_array_add(texts, load_fixture(fixtures[f], &len));
		g_array_append_val(lens, len);
	}
	for (iter = 0; iter < n; iter++) {
		guint k = (guint)g_rand_int_range(r, 0, (gint32)texts->len), m, muts = (guint)g_rand_int_range(r, 1, 5);
		GString *b = g_string_new_len(texts->pdata[k], (gssize)g_array_index(lens, gsize, k));
		for (m = 0; m < muts && b->len > 1; m++) {
			gsize pos = (gsize)g_rand_int_range(r, 0, (gint32)b->len);
			char c = g_rand_boolean(r) ? interesting[g_rand_int_range(r, 0, sizeof(interesting) - 1)]
				: (char)g_rand_int_range(r, 0, 256);
			switch (g_rand_int_range(r, 0, 4)) {
			case 0: b->str[pos] = c; break;
			case 1: g_string_erase(b, (gssize)pos, 1); break;
			case 2: g_string_insert_len(b, (gssize)pos, &c, 1); break;
			default: {
				/* duplicate the line at pos */
				gsize s = pos, e = pos;
				while (s > 0 && b->str[s - 1] != '\n')
					s--;
				while (e < b->len && b->str[e] != '\n')
					e++;
				if (e < b->len) {
					GString *line = g_string_new_len(b->str + s, (gssize)(e - s + 1));
					g_string_insert_len(b, (gssize)e + 1, line->str, (gssize)line->len);
					g_string_free(line, TRUE);
				}
			}
			}
		}
		{
			cardea_sdp *s = cardea_sdp_parse(b->str, b->len, NULL, NULL);
			if (s != NULL) {
				parsed++;
				cardea_sdp_free(s);
			}
		}
		exercise(b->str, b->len);
		g_string_free(b, TRUE);
	}
	g_test_message("%u of %u mutants parsed", parsed, n);
	g_array_unref(lens);
	g_ptr_array_unref(texts);
	g_rand_free(r);
}

int main(int argc, char **argv) {
	guint i;
	g_test_init(&argc, &argv, NULL);
	for (i = 0; i < G_N_ELEMENTS(fixtures); i++) {
		char *path = g_strdup_printf("/sdp/fixture/%s", fixtures[i]);
		g_test_add_data_func(path, fixtures[i], test_fixture);
		g_free(path);
	}
	g_test_add_func("/sdp/fields/chromium-offer", test_chromium_offer);
	g_test_add_func("/sdp/fields/chromium-gathered", test_chromium_gathered);
	g_test_add_func("/sdp/fields/simulcast", test_chromium_simulcast);
	g_test_add_func("/sdp/fields/datachannel", test_datachannel);
	g_test_add_func("/sdp/fields/janus-answers", test_janus_answers);
	g_test_add_func("/sdp/fields/videoroom", test_videoroom);
	g_test_add_func("/sdp/fields/aiortc", test_aiortc);
	g_test_add_func("/sdp/fields/unknown-kept", test_unknown_kept);
	g_test_add_func("/sdp/broken/framing", test_broken_framing);
	g_test_add_func("/sdp/broken/line-endings", test_line_endings);
	g_test_add_func("/sdp/broken/limits", test_limits);
	g_test_add_func("/sdp/broken/mline", test_broken_mline);
	g_test_add_func("/sdp/broken/attributes", test_broken_attributes);
	g_test_add_func("/sdp/validate", test_validate);
	g_test_add_func("/sdp/codec/find", test_find_codec);
	g_test_add_func("/sdp/codec/h264-plid", test_h264_plid);
	g_test_add_func("/sdp/codec/pt-map", test_pt_map);
	g_test_add_func("/sdp/builder", test_builder);
	g_test_add_func("/sdp/robust/truncation", test_truncation);
	g_test_add_func("/sdp/robust/garbage", test_garbage);
	g_test_add_func("/sdp/robust/mutations", test_mutations);
	return g_test_run();
}
