"""Gateway-initiated negotiation: the plugin offers, the client answers.

The test plugin (tests/plugins/test_plugin.c) builds the media half of an
offer with cardea/sdp.h, the core completes it (ICE, DTLS actpass, BUNDLE,
SSRCs, RTX) and sends it; an aiortc ANSWERER sends its answer back with a
normal message. The plugin relays every packet back on its m-line and echoes
data channel messages, so aiortc must decode its own audio and video.
Then renegotiation: an added video m-line, a disabled one, a client re-offer,
an ICE restart, all on the same DTLS association (setup_media once, no
second webrtcup). And the error cases: answer without an offer (469), bad
answers (465, the offer stays pending), glare (471), a wrong fingerprint
(DTLS fails: hangup).
"""

import asyncio
import contextlib
import re

import pytest

import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

from apiclient import open_api, open_admin, expect_error
from test_echotest import ToneTrack

pytestmark = [pytest.mark.testplugin, pytest.mark.cardea_only]

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


@pytest.fixture(scope="module")
def offer_gw(module_gateway_factory):
	return module_gateway_factory(sections={"nat": {"ice_enforce_list": "127.0.0.1"}})


class Answerer:
	"""An aiortc peer that only ever answers (plus one re-offer test)."""

	def __init__(self):
		self.pc = RTCPeerConnection()
		self.tracks = []            # remote tracks, in arrival order
		self.pc.on("track", self.tracks.append)
		self.channel = None
		self.inbox = asyncio.Queue()

	async def answer(self, offer_sdp, add_tracks=True):
		await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
		if add_tracks:
			for t in self.pc.getTransceivers():
				if t.sender.track is None and t.kind in ("audio", "video") and t.currentDirection != "inactive":
					self.pc.addTrack(ToneTrack() if t.kind == "audio" else VideoStreamTrack())
		await self.pc.setLocalDescription(await self.pc.createAnswer())
		return self.pc.localDescription.sdp

	def open_channel(self, label="chat"):
		self.channel = self.pc.createDataChannel(label)
		self.channel.on("message", self.inbox.put_nowait)
		opened = asyncio.Event()
		self.channel.on("open", opened.set)
		return opened

	async def close(self):
		await self.pc.close()


@contextlib.asynccontextmanager
async def call(gw):
	"""A session and handle on the test plugin, an aiortc answerer, admin."""
	peer = Answerer()
	try:
		async with open_api(gw, "ws") as api, open_admin(gw, "http") as admin:
			sid = await api.create()
			hid = await api.attach(sid, gw.plugin)
			yield api, admin, sid, hid, peer
			await api.destroy(sid)
	finally:
		await peer.close()


async def frames(track, n=3, timeout=10):
	for _ in range(n):
		frame = await asyncio.wait_for(track.recv(), timeout)
		assert frame is not None


async def plugin_offer(api, sid, hid, body):
	r = await api.message(sid, hid, body)
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=10)
	data = ev["plugindata"]["data"]
	assert data.get("test") == "offer", ev
	assert ev.get("jsep", {}).get("type") == "offer", ev
	return ev["jsep"]["sdp"], data


async def send_answer(api, sid, hid, sdp):
	r = await api.message(sid, hid, {"request": "start"}, jsep={"type": "answer", "sdp": sdp})
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=10)
	assert ev["plugindata"]["data"] == {"test": "started", "jsep": "answer"}, ev


async def plugin_info(admin, sid, hid):
	r = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid})
	return r["info"]


def mlines(sdp):
	"""[(kind, port, [attribute lines])] of an SDP."""
	out = []
	for line in sdp.split("\r\n"):
		if line.startswith("m="):
			kind, port = line[2:].split()[:2]
			out.append((kind, int(port), []))
		elif out and line.startswith("a="):
			out[-1][2].append(line[2:])
	return out


