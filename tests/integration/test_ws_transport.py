"""WebSocket transport specifics (janus-api.md §5): subprotocol selection,
framing (several objects per frame, fragments, binary, size limit), the
drop -> claim path, server pings, slow clients, WSS and shutdown.

Tests not marked cardea_only also pass against Janus 1.1.2
(CARDEA_TEST_TARGET=janus), which is how their assumptions were checked.
"""

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import time

import pytest
import websockets

from apiclient import WsApi, expect_error, open_admin, open_api
from gateway import free_port, port_open

PUBLIC = "janus-protocol"
ADMIN = "janus-admin-protocol"


async def handshake(url, protocols, **kw):
	"""Opens a WebSocket offering `protocols` (None: no header at all);
	returns the negotiated subprotocol, or None when the server refused."""
	try:
		ws = await websockets.connect(url, subprotocols=protocols, open_timeout=5,
			ping_interval=None, **kw)
	except (websockets.InvalidHandshake, OSError, asyncio.TimeoutError, EOFError):
		return None
	try:
		return ws.subprotocol
	finally:
		await ws.close()


async def recv_json(ws, timeout=5):
	return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def connect(url, protocol=PUBLIC, **kw):
	kw.setdefault("ping_interval", None)
	kw.setdefault("max_size", None)
	return await websockets.connect(url, subprotocols=[protocol], open_timeout=5, close_timeout=2, **kw)


async def wait_closed(ws, timeout=10):
	"""Reads until the server closes; returns (close code, frames read)."""
	n = 0
	try:
		while True:
			await asyncio.wait_for(ws.recv(), timeout)
			n += 1
	except websockets.ConnectionClosed:
		return ws.close_code, n


# ---- handshake -------------------------------------------------------------------

async def test_subprotocol_selection(gateway):
	gw = gateway
	assert await handshake(gw.ws_url, [PUBLIC]) == PUBLIC
	# janus.js and friends offer only theirs, but a list is negotiated too
	assert await handshake(gw.ws_url, ["x-unknown", PUBLIC]) == PUBLIC
	assert await handshake(gw.admin_ws_url, [ADMIN]) == ADMIN
	# the wrong API's protocol, an unknown one, or none at all: refused,
	# as Janus 1.1.2 does (it closes the socket without an HTTP answer)
	assert await handshake(gw.ws_url, [ADMIN]) is None
	assert await handshake(gw.admin_ws_url, [PUBLIC]) is None
	assert await handshake(gw.ws_url, ["x-unknown"]) is None
	assert await handshake(gw.ws_url, None) is None
	assert await handshake(gw.admin_ws_url, None) is None
	# and the listener is still fine afterwards
	async with open_api(gw, "ws") as api:
		await api.ping()


async def test_plain_http_refused(gateway):
	reader, writer = await asyncio.open_connection("127.0.0.1", gateway.ws_port)
	writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	await writer.drain()
	head = await asyncio.wait_for(reader.read(64), 5)
	writer.close()
	assert head.startswith(b"HTTP/1.1 403"), head


@pytest.mark.cardea_only
def test_listeners_bind_only_the_configured_address(gateway):
	# All of 127/8 is loopback: a listener bound to 127.0.0.1 must not answer
	# on 127.0.0.2 (lws 4.1 binds every address when handed a bare IPv4
	# literal, which would put the admin API on the public network).
	for port in (gateway.ws_port, gateway.admin_ws_port):
		assert port_open(port, "127.0.0.1")
		assert not port_open(port, "127.0.0.2"), f"port {port} listens beyond 127.0.0.1"


@pytest.mark.cardea_only
async def test_acl(gateway_factory):
	gw = gateway_factory(ws={"general": {"ws_acl": "10.255.,192.0.2."}, "admin": {"admin_ws_acl": "127.0.0."}})
	assert await handshake(gw.ws_url, [PUBLIC]) is None
	assert await handshake(gw.admin_ws_url, [ADMIN]) == ADMIN
	assert "refused by the ACL" in gw.log_text()


