"""janus.plugin.videoroom room options applied to media (issue 4): opus_fec /
opus_dtx in the SDPs, bitrate + bitrate_cap as the REMB a publisher
receives, require_e2ee, video_svc, a publisher's configure streams[].send,
and what a subscriber gets when the publishers it watches go away.

The expected behaviour is Janus 1.1.2's as observed side by side (see
docs/videoroom.md, "Room options"); the cases need aiortc media, so they
are cardea_only.
"""

import asyncio
import random
import re
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

from apiclient import open_api
from test_echotest import ToneTrack
from test_videoroom import VR, Subscriber, join, publish, request, request_error, sync, vr_event, vr_gw  # noqa: F401

FIXTURES = Path("/work/shared/fixtures/sdp")
pytestmark = pytest.mark.cardea_only


def new_room():
	return random.randint(10 ** 6, 10 ** 9)


def opus_fmtp(sdp):
	"""The a=fmtp of the opus payload type, None when it has none."""
	pt = re.search(r"a=rtpmap:(\d+) opus/48000", sdp, re.I)
	assert pt, sdp
	m = re.search(rf"a=fmtp:{pt.group(1)} (.*)\r\n", sdp)
	return m.group(1) if m else None


class Publisher:
	"""An aiortc publisher whose offer may be edited before it is sent, and
	which records the REMB bitrates it receives (RTCP handled by its video
	RTCRtpSender)."""

	def __init__(self, api, sid, hid, audio=True, video=True):
		self.api, self.sid, self.hid = api, sid, hid
		self.pc = RTCPeerConnection()
		if audio:
			self.pc.addTrack(ToneTrack())
		if video:
			self.pc.addTrack(VideoStreamTrack())
		self.remb = []
		self.remb_seen = asyncio.Event()
		for t in self.pc.getTransceivers():
			self._hook(t.sender)

	def _hook(self, sender):
		orig = sender._handle_rtcp_packet

		async def handle(packet):
			if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
				self.remb.append(unpack_remb_fci(packet.fci)[0])
				self.remb_seen.set()
			await orig(packet)
		sender._handle_rtcp_packet = handle

	async def offer(self, edit=None):
		await self.pc.setLocalDescription(await self.pc.createOffer())
		sdp = self.pc.localDescription.sdp
		return edit(sdp) if edit else sdp

	async def publish(self, body=None, edit=None, e2ee=False, request_name="publish"):
		"""Sends publish (or configure/joinandconfigure) with our offer;
		returns (data, jsep), the answer applied when there is one."""
		jsep = {"type": "offer", "sdp": await self.offer(edit)}
		if e2ee:
			jsep["e2ee"] = True
		data, ans = await request(self.api, self.sid, self.hid, {"request": request_name, **(body or {})}, jsep=jsep)
		if ans:
			await self.pc.setRemoteDescription(RTCSessionDescription(sdp=ans["sdp"], type="answer"))
			await self.api.event(self.sid, {"janus": "webrtcup", "sender": self.hid}, timeout=10)
		return data, ans

	async def rembs_for(self, seconds):
		"""The REMB values received during the next `seconds`."""
		start = len(self.remb)
		await asyncio.sleep(seconds)
		return self.remb[start:]

	async def close(self):
		await self.pc.close()


def with_opus_fmtp(fmtp):
	"""An offer edit giving aiortc's opus payload the fmtp a browser sends."""
	def edit(sdp):
		pt = re.search(r"a=rtpmap:(\d+) opus/48000/2\r\n", sdp).group(1)
		return sdp.replace(f"a=rtpmap:{pt} opus/48000/2\r\n", f"a=rtpmap:{pt} opus/48000/2\r\na=fmtp:{pt} {fmtp}\r\n")
	return edit


async def video_packets(sub):
	"""Packets received so far per kind, from the subscriber's receivers."""
	out = {}
	for t in sub.pc.getTransceivers():
		for s in (await t.receiver.getStats()).values():
			if s.type == "inbound-rtp":
				out[t.kind] = out.get(t.kind, 0) + s.packetsReceived
	return out


