"""Reconnection: a client that loses its signalling connection, and a
gateway that restarts.

* WebSocket dropped mid-call: the session outlives its connection for
  reclaim_session_timeout, a new connection `claim`s it, events reach the
  new connection, and the media (on its own ICE/DTLS path) never stopped:
  every video frame sent across the gap was decoded (frames are numbered,
  see netpeer.py).
* Not claimed in time: the session is destroyed (PeerConnection closed) and
  a late claim gets 458.
* Gateway restart: requests fail clearly (connection refused while it is
  down; 458 for the old session id afterwards) and a rejoin works.

The peer is netpeer.Peer in this process on loopback (no namespace needed:
what is tested is the signalling path; the media path's own faults are in
test_netem.py).
"""

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

import aioice.ice

import gateway as gwmod
from apiclient import WsApi, open_admin, expect_error
from netns import frame_loss
from netpeer import Peer

ECHO = "janus.plugin.echotest"

pytestmark = pytest.mark.cardea_only

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


@pytest.fixture
def plugdir():
	d = Path(tempfile.mkdtemp(prefix="cardea-reconnect-plugins-"))
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_echotest.so", d)
	yield d
	shutil.rmtree(d, ignore_errors=True)


def start_gw(factory, plugdir, **general):
	return factory(sections={"nat": {"ice_enforce_list": "127.0.0.1"}}, args=["-P", str(plugdir)], **general)


async def echo_call(api):
	"""create + attach echotest + negotiate; returns (sid, hid, peer) with
	echoed video decoded."""
	sid = await api.create()
	hid = await api.attach(sid, ECHO)
	peer = Peer()
	peer.add_tracks(True, True)
	await peer.pc.setLocalDescription(await peer.pc.createOffer())
	r = await api.message(sid, hid, {"audio": True, "video": True},
		jsep={"type": "offer", "sdp": peer.pc.localDescription.sdp})
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=15)
	from aiortc import RTCSessionDescription
	await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=ev["jsep"]["sdp"], type="answer"))
	await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=15)
	await wait_frames(peer, 5)
	return sid, hid, peer


async def wait_frames(peer, more, timeout=15):
	want = peer.recv["video"] + more
	deadline = time.monotonic() + timeout
	while peer.recv["video"] < want:
		assert time.monotonic() < deadline, f"video stalled at {peer.recv}"
		await asyncio.sleep(0.1)


def drop(api):
	"""Kills the TCP connection under the WebSocket without a close
	handshake, as a lost network would."""
	api.ws.transport.abort()


@pytest.mark.timeout_s(60)
async def test_ws_drop_claim_media_continues(gateway_factory, plugdir):
	gw = start_gw(gateway_factory, plugdir, reclaim_session_timeout=10)
	api = await WsApi.connect(gw.ws_url)
	sid, hid, peer = await echo_call(api)
	try:
		await asyncio.sleep(1)
		t_drop = time.monotonic()
		drop(api)
		await asyncio.wait_for(api.closed.wait(), 5)
		await api.close()
		# while disconnected: the session is kept and media keeps flowing
		await asyncio.sleep(2)
		async with open_admin(gw, "http") as admin:
			assert sid in await admin.list_sessions()
		n_gap = peer.recv["video"]
		api = await WsApi.connect(gw.ws_url)
		r = await api.request({"janus": "claim", "session_id": sid})
		assert r["janus"] == "success" and r.get("session_id") == sid, r
		t_claim = time.monotonic()
		# events of the claimed session now come to the new connection
		r = await api.message(sid, hid, {"audio": True})
		assert r["janus"] == "ack", r
		ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=5)
		assert ev["plugindata"]["data"].get("result") == "ok", ev
		await asyncio.sleep(1.5)
		st = await peer.stats()
		lost, expected, missing = frame_loss(st["sent"], st["frames"], t_drop - 0.5, t_claim + 0.5)
		assert n_gap > 0 and expected >= 60, (n_gap, expected)
		assert lost == 0, f"frames lost across the WebSocket gap: {missing}"
		# keep-alive and destroy work on the new connection
		assert (await api.request({"janus": "keepalive", "session_id": sid}))["janus"] == "ack"
		await api.destroy(sid)
	finally:
		await peer.pc.close()
		await api.close()


