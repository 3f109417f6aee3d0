/* libnice wrapper: one stream, one component (everything bundled and
 * rtcp-muxed). See ice.h for the threading contract. */
#include <string.h>
#include <errno.h>
#include <ifaddrs.h>
#include <sys/socket.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <nice/agent.h>
#include "ice.h"
#include "webrtc/send-batch.h"
#include "ice-tombstone.h"
#include "loop.h"
#include "cardea/module.h"

struct cardea_ice {
	NiceAgent *agent;               /* owned */
	guint stream_id;
	GMainContext *context;          /* borrowed (the loop's) */
	gboolean relayed;               /* a TURN server is set: allocations to release at free */
	cardea_ice_callbacks cb;
	void *user_data;                /* borrowed */
	cardea_ice_state state;
	gboolean gathering;
	gboolean remote_credentials_set;
	GSList *early_candidates;       /* owned NiceCandidate*: remote candidates before credentials */
	char *ufrag, *pwd;              /* owned, local */
	char *selected;                 /* owned, "local <-> remote" of the selected pair */
	guint remote_candidates;
	char **public_ips;              /* owned copy of options.public_ips, NULL = none */
	guint restarts;
	/* What a new stream needs (cardea_ice_restart_new_ports): owned copies. */
	guint port_min, port_max;
	char *turn_server, *turn_user, *turn_pwd;
	guint turn_port;
	NiceRelayType turn_type;
	/* Direct send (cardea_ice_send): the selected pair's own UDP socket and
	 * the peer's address, resolved on the first send after any change of
	 * state or pair. nice_agent_send takes the agent lock, looks the
	 * component up and goes through GSocket for every packet; a sendto on
	 * the same socket to the same address is what it ends up doing for a
	 * UDP pair that is not relayed. */
	gboolean direct_checked;        /* direct_* below reflect the current pair */
	GSocket *direct_sock;           /* ref; NULL: use nice_agent_send (TURN, TCP, not connected) */
	int direct_fd;                  /* direct_sock's fd: GSocket's own copy is a cold load per packet */
	struct sockaddr_storage direct_addr;
	socklen_t direct_addr_len;
	/* The previous selected socket after cardea_ice_restart_new_ports,
	 * rejecting stale checks for a while (ice-tombstone.c). */
	cardea_ice_tombstone *tombstone;
};

static void direct_reset(cardea_ice *ice) {
	/* Datagrams queued for this socket's fd go out before it may close. */
	if (ice->direct_sock)
		cardea_send_batch_flush();
	g_clear_object(&ice->direct_sock);
	ice->direct_checked = FALSE;
}

/* IPv4 media on the direct socket goes out with DF set, so the kernel
 * writes IP ID 0 (RFC 6864: the ID of an atomic datagram means nothing)
 * instead of drawing one from its shared, hashed ID table for every
 * datagram of an unconnected socket (`__ip_select_ident`: 1.2% of the
 * gateway's CPU in scenario c and in a N=50). PROBE sets DF but ignores
 * learned path MTUs, so an ICMP "fragmentation needed" cannot make the
 * socket refuse later sends; a datagram larger than the outgoing link's
 * MTU, which was fragmented before, now fails to send instead.
 * WebRTC peers keep RTP and SCTP packets near 1,200 bytes for that reason.
 * CARDEA_ICE_DF=0 leaves the socket alone (A/B benchmarks). */
static void direct_set_dont_fragment(GSocket *sock) {
	if (g_socket_get_family(sock) != G_SOCKET_FAMILY_IPV4 || g_strcmp0(g_getenv("CARDEA_ICE_DF"), "0") == 0)
		return;
	int mode = IP_PMTUDISC_PROBE;
	if (setsockopt(g_socket_get_fd(sock), IPPROTO_IP, IP_MTU_DISCOVER, &mode, sizeof(mode)) != 0)
		CARDEA_LOG(CARDEA_LOG_WARN, "[ice] IP_MTU_DISCOVER on the selected socket: %s", g_strerror(errno));
}