@pytest.mark.timeout_s(120)
async def test_opus_fec_dtx_in_answer_and_subscriber_offer(vr_gw):
	cases = [
		# room opus_fec, opus_dtx, what the offer's opus fmtp says -> our fmtp, stream flags
		(True, False, "minptime=10;useinbandfec=1", "useinbandfec=1", {"fec": True}),
		(True, True, "minptime=10;useinbandfec=1", "useinbandfec=1;usedtx=1", {"fec": True, "dtx": True}),
		(False, False, "minptime=10;useinbandfec=1", None, {}),
		(True, False, None, None, {}),                    # FEC needs the publisher to offer it
		(False, True, "minptime=10;useinbandfec=0", "usedtx=1", {"dtx": True}),
	]
	async with open_api(vr_gw, "ws") as api:
		sid = await api.create()
		for fec, dtx, offered, want, flags in cases:
			room = new_room()
			hp, hs = await api.attach(sid, VR), await api.attach(sid, VR)
			await sync(api, sid, hp, {"request": "create", "room": room, "opus_fec": fec, "opus_dtx": dtx})
			listed = [r for r in (await sync(api, sid, hp, {"request": "list"}))["list"] if r["room"] == room][0]
			assert (listed["opus_fec"], listed["opus_dtx"]) == (fec, dtx), listed
			joined = await join(api, sid, hp, room, "P")
			pub = Publisher(api, sid, hp, video=False)
			data, ans = await pub.publish(edit=with_opus_fmtp(offered) if offered else None)
			case = f"fec={fec} dtx={dtx} offer={offered!r}"
			assert opus_fmtp(ans["sdp"]) == want, f"{case}: answer {opus_fmtp(ans['sdp'])!r}"
			audio = data["streams"][0]
			assert {k: audio[k] for k in ("fec", "dtx") if k in audio} == flags, f"{case}: {audio}"
			# a subscriber is offered the same opus parameters
			sub = Subscriber(api, sid, hs)
			att, offer = await request(api, sid, hs, {"request": "join", "ptype": "subscriber", "room": room,
				"streams": [{"feed": joined["id"]}]})
			assert att["videoroom"] == "attached", att
			assert opus_fmtp(offer["sdp"]) == want, f"{case}: subscriber offer {opus_fmtp(offer['sdp'])!r}"
			await sub.answer(offer)
			await sub.frames("audio", n=2)
			await sub.close()
			await pub.close()
		await api.destroy(sid)


@pytest.mark.timeout_s(120)
async def test_room_bitrate_is_the_remb_and_bitrate_cap_limits_configure(vr_gw):
	async with open_api(vr_gw, "ws") as api:
		sid = await api.create()
		# capped room: the REMB is the room's bitrate, a configure above it
		# stays at it, one below it is taken
		room = new_room()
		hp = await api.attach(sid, VR)
		await sync(api, sid, hp, {"request": "create", "room": room, "bitrate": 128000, "bitrate_cap": True})
		await join(api, sid, hp, room, "capped")
		pub = Publisher(api, sid, hp, audio=False)
		await pub.publish()
		await asyncio.wait_for(pub.remb_seen.wait(), 5)
		assert pub.remb[0] == 128000, pub.remb
		data, _ = await request(api, sid, hp, {"request": "configure", "bitrate": 500000})
		assert data["configured"] == "ok", data
		got = await pub.rembs_for(2.5)
		assert got and set(got) == {128000}, f"capped room: REMB {got} after asking for 500000"
		await request(api, sid, hp, {"request": "configure", "bitrate": 0})   # "no limit" is above the cap too
		got = await pub.rembs_for(2.5)
		assert got and set(got) == {128000}, f"capped room: REMB {got} after asking for no limit"
		await request(api, sid, hp, {"request": "configure", "bitrate": 64000})
		got = await pub.rembs_for(2.5)
		assert got and got[-1] == 64000, f"capped room: REMB {got} after asking for 64000"
		await pub.close()
		# without bitrate_cap a publisher may go above the room's bitrate
		room = new_room()
		hq = await api.attach(sid, VR)
		await sync(api, sid, hq, {"request": "create", "room": room, "bitrate": 128000})
		await join(api, sid, hq, room, "free")
		pub = Publisher(api, sid, hq, audio=False)
		await pub.publish()
		await asyncio.wait_for(pub.remb_seen.wait(), 5)
		assert pub.remb[0] == 128000, pub.remb
		await request(api, sid, hq, {"request": "configure", "bitrate": 500000})
		got = await pub.rembs_for(2.5)
		assert got and got[-1] == 500000, f"uncapped room: REMB {got} after asking for 500000"
		# and a publish asking for more in a capped room is capped as well
		room = new_room()
		hr = await api.attach(sid, VR)
		await sync(api, sid, hr, {"request": "create", "room": room, "bitrate": 96000, "bitrate_cap": True})
		await join(api, sid, hr, room, "asks")
		pub2 = Publisher(api, sid, hr, audio=False)
		await pub2.publish({"bitrate": 1000000})
		await asyncio.wait_for(pub2.remb_seen.wait(), 5)
		got = await pub2.rembs_for(1.5)
		assert set(pub2.remb) == {96000}, pub2.remb
		await pub.close()
		await pub2.close()
		await api.destroy(sid)


