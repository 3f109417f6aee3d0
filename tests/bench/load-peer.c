/* cardea-load media: one PeerConnection per peer on the core's own ICE,
 * DTLS-SRTP, RTP/RTCP and SDP code. No media is encoded or decoded:
 * publishers send VP8-shaped and Opus-shaped synthetic payloads whose last
 * 12 bytes carry "CLD1" + the send time (CLOCK_MONOTONIC us, shared by every
 * process on the host), subscribers decrypt and count.
 * Worker thread only (see load.h). */
#include <string.h>
#include "load.h"
#include "webrtc/ice.h"
#include "webrtc/dtls.h"
#include "webrtc/srtp.h"
#include "webrtc/rtp.h"
#include "webrtc/rtcp.h"
#include "cardea/sdp.h"

#define MID_EXT_ID 4
#define TAIL_LEN 12
#define PKT_CAP 1500

/* The addresses we gather on: --ice-ip, else the host's own addresses
 * filtered like the gateways do (no loopback: Janus never gathers on it, and
 * the kernel drops replies from a host address to 127.0.0.1). */
static char **local_addrs;

void load_peer_media_init(void) {
	if (load_opt.ice_ip) {
		local_addrs = g_new0(char *, 2);
		local_addrs[0] = g_strdup(load_opt.ice_ip);
	} else {
		local_addrs = cardea_ice_local_addresses(NULL, "vmnet", FALSE, FALSE);
	}
	GError *err = NULL;
	if (!cardea_dtls_context_init(NULL, NULL, NULL, &err))
		g_error("cardea-load: DTLS context: %s", err->message);
}

/* ---- DTLS ---- */

static gboolean dtls_timer_cb(gpointer data);

static void drop_source(GSource **src);

static void dtls_rearm(load_peer *p) {
	drop_source(&p->dtls_timer);
	if (!p->dtls)
		return;
	gint64 ms = cardea_dtls_timeout_ms(p->dtls);
	if (ms < 0)
		return;
	p->dtls_timer = g_timeout_source_new((guint)ms);
	g_source_set_callback(p->dtls_timer, dtls_timer_cb, p, NULL);
	g_source_attach(p->dtls_timer, p->worker->context);
}

static gboolean dtls_timer_cb(gpointer data) {
	load_peer *p = data;
	GSource *self = p->dtls_timer;
	p->dtls_timer = NULL;
	if (p->dtls)
		cardea_dtls_handle_timeout(p->dtls);
	g_source_unref(self);
	dtls_rearm(p);
	return G_SOURCE_REMOVE;
}

static void dtls_send_cb(cardea_dtls *d, const guint8 *buf, gsize len, gpointer data) {
	load_peer *p = data;
	if (p->ice)
		cardea_ice_send(p->ice, buf, len);
}

static void start_sending(load_peer *p);

static void dtls_state_cb(cardea_dtls *d, cardea_dtls_state st, const char *reason, gpointer data) {
	load_peer *p = data;
	if (st == CARDEA_DTLS_STATE_CONNECTED) {
		p->srtp_ready = TRUE;
		p->state = PEER_UP;
		if (p->publisher)
			start_sending(p);
	} else if (st == CARDEA_DTLS_STATE_FAILED || st == CARDEA_DTLS_STATE_CLOSED) {
		p->srtp_ready = FALSE;
		load_peer_fail(p, "DTLS %s: %s", cardea_dtls_state_name(st), reason ? reason : "?");
	}
}

/* ---- publisher: synthetic RTP ---- */

static gsize rtp_header(load_peer *p, guint8 *b, guint8 pt, guint16 seq, guint32 ts, guint32 ssrc,
		gboolean marker, char mid) {
	b[0] = 0x90;   /* V=2, X=1 */
	b[1] = (guint8)((marker ? 0x80 : 0) | pt);
	b[2] = (guint8)(seq >> 8);
	b[3] = (guint8)seq;
	b[4] = (guint8)(ts >> 24);
	b[5] = (guint8)(ts >> 16);
	b[6] = (guint8)(ts >> 8);
	b[7] = (guint8)ts;
	b[8] = (guint8)(ssrc >> 24);
	b[9] = (guint8)(ssrc >> 16);
	b[10] = (guint8)(ssrc >> 8);
	b[11] = (guint8)ssrc;
	/* one-byte extension block with the mid, as browsers send it */
	static const guint8 ext[4] = { 0xBE, 0xDE, 0x00, 0x01 };
	memcpy(b + 12, ext, 4);
	b[16] = (MID_EXT_ID << 4) | 0;
	b[17] = (guint8)mid;
	b[18] = b[19] = 0;
	return 20;
}

