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


async def negotiate(api, sid, hid, pc, tracks, offer_sdp=None):
	r = await api.message(sid, hid, {"audio": True, "video": True},
		jsep={"type": "offer", "sdp": offer_sdp or pc.localDescription.sdp})
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


# ---- data channels ----------------------------------------------------------

DATA_PREFIX = "Janus EchoTest here! You wrote: "   # what Janus's echotest puts before text


class Channel:
	"""An aiortc data channel with its received messages in a queue."""

	def __init__(self, pc, label, **kw):
		self.dc = pc.createDataChannel(label, **kw)
		self.inbox = asyncio.Queue()
		self.opened = asyncio.Event()
		self.dc.on("message", self.inbox.put_nowait)
		self.dc.on("open", self.opened.set)

	async def roundtrip(self, data, expect, timeout=10):
		self.dc.send(data)
		got = await asyncio.wait_for(self.inbox.get(), timeout)
		assert type(got) is type(expect) and got == expect, (self.dc.label, got[:80], expect[:80])


async def offer_pc_with_data():
	pc = RTCPeerConnection()
	pc.addTrack(ToneTrack())
	pc.addTrack(VideoStreamTrack())
	channels = {
		"echo": Channel(pc, "echo", protocol="chat"),
		"fast": Channel(pc, "fast", ordered=False, maxRetransmits=0),
	}
	tracks = {}
	pc.on("track", lambda t: tracks.__setitem__(t.kind, t))
	await pc.setLocalDescription(await pc.createOffer())
	return pc, tracks, channels


def modern_sctp_sdp(sdp):
	"""aiortc offers the old data channel form ("DTLS/SCTP 5000" + a=sctpmap);
	browsers offer "UDP/DTLS/SCTP webrtc-datachannel" + a=sctp-port."""
	out = []
	for line in sdp.split("\r\n"):
		if line.startswith("m=application "):
			port = line.split()[1]
			line = f"m=application {port} UDP/DTLS/SCTP webrtc-datachannel"
		elif line.startswith("a=sctpmap:"):
			line = "a=sctp-port:" + line[len("a=sctpmap:"):].split()[0]
		out.append(line)
	return "\r\n".join(out)