@pytest.mark.timeout_s(120)
async def test_require_e2ee(vr_gw):
	async with open_api(vr_gw, "ws") as api:
		sid = await api.create()
		room = new_room()
		hw, hp, hs = [await api.attach(sid, VR) for _ in range(3)]
		await sync(api, sid, hw, {"request": "create", "room": room, "require_e2ee": True})
		listed = [r for r in (await sync(api, sid, hw, {"request": "list"}))["list"] if r["room"] == room][0]
		assert listed["require_e2ee"] is True
		await join(api, sid, hw, room, "watcher")
		# no e2ee in the jsep: refused, whatever the body says (as Janus)
		for body in ({}, {"e2ee": True}):
			h = await api.attach(sid, VR)
			await join(api, sid, h, room, "plain")
			p = Publisher(api, sid, h)
			jsep = {"type": "offer", "sdp": await p.offer()}
			err = await request_error(api, sid, h, {"request": "publish", **body}, 433, jsep=jsep)
			assert err == "Room requires end-to-end encrypted media"
			await p.close()
		# joinandconfigure without it: refused before joining
		h = await api.attach(sid, VR)
		p = Publisher(api, sid, h)
		jsep = {"type": "offer", "sdp": await p.offer()}
		await request_error(api, sid, h, {"request": "joinandconfigure", "ptype": "publisher", "room": room,
			"display": "jac"}, 433, jsep=jsep)
		await p.close()
		parts = await sync(api, sid, hw, {"request": "listparticipants", "room": room})
		assert "jac" not in [x.get("display") for x in parts["participants"]], parts
		# with "e2ee": true in the jsep: accepted, the answer says e2ee too
		joined = await join(api, sid, hp, room, "secret")
		pub = Publisher(api, sid, hp)
		data, ans = await pub.publish(e2ee=True)
		assert data["configured"] == "ok", data
		assert ans.get("e2ee") is True, {k: v for k, v in ans.items() if k != "sdp"}
		ev = await vr_event(api, sid, lambda d: any(x.get("id") == joined["id"] for x in d.get("publishers", [])))
		listed = [x for x in ev["publishers"] if x["id"] == joined["id"]][0]
		assert listed.get("e2ee") is True, listed
		# the payload is opaque to the gateway but still relayed as is
		sub = Subscriber(api, sid, hs)
		await sub.join(room, [{"feed": joined["id"]}])
		await sub.frames("video")
		await sub.close()
		await pub.close()
		# a room without require_e2ee does not list e2ee for plain publishers
		room2 = new_room()
		h2 = await api.attach(sid, VR)
		await sync(api, sid, h2, {"request": "create", "room": room2})
		j2 = await join(api, sid, h2, room2, "plain")
		p2 = Publisher(api, sid, h2, audio=False)
		await p2.publish()
		hl = await api.attach(sid, VR)
		j3 = await join(api, sid, hl, room2, "looker")
		listed = [x for x in j3["publishers"] if x["id"] == j2["id"]][0]
		assert "e2ee" not in listed, listed
		await p2.close()
		await api.destroy(sid)


async def test_video_svc_flag(vr_gw):
	async with open_api(vr_gw, "ws") as api:
		sid = await api.create()
		h = await api.attach(sid, VR)
		vp9, vp8 = new_room(), new_room()
		await sync(api, sid, h, {"request": "create", "room": vp9, "videocodec": "vp9", "video_svc": True})
		await sync(api, sid, h, {"request": "create", "room": vp8, "videocodec": "vp8", "video_svc": True})
		rooms = {r["room"]: r for r in (await sync(api, sid, h, {"request": "list"}))["list"]}
		# as Janus, SVC only holds in rooms whose video codecs all layer
		assert rooms[vp9]["video_svc"] is True and rooms[vp8]["video_svc"] is False, (rooms[vp9], rooms[vp8])
		# a VP9 publisher of the SVC room has "svc": true on its video stream
		await join(api, sid, h, vp9, "layers")
		offer = (FIXTURES / "chromium-offer-audio-video.sdp").read_text()
		data, ans = await request(api, sid, h, {"request": "publish"}, jsep={"type": "offer", "sdp": offer})
		video = [s for s in data["streams"] if s["type"] == "video"][0]
		assert video["codec"] == "vp9" and video.get("svc") is True, data
		assert "svc" not in [s for s in data["streams"] if s["type"] == "audio"][0]
		await api.destroy(sid)


