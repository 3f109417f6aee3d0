/* Janus API: requests go through the core's real dispatcher in-process (a
 * fake transport calls incoming_request, the API thread and the request
 * workers run as in the daemon) with the echotest and the test plugin
 * loaded, so plugin message parsing and, with a jsep offer, the gateway's
 * PeerConnection set-up and local-SDP completion (core/webrtc/pc*.c) are
 * reached too (ICE never connects: no packet leaves the process).
 *
 * Input: requests separated by NUL bytes. The first byte of each picks how
 * it is sent: (byte & 1) Admin API, (byte & 2) as a streaming transport
 * (several JSON objects per message, no request cookie). "@S@" and "@H@" in
 * the text become the last session / handle id the gateway returned, so a
 * create -> attach -> message sequence works. Every request must be answered
 * exactly once; the sessions an input created are destroyed before the next
 * input (the transport connection goes away), so nothing leaks from one
 * input to the next.
 *
 * Plugins come from CARDEA_FUZZ_PLUGINS (a folder of .so files), by default
 * the build's echotest and test plugin. Requests containing "sleep" are
 * skipped: the test plugin really sleeps (up to 10 s), which would only
 * slow the fuzzer down. */
#include <stdio.h>
#include <string.h>
#include <glib.h>
#include <jansson.h>
#define CARDEA_FUZZ_GATEWAY
#include "fuzz-util.h"
#include "session.h"
#include "tokens.h"

#define REPLY_TIMEOUT_US (30 * G_USEC_PER_SEC)
#define REPLY_SLICE_US (100 * 1000)

static cardea_transport fake;
static cardea_loaded_module *fake_module;
static int log_level;            /* CARDEA_FUZZ_LOG, default 0: quiet */

/* Replies: the cookie we wait for and what came back for it. */
static GMutex lock;
static GCond cond;
static void *waiting;            /* cookie of the request in flight */
static json_t *reply;            /* its reply, once here */
static guint64 answered;         /* cookies answered so far (they increase) */

static int fake_send(cardea_transport_session *ts, void *request_id, bool admin, json_t *message) {
	g_mutex_lock(&lock);
	if (request_id != NULL) {
		/* A request is answered exactly once. */
		guint64 id = GPOINTER_TO_SIZE(request_id);
		FUZZ_CHECK(id > answered && request_id == waiting && reply == NULL);
		answered = id;
		reply = json_incref(message);
		g_cond_broadcast(&cond);
	}
	g_mutex_unlock(&lock);
	json_decref(message);
	return 0;
}
static bool yes(void) { return true; }
static void no_op_created(cardea_transport_session *ts, guint64 id) {}
static void no_op_over(cardea_transport_session *ts, guint64 id, bool timeout, bool claimed) {}
static json_t *fake_query(json_t *request) { return json_object(); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
	log_level = getenv("CARDEA_FUZZ_LOG") ? atoi(getenv("CARDEA_FUZZ_LOG")) : 0;
	cardea_log_set_level(log_level);
	fuzz_gateway_start("cardea-fuzz-api-XXXXXX");
	const char *plugins = getenv("CARDEA_FUZZ_PLUGINS");
	if (plugins == NULL) {
		fuzz_link_module(fuzz_tmp_dir, "plugins/.libs/cardea_plugin_echotest.so");
		fuzz_link_module(fuzz_tmp_dir, "tests/plugins/.libs/cardea_plugin_test.so");
		plugins = fuzz_tmp_dir;
	}
	fuzz_load_modules(CARDEA_MODULE_PLUGIN, plugins, &fuzz_gw.plugin_core, fuzz_gw.plugins);

	/* The fake transport, registered like a loaded module. */
	fake.info = (cardea_module_info){ CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_TRANSPORT, cardea_transport),
		.package = "cardea.transport.fuzz", .name = "fuzz", .description = "libFuzzer driver",
		.author = "Cardea", .version_string = "1", .version = 1 };
	fake.is_janus_api_enabled = yes;
	fake.is_admin_api_enabled = yes;
	fake.send_message = fake_send;
	fake.session_created = no_op_created;
	fake.session_over = no_op_over;
	fake.query_transport = fake_query;
	fake_module = g_new0(cardea_loaded_module, 1);
	fake_module->kind = CARDEA_MODULE_TRANSPORT;
	fake_module->filename = g_strdup("fuzz");
	fake_module->info = &fake.info;
	fake_module->ops.transport = fake;
	fake_module->initialized = TRUE;
	g_ptr_array_add(fuzz_gw.transports, fake_module);
	fuzz_settle_init(*argc, *argv);
	return 0;
}

/* Sends one request and waits for its answer (transfer full; NULL for a
 * streaming request, whose replies are not matched). */
