"""cardea.plugin.broadcast over the Janus API with aiortc: channel requests,
one presenter reaching 20 viewers, and a presenter handover that viewers
ride through on the PeerConnection they have (their frames switch colour
from the old presenter's to the new one's, with no new negotiation)."""

import asyncio
import random
import shutil
import time

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from apiclient import open_api, open_admin
from bcutil import BCAST, broadcast_gateway, presenter_pc, viewer_pc, frames_of, dominant, tone_of

pytestmark = pytest.mark.cardea_only

RED, GREEN = (230, 20, 20), (20, 230, 20)


@pytest.fixture(scope="module")
def bc_gw(module_gateway_factory):
	gw, tmp = broadcast_gateway(module_gateway_factory)
	yield gw
	shutil.rmtree(tmp, ignore_errors=True)


async def sync(api, sid, hid, body):
	r = await api.message(sid, hid, body)
	assert r["janus"] == "success", r
	assert r["plugindata"]["plugin"] == BCAST, r
	return r["plugindata"]["data"]


async def async_req(api, sid, hid, body, jsep=None, timeout=10):
	r = await api.message(sid, hid, body, jsep=jsep)
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=timeout)
	return ev


async def present(api, sid, hid, pc, channel="demo", **extra):
	ev = await async_req(api, sid, hid, {"request": "present", "channel": channel, **extra},
		jsep={"type": "offer", "sdp": pc.localDescription.sdp})
	data = ev["plugindata"]["data"]
	assert data.get("result") == "presenting", ev
	await pc.setRemoteDescription(RTCSessionDescription(sdp=ev["jsep"]["sdp"], type="answer"))
	return data


async def watch(api, sid, hid, pc, channel="demo"):
	ev = await async_req(api, sid, hid, {"request": "watch", "channel": channel},
		jsep={"type": "offer", "sdp": pc.localDescription.sdp})
	data = ev["plugindata"]["data"]
	assert data.get("result") == "watching", ev
	assert ev["jsep"]["type"] == "answer"
	assert "a=sendonly" in ev["jsep"]["sdp"], ev["jsep"]["sdp"]
	await pc.setRemoteDescription(RTCSessionDescription(sdp=ev["jsep"]["sdp"], type="answer"))
	return data


@pytest.mark.timeout_s(30)
async def test_channel_requests(bc_gw):
	async with open_api(bc_gw, "ws") as api:
		sid = await api.create()
		hid = await api.attach(sid, BCAST)
		lst = (await sync(api, sid, hid, {"request": "list"}))["list"]
		names = {c["channel"]: c for c in lst}
		assert names["demo"]["viewers"] == 0 and names["demo"]["pin_required"] is False, lst
		assert names["locked"]["pin_required"] is True, lst
		r = await sync(api, sid, hid, {"request": "create", "channel": "rt1", "secret": "x", "is_private": True})
		assert r == {"broadcast": "created", "channel": "rt1"}, r
		r = await sync(api, sid, hid, {"request": "create", "channel": "rt1"})
		assert r["error_code"] == 486, r
		r = await sync(api, sid, hid, {"request": "create", "channel": "bad name!"})
		assert r["error_code"] == 484, r
		r = await sync(api, sid, hid, {"request": "create", "videocodec": "mpeg2"})
		assert r["error_code"] == 484, r
		lst = (await sync(api, sid, hid, {"request": "list"}))["list"]
		assert "rt1" not in {c["channel"] for c in lst}, "private channel listed"
		info = await sync(api, sid, hid, {"request": "info", "channel": "rt1"})
		assert info["channel"] == "rt1" and info["viewers"] == 0 and info["has_presenter"] is False, info
		r = await sync(api, sid, hid, {"request": "destroy", "channel": "rt1", "secret": "wrong"})
		assert r["error_code"] == 487, r
		r = await sync(api, sid, hid, {"request": "destroy", "channel": "rt1", "secret": "x"})
		assert r == {"broadcast": "destroyed", "channel": "rt1"}, r
		r = await sync(api, sid, hid, {"request": "info", "channel": "rt1"})
		assert r["error_code"] == 485, r
		r = await sync(api, sid, hid, {"request": "info", "channel": 5})
		assert r["error_code"] == 484, r
		# asynchronous errors
		ev = await async_req(api, sid, hid, {"request": "watch", "channel": "nope"})
		assert ev["plugindata"]["data"]["error_code"] == 485, ev
		ev = await async_req(api, sid, hid, {"request": "start"})
		assert ev["plugindata"]["data"]["error_code"] == 483, ev   # no answer
		pc, _ = await viewer_pc()
		try:
			ev = await async_req(api, sid, hid, {"request": "watch", "channel": "nope"},
				jsep={"type": "offer", "sdp": pc.localDescription.sdp})
			assert ev["plugindata"]["data"]["error_code"] == 485, ev
			ev = await async_req(api, sid, hid, {"request": "watch", "channel": "locked", "pin": "0000"},
				jsep={"type": "offer", "sdp": pc.localDescription.sdp})
			assert ev["plugindata"]["data"]["error_code"] == 487, ev
			# a recvonly offer cannot present
			ev = await async_req(api, sid, hid, {"request": "present", "channel": "demo"},
				jsep={"type": "offer", "sdp": pc.localDescription.sdp})
			assert ev["plugindata"]["data"]["error_code"] == 488, ev
		finally:
			await pc.close()
		ev = await async_req(api, sid, hid, {"request": "leave"})
		assert ev["plugindata"]["data"]["error_code"] == 491, ev
		ev = await async_req(api, sid, hid, {"request": "dance"})
		assert ev["plugindata"]["data"]["error_code"] == 482, ev
		await api.destroy(sid)


