"""A small seccomp filter for the namespace backend: deny the kernel interfaces a sandboxed
job never needs and that carry most of the kernel's attack surface.

The program is classic BPF, built here (no libseccomp) and handed to ``bwrap --seccomp``.
Denied calls fail with EPERM; so does any call made through another architecture's ABI
(i386 ``int 0x80`` or x32 on x86-64), which would otherwise bypass the numbers below. Other
architectures get no filter (the backend then relies on namespaces and dropped capabilities
alone, and says so in :attr:`BwrapSandbox.seccomp`).
"""

from __future__ import annotations

import errno
import platform
import struct

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000

DENIED: dict[str, tuple[int, int]] = {
    # name: (x86-64 number, aarch64 number)
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "syslog": (103, 116), "acct": (163, 89), "reboot": (169, 142), "quotactl": (179, 60),
    "swapon": (167, 224), "swapoff": (168, 225), "lookup_dcookie": (212, 18),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41),
    "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430),
    "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433),
    "unshare": (272, 97), "setns": (308, 268),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294),
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "name_to_handle_at": (303, 264), "open_by_handle_at": (304, 265),
}

_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW = 0x7FFF0000
_RET_EPERM = 0x00050000 | errno.EPERM


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def seccomp_program(machine: str | None = None) -> bytes | None:
    """The filter for ``machine`` (default: this one), or None where it has no table."""
    machine = machine or platform.machine()
    arch = AUDIT_ARCH.get(machine)
    if arch is None:
        return None
    column = 0 if machine == "x86_64" else 1
    prog = [_insn(_LD_W_ABS, 0, 0, 4),            # A = seccomp_data.arch
            _insn(_JEQ_K, 1, 0, arch),            # our ABI: go on
            _insn(_RET_K, 0, 0, _RET_EPERM),      # any other ABI: refused
            _insn(_LD_W_ABS, 0, 0, 0)]            # A = seccomp_data.nr
    if machine == "x86_64":
        prog += [_insn(_JGE_K, 0, 1, X32_SYSCALL_BIT), _insn(_RET_K, 0, 0, _RET_EPERM)]
    for nr in sorted({numbers[column] for numbers in DENIED.values()}):
        prog += [_insn(_JEQ_K, 0, 1, nr), _insn(_RET_K, 0, 0, _RET_EPERM)]
    prog.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    return b"".join(prog)