async def data_session(gw, kind, gateway_dtls, sdp_form):
	"""Audio+video+data to the echotest: frames decode, every message comes
	back on its channel (text with Janus's prefix, binary unchanged), an
	oversized message is dropped and counted without breaking the channel.
	gateway_dtls "client" is what the gateway picks for an actpass offer;
	"server" offers setup:active on the wire, so aiortc ends up DTLS client.
	sdp_form "legacy" is aiortc's own offer, "modern" the browsers' form."""
	async with open_api(gw, kind) as api, open_admin(gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, tracks, channels = await offer_pc_with_data()
		try:
			offer = pc.localDescription.sdp
			assert "m=application " in offer and "a=sctpmap:5000 webrtc-datachannel" in offer, offer
			if gateway_dtls == "server":
				offer = offer.replace("a=setup:actpass", "a=setup:active")
			if sdp_form == "modern":
				offer = modern_sctp_sdp(offer)
			await negotiate(api, sid, hid, pc, tracks, offer_sdp=offer)
			answer = pc.remoteDescription.sdp
			app = answer[answer.index("m=application "):]
			if sdp_form == "modern":
				assert app.startswith("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"), answer
				assert "a=sctp-port:5000" in app and "a=sctpmap" not in app, answer
			else:
				assert app.startswith("m=application 9 DTLS/SCTP 5000\r\n"), answer
				assert "a=sctpmap:5000 webrtc-datachannel " in app and "a=sctp-port" not in app, answer
			assert "a=max-message-size:262144" in app, answer
			assert ("a=setup:active" if gateway_dtls == "client" else "a=setup:passive") in app, answer
			for ch in channels.values():
				await asyncio.wait_for(ch.opened.wait(), 10)
			echo, fast = channels["echo"], channels["fast"]
			await echo.roundtrip("hello", DATA_PREFIX + "hello")
			await echo.roundtrip("", DATA_PREFIX)
			await echo.roundtrip("żółw ✓", DATA_PREFIX + "żółw ✓")
			await echo.roundtrip(bytes(range(256)), bytes(range(256)))
			await echo.roundtrip(b"", b"")
			await fast.roundtrip("unordered", DATA_PREFIX + "unordered")
			await fast.roundtrip(b"\x00\xff" * 10, b"\x00\xff" * 10)
			big = bytes(i * 7 % 256 for i in range(60000))   # many SCTP packets, under aiortc's 65536
			await echo.roundtrip(big, big)
			# burst: ordered channel keeps order
			for i in range(20):
				echo.dc.send(f"m{i}")
			for i in range(20):
				got = await asyncio.wait_for(echo.inbox.get(), 10)
				assert got == f"{DATA_PREFIX}m{i}", got
			# over our a=max-message-size: dropped (aiortc does not check it)
			echo.dc.send(b"x" * 262145)
			await echo.roundtrip("still there", DATA_PREFIX + "still there")
			if gw.flavor == "cardea":
				data = (await handle_info(admin, sid, hid))["webrtc"]["data"]
				assert data["state"] == "up" and data["channels"] == 2, data
				assert data["dropped_too_big_in"] == 1, data
				assert data["max_message_size_peer"] == 65536, data
				assert data["messages_in"] == data["messages_out"] == 29, data
				labels = {c["label"]: c for c in data["channel_list"]}
				assert labels["echo"]["protocol"] == "chat" and labels["echo"]["type"] == "reliable", labels
				assert labels["fast"]["type"] == "partial-rexmit-unordered", labels
				assert all(c["opened_by"] == "peer" for c in data["channel_list"]), labels
			# the peer closes a channel (stream reset): the gateway resets its
			# half too, and the other channel carries on
			closed = asyncio.Event()
			fast.dc.on("close", closed.set)
			fast.dc.close()
			await asyncio.wait_for(closed.wait(), 10)
			await echo.roundtrip("after close", DATA_PREFIX + "after close")
			if gw.flavor == "cardea":
				data = (await handle_info(admin, sid, hid))["webrtc"]["data"]
				assert data["channels"] == 1 and data["channel_list"][0]["label"] == "echo", data
			r = await api.request({"janus": "hangup", "session_id": sid, "handle_id": hid})
			assert r["janus"] == "success", r
			await api.event(sid, {"janus": "hangup", "sender": hid}, timeout=5)
			r = await api.request({"janus": "detach", "session_id": sid, "handle_id": hid})
			assert r["janus"] == "success", r
			await api.destroy(sid)
		finally:
			await pc.close()


@pytest.mark.timeout_s(40)
@pytest.mark.parametrize("gateway_dtls,sdp_form", [("client", "legacy"), ("server", "modern")])
async def test_datachannel_ws(echo_gw, gateway_dtls, sdp_form):
	await data_session(echo_gw, "ws", gateway_dtls, sdp_form)


@pytest.mark.timeout_s(40)
@pytest.mark.parametrize("gateway_dtls,sdp_form", [("client", "modern"), ("server", "legacy")])
async def test_datachannel_http(echo_gw, gateway_dtls, sdp_form):
	await data_session(echo_gw, "http", gateway_dtls, sdp_form)


@pytest.mark.timeout_s(40)
async def test_sigterm_with_open_datachannels(gateway_factory):
	"""A daemon stopped while data channels are open exits 0 within the budget."""
	tmp = Path(tempfile.mkdtemp(prefix="cardea-echo-plugins-"))
	try:
		shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_echotest.so", tmp)
		gw = gateway_factory(sections={"nat": {"ice_enforce_list": "127.0.0.1"}}, args=["-P", str(tmp)])
		async with open_api(gw, "ws") as api:
			sid = await api.create()
			hid = await api.attach(sid, ECHO)
			pc, tracks, channels = await offer_pc_with_data()
			try:
				await negotiate(api, sid, hid, pc, tracks)
				await asyncio.wait_for(channels["echo"].opened.wait(), 10)
				await channels["echo"].roundtrip("bye", DATA_PREFIX + "bye")
				rc, took = gw.stop()
				assert rc == 0, f"exit code {rc} after {took:.1f}s:\n{gw.log_tail(60)}"
			finally:
				await pc.close()
	finally:
		shutil.rmtree(tmp, ignore_errors=True)


# ---- RTCP feedback: NACK/RTX, transport-cc, REMB, media and slowlink events ----
#
# The gateway here runs with no_media_timer 1 and slowlink_threshold 3. A Tap
# sits on aiortc's bundled DTLS transport, after SRTP: it records the plain
# RTP/RTCP aiortc receives and may drop or rewrite the RTP aiortc sends.

TWCC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
RTPFB, PSFB = 205, 206


@pytest.fixture(scope="module")
def fb_gw(module_gateway_factory):
	tmp = Path(tempfile.mkdtemp(prefix="cardea-fb-plugins-"))
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_echotest.so", tmp)
	gw = module_gateway_factory(args=["-P", str(tmp)], sections={
		"nat": {"ice_enforce_list": "127.0.0.1"},
		"media": {"no_media_timer": 1, "slowlink_threshold": 3, "twcc_period": 100}})
	yield gw
	shutil.rmtree(tmp, ignore_errors=True)


def rtcp_walk(data):
	"""[(pt, fmt, packet bytes)] of a plain compound RTCP packet."""
	out, pos = [], 0
	while pos + 4 <= len(data):
		end = pos + 4 * (int.from_bytes(data[pos + 2:pos + 4], "big") + 1)
		out.append((data[pos + 1], data[pos] & 0x1F, bytes(data[pos:end])))
		pos = end
	return out


def rtp_fields(data):
	"""(ssrc, pt, seq, payload) of a plain RTP packet (no padding expected)."""
	cc, x = data[0] & 0x0F, data[0] & 0x10
	off = 12 + 4 * cc
	if x:
		off += 4 + 4 * int.from_bytes(data[off + 2:off + 4], "big")
	return (int.from_bytes(data[8:12], "big"), data[1] & 0x7F, int.from_bytes(data[2:4], "big"), bytes(data[off:]))


class Tap:
	def __init__(self, pc):
		t = pc.getTransceivers()[0].sender.transport
		self.rtcp, self.rtp, self.raw = [], [], []
		self.keep_raw = False
		self.drop = None            # predicate on an outgoing plain RTP packet
		self.rewrite = None         # outgoing plain RTP packet -> packet
		self.dropped = 0
		handle_rtcp, handle_rtp, send = t._handle_rtcp_data, t._handle_rtp_data, t._send_rtp

		async def on_rtcp(data):
			self.rtcp.extend(rtcp_walk(data))
			await handle_rtcp(data)

		async def on_rtp(data, arrival_time_ms):
			self.rtp.append(rtp_fields(data))
			if self.keep_raw:
				self.raw.append(bytes(data))
			await handle_rtp(data, arrival_time_ms)

		async def on_send(data):
			if not 192 <= data[1] <= 223:
				if self.drop and self.drop(data):
					self.dropped += 1
					return
				if self.rewrite:
					data = self.rewrite(data)
			await send(data)

		t._handle_rtcp_data, t._handle_rtp_data, t._send_rtp = on_rtcp, on_rtp, on_send
		self.transport = t

	def feedback(self, pt, fmt):
		return [p for (t, f, p) in self.rtcp if t == pt and f == fmt]


def sdp_ssrcs(sdp):
	"""{mid: (media ssrc, rtx ssrc or None)} from the FID groups / first a=ssrc of each section."""
	out, mid, first, fid = {}, None, None, None
	for line in sdp.split("\r\n") + ["m=end"]:
		if line.startswith("m="):
			if mid is not None:
				out[mid] = fid or (first, None)
			mid, first, fid = None, None, None
		elif line.startswith("a=mid:"):
			mid = line[6:]
		elif line.startswith("a=ssrc:") and first is None:
			first = int(line[7:].split()[0])
		elif line.startswith("a=ssrc-group:FID "):
			a, b = line.split()[1:3]
			fid = (int(a), int(b))
	return out


async def fb_negotiate(api, sid, hid, pc, offer_sdp=None):
	"""Offer, answer, tap installed before media flows, webrtcup. Returns (answer sdp, tap)."""
	r = await api.message(sid, hid, {"audio": True, "video": True},
		jsep={"type": "offer", "sdp": offer_sdp or pc.localDescription.sdp})
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=10)
	sdp = ev["jsep"]["sdp"]
	await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
	tap = Tap(pc)
	await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=10)
	return sdp, tap