static void direct_resolve(cardea_ice *ice) {
	ice->direct_checked = TRUE;
	NiceCandidate *local = NULL, *remote = NULL;
	/* CARDEA_ICE_NICE_SEND=1: always nice_agent_send (A/B benchmarks). */
	if (g_strcmp0(g_getenv("CARDEA_ICE_NICE_SEND"), "1") == 0 || ice->state != CARDEA_ICE_CONNECTED ||
			!nice_agent_get_selected_pair(ice->agent, ice->stream_id, 1, &local, &remote) ||
			local->transport != NICE_CANDIDATE_TRANSPORT_UDP || local->type == NICE_CANDIDATE_TYPE_RELAYED ||
			remote->transport != NICE_CANDIDATE_TRANSPORT_UDP)
		return;
	GSocket *sock = nice_agent_get_selected_socket(ice->agent, ice->stream_id, 1);
	if (sock == NULL)
		return;
	if (g_socket_get_family(sock) != (nice_address_ip_version(&remote->addr) == 6 ?
			G_SOCKET_FAMILY_IPV6 : G_SOCKET_FAMILY_IPV4) || g_socket_get_socket_type(sock) != G_SOCKET_TYPE_DATAGRAM) {
		g_object_unref(sock);
		return;
	}
	memset(&ice->direct_addr, 0, sizeof(ice->direct_addr));
	nice_address_copy_to_sockaddr(&remote->addr, (struct sockaddr *)&ice->direct_addr);
	ice->direct_addr_len = ice->direct_addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
		sizeof(struct sockaddr_in);
	direct_set_dont_fragment(sock);
	ice->direct_sock = sock;
	ice->direct_fd = g_socket_get_fd(sock);
}

const char *cardea_ice_state_name(cardea_ice_state state) {
	switch (state) {
	case CARDEA_ICE_NEW: return "new";
	case CARDEA_ICE_GATHERING: return "gathering";
	case CARDEA_ICE_CONNECTING: return "connecting";
	case CARDEA_ICE_CONNECTED: return "connected";
	case CARDEA_ICE_FAILED: return "failed";
	}
	return "unknown";
}

/* ---- local addresses ---- */

/* An item matches an interface by name, or an address by string prefix. */
static gboolean list_matches(char **items, const char *ifname, const char *ip) {
	for (; items && *items; items++) {
		if (**items == '\0')
			continue;
		if (g_strcmp0(*items, ifname) == 0 || g_str_has_prefix(ip, *items))
			return TRUE;
	}
	return FALSE;
}

char **cardea_ice_local_addresses(const char *enforce, const char *ignore, gboolean ipv6, gboolean allow_loopback) {
	GPtrArray *out = g_ptr_array_new();
	char **enforce_items = (enforce && *enforce) ? g_strsplit_set(enforce, ", ", -1) : NULL;
	char **ignore_items = (ignore && *ignore) ? g_strsplit_set(ignore, ", ", -1) : NULL;
	struct ifaddrs *ifs = NULL;
	GPtrArray *loopbacks = g_ptr_array_new_with_free_func(g_free);
	if (getifaddrs(&ifs) == 0) {
		for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
			if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP))
				continue;
			int family = i->ifa_addr->sa_family;
			if (family != AF_INET && !(ipv6 && family == AF_INET6))
				continue;
			char ip[INET6_ADDRSTRLEN];
			const void *raw = family == AF_INET ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
				: (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			if (inet_ntop(family, raw, ip, sizeof(ip)) == NULL)
				continue;
			if (family == AF_INET6 && g_str_has_prefix(ip, "fe80"))
				continue;   /* link-local needs a scope id: not usable as a candidate */
			gboolean loopback = (i->ifa_flags & IFF_LOOPBACK) != 0;
			if (enforce_items) {
				if (!list_matches(enforce_items, i->ifa_name, ip))
					continue;
			} else {
				if (list_matches(ignore_items, i->ifa_name, ip))
					continue;
				if (loopback && !allow_loopback) {
					/* Kept aside: the only way to work on a host without a network. */
					if (!g_ptr_array_find_with_equal_func(loopbacks, ip, g_str_equal, NULL))
						g_ptr_array_add(loopbacks, g_strdup(ip));
					continue;
				}
			}
			if (!g_ptr_array_find_with_equal_func(out, ip, g_str_equal, NULL))
				g_ptr_array_add(out, g_strdup(ip));
		}
		freeifaddrs(ifs);
	}
	if (out->len == 0)
		for (guint k = 0; k < loopbacks->len; k++)
			g_ptr_array_add(out, g_strdup(g_ptr_array_index(loopbacks, k)));
	g_ptr_array_free(loopbacks, TRUE);
	g_strfreev(enforce_items);
	g_strfreev(ignore_items);
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(out, FALSE);
}

