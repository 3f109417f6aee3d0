"""janus.plugin.echotest with a simulcast sender, end to end.

aiortc cannot send simulcast, so it is made to look like a sender that
does: its offer gets three rids (a=rid + a=simulcast:send and the rid header
extension) or an a=ssrc-group:SIM, and every video packet it sends is sent
three times instead, once per substream, each with its own SSRC, sequence
numbers and timestamp base, the rid extension (rid mode), and a padding
byte naming the substream so the echoed packets tell which one came back.
The VP8 payload is the same in all three, so whatever comes back decodes.
Keyframe requests the gateway sends to the made-up SSRCs are handed to
aiortc's real sender, so a PLI for any substream produces a keyframe.

Checked: the answer accepts the simulcast; exactly one substream comes back
(the highest first, with the `substream` event Janus sends); `substream`
switches it at a keyframe (and the gateway asks for one); the echoed
stream stays one gap-free sequence with advancing timestamps across
switches; when the chosen substream stops, the next lower one takes over
after `fallback`, and it goes back up when the stream returns; admin
handle_info shows the learned SSRCs and the plugin's simulcast state.
"""

import asyncio
import random
import shutil
import tempfile
import time
from pathlib import Path

import pytest

import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

import gateway as gwmod
from apiclient import open_api, open_admin

ECHO = "janus.plugin.echotest"
RID_EXT = 10
RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
# rid -> substream (0 = lowest), whatever order the offer lists them in.
RIDS = {"l": 0, "m": 1, "h": 2}

pytestmark = pytest.mark.cardea_only

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


@pytest.fixture(scope="module")
def sim_gw(module_gateway_factory):
	tmp = Path(tempfile.mkdtemp(prefix="cardea-sim-plugins-"))
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_echotest.so", tmp)
	gw = module_gateway_factory(args=["-P", str(tmp)], sections={"nat": {"ice_enforce_list": "127.0.0.1"}})
	yield gw
	shutil.rmtree(tmp, ignore_errors=True)


async def wait_until(pred, timeout, step=0.05):
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		v = pred()
		if v:
			return v
		await asyncio.sleep(step)
	return pred()


def rtp_split(data):
	"""(header bytes without extension, one-byte extension elements, payload, padding) of a plain RTP packet."""
	cc, x, p = data[0] & 0x0F, data[0] & 0x10, data[0] & 0x20
	off = 12 + 4 * cc
	elems = b""
	if x:
		length = 4 * int.from_bytes(data[off + 2:off + 4], "big")
		block = data[off + 4:off + 4 + length]
		off += 4 + length
		i = 0
		while i < len(block):
			if block[i] == 0:
				i += 1
				continue
			n = (block[i] & 0x0F) + 1
			elems += block[i:i + 1 + n]
			i += 1 + n
	end = len(data) - (data[-1] if p else 0)
	return data[:12 + 4 * cc], elems, data[off:end], data[end:]


class SimulcastSender:
	"""Turns aiortc's one video stream into three substreams on the wire."""

	def __init__(self, pc, rid_mode):
		self.transport = pc.getTransceivers()[0].sender.transport
		self.real_ssrc = pc.getTransceivers()[0].sender._ssrc
		self.rid_mode = rid_mode
		# substream -> [ssrc, rid, next seq, timestamp offset]
		self.layers = {}
		for rid, sub in RIDS.items():
			self.layers[sub] = [random.randint(1, 2**32 - 1), rid, random.randint(0, 65535), random.randint(0, 2**32 - 1)]
		self.active = {0, 1, 2}
		self.sent = {0: 0, 1: 0, 2: 0}
		self.plis = {}                  # media ssrc -> count of PLIs the gateway sent
		self.echoed = []                # (seq, ts, substream tag) of what came back
		self.echo_ssrc = None
		self.original = 0               # aiortc's own video packets
		send, handle_rtp, handle_rtcp = self.transport._send_rtp, self.transport._handle_rtp_data, self.transport._handle_rtcp_data

		async def on_send(data):
			if 192 <= data[1] <= 223 or int.from_bytes(data[8:12], "big") != self.real_ssrc:
				await send(data)
				return
			self.original += 1
			head, elems, payload, _ = rtp_split(bytes(data))
			ts = int.from_bytes(head[4:8], "big")
			for sub in sorted(self.active):
				ssrc, rid, seq, ts_off = self.layers[sub]
				self.layers[sub][2] = (seq + 1) & 0xFFFF
				e = elems + (bytes([(RID_EXT << 4) | (len(rid) - 1)]) + rid.encode() if self.rid_mode else b"")
				e += b"\0" * (-len(e) % 4)
				out = bytes([0xB0 | (head[0] & 0x0F), head[1]]) + seq.to_bytes(2, "big") + \
					((ts + ts_off) & 0xFFFFFFFF).to_bytes(4, "big") + ssrc.to_bytes(4, "big") + head[12:] + \
					b"\xbe\xde" + (len(e) // 4).to_bytes(2, "big") + e + payload + bytes([sub, 2])
				self.sent[sub] += 1
				await send(out)

		async def on_rtp(data, arrival_time_ms):
			if data[0] & 0x20 and data[-1] == 2 and (data[1] & 0x7F) < 100:
				ssrc = int.from_bytes(data[8:12], "big")
				if self.echo_ssrc is None:
					self.echo_ssrc = ssrc
				if ssrc == self.echo_ssrc:
					self.echoed.append((int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:8], "big"), data[-2]))
			await handle_rtp(data, arrival_time_ms)

		async def on_rtcp(data):
			ours = {v[0] for v in self.layers.values()}
			out, pos = bytearray(data), 0
			while pos + 12 <= len(out):
				end = pos + 4 * (int.from_bytes(out[pos + 2:pos + 4], "big") + 1)
				media = int.from_bytes(out[pos + 8:pos + 12], "big")
				if out[pos + 1] == 206 and out[pos] & 0x1F == 1:
					self.plis[media] = self.plis.get(media, 0) + 1
					if media in ours:
						out[pos + 8:pos + 12] = self.real_ssrc.to_bytes(4, "big")
				pos = end
			await handle_rtcp(bytes(out))

		self.transport._send_rtp, self.transport._handle_rtp_data, self.transport._handle_rtcp_data = on_send, on_rtp, on_rtcp

	def tags_since(self, n):
		return {t for (_, _, t) in self.echoed[n:]}


