/* Janus API envelope validation (janus-api.md §1.1): which error a bad
 * request gets, in which order, and what the envelope reads from a good one. */
#include <string.h>
#include <glib.h>
#include <jansson.h>
#include "api.h"
#include "api-errors.h"

typedef struct envelope_case {
	const char *json;
	guint64 path_session, path_handle;
	int code;                 /* expected result */
	const char *reason;       /* expected reason (exact) when code != 0 */
	gboolean transaction;     /* transaction readable in the envelope */
} envelope_case;

static const envelope_case cases[] = {
	{ "{}", 0, 0, CARDEA_ERROR_MISSING_MANDATORY_ELEMENT, "Missing mandatory element (transaction)", FALSE },
	{ "{\"janus\":\"create\"}", 0, 0, CARDEA_ERROR_MISSING_MANDATORY_ELEMENT, "Missing mandatory element (transaction)", FALSE },
	{ "{\"janus\":\"create\",\"transaction\":5}", 0, 0, CARDEA_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (transaction should be a string)", FALSE },
	{ "{\"transaction\":\"t\"}", 0, 0, CARDEA_ERROR_MISSING_MANDATORY_ELEMENT, "Missing mandatory element (janus)", FALSE },
	{ "{\"transaction\":\"t\",\"janus\":[]}", 0, 0, CARDEA_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (janus should be a string)", FALSE },
	{ "{\"transaction\":\"t\",\"janus\":\"create\",\"id\":0}", 0, 0, 0, NULL, TRUE },
	{ "{\"transaction\":\"t\",\"janus\":\"create\",\"id\":-5}", 0, 0, CARDEA_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (id should be a positive integer)", FALSE },
	{ "{\"transaction\":\"t\",\"janus\":\"create\",\"id\":\"7\"}", 0, 0, CARDEA_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (id should be a positive integer)", FALSE },
	{ "{\"transaction\":\"t\",\"janus\":\"create\",\"id\":9007199254740992}", 0, 0, CARDEA_ERROR_INVALID_ELEMENT_TYPE, "Invalid element type (id should be a positive integer)", FALSE },
	{ "{\"transaction\":\"t\",\"janus\":\"create\",\"id\":9007199254740991}", 0, 0, 0, NULL, TRUE },
	{ "{\"transaction\":\"t\",\"janus\":\"CREATE\"}", 0, 0, 0, NULL, TRUE },
	{ "{\"transaction\":\"t\",\"janus\":\"keepalive\",\"session_id\":5}", 6, 0, CARDEA_ERROR_INVALID_REQUEST_PATH, "Conflicting session ID (payload and path)", TRUE },
	{ "{\"transaction\":\"t\",\"janus\":\"keepalive\",\"session_id\":6}", 6, 0, 0, NULL, TRUE },
	{ "{\"transaction\":\"t\",\"janus\":\"message\",\"handle_id\":1}", 6, 2, CARDEA_ERROR_INVALID_REQUEST_PATH, "Conflicting handle ID (payload and path)", TRUE },
	{ "{\"transaction\":\"t\",\"janus\":\"message\",\"session_id\":null,\"handle_id\":\"x\"}", 0, 0, 0, NULL, TRUE },
	{ "{\"transaction\":\"t\",\"janus\":\"message\",\"session_id\":-3}", 0, 0, 0, NULL, TRUE },
};

static void test_envelope_cases(void) {
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		const envelope_case *c = &cases[i];
		json_error_t err;
		json_t *root = json_loads(c->json, 0, &err);
		g_assert_nonnull(root);
		cardea_api_envelope env;
		char *reason = NULL;
		int code = cardea_api_parse_envelope(root, c->path_session, c->path_handle, &env, &reason);
		if (code != c->code || (c->code && g_strcmp0(reason, c->reason) != 0))
			g_error("case %u (%s): got %d '%s', expected %d '%s'", i, c->json, code, reason, c->code, c->reason);
		g_assert_cmpint(env.transaction != NULL, ==, c->transaction);
		g_free(reason);
		json_decref(root);
	}
}

static void test_envelope_fields(void) {
	json_t *root = json_loads("{\"transaction\":\"abc\",\"janus\":\"Message\",\"session_id\":12,\"handle_id\":34}", 0, NULL);
	cardea_api_envelope env;
	char *reason = NULL;
	g_assert_cmpint(cardea_api_parse_envelope(root, 0, 0, &env, &reason), ==, 0);
	g_assert_cmpstr(env.transaction, ==, "abc");
	g_assert_cmpstr(env.verb, ==, "message");
	g_assert_true(env.has_session && env.has_handle);
	g_assert_cmpint(env.session_id, ==, 12);
	g_assert_cmpint(env.handle_id, ==, 34);
	json_decref(root);

	/* Ids from an HTTP path are copied into the request. */
	root = json_loads("{\"transaction\":\"abc\",\"janus\":\"trickle\"}", 0, NULL);
	g_assert_cmpint(cardea_api_parse_envelope(root, 77, 88, &env, &reason), ==, 0);
	g_assert_cmpint(json_integer_value(json_object_get(root, "session_id")), ==, 77);
	g_assert_cmpint(json_integer_value(json_object_get(root, "handle_id")), ==, 88);
	g_assert_cmpint(env.session_id, ==, 77);
	json_decref(root);

	/* An overlong verb is truncated, not overflowed (and stays unknown). */
	char *big = g_strdup_printf("{\"transaction\":\"t\",\"janus\":\"%0200d\"}", 0);
	root = json_loads(big, 0, NULL);
	g_assert_cmpint(cardea_api_parse_envelope(root, 0, 0, &env, &reason), ==, 0);
	g_assert_cmpuint(strlen(env.verb), ==, sizeof(env.verb) - 1);
	json_decref(root);
	g_free(big);
}

static void test_error_shape(void) {
	json_t *e = cardea_api_error_new(42, "tx", CARDEA_ERROR_SESSION_NOT_FOUND, "No such session 42");
	g_assert_cmpstr(json_string_value(json_object_get(e, "janus")), ==, "error");
	g_assert_cmpint(json_integer_value(json_object_get(e, "session_id")), ==, 42);
	g_assert_cmpstr(json_string_value(json_object_get(e, "transaction")), ==, "tx");
	json_t *err = json_object_get(e, "error");
	g_assert_cmpint(json_integer_value(json_object_get(err, "code")), ==, 458);
	g_assert_cmpstr(json_string_value(json_object_get(err, "reason")), ==, "No such session 42");
	json_decref(e);

	/* No session, no transaction, default text. */
	e = cardea_api_error_new(0, NULL, CARDEA_ERROR_INVALID_JSON_OBJECT, NULL);
	g_assert_null(json_object_get(e, "session_id"));
	g_assert_null(json_object_get(e, "transaction"));
	g_assert_cmpstr(json_string_value(json_object_get(json_object_get(e, "error"), "reason")), ==, "Invalid JSON Object");
	json_decref(e);

	/* Every Janus code has its own default text. */
	int codes[] = { 403, 405, 450, 452, 453, 454, 455, 456, 457, 458, 459, 460, 461, 462, 463,
		464, 465, 466, 467, 468, 469, 470, 471, 472 };
	for (guint i = 0; i < G_N_ELEMENTS(codes); i++)
		g_assert_cmpstr(cardea_api_error_text(codes[i]), !=, cardea_api_error_text(490));
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/api/envelope-cases", test_envelope_cases);
	g_test_add_func("/api/envelope-fields", test_envelope_fields);
	g_test_add_func("/api/error-shape", test_error_shape);
	return g_test_run();
}
