"""janus.plugin.echotest end to end with aiortc: media really flows.

aiortc offers audio (a generated tone) and video (generated frames) through
the Janus API over WebSocket and over HTTP long poll; the echoed tracks must
yield decoded frames. Also: admin handle_info shows ICE/DTLS connected and
counters moving, hangup keeps the handle, detach removes it, and bad SDPs
are refused without breaking the next negotiation.

Everything stays on 127.0.0.1: the gateway gathers on loopback only
(nat.ice_enforce_list) and aioice is told to do the same (it skips loopback
by default).
"""

import asyncio
import fractions
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy
import pytest
from av import AudioFrame

import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack, VideoStreamTrack

import gateway as gwmod
from apiclient import open_api, open_admin, expect_error

ECHO = "janus.plugin.echotest"

# Janus cannot gather on loopback only, so there is no reference run of this
# module (CARDEA_TEST_TARGET=janus skips it).
pytestmark = pytest.mark.cardea_only

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


class ToneTrack(MediaStreamTrack):
	"""20 ms frames of a 440 Hz tone, 48 kHz stereo s16: exactly what aiortc's
	Opus encoder consumes, so it never resamples into odd frame sizes."""
	kind = "audio"

	def __init__(self):
		super().__init__()
		self.start = None
		self.pts = 0

	async def recv(self):
		if self.start is None:
			self.start = time.time()
		else:
			self.pts += 960
			await asyncio.sleep(max(0, self.start + self.pts / 48000 - time.time()))
		t = (numpy.arange(960) + self.pts) / 48000
		mono = (numpy.sin(2 * math.pi * 440 * t) * 8000).astype(numpy.int16)
		frame = AudioFrame.from_ndarray(numpy.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
		frame.sample_rate = 48000
		frame.pts = self.pts
		frame.time_base = fractions.Fraction(1, 48000)
		return frame


@pytest.fixture(scope="module")
def echo_gw(module_gateway_factory):
	kw = {"sections": {"nat": {"ice_enforce_list": "127.0.0.1"}}}
	tmp = None
	if gwmod.TARGET != "janus":
		# The shared fixture copies only the test plugin: give the daemon a
		# plugins folder holding the echotest too (a later -P wins).
		tmp = Path(tempfile.mkdtemp(prefix="cardea-echo-plugins-"))
		shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_echotest.so", tmp)
		kw["args"] = ["-P", str(tmp)]
	gw = module_gateway_factory(**kw)
	yield gw
	if tmp:
		shutil.rmtree(tmp, ignore_errors=True)


async def offer_pc():
	pc = RTCPeerConnection()
	pc.addTrack(ToneTrack())
	pc.addTrack(VideoStreamTrack())
	tracks = {}
	pc.on("track", lambda t: tracks.__setitem__(t.kind, t))
	await pc.setLocalDescription(await pc.createOffer())
	return pc, tracks


async def handle_info(admin, sid, hid):
	r = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid})
	return r["info"]


async def negotiate(api, sid, hid, pc, tracks):
	r = await api.message(sid, hid, {"audio": True, "video": True},
		jsep={"type": "offer", "sdp": pc.localDescription.sdp})
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=10)
	assert ev["plugindata"] == {"plugin": ECHO, "data": {"echotest": "event", "result": "ok"}}, ev
	assert ev["jsep"]["type"] == "answer", ev
	sdp = ev["jsep"]["sdp"]
	for needle in ("a=fingerprint:sha-256 ", "a=group:BUNDLE", "a=ice-ufrag:", "a=candidate:",
			"a=end-of-candidates", "a=rtcp-mux", "a=ssrc:"):
		assert needle in sdp, f"{needle!r} missing in the answer:\n{sdp}"
	await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
	await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=10)
	for kind in ("audio", "video"):
		assert kind in tracks, f"no remote {kind} track"
		for _ in range(3):
			frame = await asyncio.wait_for(tracks[kind].recv(), 10)
			assert frame is not None


async def echo_session(gw, kind):
	"""One full echotest: negotiate, frames back, admin stats, hangup, detach."""
	async with open_api(gw, kind) as api, open_admin(gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, tracks = await offer_pc()
		try:
			await negotiate(api, sid, hid, pc, tracks)
			if gw.flavor == "cardea":
				info = (await handle_info(admin, sid, hid))["webrtc"]
				assert info["ice"]["state"] == "connected", info
				assert info["dtls"]["state"] == "connected", info
				before = {m["type"]: m["packets_in"] for m in info["media"]}
				await asyncio.sleep(0.5)
				info = (await handle_info(admin, sid, hid))["webrtc"]
				for m in info["media"]:
					assert m["packets_in"] > before[m["type"]] and m["packets_out"] > 0, info
			r = await api.request({"janus": "hangup", "session_id": sid, "handle_id": hid})
			assert r["janus"] == "success", r
			ev = await api.event(sid, {"janus": "hangup", "sender": hid}, timeout=5)
			assert ev["reason"] == "Janus API", ev
			handles = (await admin.ok({"janus": "list_handles", "session_id": sid}))["handles"]
			assert handles == [hid]
			r = await api.request({"janus": "detach", "session_id": sid, "handle_id": hid})
			assert r["janus"] == "success", r
			handles = (await admin.ok({"janus": "list_handles", "session_id": sid}))["handles"]
			assert handles == []
			await api.destroy(sid)
		finally:
			await pc.close()


@pytest.mark.timeout_s(30)
async def test_echo_ws(echo_gw):
	await echo_session(echo_gw, "ws")


@pytest.mark.timeout_s(30)
async def test_echo_http(echo_gw):
	await echo_session(echo_gw, "http")


def strip(sdp, prefix):
	return "".join(l + "\r\n" for l in sdp.split("\r\n") if l and not l.startswith(prefix))


@pytest.mark.timeout_s(40)
async def test_bad_jsep_then_echo(echo_gw):
	pc, _ = await offer_pc()
	good = pc.localDescription.sdp
	await pc.close()
	async with open_api(echo_gw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		for sdp in ("v=0\r\nthis is not sdp\r\n", strip(good, "a=fingerprint:"), strip(good, "a=ice-ufrag:")):
			r = await api.message(sid, hid, {"audio": True}, jsep={"type": "offer", "sdp": sdp})
			expect_error(r, 465)
		r = await api.message(sid, hid, {"audio": True}, jsep={"type": "answer", "sdp": good})
		expect_error(r, 469)
		# the same handle still negotiates afterwards
		pc, tracks = await offer_pc()
		try:
			await negotiate(api, sid, hid, pc, tracks)
		finally:
			await pc.close()
		await api.destroy(sid)
	await echo_session(echo_gw, "ws")