def check_offer(sdp, kinds):
	for needle in ("a=group:BUNDLE", "a=fingerprint:sha-256 ", "a=ice-options:trickle", "a=msid-semantic: WMS"):
		assert needle in sdp, f"{needle!r} missing in the offer:\n{sdp}"
	ms = mlines(sdp)
	assert [m[0] for m in ms] == kinds, sdp
	for kind, port, attrs in ms:
		if port == 0:
			continue
		assert "setup:actpass" in attrs, sdp
		assert any(a.startswith("ice-ufrag:") for a in attrs) and any(a.startswith("candidate:") for a in attrs), sdp
		assert any(a.startswith("mid:") for a in attrs), sdp
		if kind != "application":
			assert "rtcp-mux" in attrs and any(a.startswith("ssrc:") for a in attrs), sdp
		if kind == "video":
			# the core adds rtx for VP8 (nack offered) and announces its RTX SSRC
			assert any(re.match(r"rtpmap:\d+ rtx/90000", a) for a in attrs), sdp
			assert any(a.startswith("fmtp:") and "apt=96" in a for a in attrs), sdp
			assert any(a.startswith("ssrc-group:FID ") for a in attrs), sdp


async def rtp_in(admin, sid, hid):
	return (await plugin_info(admin, sid, hid))["plugin_specific"]["rtp_in"]


async def wait_growing(admin, sid, hid, mindexes, timeout=8):
	"""Waits until the plugin's RTP counter of every m-line in `mindexes` grows."""
	before = await rtp_in(admin, sid, hid)
	deadline = asyncio.get_event_loop().time() + timeout
	while True:
		await asyncio.sleep(0.3)
		now = await rtp_in(admin, sid, hid)
		if all(now[i] > before[i] for i in mindexes):
			return now
		assert asyncio.get_event_loop().time() < deadline, f"no RTP on {mindexes}: {before} -> {now}"


async def setup_call(api, sid, hid, peer, body):
	sdp, data = await plugin_offer(api, sid, hid, body)
	answer = await peer.answer(sdp)
	opened = peer.open_channel() if body.get("data") else None
	await send_answer(api, sid, hid, answer)
	await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=10)
	return sdp, opened


@pytest.mark.timeout_s(60)
async def test_offer_answer_media_both_ways(offer_gw):
	async with call(offer_gw) as (api, admin, sid, hid, peer):
		sdp, opened = await setup_call(api, sid, hid, peer,
			{"request": "offer", "audio": True, "video": True, "data": True})
		check_offer(sdp, ["audio", "video", "application"])
		kinds = sorted(t.kind for t in peer.tracks)
		assert kinds == ["audio", "video"], kinds
		for t in peer.tracks:
			await frames(t)
		await asyncio.wait_for(opened.wait(), 10)
		peer.channel.send("hello")
		assert await asyncio.wait_for(peer.inbox.get(), 10) == "echo:hello"
		info = await plugin_info(admin, sid, hid)
		webrtc = info["webrtc"]
		assert webrtc["ice"]["state"] == "connected" and webrtc["dtls"]["state"] == "connected", webrtc
		# aiortc answers setup:active, so the gateway is the DTLS server
		assert webrtc["dtls"]["role"] == "server", webrtc["dtls"]
		assert info["plugin_specific"]["setup_media"] == 1, info["plugin_specific"]
		for m in webrtc["media"]:
			assert m["packets_in"] > 0 and m["packets_out"] > 0, webrtc["media"]
		assert info["flags"]["server-offer-pending"] is False, info["flags"]