@pytest.mark.timeout_s(150)
async def test_one_presenter_twenty_viewers(bc_gw):
	n = 20
	pcs = []
	async with open_api(bc_gw, "ws") as api, open_admin(bc_gw, "http") as admin:
		sid = await api.create()
		phid = await api.attach(sid, BCAST)
		ppc = await presenter_pc(RED)
		pcs.append(ppc)
		try:
			await present(api, sid, phid, ppc)
			await api.event(sid, {"janus": "webrtcup", "sender": phid}, timeout=10)
			viewers = []
			for i in range(n):
				hid = await api.attach(sid, BCAST)
				pc, tracks = await viewer_pc()
				pcs.append(pc)
				await watch(api, sid, hid, pc)
				viewers.append((hid, pc, tracks))
			for hid, _, _ in viewers:
				await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=20)
			# every viewer decodes the presenter's (red) frames
			async def check(tracks):
				for _ in range(100):
					if "video" in tracks:
						break
					await asyncio.sleep(0.05)
				frames = await frames_of(tracks["video"], 3, timeout=20)
				return [dominant(f) for f in frames]
			colours = await asyncio.gather(*(check(t) for _, _, t in viewers))
			assert all(c[-1] == "red" for c in colours), colours
			r = await api.message(sid, phid, {"request": "info", "channel": "demo"})
			info = r["plugindata"]["data"]
			assert info["viewers"] == n and info["has_presenter"] is True, info
			# the presenter was told the count
			ev = await api.event(sid, {"janus": "event", "sender": phid,
				"plugindata": {"data": {"viewers": n}}}, timeout=5)
			assert ev["plugindata"]["data"]["channel"] == "demo"
			hi = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": viewers[0][0]})
			ps = hi["info"]["plugin_specific"]
			assert ps["role"] == "viewer" and ps["relayed"] > 0, ps
			# leaving viewers lower the count
			for hid, _, _ in viewers[:5]:
				ev = await async_req(api, sid, hid, {"request": "leave"})
				assert ev["plugindata"]["data"]["result"] == "left", ev
			r = await api.message(sid, phid, {"request": "info", "channel": "demo"})
			assert r["plugindata"]["data"]["viewers"] == n - 5, r
			await api.destroy(sid)
		finally:
			await asyncio.gather(*(pc.close() for pc in pcs))


