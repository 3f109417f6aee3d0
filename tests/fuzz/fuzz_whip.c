/* WHIP/WHEP request handling: the HTTP transport (transports/http: the MHD
 * access handler, whip.c's routing, SDP/sdpfrag parsing, the Janus API
 * walk of a POST, PATCH trickles and ICE restarts, DELETE) and the
 * broadcast plugin run in-process, as in the daemon, and each input becomes
 * ONE raw HTTP request sent over a TCP socket to the transport's listener
 * (127.0.0.1, a free port).
 *
 * Input: byte 0 picks the method (bits 0-2: POST, PATCH, DELETE, OPTIONS,
 * GET, PUT; 6 and 7: raw, see below), WHEP instead of WHIP (bit 3), the
 * route (bits 4-5: channel "demo" (takeover allowed), the live resource,
 * a path from the input, channel "locked" (token "fuzz")) and whether an
 * Authorization: Bearer header is sent (bit 6: token "fuzz"; bit 7 with it:
 * a wrong one). Byte 1 picks the Content-Type (bits 0-1: application/sdp,
 * application/trickle-ice-sdpfrag, none, from the input) and If-Match (bits
 * 2-3: none, the live resource's ETag, "*", from the input). Then, separated
 * by NUL bytes, the pieces the two bytes ask for "from the input", in that
 * order (path, content type, If-Match), and the body. In the body, "@N@"
 * becomes a number never used before (a fresh ICE ufrag: an ICE restart).
 * Raw mode (method 6 or 7): everything after byte 1 is the whole request,
 * with "@R@" replaced by the live resource's path and "@E@" by its ETag.
 *
 * The live resource: a WHIP presenter on channel "seed", created at start
 * with a real Chromium offer (CARDEA_FUZZ_OFFER, which run.sh points at
 * ../shared/fixtures beside the repository), so PATCH and DELETE reach the deep code; recreated when an
 * input deleted it. Resources an input created (a 201's Location) are
 * deleted before the next input, so nothing piles up.
 *
 * Bounds: inputs over 64 KiB are skipped; a request that was sent whole
 * must be answered within 30 s, and not with the transport's answer-timeout
 * 504 (else abort: a hang is a bug); a raw one is
 * dropped after 100 ms without complaint (it may be legitimately incomplete),
 * or after 20 ms when its own framing says it is incomplete (the server can
 * only wait for bytes that never come). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <jansson.h>
#define CARDEA_FUZZ_GATEWAY
#include "fuzz-util.h"

#define WHIP_MAX_INPUT (64 * 1024)
#define REPLY_TIMEOUT_MS 30000
/* Replies to raw requests came within 1 ms, to the structured ones (a POST
 * sets up a PeerConnection) within 8 ms, on a loaded 2-core machine. */
#define RAW_TIMEOUT_MS 100
#define RAW_INCOMPLETE_TIMEOUT_MS 20
#define DEFAULT_OFFER "/work/shared/fixtures/sdp/chromium-offer-audio-video.sdp"

static int port;
static char *offer;                 /* the seed resource's SDP offer */
static char live_path[128];         /* "/whip/resource/<id>" of the live resource, "" when none */
static char live_etag[64];
static guint64 fresh;               /* "@N@" counter */
static bool trace;                  /* CARDEA_FUZZ_TRACE: print each reply's status */

typedef struct http_reply {
	int status;                       /* 0: no (complete) status line */
	char location[128];
	char etag[64];
} http_reply;

