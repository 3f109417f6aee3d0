"""Janus API core requests (janus-api.md §1), each over HTTP and WebSocket."""

import json
import random

import pytest

from apiclient import (async_probe, core_events, expect_error, is_core_id, open_api, probe)

SDP_OFFER = (
	"v=0\r\n"
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
	"s=-\r\n"
	"t=0 0\r\n"
	"a=group:BUNDLE 0\r\n"
	"a=msid-semantic: WMS\r\n"
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"a=rtcp:9 IN IP4 0.0.0.0\r\n"
	"a=ice-ufrag:Xk2b\r\n"
	"a=ice-pwd:3kq9vLr8a6ZcYt1NwQp0sE7f\r\n"
	"a=ice-options:trickle\r\n"
	"a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n"
	"a=setup:actpass\r\n"
	"a=mid:0\r\n"
	"a=sendrecv\r\n"
	"a=rtcp-mux\r\n"
	"a=rtpmap:111 opus/48000/2\r\n"
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n"
)


def check_reply(r, kind, tx, sid=None):
	assert r.get("janus") == kind, r
	assert r.get("transaction") == tx, r
	if sid is None:
		assert "session_id" not in r, r
	else:
		assert r.get("session_id") == sid and type(r["session_id"]) is int, r


# ---- sessionless requests ---------------------------------------------------

async def test_info_sessionless(gateway, transport):
	async with open_api(gateway, transport) as api:
		r = await api.request({"janus": "info", "transaction": "info-1"})
	check_reply(r, "server_info", "info-1")
	for key in ("name", "version_string", "author", "server-name"):
		assert isinstance(r.get(key), str) and r[key], (key, r)
	assert type(r["version"]) is int
	assert r["server-name"] == "cardea-itest"
	for key in ("data_channels", "accepting-new-sessions", "api_secret", "auth_token", "ice-lite",
			"ice-tcp", "full-trickle", "ipv6", "opaqueid_in_api", "log-to-stdout", "log-to-file"):
		assert type(r.get(key)) is bool, (key, r.get(key))
	assert r["accepting-new-sessions"] is True
	assert r["api_secret"] is False and r["auth_token"] is False
	assert r["session-timeout"] == 60 and type(r["session-timeout"]) is int
	assert r["reclaim-session-timeout"] == 0 and type(r["reclaim-session-timeout"]) is int
	assert type(r.get("candidates-timeout")) is int
	assert isinstance(r.get("transports"), dict) and len(r["transports"]) >= 2, r.get("transports")
	assert isinstance(r.get("plugins"), dict) and gateway.plugin in r["plugins"], r.get("plugins")
	p = r["plugins"][gateway.plugin]
	for key in ("name", "author", "description", "version_string"):
		assert isinstance(p.get(key), str), (key, p)
	assert type(p.get("version")) is int
	assert isinstance(r.get("events"), dict)


async def test_ping(gateway, transport):
	async with open_api(gateway, transport) as api:
		r = await api.request({"janus": "ping", "transaction": "p-1"})
	assert r == {"janus": "pong", "transaction": "p-1"}


async def test_verbs_are_case_insensitive(gateway, transport):
	async with open_api(gateway, transport) as api:
		r = await api.request({"janus": "PiNg", "transaction": "p-2"})
		assert r == {"janus": "pong", "transaction": "p-2"}
		r = await api.request({"janus": "CREATE"})
		assert r["janus"] == "success" and is_core_id(r["data"]["id"]), r
		await api.destroy(r["data"]["id"])