@pytest.mark.timeout_s(90)
async def test_presenter_handover(bc_gw):
	pcs = []
	async with open_api(bc_gw, "ws") as api:
		sid = await api.create()
		ahid = await api.attach(sid, BCAST)
		apc = await presenter_pc(RED, audio=440)
		pcs.append(apc)
		try:
			await present(api, sid, ahid, apc)
			viewers = []
			for i in range(3):
				hid = await api.attach(sid, BCAST)
				pc, tracks = await viewer_pc(audio=True)
				pcs.append(pc)
				await watch(api, sid, hid, pc)
				viewers.append((hid, pc, tracks))
			for hid, _, _ in viewers:
				await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=20)
			for _, _, tracks in viewers:
				frames = await frames_of(tracks["video"], 3)
				assert dominant(frames[-1]) == "red"
				frames = await frames_of(tracks["audio"], 10)
				assert abs(tone_of(frames[-1]) - 440) < 100, tone_of(frames[-1])
			# B takes over: A is told and closed, viewers keep their PCs
			bhid = await api.attach(sid, BCAST)
			bpc = await presenter_pc(GREEN, audio=1320)
			pcs.append(bpc)
			data = await present(api, sid, bhid, bpc)
			assert data["viewers"] == 3, data
			ev = await api.event(sid, {"janus": "event", "sender": ahid,
				"plugindata": {"data": {"result": "replaced"}}}, timeout=5)
			await api.event(sid, {"janus": "hangup", "sender": ahid}, timeout=5)
			for hid, _, _ in viewers:
				await api.event(sid, {"janus": "event", "sender": hid,
					"plugindata": {"data": {"presenter": "changed"}}}, timeout=5)
			# frames keep arriving on the same tracks and turn green
			async def turns_green(tracks):
				for _ in range(150):
					f = await asyncio.wait_for(tracks["video"].recv(), 10)
					if dominant(f) == "green":
						return True
				return False
			assert all(await asyncio.gather(*(turns_green(t) for _, _, t in viewers)))
			# audio goes on too, on the same track: the new presenter's tone
			async def new_tone(tracks):
				for _ in range(500):
					f = await asyncio.wait_for(tracks["audio"].recv(), 10)
					if abs(tone_of(f) - 1320) < 100:
						return True
				return False
			assert all(await asyncio.gather(*(new_tone(t) for _, _, t in viewers)))
			assert all(pc.connectionState == "connected" for _, pc, _ in viewers)
			# no viewer got a second jsep
			for hid, _, _ in viewers:
				assert not [m for m in api.inbox if m.get("sender") == hid and "jsep" in m], api.inbox
			# a channel without takeover refuses a second presenter
			chid = await api.attach(sid, BCAST)
			c1 = await presenter_pc(RED)
			pcs.append(c1)
			await present(api, sid, chid, c1, channel="locked", pin="1234")
			dhid = await api.attach(sid, BCAST)
			c2 = await presenter_pc(GREEN)
			pcs.append(c2)
			ev = await async_req(api, sid, dhid, {"request": "present", "channel": "locked", "token": "tok-locked"},
				jsep={"type": "offer", "sdp": c2.localDescription.sdp})
			assert ev["plugindata"]["data"]["error_code"] == 489, ev
			await api.destroy(sid)
		finally:
			await asyncio.gather(*(pc.close() for pc in pcs))


@pytest.mark.timeout_s(60)
async def test_watch_gateway_offer(bc_gw):
	"""`watch` without a jsep: the gateway offers (sendonly), the viewer
	answers with `start`, and gets the presenter's frames."""
	pcs = []
	async with open_api(bc_gw, "ws") as api:
		sid = await api.create()
		phid = await api.attach(sid, BCAST)
		ppc = await presenter_pc(RED, audio=440)
		pcs.append(ppc)
		try:
			await present(api, sid, phid, ppc)
			vhid = await api.attach(sid, BCAST)
			ev = await async_req(api, sid, vhid, {"request": "watch", "channel": "demo"})
			assert ev["plugindata"]["data"]["result"] == "watching", ev
			offer = ev["jsep"]
			assert offer["type"] == "offer", ev
			assert offer["sdp"].count("a=sendonly") == 2 and "VP8/90000" in offer["sdp"], offer["sdp"]
			vpc = RTCPeerConnection()
			pcs.append(vpc)
			tracks = {}
			vpc.on("track", lambda t: tracks.__setitem__(t.kind, t))
			await vpc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
			await vpc.setLocalDescription(await vpc.createAnswer())
			ev = await async_req(api, sid, vhid, {"request": "start"},
				jsep={"type": "answer", "sdp": vpc.localDescription.sdp})
			assert ev["plugindata"]["data"] == {"broadcast": "event", "result": "started"}, ev
			await api.event(sid, {"janus": "webrtcup", "sender": vhid}, timeout=15)
			frames = await frames_of(tracks["video"], 3)
			assert dominant(frames[-1]) == "red"
			frames = await frames_of(tracks["audio"], 10)
			assert abs(tone_of(frames[-1]) - 440) < 100
			await api.destroy(sid)
		finally:
			await asyncio.gather(*(pc.close() for pc in pcs))