static int free_port(void) {
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	FUZZ_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* A header's value from the reply head (case-insensitive name). */
static void header_value(const char *head, const char *name, char *out, size_t size) {
	out[0] = '\0';
	size_t n = strlen(name);
	for (const char *l = strstr(head, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
		const char *h = l + 2;
		if (g_ascii_strncasecmp(h, name, n) == 0 && h[n] == ':') {
			h += n + 1;
			while (*h == ' ')
				h++;
			size_t v = strcspn(h, "\r\n");
			g_snprintf(out, size, "%.*s", (int)MIN(v, size - 1), h);
			return;
		}
	}
}

/* The first reply in `in` is complete (by Content-Length, or a status
 * without a body). */
static bool reply_complete(const GString *in) {
	const char *end = strstr(in->str, "\r\n\r\n");
	if (end == NULL || !g_str_has_prefix(in->str, "HTTP/1."))
		return false;
	char *head = g_strndup(in->str, (gsize)(end - in->str));
	char cl[32];
	header_value(head, "Content-Length", cl, sizeof(cl));
	int status = atoi(head + 9);
	g_free(head);
	size_t body = in->len - (size_t)(end + 4 - in->str);
	if (status == 204 || status == 304 || (status >= 100 && status < 200))
		return true;
	return cl[0] != '\0' && body >= strtoul(cl, NULL, 10);
}

/* A chunked body that stops before its last chunk and the empty line after
 * it. A size line that is not hex counts as complete (a 400 comes at once). */
static bool chunked_body_incomplete(const char *body, size_t len) {
	size_t at = 0;
	for (;;) {
		const char *eol = memmem(body + at, len - at, "\r\n", 2);
		if (eol == NULL)
			return true;
		char *end;
		guint64 size = g_ascii_strtoull(body + at, &end, 16);
		if (end == body + at)
			return false;
		at = (size_t)(eol + 2 - body);
		if (size == 0)
			return memmem(body + at, len - at, "\r\n", 2) == NULL;
		if (size > len - at || len - at - size < 2)
			return true;
		at += size + 2;
	}
}

/* A raw request that cannot be complete as HTTP frames it: no end of the
 * head, a body shorter than its (first) Content-Length, or a chunked body
 * that stops early; or a head with a NUL byte, which MHD (0.9.75) neither
 * answers nor closes. MHD then waits for more until its connection timeout
 * (5 s here), so no reply can come: such requests were nearly all of this
 * target's time. Anything this misjudges only gets the shorter wait (MHD's
 * own error replies come within a millisecond), never an abort. */
static bool raw_request_incomplete(const char *req, size_t len) {
	const char *head_end = memmem(req, len, "\r\n\r\n", 4);
	if (head_end == NULL || memchr(req, '\0', (size_t)(head_end - req)) != NULL)
		return true;
	char *head = g_strndup(req, (gsize)(head_end - req));
	const char *body = head_end + 4;
	size_t body_len = len - (size_t)(body - req);
	char cl[32], te[64];
	header_value(head, "Content-Length", cl, sizeof(cl));
	header_value(head, "Transfer-Encoding", te, sizeof(te));
	g_free(head);
	if (g_ascii_strncasecmp(te, "chunked", 7) == 0)
		return chunked_body_incomplete(body, body_len);
	return g_ascii_isdigit(cl[0]) && g_ascii_strtoull(cl, NULL, 10) > body_len;
}

/* Sends `req` on a new connection and reads the reply until the server
 * closes (every request says Connection: close). `whole` says the request
 * is complete: no answer within REPLY_TIMEOUT_MS is then a bug; otherwise
 * the connection is dropped after `raw_timeout_ms`. */
static http_reply exchange(const char *req, size_t len, bool whole, int raw_timeout_ms) {
	http_reply r = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		fprintf(stderr, "fuzz_whip: cannot connect to 127.0.0.1:%d: %s\n", port, g_strerror(errno));
		abort();
	}
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;                      /* the server closed early: read what it said */
		off += (size_t)n;
	}
	if (!whole)
		shutdown(fd, SHUT_WR);
	GString *in = g_string_new(NULL);
	gint64 deadline = g_get_monotonic_time() + (gint64)(whole ? REPLY_TIMEOUT_MS : raw_timeout_ms) * 1000;
	for (;;) {
		int left = (int)((deadline - g_get_monotonic_time()) / 1000);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&p, 1, left) <= 0) {
			if (whole) {
				fprintf(stderr, "fuzz_whip: no reply in %d s to: %.*s\n", REPLY_TIMEOUT_MS / 1000,
					(int)MIN(len, 400), req);
				abort();
			}
			break;
		}
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		if (in->len < 256 * 1024)
			g_string_append_len(in, buf, n);
		/* A raw request may keep the connection open: stop at the end of
		 * the first reply. */
		if (!whole && reply_complete(in))
			break;
	}
	close(fd);
	char *end = strstr(in->str, "\r\n\r\n");
	if (end != NULL && g_str_has_prefix(in->str, "HTTP/1.")) {
		*end = '\0';
		r.status = atoi(in->str + 9);
		header_value(in->str, "Location", r.location, sizeof(r.location));
		header_value(in->str, "ETag", r.etag, sizeof(r.etag));
	}
	/* 504 is the transport's whip.answer_timeout (20 s, under our 30 s):
	 * the gateway lost the answer to a request, a hang by another name. */
	if (r.status == 504) {
		fprintf(stderr, "fuzz_whip: 504 to: %.*s\n", (int)MIN(len, 400), req);
		abort();
	}
	g_string_free(in, TRUE);
	return r;
}

static http_reply send_request(const char *method, const char *path, const char *headers, const char *body,
		size_t body_len) {
	GString *req = g_string_new(NULL);
	g_string_append_printf(req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s"
		"Content-Length: %zu\r\n\r\n", method, path, port, headers ? headers : "", body_len);
	g_string_append_len(req, body, (gssize)body_len);
	http_reply r = exchange(req->str, req->len, true, 0);
	g_string_free(req, TRUE);
	return r;
}

