#!/usr/bin/python3
"""Soak: many full session lifecycles against one daemon, then leak checks.

One lifecycle = create a session over WebSocket, attach janus.plugin.echotest,
negotiate an aiortc PeerConnection (Opus tone + small VP8 video), wait for
the first echoed video frame, keep media flowing for --media seconds, close
the PeerConnection and destroy the session. --parallel lifecycles run at the
same time (each worker keeps one WebSocket and runs lifecycles back to back).

Measured on the daemon (from /proc/PID): RSS and open fds before the first
lifecycle (baseline), after lifecycle --mark (default 1000) and at the end
(after a short settle); the admin API's list_sessions must be empty at the
end. Checks (exit 1 when one fails):
  * every lifecycle completed (no error, echoed video seen);
  * RSS growth between --mark and the end below --max-rss-growth (5 %);
  * open fds at the end equal to the baseline;
  * list_sessions empty.

Not part of the default suite (it takes ~30-60 min for 10,000). By hand:

    CARDEA_PREFIX=/tmp/b/inst CARDEA_BUILD=/tmp/b nice /usr/bin/python3 \\
        tests/bench/soak.py --count 10000 --parallel 8 --json /tmp/soak.json

A quick check of the script itself: --count 16 --mark 8 (~20 s).
Results of by-hand runs go to tests/bench/RESULTS.md (soak section).
"""

import argparse
import asyncio
import fractions
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

import numpy  # noqa: E402
from av import VideoFrame  # noqa: E402

import aioice.ice  # noqa: E402
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402

import gateway as gwmod  # noqa: E402
from apiclient import WsApi, open_admin  # noqa: E402
from netpeer import Tone  # noqa: E402

ECHO = "janus.plugin.echotest"

# Loopback only, on both sides (the daemon gets nat.ice_enforce_list).
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


class SmallVideo(MediaStreamTrack):
	"""160x120 frames at 15 fps: cheap to encode, so the client's CPU is not
	what limits the run."""
	kind = "video"

	def __init__(self):
		super().__init__()
		self.t0 = None
		self.n = 0
		self.img = numpy.zeros((120, 160, 3), numpy.uint8)

	async def recv(self):
		if self.t0 is None:
			self.t0 = time.time()
		else:
			self.n += 1
			await asyncio.sleep(max(0, self.t0 + self.n / 15 - time.time()))
		self.img[:, :, 1] = (self.n * 7) % 255
		f = VideoFrame.from_ndarray(self.img, format="bgr24")
		f.pts, f.time_base = self.n * 6000, fractions.Fraction(1, 90000)
		return f


def proc_figures(pid):
	"""(RSS in kB, number of open fds) of a process."""
	rss = 0
	with open(f"/proc/{pid}/status") as f:
		for line in f:
			if line.startswith("VmRSS:"):
				rss = int(line.split()[1])
	return rss, len(os.listdir(f"/proc/{pid}/fd"))


async def lifecycle(api, media_s):
	sid = await api.create()
	pc = RTCPeerConnection()
	try:
		hid = await api.attach(sid, ECHO)
		pc.addTrack(Tone())
		pc.addTrack(SmallVideo())
		got = asyncio.get_running_loop().create_future()

		def on_track(t):
			if t.kind == "video" and not got.done():
				got.set_result(t)
		pc.on("track", on_track)
		await pc.setLocalDescription(await pc.createOffer())
		r = await api.message(sid, hid, {"audio": True, "video": True},
			jsep={"type": "offer", "sdp": pc.localDescription.sdp})
		if r.get("janus") != "ack":
			raise RuntimeError(f"offer refused: {r}")
		ev = await api.event(sid, {"janus": "event", "transaction": r["transaction"]}, timeout=15)
		await pc.setRemoteDescription(RTCSessionDescription(sdp=ev["jsep"]["sdp"], type="answer"))
		track = await asyncio.wait_for(got, 15)
		await asyncio.wait_for(track.recv(), 15)    # first echoed frame decoded
		end = time.monotonic() + media_s
		while time.monotonic() < end:               # keep decoding (media flowing) for media_s
			await asyncio.wait_for(track.recv(), 5)
	finally:
		await pc.close()
		r = await api.request({"janus": "destroy", "session_id": sid}, timeout=10)
		if r.get("janus") != "success":
			raise RuntimeError(f"destroy failed: {r}")
		api.inbox = [m for m in api.inbox if m.get("session_id") != sid]


