#!/usr/bin/env python3
"""Runs the benchmark scenarios S1-S6 side by side: mcpgw, the paths without a gateway (the
floors) and the npm peers that do the same job, in one invocation on one machine, and prints a
table per scenario with the differences and ratios to the floor and to the best peer.

Every measurement is one `mcpgw-load` run (bench/load_client_main.cc, --json). The paths of a
scenario are run one after the other, in rounds (the order rotates each round), and each
figure is the median over the rounds, so slow drifts of a noisy machine hit every path alike.
See docs/BENCHMARKS.md ("Side by side") for the method and a complete run.

Started by bench/run.sh, which builds the binaries and installs the peers first:
  bench/compare.py --bin-dir build/release --node-bin tests/e2e/node_modules/.bin [--smoke]
"""

import argparse
import json
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

KIB_PER_MIB = 1024.0


class BenchError(Exception):
    """A path that cannot be measured: the message says which and why."""


# --- Processes -----------------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, name, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with code {proc.returncode} before it listened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


class Server:
    """A server under test, started in its own process group and stopped with the group."""

    def __init__(self, name, argv, env, port=None, url_pattern=None, path="/mcp", workdir=None):
        self.name = name
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=workdir)
        try:
            if url_pattern is not None:
                self.url = self._wait_for_line(url_pattern)
            else:
                wait_for_port(port, self.proc, name)
                self.url = f"http://127.0.0.1:{port}{path}"
        except BenchError:
            self.stop()
            raise

    def _wait_for_line(self, pattern, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.log.seek(0)
            m = re.search(pattern, self.log.read().decode(errors="replace"))
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with code {self.proc.returncode}: "
                                 f"{self.output()[-500:]}")
            time.sleep(0.05)
        raise BenchError(f"{self.name} printed no URL within {timeout:.0f} s")

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self.log.close()


