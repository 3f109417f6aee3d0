"""NACKs the gateway can no longer answer (core/webrtc/pc-rtcp.c lost_for_good).

A subscriber that NACKs video the gateway sent too long ago to resend will
never get that packet; the gateway then asks the plugin for a keyframe on the
subscriber's behalf (rate-limited), which the echotest turns into a PLI to
the publisher, i.e. the same aiortc peer here. A NACK for a seq not sent yet
(a hole the gateway is still repairing upstream) must not do that. The
loss tests in test_netem.py cover the repair itself under real loss.
"""

import asyncio
import time

import pytest

import test_echotest as te
# The echotest gateway of test_echotest's feedback tests (127.0.0.1 only; the
# import also keeps aiortc on 127.0.0.1): one instance for this module.
from test_echotest import fb_gw  # noqa: F401  (a fixture)
from apiclient import open_api, open_admin

PLI = 1


async def info_when(get, pred, timeout=3.0):
	"""get() until pred holds or timeout; returns the last value."""
	deadline = time.monotonic() + timeout
	v = await get()
	while not pred(v) and time.monotonic() < deadline:
		await asyncio.sleep(0.1)
		v = await get()
	return v


@pytest.mark.cardea_only
@pytest.mark.timeout_s(40)
async def test_nack_for_lost_packets_asks_for_keyframe(fb_gw):
	async with open_api(fb_gw, "ws") as api, open_admin(fb_gw, "http") as admin:
		sid = await api.create()
		hid = await api.attach(sid, te.ECHO)
		pc, _ = await te.offer_pc()
		try:
			sdp, tap = await te.fb_negotiate(api, sid, hid, pc)
			mids = {m.mid: m.kind for m in pc.getTransceivers()}
			vmid = next(k for k, v in mids.items() if v == "video")
			vssrc, _ = te.sdp_ssrcs(sdp)[vmid]
			client_video = next(t.sender._ssrc for t in pc.getTransceivers() if t.kind == "video")
			receiver = next(t.receiver for t in pc.getTransceivers() if t.kind == "video")

			def plis():
				return [p for p in tap.feedback(te.PSFB, PLI) if int.from_bytes(p[8:12], "big") == client_video]

			async def video_info():
				return te.info_by_type(await te.handle_info(admin, sid, hid))["video"]

			got = await te.wait_until(lambda: [p for p in tap.rtp if p[0] == vssrc], 5)
			assert got, "no video received"
			# The echotest's own PLI at setup is out of the way (and out of the
			# 500 ms keyframe-request window) before we start counting.
			await te.wait_until(lambda: plis(), 3)
			await asyncio.sleep(0.7)
			newest = got[-1][2]
			v0 = await video_info()
			assert v0["keyframes_for_lost_nacks"] == 0, v0

			# Not sent yet: maybe still coming, no keyframe request.
			await receiver._send_rtcp_nack(vssrc, [(newest + 50) & 0xFFFF])
			v1 = await info_when(video_info, lambda v: v["nacks_in"] > v0["nacks_in"])
			assert v1["nacks_in"] > v0["nacks_in"], v1
			assert v1["keyframes_for_lost_nacks"] == 0, v1

			# Its slot has held later packets since: gone for good.
			n_plis = len(plis())
			old = sorted([(newest - 256) & 0xFFFF, (newest - 512) & 0xFFFF])   # aiortc packs ascending
			await receiver._send_rtcp_nack(vssrc, old)
			assert await te.wait_until(lambda: len(plis()) > n_plis, 3), \
				f"no PLI to the publisher after a NACK for lost packets; {await video_info()}"
			v2 = await video_info()
			assert v2["keyframes_for_lost_nacks"] == 1, v2
			assert v2["retransmission_misses"] >= v1["retransmission_misses"] + 2, v2
			# The video byte ring (core/webrtc/nack.h, pc-rtcp.c): from 64 KiB, at most 256 x 1500.
			assert 64 * 1024 <= v2["retransmission_buffer_bytes"] <= 256 * 1500, v2
			# Rate-limited: an immediate repeat makes no new request.
			await receiver._send_rtcp_nack(vssrc, old)
			v3 = await info_when(video_info, lambda v: v["nacks_in"] >= v2["nacks_in"] + 2)
			assert v3["nacks_in"] >= v2["nacks_in"] + 2, v3
			assert v3["keyframes_for_lost_nacks"] == 1, v3
			await api.destroy(sid)
		finally:
			await pc.close()