/* ---- libnice signals (all on the loop thread) ---- */

static void set_state(cardea_ice *ice, cardea_ice_state state) {
	if (ice->state == state)
		return;
	ice->state = state;
	if (ice->cb.state_changed)
		ice->cb.state_changed(ice, state, ice->user_data);
}

static void on_gathering_done(NiceAgent *agent, guint stream_id, gpointer data) {
	cardea_ice *ice = data;
	if (stream_id != ice->stream_id)
		return;
	ice->gathering = FALSE;
	if (ice->cb.gathering_done)
		ice->cb.gathering_done(ice, ice->user_data);
}

/* "a=candidate:..." -> "candidate:..." for the SDP writer and trickle events. */
static void emit_candidate(cardea_ice *ice, NiceCandidate *cand) {
	gchar *sdp = nice_agent_generate_local_candidate_sdp(ice->agent, cand);
	if (sdp == NULL)
		return;
	const char *line = g_str_has_prefix(sdp, "a=") ? sdp + 2 : sdp;
	if (ice->cb.local_candidate)
		ice->cb.local_candidate(ice, line, ice->user_data);
	g_free(sdp);
}

/* nat_1_1_mapping: the agent keeps (and checks from) the private address;
 * only what the peer is told changes. Returns FALSE when no public IP has
 * the candidate's family, so the private one is announced as is. */
static gboolean emit_mapped(cardea_ice *ice, NiceCandidate *cand) {
	gboolean any = FALSE;
	for (char **ip = ice->public_ips; ip && *ip; ip++) {
		NiceAddress pub;
		nice_address_init(&pub);
		if (!nice_address_set_from_string(&pub, *ip) || pub.s.addr.sa_family != cand->addr.s.addr.sa_family)
			continue;
		NiceCandidate *copy = nice_candidate_copy(cand);
		nice_address_set_port(&pub, nice_address_get_port(&cand->addr));
		copy->addr = pub;
		copy->base_addr = pub;   /* else the SDP gets "raddr <private>" */
		emit_candidate(ice, copy);
		nice_candidate_free(copy);
		any = TRUE;
	}
	return any;
}

static void on_new_candidate(NiceAgent *agent, NiceCandidate *cand, gpointer data) {
	cardea_ice *ice = data;
	if (cand->type == NICE_CANDIDATE_TYPE_HOST && ice->public_ips && emit_mapped(ice, cand))
		return;
	emit_candidate(ice, cand);
}

static void on_component_state(NiceAgent *agent, guint stream_id, guint component, guint state, gpointer data) {
	cardea_ice *ice = data;
	if (stream_id != ice->stream_id)
		return;     /* a stream replaced by cardea_ice_restart_new_ports */
	direct_reset(ice);
	switch (state) {
	case NICE_COMPONENT_STATE_GATHERING:
		set_state(ice, CARDEA_ICE_GATHERING);
		break;
	case NICE_COMPONENT_STATE_CONNECTING:
		set_state(ice, CARDEA_ICE_CONNECTING);
		break;
	case NICE_COMPONENT_STATE_CONNECTED:
	case NICE_COMPONENT_STATE_READY:
		set_state(ice, CARDEA_ICE_CONNECTED);
		break;
	case NICE_COMPONENT_STATE_FAILED:
		set_state(ice, CARDEA_ICE_FAILED);
		break;
	case NICE_COMPONENT_STATE_DISCONNECTED:
		/* After a connection, losing it (consent) is a failure; before, nothing happened yet. */
		if (ice->state == CARDEA_ICE_CONNECTED)
			set_state(ice, CARDEA_ICE_FAILED);
		break;
	default:
		break;
	}
}

static const char *candidate_type_name(const NiceCandidate *c) {
	static const char *const types[] = { "host", "srflx", "prflx", "relay" };
	return (unsigned)c->type < G_N_ELEMENTS(types) ? types[c->type] : "?";
}