async def test_info_and_ping_with_session_are_unknown(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		for verb in ("info", "ping"):
			r = await api.request({"janus": verb, "session_id": sid, "transaction": f"{verb}-s"})
			check_reply(r, "error", f"{verb}-s", sid)
			expect_error(r, 453, f"Unknown request '{verb}'")
		await api.destroy(sid)


# ---- create --------------------------------------------------------------------

async def test_create(gateway, transport):
	async with open_api(gateway, transport) as api:
		ids = set()
		for i in range(10):
			r = await api.request({"janus": "create", "transaction": f"c-{i}"})
			check_reply(r, "success", f"c-{i}")   # no top-level session_id on create
			assert set(r) == {"janus", "transaction", "data"}, r
			assert is_core_id(r["data"]["id"]), r
			ids.add(r["data"]["id"])
		assert len(ids) == 10
		for sid in ids:
			await api.destroy(sid)


async def test_create_with_chosen_id_and_conflict(gateway, transport):
	want = random.randrange(2 ** 40, 2 ** 53 - 1)
	async with open_api(gateway, transport) as api:
		r = await api.request({"janus": "create", "id": want, "transaction": "cid-1"})
		check_reply(r, "success", "cid-1")
		assert r["data"]["id"] == want
		r = await api.request({"janus": "create", "id": want, "transaction": "cid-2"})
		# Janus names the contested id as the reply's session_id
		check_reply(r, "error", "cid-2", want)
		expect_error(r, 468, "Session ID already in use")
		# the original session is untouched
		r = await api.request({"janus": "keepalive", "session_id": want})
		assert r["janus"] == "ack", r
		await api.destroy(want)
		# a destroyed id can be taken again
		r = await api.request({"janus": "create", "id": want})
		assert r["janus"] == "success" and r["data"]["id"] == want, r
		await api.destroy(want)


@pytest.mark.parametrize("bad", ["123", 1.5, True, [1], -4])
async def test_create_with_bad_id_type(gateway, transport, bad):
	async with open_api(gateway, transport) as api:
		r = await api.request({"janus": "create", "id": bad})
		expect_error(r, 467, "Invalid element type (id should be a positive integer)")
		assert "transaction" not in r, r
		await api.ping()


async def test_create_with_id_zero_picks_one(gateway, transport):
	# Janus treats "id": 0 like an absent id
	async with open_api(gateway, transport) as api:
		r = await api.request({"janus": "create", "id": 0})
		assert r["janus"] == "success" and is_core_id(r["data"]["id"]), r
		await api.destroy(r["data"]["id"])


# ---- attach ------------------------------------------------------------------

async def test_attach(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		r = await api.request({"janus": "attach", "session_id": sid, "plugin": gateway.plugin,
			"opaque_id": "itest-opaque-1", "transaction": "a-1"})
		check_reply(r, "success", "a-1", sid)
		assert set(r) == {"janus", "session_id", "transaction", "data"}, r
		assert is_core_id(r["data"]["id"]) and r["data"]["id"] != sid, r
		hid2 = await api.attach(sid, gateway.plugin)
		assert hid2 != r["data"]["id"]
		await api.destroy(sid)


async def test_attach_errors(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		r = await api.request({"janus": "attach", "session_id": sid, "plugin": "cardea.plugin.nope", "transaction": "ae-1"})
		check_reply(r, "error", "ae-1", sid)
		expect_error(r, 460, "No such plugin 'cardea.plugin.nope'")
		r = await api.request({"janus": "attach", "session_id": sid})
		expect_error(r, 456, "Missing mandatory element (plugin)")
		r = await api.request({"janus": "attach", "session_id": sid, "plugin": 42})
		expect_error(r, 467, "Invalid element type (plugin should be a string)")
		r = await api.request({"janus": "attach", "session_id": sid, "plugin": gateway.plugin, "opaque_id": 7})
		expect_error(r, 467, "Invalid element type (opaque_id should be a string)")
		await api.destroy(sid)


# ---- message -----------------------------------------------------------------

@pytest.mark.testplugin
async def test_message_sync(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		r = await api.request({"janus": "message", "session_id": sid, "handle_id": hid,
			"transaction": "m-sync", "body": {"request": "ping"}})
		check_reply(r, "success", "m-sync", sid)
		assert r.get("sender") == hid, r
		assert r.get("plugindata") == {"plugin": "cardea.plugin.test", "data": {"test": "pong"}}, r
		assert "jsep" not in r
		await api.destroy(sid)


async def test_message_async(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		body = async_probe(gateway, 7)
		r = await api.request({"janus": "message", "session_id": sid, "handle_id": hid,
			"transaction": "m-async", "body": body})
		check_reply(r, "ack", "m-async", sid)
		ev = await api.event(sid, {"transaction": "m-async"})
		assert ev["janus"] == "event", ev
		assert ev.get("session_id") == sid and ev.get("sender") == hid, ev
		assert ev["plugindata"]["plugin"] == gateway.plugin, ev
		if gateway.plugin == "cardea.plugin.test":
			assert ev["plugindata"]["data"] == {"test": "echo", "body": body}, ev
			assert "jsep" not in ev
		await api.destroy(sid)


@pytest.mark.testplugin
async def test_ack_comes_before_the_event(gateway):
	"""The plugin's event for a message is pushed (from its queue thread)
	while handle_message has not returned: the client still gets the ack
	first (Janode drops an ack after its transaction's event)."""
	async with open_api(gateway, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		for _ in range(3):
			r = await api.message(sid, hid, {"request": "echo", "hold_ack_ms": 100})
			assert r["janus"] == "ack", r
			ev = await api.event(sid, {"transaction": r["transaction"]})
			assert ev["janus"] == "event" and ev["plugindata"]["data"]["test"] == "echo", ev
			# the order on the wire (the client's inbox is matched by transaction)
			kinds = [m["janus"] for m in map(json.loads, api.raw) if m.get("transaction") == r["transaction"]]
			assert kinds == ["ack", "event"], kinds
		await api.destroy(sid)


@pytest.mark.testplugin
async def test_message_events_in_order(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		r = await api.message(sid, hid, {"request": "events", "count": 20})
		assert r["janus"] == "ack", r
		seqs = []
		for i in range(20):
			ev = await api.event(sid, {"janus": "event"})
			assert ev.get("sender") == hid and ev.get("session_id") == sid, ev
			# only the first event answers the request; the rest are unsolicited
			if i == 0:
				assert ev.get("transaction") == r["transaction"], ev
			else:
				assert "transaction" not in ev, ev
			d = ev["plugindata"]["data"]
			assert d.get("test") == "event", ev
			seqs.append(d["seq"])
		assert seqs == list(range(20))
		await api.destroy(sid)


@pytest.mark.testplugin
async def test_message_plugin_failure_is_462(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		r = await api.request({"janus": "message", "session_id": sid, "handle_id": hid,
			"transaction": "m-fail", "body": {"request": "fail"}})
		check_reply(r, "error", "m-fail", sid)
		expect_error(r, 462)
		# the handle still works
		r = await api.message(sid, hid, {"request": "ping"})
		assert r["janus"] == "success", r
		await api.destroy(sid)


@pytest.mark.testplugin
async def test_message_unknown_plugin_request_is_plugin_data(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		r = await api.message(sid, hid, {"request": "bogus"})
		assert r["janus"] == "success" and r.get("sender") == hid, r
		assert r["plugindata"]["data"] == {"test": "error", "error_code": 499, "error": "Unknown request 'bogus'"}, r
		await api.destroy(sid)


async def test_message_body_errors(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		r = await api.request({"janus": "message", "session_id": sid, "handle_id": hid, "transaction": "mb-1"})
		check_reply(r, "error", "mb-1", sid)
		expect_error(r, 456, "Missing mandatory element (body)")
		for bad in ("ping", 3, [1], True):
			r = await api.request({"janus": "message", "session_id": sid, "handle_id": hid, "body": bad})
			expect_error(r, 467, "Invalid element type (body should be an object)")
		await api.destroy(sid)


@pytest.mark.testplugin
async def test_message_jsep_is_echoed(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		r = await api.message(sid, hid, {"request": "echo"}, jsep={"type": "offer", "sdp": SDP_OFFER})
		assert r["janus"] == "ack", r
		ev = await api.event(sid, {"transaction": r["transaction"]})
		assert ev["janus"] == "event" and ev.get("sender") == hid, ev
		assert ev["plugindata"]["data"]["test"] == "echo", ev
		# the test plugin answers with the same description, type flipped
		jsep = ev.get("jsep")
		assert isinstance(jsep, dict) and jsep.get("type") == "answer", ev
		assert isinstance(jsep.get("sdp"), str) and jsep["sdp"].startswith("v=0\r\n"), ev
		await api.destroy(sid)


async def test_message_jsep_errors(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		body = async_probe(gateway)
		r = await api.message(sid, hid, body, jsep={"type": "bogus", "sdp": SDP_OFFER})
		expect_error(r, 464, "JSEP error: unknown message type 'bogus'")
		r = await api.message(sid, hid, body, jsep={"type": "offer"})
		expect_error(r, 456, "JSEP error: missing mandatory element (sdp)")
		r = await api.message(sid, hid, body, jsep={"sdp": SDP_OFFER})
		expect_error(r, 456, "JSEP error: missing mandatory element (type)")
		r = await api.message(sid, hid, body, jsep={"type": "offer", "sdp": 5})
		expect_error(r, 467)
		r = await api.message(sid, hid, body, jsep={"type": "answer", "sdp": SDP_OFFER})
		expect_error(r, 469)
		r = await api.message(sid, hid, body, jsep={"type": "offer", "sdp": "this is not sdp"})
		expect_error(r, 465)
		# none of that broke the handle
		assert core_events(await probe(api, sid, hid, gateway)) == []
		await api.destroy(sid)


# ---- trickle -------------------------------------------------------------------

CAND = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 54400 typ host", "sdpMid": "0", "sdpMLineIndex": 0}


async def test_trickle_shapes(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		base = {"janus": "trickle", "session_id": sid, "handle_id": hid}
		for i, extra in enumerate([{"candidate": CAND}, {"candidates": [CAND, dict(CAND, sdpMLineIndex=0)]},
				{"candidate": {"completed": True}}, {"candidate": None}]):
			r = await api.request({**base, **extra, "transaction": f"tr-{i}"})
			check_reply(r, "ack", f"tr-{i}", sid)
		r = await api.request({**base, "candidate": CAND, "candidates": [CAND], "transaction": "tr-both"})
		check_reply(r, "error", "tr-both", sid)
		expect_error(r, 454, "Can't have both candidate and candidates")
		r = await api.request({**base, "transaction": "tr-none"})
		check_reply(r, "error", "tr-none", sid)
		expect_error(r, 456)
		await api.destroy(sid)


async def test_trickle_needs_a_handle(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		r = await api.request({"janus": "trickle", "session_id": sid, "candidate": CAND})
		expect_error(r, 457, "Unhandled request 'trickle' at this path")
		await api.destroy(sid)


# ---- keepalive / claim at either level -------------------------------------

async def test_keepalive(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		r = await api.request({"janus": "keepalive", "session_id": sid, "transaction": "ka-1"})
		assert r == {"janus": "ack", "session_id": sid, "transaction": "ka-1"}
		hid = await api.attach(sid, gateway.plugin)
		r = await api.request({"janus": "keepalive", "session_id": sid, "handle_id": hid, "transaction": "ka-2"})
		assert r == {"janus": "ack", "session_id": sid, "transaction": "ka-2"}
		await api.destroy(sid)
		r = await api.request({"janus": "keepalive", "session_id": sid, "transaction": "ka-3"})
		check_reply(r, "error", "ka-3", sid)
		expect_error(r, 458, f"No such session {sid}")


# ---- detach / hangup / destroy -----------------------------------------------

async def test_detach(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		keep = await api.attach(sid, gateway.plugin)
		r = await api.request({"janus": "detach", "session_id": sid, "handle_id": hid, "transaction": "d-1"})
		check_reply(r, "success", "d-1", sid)
		ev = await api.event(sid, {"janus": "detached"})
		assert ev == {"janus": "detached", "session_id": sid, "sender": hid}, ev
		for verb in ("detach", "hangup"):
			r = await api.request({"janus": verb, "session_id": sid, "handle_id": hid})
			expect_error(r, 459, f"No such handle {hid} in session {sid}")
		r = await api.message(sid, hid, {"request": "ping"})
		expect_error(r, 459, f"No such handle {hid} in session {sid}")
		# the other handle is unaffected; no other core event (no hangup, no
		# second detached) came before the probe
		assert core_events(await probe(api, sid, keep, gateway)) == []
		await api.destroy(sid)


async def test_detach_and_attach_need_right_path(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		r = await api.request({"janus": "detach", "session_id": sid})
		expect_error(r, 457, "Unhandled request 'detach' at this path")
		r = await api.request({"janus": "hangup", "session_id": sid})
		expect_error(r, 457, "Unhandled request 'hangup' at this path")
		r = await api.request({"janus": "message", "session_id": sid, "body": {}})
		expect_error(r, 457, "Unhandled request 'message' at this path")
		r = await api.request({"janus": "attach", "session_id": sid, "handle_id": hid, "plugin": gateway.plugin})
		expect_error(r, 457, "Unhandled request 'attach' at this path")
		r = await api.request({"janus": "destroy", "session_id": sid, "handle_id": hid})
		expect_error(r, 457, "Unhandled request 'destroy' at this path")
		await api.destroy(sid)


async def test_hangup_without_pc(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		r = await api.request({"janus": "hangup", "session_id": sid, "handle_id": hid, "transaction": "h-1"})
		check_reply(r, "success", "h-1", sid)
		# no PeerConnection existed, so no hangup event before the probe's
		assert core_events(await probe(api, sid, hid, gateway)) == []
		await api.destroy(sid)


async def test_destroy(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		r = await api.request({"janus": "destroy", "session_id": sid, "transaction": "x-1"})
		assert r == {"janus": "success", "session_id": sid, "transaction": "x-1"}
		r = await api.message(sid, hid, {"request": "ping"})
		expect_error(r, 458, f"No such session {sid}")
		r = await api.request({"janus": "destroy", "session_id": sid})
		expect_error(r, 458, f"No such session {sid}")
		r = await api.request({"janus": "attach", "session_id": sid, "plugin": gateway.plugin})
		expect_error(r, 458, f"No such session {sid}")


# ---- plugin-initiated detach -------------------------------------------------

@pytest.mark.testplugin
async def test_plugin_detaches_handle(gateway, transport):
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		r = await api.message(sid, hid, {"request": "detach_me"})
		assert r["janus"] == "ack" and r["session_id"] == sid, r
		ev = await api.event(sid, {"janus": "detached"})
		assert ev == {"janus": "detached", "session_id": sid, "sender": hid}, ev
		r = await api.message(sid, hid, {"request": "ping"})
		expect_error(r, 459)
		await api.destroy(sid)


# ---- envelope details ----------------------------------------------------------

async def test_transaction_is_echoed_verbatim(gateway, transport):
	odd = ["x", "é✓ \"quoted\" \\ slash", "t" * 500, "  spaced  ", "{\"json\":1}"]
	async with open_api(gateway, transport) as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		for tx in odd:
			r = await api.request({"janus": "keepalive", "session_id": sid, "transaction": tx})
			assert r.get("transaction") == tx, r
			r = await api.request({"janus": "message", "session_id": sid, "handle_id": hid,
				"transaction": tx, "body": async_probe(gateway)})
			assert r["janus"] == "ack" and r.get("transaction") == tx, r
			ev = await api.event(sid, {"janus": "event"})
			assert ev.get("transaction") == tx, ev
		r = await api.request({"janus": "ping", "transaction": ""})
		assert r == {"janus": "pong", "transaction": ""}
		await api.destroy(sid)


async def test_ids_are_json_integers_below_2_53(gateway, transport):
	async with open_api(gateway, transport) as api:
		for _ in range(25):
			sid = await api.create()
			hid = await api.attach(sid, gateway.plugin)
			assert is_core_id(sid) and is_core_id(hid)
			await api.destroy(sid)
		if transport == "ws":
			# on the wire: bare digits, never quoted or in exponent form
			import re
			ids = [m for f in api.raw for m in re.findall(r'"(?:id|session_id|sender)":\s*([^,}\s]+)', f)]
			assert ids and all(x.isdigit() for x in ids), ids


async def test_unknown_session_and_handle(gateway, transport):
	async with open_api(gateway, transport) as api:
		ghost = random.randrange(2 ** 40, 2 ** 52)
		r = await api.request({"janus": "keepalive", "session_id": ghost, "transaction": "g-1"})
		check_reply(r, "error", "g-1", ghost)
		expect_error(r, 458, f"No such session {ghost}")
		sid = await api.create()
		r = await api.request({"janus": "message", "session_id": sid, "handle_id": ghost, "body": {}})
		expect_error(r, 459, f"No such handle {ghost} in session {sid}")
		# a handle of another session is not reachable through this one
		other = await api.create()
		ohid = await api.attach(other, gateway.plugin)
		r = await api.request({"janus": "detach", "session_id": sid, "handle_id": ohid})
		expect_error(r, 459, f"No such handle {ohid} in session {sid}")
		await api.request({"janus": "keepalive", "session_id": other})
		await api.destroy(sid)
		await api.destroy(other)