@pytest.mark.timeout_s(60)
async def test_ws_drop_not_claimed_in_time(gateway_factory, plugdir):
	gw = start_gw(gateway_factory, plugdir, reclaim_session_timeout=2)
	api = await WsApi.connect(gw.ws_url)
	sid, hid, peer = await echo_call(api)
	try:
		drop(api)
		await api.close()
		deadline = time.monotonic() + 8
		async with open_admin(gw, "http") as admin:
			while sid in await admin.list_sessions():
				assert time.monotonic() < deadline, "unclaimed session was never destroyed"
				await asyncio.sleep(0.2)
		api = await WsApi.connect(gw.ws_url)
		expect_error(await api.request({"janus": "claim", "session_id": sid}), 458)
		# its PeerConnection went with it: the echo stops
		await asyncio.sleep(1)
		n = peer.recv["video"]
		await asyncio.sleep(1.5)
		assert peer.recv["video"] == n, "media still echoed after the session was destroyed"
	finally:
		await peer.pc.close()
		await api.close()


def same_ports(factory, old, **kw):
	"""An unstarted daemon listening where `old` did (a restart)."""
	gw = factory(start=False, **kw)
	for a in ("http_port", "admin_http_port", "ws_port", "admin_ws_port", "http_url", "admin_url",
			"ws_url", "admin_ws_url", "http_cfg", "ws_cfg"):
		setattr(gw, a, getattr(old, a))
	return gw


@pytest.mark.timeout_s(90)
async def test_gateway_restart_clear_errors_then_rejoin(gateway_factory, plugdir):
	kw = {"sections": {"nat": {"ice_enforce_list": "127.0.0.1"}}, "args": ["-P", str(plugdir)]}
	gw = gateway_factory(**kw)
	api = await WsApi.connect(gw.ws_url)
	sid, hid, peer = await echo_call(api)
	try:
		rc, _ = gw.stop()
		assert rc == 0
		# the client sees its connection close, then connection refused
		await asyncio.wait_for(api.closed.wait(), 5)
		await api.close()
		with pytest.raises(OSError):
			await WsApi.connect(gw.ws_url)
		gw2 = same_ports(gateway_factory, gw, **kw)
		gw2.start()
		api = await WsApi.connect(gw2.ws_url)
		# the old session is unknown to the new daemon: a clear 458
		expect_error(await api.request({"janus": "claim", "session_id": sid}), 458)
		expect_error(await api.request({"janus": "keepalive", "session_id": sid}), 458)
		expect_error(await api.message(sid, hid, {"audio": True}), 458)
		await peer.pc.close()
		# rejoin: a new session with a new PeerConnection gets media again
		sid2, hid2, peer = await echo_call(api)
		assert sid2 != sid or gw2.pid != gw.pid
		await wait_frames(peer, 30)
		await api.destroy(sid2)
	finally:
		await peer.pc.close()
		await api.close()


# ---- html/cardea.js (the demos' client library) ----------------------------------