/* Creates the live resource: a WHIP presenter on channel "seed" (retried
 * while the previous one is still leaving the channel: 409). */
static void make_live(void) {
	http_reply r = { 0 };
	for (int i = 0; i < 50; i++) {
		r = send_request("POST", "/whip/seed", "Content-Type: application/sdp\r\n", offer, strlen(offer));
		if (r.status != 409)
			break;
		g_usleep(20000);
	}
	if (r.status != 201 || r.location[0] == '\0' || r.etag[0] == '\0') {
		fprintf(stderr, "fuzz_whip: the seed POST got %d (location '%s', etag '%s')\n", r.status, r.location,
			r.etag);
		abort();
	}
	g_strlcpy(live_path, r.location, sizeof(live_path));
	g_strlcpy(live_etag, r.etag, sizeof(live_etag));
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
	cardea_log_set_level(getenv("CARDEA_FUZZ_LOG") ? atoi(getenv("CARDEA_FUZZ_LOG")) : 0);
	const char *offer_path = getenv("CARDEA_FUZZ_OFFER") ? getenv("CARDEA_FUZZ_OFFER") : DEFAULT_OFFER;
	if (!g_file_get_contents(offer_path, &offer, NULL, NULL)) {
		fprintf(stderr, "fuzz_whip: cannot read the seed offer %s (set CARDEA_FUZZ_OFFER)\n", offer_path);
		abort();
	}
	trace = getenv("CARDEA_FUZZ_TRACE") != NULL;
	fuzz_gateway_start("cardea-fuzz-whip-XXXXXX");
	port = free_port();
	/* Only the Janus API listener, on loopback; short idle/request timeouts
	 * bound raw requests that never finish. */
	char *http = g_strdup_printf("general: {\n\thttp = true\n\tport = %d\n\tip = \"127.0.0.1\"\n"
		"\tconnection_timeout = 5\n\trequest_timeout = 5\n\tmax_body_size = 65536\n}\n"
		"admin: {\n\tadmin_http = false\n}\nstatic: {\n\tenabled = false\n}\nwhip: {\n}\n", port);
	fuzz_write_config("cardea.transport.http.jcfg", http);
	g_free(http);
	fuzz_write_config("cardea.plugin.broadcast.jcfg",
		"general: {\n}\nseed: {\n\tdescription = \"the live resource\"\n}\n"
		"demo: {\n\tdescription = \"open\"\n\ttakeover = true\n}\n"
		"locked: {\n\tdescription = \"token\"\n\ttoken = \"fuzz\"\n}\n");
	char *plugins = g_build_filename(fuzz_tmp_dir, "plugins", NULL);
	char *transports = g_build_filename(fuzz_tmp_dir, "transports", NULL);
	FUZZ_CHECK(g_mkdir(plugins, 0700) == 0 && g_mkdir(transports, 0700) == 0);
	fuzz_link_module(plugins, "plugins/.libs/cardea_plugin_broadcast.so");
	fuzz_link_module(transports, "transports/http/.libs/cardea_transport_http.so");
	/* Plugins first, then transports, as the daemon does. */
	fuzz_load_modules(CARDEA_MODULE_PLUGIN, plugins, &fuzz_gw.plugin_core, fuzz_gw.plugins);
	fuzz_load_modules(CARDEA_MODULE_TRANSPORT, transports, &fuzz_gw.transport_core, fuzz_gw.transports);
	g_free(plugins);
	g_free(transports);
	make_live();
	fuzz_settle_init(*argc, *argv);
	return 0;
}

/* The next NUL-terminated piece of the input (not NUL-terminated itself). */
static GString *piece(fuzz_reader *r) {
	const uint8_t *end = memchr(r->p, 0, r->left);
	size_t n = end ? (size_t)(end - r->p) : r->left;
	GString *s = g_string_new_len((const char *)r->p, (gssize)n);
	r->p += n;
	r->left -= n;
	if (end) {
		r->p++;
		r->left--;
	}
	/* Pieces go into the request line or a header: a CR or LF would let
	 * them add framing (Transfer-Encoding) that the structured request does
	 * not send, and the reply would never come. Raw mode covers framing. */
	for (gsize i = 0; i < s->len; i++)
		if (s->str[i] == '\r' || s->str[i] == '\n' || s->str[i] == '\0')
			s->str[i] = '_';
	return s;
}

