/* VideoRoom RTP forwarders: copies of a publisher's streams sent over UDP
 * to host:port (rtp_forward / stop_rtp_forward / listforwarders), plain RTP
 * or SRTP when the request has both `srtp_suite` (32/80) and `srtp_crypto`
 * (base64 key||salt), as in Janus; one SRTP context per forwarder.
 *
 * A forwarder belongs to its publisher (p->forwarders, under p->mutex) and
 * is used on the publisher's media thread under that mutex: sendto() and
 * the SRTP protect never call into the core's loops or plugins, so holding
 * the lock there is safe.
 */
#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "cardea/srtp.h"
#include "videoroom.h"

static volatile gint next_stream_id = 0;

void vr_forwarder_free(vr_forwarder *f) {
	if (f->fd >= 0)
		close(f->fd);
	cardea_srtp_sdes_free(f->srtp);
	g_free(f->host);
	g_free(f);
}

/* Media thread, p->mutex held: a stack copy with the forwarder's SSRC/PT. */
void vr_forwarder_send(vr_forwarder *f, const cardea_rtp_packet *pkt) {
	uint8_t buf[CARDEA_RTP_PACKET_MAX + CARDEA_SRTP_SDES_OVERHEAD];
	if (pkt->length > CARDEA_RTP_PACKET_MAX || pkt->length < 12)
		return;
	memcpy(buf, pkt->buffer, pkt->length);
	if (f->ssrc) {
		buf[8] = f->ssrc >> 24;
		buf[9] = f->ssrc >> 16;
		buf[10] = f->ssrc >> 8;
		buf[11] = f->ssrc;
	}
	if (f->pt > 0)
		buf[1] = (buf[1] & 0x80) | (f->pt & 0x7f);
	size_t len = pkt->length;
	if (f->srtp && cardea_srtp_sdes_protect_rtp(f->srtp, buf, &len, sizeof(buf)) != 0)
		return;
	if (sendto(f->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&f->addr, f->addrlen) > 0)
		f->packets++;
}

static vr_publisher *publisher_of(vr_room *room, json_t *body, vr_reply *r) {
	if (json_object_get(body, "publisher_id") == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (publisher_id)");
		return NULL;
	}
	char *id = vr_id_get(body, "publisher_id", r);
	if (id == NULL)
		return NULL;
	vr_publisher *p = vr_publisher_lookup(room, id);
	if (p == NULL || !g_atomic_int_get(&p->publishing)) {
		vr_reply_error(r, VR_ERR_NO_SUCH_FEED, "No such publisher (%s)", id);
		vr_publisher_unref(p);
		p = NULL;
	}
	g_free(id);
	return p;
}

/* Locked rtp_forward needs the admin key, otherwise the room secret. */
static gboolean auth_forward(vr_room *room, json_t *body, vr_reply *r) {
	if (vr_lock_rtp_forward && vr_admin_key) {
		json_t *k = json_object_get(body, "admin_key");
		if (k == NULL) {
			vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (admin_key)");
			return FALSE;
		}
		if (!json_is_string(k) || strcmp(json_string_value(k), vr_admin_key) != 0) {
			vr_reply_error(r, VR_ERR_UNAUTHORIZED, "Unauthorized (wrong admin_key)");
			return FALSE;
		}
		return TRUE;
	}
	return vr_check_secret(room, body, r);
}

/* The request's SRTP settings. Like Janus, SRTP needs both members (one
 * alone means plain RTP); present ones must be well-typed. */
typedef struct fwd_srtp {
	int suite;                      /* 0: plain RTP */
	const char *crypto;             /* borrowed from the request */
} fwd_srtp;

static gboolean srtp_params(json_t *body, fwd_srtp *out, vr_reply *r) {
	json_t *suite = json_object_get(body, "srtp_suite"), *crypto = json_object_get(body, "srtp_crypto");
	out->suite = 0;
	out->crypto = NULL;
	if (suite && !json_is_integer(suite)) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (srtp_suite should be an integer)");
		return FALSE;
	}
	if (crypto && !json_is_string(crypto)) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (srtp_crypto should be a string)");
		return FALSE;
	}
	if (suite == NULL || crypto == NULL)
		return TRUE;
	json_int_t v = json_integer_value(suite);
	if (v != 32 && v != 80) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid SRTP suite (%" JSON_INTEGER_FORMAT ")", v);
		return FALSE;
	}
	out->suite = (int)v;
	out->crypto = json_string_value(crypto);
	return TRUE;
}