def munge_offer(sdp, mode, layers, order="hml"):
	"""aiortc's offer as a simulcast sender's: rids + a=simulcast + the rid
	extension, or an a=ssrc-group:SIM (SSRCs lowest first)."""
	out = []
	for line in sdp.split("\r\n"):
		if line.startswith("a=ssrc"):
			continue
		out.append(line)
		if line.startswith("a=extmap:2 ") and mode == "rid":
			out.append(f"a=extmap:{RID_EXT} {RID_URI}")
	text = "\r\n".join(out)
	if mode == "rid":
		listed = ["h", "m", "l"] if order == "hml" else ["l", "m", "h"]
		extra = "".join(f"a=rid:{r} send\r\n" for r in listed) + "a=simulcast:send " + ";".join(listed) + "\r\n"
	else:
		ssrcs = [layers[s][0] for s in (0, 1, 2)]
		extra = "a=ssrc-group:SIM " + " ".join(map(str, ssrcs)) + "\r\n" + \
			"".join(f"a=ssrc:{s} cname:sim\r\n" for s in ssrcs)
	# Append to the (only) m-section.
	return text.rstrip("\r\n") + "\r\n" + extra


async def layer_event(api, sid, hid, key, value, timeout=5):
	return await api.event(sid, {"janus": "event", "sender": hid, "plugindata": {"plugin": ECHO,
		"data": {"echotest": "event", "videocodec": "vp8", key: value}}}, timeout=timeout)


async def configure(api, sid, hid, body):
	r = await api.message(sid, hid, body)
	assert r["janus"] == "ack", r
	ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=5)
	return ev["plugindata"]["data"]


def check_continuous(echoed):
	"""One stream: every seq from first to last exactly once (loopback does
	not lose), and timestamps never go back."""
	seqs = sorted({s for (s, _, _) in echoed}, key=lambda s: (s - echoed[0][0]) & 0xFFFF)
	span = ((seqs[-1] - seqs[0]) & 0xFFFF) + 1
	assert span == len(seqs), f"holes in the echoed seqs: {len(seqs)} of {span}"
	by_seq = sorted(echoed, key=lambda e: (e[0] - echoed[0][0]) & 0xFFFF)
	for a, b in zip(by_seq, by_seq[1:]):
		assert ((b[1] - a[1]) & 0xFFFFFFFF) < 2**31, f"timestamp went back: {a} -> {b}"