@pytest.mark.timeout_s(90)
async def test_renegotiation_add_and_disable(offer_gw):
	async with call(offer_gw) as (api, admin, sid, hid, peer):
		await setup_call(api, sid, hid, peer, {"request": "offer", "audio": True, "video": True})
		for t in peer.tracks:
			await frames(t)
		dtls = peer.pc.getTransceivers()[0].sender.transport
		await wait_growing(admin, sid, hid, [0, 1])

		# 1. a second video m-line, appended
		sdp, data = await plugin_offer(api, sid, hid, {"request": "add_video"})
		assert data["mlines"] == 3
		check_offer(sdp, ["audio", "video", "video"])
		answer = await peer.answer(sdp)
		await send_answer(api, sid, hid, answer)
		assert len(peer.tracks) == 3, peer.tracks
		await frames(peer.tracks[2])
		await frames(peer.tracks[1])
		await wait_growing(admin, sid, hid, [0, 1, 2])
		assert peer.pc.getTransceivers()[0].sender.transport is dtls
		info = await plugin_info(admin, sid, hid)
		assert info["plugin_specific"]["setup_media"] == 1, info["plugin_specific"]
		ssrcs = {m["mindex"]: m["ssrc"] for m in info["webrtc"]["media"]}
		assert len(set(ssrcs.values())) == 3, ssrcs

		# 2. the first video m-line disabled: its slot stays, port 0
		sdp, data = await plugin_offer(api, sid, hid, {"request": "disable", "mindex": 1})
		ms = mlines(sdp)
		assert [(m[0], m[1] == 0) for m in ms] == [("audio", False), ("video", True), ("video", False)], sdp
		group = next(l for l in sdp.split("\r\n") if l.startswith("a=group:BUNDLE"))
		assert group.split()[1:] == ["0", "2"], group
		# aiortc cannot apply a port-0 m-line in a re-offer: answer with its
		# previous answer, that m-line rejected (what a browser would send).
		answer = reject_mline(peer.pc.localDescription.sdp, 1)
		await send_answer(api, sid, hid, answer)
		info = await plugin_info(admin, sid, hid)
		present = sorted(m["mindex"] for m in info["webrtc"]["media"])
		assert present == [0, 2], info["webrtc"]["media"]
		await wait_growing(admin, sid, hid, [0, 2])
		# nothing reaches the plugin on the disabled m-line any more
		now = await rtp_in(admin, sid, hid)
		await asyncio.sleep(0.5)
		later = await rtp_in(admin, sid, hid)
		assert later[1] == now[1] and later[0] > now[0], (now, later)
		await frames(peer.tracks[0])
		await frames(peer.tracks[2])
		info = await plugin_info(admin, sid, hid)
		assert info["plugin_specific"]["setup_media"] == 1
		assert info["webrtc"]["dtls"]["state"] == "connected"
		events = [e for e in api.pending(sid) if e.get("janus") in ("webrtcup", "hangup")]
		assert events == [], events


def reject_mline(sdp, index):
	"""The SDP with m-line `index` rejected (port 0, out of BUNDLE)."""
	lines = sdp.split("\r\n")
	out, n, mid = [], -1, None
	for line in lines:
		if line.startswith("m="):
			n += 1
			if n == index:
				parts = line.split(" ")
				parts[1] = "0"
				line = " ".join(parts)
		if n == index and line.startswith("a=mid:"):
			mid = line[6:]
		out.append(line)
	text = "\r\n".join(out)
	if mid is not None:
		text = re.sub(r"(a=group:BUNDLE[^\r]*)", lambda m: " ".join(x for x in m.group(1).split(" ") if x != mid), text)
	return text


def rtpmaps(section):
	return {int(m.group(1)): m.group(2).lower() for m in re.finditer(r"a=rtpmap:(\d+) ([^/\r]+)", section)}