static void put_tail(guint8 *end) {
	gint64 now = load_now_us();
	memcpy(end, "CLD1", 4);
	for (int i = 0; i < 8; i++)
		end[4 + i] = (guint8)((guint64)now >> (56 - 8 * i));
}

static void send_rtp(load_peer *p, guint8 *b, gsize len, gboolean keep) {
	cardea_srtp *s = cardea_dtls_get_srtp(p->dtls);
	if (!s || cardea_srtp_protect_rtp(s, b, &len, PKT_CAP) != CARDEA_SRTP_OK)
		return;
	if (keep) {
		guint16 seq = (guint16)((b[2] << 8) | b[3]);
		guint slot = seq % LOAD_RTX_SLOTS;
		memcpy(p->rtx_buf + (gsize)slot * PKT_CAP, b, len);
		p->rtx_len[slot] = (guint16)len;
		p->rtx_seq[slot] = seq;
	}
	cardea_ice_send(p->ice, b, len);
	p->sent_packets++;
}

static void send_video_frame(load_peer *p, gint64 now) {
	int per_frame = MAX(1, load_opt.video_pps / MAX(1, load_opt.fps));
	gsize payload = (gsize)load_opt.video_kbps * 1000 / 8 / MAX(1, load_opt.video_pps);
	payload = CLAMP(payload, 24, 1150);
	gboolean key = p->want_keyframe || p->frames == 0 ||
		(load_opt.keyframe_s > 0 && p->frames % ((guint64)load_opt.fps * load_opt.keyframe_s) == 0);
	p->want_keyframe = FALSE;
	int n = key ? per_frame * 3 : per_frame;   /* keyframes are 3x larger */
	guint32 ts = (guint32)((now - p->media_start_us) * 90 / 1000) + p->video_ssrc;
	guint8 b[PKT_CAP];
	for (int i = 0; i < n; i++) {
		gsize h = rtp_header(p, b, p->video_pt, p->video_seq++, ts, p->video_ssrc, i == n - 1, '1');
		gsize off = h;
		b[off++] = i == 0 ? 0x10 : 0x00;   /* VP8 descriptor: S=1 on the first packet, PID 0 */
		if (i == 0) {
			/* VP8 frame tag: bit 0 clear = keyframe; show_frame set */
			b[off++] = key ? 0x10 : 0x11;
			b[off++] = 0x02;
			b[off++] = 0x00;
			if (key) {
				static const guint8 kf[7] = { 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01 };  /* 640x360 */
				memcpy(b + off, kf, sizeof(kf));
				off += sizeof(kf);
			}
		}
		gsize end = h + payload;
		if (end < off + TAIL_LEN)
			end = off + TAIL_LEN;
		memset(b + off, 0x5a, end - off - TAIL_LEN);
		put_tail(b + end - TAIL_LEN);
		send_rtp(p, b, end, TRUE);
	}
	p->frames++;
}

static void send_audio_frame(load_peer *p, gint64 now) {
	gsize payload = (gsize)load_opt.audio_kbps * 1000 / 8 / 50;
	payload = CLAMP(payload, TAIL_LEN + 1, 1000);
	guint32 ts = (guint32)((now - p->media_start_us) * 48 / 1000) + p->audio_ssrc;
	guint8 b[PKT_CAP];
	gsize h = rtp_header(p, b, p->audio_pt, p->audio_seq++, ts, p->audio_ssrc, FALSE, '0');
	b[h] = 0xfc;   /* Opus TOC: CELT FB 20 ms, one frame */
	memset(b + h + 1, 0x33, payload - 1 - TAIL_LEN);
	put_tail(b + h + payload - TAIL_LEN);
	send_rtp(p, b, h + payload, FALSE);
	p->audio_frames++;
}

/* Timers fire late under load: send every frame that is due (at most a few
 * at once) so the configured rate holds on average. */
static gboolean video_tick(gpointer data) {
	load_peer *p = data;
	gint64 now = load_now_us();
	guint64 due = (guint64)((now - p->media_start_us) * load_opt.fps / 1000000) + 1;
	for (int i = 0; i < 3 && p->frames < due; i++)
		send_video_frame(p, now);
	if (p->frames < due) {
		p->frames_skipped += due - p->frames;
		p->frames = due;   /* too far behind: skip rather than burst */
	}
	return G_SOURCE_CONTINUE;
}

