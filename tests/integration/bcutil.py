"""Helpers shared by test_broadcast.py and test_whip.py: a gateway with
cardea.plugin.broadcast, solid-colour video tracks, and aiortc presenter /
viewer PeerConnections."""

import asyncio
import fractions
import shutil
import tempfile
import time
from pathlib import Path

import math

import numpy
from av import AudioFrame, VideoFrame

import aioice.ice
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

import gateway as gwmod

BCAST = "cardea.plugin.broadcast"

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

CONFIG = """general: {
}
demo: {
	description = "Demo channel"
}
locked: {
	pin = "1234"
	token = "tok-locked"
	secret = "s3"
	takeover = false
}
"""


def broadcast_gateway(factory, **kw):
	"""A daemon with the broadcast plugin and its config (plugins folder
	holding the test plugin and the broadcast plugin)."""
	tmp = Path(tempfile.mkdtemp(prefix="cardea-bc-plugins-"))
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_broadcast.so", tmp)
	files = {"cardea.plugin.broadcast.jcfg": CONFIG}
	files.update(kw.pop("files", {}))
	gw = factory(args=["-P", str(tmp)], files=files,
		sections={"nat": {"ice_enforce_list": "127.0.0.1"}}, **kw)
	return gw, tmp


class ColorTrack(MediaStreamTrack):
	"""Small solid-colour frames (cheap to encode and decode 20 times over),
	so a viewer can tell which presenter a decoded frame came from."""
	kind = "video"

	def __init__(self, rgb, fps=15, size=(160, 120)):
		super().__init__()
		self.rgb = rgb
		self.fps = fps
		self.size = size
		self.start = None
		self.n = 0

	async def recv(self):
		if self.start is None:
			self.start = time.time()
		else:
			self.n += 1
			await asyncio.sleep(max(0, self.start + self.n / self.fps - time.time()))
		w, h = self.size
		img = numpy.zeros((h, w, 3), dtype=numpy.uint8)
		img[:, :] = self.rgb
		frame = VideoFrame.from_ndarray(img, format="rgb24")
		frame.pts = self.n * (90000 // self.fps)
		frame.time_base = fractions.Fraction(1, 90000)
		return frame


class ToneTrack(MediaStreamTrack):
	"""20 ms frames of a tone, 48 kHz stereo s16 (what aiortc's Opus encoder
	takes without resampling)."""
	kind = "audio"

	def __init__(self, freq=440):
		super().__init__()
		self.freq = freq
		self.start = None
		self.pts = 0

	async def recv(self):
		if self.start is None:
			self.start = time.time()
		else:
			self.pts += 960
			await asyncio.sleep(max(0, self.start + self.pts / 48000 - time.time()))
		t = (numpy.arange(960) + self.pts) / 48000
		mono = (numpy.sin(2 * math.pi * self.freq * t) * 8000).astype(numpy.int16)
		frame = AudioFrame.from_ndarray(numpy.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
		frame.sample_rate = 48000
		frame.pts = self.pts
		frame.time_base = fractions.Fraction(1, 48000)
		return frame


def tone_of(frame):
	"""The strongest frequency (Hz) in a decoded audio frame."""
	a = frame.to_ndarray()
	mono = a.reshape(-1)[::len(frame.layout.channels)].astype(float)
	spec = numpy.abs(numpy.fft.rfft(mono))
	spec[0] = 0
	return int(numpy.argmax(spec)) * frame.sample_rate / len(mono)


def dominant(frame):
	"""'red', 'green' or 'blue': the strongest channel of the frame's centre."""
	img = frame.to_ndarray(format="rgb24")
	h, w, _ = img.shape
	px = img[h // 2, w // 2].astype(int)
	return ("red", "green", "blue")[int(numpy.argmax(px))]


async def presenter_pc(rgb, audio=None):
	"""A sendonly presenter: `rgb` video, plus a tone of `audio` Hz if given."""
	pc = RTCPeerConnection()
	if audio:
		pc.addTransceiver(ToneTrack(audio), direction="sendonly")
	pc.addTransceiver(ColorTrack(rgb), direction="sendonly")
	await pc.setLocalDescription(await pc.createOffer())
	return pc


async def viewer_pc(audio=False):
	pc = RTCPeerConnection()
	tracks = {}
	pc.on("track", lambda t: tracks.__setitem__(t.kind, t))
	if audio:
		pc.addTransceiver("audio", direction="recvonly")
	pc.addTransceiver("video", direction="recvonly")
	await pc.setLocalDescription(await pc.createOffer())
	return pc, tracks


async def frames_of(track, n, timeout=15):
	"""The next `n` decoded frames of `track`."""
	out = []
	for _ in range(n):
		out.append(await asyncio.wait_for(track.recv(), timeout))
	return out