static json_t *request(cardea_transport_session *ts, gboolean admin, gboolean streaming, const char *text, size_t len) {
	static guint64 next_cookie;
	void *cookie = streaming ? NULL : GSIZE_TO_POINTER(++next_cookie);
	g_mutex_lock(&lock);
	waiting = cookie;
	reply = NULL;
	g_mutex_unlock(&lock);
	fuzz_gw.transport_core.incoming_request(&fake, ts, cookie, admin, text, len, 0, 0);
	if (streaming)
		return NULL;
	g_mutex_lock(&lock);
	/* Counted in slices, each worth at most twice its length: a process
	 * held with SIGSTOP (to lend the machine to something else) must not
	 * take the stopped time for a reply that never came. */
	gint64 waited = 0;
	while (reply == NULL) {
		gint64 t0 = g_get_monotonic_time();
		g_cond_wait_until(&cond, &lock, t0 + REPLY_SLICE_US);
		waited += MIN(g_get_monotonic_time() - t0, 2 * REPLY_SLICE_US);
		if (reply == NULL && waited >= REPLY_TIMEOUT_US) {
			fprintf(stderr, "fuzz_api: no reply in %d s to: %.*s\n", (int)(REPLY_TIMEOUT_US / G_USEC_PER_SEC),
				(int)len, text);
			abort();
		}
	}
	json_t *r = reply;
	reply = NULL;
	waiting = NULL;
	g_mutex_unlock(&lock);
	return r;
}

/* Replaces the id placeholders with the ids the gateway handed out. */
static GString *substitute(const uint8_t *data, size_t len, guint64 session, guint64 handle) {
	GString *s = g_string_sized_new(len + 32);
	for (size_t i = 0; i < len; i++) {
		if (i + 3 <= len && data[i] == '@' && data[i + 2] == '@' && (data[i + 1] == 'S' || data[i + 1] == 'H')) {
			g_string_append_printf(s, "%" G_GUINT64_FORMAT, data[i + 1] == 'S' ? session : handle);
			i += 2;
		} else {
			g_string_append_c(s, (char)data[i]);
		}
	}
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	gint64 live_at_start = fuzz_settle_begin(data, size);
	cardea_transport_session *ts = cardea_transport_session_new(NULL, NULL);
	guint64 session = 0, handle = 0;
	size_t pos = 0;
	while (pos < size) {
		const uint8_t *end = memchr(data + pos, 0, size - pos);
		size_t rec_len = end ? (size_t)(end - (data + pos)) : size - pos;
		const uint8_t *rec = data + pos;
		pos += rec_len + 1;
		if (rec_len == 0)
			continue;
		uint8_t mode = rec[0];
		if (g_strstr_len((const char *)rec, (gssize)rec_len, "sleep"))
			continue;
		GString *text = substitute(rec + 1, rec_len - 1, session, handle);
		gboolean admin = mode & 1, streaming = (mode & 2) != 0;
		json_t *r = request(ts, admin, streaming, text->str, text->len);
		if (streaming) {
			/* The API thread works in order: a ping's reply means the
			 * streamed objects were handled. */
			static const char ping[] = "{\"janus\":\"ping\",\"transaction\":\"sync\"}";
			r = request(ts, FALSE, FALSE, ping, strlen(ping));
		}
		json_t *id = json_object_get(json_object_get(r, "data"), "id");
		if (json_is_integer(id) && g_strcmp0(json_string_value(json_object_get(r, "janus")), "success") == 0) {
			if (json_object_get(r, "session_id"))
				handle = (guint64)json_integer_value(id);
			else
				session = (guint64)json_integer_value(id);
		}
		json_decref(r);
		g_string_free(text, TRUE);
	}
	/* The connection goes: its sessions (reclaim timeout 0) are destroyed on
	 * the API thread, which the ping on another connection waits for. */
	fuzz_gw.transport_core.transport_gone(&fake, ts);
	cardea_transport_session *sync = cardea_transport_session_new(NULL, NULL);
	static const char ping[] = "{\"janus\":\"ping\",\"transaction\":\"sync\"}";
	json_decref(request(sync, FALSE, FALSE, ping, strlen(ping)));
	fuzz_gw.transport_core.transport_gone(&fake, sync);
	cardea_transport_session_unref(sync);
	cardea_transport_session_unref(ts);
	/* Undo what Admin requests may have changed for the next input. */
	g_atomic_int_set(&fuzz_gw.accepting, 1);
	g_atomic_int_set(&fuzz_gw.settings.session_timeout, 60);
	cardea_log_set_level(log_level);
	fuzz_settle_wait(live_at_start, data, size);
	return 0;
}