static gboolean audio_tick(gpointer data) {
	load_peer *p = data;
	gint64 now = load_now_us();
	guint64 due = (guint64)((now - p->media_start_us) / 20000) + 1;
	for (int i = 0; i < 3 && p->audio_frames < due; i++)
		send_audio_frame(p, now);
	if (p->audio_frames < due) {
		p->frames_skipped += due - p->audio_frames;
		p->audio_frames = due;
	}
	return G_SOURCE_CONTINUE;
}

static void start_sending(load_peer *p) {
	if (p->audio_timer)
		return;
	p->media_start_us = load_now_us();
	p->audio_timer = g_timeout_source_new(20);
	g_source_set_callback(p->audio_timer, audio_tick, p, NULL);
	g_source_attach(p->audio_timer, p->worker->context);
	if (!load_opt.audio_only) {
		p->video_timer = g_timeout_source_new(MAX(1, 1000 / MAX(1, load_opt.fps)));
		g_source_set_callback(p->video_timer, video_tick, p, NULL);
		g_source_attach(p->video_timer, p->worker->context);
	}
}

static void publisher_rtcp(load_peer *p, guint8 *buf, gsize len) {
	cardea_rtcp_iter it;
	cardea_rtcp_pkt pkt;
	if (cardea_rtcp_iter_init(&it, buf, len) != CARDEA_RTCP_OK)
		return;
	while (cardea_rtcp_next(&it, &pkt)) {
		if (pkt.pt == 206 && (pkt.count == 1 || pkt.count == 4)) {
			p->plis++;
			p->want_keyframe = TRUE;
		} else if (pkt.pt == 205 && pkt.count == 1 && p->rtx_buf) {
			cardea_rtcp_fb fb;
			guint16 seqs[256];
			size_t n = 0;
			cardea_rtcp_parse_nack(&pkt, &fb, seqs, G_N_ELEMENTS(seqs), &n);
			p->nacks++;
			for (size_t i = 0; i < n; i++) {
				guint slot = seqs[i] % LOAD_RTX_SLOTS;
				if (p->rtx_len[slot] && p->rtx_seq[slot] == seqs[i]) {
					cardea_ice_send(p->ice, p->rtx_buf + (gsize)slot * PKT_CAP, p->rtx_len[slot]);
					p->retransmitted++;
				}
			}
		}
	}
}

/* ---- subscriber: counting ---- */

static load_stream *find_stream(load_peer *p, guint32 ssrc, guint8 pt) {
	for (int i = 0; i < p->n_streams; i++)
		if (p->streams[i].ssrc == ssrc)
			return &p->streams[i];
	if (p->n_streams >= LOAD_MAX_STREAMS)
		return NULL;
	load_stream *s = &p->streams[p->n_streams++];
	memset(s, 0, sizeof(*s));
	s->ssrc = ssrc;
	s->clock = p->pt_clock_kind[pt & 0x7f] == 2 ? 90000 : 48000;
	return s;
}

static void subscriber_rtp(load_peer *p, guint8 *buf, gsize len, gint64 now) {
	cardea_rtp_info info;
	if (cardea_rtp_parse(buf, len, &info) != CARDEA_RTP_OK)
		return;
	load_stream *s = find_stream(p, info.ssrc, info.pt);
	if (!s)
		return;
	gint64 seq = cardea_seq_unwrap(&s->unwrap, info.seq);
	if (!s->started) {
		s->started = TRUE;
		s->first_seq = s->max_seq = seq;
	} else if (seq > s->max_seq) {
		s->max_seq = seq;
	}
	s->received++;
	s->bytes += len;
	/* RFC 3550 A.8 interarrival jitter */
	gint64 arrival = now * (gint64)s->clock / 1000000;
	gint64 transit = arrival - (gint64)info.timestamp;
	if (s->received > 1) {
		gint64 d = transit - s->last_transit;
		if (d < 0)
			d = -d;
		s->jitter += ((double)d - s->jitter) / 16.0;
	}
	s->last_transit = transit;
	if (p->first_media_us == 0)
		p->first_media_us = now;
	if (info.payload_len >= TAIL_LEN) {
		const guint8 *t = buf + info.payload_offset + info.payload_len - TAIL_LEN;
		if (memcmp(t, "CLD1", 4) == 0) {
			guint64 sent = 0;
			for (int i = 0; i < 8; i++)
				sent = (sent << 8) | t[4 + i];
			gint64 d = now - (gint64)sent;
			if (d >= 0) {
				guint64 b = (guint64)d / 10;
				p->worker->delay_hist[MIN(b, (guint64)LOAD_DELAY_BUCKETS)]++;
			}
		}
	}
}

