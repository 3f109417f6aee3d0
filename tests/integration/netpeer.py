"""An aiortc peer driven over stdin/stdout, run inside a test namespace.

	ip netns exec NS /usr/bin/python3 netpeer.py --ip 10.77.3.2

Commands, one JSON object per stdin line, each answered by one JSON line:
  {"cmd": "offer", "audio": true, "video": true}   -> {"sdp": OFFER}  (sendrecv tracks)
  {"cmd": "answer", "sdp": ANSWER}                 -> {}             (remote answer)
  {"cmd": "accept", "sdp": OFFER}                  -> {"sdp": ANSWER} (remote offer, e.g. a subscription)
  {"cmd": "stats"}                                 -> counters, see stats()
  {"cmd": "close"}                                 -> {} and exit

The video it sends carries its frame number as a 16-bit barcode (16 black or
white blocks along the top), so a receiver (this process through the
echotest, or another peer through the videoroom) knows exactly which frames
it decoded. The rest of the picture is scrolling noise so that VP8 frames
span several RTP packets, as real video does.
Frame loss = frames the sender sent, between the first and the last number
the receiver decoded, that the receiver never decoded.
"""

import argparse
import asyncio
import fractions
import json
import math
import sys
import time

import numpy
from av import AudioFrame, VideoFrame

import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack, MediaStreamError

W, H, FPS = 320, 240, 30
BITS, BLOCK_H = 16, 32
BLOCK_W = W // BITS


class Tone(MediaStreamTrack):
	kind = "audio"

	def __init__(self):
		super().__init__()
		self.t0 = None
		self.pts = 0

	async def recv(self):
		if self.t0 is None:
			self.t0 = time.time()
		else:
			self.pts += 960
			await asyncio.sleep(max(0, self.t0 + self.pts / 48000 - time.time()))
		t = (numpy.arange(960) + self.pts) / 48000
		mono = (numpy.sin(2 * math.pi * 440 * t) * 8000).astype(numpy.int16)
		f = AudioFrame.from_ndarray(numpy.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
		f.sample_rate, f.pts, f.time_base = 48000, self.pts, fractions.Fraction(1, 48000)
		return f


class NumberedVideo(MediaStreamTrack):
	kind = "video"

	def __init__(self):
		super().__init__()
		self.t0 = None
		self.n = 0
		self.sent = []       # (frame number, monotonic time handed to the encoder)
		rng = numpy.random.default_rng(7)
		self.noise = rng.integers(0, 255, (H - BLOCK_H, W * 2), dtype=numpy.uint8)

	async def recv(self):
		if self.t0 is None:
			self.t0 = time.time()
		else:
			self.n += 1
			await asyncio.sleep(max(0, self.t0 + self.n / FPS - time.time()))
		y = numpy.empty((H, W), numpy.uint8)
		for b in range(BITS):
			y[:BLOCK_H, b * BLOCK_W:(b + 1) * BLOCK_W] = 235 if (self.n >> b) & 1 else 16
		off = (self.n * 4) % W
		y[BLOCK_H:] = self.noise[:, off:off + W]
		yuv = numpy.concatenate([y, numpy.full((H // 2, W), 128, numpy.uint8)])
		f = VideoFrame.from_ndarray(yuv, format="yuv420p")
		f.pts, f.time_base = self.n * (90000 // FPS), fractions.Fraction(1, 90000)
		self.sent.append((self.n, time.monotonic()))
		return f


def read_number(frame):
	y = frame.to_ndarray(format="gray")
	if y.shape != (H, W):
		return None
	n = 0
	for b in range(BITS):
		blk = y[8:BLOCK_H - 8, b * BLOCK_W + 5:(b + 1) * BLOCK_W - 5]
		if blk.mean() > 128:
			n |= 1 << b
	return n


class Peer:
	def __init__(self):
		self.pc = RTCPeerConnection()
		self.video = None
		self.recv = {"audio": 0, "video": 0}
		self.frames = []      # (frame number, monotonic time decoded)
		self.tasks = []
		self.pc.on("track", self.on_track)

	def on_track(self, track):
		self.tasks.append(asyncio.ensure_future(self.consume(track)))

	async def consume(self, track):
		try:
			while True:
				frame = await track.recv()
				self.recv[track.kind] += 1
				if track.kind == "video":
					self.frames.append((read_number(frame), time.monotonic()))
		except MediaStreamError:
			pass

	def add_tracks(self, audio, video):
		if audio:
			self.pc.addTrack(Tone())
		if video:
			self.video = NumberedVideo()
			self.pc.addTrack(self.video)

	async def stats(self):
		inbound = {}
		for s in (await self.pc.getStats()).values():
			if s.type == "inbound-rtp":
				inbound[s.kind] = {"packets": s.packetsReceived, "lost": s.packetsLost, "jitter": s.jitter}
		return {"recv": self.recv, "frames": self.frames, "sent": self.video.sent if self.video else [],
			"ice": self.pc.iceConnectionState, "conn": self.pc.connectionState,
			"inbound": inbound, "now": time.monotonic()}


async def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--ip", required=True, help="the only address ICE gathers on")
	args = ap.parse_args()
	aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [args.ip]
	peer = Peer()
	loop = asyncio.get_running_loop()
	reader = asyncio.StreamReader()
	await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

	def out(obj):
		sys.stdout.write(json.dumps(obj) + "\n")
		sys.stdout.flush()

	while True:
		line = await reader.readline()
		if not line:
			break
		cmd = json.loads(line)
		try:
			c = cmd["cmd"]
			if c == "offer":
				peer.add_tracks(cmd.get("audio", True), cmd.get("video", True))
				await peer.pc.setLocalDescription(await peer.pc.createOffer())
				out({"sdp": peer.pc.localDescription.sdp})
			elif c == "answer":
				await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=cmd["sdp"], type="answer"))
				out({})
			elif c == "accept":
				await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=cmd["sdp"], type="offer"))
				await peer.pc.setLocalDescription(await peer.pc.createAnswer())
				out({"sdp": peer.pc.localDescription.sdp})
			elif c == "stats":
				out(await peer.stats())
			elif c == "close":
				await peer.pc.close()
				out({})
				break
			else:
				out({"error": f"unknown command {c}"})
		except Exception as e:
			out({"error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
	asyncio.run(main())