async def simulcast_session(gw, mode, order="hml", kind="ws"):
	async with open_api(gw, kind) as api, open_admin(gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, ECHO)
		pc = RTCPeerConnection()
		pc.addTrack(VideoStreamTrack())
		tracks = {}
		pc.on("track", lambda t: tracks.__setitem__(t.kind, t))
		try:
			await pc.setLocalDescription(await pc.createOffer())
			sender = SimulcastSender(pc, mode == "rid")
			offer = munge_offer(pc.localDescription.sdp, mode, sender.layers, order)
			jsep = {"type": "offer", "sdp": offer}
			if order == "lmh":
				jsep["rid_order"] = "lmh"
			r = await api.message(sid, hid, {"audio": True, "video": True}, jsep=jsep)
			assert r["janus"] == "ack", r
			ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=10)
			assert ev["plugindata"]["data"] == {"echotest": "event", "result": "ok"}, ev
			answer = ev["jsep"]["sdp"]
			if mode == "rid":
				listed = "h;m;l" if order == "hml" else "l;m;h"
				for needle in ("a=rid:h recv", "a=rid:m recv", "a=rid:l recv", f"a=simulcast:recv {listed}",
						f"a=extmap:{RID_EXT} {RID_URI}"):
					assert needle in answer, f"{needle!r} missing in the answer:\n{answer}"
			else:
				assert "a=simulcast" not in answer, answer
			await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
			await api.event(sid, {"janus": "webrtcup", "sender": hid}, timeout=10)

			# The highest substream comes back first, and only it.
			await layer_event(api, sid, hid, "substream", 2, timeout=10)
			for _ in range(3):
				assert await asyncio.wait_for(tracks["video"].recv(), 10) is not None
			n = len(sender.echoed)
			await wait_until(lambda: len(sender.echoed) > n + 20, 5)
			assert sender.tags_since(n) == {2}, sender.echoed[n:]
			# One substream's worth comes back, not three.
			sent, echoed = sender.original, len(sender.echoed)
			await asyncio.sleep(1)
			grew_sent, grew_echo = sender.original - sent, len(sender.echoed) - echoed
			assert grew_echo <= grew_sent + 2, (grew_sent, grew_echo)

			info = (await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid}))["info"]
			ps = info["plugin_specific"]
			assert ps["simulcast"] is True and ps["substream"] == 2 and ps["substream-target"] == 2, ps
			assert ps["fallback"] == 250000, ps
			media = next(m for m in info["webrtc"]["media"] if m["type"] == "video")
			sim = media["simulcast"]
			assert sim["substreams"] == 3 and sim["by"] == mode, sim
			assert sim["ssrcs"] == [sender.layers[s][0] for s in (0, 1, 2)], (sim, sender.layers)
			if mode == "rid":
				assert sim["rids"] == ["l", "m", "h"] and sim["accepted"] is True, sim

			# Down to 0: switched at a keyframe the gateway asked for.
			plis = sum(sender.plis.values())
			data = await configure(api, sid, hid, {"substream": 0})
			assert data == {"echotest": "event", "result": "ok"}, data
			await layer_event(api, sid, hid, "substream", 0)
			assert sum(sender.plis.values()) > plis, sender.plis
			n = len(sender.echoed)
			await wait_until(lambda: len(sender.echoed) > n + 20, 5)
			assert sender.tags_since(n) == {0}, sender.echoed[n:]
			# Asking for what is already there is confirmed at once.
			await configure(api, sid, hid, {"substream": 0})
			await layer_event(api, sid, hid, "substream", 0)
			# The temporal layer is accepted (aiortc's VP8 has none: nothing changes).
			data = await configure(api, sid, hid, {"temporal": 1})
			assert data == {"echotest": "event", "result": "ok"}, data

			# Up to 2, then 2 stops: after `fallback` the next lower one (1)
			# takes over; when 2 is back, up again.
			await configure(api, sid, hid, {"substream": 2})
			await layer_event(api, sid, hid, "substream", 2)
			sender.active = {0, 1}
			await layer_event(api, sid, hid, "substream", 1)
			n = len(sender.echoed)
			await wait_until(lambda: len(sender.echoed) > n + 20, 5)
			assert sender.tags_since(n) == {1}, sender.echoed[n:]
			sender.active = {0, 1, 2}
			await layer_event(api, sid, hid, "substream", 2)
			# A longer fallback is taken into account (and reported).
			await configure(api, sid, hid, {"fallback": 2000000})
			info = (await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid}))["info"]
			assert info["plugin_specific"]["fallback"] == 2000000, info["plugin_specific"]
			sender.active = {0, 1}
			await asyncio.sleep(1)
			info = (await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hid}))["info"]
			assert info["plugin_specific"]["substream"] == 2, info["plugin_specific"]
			await layer_event(api, sid, hid, "substream", 1, timeout=5)

			# Whatever came back was one continuous stream that still decodes.
			check_continuous(sender.echoed)
			for _ in range(3):
				assert await asyncio.wait_for(tracks["video"].recv(), 10) is not None

			# Bad values are refused.
			data = await configure(api, sid, hid, {"substream": 3})
			assert data["error_code"] == 413, data
			data = await configure(api, sid, hid, {"temporal": "1"})
			assert data["error_code"] == 413, data
			await api.destroy(sid)
		finally:
			await pc.close()


@pytest.mark.timeout_s(60)
async def test_simulcast_rid(sim_gw):
	await simulcast_session(sim_gw, "rid")


@pytest.mark.timeout_s(60)
async def test_simulcast_rid_lmh_http(sim_gw):
	await simulcast_session(sim_gw, "rid", order="lmh", kind="http")


@pytest.mark.timeout_s(60)
async def test_simulcast_ssrc_group(sim_gw):
	await simulcast_session(sim_gw, "ssrc")