async def test_apis_are_separate(gateway):
	"""The admin listener speaks the Admin API, the public one the Janus API."""
	gw = gateway
	ws = await connect(gw.admin_ws_url, ADMIN)
	await ws.send(json.dumps({"janus": "list_sessions", "transaction": "a1", "admin_secret": gw.admin_secret}))
	r = await recv_json(ws)
	assert r["janus"] == "success" and isinstance(r["sessions"], list), r
	await ws.close()
	ws = await connect(gw.ws_url)
	await ws.send(json.dumps({"janus": "list_sessions", "transaction": "a2", "admin_secret": gw.admin_secret}))
	r = await recv_json(ws)
	assert r["janus"] == "error" and r["transaction"] == "a2", r
	await ws.close()


# ---- framing ------------------------------------------------------------------------

async def test_several_objects_in_one_frame_answered_in_order(gateway):
	ws = await connect(gateway.ws_url)
	verbs = ["ping", "info", "ping", "create", "ping", "info"]
	frame = "".join(json.dumps({"janus": v, "transaction": f"m{i}"}) for i, v in enumerate(verbs))
	await ws.send(frame)
	got = [await recv_json(ws) for _ in verbs]
	assert [m["transaction"] for m in got] == [f"m{i}" for i in range(len(verbs))], got
	assert [m["janus"] for m in got] == ["pong", "server_info", "pong", "success", "pong", "server_info"], got
	# whitespace between objects is fine
	await ws.send('{"janus":"ping","transaction":"w1"}\n  {"janus":"ping","transaction":"w2"}')
	assert [(await recv_json(ws))["transaction"] for _ in range(2)] == ["w1", "w2"]
	await ws.close()


async def test_fragmented_message(gateway):
	ws = await connect(gateway.ws_url)
	text = json.dumps({"janus": "ping", "transaction": "frag-" + "x" * 3000})
	pieces = [text[i:i + 700] for i in range(0, len(text), 700)]
	await ws.send(iter(pieces))
	r = await recv_json(ws)
	assert r["janus"] == "pong" and r["transaction"] == "frag-" + "x" * 3000, r
	# a ping control frame in the middle of a fragmented message is legal
	async def with_ping():
		yield text[:10]
		await ws.ping()
		yield text[10:]
	await ws.send(with_ping())
	r = await recv_json(ws)
	assert r["janus"] == "pong", r
	# one big frame, much larger than the server's read chunk
	big = "b" * 200000
	await ws.send(json.dumps({"janus": "ping", "transaction": big}))
	r = await recv_json(ws)
	assert r["janus"] == "pong" and r["transaction"] == big
	await ws.close()


@pytest.mark.cardea_only
async def test_binary_frames_ignored(gateway):
	ws = await connect(gateway.ws_url)
	await ws.send(b"\x00\x01binary")
	await ws.send(iter([b"\x02", b"\x03"]))
	await ws.send(json.dumps({"janus": "ping", "transaction": "after"}))
	r = await recv_json(ws)
	assert r["janus"] == "pong" and r["transaction"] == "after", r
	await ws.close()


@pytest.mark.cardea_only
async def test_oversize_message_closes_1009(gateway_factory):
	gw = gateway_factory(ws={"general": {"max_message_size": 4096}})
	bystander = await connect(gw.ws_url)
	# exactly the limit is fine
	tx = "p" * (4096 - len(json.dumps({"janus": "ping", "transaction": ""})))
	ws = await connect(gw.ws_url)
	await ws.send(json.dumps({"janus": "ping", "transaction": tx}))
	assert (await recv_json(ws))["transaction"] == tx
	# one byte more, in one frame or in fragments: closed with 1009
	await ws.send(json.dumps({"janus": "ping", "transaction": tx + "p"}))
	code, _ = await wait_closed(ws)
	assert code == 1009, code
	ws = await connect(gw.ws_url)
	await ws.send(iter(["x" * 3000, "x" * 3000]))
	code, _ = await wait_closed(ws)
	assert code == 1009, code
	# everyone else is still served
	await bystander.send(json.dumps({"janus": "ping", "transaction": "b"}))
	assert (await recv_json(bystander))["janus"] == "pong"
	async with open_api(gw, "ws") as api:
		await api.ping()
	await bystander.close()
	assert "max_message_size" in gw.log_text()