# --- The bench -----------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        b = args.bin_dir
        self.load = os.path.join(b, "bench", "mcpgw-load")
        self.mcpgw = os.path.join(b, "apps", "mcpgw", "mcpgw")
        self.fixture = os.path.join(b, "apps", "mcp-fixture-server", "mcp-fixture-server")
        for f in (self.load, self.mcpgw, self.fixture):
            if not os.access(f, os.X_OK):
                raise BenchError(f"{f} is missing: build it first (bench/run.sh does)")
        self.node_bin = args.node_bin
        self.env = dict(os.environ)
        # Node 22 of the pinned kit first; peers print nothing on a terminal they do not own.
        self.env["PATH"] = self.node_bin + os.pathsep + self.env.get("PATH", "")
        self.tmp = tempfile.mkdtemp(prefix="mcpgw-bench-")
        # mcpgw's state (instance locks) and the peers' files stay in the scratch directory.
        for var in ("XDG_RUNTIME_DIR", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
                    "HOME"):
            d = os.path.join(self.tmp, var.lower())
            os.makedirs(d, mode=0o700, exist_ok=True)
            self.env[var] = d
        self.rounds = 1 if self.smoke else args.rounds
        self.results = {}  # scenario -> rows, for --json-out
        self.failures = []

    def peer(self, name):
        path = os.path.join(self.node_bin, name)
        if not os.access(path, os.X_OK):
            raise BenchError(f"peer '{name}' is not installed in {self.node_bin} "
                             "(run `npm ci` in tests/e2e; bench/run.sh does)")
        return path

    def run_load(self, target_args, *, sessions=1, inflight=1, calls=None, duration=None,
                 tool="echo", tool_args=None, method="tools/call", pid=None, timeout=120):
        argv = [self.load, "--json", "--sessions", str(sessions), "--inflight", str(inflight),
                "--method", method, "--tool", tool,
                "--args", json.dumps(tool_args if tool_args is not None else {"message": "hi"}),
                "--timeout", "60"]
        if duration is not None:
            argv += ["--duration", str(duration)]
        else:
            argv += ["--calls", str(calls if calls is not None else 1)]
        if pid is not None:
            argv += ["--pid", str(pid)]
        argv += target_args
        try:
            done = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"mcpgw-load did not finish within {timeout} s: "
                             f"{shlex.join(argv)}") from None
        if done.returncode not in (0, 1) or not done.stdout.strip():
            raise BenchError(f"mcpgw-load failed (exit {done.returncode}): "
                             f"{done.stderr.strip()[-600:]}\n  command: {shlex.join(argv)}")
        report = json.loads(done.stdout.strip().splitlines()[-1])
        needed_ok = 0 if calls == 0 else 1
        if (report["errors"]["count"] > 0 or report["calls"]["ok"] < needed_ok or
                report["sessions"]["established"] < sessions):
            first = "; ".join(report["errors"]["first"]) or "no call succeeded"
            raise BenchError(f"{report['errors']['count']} error(s): {first}\n  command: "
                             f"{shlex.join(argv)}")
        return report

    # Paths ---------------------------------------------------------------------------------

    def fixture_cmd(self, extra=()):
        return [self.fixture, *extra]

    def command_flags(self, n, extra=()):
        """mcpgw run's flags for n fixture servers, fx0 … fx(n-1)."""
        flags = []
        for i in range(n):
            flags += ["--command", f"fx{i}={shlex.join(self.fixture_cmd(extra))}"]
        return flags

    def stdio_target(self, path, fixture_extra=()):
        if path == "direct":
            return ["--stdio", "--", *self.fixture_cmd(fixture_extra)]
        if path == "mcpgw":
            return ["--stdio", "--", self.mcpgw, "run", "--log-level", "warn", "--command",
                    "fx=" + shlex.join(self.fixture_cmd(fixture_extra))]
        raise ValueError(path)

    def start_http(self, path, fixture_extra=()):
        fixture = self.fixture_cmd(fixture_extra)
        if path == "fixture --http":
            return Server(path, [*fixture, "--http", "0"], self.env,
                          url_pattern=r"listening on (http://\S+)")
        if path == "mcpgw":
            return Server(path, [self.mcpgw, "run", "--transport", "http", "--port", "0",
                                 "--log-level", "warn", "--command", "fx=" + shlex.join(fixture)],
                          self.env, url_pattern=r"listening on (http://\S+)")
        port = free_port()
        if path == "supergateway":
            return Server(path, [self.peer("supergateway"), "--stdio", shlex.join(fixture),
                                 "--outputTransport", "streamableHttp", "--stateful",
                                 "--port", str(port), "--logLevel", "none"], self.env, port=port)
        if path == "mcp-proxy":
            return Server(path, [self.peer("mcp-proxy"), "--host", "127.0.0.1", "--port",
                                 str(port), "--", *fixture], self.env, port=port)
        if path == "mcp-hub":
            return self.start_hub({"fx": fixture}, port)
        raise ValueError(path)

    def start_hub(self, servers, port):
        config = os.path.join(self.tmp, f"mcp-hub-{port}.json")
        with open(config, "w") as f:
            json.dump({"mcpServers": {name: {"command": cmd[0], "args": cmd[1:]}
                                      for name, cmd in servers.items()}}, f)
        # Its MCP endpoint is the legacy HTTP+SSE transport: GET /mcp, POST /messages.
        hub = Server("mcp-hub", [self.peer("mcp-hub"), "--port", str(port), "--config", config],
                     self.env, port=port)
        # It listens before its servers are connected: wait until /api/health says all are.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                out = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/api/health"],
                                     capture_output=True, text=True, timeout=5).stdout
                health = json.loads(out) if out else {}
                listed = health.get("servers", [])
                if (len(listed) == len(servers) and
                        all(s.get("status") == "connected" for s in listed)):
                    return hub
            except (json.JSONDecodeError, subprocess.TimeoutExpired):
                pass
            time.sleep(0.1)
        hub.stop()
        raise BenchError(f"mcp-hub did not connect its {len(servers)} server(s) within 60 s")

    def hub_tool(self, tool):
        # mcp-hub names each server's tools SERVER__TOOL.
        return f"fx__{tool}"

    @staticmethod
    def url_args(server):
        if server.name == "mcp-hub":
            return ["--url", server.url, "--http-transport", "sse"]
        return ["--url", server.url]

    def measure_http(self, path, fixture_extra=(), tool="echo", **load):
        server = self.start_http(path, fixture_extra)
        try:
            return self.run_load(self.url_args(server), pid=server.proc.pid,
                                 tool=self.hub_tool(tool) if path == "mcp-hub" else tool, **load)
        finally:
            server.stop()

    def rounds_of(self, paths, measure):
        """Runs measure(path) for every path, self.rounds times (rotating the order); returns
        path -> list of reports. A path that fails is reported and left out."""
        out = {p: [] for p in paths}
        broken = {}
        for r in range(self.rounds):
            order = paths[r % len(paths):] + paths[:r % len(paths)]
            for p in order:
                if p in broken:
                    continue
                try:
                    out[p].append(measure(p))
                except BenchError as e:
                    broken[p] = str(e)
        for p, why in broken.items():
            self.fail(f"{p}: {why}")
            del out[p]
        return out

    def fail(self, message):
        self.failures.append(message)
        print(f"  FAILED {message}", file=sys.stderr, flush=True)

    # Scenarios -----------------------------------------------------------------------------

    HTTP_PATHS = ["fixture --http", "mcpgw", "supergateway", "mcp-proxy", "mcp-hub"]
    HTTP_PEERS = ["supergateway", "mcp-proxy", "mcp-hub"]

    def s1(self):
        # Each round of the fast paths lasts about a second (shorter ones were at the mercy of
        # this machine's noise); the peers, 10× slower, get fewer calls for the same time.
        calls_stdio = 20 if self.smoke else 20000
        fast_http = ("fixture --http", "mcpgw")
        stdio = self.rounds_of(["direct", "mcpgw"], lambda p: self.run_load(
            self.stdio_target(p), calls=calls_stdio))
        http = self.rounds_of(self.HTTP_PATHS, lambda p: self.measure_http(
            p, calls=20 if self.smoke else 4000 if p in fast_http else 1000))
        rows = []
        for kind, res, floor in (("stdio", stdio, "direct"), ("HTTP", http, "fixture --http")):
            for p, reports in res.items():
                p50 = med(reports, "latency_us", "p50")
                p99 = med(reports, "latency_us", "p99")
                calls = reports[0]["calls"]["ok"]
                rows.append({
                    "transport": kind, "path": p, "p50_us": p50, "p99_us": p99,
                    "added_p50_us": p50 - med(res[floor], "latency_us", "p50") if floor in res else None,
                    "added_p99_us": p99 - med(res[floor], "latency_us", "p99") if floor in res else None,
                    "target_cpu_us_per_call": 1e6 * med_cpu(reports) / calls,
                    "client_cpu_us_per_call": 1e6 * med(reports, "client_cpu_s", "calls") / calls,
                })
        self.table("S1 added latency: sequential `echo` calls", rows, [
            ("transport", "transport", "{}"), ("path", "path", "{}"),
            ("p50 µs", "p50_us", "{:.0f}"), ("p99 µs", "p99_us", "{:.0f}"),
            ("added p50 µs", "added_p50_us", "{:.0f}"), ("added p99 µs", "added_p99_us", "{:.0f}"),
            ("server CPU µs/call", "target_cpu_us_per_call", "{:.0f}"),
            ("client CPU µs/call", "client_cpu_us_per_call", "{:.0f}")])
        self.ratio_lines("S1", rows, "added_p50_us", lower_is_better=True,
                         label="added p50 latency")
        return rows

    def s2(self):
        duration = None if self.smoke else 2
        calls = 10 if self.smoke else None
        rows = []
        for inflight in (1, 16, 64):
            sessions_http = {1: 1, 16: 4, 64: 8}[inflight]
            per_session = inflight // sessions_http
            stdio = self.rounds_of(["direct", "mcpgw"], lambda p: self.run_load(
                self.stdio_target(p), inflight=inflight, calls=calls, duration=duration))
            http = self.rounds_of(self.HTTP_PATHS, lambda p: self.measure_http(
                p, sessions=sessions_http, inflight=per_session, calls=calls, duration=duration))
            for kind, res, floor, shape in (
                    ("stdio", stdio, "direct", f"1×{inflight}"),
                    ("HTTP", http, "fixture --http", f"{sessions_http}×{per_session}")):
                for p, reports in res.items():
                    rate = med(reports, "calls_per_second")
                    wall = med(reports, "wall_s", "calls")
                    rows.append({
                        "transport": kind, "in_flight": inflight, "shape": shape, "path": p,
                        "calls_per_s": rate,
                        "of_floor": rate / med(res[floor], "calls_per_second") if floor in res else None,
                        "p50_us": med(reports, "latency_us", "p50"),
                        "target_cpu_share": med_cpu(reports) / wall if wall > 0 else 0,
                    })
        self.table("S2 throughput: calls/s with 1, 16 and 64 calls in flight", rows, [
            ("transport", "transport", "{}"), ("in flight", "in_flight", "{}"),
            ("sessions×in flight", "shape", "{}"), ("path", "path", "{}"),
            ("calls/s", "calls_per_s", "{:.0f}"), ("of floor", "of_floor", "{:.2f}"),
            ("p50 µs", "p50_us", "{:.0f}"), ("server CPU (cores)", "target_cpu_share", "{:.2f}")])
        for inflight in (1, 16, 64):
            self.ratio_lines(f"S2 at {inflight} in flight",
                             [r for r in rows if r["in_flight"] == inflight], "calls_per_s",
                             lower_is_better=False, label="calls/s")
        return rows

    def s3(self):
        counts = (2, 3) if self.smoke else (10, 50)
        rows = []

        def mcpgw_stdio(n, connect):
            cmds = self.command_flags(n)
            r = self.run_load(["--stdio", "--", self.mcpgw, "run", "--log-level", "warn", *cmds],
                              method="tools/list", calls=1 if connect else 0)
            return r["target"]["rss_end_kib"]

        def mcpgw_http(n, connect):
            cmds = self.command_flags(n)
            server = Server("mcpgw", [self.mcpgw, "run", "--transport", "http", "--port", "0",
                                      "--log-level", "warn", *cmds], self.env,
                            url_pattern=r"listening on (http://\S+)")
            try:
                r = self.run_load(["--url", server.url], pid=server.proc.pid,
                                  method="tools/list", calls=1 if connect else 0)
                return r["target"]["rss_end_kib"]
            finally:
                server.stop()

        def hub(n, _connect):
            # mcp-hub connects every server at its start: there is no idle state with servers.
            server = self.start_hub({f"fx{i}": [self.fixture] for i in range(n)}, free_port())
            try:
                r = self.run_load(self.url_args(server), pid=server.proc.pid,
                                  method="tools/list", calls=1)
                return r["target"]["rss_end_kib"]
            finally:
                server.stop()

        for name, fn, idle_ok in (("mcpgw (stdio)", mcpgw_stdio, True),
                                  ("mcpgw (HTTP)", mcpgw_http, True),
                                  ("mcp-hub (HTTP)", hub, False)):
            try:
                idle = [fn(counts[0], False) for _ in range(self.rounds)] if idle_ok else None
                small = [fn(counts[0], True) for _ in range(self.rounds)]
                large = [fn(counts[1], True) for _ in range(self.rounds)]
            except BenchError as e:
                self.fail(f"S3 {name}: {e}")
                continue
            small_m, large_m = statistics.median(small), statistics.median(large)
            rows.append({
                "path": name,
                "idle_mib": statistics.median(idle) / KIB_PER_MIB if idle else None,
                f"with_{counts[0]}_mib": small_m / KIB_PER_MIB,
                f"with_{counts[1]}_mib": large_m / KIB_PER_MIB,
                "per_upstream_kib": (large_m - small_m) / (counts[1] - counts[0]),
            })
        self.table(f"S3 memory: RSS of the gateway process (upstreams not counted), idle and with "
                   f"{counts[0]} and {counts[1]} upstreams connected", rows, [
                       ("gateway", "path", "{}"), ("idle MiB", "idle_mib", "{:.1f}"),
                       (f"{counts[0]} upstreams MiB", f"with_{counts[0]}_mib", "{:.1f}"),
                       (f"{counts[1]} upstreams MiB", f"with_{counts[1]}_mib", "{:.1f}"),
                       ("KiB per upstream", "per_upstream_kib", "{:.0f}")])
        return rows

    def s4(self):
        n = 3 if self.smoke else 50
        calls = 5 if self.smoke else 300
        extra = ["--extra-tools", str(20 - self.base_tools())]
        rows = []

        def slowest_start(log_text):
            """The longest "upstream X: ready in N ms" mcpgw logged (info level), or None."""
            took = [float(m) for m in re.findall(r"ready in ([0-9.]+) ms", log_text)]
            return max(took) if took else None

        def measure(path, servers):
            report = measure_listing(path, servers)
            if report["listed_items"] != servers * 20:
                raise BenchError(f"listed {report['listed_items']} tools of {servers * 20}")
            return report

        def measure_listing(path, servers):
            if path == "mcpgw (stdio)":
                cmds = self.command_flags(servers, extra)
                with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
                    # mcpgw's stderr (its log) to a file, to read how long each start took.
                    report = self.run_load(
                        ["--stdio", "--", "sh", "-c", f'exec "$@" 2>{shlex.quote(log.name)}', "sh",
                         self.mcpgw, "run", "--log-level", "info", *cmds],
                        method="tools/list", calls=calls)
                    report["slowest_start_ms"] = slowest_start(log.read())
                return report
            if path == "mcpgw (HTTP)":
                cmds = self.command_flags(servers, extra)
                server = Server(path, [self.mcpgw, "run", "--transport", "http", "--port", "0",
                                       "--log-level", "info", *cmds], self.env,
                                url_pattern=r"listening on (http://\S+)")
            else:
                server = self.start_hub({f"fx{i}": self.fixture_cmd(extra)
                                         for i in range(servers)}, free_port())
            try:
                report = self.run_load(self.url_args(server), pid=server.proc.pid,
                                       method="tools/list", calls=calls)
                report["slowest_start_ms"] = (slowest_start(server.output())
                                              if path == "mcpgw (HTTP)" else None)
                return report
            finally:
                server.stop()

        for servers in (1, n):
            res = self.rounds_of(["mcpgw (stdio)", "mcpgw (HTTP)", "mcp-hub"],
                                 lambda p: measure(p, servers))
            for p, reports in res.items():
                rows.append({
                    "path": p, "servers": servers, "tools": reports[0]["listed_items"],
                    "first_ms": med(reports, "first_call_latency_us", "p50") / 1e3,
                    "cached_p50_ms": med(reports, "latency_us", "p50") / 1e3,
                    "cached_p99_ms": med(reports, "latency_us", "p99") / 1e3,
                    "slowest_start_ms": (med(reports, "slowest_start_ms")
                                         if all(r["slowest_start_ms"] is not None
                                                for r in reports) else None),
                })
        self.table(f"S4 aggregation: tools/list over {n} upstreams × 20 tools — the first (servers "
                   "starting) and cached (p50/p99 of the following)", rows, [
                       ("path", "path", "{}"), ("servers", "servers", "{}"),
                       ("tools", "tools", "{}"), ("first ms", "first_ms", "{:.1f}"),
                       ("slowest start ms", "slowest_start_ms", "{:.1f}"),
                       ("cached p50 ms", "cached_p50_ms", "{:.3f}"),
                       ("cached p99 ms", "cached_p99_ms", "{:.3f}")])
        for p in ("mcpgw (stdio)", "mcpgw (HTTP)", "mcp-hub"):
            one = [r for r in rows if r["path"] == p and r["servers"] == 1]
            many = [r for r in rows if r["path"] == p and r["servers"] == n]
            if one and many:
                print(f"  {p}: the first listing of {n} servers took "
                      f"{many[0]['first_ms'] / one[0]['first_ms']:.1f}× that of one server")
                if many[0]["slowest_start_ms"]:
                    print(f"  {p}: the first listing of {n} servers took "
                          f"{many[0]['first_ms'] - many[0]['slowest_start_ms']:.1f} ms more than "
                          f"the slowest of their starts ({many[0]['slowest_start_ms']:.1f} ms)")
        return rows

    def base_tools(self):
        """The fixture's own tools (those besides --extra-tools)."""
        report = self.run_load(["--stdio", "--", self.fixture], method="tools/list", calls=1)
        return report["listed_items"]

    def s5(self):
        if self.args.skip_docker:
            print("\n### S5 cold start: skipped (no Docker engine)")
            return []
        if not self.docker_ok():
            return []
        image = "mcpgw-test/fixture:latest"
        profile = os.path.join(self.tmp, "cold.yaml")
        with open(profile, "w") as f:
            f.write(f"version: 1\nname: bench-cold\nservers:\n  bench-fx:\n    image: {image}\n")
        rounds = 1 if self.smoke else max(self.rounds, 5)
        paths = {
            "docker run -i + client": ["--stdio", "--", "docker", "run", "-i", "--rm",
                                       "--label", "io.mcpgw.bench=compare", image],
            "mcpgw run (container on demand)": ["--stdio", "--", self.mcpgw, "run",
                                                "--log-level", "warn", "--profile", profile],
        }
        saved = self.rounds
        self.rounds = rounds
        res = self.rounds_of(list(paths), lambda p: self.run_load(paths[p], calls=1))
        self.rounds = saved
        rows = []
        floor = "docker run -i + client"
        for p, reports in res.items():
            total = med(reports, "wall_s", "total") * 1e3
            rows.append({
                "path": p, "total_ms": total,
                "initialize_ms": med(reports, "connect_latency_us", "p50") / 1e3,
                "first_call_ms": med(reports, "first_call_latency_us", "p50") / 1e3,
                "of_floor": total / (med(res[floor], "wall_s", "total") * 1e3) if floor in res else None,
            })
        self.table("S5 cold start: from launch to the first `echo` answer of a container not yet "
                   "running", rows, [
                       ("path", "path", "{}"), ("launch → answer ms", "total_ms", "{:.0f}"),
                       ("initialize ms", "initialize_ms", "{:.0f}"),
                       ("first call ms", "first_call_ms", "{:.0f}"),
                       ("× docker run -i", "of_floor", "{:.2f}")])
        return rows

    def docker_ok(self):
        ok = subprocess.run(["docker", "image", "inspect", "mcpgw-test/fixture:latest"],
                            capture_output=True).returncode == 0
        if not ok:
            self.fail("S5: no Docker engine, or the image mcpgw-test/fixture:latest is missing "
                      "(tests/docker/build-test-images.sh builds it; bench/run.sh does)")
        return ok

    def s6(self):
        calls = 2 if self.smoke else 30
        size = 1 << 20
        args = {"bytes": size}
        stdio = self.rounds_of(["direct", "mcpgw"], lambda p: self.run_load(
            self.stdio_target(p), calls=calls, tool="large_result", tool_args=args))
        http = self.rounds_of(self.HTTP_PATHS, lambda p: self.measure_http(
            p, calls=calls, tool="large_result", tool_args=args))
        rows = []
        for kind, res, floor in (("stdio", stdio, "direct"), ("HTTP", http, "fixture --http")):
            for p, reports in res.items():
                p50 = med(reports, "latency_us", "p50")
                rows.append({
                    "transport": kind, "path": p, "p50_ms": p50 / 1e3,
                    "p99_ms": med(reports, "latency_us", "p99") / 1e3,
                    "added_p50_ms": (p50 - med(res[floor], "latency_us", "p50")) / 1e3 if floor in res else None,
                    "mib_per_s": (size / (1 << 20)) / (p50 / 1e6),
                    "peak_rss_mib": med(reports, "target", "peak_rss_kib") / KIB_PER_MIB,
                })
        self.table("S6 payload: a 1 MiB tool result, sequential calls", rows, [
            ("transport", "transport", "{}"), ("path", "path", "{}"),
            ("p50 ms", "p50_ms", "{:.2f}"), ("p99 ms", "p99_ms", "{:.2f}"),
            ("added p50 ms", "added_p50_ms", "{:.2f}"), ("MiB/s", "mib_per_s", "{:.0f}"),
            ("server peak RSS MiB", "peak_rss_mib", "{:.1f}")])
        self.ratio_lines("S6", rows, "added_p50_ms", lower_is_better=True,
                         label="added p50 latency")
        return rows

    # Printing ------------------------------------------------------------------------------

    def table(self, title, rows, columns):
        print(f"\n### {title}\n")
        print("| " + " | ".join(c[0] for c in columns) + " |")
        print("|" + "|".join(" --- " for _ in columns) + "|")
        for r in rows:
            cells = []
            for _, key, fmt in columns:
                v = r.get(key)
                cells.append("–" if v is None else fmt.format(v))
            print("| " + " | ".join(cells) + " |")
        sys.stdout.flush()

    def ratio_lines(self, scenario, rows, key, lower_is_better, label):
        """mcpgw against the best peer, per transport."""
        for kind in ("stdio", "HTTP"):
            mine = [r for r in rows if r.get("transport") == kind and r["path"] == "mcpgw"]
            peers = [r for r in rows if r.get("transport") == kind and
                     r["path"] in self.HTTP_PEERS and r.get(key) is not None]
            if not mine or not peers or mine[0].get(key) is None:
                continue
            pick = min if lower_is_better else max
            best = pick(peers, key=lambda r: r[key])
            a, b = mine[0][key], best[key]
            if lower_is_better:
                ratio = b / a if a > 0 else float("inf")
                print(f"  {scenario} {kind}: mcpgw {label} {a:.1f} vs best peer {best['path']} "
                      f"{b:.1f}: {ratio:.1f}× less")
            else:
                print(f"  {scenario} {kind}: mcpgw {label} {a:.0f} vs best peer {best['path']} "
                      f"{b:.0f}: {a / b:.1f}×")