static vr_forwarder *forwarder_new(const char *host, int port, int mindex, vr_mtype type, int substream, guint32 ssrc,
		int pt, const fwd_srtp *srtp, vr_reply *r) {
	cardea_srtp *ctx = NULL;
	if (srtp->suite) {
		char *why = NULL;
		ctx = cardea_srtp_sdes_new(srtp->suite, srtp->crypto, &why);
		if (ctx == NULL) {
			vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid SRTP crypto (%s)", why ? why : "rejected");
			g_free(why);
			return NULL;
		}
	}
	struct addrinfo hints = { 0 }, *res = NULL;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	char ps[8];
	g_snprintf(ps, sizeof(ps), "%d", port);
	if (getaddrinfo(host, ps, &hints, &res) != 0 || res == NULL) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid host (%s)", host);
		cardea_srtp_sdes_free(ctx);
		return NULL;
	}
	vr_forwarder *f = g_new0(vr_forwarder, 1);
	f->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memcpy(&f->addr, res->ai_addr, res->ai_addrlen);
	f->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	if (f->fd < 0) {
		vr_reply_error(r, VR_ERR_UNKNOWN, "Error creating the forwarder socket (%s)", g_strerror(errno));
		cardea_srtp_sdes_free(ctx);
		g_free(f);
		return NULL;
	}
	f->host = g_strdup(host);
	f->port = port;
	f->mindex = mindex;
	f->type = type;
	f->substream = substream;
	f->ssrc = ssrc;
	f->pt = pt;
	f->srtp = ctx;
	f->srtp_suite = srtp->suite;
	f->stream_id = (guint32)g_atomic_int_add(&next_stream_id, 1) + 1;
	return f;
}

static json_t *forwarder_json(const vr_forwarder *f, const char *mid) {
	json_t *o = json_pack("{s:i, s:s, s:s, s:i, s:b}", "stream_id", (json_int_t)f->stream_id,
		"type", f->type == VR_AUDIO ? "audio" : f->type == VR_VIDEO ? "video" : "data", "host", f->host,
		"port", f->port, "srtp", f->srtp != NULL);
	if (mid)
		json_object_set_new(o, "mid", json_string(mid));
	if (f->ssrc)
		json_object_set_new(o, "ssrc", json_integer(f->ssrc));
	if (f->pt > 0)
		json_object_set_new(o, "pt", json_integer(f->pt));
	if (f->substream >= 0)
		json_object_set_new(o, "substream", json_integer(f->substream));
	return o;
}

static gboolean int_member(json_t *o, const char *key, json_int_t min, json_int_t max, json_int_t *out, vr_reply *r) {
	json_t *v = json_object_get(o, key);
	if (v == NULL)
		return TRUE;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (%s should be an integer in %" JSON_INTEGER_FORMAT
			"..%" JSON_INTEGER_FORMAT ")", key, min, max);
		return FALSE;
	}
	*out = json_integer_value(v);
	return TRUE;
}

void vr_rtp_forward(json_t *body, vr_reply *r) {
	vr_room *room = vr_room_from(body, r);
	if (room == NULL)
		return;
	vr_publisher *p = NULL;
	json_t *host = json_object_get(body, "host"), *streams = json_object_get(body, "streams");
	if (!auth_forward(room, body, r))
		goto out;
	/* Like Janus: the top-level host is mandatory (streams may override it). */
	if (host == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (host)");
		goto out;
	}
	if (!json_is_string(host)) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (host should be a string)");
		goto out;
	}
	fwd_srtp srtp;
	if (!srtp_params(body, &srtp, r))
		goto out;
	if ((p = publisher_of(room, body, r)) == NULL)
		goto out;
	if (streams == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (streams)");
		goto out;
	}
	if (!json_is_array(streams) || json_array_size(streams) == 0) {
		vr_reply_error(r, VR_ERR_INVALID_ELEMENT, "Invalid element type (streams should be a non-empty array)");
		goto out;
	}
	GPtrArray *made = g_ptr_array_new_with_free_func((GDestroyNotify)vr_forwarder_free);
	json_t *list = json_array();
	size_t i;
	json_t *st;
	json_array_foreach(streams, i, st) {
		const char *mid = json_string_value(json_object_get(st, "mid"));
		json_t *shost = json_object_get(st, "host");
		const char *h = json_is_string(shost) ? json_string_value(shost) : json_string_value(host);
		json_int_t port = 0, ssrc = 0, pt = 0;
		if (mid == NULL || h == NULL || json_object_get(st, "port") == NULL) {
			vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (%s)",
				mid == NULL ? "mid" : h == NULL ? "host" : "port");
			break;
		}
		if (!int_member(st, "port", 1, 65535, &port, r) || !int_member(st, "ssrc", 0, G_MAXUINT32, &ssrc, r) ||
				!int_member(st, "pt", 0, 127, &pt, r))
			break;
		int mindex = -1;
		vr_mtype type = VR_AUDIO;
		g_mutex_lock(&p->mutex);
		for (int k = 0; k < p->n_streams; k++)
			if (strcmp(p->streams[k].mid, mid) == 0 && !p->streams[k].disabled) {
				mindex = p->streams[k].mindex;
				type = p->streams[k].type;
			}
		g_mutex_unlock(&p->mutex);
		if (mindex < 0) {
			vr_reply_error(r, VR_ERR_NO_SUCH_FEED, "No such stream (%s)", mid);
			break;
		}
		json_int_t sub = -1;
		json_t *sim = json_object_get(st, "substream");
		if (sim && !int_member(st, "substream", 0, 2, &sub, r))
			break;
		vr_forwarder *f = forwarder_new(h, (int)port, mindex, type, (int)sub, (guint32)ssrc, (int)pt, &srtp, r);
		if (f == NULL)
			break;
		g_ptr_array_add(made, f);
		json_array_append_new(list, forwarder_json(f, mid));
	}
	if (r->code == 0) {
		g_mutex_lock(&p->mutex);
		for (guint k = 0; k < made->len; k++)
			g_ptr_array_add(p->forwarders, made->pdata[k]);
		g_mutex_unlock(&p->mutex);
		g_ptr_array_set_free_func(made, NULL);
		r->data = json_pack("{s:s, s:o, s:o, s:o}", "videoroom", "rtp_forward", "room", vr_id_json(room->id),
			"publisher_id", vr_id_json(p->id), "forwarders", list);
		vr_publisher_keyframe(p, -1, TRUE);
	} else {
		json_decref(list);
	}
	g_ptr_array_unref(made);
