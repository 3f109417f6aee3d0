"""janus.plugin.videoroom rtp_forward with SRTP (srtp_suite 32/80 and
srtp_crypto = base64 of the 30-byte master key||salt, Janus's semantics):
the forwarded packets are SRTP that pylibsrtp unprotects with the same key
into valid RTP; listforwarders and admin handle_info say "srtp": true; bad
suites and bad key material are refused with Janus error codes."""

import asyncio
import base64
import os
import random

import pytest
from pylibsrtp import Error as SrtpError, Policy, Session

from apiclient import open_api, open_admin
from test_videoroom import VR, publish, sync, sync_error, vr_gw  # noqa: F401 (fixture)

pytestmark = pytest.mark.cardea_only

PROFILES = {80: (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 10), 32: (Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 4)}


def receiver_session(key, suite):
	return Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=PROFILES[suite][0]))


class Rx(asyncio.DatagramProtocol):
	def __init__(self):
		self.got = asyncio.Queue()

	def datagram_received(self, data, addr):
		self.got.put_nowait(data)


@pytest.mark.timeout_s(90)
async def test_srtp_forwarders(vr_gw):  # noqa: F811
	loop = asyncio.get_running_loop()
	async with open_api(vr_gw, "ws") as api, open_admin(vr_gw, "http") as admin:
		sid = await api.create()
		room = random.randint(10 ** 6, 10 ** 9)
		hp = await api.attach(sid, VR)
		await sync(api, sid, hp, {"request": "create", "room": room, "secret": "s"})
		pc, joined, _ = await publish(api, sid, hp, room, "S")
		pid = joined["id"]
		base = {"request": "rtp_forward", "room": room, "secret": "s", "publisher_id": pid, "host": "127.0.0.1"}
		transports = []
		try:
			# refused: suite, types, key material (Janus: 430 invalid element)
			stream = [{"mid": "1", "port": 9}]
			good = base64.b64encode(os.urandom(30)).decode()
			for extra in ({"srtp_suite": 40, "srtp_crypto": good}, {"srtp_suite": "80", "srtp_crypto": good},
					{"srtp_suite": 80, "srtp_crypto": 12345}, {"srtp_suite": 80, "srtp_crypto": "not base64!"},
					{"srtp_suite": 80, "srtp_crypto": base64.b64encode(os.urandom(16)).decode()},
					{"srtp_suite": 32, "srtp_crypto": base64.b64encode(os.urandom(31)).decode()},
					{"srtp_suite": 80, "srtp_crypto": ""}):
				err = await sync_error(api, sid, hp, dict(base, streams=stream, **extra), 430)
				assert "SRTP" in err or "srtp" in err, err
			lst = await sync(api, sid, hp, {"request": "listforwarders", "room": room, "secret": "s"})
			assert lst["publishers"] == [], "a refused forwarder was kept"

			for suite in (80, 32):
				key = os.urandom(30)
				rx = Rx()
				tr, _ = await loop.create_datagram_endpoint(lambda: rx, local_addr=("127.0.0.1", 0))
				transports.append(tr)
				port = tr.get_extra_info("sockname")[1]
				data = await sync(api, sid, hp, dict(base, srtp_suite=suite, srtp_crypto=base64.b64encode(key).decode(),
					streams=[{"mid": "1", "port": port, "ssrc": 4200 + suite, "pt": 100}]))
				fwd = data["forwarders"]
				assert len(fwd) == 1 and fwd[0]["srtp"] is True and fwd[0]["type"] == "video", fwd
				sess = receiver_session(key, suite)
				wrong = receiver_session(os.urandom(30), suite)
				seqs = []
				for _ in range(5):
					pkt = await asyncio.wait_for(rx.got.get(), 10)
					with pytest.raises(SrtpError):
						wrong.unprotect(pkt)   # really protected: another key does not authenticate
					rtp = sess.unprotect(pkt)
					assert len(pkt) - len(rtp) == PROFILES[suite][1], (suite, len(pkt), len(rtp))
					assert rtp[0] >> 6 == 2, "not RTP"
					assert rtp[1] & 0x7f == 100 and int.from_bytes(rtp[8:12], "big") == 4200 + suite
					assert len(rtp) > 12
					seqs.append(int.from_bytes(rtp[2:4], "big"))
				assert len(set(seqs)) == 5, seqs

			lst = await sync(api, sid, hp, {"request": "listforwarders", "room": room, "secret": "s"})
			fl = lst["publishers"][0]["forwarders"]
			assert len(fl) == 2 and all(f["srtp"] is True for f in fl), fl
			info = await admin.ok({"janus": "handle_info", "session_id": sid, "handle_id": hp})
			rf = info["info"]["plugin_specific"]["rtp_forwarders"]
			assert len(rf) == 2 and all(f["srtp"] is True and f["packets"] > 0 for f in rf), rf
			# a plain forwarder next to them still says false
			rx = Rx()
			tr, _ = await loop.create_datagram_endpoint(lambda: rx, local_addr=("127.0.0.1", 0))
			transports.append(tr)
			data = await sync(api, sid, hp, dict(base, streams=[{"mid": "1", "port": tr.get_extra_info("sockname")[1]}]))
			assert data["forwarders"][0]["srtp"] is False
			pkt = await asyncio.wait_for(rx.got.get(), 10)
			assert pkt[0] >> 6 == 2
			for f in fl:
				await sync(api, sid, hp, {"request": "stop_rtp_forward", "room": room, "secret": "s",
					"publisher_id": pid, "stream_id": f["stream_id"]})
		finally:
			for tr in transports:
				tr.close()
		await pc.close()
		await api.destroy(sid)
