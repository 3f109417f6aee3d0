/* The .mjr recorder (core/record.c): the file is read back byte by byte and
 * must have Janus's framing (cardea/record.h). */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <jansson.h>

#include "cardea/record.h"

static guint16 be16(const guint8 *p) {
	return (guint16)(p[0] << 8 | p[1]);
}

static guint32 be32(const guint8 *p) {
	return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

static void make_rtp(guint8 *buf, size_t len, guint16 seq, guint32 ts) {
	memset(buf, 0, len);
	buf[0] = 0x80;
	buf[1] = 96;
	buf[2] = (guint8)(seq >> 8);
	buf[3] = (guint8)seq;
	buf[4] = (guint8)(ts >> 24);
	buf[5] = (guint8)(ts >> 16);
	buf[6] = (guint8)(ts >> 8);
	buf[7] = (guint8)ts;
	buf[11] = 0x2a;                 /* ssrc 42 */
	for (size_t i = 12; i < len; i++)
		buf[i] = (guint8)(seq + i);
}

/* Parses the info line; returns the offset of the first frame. */
static size_t read_info(const guint8 *data, size_t size, json_t **info) {
	g_assert_cmpuint(size, >=, 10);
	g_assert_cmpmem(data, 8, "MJR00002", 8);
	guint16 n = be16(data + 8);
	g_assert_cmpuint(10 + n, <=, size);
	json_error_t err;
	*info = json_loadb((const char *)data + 10, n, 0, &err);
	g_assert_nonnull(*info);
	return 10 + n;
}

static void test_rtp_framing(void) {
	char *dir = g_dir_make_tmp("cardea-rec-XXXXXX", NULL);
	g_assert_nonnull(dir);
	GError *error = NULL;
	gint64 before = g_get_real_time();
	cardea_recorder *rec = cardea_recorder_open(dir, "sub/one-video-1", CARDEA_RECORDER_VIDEO, "VP8", NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(rec);
	char *want = g_build_filename(dir, "sub", "one-video-1.mjr", NULL);
	g_assert_cmpstr(cardea_recorder_path(rec), ==, want);
	/* Before any packet: only the magic (flushed at close). */
	guint8 pkt[3][1200];
	size_t lens[3] = { 100, 1200, 12 };
	for (int i = 0; i < 3; i++) {
		make_rtp(pkt[i], lens[i], (guint16)(1000 + i), 90000u * (guint32)i);
		g_assert_cmpint(cardea_recorder_save_rtp(rec, pkt[i], lens[i]), ==, 0);
		if (i == 1)
			g_usleep(30 * 1000);    /* the third frame's time is >= 30 ms */
	}
	/* Not RTP: refused, nothing written. */
	guint8 junk[20] = { 0 };
	g_assert_cmpint(cardea_recorder_save_rtp(rec, junk, sizeof(junk)), ==, -1);
	g_assert_cmpint(cardea_recorder_save_rtp(rec, pkt[0], 11), ==, -1);
	g_assert_cmpint(cardea_recorder_save_data(rec, pkt[0], 20), ==, -1);
	g_assert_cmpuint(cardea_recorder_packets(rec), ==, 3);
	g_assert_false(cardea_recorder_failed(rec));
	cardea_recorder_close(rec);

	gchar *data;
	gsize size;
	g_assert_true(g_file_get_contents(want, &data, &size, NULL));
	const guint8 *d = (const guint8 *)data;
	json_t *info;
	size_t off = read_info(d, size, &info);
	g_assert_cmpstr(json_string_value(json_object_get(info, "t")), ==, "v");
	g_assert_cmpstr(json_string_value(json_object_get(info, "c")), ==, "vp8");
	g_assert_null(json_object_get(info, "f"));
	gint64 s = json_integer_value(json_object_get(info, "s")), u = json_integer_value(json_object_get(info, "u"));
	g_assert_cmpint(s, >=, before);
	g_assert_cmpint(u, >=, s);
	g_assert_cmpint(u, <=, g_get_real_time());
	json_decref(info);
	guint32 last_ms = 0;
	for (int i = 0; i < 3; i++) {
		g_assert_cmpuint(off + 10, <=, size);
		g_assert_cmpmem(d + off, 4, "MEET", 4);
		guint32 ms = be32(d + off + 4);
		guint16 len = be16(d + off + 8);
		if (i == 0)
			g_assert_cmpuint(ms, ==, 0);
		if (i == 2)
			g_assert_cmpuint(ms, >=, 30);
		g_assert_cmpuint(ms, >=, last_ms);
		last_ms = ms;
		g_assert_cmpuint(len, ==, lens[i]);
		g_assert_cmpuint(off + 10 + len, <=, size);
		g_assert_cmpmem(d + off + 10, len, pkt[i], lens[i]);
		off += 10 + len;
	}
	g_assert_cmpuint(off, ==, size);
	g_free(data);
	g_unlink(want);
	char *sub = g_build_filename(dir, "sub", NULL);
	g_rmdir(sub);
	g_rmdir(dir);
	g_free(sub);
	g_free(want);
	g_free(dir);
}

static void test_data_and_fmtp(void) {
	char *dir = g_dir_make_tmp("cardea-rec-XXXXXX", NULL);
	cardea_recorder *rec = cardea_recorder_open(dir, "d.mjr", CARDEA_RECORDER_DATA, "text", "x=1", NULL);
	g_assert_nonnull(rec);
	gint64 before = g_get_real_time();
	g_assert_cmpint(cardea_recorder_save_data(rec, (const guint8 *)"hello", 5), ==, 0);
	guint8 rtp[20];
	make_rtp(rtp, sizeof(rtp), 1, 1);
	g_assert_cmpint(cardea_recorder_save_rtp(rec, rtp, sizeof(rtp)), ==, -1);
	cardea_recorder_close(rec);
	char *path = g_build_filename(dir, "d.mjr", NULL);
	gchar *data;
	gsize size;
	g_assert_true(g_file_get_contents(path, &data, &size, NULL));
	const guint8 *d = (const guint8 *)data;
	json_t *info;
	size_t off = read_info(d, size, &info);
	g_assert_cmpstr(json_string_value(json_object_get(info, "t")), ==, "d");
	g_assert_cmpstr(json_string_value(json_object_get(info, "c")), ==, "text");
	g_assert_cmpstr(json_string_value(json_object_get(info, "f")), ==, "x=1");
	json_decref(info);
	g_assert_cmpuint(size, ==, off + 10 + 8 + 5);
	g_assert_cmpmem(d + off, 4, "MEET", 4);
	g_assert_cmpuint(be16(d + off + 8), ==, 13);
	guint64 when = 0;
	for (int i = 0; i < 8; i++)
		when = when << 8 | d[off + 10 + i];
	g_assert_cmpint((gint64)when, >=, before);
	g_assert_cmpint((gint64)when, <=, g_get_real_time());
	g_assert_cmpmem(d + off + 18, 5, "hello", 5);
	g_free(data);
	g_unlink(path);
	g_rmdir(dir);
	g_free(path);
	g_free(dir);
}

/* An empty recording is the magic only, like Janus's. */
static void test_empty(void) {
	char *dir = g_dir_make_tmp("cardea-rec-XXXXXX", NULL);
	cardea_recorder *rec = cardea_recorder_open(dir, "e", CARDEA_RECORDER_AUDIO, "opus", NULL, NULL);
	g_assert_nonnull(rec);
	cardea_recorder_close(rec);
	char *path = g_build_filename(dir, "e.mjr", NULL);
	gchar *data;
	gsize size;
	g_assert_true(g_file_get_contents(path, &data, &size, NULL));
	g_assert_cmpuint(size, ==, 8);
	g_assert_cmpmem(data, 8, "MJR00002", 8);
	g_free(data);
	g_unlink(path);
	g_rmdir(dir);
	g_free(path);
	g_free(dir);
}

/* A full disk: the write error stops the recording (once), never crashes. */
static void test_disk_full(void) {
	if (!g_file_test("/dev/full", G_FILE_TEST_EXISTS)) {
		g_test_skip("no /dev/full");
		return;
	}
	/* x.mjr -> /dev/full: every write(2) fails with ENOSPC. */
	char *dir = g_dir_make_tmp("cardea-rec-XXXXXX", NULL);
	char *link = g_build_filename(dir, "x.mjr", NULL);
	g_assert_cmpint(symlink("/dev/full", link), ==, 0);
	cardea_recorder *rec = cardea_recorder_open(dir, "x", CARDEA_RECORDER_AUDIO, "opus", NULL, NULL);
	g_assert_nonnull(rec);
	guint8 pkt[1200];
	make_rtp(pkt, sizeof(pkt), 1, 1);
	int rc = 0, n = 0;
	/* The 64 KiB buffer hides the error until it flushes. */
	while (rc == 0 && n < 1000) {
		rc = cardea_recorder_save_rtp(rec, pkt, sizeof(pkt));
		n++;
	}
	g_assert_cmpint(rc, ==, -1);
	g_assert_cmpint(n, <, 100);
	g_assert_true(cardea_recorder_failed(rec));
	g_assert_cmpint(cardea_recorder_save_rtp(rec, pkt, sizeof(pkt)), ==, -1);
	cardea_recorder_close(rec);
	g_unlink(link);
	g_rmdir(dir);
	g_free(link);
	g_free(dir);
}

static void test_open_errors(void) {
	GError *error = NULL;
	g_assert_null(cardea_recorder_open("/proc/cardea-no-such", "x", CARDEA_RECORDER_AUDIO, "opus", NULL, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);
	g_assert_null(cardea_recorder_open("/tmp", "x", CARDEA_RECORDER_AUDIO, NULL, NULL, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);
	g_assert_true(g_str_has_suffix(cardea_recorder_default_dir(), "/lib/cardea/recordings"));
}

static void test_name_valid(void) {
	g_assert_true(cardea_recorder_name_valid("rec"));
	g_assert_true(cardea_recorder_name_valid("room-1/user-2"));
	g_assert_false(cardea_recorder_name_valid(NULL));
	g_assert_false(cardea_recorder_name_valid(""));
	g_assert_false(cardea_recorder_name_valid("/etc/passwd"));
	g_assert_false(cardea_recorder_name_valid("../x"));
	g_assert_false(cardea_recorder_name_valid("a/../../x"));
	g_assert_false(cardea_recorder_name_valid("a//b"));
	g_assert_false(cardea_recorder_name_valid("./a"));
	g_assert_false(cardea_recorder_name_valid("a\nb"));
	char long_name[300];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	g_assert_false(cardea_recorder_name_valid(long_name));
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/record/rtp-framing", test_rtp_framing);
	g_test_add_func("/record/data-and-fmtp", test_data_and_fmtp);
	g_test_add_func("/record/empty", test_empty);
	g_test_add_func("/record/disk-full", test_disk_full);
	g_test_add_func("/record/open-errors", test_open_errors);
	g_test_add_func("/record/name-valid", test_name_valid);
	return g_test_run();
}
