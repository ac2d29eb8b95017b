"""Runs wrk with one of the scripts in bench/wrk/ and reads the `BENCH {json}` line they print."""
import json
import pathlib
import secrets
import subprocess
from dataclasses import dataclass

SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / "wrk"


@dataclass
class WrkResult:
    requests: int
    seconds: float
    bytes: int
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    connections: int
    cpu: dict = None  # percent of one core per process group, filled by the caller

    @property
    def rps(self):
        return self.requests / self.seconds

    @property
    def mb_per_s(self):
        """Bytes received per second, unfinished responses included."""
        return self.bytes / self.seconds / 1e6

    @property
    def failures(self):
        """Why the run does not count, or None."""
        problems = []
        if self.non_2xx:
            problems.append(f"{self.non_2xx} non-2xx")
        if self.socket_errors:
            problems.append(f"{self.socket_errors} socket errors")
        if self.bytes == 0:
            # Bytes, not requests: 64 parallel downloads of a large file may all still be under
            # way when the run ends, and wrk counts the bytes of unfinished responses too.
            problems.append("no response bytes")
        return ", ".join(problems) or None


def run(url, script, seconds, connections, args=(), timeout_s=10):
    """wrk against `url` for `seconds` (whole seconds, at least 1) with `connections`."""
    threads = max(1, min(2, connections))
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s}s", "--latency", "-s", str(SCRIPTS / script), url]
    if args:
        argv += ["--", *args]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    line = next((l for l in out.splitlines() if l.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no BENCH line:\n{out}")
    r = json.loads(line[len("BENCH "):])
    # Reads count as 2xx in wrk unless a script counts them; statuses > 399 always count.
    non_2xx = max(r["non_2xx"], r["status_errors"])
    return WrkResult(
        requests=r["requests"], seconds=r["duration_us"] / 1e6, bytes=r["bytes"], non_2xx=non_2xx,
        socket_errors=r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"],
        p50_ms=r["p50_us"] / 1e3, p90_ms=r["p90_us"] / 1e3, p99_ms=r["p99_us"] / 1e3,
        max_ms=r["max_us"] / 1e3, connections=connections)


def create_args(site, token):
    """Arguments of create.lua: site, token and a fresh salt so hashes differ between runs."""
    return [site, token, secrets.token_hex(4)]