@pytest.mark.timeout_s(90)
async def test_watch_answered_when_the_pc_is_hung_up_meanwhile(bc_gw):
	"""A `watch` whose PeerConnection the client hangs up right after
	offering still gets an event: the answer, or an error when the core
	could no longer take it. Without one, a Janus API client (and a WHEP
	POST, which waits for that event) would wait forever."""
	pc, _ = await viewer_pc(audio=True)
	offer = pc.localDescription.sdp
	await pc.close()
	outcomes = {"watching": 0, "error": 0}
	async with open_api(bc_gw, "ws") as api:
		sid = await api.create()
		for i in range(30):
			hid = await api.attach(sid, BCAST)
			tx = f"race-{i}"
			# Back to back: the hangup reaches the core while the plugin's
			# queue thread is still building the answer.
			await api.send({"janus": "message", "session_id": sid, "handle_id": hid, "transaction": tx,
				"body": {"request": "watch", "channel": "demo"}, "jsep": {"type": "offer", "sdp": offer}})
			await api.send({"janus": "hangup", "session_id": sid, "handle_id": hid, "transaction": f"{tx}-h"})
			ev = await api.event(sid, {"janus": "event", "transaction": tx}, timeout=5)
			data = ev["plugindata"]["data"]
			if data.get("result") == "watching":
				outcomes["watching"] += 1
			else:
				assert data.get("error_code") and data.get("error"), ev
				outcomes["error"] += 1
			await api.request({"janus": "detach", "session_id": sid, "handle_id": hid})
		await api.destroy(sid)
	print(f"watch outcomes with a hangup right behind: {outcomes}")


# ---- layer choice from the viewer's bandwidth estimate (docs/broadcast.md) ----

# Padding per substream: the layers cost visibly different bitrates, and the
# last two bytes (substream, padding length) tell a viewer which one it got.
SIM_PAD = {0: 2, 1: 120, 2: 250}


