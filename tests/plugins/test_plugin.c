/* cardea.plugin.test: a plugin used only by the test suites. It exercises
 * every path of the plugin ABI the core offers today: synchronous answers,
 * ack + later events on its own queue thread, errors, slow handlers, and a
 * plugin-initiated detach.
 *
 *   {"request":"ping"}             -> sync {"test":"pong"}
 *   {"request":"echo", ...}        -> ack, then event {"test":"echo","body":<body>} (+ the jsep echoed back)
 *   {"request":"events","count":N} -> ack, then N events {"test":"event","seq":i}
 *   {"request":"sleep","ms":N}     -> sync after sleeping N ms (N <= 10000) {"test":"slept","ms":N}
 *   {"request":"fail"}             -> Janus error 462
 *   {"request":"detach_me"}        -> ack, then the plugin ends the handle (client gets "detached")
 *   anything else                  -> sync {"test":"error","error_code":499,"error":"Unknown request 'x'"}
 */
#include <string.h>
#include <cardea/plugin.h>

static const cardea_plugin_core *core;
static cardea_plugin_queue *queue;
static cardea_plugin test_plugin;

typedef struct test_session {
	guint64 messages;   /* handled so far (atomic) */
} test_session;

static void process(cardea_plugin_session *session, const char *transaction, json_t *message,
		json_t *jsep, void *user_data) {
	const char *request = json_string_value(json_object_get(message, "request"));
	if (g_strcmp0(request, "echo") == 0) {
		json_t *event = json_pack("{s:s, s:O}", "test", "echo", "body", message);
		json_t *answer = NULL;
		if (jsep) {
			/* Echo the description back with the opposite type so the core's
			 * offer/answer bookkeeping sees a well-formed server jsep. */
			const char *type = json_string_value(json_object_get(jsep, "type"));
			answer = json_pack("{s:s, s:O}", "type", g_strcmp0(type, "offer") == 0 ? "answer" : "offer",
				"sdp", json_object_get(jsep, "sdp"));
		}
		core->push_event(session, &test_plugin, transaction, event, answer);
		json_decref(event);
		json_decref(answer);
	} else if (g_strcmp0(request, "events") == 0) {
		json_int_t count = json_integer_value(json_object_get(message, "count"));
		for (json_int_t i = 0; i < count && i < 1000; i++) {
			json_t *event = json_pack("{s:s, s:I}", "test", "event", "seq", i);
			core->push_event(session, &test_plugin, i == 0 ? transaction : NULL, event, NULL);
			json_decref(event);
		}
	} else if (g_strcmp0(request, "detach_me") == 0) {
		core->end_session(session);
	}
	json_decref(message);
	json_decref(jsep);
}

static int test_init(const cardea_plugin_core *c, const char *config_path) {
	core = c;
	queue = cardea_plugin_queue_new("test-plugin", process, NULL);
	CARDEA_LOG(CARDEA_LOG_INFO, "[test] plugin ready");
	return 0;
}

static void test_destroy(void) {
	cardea_plugin_queue_free(queue);
	queue = NULL;
}

static void test_create_session(cardea_plugin_session *session, int *error) {
	session->plugin_handle = g_new0(test_session, 1);
	*error = 0;
}

static void test_destroy_session(cardea_plugin_session *session, int *error) {
	g_free(session->plugin_handle);
	session->plugin_handle = NULL;
	*error = 0;
}

static json_t *test_query_session(cardea_plugin_session *session) {
	test_session *ts = session->plugin_handle;
	return ts ? json_pack("{s:I}", "messages", (json_int_t)__atomic_load_n(&ts->messages, __ATOMIC_RELAXED)) : NULL;
}

static cardea_plugin_result test_handle_message(cardea_plugin_session *session, const char *transaction,
		json_t *message, json_t *jsep) {
	test_session *ts = session->plugin_handle;
	if (ts)
		__atomic_add_fetch(&ts->messages, 1, __ATOMIC_RELAXED);
	const char *request = json_string_value(json_object_get(message, "request"));
	cardea_plugin_result result;
	if (g_strcmp0(request, "ping") == 0) {
		result = cardea_plugin_ok(json_pack("{s:s}", "test", "pong"));
	} else if (g_strcmp0(request, "sleep") == 0) {
		json_int_t ms = json_integer_value(json_object_get(message, "ms"));
		ms = CLAMP(ms, 0, 10000);
		g_usleep((gulong)ms * 1000);
		result = cardea_plugin_ok(json_pack("{s:s, s:I}", "test", "slept", "ms", ms));
	} else if (g_strcmp0(request, "fail") == 0) {
		result = cardea_plugin_error("The test plugin was asked to fail");
	} else if (g_strcmp0(request, "echo") == 0 || g_strcmp0(request, "events") == 0 ||
			g_strcmp0(request, "detach_me") == 0) {
		cardea_plugin_queue_push(queue, session, transaction, message, jsep);
		return cardea_plugin_wait("queued");
	} else {
		char *error = g_strdup_printf("Unknown request '%s'", request ? request : "");
		result = cardea_plugin_ok(json_pack("{s:s, s:i, s:s}", "test", "error", "error_code", 499, "error", error));
		g_free(error);
	}
	json_decref(message);
	json_decref(jsep);
	return result;
}

static json_t *test_handle_admin_message(json_t *message) {
	return json_pack("{s:s, s:O}", "test", "admin", "request", message);
}

static cardea_plugin test_plugin = {
	.info = {
		CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_PLUGIN, cardea_plugin),
		.package = "cardea.plugin.test",
		.name = "test",
		.description = "Exercises the plugin API for the test suites",
		.author = "The Cardea developers",
		.version_string = "0.1.0",
		.version = 1,
	},
	.init = test_init,
	.destroy = test_destroy,
	.create_session = test_create_session,
	.handle_message = test_handle_message,
	.handle_admin_message = test_handle_admin_message,
	.destroy_session = test_destroy_session,
	.query_session = test_query_session,
};

CARDEA_MODULE_DEFINE(test_plugin)
