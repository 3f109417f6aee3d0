#!/usr/bin/python3
"""Load-independent cost of the forwarding path: Cardea under
valgrind --tool=callgrind, forwarding one cardea-load scenario, with
instruction collection switched on only for a steady window after every
peer joined.

    callgrind.py [--scenario a|c] [--subs N] [--seconds S] [--out FILE]

Prints user-space instructions (Ir) per forwarded packet: the window's total
Ir divided by the calls to cardea_ice_send (one per RTP/RTCP packet the
gateway sends), plus the inclusive Ir per call of the main steps of the send
path. The kernel's share (sendmsg, poll) is not in these figures; use
`perf stat -e raw_syscalls:sys_enter,context-switches -p PID` for that (the
script prints syscalls per sent packet when perf is there).

Environment as for bench.py (CARDEA_PREFIX, CARDEA_BUILD); the gateway and
the load tool are not pinned (valgrind serialises the gateway anyway).
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402

# Functions whose inclusive cost per call the report shows (when present).
STEPS = ["send_rtp_loop", "cardea_pc_relay_rtp", "cardea_srtp_protect_rtp", "cardea_ice_send",
	"cardea_pc_rtcp_rtp_out", "ring_drain", "g_main_context_iteration"]


def parse(path):
	"""Returns (total Ir, {fn: calls}, {fn: inclusive Ir}) from a callgrind
	out file (name compression: "(id) name" the first time, "(id)" after)."""
	names = {}
	calls = defaultdict(int)
	incl = defaultdict(int)
	total = 0
	fn = None
	cfn = None
	pending_call = False

	def name_of(spec):
		m = re.match(r"\((\d+)\)(?: (.*))?", spec)
		if not m:
			return spec
		if m.group(2):
			names[m.group(1)] = m.group(2)
		return names.get(m.group(1), spec)

	with open(path) as f:
		for line in f:
			line = line.rstrip("\n")
			if line.startswith("fn="):
				fn = name_of(line[3:])
			elif line.startswith("cfn="):
				cfn = name_of(line[4:])
			elif line.startswith("calls="):
				calls[cfn] += int(line[6:].split()[0])
				pending_call = True
			elif line.startswith("summary:") or line.startswith("totals:"):
				total = max(total, int(line.split()[1]))
			elif line and (line[0].isdigit() or line[0] in "+-*"):
				parts = line.split()
				ir = int(parts[1]) if len(parts) > 1 else 0
				if pending_call:
					incl[cfn] += ir      # the cost line after calls= is the callee's inclusive cost
					pending_call = False
			elif line.startswith(("fl=", "fi=", "fe=", "ob=", "cob=", "cfi=", "cfl=")):
				pass
	return total, calls, incl


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--scenario", default="a", choices=["a", "c"])
	ap.add_argument("--subs", type=int, default=10)
	ap.add_argument("--seconds", type=int, default=10)
	ap.add_argument("--out", default=None, help="keep the callgrind file here")
	args = ap.parse_args()
	if not shutil.which("valgrind"):
		print("valgrind is not installed", file=sys.stderr)
		return 2
	gw = bench.BenchGateway(flavor="cardea", debug_level=2, session_timeout=300)
	cg = gw.dir / "callgrind.out"
	gw.wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={cg}"]
	gw.start(wait=False)
	try:
		gw.wait_ready(timeout=120)
		warm = 8 + args.subs // 3
		load_json = gw.dir / "load.json"
		load = subprocess.Popen([str(bench.LOAD), "--url", gw.ws_url, "--duration", str(warm + args.seconds + 4),
			"--warmup", "1", "--ramp", "20", "--join-timeout", "120", "--json", str(load_json),
			"--gateway-pid", str(gw.pid)] + bench.SCENARIOS[args.scenario][1](args.subs),
			stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
		time.sleep(warm)
		subprocess.run(["callgrind_control", "-i", "on", str(gw.pid)], check=True, stdout=subprocess.DEVNULL)
		perf = None
		if shutil.which("perf"):
			perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter,context-switches",
				"-p", str(gw.pid), "--", "sleep", str(args.seconds)], stdout=subprocess.DEVNULL,
				stderr=subprocess.PIPE, text=True)
		time.sleep(args.seconds)
		subprocess.run(["callgrind_control", "-i", "off", str(gw.pid)], check=True, stdout=subprocess.DEVNULL)
		perf_out = perf.communicate(timeout=30)[1] if perf else ""
		_, err = load.communicate(timeout=300)
		res = json.loads(load_json.read_text()) if load_json.exists() else {}
	finally:
		gw.stop(timeout=60)
		time.sleep(1)
	if not cg.exists():
		print(f"no callgrind output:\n{gw.log_tail(40)}", file=sys.stderr)
		gw.cleanup()
		return 1
	total, calls, incl = parse(cg)
	if args.out:
		shutil.copy(cg, args.out)
	gw.cleanup()
	sends = calls.get("cardea_ice_send", 0)
	print(f"scenario {args.scenario} subs={args.subs} window={args.seconds}s: peers complete "
		f"{res.get('subscribers_complete')}/{res.get('subscriber_pcs')}, loss {res.get('loss_pct')}%")
	print(f"total Ir {total:,}; cardea_ice_send calls {sends:,}; "
		f"Ir per sent packet {total / sends:,.0f}" if sends else f"total Ir {total:,}; no sends")
	for s in STEPS:
		if calls.get(s):
			print(f"  {s:28} calls {calls[s]:>9,}  incl Ir/call {incl[s] / calls[s]:>9,.0f}")
	for line in perf_out.splitlines():
		parts = line.split(",")
		if len(parts) > 2 and parts[0].strip().isdigit() and sends:
			print(f"  {parts[2]:28} {int(parts[0]):>9,}  per sent packet {int(parts[0]) / sends:.3f}")
	return 0


if __name__ == "__main__":
	sys.exit(main())