class SimPresenter:
	"""aiortc's one VP8 stream sent as three rid substreams (as in
	test_echotest_simulcast.py), each padded to its own size; PLIs for the
	made-up SSRCs go to aiortc's real sender."""

	def __init__(self, pc):
		from test_echotest_simulcast import RIDS, RID_EXT, rtp_split
		self.transport = pc.getTransceivers()[0].sender.transport
		self.real_ssrc = pc.getTransceivers()[0].sender._ssrc
		self.layers = {sub: [random.randint(1, 2**32 - 1), rid, random.randint(0, 65535), random.randint(0, 2**32 - 1)]
			for rid, sub in RIDS.items()}
		send, handle_rtcp = self.transport._send_rtp, self.transport._handle_rtcp_data

		async def on_send(data):
			if 192 <= data[1] <= 223 or int.from_bytes(data[8:12], "big") != self.real_ssrc:
				await send(data)
				return
			head, elems, payload, _ = rtp_split(bytes(data))
			ts = int.from_bytes(head[4:8], "big")
			for sub in (0, 1, 2):
				ssrc, rid, seq, ts_off = self.layers[sub]
				self.layers[sub][2] = (seq + 1) & 0xFFFF
				e = elems + bytes([(RID_EXT << 4) | (len(rid) - 1)]) + rid.encode()
				e += b"\0" * (-len(e) % 4)
				pad = SIM_PAD[sub]
				out = bytes([0xB0 | (head[0] & 0x0F), head[1]]) + seq.to_bytes(2, "big") + \
					((ts + ts_off) & 0xFFFFFFFF).to_bytes(4, "big") + ssrc.to_bytes(4, "big") + head[12:] + \
					b"\xbe\xde" + (len(e) // 4).to_bytes(2, "big") + e + payload + b"\0" * (pad - 2) + bytes([sub, pad])
				await send(out)

		async def on_rtcp(data):
			ours = {v[0] for v in self.layers.values()}
			out, pos = bytearray(data), 0
			while pos + 12 <= len(out):
				end = pos + 4 * (int.from_bytes(out[pos + 2:pos + 4], "big") + 1)
				if out[pos + 1] == 206 and out[pos] & 0x1F == 1 and int.from_bytes(out[pos + 8:pos + 12], "big") in ours:
					out[pos + 8:pos + 12] = self.real_ssrc.to_bytes(4, "big")
				pos = end
			await handle_rtcp(bytes(out))

		self.transport._send_rtp, self.transport._handle_rtcp_data = on_send, on_rtcp


class RembViewer:
	"""A viewer whose REMB is ours: aiortc's own REMBs are dropped, and
	`bitrate` (when set) is sent every 200 ms; the substream of every video
	packet received is recorded from its padding tag."""

	def __init__(self, pc):
		self.transport = pc.getTransceivers()[0].receiver.transport
		self.tags = []
		self.bitrate = None
		self.own_rembs = 0
		send, handle_rtp = self.transport._send_rtp, self.transport._handle_rtp_data
		self._send = send

		async def on_send(data):
			if len(data) >= 16 and data[1] == 206 and data[0] & 0x1F == 15 and data[12:16] == b"REMB":
				self.own_rembs += 1
				return
			await send(data)

		async def on_rtp(data, arrival_time_ms):
			if data[0] & 0x20 and data[-1] in SIM_PAD.values() and (data[1] & 0x7F) < 100:
				self.tags.append(data[-2])
			await handle_rtp(data, arrival_time_ms)

		self.transport._send_rtp, self.transport._handle_rtp_data = on_send, on_rtp
		self.task = asyncio.ensure_future(self._remb_loop())

	async def _remb_loop(self):
		from aiortc.rtp import RtcpPsfbPacket, pack_remb_fci
		while True:
			await asyncio.sleep(0.2)
			if self.bitrate is None:
				continue
			pkt = RtcpPsfbPacket(fmt=15, ssrc=0x1234567, media_ssrc=0, fci=pack_remb_fci(self.bitrate, [0x7654321]))
			try:
				await self._send(bytes(pkt))
			except ConnectionError:
				pass

	async def settle(self, n=30, timeout=5):
		"""The substreams of the next `n` packets after a short pause."""
		await asyncio.sleep(0.3)
		start = len(self.tags)
		deadline = time.monotonic() + timeout
		while len(self.tags) < start + n and time.monotonic() < deadline:
			await asyncio.sleep(0.05)
		return set(self.tags[start:])


async def layer_ev(api, sid, hid, sub, timeout=10):
	ev = await api.event(sid, {"janus": "event", "sender": hid,
		"plugindata": {"plugin": BCAST, "data": {"broadcast": "event", "substream": sub}}}, timeout=timeout)
	return ev["plugindata"]["data"]


@pytest.mark.timeout_s(90)
async def test_layer_from_estimate(bc_gw):
	"""A simulcast presenter and a viewer without a pinned substream: a low
	REMB from the viewer gets it the lowest substream, a high one the highest
	again; `configure` substream pins a layer whatever the REMB says, and
	substream -1 gives the choice back to the estimate."""
	from aiortc.mediastreams import VideoStreamTrack
	from test_echotest_simulcast import munge_offer
	pcs = []
	async with open_api(bc_gw, "ws") as api, open_admin(bc_gw, "http") as admin:
		sid = await api.create()
		phid = await api.attach(sid, BCAST)
		ppc = RTCPeerConnection()
		pcs.append(ppc)
		try:
			ppc.addTransceiver(VideoStreamTrack(), direction="sendonly")
			await ppc.setLocalDescription(await ppc.createOffer())
			sim = SimPresenter(ppc)
			offer = munge_offer(ppc.localDescription.sdp, "rid", sim.layers)
			ev = await async_req(api, sid, phid, {"request": "present", "channel": "demo"},
				jsep={"type": "offer", "sdp": offer})
			data = ev["plugindata"]["data"]
			assert data["result"] == "presenting" and data["substreams"] == 3, data
			await ppc.setRemoteDescription(RTCSessionDescription(sdp=ev["jsep"]["sdp"], type="answer"))

			vhid = await api.attach(sid, BCAST)
			vpc, tracks = await viewer_pc()
			pcs.append(vpc)
			viewer = RembViewer(vpc)
			ev = await async_req(api, sid, vhid, {"request": "watch", "channel": "demo"},
				jsep={"type": "offer", "sdp": vpc.localDescription.sdp})
			data = ev["plugindata"]["data"]
			assert data["result"] == "watching" and data["substream_auto"] is True, data
			assert "goog-remb" in ev["jsep"]["sdp"], ev["jsep"]["sdp"]
			await vpc.setRemoteDescription(RTCSessionDescription(sdp=ev["jsep"]["sdp"], type="answer"))
			await api.event(sid, {"janus": "webrtcup", "sender": vhid}, timeout=15)

			# No estimate yet: the highest substream.
			data = await layer_ev(api, sid, vhid, 2)
			assert data["substream_auto"] is True and "estimate_bps" not in data, data
			assert await viewer.settle() == {2}
			await asyncio.sleep(1.2)   # a full meter window
			info = await sync(api, sid, phid, {"request": "info", "channel": "demo"})
			rates = info["layer_bitrates"]
			assert len(rates) == 3 and 0 < rates[0] < rates[1] < rates[2], info

			# A low REMB: down to the lowest substream.
			viewer.bitrate = 10000
			data = await layer_ev(api, sid, vhid, 0)
			assert data["substream_auto"] is True and data["estimate_bps"] == 10000, data
			assert await viewer.settle() == {0}
			hinfo = (await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": vhid}))["info"]
			ps = hinfo["plugin_specific"]
			assert ps["estimate_bps"] == 10000 and ps["substream"] == 0 and ps["substream_chosen"] == 0, ps
			assert ps["substream_auto"] is True and ps["substream_target"] == -1, ps
			bwe = hinfo["webrtc"]["feedback"]["bwe"]
			assert bwe["source"] == "remb" and bwe["reported_bps"] == 10000 and bwe["reports"] >= 1, bwe
			pinfo = (await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": phid}))["info"]
			assert pinfo["plugin_specific"]["layer_bitrates"][2] > 0, pinfo["plugin_specific"]

			# A high REMB: back up to the highest (after the 3 s hold).
			viewer.bitrate = 5000000
			data = await layer_ev(api, sid, vhid, 2, timeout=12)
			assert data["substream_auto"] is True and data["estimate_bps"] == 5000000, data
			assert await viewer.settle() == {2}

			# Pinned: substream 1 stays whatever the REMB says.
			r = await async_req(api, sid, vhid, {"request": "configure", "substream": 1})
			assert r["plugindata"]["data"] == {"broadcast": "event", "result": "ok"}, r
			data = await layer_ev(api, sid, vhid, 1)
			assert data["substream_auto"] is False, data
			viewer.bitrate = 10000
			await asyncio.sleep(2)
			assert await viewer.settle() == {1}
			moved = [m for m in api.pending(sid) if "substream" in m.get("plugindata", {}).get("data", {})]
			assert moved == [], moved
			ps = (await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": vhid}))["info"]["plugin_specific"]
			assert ps["substream_auto"] is False and ps["substream_target"] == 1 and ps["substream"] == 1, ps
			assert ps["estimate_bps"] == 10000, ps

			# Back to automatic: the low estimate takes it down.
			r = await async_req(api, sid, vhid, {"request": "configure", "substream": -1})
			assert r["plugindata"]["data"] == {"broadcast": "event", "result": "ok"}, r
			data = await layer_ev(api, sid, vhid, 0)
			assert data["substream_auto"] is True, data
			assert await viewer.settle() == {0}
			r = await async_req(api, sid, vhid, {"request": "configure", "substream": -2})
			assert r["plugindata"]["data"]["error_code"] == 484, r
			viewer.task.cancel()
			await api.destroy(sid)
		finally:
			await asyncio.gather(*(pc.close() for pc in pcs))
