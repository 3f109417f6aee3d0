/* Unit tests for core/config.c (cardea/config.h): parsing, every getter's
 * accepted forms and error paths, listing, unknown-key warnings, writing. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "cardea/config.h"
#include "cardea/module.h"

/* ---- helpers ---- */

static cardea_config *parse_ok(const char *text) {
	GError *error = NULL;
	cardea_config *cfg = cardea_config_load_string("t.jcfg", text, &error);
	g_assert_no_error(error);
	g_assert_nonnull(cfg);
	return cfg;
}

/* Asserts that `error` has `code` and its message is exactly `msg`. */
static void assert_error(GError *error, int code, const char *msg) {
	g_assert_nonnull(error);
	g_assert_cmpstr(error->message, ==, msg);
	g_assert_error(error, CARDEA_CONFIG_ERROR, code);
}

static char *make_tmpdir(void) {
	GError *error = NULL;
	char *dir = g_dir_make_tmp("cardea-test-config-XXXXXX", &error);
	g_assert_no_error(error);
	return dir;
}

/* Removes the files a test left in its temp folder, then the folder. */
static void remove_tmpdir(char *dir) {
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;
	while (d && (name = g_dir_read_name(d)) != NULL) {
		char *p = g_build_filename(dir, name, NULL);
		g_remove(p);
		g_free(p);
	}
	if (d)
		g_dir_close(d);
	g_rmdir(dir);
	g_free(dir);
}

/* Runs fn(data) with stdout (where the core logger writes WARN lines)
 * redirected, and returns what was written. */
static char *capture_stdout(void (*fn)(gpointer), gpointer data) {
	char *path = NULL;
	int fd = g_file_open_tmp("cardea-test-log-XXXXXX", &path, NULL);
	g_assert_cmpint(fd, >=, 0);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	fn(data);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fd);
	char *text = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_remove(path);
	g_free(path);
	return text;
}

/* ---- loading ---- */

static void test_syntax_error(void) {
	GError *error = NULL;
	cardea_config *cfg = cardea_config_load_string("my.jcfg",
		"general: {\n\tx = 1\n\ty = = 2\n}\n", &error);
	g_assert_null(cfg);
	assert_error(error, CARDEA_CONFIG_ERROR_SYNTAX, "my.jcfg:3: syntax error");
	g_clear_error(&error);

	cfg = cardea_config_load_string("my.jcfg", "a = 1\n\n\nb = \"unterminated\n", &error);
	g_assert_null(cfg);
	assert_error(error, CARDEA_CONFIG_ERROR_SYNTAX, "my.jcfg:5: syntax error");
	g_clear_error(&error);

	cfg = cardea_config_load_string("my.jcfg", "a = 1\na = 2\n", &error);
	g_assert_null(cfg);
	assert_error(error, CARDEA_CONFIG_ERROR_SYNTAX, "my.jcfg:2: duplicate setting name");
	g_clear_error(&error);

	/* Bare yes/no are not libconfig syntax (Janus rejects them too). */
	cfg = cardea_config_load_string("my.jcfg", "g: {\n\tb = yes\n}\n", &error);
	g_assert_null(cfg);
	assert_error(error, CARDEA_CONFIG_ERROR_SYNTAX, "my.jcfg:2: syntax error");
	g_clear_error(&error);

	/* From a file: the name is reported exactly as given. */
	char *path = g_test_build_filename(G_TEST_DIST, "config", "syntax-error.jcfg", NULL);
	cfg = cardea_config_load(path, &error);
	g_assert_null(cfg);
	char *msg = g_strdup_printf("%s:6: syntax error", path);
	assert_error(error, CARDEA_CONFIG_ERROR_SYNTAX, msg);
	g_free(msg);
	g_clear_error(&error);
	g_free(path);
}

static void test_missing_file(void) {
	GError *error = NULL;
	cardea_config *cfg = cardea_config_load("/nonexistent/cardea/x.jcfg", &error);
	g_assert_null(cfg);
	assert_error(error, CARDEA_CONFIG_ERROR_IO,
		"/nonexistent/cardea/x.jcfg: cannot read: No such file or directory");
	g_clear_error(&error);

	char *dir = make_tmpdir();
	cfg = cardea_config_load(dir, &error);
	g_assert_null(cfg);
	char *msg = g_strdup_printf("%s: cannot read: Is a directory", dir);
	assert_error(error, CARDEA_CONFIG_ERROR_IO, msg);
	g_free(msg);
	g_clear_error(&error);

	/* A FIFO must be refused, not block start-up waiting for a writer. */
	char *fifo = g_build_filename(dir, "fifo.jcfg", NULL);
	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
	cfg = cardea_config_load(fifo, &error);
	g_assert_null(cfg);
	msg = g_strdup_printf("%s: cannot read: not a regular file", fifo);
	assert_error(error, CARDEA_CONFIG_ERROR_IO, msg);
	g_free(msg);
	g_clear_error(&error);
	g_free(fifo);
	remove_tmpdir(dir);
}

