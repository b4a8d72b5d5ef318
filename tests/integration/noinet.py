#!/usr/bin/env python3
# noinet.py CMD ARGS... — run CMD where socket(AF_INET) and socket(AF_INET6)
# fail with EAFNOSUPPORT, as under a systemd unit whose
# RestrictAddressFamilies= lacks them (a seccomp filter, x86_64 only; exit 77
# elsewhere or where seccomp is refused).
import ctypes
import os
import platform
import struct
import sys

if platform.machine() != "x86_64":
    sys.exit(77)
LD, JEQ, RET = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
AUDIT_ARCH_X86_64, SYS_socket, AF_INET, AF_INET6 = 0xC000003E, 41, 2, 10
ERRNO_EAFNOSUPPORT, ALLOW = 0x00050000 | 97, 0x7FFF0000


def insn(code, k, jt=0, jf=0):
    return struct.pack("HBBI", code, jt, jf, k)


prog = b"".join([
    insn(LD, 4),                          # seccomp_data.arch
    insn(JEQ, AUDIT_ARCH_X86_64, 0, 6),
    insn(LD, 0),                          # seccomp_data.nr
    insn(JEQ, SYS_socket, 0, 4),
    insn(LD, 16),                         # seccomp_data.args[0]
    insn(JEQ, AF_INET, 1, 0),
    insn(JEQ, AF_INET6, 0, 1),
    insn(RET, ERRNO_EAFNOSUPPORT),
    insn(RET, ALLOW),
])


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(prog, len(prog))
fprog = SockFprog(len(prog) // 8, ctypes.addressof(buf))
if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
    sys.exit(77)
if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
    sys.exit(77)
os.execvp(sys.argv[1], sys.argv[1:])