static const char *candidate_transport_name(const NiceCandidate *c) {
	return c->transport == NICE_CANDIDATE_TRANSPORT_UDP ? "udp" : "tcp";
}

static void on_selected_pair(NiceAgent *agent, guint stream_id, guint component,
		NiceCandidate *local, NiceCandidate *remote, gpointer data) {
	cardea_ice *ice = data;
	direct_reset(ice);
	char l[NICE_ADDRESS_STRING_LEN], r[NICE_ADDRESS_STRING_LEN];
	nice_address_to_string(&local->addr, l);
	nice_address_to_string(&remote->addr, r);
	g_free(ice->selected);
	/* Janus's layout, "addr:port [type,transport] <-> ...", so admin tools can
	 * tell a relayed pair from a direct one. */
	ice->selected = g_strdup_printf("%s:%u [%s,%s] <-> %s:%u [%s,%s]",
		l, nice_address_get_port(&local->addr), candidate_type_name(local), candidate_transport_name(local),
		r, nice_address_get_port(&remote->addr), candidate_type_name(remote), candidate_transport_name(remote));
}

static void on_receive(NiceAgent *agent, guint stream_id, guint component, guint len, gchar *buf, gpointer data) {
	cardea_ice *ice = data;
	if (len > 0 && ice->cb.receive)
		ice->cb.receive(ice, (guint8 *)buf, len, ice->user_data);
}

/* ---- API ---- */

static NiceRelayType relay_type(const char *name) {
	if (g_strcmp0(name, "tcp") == 0)
		return NICE_RELAY_TYPE_TURN_TCP;
	if (g_strcmp0(name, "tls") == 0)
		return NICE_RELAY_TYPE_TURN_TLS;
	return NICE_RELAY_TYPE_TURN_UDP;
}

void cardea_ice_random_credentials(char **ufrag, char **pwd) {
	static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char u[9], p[25];
	for (guint i = 0; i < sizeof(u) - 1; i++)
		u[i] = chars[g_random_int_range(0, 64)];
	for (guint i = 0; i < sizeof(p) - 1; i++)
		p[i] = chars[g_random_int_range(0, 64)];
	u[sizeof(u) - 1] = p[sizeof(p) - 1] = '\0';
	*ufrag = g_strdup(u);
	*pwd = g_strdup(p);
}

static gboolean set_local_credentials(cardea_ice *ice, const char *ufrag, const char *pwd) {
	if (ufrag == NULL || pwd == NULL)
		return TRUE;
	if (!nice_agent_set_local_credentials(ice->agent, ice->stream_id, ufrag, pwd)) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[ice] the agent refused the local credentials");
		return FALSE;
	}
	return TRUE;
}

static void refresh_credentials(cardea_ice *ice) {
	g_free(ice->ufrag);
	g_free(ice->pwd);
	ice->ufrag = ice->pwd = NULL;
	nice_agent_get_local_credentials(ice->agent, ice->stream_id, &ice->ufrag, &ice->pwd);
}

/* One stream with one component, as configured; 0 on failure. */
static guint add_stream(cardea_ice *ice) {
	guint id = nice_agent_add_stream(ice->agent, 1);
	if (id == 0)
		return 0;
	if (ice->port_min || ice->port_max)
		nice_agent_set_port_range(ice->agent, id, 1, ice->port_min, ice->port_max ? ice->port_max : 65535);
	if (ice->turn_server)
		nice_agent_set_relay_info(ice->agent, id, 1, ice->turn_server, ice->turn_port,
			ice->turn_user ? ice->turn_user : "", ice->turn_pwd ? ice->turn_pwd : "", ice->turn_type);
	return id;
}

static void free_settings(cardea_ice *ice) {
	g_strfreev(ice->public_ips);
	g_free(ice->turn_server);
	g_free(ice->turn_user);
	g_free(ice->turn_pwd);
}