def keep_pts(reoffer, first):
	"""aiortc renumbers its payload types in a re-offer but keeps sending with
	the ones first negotiated (a browser would switch). Give the re-offer the
	first negotiation's numbers (codecs matched by name, rtx by its apt) and
	drop the codecs that were not negotiated, so what aiortc sends matches."""
	head, *sections = reoffer.split("\r\nm=")
	firsts = first.split("\r\nm=")[1:]
	out = [head]
	for sec, old in zip(sections, firsts):
		new_maps, old_maps = rtpmaps(sec), rtpmaps(old)
		by_name = {name: pt for pt, name in old_maps.items() if name != "rtx"}
		apt_new = {int(a): int(b) for a, b in re.findall(r"a=fmtp:(\d+) apt=(\d+)", sec)}
		apt_old = {int(b): int(a) for a, b in re.findall(r"a=fmtp:(\d+) apt=(\d+)", old)}
		mapping = {}
		for pt, name in new_maps.items():
			if name != "rtx" and name in by_name and by_name[name] not in mapping.values():
				mapping[pt] = by_name[name]
		for pt, name in new_maps.items():
			if name == "rtx" and apt_new.get(pt) in mapping and mapping[apt_new[pt]] in apt_old:
				mapping[pt] = apt_old[mapping[apt_new[pt]]]
		lines = sec.split("\r\n")
		mline = lines[0].split(" ")
		lines[0] = " ".join(mline[:3] + [str(mapping[int(p)]) for p in mline[3:] if int(p) in mapping])
		kept = []
		for line in lines:
			m = re.match(r"a=(rtpmap|fmtp|rtcp-fb):(\d+) (.*)", line)
			if m:
				if int(m.group(2)) not in mapping:
					continue
				rest = re.sub(r"apt=(\d+)", lambda a: f"apt={mapping[int(a.group(1))]}", m.group(3))
				line = f"a={m.group(1)}:{mapping[int(m.group(2))]} {rest}"
			kept.append(line)
		out.append("\r\n".join(kept))
	return "\r\nm=".join(out)


@pytest.mark.timeout_s(60)
async def test_client_reoffer_on_gateway_pc(offer_gw):
	async with call(offer_gw) as (api, admin, sid, hid, peer):
		offer, _ = await setup_call(api, sid, hid, peer, {"request": "offer", "audio": True, "video": True})
		for t in peer.tracks:
			await frames(t)
		await peer.pc.setLocalDescription(await peer.pc.createOffer())
		reoffer = keep_pts(peer.pc.localDescription.sdp, offer)
		r = await api.message(sid, hid, {"request": "answer_me"}, jsep={"type": "offer", "sdp": reoffer})
		assert r["janus"] == "ack", r
		ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=10)
		assert ev["plugindata"]["data"] == {"test": "answered"}, ev
		ans = ev["jsep"]["sdp"]
		# the gateway keeps its DTLS role (server) in its answer
		assert "a=setup:passive" in ans, ans
		await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=ans, type="answer"))
		await wait_growing(admin, sid, hid, [0, 1])
		for t in peer.tracks:
			await frames(t)
		info = await plugin_info(admin, sid, hid)
		assert info["plugin_specific"]["setup_media"] == 1
		assert info["webrtc"]["dtls"]["state"] == "connected"


@pytest.mark.timeout_s(60)
async def test_gateway_ice_restart(offer_gw):
	async with call(offer_gw) as (api, admin, sid, hid, peer):
		first, _ = await setup_call(api, sid, hid, peer, {"request": "offer", "audio": True})
		await frames(peer.tracks[0])
		sdp, _ = await plugin_offer(api, sid, hid, {"request": "offer", "restart": True})
		ufrag = lambda s: re.search(r"a=ice-ufrag:(\S+)", s).group(1)
		assert ufrag(sdp) != ufrag(first), "an ICE restart needs new credentials"
		assert "restart" not in sdp
		# aioice cannot restart ICE: check the rules, not the media. The
		# old answer (same credentials) is refused, one with new ones is
		# accepted and reaches the plugin.
		old = peer.pc.localDescription.sdp
		r = await api.message(sid, hid, {"request": "start"}, jsep={"type": "answer", "sdp": old})
		expect_error(r, 465)
		new = re.sub(r"a=ice-ufrag:\S+", "a=ice-ufrag:Rstr", old)
		new = re.sub(r"a=ice-pwd:\S+", "a=ice-pwd:restartrestartrestart12", new)
		await send_answer(api, sid, hid, new)
		info = await plugin_info(admin, sid, hid)
		assert info["flags"]["server-offer-pending"] is False, info["flags"]
		assert info["plugin_specific"]["setup_media"] == 1


