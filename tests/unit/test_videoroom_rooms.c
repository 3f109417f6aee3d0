/* Unit tests for the VideoRoom room properties (plugins/videoroom/
 * room-config.c): defaults, reading a room from a .jcfg section and from a
 * `create`/`edit` body, type and codec errors, and that what
 * vr_props_write() produces (permanent rooms) reads back the same. */
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "cardea/config.h"
#include "../../plugins/videoroom/room-config.h"

static cardea_config *parse(const char *text) {
	GError *error = NULL;
	cardea_config *cfg = cardea_config_load_string("vr.jcfg", text, &error);
	g_assert_no_error(error);
	g_assert_nonnull(cfg);
	return cfg;
}

static void test_defaults(void) {
	vr_props p;
	vr_props_init(&p);
	g_assert_cmpint(p.publishers, ==, 3);
	g_assert_cmpstr(p.audiocodec, ==, "opus");
	g_assert_cmpstr(p.videocodec, ==, "vp8");
	g_assert_true(p.opus_fec);
	g_assert_false(p.is_private);
	g_assert_null(p.secret);
	g_assert_cmpint(p.audio_active_packets, ==, 100);
	g_assert_cmpint(p.audio_level_average, ==, 25);
	/* Nothing differs from the defaults: only the braces are written. */
	GString *out = g_string_new(NULL);
	vr_props_write(&p, "7", NULL, out);
	g_assert_cmpstr(out->str, ==, "room-7: {\n}\n");
	g_string_free(out, TRUE);
	vr_props_clear(&p);
}

static void test_from_config(void) {
	cardea_config *cfg = parse("room-1234: {\n\tdescription = \"Demo Room\"\n\tsecret = \"adminpwd\"\n"
		"\tpublishers = 6\n\tbitrate = \"128000\"\n\tfir_freq = 10\n\tvideocodec = \"VP9, h264\"\n"
		"\tis_private = \"yes\"\n\topus_fec = false\n}\n");
	vr_props p;
	vr_props_init(&p);
	GError *error = NULL;
	gboolean ok = vr_props_from_config(&p, cfg, "room-1234", &error);
	g_assert_no_error(error);
	g_assert_true(ok);
	g_assert_cmpstr(p.description, ==, "Demo Room");
	g_assert_cmpstr(p.secret, ==, "adminpwd");
	g_assert_cmpint(p.publishers, ==, 6);
	g_assert_cmpint(p.bitrate, ==, 128000);
	g_assert_cmpint(p.fir_freq, ==, 10);
	g_assert_cmpstr(p.videocodec, ==, "vp9,h264");
	g_assert_true(p.is_private);
	g_assert_false(p.opus_fec);
	vr_props_clear(&p);
	cardea_config_free(cfg);
}

static void test_config_errors(void) {
	const char *bad[] = {
		"room-1: {\n\tpublishers = \"many\"\n}\n",
		"room-1: {\n\tvideocodec = \"vp7\"\n}\n",
		"room-1: {\n\tis_private = \"perhaps\"\n}\n",
		"room-1: {\n\tdescription = { a = 1 }\n}\n",
	};
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		cardea_config *cfg = parse(bad[i]);
		vr_props p;
		vr_props_init(&p);
		GError *error = NULL;
		g_assert_false(vr_props_from_config(&p, cfg, "room-1", &error));
		g_assert_nonnull(error);
		/* The message names the file and the line, like every config error. */
		g_assert_true(g_str_has_prefix(error->message, "vr.jcfg:2"));
		g_clear_error(&error);
		vr_props_clear(&p);
		cardea_config_free(cfg);
	}
}