cardea_ice *cardea_ice_new(GMainContext *context, const cardea_ice_options *o,
		const cardea_ice_callbacks *callbacks, void *user_data) {
	NiceAgentOption flags = NICE_AGENT_OPTION_ICE_TRICKLE;
	if (o->lite)
		flags |= NICE_AGENT_OPTION_LITE_MODE;
	cardea_ice *ice = g_new0(cardea_ice, 1);
	ice->context = context;
	ice->cb = *callbacks;
	ice->user_data = user_data;
	ice->public_ips = g_strdupv(o->public_ips);
	ice->port_min = o->port_min;
	ice->port_max = o->port_max;
	if (o->turn_server && *o->turn_server) {
		ice->turn_server = g_strdup(o->turn_server);
		ice->turn_user = g_strdup(o->turn_user);
		ice->turn_pwd = g_strdup(o->turn_pwd);
		ice->turn_port = o->turn_port;
		ice->turn_type = relay_type(o->turn_type);
	}
	ice->agent = nice_agent_new_full(context, NICE_COMPATIBILITY_RFC5245, flags);
	g_object_set(ice->agent, "controlling-mode", o->lite ? FALSE : o->controlling,
		"upnp", FALSE, "ice-tcp", o->tcp, "ice-udp", TRUE,
		"keepalive-conncheck", o->keepalive_checks, NULL);
	/* Not NICE_AGENT_OPTION_CONSENT_FRESHNESS: libnice 0.1.21 fails the pair
	 * 10 s after its last answered check, checks every ~5 s and never
	 * retransmits one, so one lost check hangs up a live call. Keepalive
	 * connchecks use the same checks with a 50 s limit; the PC adds the
	 * 30 s one (pc.c peer_silent). */
	if (o->stun_server && *o->stun_server)
		g_object_set(ice->agent, "stun-server", o->stun_server, "stun-server-port", o->stun_port, NULL);
	for (char **a = o->local_addresses; a && *a; a++) {
		NiceAddress addr;
		nice_address_init(&addr);
		if (nice_address_set_from_string(&addr, *a))
			nice_agent_add_local_address(ice->agent, &addr);
	}
	ice->stream_id = add_stream(ice);
	if (ice->stream_id == 0) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[ice] could not add a stream to the agent");
		g_object_unref(ice->agent);
		free_settings(ice);
		g_free(ice);
		return NULL;
	}
	if (!set_local_credentials(ice, o->ufrag, o->pwd)) {
		nice_agent_remove_stream(ice->agent, ice->stream_id);
		g_object_unref(ice->agent);
		free_settings(ice);
		g_free(ice);
		return NULL;
	}
	ice->relayed = ice->turn_server != NULL;
	g_signal_connect(ice->agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), ice);
	g_signal_connect(ice->agent, "new-candidate-full", G_CALLBACK(on_new_candidate), ice);
	g_signal_connect(ice->agent, "component-state-changed", G_CALLBACK(on_component_state), ice);
	g_signal_connect(ice->agent, "new-selected-pair-full", G_CALLBACK(on_selected_pair), ice);
	nice_agent_attach_recv(ice->agent, ice->stream_id, 1, context, on_receive, ice);
	refresh_credentials(ice);
	cardea_loop_poll_resync();
	return ice;
}

static void on_agent_closed(GObject *agent, GAsyncResult *result, gpointer data) {
	g_object_unref(agent);
}

void cardea_ice_free(cardea_ice *ice) {
	if (ice == NULL)
		return;
	direct_reset(ice);
	nice_agent_attach_recv(ice->agent, ice->stream_id, 1, ice->context, NULL, NULL);
	g_signal_handlers_disconnect_by_data(ice->agent, ice);
	nice_agent_remove_stream(ice->agent, ice->stream_id);
	if (ice->relayed) {
		/* Release the TURN allocations (refresh with lifetime 0) instead of
		 * leaving them to expire on the server; the agent lives until the
		 * server answered or the requests timed out, on this loop. */
		nice_agent_close_async(ice->agent, on_agent_closed, NULL);
	} else {
		g_object_unref(ice->agent);
	}
	g_slist_free_full(ice->early_candidates, (GDestroyNotify)nice_candidate_free);
	cardea_ice_tombstone_free(ice->tombstone);
	g_free(ice->ufrag);
	g_free(ice->pwd);
	g_free(ice->selected);
	free_settings(ice);
	g_free(ice);
	cardea_loop_poll_resync();
}