# ---- connection loss ------------------------------------------------------------------

async def test_drop_then_claim_on_new_connection(gateway_factory):
	gw = gateway_factory(reclaim_session_timeout=10)
	old = await WsApi.connect(gw.ws_url)
	sid = await old.create()
	hid = await old.attach(sid, gw.plugin)
	# drop the TCP connection without a close handshake, as a dying network does
	old.ws.transport.abort()
	await old.closed.wait()
	await asyncio.sleep(0.3)
	async with open_api(gw, "ws") as new:
		r = await new.request({"janus": "claim", "session_id": sid})
		assert r["janus"] == "success" and r["session_id"] == sid, r
		r = await new.request({"janus": "keepalive", "session_id": sid})
		assert r["janus"] == "ack", r
		# the handle survived and its events now come here
		r = await new.request({"janus": "detach", "session_id": sid, "handle_id": hid})
		assert r["janus"] == "success", r
		ev = await new.event(sid, {"janus": "detached", "sender": hid})
		assert ev["session_id"] == sid


async def test_drop_without_reclaim_destroys_sessions(gateway):
	old = await WsApi.connect(gateway.ws_url)
	sid = await old.create()
	await old.ws.close()
	await old.closed.wait()
	await asyncio.sleep(0.3)
	async with open_api(gateway, "ws") as new:
		r = await new.request({"janus": "claim", "session_id": sid})
		expect_error(r, 458)


# ---- keepalive ------------------------------------------------------------------------

async def test_server_pings_and_hangs_up_on_silence(gateway_factory):
	gw = gateway_factory(ws={"general": {"pingpong_trigger": 1, "pingpong_timeout": 1}})
	# A client that answers pings (websockets does by default) stays up and
	# sees pings arrive.
	good = await connect(gw.ws_url)
	pings = []
	orig_pong = good.pong
	async def counting_pong(data=b""):
		pings.append(time.monotonic())
		return await orig_pong(data)
	good.pong = counting_pong
	# A client that swallows pings is dropped by the server.
	mute = await connect(gw.ws_url)
	async def no_pong(data=b""):
		return None
	mute.pong = no_pong
	t0 = time.monotonic()
	code, _ = await wait_closed(mute, timeout=8)
	took = time.monotonic() - t0
	assert 1.5 <= took <= 6, f"silent client dropped after {took:.1f}s (trigger 1 + timeout 1)"
	await asyncio.sleep(max(0, 3.5 - (time.monotonic() - t0)))
	assert good.open, "a client answering pings was dropped"
	assert len(pings) >= 1, "no server ping seen in 3.5 s with pingpong_trigger = 1"
	await good.send(json.dumps({"janus": "ping", "transaction": "alive"}))
	assert (await recv_json(good))["janus"] == "pong"
	await good.close()


# ---- slow clients ---------------------------------------------------------------------

@pytest.mark.cardea_only
@pytest.mark.timeout_s(90)
async def test_client_that_stops_reading_is_dropped(gateway_factory):
	gw = gateway_factory(ws={"general": {"max_queued_bytes": 65536}})
	slow = await connect(gw.ws_url)
	slow.transport.pause_reading()
	# ~24 MB of replies: far more than the kernel buffers on both sides
	tx = "s" * 60000
	try:
		for i in range(100):
			frame = "".join(json.dumps({"janus": "ping", "transaction": f"{i}-{k}-{tx}"}) for k in range(4))
			await slow.send(frame)
	except websockets.ConnectionClosed:
		pass  # dropped while we were still sending: fine
	deadline = time.monotonic() + 30
	while "client not reading" not in gw.log_text() and time.monotonic() < deadline:
		await asyncio.sleep(0.2)
	assert "client not reading" in gw.log_text(), "the server never gave up on the slow client"
	slow.transport.resume_reading()
	code, n = await wait_closed(slow, timeout=10)
	assert n < 400, f"all {n} replies arrived: the client was not dropped"
	async with open_api(gw, "ws") as api:
		await api.ping()


