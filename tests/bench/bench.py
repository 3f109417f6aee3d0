#!/usr/bin/python3
"""Side-by-side benchmark: Cardea vs Debian's Janus 1.1.2, both running their
videoroom on loopback with equivalent settings, driven by cardea-load.

    bench.py SCENARIO [N] [SECONDS]       SCENARIO: a b c d all; N "-" = the defaults
    bench.py --profile [SCENARIO] N SECONDS OUT
                                          perf record of Cardea alone (SCENARIO a if
                                          omitted); report in OUT, perf data in OUT.data;
                                          BENCH_PERF_CALLGRAPH=dwarf for call graphs
                                          through GLib, libnice and libc

Each (scenario, N) is run REPEAT times per gateway, alternating Janus and
Cardea (A/B/A/B...) so slow drift on a shared machine hits both; medians are
reported. The last line is
    cardea/janus cpu_per_pkt=R rss_per_sub=R max_subs=R p99_delay=R join=R

The gateways are started by tests/integration/gateway.py (the same config
translation the integration suite uses) plus the videoroom plugin.

Environment: CARDEA_PREFIX / CARDEA_BUILD (as for the integration tests),
BENCH_REPEAT (3), BENCH_GW_CPU / BENCH_LOAD_CPU (taskset CPU lists, default
"0" and "1": the gateway and the load tool on different cores; "" = not
pinned), BENCH_LOAD_THREADS (cardea-load worker threads, 2), BENCH_JSON
(a file to write every run's figures to), BENCH_TARGETS ("janus cardea";
also "cardea-nobatch": Cardea with CARDEA_SEND_BATCH=0, "cardea-nogso": with
CARDEA_SEND_GSO=0 (rounds, but one datagram per send), "cardea-poll": with
CARDEA_LOOP_EPOLL=0 (the media loops poll with GLib's poll()), "cardea-nodf":
with CARDEA_ICE_DF=0 (no DF bit, so the kernel picks an IP ID per datagram),
"cardea-nosendto": with CARDEA_SEND_SENDTO=0 (a lone datagram is a sendmsg
too), and "cardea-old": Cardea with the pre-optimisation send path, i.e. libsrtp
protect and nice_agent_send, set through the gateway's environment only, for
A/B runs of the same build; and "cardea-base": Cardea installed under
BENCH_BASE_PREFIX, e.g. a copy of an earlier `make install`, for A/B runs
of two trees).
"""

import json
import os
import shutil
import statistics
import subprocess
import urllib.parse
import urllib.request
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
import gateway  # noqa: E402

