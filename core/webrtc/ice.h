/* ICE for one PeerConnection (libnice, full or lite, trickle, one bundled
 * rtcp-muxed component).
 *
 * Thread: every function must be called on the thread running `context` (the
 * PeerConnection's media loop), and every callback fires there. No locks.
 * Ownership: the caller owns the cardea_ice and frees it with cardea_ice_free
 * (on that thread); callbacks never fire after free returns.
 */
#ifndef CARDEA_WEBRTC_ICE_H
#define CARDEA_WEBRTC_ICE_H

#include <glib.h>
#include <jansson.h>

typedef enum cardea_ice_state {
	CARDEA_ICE_NEW,
	CARDEA_ICE_GATHERING,
	CARDEA_ICE_CONNECTING,
	CARDEA_ICE_CONNECTED,   /* a pair is selected: media may flow */
	CARDEA_ICE_FAILED,      /* no pair, or consent lost */
} cardea_ice_state;

const char *cardea_ice_state_name(cardea_ice_state state);

typedef struct cardea_ice cardea_ice;

typedef struct cardea_ice_callbacks {
	/* A local candidate in SDP form, without the "a=" ("candidate:1 1 udp ..."). */
	void (*local_candidate)(cardea_ice *ice, const char *candidate, void *user_data);
	void (*gathering_done)(cardea_ice *ice, void *user_data);
	void (*state_changed)(cardea_ice *ice, cardea_ice_state state, void *user_data);
	/* A datagram from the peer (DTLS, SRTP or SRTCP, demultiplexed by the caller).
	 * `buf` is the agent's receive buffer, valid only during the call. */
	void (*receive)(cardea_ice *ice, guint8 *buf, gsize len, void *user_data);
} cardea_ice_callbacks;

typedef struct cardea_ice_options {
	gboolean controlling;        /* TRUE when we offered (full ICE) */
	gboolean lite;               /* ice_lite: we never check, the peer does */
	gboolean tcp;                /* ICE-TCP candidates too */
	gboolean keepalive_checks;   /* STUN requests as keepalives: fail when the peer stops answering (50 s, see ice.c) */
	const char *stun_server;     /* NULL = none */
	guint stun_port;
	const char *turn_server;     /* NULL = none */
	guint turn_port;
	const char *turn_type;       /* udp|tcp|tls */
	const char *turn_user, *turn_pwd;
	guint port_min, port_max;    /* 0 = any */
	char **local_addresses;      /* borrowed, NULL-terminated; from cardea_ice_local_addresses() */
	/* nat_1_1_mapping: borrowed, NULL-terminated public IPs, NULL = none. Every
	 * host candidate is announced once per public IP of its address family
	 * instead of with its own address (kept when no IP of that family). */
	char **public_ips;
	/* Local credentials, NULL = random. Chosen by the caller when another
	 * thread must know them before the agent exists (the SDP builder). */
	const char *ufrag, *pwd;
} cardea_ice_options;

/* Random ICE credentials (RFC 8445 ice-chars; 8 and 24 characters), g_free. */
void cardea_ice_random_credentials(char **ufrag, char **pwd);

/* Interface addresses to gather on, filtered like Janus: `enforce` (comma
 * list of interface names or IP prefixes; when set, only those) or else
 * `ignore` (skip those); loopback only when enforce names it or no other
 * address exists... or when `allow_loopback`. Returns g_strfreev-able list. */
char **cardea_ice_local_addresses(const char *enforce, const char *ignore, gboolean ipv6, gboolean allow_loopback);

cardea_ice *cardea_ice_new(GMainContext *context, const cardea_ice_options *options,
	const cardea_ice_callbacks *callbacks, void *user_data);
void cardea_ice_free(cardea_ice *ice);

const char *cardea_ice_local_ufrag(const cardea_ice *ice);
const char *cardea_ice_local_pwd(const cardea_ice *ice);
gboolean cardea_ice_gather(cardea_ice *ice);
gboolean cardea_ice_set_remote_credentials(cardea_ice *ice, const char *ufrag, const char *pwd);
/* Adds one remote candidate ("candidate:..." with or without the prefix). FALSE if unparseable. */
gboolean cardea_ice_add_remote_candidate(cardea_ice *ice, const char *candidate);
void cardea_ice_remote_gathering_done(cardea_ice *ice);
/* ICE restart (RFC 8445 9): new local credentials (`ufrag`/`pwd`, NULL =
 * random), remote candidates and credentials forgotten, local candidates
 * kept. The caller then sets the peer's new credentials and candidates. The
 * state goes back through gathering/connecting to connected, never failed
 * unless the new checks fail; DTLS above is untouched. */
gboolean cardea_ice_restart(cardea_ice *ice, const char *ufrag, const char *pwd);
/* The same with new local sockets: the stream is replaced and gathering
 * starts again (local_candidate / gathering_done callbacks follow), so the
 * peer gets candidates on new ports. For restarts the PEER asked for (its
 * offer), where it may have paired our old candidates with its new address
 * before we knew of the restart (ice.c says why that stalls). The new
 * sockets are bound before the old ones close, so ports always change
 * (unless the port range is full: then the old ones are reused). The old
 * selected port then rejects checks signed with the old password (STUN
 * 400) for ICE_TOMBSTONE_MS, so such a peer drops its stale pair at once
 * (ice-tombstone.c), and closes. */
gboolean cardea_ice_restart_new_ports(cardea_ice *ice, const char *ufrag, const char *pwd);
/* Sends a datagram on the selected pair. Returns bytes sent or -1. */
int cardea_ice_send(cardea_ice *ice, const guint8 *buf, gsize len);
cardea_ice_state cardea_ice_get_state(const cardea_ice *ice);
/* For admin handle_info: state, local/remote candidates, selected pair. New reference. */
json_t *cardea_ice_info(cardea_ice *ice);

#endif
