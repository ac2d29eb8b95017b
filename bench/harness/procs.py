"""Child processes of a benchmark run, and what /proc says about them.

Every child is started in its own process group and registered, so `Children.stop_all` (called
from the harness's `finally`, also on SIGINT/SIGTERM) stops each group it started, and nothing
else. CPU time and resident memory are read from /proc: `pidstat` may not be installed, and the
harness wants numbers, not text.
"""
import os
import pathlib
import resource
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Child:
    """One started process (the leader of its own process group)."""

    def __init__(self, name, popen, log):
        self.name, self.popen, self.log = name, popen, log

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=15):
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        else:
            # The leader is gone; its group may not be (uvicorn's workers, weed's children).
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def log_tail(self, lines=20):
        try:
            return "\n".join(pathlib.Path(self.log).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Children:
    """The registry of everything this run started."""

    def __init__(self):
        self._children = []

    def start(self, name, argv, log, env=None, cwd=None, stdout=None):
        """Starts `argv` with stderr (and stdout, unless given) appended to `log`."""
        log_file = open(log, "ab")
        popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=stdout or log_file, stderr=log_file,
            env=env, cwd=cwd, start_new_session=True)
        log_file.close()
        child = Child(name, popen, log)
        self._children.append(child)
        return child

    def stop(self, child):
        child.stop()
        if child in self._children:
            self._children.remove(child)

    def stop_all(self):
        while self._children:
            self._children.pop().stop()


def free_port():
    """A port that was free on 127.0.0.1 a moment ago (the kernel's pick for port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, child, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{child.name} did not listen on {port} within {timeout} s")


def parent_pids():
    """pid -> parent pid of every process (from /proc/*/stat; the kernel here may lack
    /proc/PID/task/TID/children)."""
    parents = {}
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def tree(pid):
    """`pid` and all its descendants (uvicorn's workers, for instance)."""
    children = {}
    for child, parent in parent_pids().items():
        children.setdefault(parent, []).append(child)
    pids, stack = [], [pid]
    while stack:
        p = stack.pop()
        pids.append(p)
        stack.extend(children.get(p, ()))
    return pids


def named(name):
    """Every process whose command name is `name` (PostgreSQL's backends, for instance)."""
    pids = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def cpu_seconds(pids):
    """User + system CPU seconds used so far by `pids` (all threads)."""
    total = 0
    for pid in pids:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLK_TCK


def machine_busy_seconds():
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    fields = [int(x) for x in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def status_kib(pid, field):
    """A `VmRSS:`-style field of /proc/PID/status, in KiB."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def reset_peak_rss(pid):
    """Resets VmHWM to the current RSS (`echo 5 > clear_refs`, Linux ≥ 4.0). False if refused."""
    try:
        pathlib.Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class CpuMeter:
    """CPU used during a block by named groups of live processes, by the children the harness
    reaped meanwhile (the load generator), and by everything else on the machine."""

    def __init__(self, groups, reaped="wrk"):
        self.groups = groups  # name -> callable returning pids
        self.reaped = reaped

    @staticmethod
    def _reaped_seconds():
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self):
        self._start_wall = time.monotonic()
        self._start_machine = machine_busy_seconds()
        self._start_reaped = self._reaped_seconds()
        self._start = {name: cpu_seconds(pids()) for name, pids in self.groups.items()}
        return self

    def __exit__(self, *exc):
        wall = time.monotonic() - self._start_wall
        used = {name: cpu_seconds(pids()) - self._start[name] for name, pids in self.groups.items()}
        used[self.reaped] = self._reaped_seconds() - self._start_reaped
        machine = machine_busy_seconds() - self._start_machine
        used["other"] = max(0.0, machine - sum(used.values()))
        # CPU seconds, and percent of one core as top shows it; "other" is everything outside
        # this run.
        self.seconds = used
        self.percent = {name: 100 * secs / wall for name, secs in used.items()}
        return False