out:
	vr_publisher_unref(p);
	vr_room_unref(room);
}

void vr_stop_rtp_forward(json_t *body, vr_reply *r) {
	vr_room *room = vr_room_from(body, r);
	if (room == NULL)
		return;
	vr_publisher *p = NULL;
	json_int_t sid = 0;
	if (!auth_forward(room, body, r) || (p = publisher_of(room, body, r)) == NULL)
		goto out;
	if (json_object_get(body, "stream_id") == NULL) {
		vr_reply_error(r, VR_ERR_MISSING_ELEMENT, "Missing mandatory element (stream_id)");
		goto out;
	}
	if (!int_member(body, "stream_id", 1, G_MAXUINT32, &sid, r))
		goto out;
	gboolean found = FALSE;
	g_mutex_lock(&p->mutex);
	for (guint i = 0; i < p->forwarders->len && !found; i++) {
		vr_forwarder *f = p->forwarders->pdata[i];
		if (f->stream_id == (guint32)sid) {
			g_ptr_array_remove_index(p->forwarders, i);
			found = TRUE;
		}
	}
	g_mutex_unlock(&p->mutex);
	if (!found) {
		vr_reply_error(r, VR_ERR_NO_SUCH_FEED, "No such stream (%" JSON_INTEGER_FORMAT ")", sid);
		goto out;
	}
	r->data = json_pack("{s:s, s:o, s:o, s:I}", "videoroom", "stop_rtp_forward", "room", vr_id_json(room->id),
		"publisher_id", vr_id_json(p->id), "stream_id", sid);
out:
	vr_publisher_unref(p);
	vr_room_unref(room);
}

json_t *vr_forwarders_json(vr_publisher *p) {
	json_t *list = json_array();
	for (guint i = 0; i < p->forwarders->len; i++) {
		vr_forwarder *f = p->forwarders->pdata[i];
		const char *mid = NULL;
		for (int k = 0; k < p->n_streams; k++)
			if (p->streams[k].mindex == f->mindex)
				mid = p->streams[k].mid;
		json_t *o = forwarder_json(f, mid);
		json_object_set_new(o, "packets", json_integer((json_int_t)f->packets));
		json_array_append_new(list, o);
	}
	return list;
}

void vr_list_forwarders(json_t *body, vr_reply *r) {
	vr_room *room = vr_room_from(body, r);
	if (room == NULL)
		return;
	if (!vr_check_secret(room, body, r)) {
		vr_room_unref(room);
		return;
	}
	GPtrArray *parts = vr_room_participants(room, NULL);
	json_t *list = json_array();
	for (guint i = 0; i < parts->len; i++) {
		vr_publisher *p = parts->pdata[i];
		g_mutex_lock(&p->mutex);
		if (p->forwarders->len > 0) {
			json_t *o = json_pack("{s:o, s:o}", "publisher_id", vr_id_json(p->id), "forwarders", vr_forwarders_json(p));
			if (p->display)
				json_object_set_new(o, "display", json_string(p->display));
			json_array_append_new(list, o);
		}
		g_mutex_unlock(&p->mutex);
	}
	g_ptr_array_unref(parts);
	r->data = json_pack("{s:s, s:o, s:o}", "videoroom", "forwarders", "room", vr_id_json(room->id), "publishers", list);
	vr_room_unref(room);
}