static void test_from_json(void) {
	json_t *body = json_pack("{s:s, s:s, s:i, s:b, s:s}", "description", "x", "pin", "1", "publishers", 9,
		"notify_joining", 1, "audiocodec", "pcmu,OPUS");
	vr_props p;
	vr_props_init(&p);
	vr_prop_error err = { 0 };
	g_assert_true(vr_props_from_json(&p, body, NULL, &err));
	g_assert_cmpstr(p.description, ==, "x");
	g_assert_cmpstr(p.pin, ==, "1");
	g_assert_cmpint(p.publishers, ==, 9);
	g_assert_true(p.notify_joining);
	g_assert_cmpstr(p.audiocodec, ==, "pcmu,opus");
	json_decref(body);
	/* edit: only new_* names, and only editable ones */
	body = json_pack("{s:s, s:i, s:s}", "new_description", "y", "new_publishers", 2, "new_videocodec", "vp9");
	g_assert_true(vr_props_from_json(&p, body, "new_", &err));
	g_assert_cmpstr(p.description, ==, "y");
	g_assert_cmpint(p.publishers, ==, 2);
	g_assert_cmpstr(p.videocodec, ==, "vp8");
	json_decref(body);
	/* wrong types: 430 naming the member */
	body = json_pack("{s:s}", "bitrate", "fast");
	g_assert_false(vr_props_from_json(&p, body, NULL, &err));
	g_assert_cmpint(err.code, ==, 430);
	g_assert_cmpstr(err.text, ==, "Invalid element type (bitrate should be a positive integer)");
	g_free(err.text);
	json_decref(body);
	body = json_pack("{s:s}", "videocodec", "vp8,theora");
	g_assert_false(vr_props_from_json(&p, body, NULL, &err));
	g_assert_cmpint(err.code, ==, 430);
	g_free(err.text);
	json_decref(body);
	vr_props_clear(&p);
}

/* write -> parse -> read gives the same properties, quotes included. */
static void test_round_trip(void) {
	vr_props p;
	vr_props_init(&p);
	json_t *body = json_pack("{s:s, s:s, s:i, s:i, s:b, s:s, s:b}", "description", "A \"quoted\" \\ room",
		"secret", "s3", "publishers", 12, "bitrate", 512000, "require_pvtid", 1, "videocodec", "h264,vp8",
		"opus_fec", 0);
	vr_prop_error err = { 0 };
	g_assert_true(vr_props_from_json(&p, body, NULL, &err));
	json_decref(body);
	GString *out = g_string_new("general: {\n}\n");
	vr_props_write(&p, "42", "tok1,tok2", out);
	cardea_config *cfg = parse(out->str);
	vr_props q;
	vr_props_init(&q);
	GError *error = NULL;
	gboolean ok = vr_props_from_config(&q, cfg, "room-42", &error);
	g_assert_no_error(error);
	g_assert_true(ok);
	g_assert_cmpstr(q.description, ==, p.description);
	g_assert_cmpstr(q.secret, ==, "s3");
	g_assert_cmpint(q.publishers, ==, 12);
	g_assert_cmpint(q.bitrate, ==, 512000);
	g_assert_true(q.require_pvtid);
	g_assert_false(q.opus_fec);
	g_assert_cmpstr(q.videocodec, ==, "h264,vp8");
	char **allowed = NULL;
	g_assert_true(cardea_config_get_list(cfg, "room-42", "allowed", &allowed, &error));
	g_assert_cmpuint(g_strv_length(allowed), ==, 2);
	g_assert_cmpstr(allowed[0], ==, "tok1");
	g_strfreev(allowed);
	/* the public view for `list` has no secret */
	json_t *pub = json_object();
	vr_props_to_json(&q, pub);
	g_assert_null(json_object_get(pub, "secret"));
	g_assert_cmpint(json_integer_value(json_object_get(pub, "max_publishers")), ==, 12);
	g_assert_true(json_is_false(json_object_get(pub, "pin_required")));
	json_decref(pub);
	cardea_config_free(cfg);
	g_string_free(out, TRUE);
	vr_props_clear(&p);
	vr_props_clear(&q);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/videoroom/rooms/defaults", test_defaults);
	g_test_add_func("/videoroom/rooms/from-config", test_from_config);
	g_test_add_func("/videoroom/rooms/config-errors", test_config_errors);
	g_test_add_func("/videoroom/rooms/from-json", test_from_json);
	g_test_add_func("/videoroom/rooms/round-trip", test_round_trip);
	return g_test_run();
}
