"""The in-sandbox program, part three: the runner (R), which serves the host's requests.

Requests and replies are length-prefixed JSON frames on stdin/stdout (see ``_protocol.py``):
``exec`` runs one job; ``open``, ``cell`` and ``close`` drive a stateful session. After every
job the runner has the zygote kill every leftover process, empties the writable directories
and checks; a reply with ``clean: false`` tells the host to discard this worker.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import struct
import sys
import time
import traceback
from typing import Any

from forethought.sandbox._runner_files import (  # runner-source: drop
    count_processes,
    limit_hit,
    oom_kills,
    read_file_inside,
    wipe,
    write_files,
)
from forethought.sandbox._runner_io import (  # runner-source: drop
    EARLY_INPUT,
    Capture,
    HostGone,
    Job,
    ProtocolViolation,
    prune,
)
from forethought.sandbox._runner_job import (  # runner-source: drop
    CONFIG,
    PR_SET_DUMPABLE,
    Zygote,
    libc_call,
    read_into,
    write_frame,
)


class Runner:
    def __init__(self) -> None:
        self.zyg = Zygote()
        self.base: str = CONFIG.get("work", "/work")
        self.job: Job | None = None
        self.job_dir = self.base
        self.uid: int | None = None
        self.jobs = 0
        self.dirty: str | None = None
        self.oom_before = -1

    def open_job(self, req: dict[str, Any], session: bool) -> None:
        self.jobs += 1
        if CONFIG.get("per_job_dir"):
            self.job_dir = os.path.join(self.base, f"job{self.jobs}")
            os.mkdir(self.job_dir, 0o700)
        if CONFIG.get("drop_uid"):
            # One uid per worker (runner pids are unique among live workers): a job cannot
            # signal or read another worker's job, and killing "all processes of the uid"
            # between jobs removes everything this job left.
            self.uid = int(CONFIG["uid_base"]) + os.getpid()
            os.chown(self.job_dir, self.uid, self.uid)
        write_files(self.job_dir, req.get("files") or {}, self.uid)
        env = dict(req.get("env") or {}, HOME=self.job_dir, TMPDIR=self.job_dir, PWD=self.job_dir)
        spec: dict[str, Any] = {"cwd": self.job_dir, "code": req.get("code", ""),
                                "language": req.get("language", "python"), "env": env,
                                "limits": req["limits"], "session": session, "uid": self.uid}
        if self.uid is None and CONFIG.get("rlimit_processes"):
            spec["nproc_base"] = count_processes(os.getuid())
        self.oom_before = oom_kills()
        cap = int(req["limits"].get("output_bytes", 1 << 20))
        self.job = Job(self.zyg, spec, req.get("stdin") or b"", cap)

    def finish(self, req: dict[str, Any], started: float, meta: dict[str, Any] | None,
               timed_out: bool) -> dict[str, Any]:
        """Stop the job if it still runs, collect its results, and clean up after it."""
        job = self.job
        assert job is not None
        if job.status is None:
            job.kill()
            job.wait_status(1.5)
        self.reap()
        job.drain(1.0)
        violation = None
        try:
            if meta is None:
                meta = job.frame()
            job.leftover()
        except ProtocolViolation as exc:
            violation = str(exc)
        job.close()
        status = job.status or {}
        raw = status.get("status")
        sig = os.WTERMSIG(raw) if raw is not None and os.WIFSIGNALED(raw) else None
        exit_code = -sig if sig is not None else (os.WEXITSTATUS(raw) if raw is not None
                                                  else None)
        error = (meta or {}).get("error")
        memory = (self.oom_before >= 0 and oom_kills() > self.oom_before) or bool(
            error and error.get("type") == "MemoryError")
        limits: dict[str, Any] = req["limits"]
        limit = limit_hit(sig, status, error, limits, timed_out, memory)
        files: dict[str, str] = {}
        missing: dict[str, str] = {}
        budget = int(limits.get("output_files_bytes", 16 << 20))
        wanted: list[str] = list(req.get("output_files") or [])
        for rel in wanted:
            got = read_file_inside(self.job_dir, rel, budget)
            if isinstance(got, bytes):
                budget -= len(got)
                files[rel] = base64.b64encode(got).decode()
            else:
                missing[rel] = got
        self.cleanup()
        note = None
        if status.get("zygote_died"):
            note = ("the code killed the sandbox's supervisor process (its parent); the "
                    "worker is replaced")
            self.dirty = "the zygote exited"
        elif status.get("zygote_stopped") or job.status is None:
            note = ("the code stopped the sandbox's supervisor process (its parent), so its "
                    "exit status is unknown; the worker is replaced")
            self.dirty = "the zygote stopped answering"
        if violation is not None:
            self.dirty = "the job broke the protocol"
            return {"fatal": f"the code wrote on the sandbox's control channel: {violation}; "
                             f"the worker is replaced", "clean": False}
        return {"stdout": job.out.text(), "stderr": job.err.text(), "note": note,
                "stdout_bytes": job.out.total, "stderr_bytes": job.err.total,
                "exit_code": exit_code, "timed_out": limit in ("wall_time", "cpu_time"),
                "limit": limit, "killed_for_memory": memory, "value": (meta or {}).get("value"),
                "error": error, "files": files, "missing_files": missing,
                "cpu_s": status.get("cpu_s"), "maxrss_kb": status.get("maxrss_kb"),
                "duration_s": time.monotonic() - started, "clean": self.dirty is None,
                "dirty": self.dirty}

    def reap(self) -> None:
        try:
            self.zyg.send({"op": "reap", "uid": self.uid})
            answer = self.zyg.recv_line(3)
        except (OSError, EOFError):
            answer = None
        if not answer or not answer.get("clean"):
            self.dirty = "leftover processes could not be killed"

    def cleanup(self) -> None:
        self.job = None
        wipe(self.job_dir, keep_root=not CONFIG.get("per_job_dir"))
        for extra in CONFIG.get("scratch", []):
            wipe(extra, keep_root=True, owner=self.uid)
        if self.dirty is None:
            self.dirty = self.check_clean()

    def check_clean(self) -> str | None:
        try:
            return self._find_dirt()
        except OSError as exc:
            return f"could not check the worker: {exc}"

    def _find_dirt(self) -> str | None:
        if os.path.exists(self.job_dir) and (CONFIG.get("per_job_dir") or os.listdir(self.job_dir)):
            return f"{self.job_dir} could not be emptied"
        for extra in CONFIG.get("scratch", []):
            left = self._scratch_left(extra)
            if left:
                return f"{extra} could not be emptied ({left[0]!r} is left)"
        if not CONFIG.get("container"):
            return None
        others = {int(p) for p in os.listdir("/proc") if p.isdigit()} - {os.getpid(),
                                                                          self.zyg.pid}
        if others:
            return f"processes {sorted(others)} are still running"
        for kind in ("shm", "sem", "msg"):
            try:
                with open(f"/proc/sysvipc/{kind}") as f:
                    if len(f.read().splitlines()) > 1:
                        return f"System V {kind} objects were left behind"
            except OSError:
                pass
        return None

    def _scratch_left(self, path: str) -> list[str]:
        """What a job left in a scratch directory (only its own files, without a container)."""
        try:
            names = os.listdir(path)
        except OSError:
            return []
        if CONFIG.get("container"):
            return names
        if self.uid is None:
            return []  # the host's own uid: its files there are not the job's to judge
        return [n for n in names if _owner(os.path.join(path, n)) == self.uid]

    def exec_once(self, req: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        self.open_job(req, session=False)
        job = self.job
        assert job is not None
        job.pump(started + float(req["limits"]["wall_s"]), want_frame=False)
        # Timed out only if the job itself was still running at its deadline (not when it
        # ended but the zygote, stopped by the code, could not say so).
        return self.finish(req, started, None, timed_out=job.status is None and not job.exited())

    def cell(self, req: dict[str, Any]) -> dict[str, Any]:
        job = self.job
        if job is None:
            return {"session_dead": True, "fatal": "no session is open"}
        started = time.monotonic()
        job.out, job.err = Capture(job.out.cap), Capture(job.err.cap)
        try:
            job.drain(0)
            job.leftover()  # an answer that came after the last cell's is a forgery
            write_frame(job.ctl.fileno(), {"code": req["code"]})
            meta = job.pump(started + float(req["limits"]["wall_s"]), want_frame=True)
            if meta is not None:
                job.leftover()
        except OSError:
            meta = None
        except ProtocolViolation as exc:
            job.kill()
            self.finish(req, started, {}, timed_out=False)
            self.dirty = "the job broke the protocol"
            return {"fatal": f"the code wrote on the sandbox's control channel: {exc}; the "
                             f"worker is replaced", "clean": False}
        note = None
        if meta is not None and not prune(self.zyg.pid, job.pid):
            meta = None  # processes the cell started cannot be stopped: end the session
            note = ("processes the cell started could not be stopped, so the session was "
                    "ended")
            job.kill()
        if meta is not None:
            error = meta.get("error")
            return {"stdout": job.out.text(), "stderr": job.err.text(),
                    "stdout_bytes": job.out.total, "stderr_bytes": job.err.total,
                    "exit_code": meta.get("exit", 0), "value": meta.get("value"),
                    "error": error, "duration_s": time.monotonic() - started,
                    "killed_for_memory": bool(error and error.get("type") == "MemoryError"),
                    "limit": "memory" if error and error.get("type") == "MemoryError" else None,
                    "timed_out": False, "session_dead": False, "clean": True}
        out = self.finish(req, started, None, timed_out=job.status is None and not job.exited())
        out["session_dead"] = True
        out["note"] = out.get("note") or note
        return out

    def close(self, req: dict[str, Any]) -> dict[str, Any]:
        if self.job is not None:
            self.job.ctl.close()
            self.job.ctl_open = False
            self.job.wait_status(2)
            self.finish(req, time.monotonic(), None, timed_out=False)
        return {"clean": self.dirty is None, "dirty": self.dirty}

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "exec":
            return self.exec_once(req)
        if op == "open":
            self.open_job(req, session=True)
            return {"ok": True}
        if op == "cell":
            return self.cell(req)
        if op == "close":
            return self.close(req)
        return {"fatal": f"unknown op {op!r}"}

    def serve(self) -> None:
        write_frame(1, {"ready": True, "pid": os.getpid(),
                        "python": ".".join(map(str, sys.version_info[:3]))})
        while True:
            try:
                req = self.read_request()
            except (EOFError, OSError):
                break
            reply: dict[str, Any]
            try:
                reply = self.handle(req)
            except HostGone:
                break
            except Exception as exc:  # noqa: BLE001 - report it; the host discards this worker
                self.dirty = f"runner error: {exc!r}"
                reply = {"fatal": traceback.format_exc()[-3000:]}
            reply["clean"] = bool(reply.get("clean", True)) and self.dirty is None
            write_frame(1, reply)
        if self.job is not None:
            self.job.kill()
        self.reap()
        if CONFIG.get("per_job_dir"):
            wipe(self.base, keep_root=False)

    @staticmethod
    def read_request() -> dict[str, Any]:
        """One request: a JSON frame, then ``stdin_bytes`` raw bytes of stdin."""
        def take(n: int) -> bytearray:
            buf = bytearray(n)
            early = min(n, len(EARLY_INPUT))
            buf[:early] = EARLY_INPUT[:early]
            del EARLY_INPUT[:early]
            read_into(0, memoryview(buf)[early:])
            return buf

        (n,) = struct.unpack(">I", take(4))
        req: dict[str, Any] = json.loads(take(n).decode("utf-8"))
        size = int(req.pop("stdin_bytes", 0) or 0)
        req["stdin"] = take(size) if size else b""
        return req


def _owner(path: str) -> int | None:
    try:
        return os.lstat(path).st_uid
    except OSError:
        return None


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    libc_call("prctl", PR_SET_DUMPABLE, 0, 0, 0, 0)
    os.chdir(CONFIG.get("work", "/"))
    Runner().serve()


if __name__ == "__main__":
    main()