@pytest.mark.timeout_s(120)
async def test_publisher_configure_send_false_stops_the_relay(vr_gw):
	async with open_api(vr_gw, "ws") as api:
		sid = await api.create()
		room = new_room()
		hp, hs = await api.attach(sid, VR), await api.attach(sid, VR)
		await sync(api, sid, hp, {"request": "create", "room": room})
		joined = await join(api, sid, hp, room, "cam")
		pub = Publisher(api, sid, hp)
		data, _ = await pub.publish()
		vmid = [s["mid"] for s in data["streams"] if s["type"] == "video"][0]
		sub = Subscriber(api, sid, hs)
		await sub.join(room, [{"feed": joined["id"]}])
		await sub.frames("video")
		# bad entries change nothing
		await request_error(api, sid, hp, {"request": "configure", "streams": [{"mid": "nope", "send": False}]}, 428)
		await request_error(api, sid, hp, {"request": "configure", "streams": [{"mid": vmid, "send": "no"}]}, 430)
		await request_error(api, sid, hp, {"request": "configure", "streams": [{"send": False}]}, 430)
		# send:false on the video: it stops reaching the subscriber, audio goes on
		data, _ = await request(api, sid, hp, {"request": "configure", "streams": [{"mid": vmid, "send": False}]})
		assert data == {"videoroom": "event", "room": room, "configured": "ok"}, data
		await asyncio.sleep(0.7)     # what was in flight
		before = await video_packets(sub)
		await asyncio.sleep(2)
		after = await video_packets(sub)
		assert after["video"] == before["video"], f"video still relayed while send=false: {before} -> {after}"
		assert after["audio"] > before["audio"] + 20, f"audio stopped too: {before} -> {after}"
		# Janus tells the subscriber nothing: no event came for its handle
		told = [m for m in api.pending(sid) if m.get("sender") == hs and m.get("janus") == "event"]
		assert told == [], told
		# send:true: it flows again and decodes (a keyframe was asked for)
		data, _ = await request(api, sid, hp, {"request": "configure", "streams": [{"mid": vmid, "send": True}]})
		assert data["configured"] == "ok"
		for _ in range(50):
			resumed = await video_packets(sub)
			if resumed["video"] > after["video"] + 5:
				break
			await asyncio.sleep(0.2)
		assert resumed["video"] > after["video"] + 5, f"video did not resume: {after} -> {resumed}"
		await sub.frames("video", n=3)
		await sub.close()
		await pub.close()
		await api.destroy(sid)


@pytest.mark.timeout_s(120)
async def test_subscriber_when_its_publishers_go(vr_gw):
	async with open_api(vr_gw, "ws") as api:
		sid = await api.create()
		room = new_room()
		ha, hb, hs = [await api.attach(sid, VR) for _ in range(3)]
		await sync(api, sid, ha, {"request": "create", "room": room})
		ja = await join(api, sid, ha, room, "A")
		pa = Publisher(api, sid, ha, audio=False)
		await pa.publish()
		jb = await join(api, sid, hb, room, "B")
		pb = Publisher(api, sid, hb, audio=False)
		await pb.publish()
		sub = Subscriber(api, sid, hs)
		await sub.join(room, [{"feed": ja["id"]}, {"feed": jb["id"]}])
		await sub.frames("video")
		# A goes: an `updated` offer where A's m-line stays, a=inactive, port 9
		await request(api, sid, ha, {"request": "unpublish"})
		upd = await api.event(sid, lambda m: m.get("sender") == hs
			and m.get("plugindata", {}).get("data", {}).get("videoroom") == "updated", timeout=10)
		streams = upd["plugindata"]["data"]["streams"]
		assert [(s["mid"], s["active"]) for s in streams] == [("0", False), ("1", True)], streams
		assert "feed_id" not in streams[0] and streams[1]["feed_id"] == jb["id"], streams
		mlines = upd["jsep"]["sdp"].split("\r\nm=")[1:]
		assert mlines[0].startswith("video 9 ") and "a=inactive" in mlines[0], mlines[0]
		assert "a=sendonly" in mlines[1], mlines[1]
		await sub.answer(upd["jsep"])
		await sub.frames("video")
		# B, the last one, goes: the subscriber gets nothing (no `updated`)
		await request(api, sid, hb, {"request": "unpublish"})
		await vr_event(api, sid, lambda d: d.get("unpublished") == jb["id"])
		await asyncio.sleep(2)
		late = [m for m in api.pending(sid) if m.get("sender") == hs and m.get("janus") == "event"]
		assert late == [], late
		await sub.close()
		await pa.close()
		await pb.close()
		await api.destroy(sid)