@pytest.mark.timeout_s(60)
async def test_answer_errors(offer_gw):
	async with call(offer_gw) as (api, admin, sid, hid, peer):
		# an answer with nothing offered
		other = RTCPeerConnection()
		other.addTrack(ToneTrack())
		await other.setLocalDescription(await other.createOffer())
		some_sdp = other.localDescription.sdp
		await other.close()
		r = await api.message(sid, hid, {"request": "start"}, jsep={"type": "answer", "sdp": some_sdp})
		expect_error(r, 469)

		sdp, _ = await plugin_offer(api, sid, hid, {"request": "offer", "audio": True, "video": True})
		# glare: the client offers while our offer waits for its answer
		r = await api.message(sid, hid, {"request": "echo"}, jsep={"type": "offer", "sdp": some_sdp})
		expect_error(r, 471)
		answer = await peer.answer(sdp)
		# garbage, then an answer that does not match the offer: 465, and
		# the plugin never sees them (no "started" event)
		r = await api.message(sid, hid, {"request": "start"}, jsep={"type": "answer", "sdp": "v=0\r\nbad\r\n"})
		expect_error(r, 465)
		r = await api.message(sid, hid, {"request": "start"}, jsep={"type": "answer", "sdp": some_sdp})
		expect_error(r, 465)
		r = await api.message(sid, hid, {"request": "start"},
			jsep={"type": "answer", "sdp": answer.replace("a=setup:active", "a=setup:actpass")})
		expect_error(r, 465)
		# the offer is still pending: the real answer works
		await send_answer(api, sid, hid, answer)
		await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=10)
		# and now there is none pending again
		r = await api.message(sid, hid, {"request": "start"}, jsep={"type": "answer", "sdp": answer})
		expect_error(r, 469)


@pytest.mark.timeout_s(60)
async def test_answer_wrong_fingerprint_hangs_up(offer_gw):
	async with call(offer_gw) as (api, admin, sid, hid, peer):
		sdp, _ = await plugin_offer(api, sid, hid, {"request": "offer", "audio": True})
		answer = await peer.answer(sdp)
		fp = re.search(r"a=fingerprint:sha-256 (\S+)", answer).group(1)
		wrong = ":".join("00" if x != "00" else "11" for x in fp.split(":"))
		await send_answer(api, sid, hid, answer.replace(fp, wrong))
		ev = await api.event(sid, {"janus": "hangup", "sender": hid}, timeout=20)
		assert ev["reason"] == "DTLS alert", ev
		# the handle still works: a new offer starts a new PC
		sdp, _ = await plugin_offer(api, sid, hid, {"request": "offer"})
		assert "a=setup:actpass" in sdp


async def test_offer_racing_detach_leaves_no_transport(offer_gw):
	"""The plugin's offer is being built while the client detaches: the
	loop must not make a transport for the detached handle. It used to when
	push_event had checked the handle just before the detach: the ICE agent
	and timers outlived the PeerConnection, whose memory the timers then
	read after it was freed (fuzz_api under ASan), and its slot in
	media.max_peerconnections was never given back."""
	from test_abuse import metrics
	async with open_api(offer_gw, "ws") as api:
		sid = await api.create()
		for i in range(150):
			hid = await api.attach(sid, offer_gw.plugin)
			await api.send({"janus": "message", "session_id": sid, "handle_id": hid, "transaction": f"race{i}",
				"body": {"request": "offer", "audio": True, "video": i % 2 == 0}})
			await asyncio.sleep((i % 12) * 0.0005)
			r = await api.request({"janus": "detach", "session_id": sid, "handle_id": hid})
			assert r["janus"] == "success", r
		live = None
		for _ in range(50):
			live = (await metrics(offer_gw)).get(("cardea_peerconnections_live", ""))
			if live == 0:
				break
			await asyncio.sleep(0.1)
		assert live == 0, f"{live} PeerConnection slots still taken after 150 detached offers"
		await api.destroy(sid)
	assert offer_gw.alive()