const char *cardea_ice_local_ufrag(const cardea_ice *ice) {
	return ice->ufrag;
}

const char *cardea_ice_local_pwd(const cardea_ice *ice) {
	return ice->pwd;
}

gboolean cardea_ice_gather(cardea_ice *ice) {
	ice->gathering = TRUE;
	cardea_loop_poll_resync();
	if (!nice_agent_gather_candidates(ice->agent, ice->stream_id)) {
		ice->gathering = FALSE;
		CARDEA_LOG(CARDEA_LOG_ERR, "[ice] gathering failed to start (no usable local address?)");
		return FALSE;
	}
	return TRUE;
}

gboolean cardea_ice_set_remote_credentials(cardea_ice *ice, const char *ufrag, const char *pwd) {
	if (ufrag == NULL || pwd == NULL || *ufrag == '\0' || *pwd == '\0')
		return FALSE;
	if (!nice_agent_set_remote_credentials(ice->agent, ice->stream_id, ufrag, pwd))
		return FALSE;
	ice->remote_credentials_set = TRUE;
	if (ice->early_candidates) {
		/* Candidates trickled before the SDP: apply them now. */
		ice->early_candidates = g_slist_reverse(ice->early_candidates);
		nice_agent_set_remote_candidates(ice->agent, ice->stream_id, 1, ice->early_candidates);
		g_slist_free_full(ice->early_candidates, (GDestroyNotify)nice_candidate_free);
		ice->early_candidates = NULL;
	}
	return TRUE;
}

/* A TCP candidate must name its tcptype (RFC 6544) as a key/value pair:
 * libnice 0.1.21's parser hands GLib a NULL for one without (a
 * GLib-CRITICAL per candidate, found by tests/fuzz/fuzz_whip.c). */
static gboolean tcp_candidate_ok(const char *candidate) {
	char **f = g_strsplit(candidate, " ", -1);
	guint n = g_strv_length(f);
	gboolean ok = TRUE;
	if (n > 2 && g_ascii_strcasecmp(f[2], "tcp") == 0) {
		ok = FALSE;
		for (guint i = 8; i + 1 < n; i += 2)
			if (strcmp(f[i], "tcptype") == 0)
				ok = strcmp(f[i + 1], "active") == 0 || strcmp(f[i + 1], "passive") == 0 ||
					strcmp(f[i + 1], "so") == 0;
	}
	g_strfreev(f);
	return ok;
}

gboolean cardea_ice_add_remote_candidate(cardea_ice *ice, const char *candidate) {
	if (candidate == NULL)
		return FALSE;
	if (g_str_has_prefix(candidate, "a="))
		candidate += 2;
	if (g_str_has_prefix(candidate, "candidate:"))
		candidate += strlen("candidate:");
	if (!tcp_candidate_ok(candidate))
		return FALSE;
	char *line = g_strdup_printf("a=candidate:%s", candidate);
	NiceCandidate *c = nice_agent_parse_remote_candidate_sdp(ice->agent, ice->stream_id, line);
	g_free(line);
	if (c == NULL)
		return FALSE;
	if (c->component_id != 1) {
		nice_candidate_free(c);
		return TRUE;   /* RTCP component of a non-muxed offer: ignored, not an error */
	}
	ice->remote_candidates++;
	if (!ice->remote_credentials_set) {
		ice->early_candidates = g_slist_prepend(ice->early_candidates, c);
		return TRUE;
	}
	GSList *list = g_slist_append(NULL, c);
	int added = nice_agent_set_remote_candidates(ice->agent, ice->stream_id, 1, list);
	g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
	return added >= 0;
}

void cardea_ice_remote_gathering_done(cardea_ice *ice) {
	nice_agent_peer_candidate_gathering_done(ice->agent, ice->stream_id);
}

/* libnice declares a component failed this long after its checks went
 * idle without a nomination (its default is 5 s). After a restart the
 * controlling peer may keep its old, still writable pair selected and only
 * nominate a new one once the old one times out (Chromium: about 5 s of
 * unanswered pings), which races the default. */