/* Replaces every `token` (3 bytes) in `s` by `with`. */
static void replace(GString *s, const char *token, const char *with) {
	char *at;
	gsize from = 0;
	while (from < s->len && (at = g_strstr_len(s->str + from, (gssize)(s->len - from), token)) != NULL) {
		gsize pos = (gsize)(at - s->str);
		g_string_erase(s, (gssize)pos, 3);
		g_string_insert(s, (gssize)pos, with);
		from = pos + strlen(with);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size < 2 || size > WHIP_MAX_INPUT)
		return 0;
	gint64 t0 = g_get_monotonic_time();
	gint64 live_at_start = fuzz_settle_begin(data, size);
	fuzz_reader in = { data, size };
	uint8_t b0 = fuzz_u8(&in), b1 = fuzz_u8(&in);
	int method = b0 & 7;
	bool whep = b0 & 8;
	int route = (b0 >> 4) & 3;
	http_reply r;
	bool on_live = false;
	if (method >= 6) {
		GString *raw = g_string_new_len((const char *)in.p, (gssize)in.left);
		replace(raw, "@R@", live_path);
		replace(raw, "@E@", live_etag);
		on_live = strstr(raw->str, live_path) != NULL;
		r = exchange(raw->str, raw->len, false,
			raw_request_incomplete(raw->str, raw->len) ? RAW_INCOMPLETE_TIMEOUT_MS : RAW_TIMEOUT_MS);
		g_string_free(raw, TRUE);
	} else {
		static const char *const methods[] = { "POST", "PATCH", "DELETE", "OPTIONS", "GET", "PUT" };
		const char *kind = whep ? "whep" : "whip";
		GString *path = NULL, *ctype = NULL, *im = NULL;
		if (route == 2)
			path = piece(&in);
		if ((b1 & 3) == 3)
			ctype = piece(&in);
		if (((b1 >> 2) & 3) == 3)
			im = piece(&in);
		GString *url = g_string_new(NULL);
		if (route == 0)
			g_string_printf(url, "/%s/demo", kind);
		else if (route == 1)
			g_string_printf(url, "%s", live_path);
		else if (route == 2)
			g_string_printf(url, "/%s/%s", kind, path->str);
		else
			g_string_printf(url, "/%s/locked", kind);
		on_live = route == 1;
		GString *h = g_string_new(NULL);
		static const char *const types[] = { "application/sdp", "application/trickle-ice-sdpfrag" };
		if ((b1 & 3) < 2)
			g_string_append_printf(h, "Content-Type: %s\r\n", types[b1 & 3]);
		else if (ctype)
			g_string_append_printf(h, "Content-Type: %s\r\n", ctype->str);
		int imk = (b1 >> 2) & 3;
		if (imk)
			g_string_append_printf(h, "If-Match: %s\r\n", imk == 1 ? live_etag : imk == 2 ? "*" : im->str);
		if (b0 & 0x40)
			g_string_append_printf(h, "Authorization: Bearer %s\r\n", (b0 & 0x80) ? "wrong" : "fuzz");
		GString *body = g_string_new_len((const char *)in.p, (gssize)in.left);
		char n[24];
		g_snprintf(n, sizeof(n), "fz%" G_GUINT64_FORMAT, ++fresh);
		replace(body, "@N@", n);
		r = send_request(methods[method], url->str, h->str, body->str, body->len);
		g_string_free(body, TRUE);
		g_string_free(h, TRUE);
		g_string_free(url, TRUE);
		if (path)
			g_string_free(path, TRUE);
		if (ctype)
			g_string_free(ctype, TRUE);
		if (im)
			g_string_free(im, TRUE);
	}
	/* An ICE restart of the live resource (a 200 with an ETag: a DELETE's
	 * 200 has none) names a new ICE session. */
	if (on_live && r.status == 200 && r.etag[0])
		g_strlcpy(live_etag, r.etag, sizeof(live_etag));
	if (trace)
		fprintf(stderr, "fuzz_whip: %s %s -> %d%s%s (%d ms)\n", method >= 6 ? "raw" : "request",
			method >= 6 ? "" : route == 1 ? "live" : route == 2 ? "path" : "channel", r.status,
			r.location[0] ? " " : "", r.location, (int)((g_get_monotonic_time() - t0) / 1000));
	/* A resource this input created goes again (its PeerConnection, ports
	 * and ICE agent would pile up over millions of inputs). */
	if (r.status == 201 && r.location[0] && strcmp(r.location, live_path) != 0)
		send_request("DELETE", r.location, NULL, "", 0);
	/* The live resource deleted (or ended: ICE never connects, so its
	 * PeerConnection fails at some point): make a new one. A PATCH without
	 * a Content-Type is a probe with no side effect: 415 while it lives. */
	if (on_live && (method >= 6 || r.status == 200 || r.status == 404)) {
		http_reply probe = send_request("PATCH", live_path, NULL, "", 0);
		if (probe.status == 404)
			make_live();
	}
	fuzz_settle_wait(live_at_start, data, size);
	return 0;
}