class Proxy:
	"""TCP proxy on a loopback port: drop() kills every connection through it
	(no close handshake), refuse(True) makes it refuse new ones (a network
	that is down), like the path between a browser and the gateway."""

	def __init__(self, target_port):
		self.target = target_port
		self.port = gwmod.free_port()
		self.conns = []
		self.server = None

	async def start(self):
		async def handle(cr, cw):
			try:
				ur, uw = await asyncio.open_connection("127.0.0.1", self.target)
			except OSError:
				cw.transport.abort()
				return
			self.conns += [cw, uw]

			async def pipe(r, w):
				try:
					while data := await r.read(65536):
						w.write(data)
						await w.drain()
				except (ConnectionError, OSError):
					pass
				w.transport.abort()
			await asyncio.gather(pipe(cr, uw), pipe(ur, cw))
		self.server = await asyncio.start_server(handle, "127.0.0.1", self.port, reuse_address=True)

	def drop(self):
		for w in self.conns:
			w.transport.abort()
		self.conns.clear()

	async def refuse(self, on):
		if on and self.server:
			self.server.close()
			await self.server.wait_closed()
			self.server = None
		elif not on and not self.server:
			await self.start()

	async def close(self):
		await self.refuse(True)
		self.drop()


class JsClient:
	"""html/cardea.js in node (cardea_js_client.mjs)."""

	async def start(self, url, reconnect_ms=30000):
		self.proc = await asyncio.create_subprocess_exec("node", "--experimental-websocket", "--no-warnings",
			str(Path(__file__).with_name("cardea_js_client.mjs")), url, str(reconnect_ms),
			stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
		return await self.next("ready")

	async def next(self, ev, timeout=15):
		deadline = time.monotonic() + timeout
		while True:
			line = await asyncio.wait_for(self.proc.stdout.readline(), max(0.1, deadline - time.monotonic()))
			assert line, f"cardea.js client exited ({await self.proc.wait()}) waiting for {ev}"
			msg = json.loads(line)
			if msg["ev"] == ev:
				return msg

	async def send(self, line):
		self.proc.stdin.write((line + "\n").encode())
		await self.proc.stdin.drain()

	async def close(self):
		if self.proc.returncode is None:
			self.proc.kill()
			await self.proc.wait()


@pytest.mark.timeout_s(60)
async def test_cardea_js_reconnects_and_claims(gateway_factory, plugdir):
	gw = start_gw(gateway_factory, plugdir, reclaim_session_timeout=10)
	proxy = Proxy(gw.ws_port)
	await proxy.start()
	js = JsClient()
	try:
		ready = await js.start(f"ws://127.0.0.1:{proxy.port}")
		sid = ready["session"]
		# the network goes away for 1.5 s: the client retries with backoff
		await proxy.refuse(True)
		proxy.drop()
		await js.next("reconnecting")
		await asyncio.sleep(1.5)
		await proxy.refuse(False)
		rec = await js.next("reconnected", timeout=10)
		assert rec["reconnects"] == 1
		async with open_admin(gw, "http") as admin:
			assert sid in await admin.list_sessions()
		# the claimed session's events reach the client on its new connection
		await js.send("message")
		ev = await js.next("event")
		assert ev["data"].get("result") == "ok", ev
	finally:
		await js.close()
		await proxy.close()


@pytest.mark.timeout_s(60)
async def test_cardea_js_session_lost_458(gateway_factory, plugdir):
	"""Back after reclaim_session_timeout: claim gets 458, the library says
	the session is gone and emits 'close' (lost) so the page rejoins."""
	gw = start_gw(gateway_factory, plugdir, reclaim_session_timeout=1)
	proxy = Proxy(gw.ws_port)
	await proxy.start()
	js = JsClient()
	try:
		ready = await js.start(f"ws://127.0.0.1:{proxy.port}")
		await proxy.refuse(True)
		proxy.drop()
		await js.next("reconnecting")
		deadline = time.monotonic() + 8
		async with open_admin(gw, "http") as admin:
			while ready["session"] in await admin.list_sessions():
				assert time.monotonic() < deadline, "session never reaped"
				await asyncio.sleep(0.2)
		await proxy.refuse(False)
		gone = await js.next("gone", timeout=10)
		assert gone["code"] == 458, gone
		close = await js.next("close")
		assert close["lost"] is True and "458" in close["reason"], close
	finally:
		await js.close()
		await proxy.close()