#define ICE_RESTART_IDLE_TIMEOUT_MS 15000
/* How long the old selected port rejects stale checks after a restart on
 * new ports: past a browser's weak-pair timeout (about 2.5 s). */
#define ICE_TOMBSTONE_MS 4000

gboolean cardea_ice_restart(cardea_ice *ice, const char *ufrag, const char *pwd) {
	direct_reset(ice);
	if (!nice_agent_restart_stream(ice->agent, ice->stream_id))
		return FALSE;
	g_object_set(ice->agent, "idle-timeout", (guint)ICE_RESTART_IDLE_TIMEOUT_MS, NULL);
	ice->remote_credentials_set = FALSE;
	ice->remote_candidates = 0;
	g_slist_free_full(ice->early_candidates, (GDestroyNotify)nice_candidate_free);
	ice->early_candidates = NULL;
	ice->restarts++;
	gboolean ok = set_local_credentials(ice, ufrag, pwd);
	refresh_credentials(ice);
	return ok;
}

/* The new stream of cardea_ice_restart_new_ports: attached, credentials
 * set, gathering. FALSE with ice->stream_id 0 when no stream could be
 * added, else with the new (not gathering) stream in place. */
static gboolean replace_stream(cardea_ice *ice, const char *ufrag, const char *pwd) {
	ice->stream_id = add_stream(ice);
	if (ice->stream_id == 0) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[ice] could not add a stream to the agent on restart");
		return FALSE;
	}
	nice_agent_attach_recv(ice->agent, ice->stream_id, 1, ice->context, on_receive, ice);
	gboolean ok = set_local_credentials(ice, ufrag, pwd);
	refresh_credentials(ice);
	/* Not cardea_ice_gather: a failure here is not an error yet (below). */
	ice->gathering = ok && nice_agent_gather_candidates(ice->agent, ice->stream_id);
	cardea_loop_poll_resync();
	return ice->gathering;
}

/* The selected pair's own UDP socket (host or srflx, not TURN), a new ref, or NULL. */
static GSocket *selected_udp_socket(cardea_ice *ice) {
	NiceCandidate *local = NULL, *remote = NULL;
	if (ice->state != CARDEA_ICE_CONNECTED ||
			!nice_agent_get_selected_pair(ice->agent, ice->stream_id, 1, &local, &remote) ||
			local->transport != NICE_CANDIDATE_TRANSPORT_UDP || local->type == NICE_CANDIDATE_TYPE_RELAYED)
		return NULL;
	GSocket *sock = nice_agent_get_selected_socket(ice->agent, ice->stream_id, 1);
	if (sock && g_socket_get_socket_type(sock) != G_SOCKET_TYPE_DATAGRAM)
		g_clear_object(&sock);
	return sock;
}

/* Why new sockets: a browser that restarts ICE after its address changed
 * (Chromium) pings our old candidate from its new address with the OLD
 * credentials as soon as it made its offer, before we restarted; we answer,
 * it selects that pair, and once we restart it gets 401s on it but never
 * pairs our new-generation candidate, which has the same address ("a
 * selected connection exists"). Janus (same ports) stalls the same way.
 * Candidates on new ports are new addresses: it pairs and checks them. */