@pytest.mark.cardea_only
async def test_burst_to_a_reading_client_arrives_in_order(gateway):
	async with open_api(gateway, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, gateway.plugin)
		r = await api.message(sid, hid, {"request": "events", "count": 1000})
		assert r["janus"] == "ack", r
		seqs = []
		for _ in range(1000):
			ev = await api.event(sid, {"janus": "event", "sender": hid})
			seqs.append(ev["plugindata"]["data"]["seq"])
		assert seqs == list(range(1000))


# ---- WSS ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def test_cert(tmp_path_factory):
	if not shutil.which("openssl"):
		pytest.skip("openssl not installed")
	d = tmp_path_factory.mktemp("wss")
	cert, key = d / "cert.pem", d / "key.pem"
	subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-passout", "pass:itest",
		"-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
		"-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
	return cert, key


@pytest.mark.cardea_only
async def test_wss_listeners(gateway_factory, test_cert):
	cert, key = test_cert
	wss_port, admin_wss_port = free_port(), free_port()
	gw = gateway_factory(ws={
		"general": {"wss": True, "wss_port": wss_port, "wss_ip": "127.0.0.1"},
		"admin": {"admin_wss": True, "admin_wss_port": admin_wss_port},
		"certificates": {"cert_pem": str(cert), "cert_key": str(key), "cert_pwd": "itest"},
	})
	ctx = ssl.create_default_context(cafile=str(cert))
	for port, proto, msg, want in (
			(wss_port, PUBLIC, {"janus": "info", "transaction": "s1"}, "server_info"),
			(admin_wss_port, ADMIN, {"janus": "list_sessions", "transaction": "s2",
				"admin_secret": gw.admin_secret}, "success")):
		ws = await connect(f"wss://127.0.0.1:{port}", proto, ssl=ctx)
		assert ws.subprotocol == proto
		await ws.send(json.dumps(msg))
		r = await recv_json(ws)
		assert r["janus"] == want, r
		await ws.close()
	# plain ws keeps working next to it
	async with open_api(gw, "ws") as api:
		await api.ping()


@pytest.mark.cardea_only
def test_wss_without_certificate_refuses_to_start(gateway_factory):
	gw = gateway_factory(start=False, ws={"general": {"wss": True, "wss_port": free_port()}})
	gw.start(wait=False)
	rc = gw.wait_exit(10)
	assert rc not in (None, 0), "the daemon started with wss but no certificate"
	assert "cert_pem" in gw.log_text()


@pytest.mark.cardea_only
def test_bad_value_names_file_and_line(gateway_factory):
	gw = gateway_factory(start=False, ws={"general": {"json": "fancy"}})
	gw.start(wait=False)
	rc = gw.wait_exit(10)
	assert rc not in (None, 0)
	assert "cardea.transport.websockets.jcfg:" in gw.log_text() and "general.json" in gw.log_text()


# ---- admin and shutdown -----------------------------------------------------------------

@pytest.mark.cardea_only
async def test_query_transport_counts_connections(gateway):
	conns = [await connect(gateway.ws_url) for _ in range(3)]
	async with open_admin(gateway, "ws") as adm:
		r = await adm.request({"janus": "query_transport", "transport": "cardea.transport.websockets",
			"request": {"request": "connections"}})
	assert r["janus"] == "success", r
	resp = r["response"]
	assert resp["listeners"]["ws"]["connections"] >= 3, resp
	assert resp["listeners"]["admin_ws"]["connections"] >= 1, resp
	for ws in conns:
		await ws.close()


@pytest.mark.cardea_only
async def test_shutdown_closes_with_going_away(gateway_factory):
	gw = gateway_factory()
	conns = [await connect(gw.ws_url) for _ in range(3)]
	conns.append(await connect(gw.admin_ws_url, ADMIN))
	loop = asyncio.get_running_loop()
	stopping = loop.run_in_executor(None, gw.stop)
	codes = [(await wait_closed(ws, timeout=10))[0] for ws in conns]
	rc, took = await stopping
	assert codes == [1001] * 4, codes
	assert rc == 0, f"exit code {rc}"