static void ice_receive_cb(cardea_ice *ice, guint8 *buf, gsize len, void *data) {
	load_peer *p = data;
	switch (cardea_packet_classify(buf, len)) {
	case CARDEA_PACKET_DTLS:
		if (p->dtls) {
			cardea_dtls_incoming(p->dtls, buf, len);
			dtls_rearm(p);
		}
		break;
	case CARDEA_PACKET_RTP: {
		cardea_srtp *s = p->srtp_ready ? cardea_dtls_get_srtp(p->dtls) : NULL;
		if (!s || p->publisher)
			break;
		if (cardea_srtp_unprotect_rtp(s, buf, &len) != CARDEA_SRTP_OK) {
			p->srtp_errors++;
			break;
		}
		subscriber_rtp(p, buf, len, load_now_us());
		break;
	}
	case CARDEA_PACKET_RTCP: {
		cardea_srtp *s = p->srtp_ready ? cardea_dtls_get_srtp(p->dtls) : NULL;
		if (!s || !p->publisher)
			break;
		if (cardea_srtp_unprotect_rtcp(s, buf, &len) == CARDEA_SRTP_OK)
			publisher_rtcp(p, buf, len);
		break;
	}
	default:
		break;
	}
}

/* ---- SDP ---- */

static void append_transport(load_peer *p, GString *s, const char *setup) {
	char alg[16] = "", *fp = NULL;
	const char *full = cardea_dtls_context_fingerprint();   /* "sha-256 AB:..." */
	const char *sp = strchr(full, ' ');
	g_strlcpy(alg, full, MIN(sizeof(alg), (gsize)(sp - full) + 1));
	fp = g_strdup(sp + 1);
	g_string_append_printf(s, "c=IN IP4 0.0.0.0\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n"
		"a=fingerprint:%s %s\r\na=setup:%s\r\na=rtcp-mux\r\n",
		cardea_ice_local_ufrag(p->ice), cardea_ice_local_pwd(p->ice), alg, fp, setup);
	g_free(fp);
}

static void append_candidates(load_peer *p, GString *s) {
	for (guint i = 0; i < p->local_cands->len; i++)
		g_string_append_printf(s, "a=%s\r\n", (char *)g_ptr_array_index(p->local_cands, i));
	g_string_append(s, "a=end-of-candidates\r\n");
}