gboolean cardea_ice_restart_new_ports(cardea_ice *ice, const char *ufrag, const char *pwd) {
	guint old = ice->stream_id;
	GSocket *old_sock = selected_udp_socket(ice);
	char *old_pwd = g_strdup(ice->pwd);
	direct_reset(ice);
	nice_agent_attach_recv(ice->agent, old, 1, ice->context, NULL, NULL);
	g_object_set(ice->agent, "idle-timeout", (guint)ICE_RESTART_IDLE_TIMEOUT_MS, NULL);
	ice->remote_credentials_set = FALSE;
	ice->remote_candidates = 0;
	g_slist_free_full(ice->early_candidates, (GDestroyNotify)nice_candidate_free);
	ice->early_candidates = NULL;
	g_clear_pointer(&ice->selected, g_free);
	ice->restarts++;
	/* The old stream keeps its sockets until the new one has bound its
	 * own: within a port range the agent starts at a random port, and one
	 * just freed would come back half the time in a two-port range (the
	 * peer's stale pair again; tests/unit/test_ice_restart.c). */
	gboolean ok = replace_stream(ice, ufrag, pwd);
	if (!ok && ice->stream_id != 0 && ice->tombstone) {
		/* The previous restart's old port still rejects stale checks: a
		 * port that differs from the current one matters more now. */
		nice_agent_attach_recv(ice->agent, ice->stream_id, 1, ice->context, NULL, NULL);
		nice_agent_remove_stream(ice->agent, ice->stream_id);
		cardea_ice_tombstone_free(ice->tombstone);
		ice->tombstone = NULL;
		ok = replace_stream(ice, ufrag, pwd);
	}
	if (ok && old_sock) {
		/* Before the agent closes its fd: ours keeps the port. */
		cardea_ice_tombstone_free(ice->tombstone);
		ice->tombstone = cardea_ice_tombstone_new(ice->context, g_socket_get_fd(old_sock), old_pwd,
			ICE_TOMBSTONE_MS, &ice->tombstone);
	}
	g_clear_object(&old_sock);
	g_free(old_pwd);
	nice_agent_remove_stream(ice->agent, old);
	if (!ok && ice->stream_id != 0) {
		/* No free port for both sets (a full range): the old ones, free
		 * now, are better than no restart. */
		CARDEA_LOG(CARDEA_LOG_WARN, "[ice] no free port for new candidates on restart: reusing the old ones");
		nice_agent_attach_recv(ice->agent, ice->stream_id, 1, ice->context, NULL, NULL);
		nice_agent_remove_stream(ice->agent, ice->stream_id);
		ok = replace_stream(ice, ufrag, pwd);
	}
	if (!ok)
		CARDEA_LOG(CARDEA_LOG_ERR, "[ice] restart failed (no usable local address or port?)");
	cardea_loop_poll_resync();
	return ok;
}

int cardea_ice_send(cardea_ice *ice, const guint8 *buf, gsize len) {
	if (ice->state != CARDEA_ICE_CONNECTED)
		return -1;
	if (!ice->direct_checked)
		direct_resolve(ice);
	if (ice->direct_sock) {
		/* Media loop threads: queued for one io_uring round per burst. */
		if (cardea_send_batch_add(ice->direct_fd, (const struct sockaddr *)&ice->direct_addr,
				ice->direct_addr_len, buf, len))
			return (int)len;
		ssize_t n;
		do
			n = sendto(ice->direct_fd, buf, len, 0,
				(const struct sockaddr *)&ice->direct_addr, ice->direct_addr_len);
		while (n < 0 && errno == EINTR);
		/* A full socket buffer drops the packet, as libnice does for UDP. */
		return n < 0 ? -1 : (int)n;
	}
	return nice_agent_send(ice->agent, ice->stream_id, 1, (guint)len, (const gchar *)buf);
}

cardea_ice_state cardea_ice_get_state(const cardea_ice *ice) {
	return ice->state;
}

static json_t *candidates_json(GSList *cands, NiceAgent *agent, gboolean local) {
	json_t *arr = json_array();
	for (GSList *l = cands; l; l = l->next) {
		NiceCandidate *c = l->data;
		char addr[NICE_ADDRESS_STRING_LEN];
		nice_address_to_string(&c->addr, addr);
		json_array_append_new(arr, json_sprintf("%s:%u %s %s", addr, nice_address_get_port(&c->addr),
			candidate_transport_name(c), candidate_type_name(c)));
	}
	return arr;
}

json_t *cardea_ice_info(cardea_ice *ice) {
	GSList *local = nice_agent_get_local_candidates(ice->agent, ice->stream_id, 1);
	GSList *remote = nice_agent_get_remote_candidates(ice->agent, ice->stream_id, 1);
	json_t *info = json_pack("{s:s, s:s?, s:i, s:o, s:o}",
		"state", cardea_ice_state_name(ice->state),
		"selected-pair", ice->selected,
		"restarts", (int)ice->restarts,
		"local-candidates", candidates_json(local, ice->agent, TRUE),
		"remote-candidates", candidates_json(remote, ice->agent, FALSE));
	g_slist_free_full(local, (GDestroyNotify)nice_candidate_free);
	g_slist_free_full(remote, (GDestroyNotify)nice_candidate_free);
	return info;
}
