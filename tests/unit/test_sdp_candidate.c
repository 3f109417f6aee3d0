/* Unit tests for core/webrtc/sdp-candidate.c: parsing and writing ICE
 * candidate lines (split from test_sdp.c, which covers the SDP model). */
#include <string.h>

#include "webrtc/sdp.h"

static void test_candidates(void) {
	static const char *const good[] = {
		"candidate:1035314020 1 udp 2122194687 127.0.0.1 54762 typ host generation 0 network-id 3 network-cost 50",
		"candidate:842163049 1 udp 1677729535 198.51.100.7 61000 typ srflx raddr 10.0.0.2 rport 54321 generation 0",
		"candidate:3 1 tcp 1518280447 192.0.2.10 9 typ host tcptype active generation 0",
		"candidate:4 2 UDP 41885439 203.0.113.5 3478 typ relay raddr 0.0.0.0 rport 0",
		"candidate:5 1 udp 2122260223 e3b0c442-98fc-1c14-b39f-92d1282048c0.local 54400 typ host",
		"candidate:6 1 udp 1845501695 2001:db8::1 50000 typ prflx raddr :: rport 9 ufrag abcd",
		"candidate:7 1 tcp 1 192.0.2.1 0 typ host tcptype so",
		"candidate:8 1 tcp 1 192.0.2.1 1 typ host tcptype passive",
	};
	static const char *const bad[] = {
		"", "candidate:", "candidate:1", "candidate:1 1 udp 1 1.2.3.4 1", "candidate:1 1 udp 1 1.2.3.4 1 typ",
		"candidate:1 257 udp 1 1.2.3.4 1 typ host", "candidate:1 1 udp 1 1.2.3.4 1 typ host raddr",
		"candidate:1 1 udp 1 1.2.3.4 1 typ host rport x", "candidate:1 1 udp 1 1.2.3.4 1 typ host tcptype foo",
		"candidate:1 1 udp 1 1.2.3.4 1 typ host raddr 1.1.1.1 raddr 1.1.1.1",
		"candidate:1 1 udp 1 1.2.3.4 1 typ host tcptype so tcptype so",
		"candidate:1 1 udp 1 1.2.3.4 1  typ host", "candidate:1 1 udp 1 1.2.3.4 1 typ host\tx y",
		"candidate:123456789012345678901234567890123 1 udp 1 1.2.3.4 1 typ host",
		"candidate:1 1 udp 1 1.2.3.4 1 typ host x", "candidate:a;b 1 udp 1 1.2.3.4 1 typ host",
		"candidate:1 1 udp 1 1.2.3.4/8 1 typ host", "candidate:1 1 u\"dp 1 1.2.3.4 1 typ host",
	};
	cardea_sdp_candidate *c;
	GError *err = NULL;
	char *s;
	guint i;

	for (i = 0; i < G_N_ELEMENTS(good); i++) {
		c = cardea_sdp_candidate_parse(good[i], &err);
		g_assert_no_error(err);
		g_assert_nonnull(c);
		s = cardea_sdp_candidate_format(c);
		g_assert_cmpstr(s, ==, good[i]);
		g_free(s);
		cardea_sdp_candidate_free(c);
	}
	/* with "a=", without any prefix, with a trailing CRLF */
	c = cardea_sdp_candidate_parse("a=candidate:1 1 udp 5 192.0.2.1 9 typ host\r\n", &err);
	g_assert_no_error(err);
	g_assert_cmpuint(c->priority, ==, 5);
	cardea_sdp_candidate_free(c);
	c = cardea_sdp_candidate_parse(good[1] + strlen("candidate:"), &err);
	g_assert_no_error(err);
	g_assert_cmpint(c->type, ==, CARDEA_SDP_CANDIDATE_SRFLX);
	g_assert_cmpstr(c->raddr, ==, "10.0.0.2");
	g_assert_cmpint(c->rport, ==, 54321);
	g_assert_cmpuint(c->n_extensions, ==, 1);
	cardea_sdp_candidate_free(c);
	c = cardea_sdp_candidate_parse(good[2], &err);
	g_assert_cmpint(c->tcptype, ==, CARDEA_SDP_TCPTYPE_ACTIVE);
	g_assert_cmpuint(c->port, ==, 9);
	cardea_sdp_candidate_free(c);
	c = cardea_sdp_candidate_parse(good[3], &err);
	g_assert_cmpint(c->type, ==, CARDEA_SDP_CANDIDATE_RELAY);
	g_assert_cmpuint(c->component, ==, 2);
	g_assert_cmpstr(c->transport, ==, "UDP");
	cardea_sdp_candidate_free(c);

	for (i = 0; i < G_N_ELEMENTS(bad); i++) {
		c = cardea_sdp_candidate_parse(bad[i], &err);
		if (c != NULL)
			g_test_message("accepted bad candidate '%s'", bad[i]);
		g_assert_null(c);
		g_assert_error(err, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_SYNTAX);
		g_clear_error(&err);
	}
	g_assert_null(cardea_sdp_candidate_parse(NULL, &err));
	g_clear_error(&err);
	s = g_strnfill(5000, '1');
	g_assert_null(cardea_sdp_candidate_parse(s, &err));
	g_assert_error(err, CARDEA_SDP_ERROR, CARDEA_SDP_ERROR_LIMIT);
	g_clear_error(&err);
	g_free(s);
	cardea_sdp_candidate_free(NULL);
}

/* ---- Codecs, H.264, PT remapping ---- */

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/sdp/candidates", test_candidates);
	return g_test_run();
}