static void test_too_big(void) {
	char *dir = make_tmpdir();
	char *path = g_build_filename(dir, "big.jcfg", NULL);
	gsize size = 4 * 1024 * 1024;
	char *text = g_malloc(size + 2);
	memset(text, '#', size + 1);
	text[size + 1] = '\0';
	GError *error = NULL;

	/* Exactly the limit: one long comment line, accepted. */
	g_assert_true(g_file_set_contents(path, text, (gssize)size, NULL));
	cardea_config *cfg = cardea_config_load(path, &error);
	g_assert_no_error(error);
	g_assert_nonnull(cfg);
	cardea_config_free(cfg);

	g_assert_true(g_file_set_contents(path, text, (gssize)size + 1, NULL));
	cfg = cardea_config_load(path, &error);
	g_assert_null(cfg);
	char *msg = g_strdup_printf("%s: file is too big (4194305 bytes, the limit is 4194304)", path);
	assert_error(error, CARDEA_CONFIG_ERROR_IO, msg);
	g_free(msg);
	g_clear_error(&error);

	cfg = cardea_config_load_string("s.jcfg", text, &error);
	g_assert_null(cfg);
	assert_error(error, CARDEA_CONFIG_ERROR_IO, "s.jcfg: file is too big (4194305 bytes, the limit is 4194304)");
	g_clear_error(&error);

	g_free(text);
	g_free(path);
	remove_tmpdir(dir);
}

static void test_file_oddities(void) {
	char *dir = make_tmpdir();
	char *path = g_build_filename(dir, "odd.jcfg", NULL);
	GError *error = NULL;

	/* A NUL byte would silently truncate the file inside libconfig. */
	g_assert_true(g_file_set_contents(path, "a = 1\nb = 2\0\nc = 3\n", 19, NULL));
	cardea_config *cfg = cardea_config_load(path, &error);
	g_assert_null(cfg);
	char *msg = g_strdup_printf("%s:2: NUL byte in the file (not a text file?)", path);
	assert_error(error, CARDEA_CONFIG_ERROR_SYNTAX, msg);
	g_free(msg);
	g_clear_error(&error);

	/* Byte-order mark and CRLF line ends, as Windows editors leave them. */
	g_assert_true(g_file_set_contents(path, "\xEF\xBB\xBFg: {\r\n\ta = 1\r\n}\r\nb = 2\r\n", -1, NULL));
	cfg = cardea_config_load(path, &error);
	g_assert_no_error(error);
	gint64 v = 0;
	g_assert_true(cardea_config_get_int(cfg, "g", "a", 0, 0, 10, &v, NULL));
	g_assert_cmpint(v, ==, 1);
	g_assert_cmpint(cardea_config_line(cfg, NULL, "b"), ==, 4);
	g_assert_cmpstr(cardea_config_path(cfg), ==, path);
	cardea_config_free(cfg);

	/* Empty file: a valid, empty configuration. */
	g_assert_true(g_file_set_contents(path, "", 0, NULL));
	cfg = cardea_config_load(path, &error);
	g_assert_no_error(error);
	gchar **sections = cardea_config_list_sections(cfg);
	g_assert_cmpuint(g_strv_length(sections), ==, 0);
	g_strfreev(sections);
	cardea_config_free(cfg);

	g_free(path);
	remove_tmpdir(dir);
}

static void test_include_refused(void) {
	GError *error = NULL;
	cardea_config *cfg = cardea_config_load_string("inc.jcfg", "a = 1\n  @include \"/etc/passwd\"\n", &error);
	g_assert_null(cfg);
	assert_error(error, CARDEA_CONFIG_ERROR_SYNTAX,
		"inc.jcfg:2: @include is not supported (put the settings in this file)");
	g_clear_error(&error);
	/* Inside a string or a comment it is just text. */
	cfg = parse_ok("a = \"@include x\" # @include y\n/* \n@include z */\n");
	cardea_config_free(cfg);
}