def info_by_type(info):
	return {m["type"]: m for m in info["webrtc"]["media"]}


async def wait_until(pred, timeout, step=0.05):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		v = pred()
		if v:
			return v
		await asyncio.sleep(step)
	return pred()


@pytest.mark.timeout_s(30)
async def test_feedback_answer_media_events_stats_remb_nack(fb_gw):
	async with open_api(fb_gw, "ws") as api, open_admin(fb_gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, _ = await offer_pc()
		try:
			sdp, tap = await fb_negotiate(api, sid, hid, pc)
			# The answer keeps what the offer had of NACK/PLI/REMB, rtx and abs-send-time,
			# and announces our RTX SSRC for the video we send.
			video = sdp[sdp.index("m=video"):]
			for needle in (" nack\r\n", " nack pli\r\n", " goog-remb\r\n", " rtx/90000\r\n", "apt=",
					"a=ssrc-group:FID ", "abs-send-time"):
				assert needle in video, f"{needle!r} missing in the answer's video section:\n{video}"
			ours = sdp_ssrcs(sdp)
			mids = {m.mid: m.kind for m in pc.getTransceivers()}
			vmid = next(k for k, v in mids.items() if v == "video")
			vssrc, vrtx = ours[vmid]
			assert vrtx is not None, sdp

			# media receiving:true once per mid
			for mid, kind in mids.items():
				ev = await api.event(sid, {"janus": "media", "sender": hid, "mid": mid}, timeout=5)
				assert ev["type"] == kind and ev["receiving"] is True and "seconds" not in ev, ev

			# REMB with the echotest's bitrate reaches the client, listing its video SSRC
			r = await api.message(sid, hid, {"bitrate": 128000})
			assert r["janus"] == "ack", r
			await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=5)
			sender_ssrc = next(t.sender._ssrc for t in pc.getTransceivers() if t.kind == "video")
			rembs = await wait_until(lambda: tap.feedback(PSFB, 15), 3)
			assert rembs, "no REMB received"
			fci = rembs[-1][12:]
			assert fci[:4] == b"REMB", fci
			bitrate = ((fci[5] & 0x03) << 16 | fci[6] << 8 | fci[7]) << (fci[5] >> 2)
			ssrcs = [int.from_bytes(fci[8 + 4 * k:12 + 4 * k], "big") for k in range(fci[4])]
			assert 128000 * 0.99 <= bitrate <= 128000, bitrate
			assert sender_ssrc in ssrcs, (ssrcs, sender_ssrc)

			# A NACK for a seq we just got is answered with an RTX packet carrying it
			got = await wait_until(lambda: [p for p in tap.rtp if p[0] == vssrc], 3)
			assert got, "no video received"
			seq = got[-1][2]
			receiver = next(t.receiver for t in pc.getTransceivers() if t.kind == "video")
			await receiver._send_rtcp_nack(vssrc, [seq])
			rtx = await wait_until(lambda: [p for p in tap.rtp if p[0] == vrtx and p[3][:2] == seq.to_bytes(2, "big")], 3)
			assert rtx, f"no RTX for seq {seq} on ssrc {vrtx}"

			# Stats: RTT from the client's reports, jitter and loss fields, NACK counters
			async def stats_ready():
				info = info_by_type(await handle_info(admin, sid, hid))
				return info if all(m.get("rtt_us", 0) > 0 for m in info.values()) else None
			# RTT needs one of aiortc's receiver reports after our SR; aiortc
			# spaces its reports randomly, so allow a few of its intervals.
			info = None
			for _ in range(120):
				info = await stats_ready()
				if info:
					break
				await asyncio.sleep(0.1)
			assert info, await handle_info(admin, sid, hid)
			for m in info.values():
				for key in ("jitter_in", "jitter_out", "lost_in", "lost_out", "nacks_in", "nacks_out",
						"retransmissions_in", "retransmissions_out", "keyframe_requests_in", "keyframe_requests_out"):
					assert key in m, (key, m)
				assert m["receiving"] is True, m
			v = info["video"]
			assert v["rtcp_fb"]["nack"] and v["rtcp_fb"]["rtx"] and v["rtcp_fb"]["remb"], v
			assert v["nacks_in"] >= 1 and v["retransmissions_out"] >= 1, v
			fb = (await handle_info(admin, sid, hid))["webrtc"]["feedback"]
			assert fb["remb_cap"] == 128000 and fb["remb_out"] >= 1, fb

			# The client goes quiet: receiving:false per mid after no_media_timer (1 s, so no "seconds")
			tap.drop = lambda data: True
			for mid in mids:
				ev = await api.event(sid, {"janus": "media", "sender": hid, "mid": mid}, timeout=4)
				assert ev["receiving"] is False and "seconds" not in ev, ev
			tap.drop = None
			ev = await api.event(sid, {"janus": "media", "sender": hid, "mid": vmid}, timeout=4)
			assert ev["receiving"] is True, ev
			await api.destroy(sid)
		finally:
			await pc.close()