async def run(gw, args, log=print):
	state = {"started": 0, "done": 0, "errors": [], "mark": None}
	base = proc_figures(gw.pid)
	t0 = time.monotonic()
	log(f"baseline rss={base[0]} kB fds={base[1]}")

	async def worker(w):
		api = await WsApi.connect(gw.ws_url)
		try:
			while state["started"] < args.count and len(state["errors"]) < args.max_errors:
				state["started"] += 1
				try:
					await lifecycle(api, args.media)
				except Exception as e:   # counted; the run goes on to show whether it recovers
					state["errors"].append(f"{type(e).__name__}: {e}")
					if api.closed.is_set():
						api = await WsApi.connect(gw.ws_url)
				state["done"] += 1
				if state["done"] == args.mark:
					state["mark"] = proc_figures(gw.pid)
					log(f"mark {args.mark}: rss={state['mark'][0]} kB fds={state['mark'][1]}")
				if state["done"] % args.progress == 0:
					rss, fds = proc_figures(gw.pid)
					log(f"{state['done']}/{args.count} {time.monotonic() - t0:.0f}s rss={rss} kB "
						f"fds={fds} errors={len(state['errors'])}")
		finally:
			await api.close()

	await asyncio.gather(*(worker(w) for w in range(args.parallel)))
	await asyncio.sleep(args.settle)
	end = proc_figures(gw.pid)
	async with open_admin(gw, "http") as admin:
		sessions = await admin.list_sessions()
	mark = state["mark"] or end
	growth = (end[0] - mark[0]) / mark[0] * 100.0
	res = {
		"count": args.count, "parallel": args.parallel, "media_s": args.media,
		"completed": state["done"] - len(state["errors"]), "errors": len(state["errors"]),
		"first_errors": state["errors"][:5], "seconds": round(time.monotonic() - t0, 1),
		"rss_kb": {"baseline": base[0], f"at_{args.mark}": mark[0], "end": end[0]},
		"rss_growth_pct": round(growth, 2),
		"fds": {"baseline": base[1], f"at_{args.mark}": mark[1], "end": end[1]},
		"sessions_left": sessions,
	}
	problems = []
	if state["errors"] or state["done"] < args.count:
		problems.append(f"{len(state['errors'])} lifecycles failed, {state['done']}/{args.count} ran")
	if growth >= args.max_rss_growth:
		problems.append(f"RSS grew {growth:.2f}% between lifecycle {args.mark} and the end")
	if end[1] != base[1]:
		problems.append(f"open fds {end[1]} at the end, {base[1]} at the start")
	if sessions:
		problems.append(f"sessions left: {sessions}")
	res["problems"] = problems
	return res


def make_gateway(debug_level=3):
	"""A daemon with the echotest plugin, gathering on loopback only."""
	plugdir = Path(tempfile.mkdtemp(prefix="cardea-soak-plugins-"))
	shutil.copy(gwmod.PREFIX / "lib" / "cardea" / "plugins" / "cardea_plugin_echotest.so", plugdir)
	gw = gwmod.Gateway(sections={"nat": {"ice_enforce_list": "127.0.0.1"}},
		args=["-P", str(plugdir)], debug_level=debug_level)
	gw.plugdir = plugdir
	return gw


def main():
	ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
	ap.add_argument("--count", type=int, default=10000)
	ap.add_argument("--parallel", type=int, default=8)
	ap.add_argument("--media", type=float, default=1.0, help="seconds of media per lifecycle")
	ap.add_argument("--mark", type=int, default=1000, help="lifecycle after which RSS is the reference")
	ap.add_argument("--max-rss-growth", type=float, default=5.0, help="percent")
	ap.add_argument("--max-errors", type=int, default=50, help="stop after this many failed lifecycles")
	ap.add_argument("--settle", type=float, default=3.0)
	ap.add_argument("--progress", type=int, default=500)
	ap.add_argument("--json", help="write the result here")
	args = ap.parse_args()
	gw = make_gateway()
	gw.start()
	try:
		res = asyncio.run(run(gw, args, log=lambda s: print(s, flush=True)))
	finally:
		rc, took = gw.stop()
		shutil.rmtree(gw.plugdir, ignore_errors=True)
	res["daemon_exit"] = rc
	res["daemon_stop_s"] = round(took, 2)
	if rc != 0:
		res["problems"].append(f"daemon exit code {rc} (log kept: {gw.log_path})")
	else:
		gw.cleanup()
	print(json.dumps(res, indent=1))
	if args.json:
		Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
	sys.exit(1 if res["problems"] else 0)


if __name__ == "__main__":
	main()