static char *build_offer(load_peer *p) {
	GString *s = g_string_new(NULL);
	g_string_append_printf(s, "v=0\r\no=- %u 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
		"a=group:BUNDLE 0%s\r\na=msid-semantic: WMS load\r\n", g_random_int(),
		load_opt.audio_only ? "" : " 1");
	g_string_append(s, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
	append_transport(p, s, "actpass");
	g_string_append_printf(s, "a=mid:0\r\na=extmap:%d urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendonly\r\n"
		"a=msid:load a0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
		"a=ssrc:%u cname:load\r\na=ssrc:%u msid:load a0\r\n", MID_EXT_ID, p->audio_ssrc, p->audio_ssrc);
	append_candidates(p, s);
	if (!load_opt.audio_only) {
		g_string_append(s, "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n");
		append_transport(p, s, "actpass");
		g_string_append_printf(s, "a=mid:1\r\na=extmap:%d urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendonly\r\n"
			"a=msid:load v0\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n"
			"a=rtcp-fb:96 ccm fir\r\na=ssrc:%u cname:load\r\na=ssrc:%u msid:load v0\r\n",
			MID_EXT_ID, p->video_ssrc, p->video_ssrc);
		append_candidates(p, s);
	}
	return g_string_free(s, FALSE);
}

/* Answers every audio/video m-line with its Opus/VP8 payload, recvonly;
 * anything else is rejected with port 0. */
static char *build_answer(load_peer *p, cardea_sdp *offer) {
	GString *s = g_string_new(NULL), *bundle = g_string_new("a=group:BUNDLE");
	GString *body = g_string_new(NULL);
	gboolean first = TRUE;
	for (guint i = 0; i < offer->n_mlines; i++) {
		cardea_sdp_mline *m = offer->mlines[i];
		const char *mid = m->mid ? m->mid : "";
		cardea_sdp_payload *pl = NULL;
		if (m->port != 0 && m->kind == CARDEA_SDP_MEDIA_AUDIO)
			pl = cardea_sdp_find_codec(m, "opus", 48000, NULL);
		else if (m->port != 0 && m->kind == CARDEA_SDP_MEDIA_VIDEO)
			pl = cardea_sdp_find_codec(m, "VP8", 90000, NULL);
		if (!pl) {
			g_string_append_printf(body, "m=%s 0 %s %s\r\nc=IN IP4 0.0.0.0\r\na=mid:%s\r\na=inactive\r\n",
				m->media, m->proto, m->rtp && m->n_payloads ? "0" : (m->fmt ? m->fmt : "0"), mid);
			continue;
		}
		p->pt_clock_kind[pl->pt & 0x7f] = m->kind == CARDEA_SDP_MEDIA_VIDEO ? 2 : 1;
		p->n_expected++;
		g_string_append_printf(bundle, " %s", mid);
		g_string_append_printf(body, "m=%s 9 %s %u\r\n", m->media, m->proto, pl->pt);
		append_transport(p, body, "active");
		g_string_append_printf(body, "a=mid:%s\r\na=recvonly\r\na=rtpmap:%u %s/%u%s\r\n", mid, pl->pt,
			pl->name, pl->clock, m->kind == CARDEA_SDP_MEDIA_AUDIO ? "/2" : "");
		if (pl->fmtp)
			g_string_append_printf(body, "a=fmtp:%u %s\r\n", pl->pt, pl->fmtp);
		if (first)
			append_candidates(p, body);
		first = FALSE;
	}
	g_string_append_printf(s, "v=0\r\no=- %u 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n%s\r\n"
		"a=msid-semantic: WMS\r\n%s", g_random_int(), bundle->str, body->str);
	g_string_free(bundle, TRUE);
	g_string_free(body, TRUE);
	return g_string_free(s, FALSE);
}

/* ---- ICE ---- */

static void apply_remote(load_peer *p);

static void ice_candidate_cb(cardea_ice *ice, const char *cand, void *data) {
	load_peer *p = data;
	g_ptr_array_add(p->local_cands, g_strdup(cand));
}

static void ice_gathering_done_cb(cardea_ice *ice, void *data) {
	load_peer *p = data;
	if (p->gathered)
		return;
	p->gathered = TRUE;
	if (p->publisher) {
		char *sdp = build_offer(p);
		if (g_getenv("CARDEA_LOAD_DEBUG"))
			g_printerr("--- local offer:\n%s\n", sdp);
		load_signal_send_jsep(p, "offer", sdp);
		g_free(sdp);
	} else {
		apply_remote(p);
	}
}

static void ice_state_cb(cardea_ice *ice, cardea_ice_state st, void *data) {
	load_peer *p = data;
	if (st == CARDEA_ICE_CONNECTED && p->dtls) {
		cardea_dtls_start(p->dtls);
		dtls_rearm(p);
	} else if (st == CARDEA_ICE_FAILED) {
		load_peer_fail(p, "ICE failed");
	}
}

static gboolean make_ice(load_peer *p, gboolean controlling) {
	static const cardea_ice_callbacks icb = {
		ice_candidate_cb, ice_gathering_done_cb, ice_state_cb, ice_receive_cb,
	};
	cardea_ice_options o = { .controlling = controlling, .local_addresses = local_addrs };
	p->local_cands = g_ptr_array_new_with_free_func(g_free);
	p->ice = cardea_ice_new(p->worker->context, &o, &icb, p);
	if (!p->ice) {
		load_peer_fail(p, "cannot create an ICE agent");
		return FALSE;
	}
	return TRUE;
}

void load_peer_start_offer(load_peer *p) {
	p->audio_ssrc = g_random_int();
	p->video_ssrc = g_random_int();
	p->audio_seq = (guint16)g_random_int();
	p->video_seq = (guint16)g_random_int();
	p->audio_pt = 111;
	p->video_pt = 96;
	p->rtx_buf = g_malloc0((gsize)LOAD_RTX_SLOTS * PKT_CAP);
	if (make_ice(p, TRUE) && !cardea_ice_gather(p->ice))
		load_peer_fail(p, "ICE gathering failed");
}

/* Applies the gateway's SDP (p->remote_sdp) once our candidates are known:
 * remote ICE credentials and candidates, DTLS role and fingerprint. The
 * subscriber also sends its answer here. */
static void apply_remote(load_peer *p) {
	GError *err = NULL;
	cardea_sdp *sdp = cardea_sdp_parse(p->remote_sdp, strlen(p->remote_sdp), NULL, &err);
	if (!sdp) {
		load_peer_fail(p, "bad SDP from the gateway: %s", err->message);
		g_error_free(err);
		return;
	}
	const cardea_sdp_mline *first = NULL;
	for (guint i = 0; i < sdp->n_mlines && !first; i++)
		if (sdp->mlines[i]->port != 0)
			first = sdp->mlines[i];
	const cardea_sdp_fingerprint *fp = first ? cardea_sdp_mline_fingerprint(sdp, first) : NULL;
	if (!first || !fp) {
		load_peer_fail(p, "the gateway's SDP has no active m-line or fingerprint");
		cardea_sdp_free(sdp);
		return;
	}
	cardea_dtls_role role = CARDEA_DTLS_ROLE_ACTIVE;
	if (p->publisher && cardea_sdp_mline_setup(sdp, first) == CARDEA_SDP_SETUP_ACTIVE)
		role = CARDEA_DTLS_ROLE_PASSIVE;
	cardea_dtls_config dc = { .role = role };
	static const cardea_dtls_callbacks dcb = { dtls_send_cb, dtls_state_cb, NULL };
	p->dtls = cardea_dtls_new(&dc, &dcb, p, &err);
	if (!p->dtls || !cardea_dtls_add_remote_fingerprint(p->dtls, fp->algorithm, fp->value, &err)) {
		load_peer_fail(p, "DTLS set-up: %s", err ? err->message : "?");
		g_clear_error(&err);
		cardea_sdp_free(sdp);
		return;
	}
	if (!p->publisher) {
		char *answer = build_answer(p, sdp);
		load_signal_send_jsep(p, "answer", answer);
		g_free(answer);
	}
	cardea_ice_set_remote_credentials(p->ice, cardea_sdp_mline_ice_ufrag(sdp, first),
		cardea_sdp_mline_ice_pwd(sdp, first));
	for (guint i = 0; i < sdp->n_mlines; i++) {
		cardea_sdp_mline *m = sdp->mlines[i];
		for (guint c = 0; c < m->n_candidates; c++) {
			char *line = cardea_sdp_candidate_format(&m->candidates[c]);
			cardea_ice_add_remote_candidate(p->ice, line);
			g_free(line);
		}
	}
	p->state = PEER_CONNECTING;
	cardea_sdp_free(sdp);
	/* an ICE pair may already be up (the gateway checked first) */
	if (cardea_ice_get_state(p->ice) == CARDEA_ICE_CONNECTED) {
		cardea_dtls_start(p->dtls);
		dtls_rearm(p);
	}
}

void load_peer_remote_sdp(load_peer *p, const char *type, const char *sdp) {
	if (g_getenv("CARDEA_LOAD_DEBUG"))
		g_printerr("--- remote %s:\n%s\n", type, sdp);
	g_free(p->remote_sdp);
	p->remote_sdp = g_strdup(sdp);
	if (p->publisher) {
		apply_remote(p);
		return;
	}
	/* subscriber: we need our candidates before answering */
	if (make_ice(p, FALSE) && !cardea_ice_gather(p->ice))
		load_peer_fail(p, "ICE gathering failed");
}

void load_peer_remote_candidate(load_peer *p, const char *candidate) {
	if (p->ice)
		cardea_ice_add_remote_candidate(p->ice, candidate);
}

static void drop_source(GSource **src) {
	if (*src) {
		g_source_destroy(*src);
		g_source_unref(*src);
		*src = NULL;
	}
}

void load_peer_stop_sending(load_peer *p) {
	drop_source(&p->video_timer);
	drop_source(&p->audio_timer);
}

void load_peer_free_media(load_peer *p) {
	load_peer_stop_sending(p);
	drop_source(&p->dtls_timer);
	cardea_dtls_free(p->dtls);
	p->dtls = NULL;
	cardea_ice_free(p->ice);
	p->ice = NULL;
	if (p->local_cands)
		g_ptr_array_free(p->local_cands, TRUE);
	p->local_cands = NULL;
	g_free(p->rtx_buf);
	p->rtx_buf = NULL;
	g_free(p->remote_sdp);
	p->remote_sdp = NULL;
}
