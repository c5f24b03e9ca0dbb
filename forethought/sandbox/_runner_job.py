"""The in-sandbox program, part one: the zygote and the job processes (stdlib only).

The host starts every worker (container or process) as ``python3 -I -c <source> <config>``
where the source is this file followed by ``_runner.py`` (see ``runner_source()``). It must
run on any image's Python 3.9+, so it imports nothing from forethought. Three processes:

* the runner (R, ``_runner.py``) talks to the host in length-prefixed JSON frames on
  stdin/stdout. It never forks a job itself: its memory holds earlier jobs' code and output.
* the zygote (Z) is forked by R before any job arrives, so its memory holds no job data. It
  is a child subreaper: every process a job leaves behind is re-parented to it and killed by
  it between jobs.
* a job (C) is forked by Z for each run or session. C starts a new session, takes fresh pipes
  for fds 0/1/2 and a socket to R as fd 3, closes every other descriptor, applies the limits,
  drops to a throwaway uid when the worker runs as root, then runs the code.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import time
import traceback
from typing import Any

from forethought.sandbox._runner_guard import (  # runner-source: drop
    LANDLOCK_FD,
    Ruleset,
    restrict_self,
)

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, M_ARENA_MAX = 1, 4, 36, -8
CLONE_NEWNET, CLONE_NEWIPC = 0x40000000, 0x08000000
EFBIG = 27
CONFIG: dict[str, Any] = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}


def libc_call(name: str, *args: int) -> int:
    """Call a libc function through ctypes; -1 when ctypes is missing (best-effort hardening)."""
    try:
        import ctypes

        return int(getattr(ctypes.CDLL(None, use_errno=True), name)(*args))
    except Exception:  # noqa: BLE001
        return -1


def read_into(fd: int, view: memoryview) -> None:
    """Fill ``view`` from ``fd`` (linear in its size: no copy per chunk)."""
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]])
        if not n:
            raise EOFError
        got += n


def read_exact(fd: int, n: int) -> bytearray:
    buf = bytearray(n)
    read_into(fd, memoryview(buf))
    return buf


def read_frame(fd: int) -> Any:
    (n,) = struct.unpack(">I", read_exact(fd, 4))
    return json.loads(read_exact(fd, n).decode("utf-8"))


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_frame(fd: int, obj: Any) -> None:
    data = json.dumps(obj).encode("ascii")
    write_all(fd, struct.pack(">I", len(data)) + data)


# ---------------------------------------------------------------- the job (C) -------------
def apply_limits(job: dict[str, Any]) -> None:
    import resource

    lim: dict[str, Any] = job["limits"]
    pairs = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, lim.get("file_size_bytes")),
             (resource.RLIMIT_NOFILE, lim.get("open_files"))]
    if CONFIG.get("rlimit_memory"):
        pairs.append((resource.RLIMIT_AS, lim.get("memory_bytes")))
    if CONFIG.get("rlimit_processes") and lim.get("processes"):
        pairs.append((resource.RLIMIT_NPROC, lim["processes"] + job.get("nproc_base", 0)))
    for kind, value in pairs:
        if value is not None:
            resource.setrlimit(kind, (value, value))
    if lim.get("cpu_s"):
        cpu = max(1, int(lim["cpu_s"] + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    uid = job.get("uid")
    if uid is not None:
        if CONFIG.get("unshare"):
            libc_call("unshare", CLONE_NEWNET | CLONE_NEWIPC)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid:
            os._exit(125)
    if CONFIG.get("landlock"):
        try:
            restrict_self(LANDLOCK_FD)
        except OSError as exc:  # never run the code less confined than promised
            os.write(2, f"sandbox: {exc.strerror}\n".encode())
            os._exit(125)
        os.close(LANDLOCK_FD)


def short_traceback(exc: BaseException, code_name: str) -> dict[str, Any]:
    """The error with only the frames of the user's code (none of the runner's)."""
    tb = traceback.TracebackException.from_exception(exc)
    frames = [f for f in tb.stack if f.filename.startswith("<cell") or f.filename == code_name]
    tb.stack = traceback.StackSummary.from_list(frames[-6:])
    text = "".join(tb.format())
    if len(text) > 4000:
        text = text[:1000] + "\n  ...\n" + text[-2900:]
    line = frames[-1].lineno if frames else getattr(exc, "lineno", None)
    return {"type": type(exc).__name__, "message": str(exc)[:2000], "traceback": text,
            "line": line, "errno": getattr(exc, "errno", None)}


def run_python(code: str, namespace: dict[str, Any], name: str) -> dict[str, Any]:
    """Run ``code`` like a notebook cell; the last expression's repr, or the error."""
    import ast
    import linecache

    out: dict[str, Any] = {"value": None, "error": None, "exit": 0}
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    try:
        tree = ast.parse(code, name, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            tail = tree.body.pop()
            assert isinstance(tail, ast.Expr)
            last = ast.Expression(tail.value)
        exec(compile(tree, name, "exec"), namespace)
        if last is not None:
            value = eval(compile(last, name, "eval"), namespace)
            if value is not None:
                text = repr(value)
                out["value"] = text if len(text) <= 20000 else text[:20000] + "..."
    except SystemExit as exc:
        code_ = exc.code
        out["exit"] = int(code_) if isinstance(code_, int) else (0 if code_ is None else 1)
        if code_ is not None and not isinstance(code_, int):
            print(code_, file=sys.stderr)
    except BaseException as exc:  # noqa: BLE001 - every failure of user code is reported
        out["error"] = short_traceback(exc, name)
        out["exit"] = 1
        sys.stderr.write(out["error"]["traceback"])
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a broken stream has nothing to flush
                stream.flush()
    return out


def job_main(ctl: int) -> None:
    import io
    import types

    job: dict[str, Any] = read_frame(ctl)
    os.chdir(job["cwd"])
    os.umask(0o077)
    try:  # under memory pressure, the job is killed first (never the runner)
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    apply_limits(job)
    libc_call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.environ.clear()
    os.environ.update(job["env"])
    if job["language"] == "shell":
        os.execve("/bin/sh", ["/bin/sh", "-c", job["code"]], job["env"])
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    sys.argv = ["-c"]
    sys.path.insert(0, job["cwd"])
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    me = os.getpid()
    if not job.get("session"):
        result = run_python(job["code"], main.__dict__, "<code>")
        if os.getpid() != me:
            os._exit(0)  # a process the code forked: only the job itself answers
        write_frame(ctl, result)
        os._exit(result["exit"] if 0 <= result["exit"] < 256 else 1)
    cell = 0
    while True:
        try:
            msg = read_frame(ctl)
        except EOFError:
            os._exit(0)
        reap_children()
        cell += 1
        result = run_python(msg["code"], main.__dict__, f"<cell {cell}>")
        if os.getpid() != me:
            # A process the cell forked got here: it must never answer for the session
            # (later cells would run in it and see its copy of the variables).
            os._exit(0)
        write_frame(ctl, result)


def reap_children() -> None:
    """Collect the session's children that the runner killed after the last cell (zombies
    would count against the process limit).
    """
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def start_job(fds: list[int], ruleset: int | None) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            low = len(fds)
            if ruleset is not None:
                os.dup2(ruleset, LANDLOCK_FD)
                low = LANDLOCK_FD + 1
            os.closerange(low, 65536)
            job_main(3)
        except BaseException:  # noqa: BLE001 - never fall back into the zygote's loop
            traceback.print_exc()
        os._exit(126)
    return pid


# ---------------------------------------------------------------- the zygote (Z) ----------
def descendants(root: int) -> list[int]:
    found: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    kids = [int(p) for p in f.read().split()]
            except OSError:
                kids = []
            found += kids
            todo += kids
    return found


def kill_as(uid: int) -> None:
    """``kill(-1, SIGKILL)`` from a helper running as ``uid``: every process of that uid."""
    killer = os.fork()
    if killer == 0:
        try:
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        os._exit(0)
    os.waitpid(killer, 0)


def reap_all(uid: int | None) -> bool:
    """Kill every descendant of the zygote (and, by uid or by container, every process a
    job could have started); True when none remain.
    """
    me = os.getpid()
    for attempt in range(500):
        if CONFIG.get("container"):
            # every process in the container but init (the runner) and this one
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)
        elif uid is not None:
            kill_as(uid)
        left = descendants(me)
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not left and not descendants(me):
            return True
        time.sleep(0.001 * min(attempt + 1, 10))
    return not descendants(me)