def med(reports, *keys):
    values = []
    for r in reports:
        v = r
        for k in keys:
            v = v[k]
        values.append(v)
    return statistics.median(values)


def med_cpu(reports):
    return statistics.median(r["target"]["cpu_s"]["calls"] for r in reports)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", required=True, help="a CMake build directory (release)")
    parser.add_argument("--node-bin", required=True, help="node_modules/.bin of the pinned kit")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny counts, one round: proves every path works")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per scenario (median)")
    parser.add_argument("--scenarios", default="S1,S2,S3,S4,S5,S6")
    parser.add_argument("--json-out", help="also write every figure as JSON here")
    parser.add_argument("--skip-docker", action="store_true",
                        help="no Docker engine here: S5 is skipped (not failed)")
    args = parser.parse_args()
    try:
        bench = Bench(args)
    except BenchError as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 2
    started = time.monotonic()
    wanted = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    for s in wanted:
        fn = getattr(bench, s.lower(), None)
        if fn is None or not re.fullmatch(r"S[1-6]", s):
            print(f"compare.py: unknown scenario '{s}' (S1 … S6)", file=sys.stderr)
            return 2
        t = time.monotonic()
        try:
            bench.results[s] = fn()
        except BenchError as e:
            bench.fail(f"{s}: {e}")
        print(f"  ({s}: {time.monotonic() - t:.0f} s)", flush=True)
    print(f"\nAll scenarios: {time.monotonic() - started:.0f} s")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(bench.results, f, indent=1)
    if bench.failures:
        print(f"\n{len(bench.failures)} path(s) failed:", file=sys.stderr)
        for f in bench.failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