BUILD = Path(os.environ.get("CARDEA_BUILD", HERE.parents[1] / "_build"))
LOAD = Path(os.environ.get("CARDEA_LOAD", BUILD / "tests" / "bench" / "cardea-load"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
GW_CPU = os.environ.get("BENCH_GW_CPU", "0")
LOAD_CPU = os.environ.get("BENCH_LOAD_CPU", "1")
TARGETS = os.environ.get("BENCH_TARGETS", "janus cardea").split()
LOAD_THREADS = os.environ.get("BENCH_LOAD_THREADS", "2")
BASE_PREFIX = os.environ.get("BENCH_BASE_PREFIX")
LOSS_OK = 0.5   # percent: "held" means less loss than this
SKIP_OK = 2.0   # percent of publisher frames cardea-load may skip before a run is load-bound
# Gateway-only environment per target (the load tool keeps its own).
TARGET_ENV = {
	"cardea-old": {"CARDEA_SRTP_LIBSRTP": "1", "CARDEA_ICE_NICE_SEND": "1"},
	"cardea-nobatch": {"CARDEA_SEND_BATCH": "0"},   # one sendto per packet (send-batch.h)
	"cardea-nogso": {"CARDEA_SEND_GSO": "0"},       # io_uring rounds, one datagram per send
	"cardea-poll": {"CARDEA_LOOP_EPOLL": "0"},      # media loops poll with GLib's poll(), not epoll
	"cardea-nodf": {"CARDEA_ICE_DF": "0"},          # no DF on the selected socket: an IP ID per datagram
	"cardea-nosendto": {"CARDEA_SEND_SENDTO": "0"}, # a lone datagram as a sendmsg, not a send with an address
}

# name: (default Ns, cardea-load arguments for N, what it is)
SCENARIOS = {
	"a": ([50, 100, 200, 400], lambda n: ["--publishers", "1", "--subscribers", str(n)],
		"1 publisher (1.5 Mbps VP8 + Opus) -> N subscribers"),
	"b": ([10], lambda n: ["--rooms", str(n), "--publishers", "6", "--subscribers", "0", "--mesh"],
		"N rooms x 6 participants, everyone publishes and subscribes to everyone"),
	"c": ([1000], lambda n: ["--publishers", "10", "--subscribers", str(n), "--audio-only"],
		"10 audio speakers + N audio-only listeners (each listener subscribes to all 10)"),
	"d": ([300], lambda n: ["--publishers", "1", "--subscribers", str(n), "--fps", "5",
			"--video-kbps", "800", "--video-pps", "80", "--keyframe", "10"],
		"screen share: 1 presenter (5 fps, 800 kbps, big keyframes) -> N viewers (broadcast plugin on Cardea, videoroom on Janus)"),
}
# Scenarios Cardea serves with its broadcast plugin (one presenter, many
# viewers) where Janus uses its videoroom, as the product would be deployed.
BROADCAST_ON_CARDEA = {"d"}


class BenchGateway(gateway.Gateway):
	"""gateway.Gateway plus the videoroom (and, on Cardea, broadcast) plugin, with quieter logs."""

	def _write_cardea(self):
		cmd = super()._write_cardea()
		for name in ("videoroom", "broadcast"):   # broadcast: scenario d
			so = gateway.PREFIX / "lib" / "cardea" / "plugins" / f"cardea_plugin_{name}.so"
			if not so.exists():
				raise gateway.GatewayError(f"missing {so}: Cardea's {name} plugin is not built/installed")
			if not (self.dir / "plugins" / so.name).exists():
				shutil.copy(so, self.dir / "plugins" / so.name)
		return cmd

	def _write_janus(self):
		cmd = super()._write_janus()
		# gateway.py may already provide the videoroom (newer versions do)
		link = self.dir / "plugins" / "libjanus_videoroom.so"
		if not link.exists():
			os.symlink(gateway.JANUS_LIBDIR / "plugins" / "libjanus_videoroom.so", link)
		cfg = self.dir / "janus.plugin.videoroom.jcfg"
		if not cfg.exists():
			cfg.write_text("general: {\n}\n")
		return cmd


def run_once(target, scen, n, seconds):
	gw = BenchGateway(flavor="cardea" if target.startswith("cardea") else target, debug_level=2,
		session_timeout=120, wrapper=["taskset", "-c", GW_CPU] if GW_CPU else [])
	extra = TARGET_ENV.get(target, {})
	saved = {k: os.environ.get(k) for k in extra}
	os.environ.update(extra)
	prefix = gateway.PREFIX
	if target == "cardea-base":
		if not BASE_PREFIX:
			raise RuntimeError("BENCH_TARGETS has cardea-base but BENCH_BASE_PREFIX is not set")
		gateway.PREFIX = Path(BASE_PREFIX)
	try:
		gw.start()
	finally:
		gateway.PREFIX = prefix
		for k, v in saved.items():
			if v is None:
				os.environ.pop(k, None)
			else:
				os.environ[k] = v
	try:
		out_json = gw.dir / "load.json"
		cmd = (["taskset", "-c", LOAD_CPU] if LOAD_CPU else []) + [str(LOAD), "--url", gw.ws_url,
			"--gateway-pid", str(gw.pid), "--duration", str(seconds), "--ramp", "100",
			"--json", str(out_json), "--join-timeout", "60", "--threads", LOAD_THREADS] + SCENARIOS[scen][1](n) + \
			(["--plugin", "cardea.plugin.broadcast"] if scen in BROADCAST_ON_CARDEA and target.startswith("cardea") else [])
		r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=seconds + 300)
		if not out_json.exists():
			raise RuntimeError(f"cardea-load failed ({r.returncode}):\n{r.stderr[-2000:]}")
		res = json.loads(out_json.read_text())
		res["alive"] = gw.alive()
		if target.startswith("cardea"):
			res["gateway_send"] = send_counters(gw)
		# why peers failed (cardea-load prints the first ten reasons)
		res["load_errors"] = [l for l in r.stderr.splitlines() if l.startswith("cardea-load:")][:10]
		return res
	finally:
		gw.cleanup()


def med(runs, key):
	vals = [r[key] for r in runs if r.get(key) is not None and r[key] >= 0]
	return statistics.median(vals) if vals else None


def fmt(v, digits=2):
	return "n/a" if v is None else f"{v:.{digits}f}"


def ratio(c, j):
	if c is None or j is None or j == 0:
		return "n/a"
	return f"{c / j:.2f}"


def send_counters(gw):
	"""Cardea's cardea_send_* counters from /metrics, without the prefix and
	"_total" ({} if /metrics could not be read)."""
	from test_metrics import parse   # the suite's Prometheus text parser
	q = urllib.parse.urlencode({"admin_secret": gw.admin_secret})
	try:
		with urllib.request.urlopen(f"http://127.0.0.1:{gw.admin_http_port}/metrics?{q}", timeout=5) as r:
			text = r.read().decode()
	except OSError:
		return {}
	return {name[len("cardea_send_"):].removesuffix("_total"): int(v)
		for (name, _labels), v in parse(text).items() if name.startswith("cardea_send_")}


def smoke(target, load_args):
	"""One short run with --expect-no-loss; returns cardea-load's exit code."""
	gw = BenchGateway(flavor=target, debug_level=3)
	gw.start()
	try:
		r = subprocess.run([str(LOAD), "--url", gw.ws_url, "--gateway-pid", str(gw.pid), "--expect-no-loss",
			"--ramp", "20"] + load_args, timeout=120)
		if not gw.alive():
			print(f"the gateway died:\n{gw.log_tail(40)}")
			return 1
		if r.returncode != 0:
			print(gw.log_tail(40))
			return r.returncode
		if target == "cardea":
			# The smoke shapes send video frames of 2 same-size packets: with
			# io_uring rounds (flushes) on, some must leave as GSO sends, and
			# the kernel must have refused none.
			c = send_counters(gw)
			print(f"# gateway sends: {c}")
			if not c:
				print("could not read the gateway's /metrics")
				return 1
			if c.get("batch_errors", 0) != 0:
				print("batched sends failed")
				return 1
			if c.get("batch_flushes", 0) > 0 and os.environ.get("CARDEA_SEND_GSO") != "0" and c.get("gso_packets", 0) == 0:
				print("no datagram left in a GSO send")
				return 1
		return 0
	finally:
		gw.cleanup()


def profile(scen, n, seconds, out):
	"""perf record -g of Cardea forwarding scenario `scen` at size N;
	writes perf's report (self time by symbol) to `out`."""
	gw = BenchGateway(flavor="cardea", debug_level=2, session_timeout=120,
		wrapper=["taskset", "-c", GW_CPU] if GW_CPU else [])
	gw.start()
	try:
		load = subprocess.Popen((["taskset", "-c", LOAD_CPU] if LOAD_CPU else []) + [str(LOAD), "--url", gw.ws_url,
			"--duration", str(seconds + 6), "--ramp", "100"] + SCENARIOS[scen][1](n),
			stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
		import time
		time.sleep(n / 100 + 6)   # joins and warm-up
		data = gw.dir / "perf.data"
		# BENCH_PERF_CALLGRAPH=dwarf: call graphs through libraries built
		# without frame pointers (GLib, libnice, libc), at a larger cost.
		graph = ["--call-graph", os.environ["BENCH_PERF_CALLGRAPH"], "-F", "400"] \
			if os.environ.get("BENCH_PERF_CALLGRAPH") else ["-g"]
		subprocess.run(["perf", "record"] + graph + ["-o", str(data), "-p", str(gw.pid), "--", "sleep", str(seconds)],
			stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
		load.wait(timeout=120)
		text = ""
		for sort, limit in (("dso", "0.5"), ("dso,symbol", "0.7")):
			rep = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", sort,
				"--stdio", "-g", "none", "--percent-limit", limit], stdout=subprocess.PIPE,
				stderr=subprocess.DEVNULL, text=True)
			text += rep.stdout
		Path(out).write_text(text)
		# Kept beside the report for call graphs (perf report -g -i OUT.data).
		shutil.copyfile(data, out + ".data")
		return 0
	finally:
		gw.cleanup()


def main():
	args = sys.argv[1:]
	if len(args) == 4 and args[0] == "--profile":
		return profile("a", int(args[1]), int(args[2]), args[3])
	if len(args) == 5 and args[0] == "--profile" and args[1] in SCENARIOS:
		return profile(args[1], int(args[2]), int(args[3]), args[4])
	if len(args) >= 2 and args[0] == "--smoke":
		return smoke(args[1], args[2:])
	if not args or args[0] not in list(SCENARIOS) + ["all"]:
		print(__doc__, file=sys.stderr)
		return 2
	scens = list(SCENARIOS) if args[0] == "all" else [args[0]]
	seconds = int(args[2]) if len(args) > 2 else 10
	all_runs = []
	summary = {t: {"cpu": [], "rss": [], "p50": [], "p99": [], "join": [], "ladder": []} for t in TARGETS}
	print(f"# machine: {os.cpu_count()} cores, gateway on CPU {GW_CPU}, cardea-load on CPU {LOAD_CPU}; "
		f"{REPEAT} alternating runs of {seconds} s each")
	print(f"{'scenario':10} {'gateway':10} {'subPCs':>6} {'pkt/s':>8} {'loss%':>7} {'cpu_us/pkt':>10} "
		f"{'rss_KB/sub':>10} {'p50_ms':>7} {'p99_ms':>7} {'join_p50':>8} {'join_p99':>8}")
	for scen in scens:
		# N "" or "-" = the scenario's default list
		ns = [int(args[1])] if len(args) > 1 and args[1] not in ("", "-") else SCENARIOS[scen][0]
		for n in ns:
			runs = {t: [] for t in TARGETS}
			for i in range(REPEAT):
				for t in TARGETS:
					try:
						res = run_once(t, scen, n, seconds)
					except Exception as e:   # a gateway that cannot run the scenario is reported, not fatal
						print(f"# {scen} N={n} {t}: {e}", file=sys.stderr)
						continue
					res.update(target=t, scenario=scen, n=n, run=i)
					runs[t].append(res)
					all_runs.append(res)
			for t in TARGETS:
				rs = runs[t]
				if not rs:
					print(f"{scen + ' N=' + str(n):10} {t:10} no successful run")
					continue
				pps = statistics.median([r["packets"] / r["window_s"] for r in rs])
				loss = med(rs, "loss_pct")
				row = dict(cpu=med(rs, "gateway_cpu_per_pkt_us"), rss=med(rs, "gateway_rss_per_sub_kb"),
					p50=med(rs, "delay_p50_ms"), p99=med(rs, "delay_p99_ms"), join=med(rs, "join_p50_ms"))
				print(f"{scen + ' N=' + str(n):10} {t:10} {med(rs, 'subscriber_pcs') or 0:6.0f} {pps:8.0f} "
					f"{fmt(loss, 3):>7} {fmt(row['cpu']):>10} {fmt(row['rss'], 1):>10} {fmt(row['p50'], 3):>7} "
					f"{fmt(row['p99'], 3):>7} {fmt(row['join'], 1):>8} {fmt(med(rs, 'join_p99_ms'), 1):>8}")
				for k in ("cpu", "rss", "p50", "p99", "join"):
					if row[k] is not None:
						summary[t][k].append(row[k])
				skip = med(rs, "publisher_skip_pct")
				if skip is not None and skip > SKIP_OK:
					# The publishers' timers ran late: the load tool set the
					# rate, so this size tells nothing of the gateway's limit.
					print(f"# {scen} N={n} {t}: cardea-load skipped {skip:.1f}% of the publishers' frames "
						"(its core was the limit); not counted for max_subs")
					summary[t]["ladder"].append((n, None))
				else:
					held = loss is not None and loss < LOSS_OK and all(
						r["subscribers_complete"] == r["subscriber_pcs"] for r in rs)
					summary[t]["ladder"].append((n, held))
	if os.environ.get("BENCH_JSON"):
		Path(os.environ["BENCH_JSON"]).write_text(json.dumps(all_runs, indent=1))

	def agg(t, k):
		if k == "held":
			# Largest N held with every smaller N tested held too, climbing
			# until the first size that failed or that the load tool could
			# not drive (then the figure is a lower bound).
			best = None
			for n, held in sorted(summary.get(t, {}).get("ladder", [])):
				if not held:
					break
				best = n
			return best
		v = summary.get(t, {}).get(k) or []
		return statistics.median(v) if v else None

	keys = (("cpu_per_pkt", "cpu"), ("rss_per_sub", "rss"), ("max_subs", "held"), ("p99_delay", "p99"), ("join", "join"))
	for base in ("cardea-old", "cardea-base", "cardea-nobatch"):   # A/B of this build's optimisations (not the issue's line)
		if base in TARGETS:
			print(f"cardea/{base} " + " ".join(f"{key}={ratio(agg('cardea', k), agg(base, k))}" for key, k in keys))
	parts = [f"{key}={ratio(agg('cardea', k), agg('janus', k))}" for key, k in keys]
	print("cardea/janus " + " ".join(parts))
	return 0


if __name__ == "__main__":
	sys.exit(main())