/* libconfig 1.5 wraps 32-bit overflows silently; the pre-scan must not. */
static void test_big_integers(void) {
	cardea_config *cfg = parse_ok(
		"a = 3000000000\n"
		"b = -3000000000\n"
		"c = 0xFFFFFFFF\n"
		"d = 2147483647\n"
		"e = -2147483648\n"
		"f = 3000000000L\n"
		"g = \"3000000000\"\n"
		"h = [ 1, 2 ]\n"
		"room-4294967296: { x = 1.5e10, y = 5000000000 }\n");
	gint64 v = 0;
	g_assert_true(cardea_config_get_int(cfg, NULL, "a", 0, G_MININT64, G_MAXINT64, &v, NULL));
	g_assert_cmpint(v, ==, 3000000000LL);
	g_assert_true(cardea_config_get_int(cfg, NULL, "b", 0, G_MININT64, G_MAXINT64, &v, NULL));
	g_assert_cmpint(v, ==, -3000000000LL);
	g_assert_true(cardea_config_get_int(cfg, NULL, "c", 0, G_MININT64, G_MAXINT64, &v, NULL));
	g_assert_cmpint(v, ==, 4294967295LL);
	g_assert_true(cardea_config_get_int(cfg, NULL, "d", 0, G_MININT64, G_MAXINT64, &v, NULL));
	g_assert_cmpint(v, ==, 2147483647LL);
	g_assert_true(cardea_config_get_int(cfg, NULL, "e", 0, G_MININT64, G_MAXINT64, &v, NULL));
	g_assert_cmpint(v, ==, -2147483648LL);
	g_assert_true(cardea_config_get_int(cfg, NULL, "f", 0, G_MININT64, G_MAXINT64, &v, NULL));
	g_assert_cmpint(v, ==, 3000000000LL);
	g_assert_true(cardea_config_get_int(cfg, NULL, "g", 0, G_MININT64, G_MAXINT64, &v, NULL));
	g_assert_cmpint(v, ==, 3000000000LL);
	g_assert_true(cardea_config_get_int(cfg, "room-4294967296", "y", 0, G_MININT64, G_MAXINT64, &v, NULL));
	g_assert_cmpint(v, ==, 5000000000LL);
	char *s = NULL;
	g_assert_true(cardea_config_get_string(cfg, NULL, "a", NULL, &s, NULL));
	g_assert_cmpstr(s, ==, "3000000000");
	g_free(s);

	/* Out of range for the option: the real number is reported. */
	GError *error = NULL;
	g_assert_false(cardea_config_get_int(cfg, NULL, "a", 0, 0, 100, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_VALUE, "t.jcfg:1: a must be an integer between 0 and 100 (got 3000000000)");
	g_clear_error(&error);
	cardea_config_free(cfg);

	cfg = cardea_config_load_string("t.jcfg", "a = 1\nb = 99999999999999999999\n", &error);
	g_assert_null(cfg);
	assert_error(error, CARDEA_CONFIG_ERROR_VALUE, "t.jcfg:2: integer 99999999999999999999 does not fit in 64 bits");
	g_clear_error(&error);
	cfg = cardea_config_load_string("t.jcfg", "a = 1\nb = 0x;\nc = 2\n", &error);
	g_assert_null(cfg);
	assert_error(error, CARDEA_CONFIG_ERROR_SYNTAX, "t.jcfg:2: syntax error");
	g_clear_error(&error);
	cfg = cardea_config_load_string("t.jcfg", "b = 0x1FFFFFFFFFFFFFFFFL\n", &error);
	g_assert_null(cfg);
	assert_error(error, CARDEA_CONFIG_ERROR_VALUE, "t.jcfg:1: integer 0x1FFFFFFFFFFFFFFFF does not fit in 64 bits");
	g_clear_error(&error);
}

/* ---- getters ---- */

static const char *const getter_text =
	"top = 5\n"                          /* 1 */
	"general: {\n"                       /* 2 */
	"\tnum = 6\n"                        /* 3 */
	"\tnumstr = \"6\"\n"                 /* 4 */
	"\tspaced = \" 7 \"\n"               /* 5 */
	"\tabc = \"abc\"\n"                  /* 6 */
	"\tfloat = 1.5\n"                    /* 7 */
	"\tgrp: { x = 1 }\n"                 /* 8 */
	"\tarr = [ 1, 2 ]\n"                 /* 9 */
	"\tlst = ( 1, \"a\" )\n"             /* 10 */
	"\tbig = 100\n"                      /* 11 */
	"\tneg = -4\n"                       /* 12 */
	"\tyes = true\n"                     /* 13 */
	"\tempty = \"\"\n"                   /* 14 */
	"\thuge = \"99999999999999999999\"\n" /* 15 */
	"\tbig64 = 5000000000L\n"            /* 16 */
	"}\n"                                /* 17 */
	"scalar = \"not a group\"\n";        /* 18 */

static void test_get_int(void) {
	cardea_config *cfg = parse_ok(getter_text);
	gint64 v = -1;
	GError *error = NULL;

	g_assert_true(cardea_config_get_int(cfg, "general", "num", 0, 0, 10, &v, &error));
	g_assert_cmpint(v, ==, 6);
	g_assert_true(cardea_config_get_int(cfg, "general", "numstr", 0, 0, 10, &v, &error));
	g_assert_cmpint(v, ==, 6);
	g_assert_true(cardea_config_get_int(cfg, "general", "spaced", 0, 0, 10, &v, &error));
	g_assert_cmpint(v, ==, 7);
	g_assert_true(cardea_config_get_int(cfg, "general", "neg", 0, -10, 10, &v, &error));
	g_assert_cmpint(v, ==, -4);
	g_assert_true(cardea_config_get_int(cfg, "general", "big64", 0, 0, G_MAXINT64, &v, &error));
	g_assert_cmpint(v, ==, 5000000000LL);
	g_assert_true(cardea_config_get_int(cfg, NULL, "top", 0, 0, 10, &v, &error));
	g_assert_cmpint(v, ==, 5);
	/* Absent key, absent section: the default, unchecked against the range. */
	g_assert_true(cardea_config_get_int(cfg, "general", "nope", 42, 0, 10, &v, &error));
	g_assert_cmpint(v, ==, 42);
	g_assert_true(cardea_config_get_int(cfg, "nosection", "num", 43, 0, 10, &v, &error));
	g_assert_cmpint(v, ==, 43);
	g_assert_no_error(error);

	v = 99;
	g_assert_false(cardea_config_get_int(cfg, "general", "abc", 0, 0, 86400, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE,
		"t.jcfg:6: general.abc must be an integer between 0 and 86400 (got \"abc\")");
	g_clear_error(&error);
	g_assert_cmpint(v, ==, 99);   /* untouched on error */
	g_assert_false(cardea_config_get_int(cfg, "general", "float", 0, 0, 10, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE, "t.jcfg:7: general.float must be an integer between 0 and 10 (got 1.5)");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_int(cfg, "general", "grp", 0, 0, 10, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE, "t.jcfg:8: general.grp must be an integer between 0 and 10, not a group");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_int(cfg, "general", "arr", 0, 0, 10, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE, "t.jcfg:9: general.arr must be an integer between 0 and 10, not a list");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_int(cfg, "general", "lst", 0, 0, 10, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE, "t.jcfg:10: general.lst must be an integer between 0 and 10, not a list");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_int(cfg, "general", "yes", 0, 0, 10, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE, "t.jcfg:13: general.yes must be an integer between 0 and 10 (got true)");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_int(cfg, "general", "empty", 0, 0, 10, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE, "t.jcfg:14: general.empty must be an integer between 0 and 10 (got \"\")");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_int(cfg, "general", "big", 0, 0, 10, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_VALUE, "t.jcfg:11: general.big must be an integer between 0 and 10 (got 100)");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_int(cfg, "general", "numstr", 0, 7, 10, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_VALUE, "t.jcfg:4: general.numstr must be an integer between 7 and 10 (got \"6\")");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_int(cfg, "general", "neg", 0, 0, G_MAXINT64, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_VALUE, "t.jcfg:12: general.neg must be an integer >= 0 (got -4)");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_int(cfg, "general", "big", 0, G_MININT64, 5, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_VALUE, "t.jcfg:11: general.big must be an integer <= 5 (got 100)");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_int(cfg, "general", "huge", 0, G_MININT64, G_MAXINT64, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_VALUE, "t.jcfg:15: general.huge must be an integer (got \"99999999999999999999\")");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_int(cfg, NULL, "general", 0, 0, 10, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE, "t.jcfg:2: general must be an integer between 0 and 10, not a group");
	g_clear_error(&error);
	/* A "section" that is a scalar is an error, not an empty section. */
	g_assert_false(cardea_config_get_int(cfg, "scalar", "x", 0, 0, 10, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE, "t.jcfg:18: scalar must be a group (scalar: { ... })");
	g_clear_error(&error);
	cardea_config_free(cfg);
}

static void test_get_bool(void) {
	cardea_config *cfg = parse_ok(
		"g: {\n"
		"\ta = true\n\tb = FALSE\n\tc = True\n"
		"\td = \"yes\"\n\te = \"NO\"\n\tf = \"Yes\"\n\tg = \"1\"\n\th = \"0\"\n"
		"\ti = 1\n\tj = 0\n\tk = \" true \"\n\tl = \"TRUE\"\n\tm = \"false\"\n"
		"\tbad1 = \"maybe\"\n\tbad2 = 2\n\tbad3 = 1.0\n\tbad4 = [ true ]\n\tbad5: { }\n\tbad6 = \"\"\n"
		"\tbad7 = 1L\n\tbad8 = 2L\n"
		"}\n");
	static const struct { const char *key; gboolean value; } good[] = {
		{ "a", TRUE }, { "b", FALSE }, { "c", TRUE }, { "d", TRUE }, { "e", FALSE }, { "f", TRUE },
		{ "g", TRUE }, { "h", FALSE }, { "i", TRUE }, { "j", FALSE }, { "k", TRUE }, { "l", TRUE },
		{ "m", FALSE }, { "bad7", TRUE },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
		GError *error = NULL;
		gboolean v = !good[i].value;
		g_assert_true(cardea_config_get_bool(cfg, "g", good[i].key, !good[i].value, &v, &error));
		g_assert_no_error(error);
		g_assert_cmpint(v, ==, good[i].value);
	}
	gboolean v = TRUE;
	GError *error = NULL;
	g_assert_true(cardea_config_get_bool(cfg, "g", "absent", FALSE, &v, &error));
	g_assert_false(v);
	static const struct { const char *key; const char *msg; } bad[] = {
		{ "bad1", "t.jcfg:15: g.bad1 must be a boolean (true/false, yes/no, 1/0) (got \"maybe\")" },
		{ "bad2", "t.jcfg:16: g.bad2 must be a boolean (true/false, yes/no, 1/0) (got 2)" },
		{ "bad3", "t.jcfg:17: g.bad3 must be a boolean (true/false, yes/no, 1/0) (got 1.0)" },
		{ "bad4", "t.jcfg:18: g.bad4 must be a boolean (true/false, yes/no, 1/0), not a list" },
		{ "bad5", "t.jcfg:19: g.bad5 must be a boolean (true/false, yes/no, 1/0), not a group" },
		{ "bad6", "t.jcfg:20: g.bad6 must be a boolean (true/false, yes/no, 1/0) (got \"\")" },
		{ "bad8", "t.jcfg:22: g.bad8 must be a boolean (true/false, yes/no, 1/0) (got 2)" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_assert_false(cardea_config_get_bool(cfg, "g", bad[i].key, FALSE, &v, &error));
		assert_error(error, CARDEA_CONFIG_ERROR_TYPE, bad[i].msg);
		g_clear_error(&error);
	}
	cardea_config_free(cfg);
}

static void test_get_string(void) {
	cardea_config *cfg = parse_ok(getter_text);
	GError *error = NULL;
	static const struct { const char *section, *key, *value; } good[] = {
		{ "general", "num", "6" }, { "general", "numstr", "6" }, { "general", "spaced", " 7 " },
		{ "general", "float", "1.5" }, { "general", "yes", "true" }, { "general", "empty", "" },
		{ "general", "neg", "-4" }, { "general", "big64", "5000000000" }, { NULL, "top", "5" },
		{ NULL, "scalar", "not a group" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
		char *s = NULL;
		g_assert_true(cardea_config_get_string(cfg, good[i].section, good[i].key, "def", &s, &error));
		g_assert_no_error(error);
		g_assert_cmpstr(s, ==, good[i].value);
		g_free(s);
	}
	char *s = (char *)"x";
	g_assert_true(cardea_config_get_string(cfg, "general", "absent", NULL, &s, &error));
	g_assert_null(s);
	g_assert_true(cardea_config_get_string(cfg, "general", "absent", "dflt", &s, &error));
	g_assert_cmpstr(s, ==, "dflt");
	g_free(s);
	s = NULL;
	g_assert_false(cardea_config_get_string(cfg, "general", "grp", NULL, &s, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE, "t.jcfg:8: general.grp must be a string, not a group");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_string(cfg, "general", "arr", NULL, &s, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE, "t.jcfg:9: general.arr must be a string, not a list");
	g_clear_error(&error);
	g_assert_null(s);
	cardea_config_free(cfg);

	/* Long strings are cut short and escaped in messages. */
	cfg = parse_ok("g: { n = \"tab\\there, then a long tail abcdefghijabcdefghijabcdefghij\" }\n");
	gint64 v;
	g_assert_false(cardea_config_get_int(cfg, "g", "n", 0, 0, 1, &v, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE,
		"t.jcfg:1: g.n must be an integer between 0 and 1 (got \"tab\\there, then a long tail abcdefghijabcdefghija...\")");
	g_clear_error(&error);
	cardea_config_free(cfg);
}

static void assert_list(char **list, const char *const *expect) {
	g_assert_nonnull(list);
	g_assert_cmpuint(g_strv_length(list), ==, g_strv_length((char **)expect));
	for (guint i = 0; expect[i]; i++)
		g_assert_cmpstr(list[i], ==, expect[i]);
}

static void test_get_list(void) {
	cardea_config *cfg = parse_ok(
		"l: {\n"                                          /* 1 */
		"\tstr = \"a.so, b.so,, ,c.so ,\"\n"              /* 2 */
		"\tone = \"single.so\"\n"                         /* 3 */
		"\tarr = [ \" a \", \"\", \"b\" ]\n"              /* 4 */
		"\tmixed = ( \"x\", 5, true )\n"                  /* 5 */
		"\tempty = [ ]\n"                                 /* 6 */
		"\temptystr = \"\"\n"                             /* 7 */
		"\tnum = 5\n"                                     /* 8 */
		"\tgrp: { a = 1 }\n"                              /* 9 */
		"\tnested = ( \"a\",\n\t\t{ b = 1 } )\n"          /* 10-11 */
		"\tnested2 = ( \"a\", [ \"b\" ] )\n"              /* 12 */
		"}\n");
	char **list = NULL;
	GError *error = NULL;
	g_assert_true(cardea_config_get_list(cfg, "l", "str", &list, &error));
	assert_list(list, (const char *const[]){ "a.so", "b.so", "c.so", NULL });
	g_strfreev(list);
	g_assert_true(cardea_config_get_list(cfg, "l", "one", &list, &error));
	assert_list(list, (const char *const[]){ "single.so", NULL });
	g_strfreev(list);
	g_assert_true(cardea_config_get_list(cfg, "l", "arr", &list, &error));
	assert_list(list, (const char *const[]){ "a", "b", NULL });
	g_strfreev(list);
	g_assert_true(cardea_config_get_list(cfg, "l", "mixed", &list, &error));
	assert_list(list, (const char *const[]){ "x", "5", "true", NULL });
	g_strfreev(list);
	g_assert_true(cardea_config_get_list(cfg, "l", "empty", &list, &error));
	assert_list(list, (const char *const[]){ NULL });
	g_strfreev(list);
	g_assert_true(cardea_config_get_list(cfg, "l", "emptystr", &list, &error));
	assert_list(list, (const char *const[]){ NULL });
	g_strfreev(list);
	g_assert_true(cardea_config_get_list(cfg, "l", "num", &list, &error));
	assert_list(list, (const char *const[]){ "5", NULL });
	g_strfreev(list);
	g_assert_true(cardea_config_get_list(cfg, "l", "absent", &list, &error));
	assert_list(list, (const char *const[]){ NULL });
	g_strfreev(list);
	g_assert_true(cardea_config_get_list(cfg, "nosection", "absent", &list, &error));
	assert_list(list, (const char *const[]){ NULL });
	g_strfreev(list);
	g_assert_no_error(error);

	list = NULL;
	g_assert_false(cardea_config_get_list(cfg, "l", "grp", &list, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE,
		"t.jcfg:9: l.grp must be a list (\"a, b\" or [ \"a\", \"b\" ]), not a group");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_list(cfg, "l", "nested", &list, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE, "t.jcfg:11: l.nested item 2 must be a string, not a group");
	g_clear_error(&error);
	g_assert_false(cardea_config_get_list(cfg, "l", "nested2", &list, &error));
	assert_error(error, CARDEA_CONFIG_ERROR_TYPE, "t.jcfg:12: l.nested2 item 2 must be a string, not a list");
	g_clear_error(&error);
	g_assert_null(list);
	cardea_config_free(cfg);
}

/* ---- structure ---- */

static const char *const structure_text =
	"a = 1\n"                          /* 1 */
	"zeta: {\n"                        /* 2 */
	"\tz = 1\n"                        /* 3 */
	"\ty = 2\n"                        /* 4 */
	"\tsub: { q = 1 }\n"               /* 5 */
	"\tx = 3\n"                        /* 6 */
	"}\n"                              /* 7 */
	"b = \"two\"\n"                    /* 8 */
	"room-1234: {\n"                   /* 9 */
	"\tdescription = \"Demo Room\"\n"  /* 10 */
	"\tmy-key = 6\n"                   /* 11 */
	"}\n"                              /* 12 */
	"alpha: { }\n";                    /* 13 */

static void test_sections_keys(void) {
	cardea_config *cfg = parse_ok(structure_text);
	gchar **v = cardea_config_list_sections(cfg);
	assert_list(v, (const char *const[]){ "zeta", "room-1234", "alpha", NULL });
	g_strfreev(v);
	v = cardea_config_list_keys(cfg, NULL);
	assert_list(v, (const char *const[]){ "a", "b", NULL });
	g_strfreev(v);
	v = cardea_config_list_keys(cfg, "zeta");
	assert_list(v, (const char *const[]){ "z", "y", "sub", "x", NULL });
	g_strfreev(v);
	v = cardea_config_list_keys(cfg, "room-1234");
	assert_list(v, (const char *const[]){ "description", "my-key", NULL });
	g_strfreev(v);
	v = cardea_config_list_keys(cfg, "alpha");
	assert_list(v, (const char *const[]){ NULL });
	g_strfreev(v);
	v = cardea_config_list_keys(cfg, "missing");
	assert_list(v, (const char *const[]){ NULL });
	g_strfreev(v);
	v = cardea_config_list_keys(cfg, "a");   /* a scalar, not a section */
	assert_list(v, (const char *const[]){ NULL });
	g_strfreev(v);
	cardea_config_free(cfg);
}

static void test_has_line(void) {
	cardea_config *cfg = parse_ok(structure_text);
	g_assert_true(cardea_config_has(cfg, NULL, "a"));
	g_assert_true(cardea_config_has(cfg, NULL, "zeta"));
	g_assert_true(cardea_config_has(cfg, "zeta", NULL));
	g_assert_true(cardea_config_has(cfg, "zeta", "sub"));
	g_assert_true(cardea_config_has(cfg, "room-1234", "my-key"));
	g_assert_false(cardea_config_has(cfg, "zeta", "q"));
	g_assert_false(cardea_config_has(cfg, "nope", NULL));
	g_assert_false(cardea_config_has(cfg, "nope", "x"));
	g_assert_false(cardea_config_has(cfg, "a", NULL));
	g_assert_false(cardea_config_has(cfg, NULL, "nope"));
	g_assert_false(cardea_config_has(cfg, NULL, NULL));

	g_assert_cmpint(cardea_config_line(cfg, NULL, "a"), ==, 1);
	g_assert_cmpint(cardea_config_line(cfg, NULL, "b"), ==, 8);
	g_assert_cmpint(cardea_config_line(cfg, "zeta", NULL), ==, 2);
	g_assert_cmpint(cardea_config_line(cfg, "zeta", "x"), ==, 6);
	g_assert_cmpint(cardea_config_line(cfg, "room-1234", NULL), ==, 9);
	g_assert_cmpint(cardea_config_line(cfg, "room-1234", "my-key"), ==, 11);
	g_assert_cmpint(cardea_config_line(cfg, "alpha", NULL), ==, 13);
	g_assert_cmpint(cardea_config_line(cfg, "zeta", "nope"), ==, 0);
	g_assert_cmpint(cardea_config_line(cfg, "nope", NULL), ==, 0);
	cardea_config_free(cfg);
}

/* Janus-style room names and keys with '-' (libconfig 1.5 accepts '-'
 * after the first character of a name). */
static void test_dash_names(void) {
	char *path = g_test_build_filename(G_TEST_DIST, "config", "rooms.jcfg", NULL);
	GError *error = NULL;
	cardea_config *cfg = cardea_config_load(path, &error);
	g_assert_no_error(error);
	gchar **sections = cardea_config_list_sections(cfg);
	assert_list(sections, (const char *const[]){ "general", "room-1234", "room-5678", NULL });
	g_strfreev(sections);
	char *s = NULL;
	g_assert_true(cardea_config_get_string(cfg, "room-1234", "description", NULL, &s, &error));
	g_assert_cmpstr(s, ==, "Demo Room");
	g_free(s);
	gint64 v = 0;
	g_assert_true(cardea_config_get_int(cfg, "room-1234", "publishers", 0, 0, 100, &v, &error));
	g_assert_cmpint(v, ==, 6);
	g_assert_true(cardea_config_get_int(cfg, "room-5678", "publishers", 0, 0, 100, &v, &error));
	g_assert_cmpint(v, ==, 6);   /* "6" == 6 */
	gboolean b = TRUE;
	g_assert_true(cardea_config_get_bool(cfg, "room-1234", "record", TRUE, &b, &error));
	g_assert_false(b);
	g_assert_true(cardea_config_get_bool(cfg, "room-5678", "record", FALSE, &b, &error));
	g_assert_true(b);
	g_assert_true(cardea_config_get_bool(cfg, "general", "string-ids", FALSE, &b, &error));
	g_assert_true(b);
	g_assert_no_error(error);
	cardea_config_free(cfg);
	g_free(path);

	/* A name must still start with a letter (or '*'). */
	cfg = cardea_config_load_string("t.jcfg", "g: {\n\t-x = 1\n}\n", &error);
	g_assert_null(cfg);
	assert_error(error, CARDEA_CONFIG_ERROR_SYNTAX, "t.jcfg:2: syntax error");
	g_clear_error(&error);
	cfg = cardea_config_load_string("t.jcfg", "1234: { }\n", &error);
	g_assert_null(cfg);
	assert_error(error, CARDEA_CONFIG_ERROR_SYNTAX, "t.jcfg:1: syntax error");
	g_clear_error(&error);
}

typedef struct {
	cardea_config *cfg;
	const char *section;
	const char *const *known;
	int count;
} warn_call;

static void call_warn(gpointer data) {
	warn_call *c = data;
	c->count = cardea_config_warn_unknown(c->cfg, c->section, c->known);
}

static void test_warn_unknown(void) {
	cardea_config *cfg = parse_ok(structure_text);
	int saved_level = cardea_log_level;
	cardea_log_level = CARDEA_LOG_WARN;
	static const char *const zeta_known[] = { "z", "x", NULL };
	warn_call c = { cfg, "zeta", zeta_known, -1 };
	char *out = capture_stdout(call_warn, &c);
	g_assert_cmpint(c.count, ==, 2);
	g_assert_nonnull(strstr(out, "t.jcfg:4: unknown key zeta.y (ignored)"));
	g_assert_nonnull(strstr(out, "t.jcfg:5: unknown key zeta.sub (ignored)"));
	g_assert_null(strstr(out, "zeta.x"));
	g_free(out);

	static const char *const top_known[] = { "b", NULL };
	warn_call c2 = { cfg, NULL, top_known, -1 };
	out = capture_stdout(call_warn, &c2);
	g_assert_cmpint(c2.count, ==, 1);
	g_assert_nonnull(strstr(out, "t.jcfg:1: unknown key a (ignored)"));
	g_free(out);

	/* Silent when the log level hides warnings, but still counted. */
	cardea_log_level = CARDEA_LOG_ERR;
	warn_call c3 = { cfg, "room-1234", NULL, -1 };
	out = capture_stdout(call_warn, &c3);
	g_assert_cmpint(c3.count, ==, 2);
	g_assert_cmpstr(out, ==, "");
	g_free(out);
	cardea_log_level = saved_level;

	static const char *const all_known[] = { "description", "my-key", NULL };
	g_assert_cmpint(cardea_config_warn_unknown(cfg, "room-1234", all_known), ==, 0);
	g_assert_cmpint(cardea_config_warn_unknown(cfg, "missing", NULL), ==, 0);
	g_assert_cmpint(cardea_config_warn_unknown(cfg, "alpha", NULL), ==, 0);
	cardea_config_free(cfg);
}

/* ---- writing ---- */

static void test_write_file(void) {
	char *dir = make_tmpdir();
	char *path = g_build_filename(dir, "cardea.plugin.x.jcfg", NULL);
	GError *error = NULL;
	g_assert_true(cardea_config_write_file(path, "room-1: {\n\tdescription = \"one\"\n}\n", &error));
	g_assert_no_error(error);
	struct stat st;
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);

	/* Overwrite keeps the existing file's mode. */
	g_assert_cmpint(g_chmod(path, 0640), ==, 0);
	g_assert_true(cardea_config_write_file(path, "room-2: {\n\tdescription = \"two\"\n}\n", &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0640);
	cardea_config *cfg = cardea_config_load(path, &error);
	g_assert_no_error(error);
	char *s = NULL;
	g_assert_true(cardea_config_get_string(cfg, "room-2", "description", NULL, &s, &error));
	g_assert_cmpstr(s, ==, "two");
	g_assert_false(cardea_config_has(cfg, "room-1", NULL));
	g_free(s);
	cardea_config_free(cfg);

	/* Through a symlink: the link stays, its target is replaced. */
	char *link = g_build_filename(dir, "link.jcfg", NULL);
	g_assert_cmpint(symlink(path, link), ==, 0);
	g_assert_true(cardea_config_write_file(link, "a = 3\n", &error));
	g_assert_no_error(error);
	g_assert_true(g_file_test(link, G_FILE_TEST_IS_SYMLINK));
	char *text = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, "a = 3\n");
	g_free(text);
	g_free(link);

	/* No temp files left behind. */
	GDir *d = g_dir_open(dir, 0, NULL);
	int n = 0;
	while (g_dir_read_name(d))
		n++;
	g_dir_close(d);
	g_assert_cmpint(n, ==, 2);

	/* Into a missing folder. */
	char *bad = g_build_filename(dir, "missing", "x.jcfg", NULL);
	g_assert_false(cardea_config_write_file(bad, "a = 1\n", &error));
	char *msg = g_strdup_printf("%s: cannot create a temporary file: No such file or directory", bad);
	assert_error(error, CARDEA_CONFIG_ERROR_IO, msg);
	g_free(msg);
	g_clear_error(&error);
	g_free(bad);

	/* Onto a directory: the rename fails and the temp file is removed. */
	char *sub = g_build_filename(dir, "sub", NULL);
	g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
	g_assert_false(cardea_config_write_file(sub, "a = 1\n", &error));
	msg = g_strdup_printf("%s: cannot replace: Is a directory", sub);
	assert_error(error, CARDEA_CONFIG_ERROR_IO, msg);
	g_free(msg);
	g_clear_error(&error);
	d = g_dir_open(dir, 0, NULL);
	n = 0;
	while (g_dir_read_name(d))
		n++;
	g_dir_close(d);
	g_assert_cmpint(n, ==, 3);
	g_rmdir(sub);
	g_free(sub);

	g_free(path);
	remove_tmpdir(dir);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/load/syntax-error", test_syntax_error);
	g_test_add_func("/config/load/missing-file", test_missing_file);
	g_test_add_func("/config/load/too-big", test_too_big);
	g_test_add_func("/config/load/oddities", test_file_oddities);
	g_test_add_func("/config/load/include-refused", test_include_refused);
	g_test_add_func("/config/load/big-integers", test_big_integers);
	g_test_add_func("/config/get/int", test_get_int);
	g_test_add_func("/config/get/bool", test_get_bool);
	g_test_add_func("/config/get/string", test_get_string);
	g_test_add_func("/config/get/list", test_get_list);
	g_test_add_func("/config/sections-keys", test_sections_keys);
	g_test_add_func("/config/has-line", test_has_line);
	g_test_add_func("/config/dash-names", test_dash_names);
	g_test_add_func("/config/warn-unknown", test_warn_unknown);
	g_test_add_func("/config/write-file", test_write_file);
	return g_test_run();
}