@pytest.mark.timeout_s(30)
async def test_feedback_transport_cc(fb_gw, monkeypatch):
	"""With transport-cc negotiated (aiortc taught the extension), the client
	gets transport-wide feedback packets and our packets carry our own seqs."""
	import aiortc.codecs
	from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters
	from aiortc.rtp import RtpPacket
	for kind in ("audio", "video"):
		monkeypatch.setitem(aiortc.codecs.HEADER_EXTENSIONS, kind,
			aiortc.codecs.HEADER_EXTENSIONS[kind] + [RTCRtpHeaderExtensionParameters(id=3, uri=TWCC_URI)])
	pc, _ = await offer_pc()
	offer = pc.localDescription.sdp
	assert f"a=extmap:3 {TWCC_URI}" in offer
	# aiortc knows no transport-cc feedback: announce it for every codec
	lines = []
	for line in offer.split("\r\n"):
		lines.append(line)
		if line.startswith("a=rtpmap:") and "rtx/" not in line:
			lines.append(f"a=rtcp-fb:{line[9:].split()[0]} transport-cc")
	offer = "\r\n".join(lines)
	async with open_api(fb_gw, "ws") as api, open_admin(fb_gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		try:
			sdp, tap = await fb_negotiate(api, sid, hid, pc, offer_sdp=offer)
			assert f"a=extmap:3 {TWCC_URI}" in sdp and " transport-cc\r\n" in sdp, sdp
			emap = tap.transport._rtp_header_extensions_map
			counter = iter(range(1 << 30))

			def stamp(data):
				p = RtpPacket.parse(data, emap)
				p.extensions.transport_sequence_number = next(counter) & 0xFFFF
				return p.serialize(emap)
			tap.rewrite = stamp
			tap.keep_raw = True
			fbs = await wait_until(lambda: len(tap.feedback(RTPFB, 15)) >= 5, 5)
			assert fbs, f"only {len(tap.feedback(RTPFB, 15))} transport-cc feedback packets"
			# Consecutive feedbacks cover consecutive seq ranges, all of them ones we sent.
			fbs = tap.feedback(RTPFB, 15)
			sent = next(counter)
			for a, b in zip(fbs, fbs[1:]):
				base, count = int.from_bytes(a[12:14], "big"), int.from_bytes(a[14:16], "big")
				assert int.from_bytes(b[12:14], "big") == (base + count) & 0xFFFF, (a.hex(), b.hex())
				assert b[19] == (a[19] + 1) & 0xFF, (a.hex(), b.hex())
			last = fbs[-1]
			assert int.from_bytes(last[12:14], "big") + int.from_bytes(last[14:16], "big") <= sent, last.hex()
			# What the gateway sends carries its own transport-wide seqs: one counter, no gaps.
			seqs = [RtpPacket.parse(d, emap).extensions.transport_sequence_number for d in tap.raw]
			while seqs and seqs[0] is None:   # echoes of packets sent before the stamping began
				seqs.pop(0)
			assert len(seqs) > 20 and None not in seqs, seqs[:20]
			assert all(b == (a + 1) & 0xFFFF for a, b in zip(seqs, seqs[1:])), seqs
			info = (await handle_info(admin, sid, hid))["webrtc"]
			assert info["feedback"]["transport-cc"] == 3 and info["feedback"]["twcc_feedback_out"] >= 5, info["feedback"]
			await api.destroy(sid)
		finally:
			await pc.close()


@pytest.mark.timeout_s(30)
async def test_feedback_loss_nack_slowlink(fb_gw):
	"""Dropping a quarter of the client's video: the gateway NACKs the gaps,
	aiortc repairs them with RTX, and a `slowlink` (uplink) event follows."""
	async with open_api(fb_gw, "http") as api, open_admin(fb_gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc, _ = await offer_pc()
		try:
			sdp, tap = await fb_negotiate(api, sid, hid, pc)
			video = next(t for t in pc.getTransceivers() if t.kind == "video")
			vmid, vssrc = video.mid, video.sender._ssrc
			count = iter(range(1 << 30))
			tap.drop = lambda data: rtp_fields(data)[0] == vssrc and next(count) % 4 == 3
			ev = await api.event(sid, {"janus": "slowlink", "sender": hid}, timeout=8)
			assert ev["mid"] == vmid and ev["media"] == "video" and ev["uplink"] is True, ev
			assert ev["lost"] >= 3, ev
			nacks = tap.feedback(RTPFB, 1)
			assert nacks, "the gateway sent no NACK"
			assert any(int.from_bytes(p[8:12], "big") == vssrc for p in nacks), nacks
			v = info_by_type(await handle_info(admin, sid, hid))["video"]
			assert v["nacks_out"] >= 3 and v["gaps_in"] >= 3 and v["slowlinks"] >= 1, v
			assert v["retransmissions_in"] >= 1, v
			await api.destroy(sid)
		finally:
			await pc.close()