def zygote(sock: socket.socket) -> None:
    # What every job needs, imported once here (a job may not be able to read the stdlib
    # after dropping its uid, and this makes each job start faster).
    import ast  # noqa: F401  # pyright: ignore[reportUnusedImport]
    import io  # noqa: F401  # pyright: ignore[reportUnusedImport]
    import linecache  # noqa: F401  # pyright: ignore[reportUnusedImport]
    import resource  # noqa: F401  # pyright: ignore[reportUnusedImport]
    import types  # noqa: F401  # pyright: ignore[reportUnusedImport]

    libc_call("prctl", PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc_call("mallopt", M_ARENA_MAX, 2)
    ruleset = None
    rules = CONFIG.get("landlock")
    if rules:
        try:  # built once here, applied by every job (see _runner_guard.py)
            built = Ruleset(int(rules["abi"]), read=rules["read"], write=rules["write"],
                            devices=rules["devices"])
            ruleset = fcntl.fcntl(built.fd, fcntl.F_DUPFD_CLOEXEC, 100)
            os.close(built.fd)
        except OSError as exc:  # jobs then fail to confine themselves and do not run
            print(f"sandbox: {exc}", file=sys.stderr, flush=True)
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 4096, 8)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        cmd = json.loads(msg.decode())
        if cmd["op"] == "spawn":
            pid = start_job(fds, ruleset)
            for fd in fds:
                os.close(fd)
            sock.sendall(json.dumps({"pid": pid}).encode() + b"\n")
            while True:  # orphans of the job end up here too: collect them on the way
                done, status, usage = os.wait4(-1, 0)
                if done == pid:
                    break
            sock.sendall(json.dumps({"status": status, "cpu_s": usage.ru_utime + usage.ru_stime,
                                     "maxrss_kb": usage.ru_maxrss}).encode() + b"\n")
        elif cmd["op"] == "reap":
            sock.sendall(json.dumps({"clean": reap_all(cmd.get("uid"))}).encode() + b"\n")


class Zygote:
    """The runner's handle on the zygote process."""

    def __init__(self) -> None:
        parent, child = socket.socketpair()
        self.pid = os.fork()
        if self.pid == 0:
            libc_call("prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            parent.close()
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            try:
                zygote(child)
            finally:
                os._exit(0)
        child.close()
        self.sock = parent
        self.buf = b""

    def send(self, cmd: dict[str, Any], fds: list[int] | None = None) -> None:
        socket.send_fds(self.sock, [json.dumps(cmd).encode()], fds or [])

    def recv_line(self, timeout: float) -> dict[str, Any] | None:
        """The zygote's next message, or None after ``timeout`` seconds.

        The code runs under the zygote's uid in a container, so it can stop the zygote
        (SIGSTOP); while waiting for an answer the runner keeps waking it up.
        """
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            ready, _, _ = select.select([self.sock], [], [], 0)
            while not ready:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                with contextlib.suppress(OSError):
                    os.kill(self.pid, signal.SIGCONT)
                ready, _, _ = select.select([self.sock], [], [], min(left, 0.05))
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("the zygote exited")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)
