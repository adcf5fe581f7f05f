"""Run a command under the process restrictions of a systemd unit file, where systemd
is not PID 1 (a container, CI): what the unit's [Service] section asks the kernel for
is asked here the same way, so the daemons are tested against it.

    python3 unitsandbox.py [--drop-cap CAP] [--no-new-privs] UNIT -- ARGV...

Applied, as systemd's execute.c does before it runs ExecStart:
  CapabilityBoundingSet   prctl(PR_CAPBSET_DROP) of every other capability: root
                          then has only these after execve
  NoNewPrivileges         prctl(PR_SET_NO_NEW_PRIVS) when yes (or --no-new-privs)
  UMask                   umask(2)
  SystemCallFilter        a seccomp allow list of systemd's own groups, expanded by
  SystemCallErrorNumber   `systemd-analyze syscall-filter`; the rest fails with it
  RestrictAddressFamilies socket(2) of any other family fails with EAFNOSUPPORT
  MemoryDenyWriteExecute  mmap of writable+executable memory, mprotect/pkey_mprotect
                          to executable and shmat(SHM_EXEC) fail with EPERM
Each is one seccomp filter of its own, as systemd loads them, loaded without
no_new_privs (root holds CAP_SYS_ADMIN until the execve).

Not applied (they need a mount namespace, or concern only systemd itself):
ProtectSystem, ProtectHome, ReadWritePaths, PrivateTmp, PrivateDevices, Protect*,
Restrict{Namespaces,Realtime,SUIDSGID}, LockPersonality, SystemCallArchitectures.
A [Service] key this file neither applies nor lists stops it, so that a new one in
the unit is not silently left out of the tests.
"""
import ctypes
import errno
import os
import socket
import subprocess
import sys

import seccomp

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PROT_WRITE, PROT_EXEC = 0x2, 0x4
SHM_EXEC = 0o100000

APPLIED = {"CapabilityBoundingSet", "NoNewPrivileges", "UMask", "SystemCallFilter",
           "SystemCallErrorNumber", "RestrictAddressFamilies", "MemoryDenyWriteExecute"}
NOT_APPLIED = {"ProtectSystem", "ProtectHome", "ReadWritePaths", "PrivateTmp",
               "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules",
               "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
               "ProtectHostname", "ProtectProc", "RestrictNamespaces", "RestrictRealtime",
               "RestrictSUIDSGID", "LockPersonality", "SystemCallArchitectures",
               # how systemd runs and stops it, not what the process may do
               "Type", "ExecStartPre", "ExecStart", "ExecReload", "KillMode", "Restart",
               "RestartSec"}


def service_section(path):
    """{key: [values]} of the unit's [Service] section."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]":
                key, value = line.split("=", 1)
                out.setdefault(key, []).append(value)
    return out


def syscall_groups():
    """{"@group": [names and @groups]} as this systemd defines them."""
    text = subprocess.run(["systemd-analyze", "syscall-filter"], check=True,
                          capture_output=True, text=True).stdout
    groups, cur = {}, None
    for line in text.splitlines():
        if line.startswith("@"):
            cur = groups.setdefault(line.strip(), [])
        elif cur is not None and line.strip() and not line.strip().startswith("#"):
            cur.append(line.strip())
    return groups


def expand(names, groups):
    out = set()
    for n in names:
        if n.startswith("@"):
            out |= expand(groups[n], groups)
        else:
            out.add(n)
    return out


def capability_numbers():
    """{"CAP_X": number} from the kernel's own list (capsh is not always there)."""
    names = subprocess.run(["setpriv", "--list-caps"], check=True, capture_output=True,
                           text=True).stdout.split()
    return {"CAP_" + n.upper(): i for i, n in enumerate(names)}


def loaded(f):
    f.set_attr(seccomp.Attr.CTL_NNP, 0)
    f.load()


def main(argv):
    drop, nnp = set(), False
    while argv[0].startswith("--"):
        if argv[0] == "--drop-cap":
            drop.add(argv[1])
            argv = argv[2:]
        elif argv[0] == "--no-new-privs":
            nnp = True
            argv = argv[1:]
        else:
            break
    unit, sep, cmd = argv[0], argv[1], argv[2:]
    assert sep == "--" and cmd, __doc__
    svc = service_section(unit)
    unknown = set(svc) - APPLIED - NOT_APPLIED
    if unknown:
        sys.exit(f"unitsandbox: {unit}: not emulated: {sorted(unknown)}")
    libc = ctypes.CDLL(None, use_errno=True)

    keep = set(" ".join(svc.get("CapabilityBoundingSet", [])).split()) - drop
    for name, num in capability_numbers().items():
        if name not in keep and libc.prctl(PR_CAPBSET_DROP, num, 0, 0, 0) != 0:
            sys.exit(f"unitsandbox: cannot drop {name}: {os.strerror(ctypes.get_errno())}")
    if "UMask" in svc:
        os.umask(int(svc["UMask"][-1], 8))
    if nnp or svc.get("NoNewPrivileges", ["no"])[-1] == "yes":
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)

    if "RestrictAddressFamilies" in svc:
        fams = sorted(getattr(socket, a) for a in
                      " ".join(svc["RestrictAddressFamilies"]).split())
        f = seccomp.SyscallFilter(seccomp.ALLOW)
        no = seccomp.ERRNO(errno.EAFNOSUPPORT)
        for fam in range(0, fams[-1]):
            if fam not in fams:
                f.add_rule(no, "socket", seccomp.Arg(0, seccomp.EQ, fam))
        f.add_rule(no, "socket", seccomp.Arg(0, seccomp.GT, fams[-1]))
        loaded(f)
    if svc.get("MemoryDenyWriteExecute", ["no"])[-1] == "yes":
        f = seccomp.SyscallFilter(seccomp.ALLOW)
        no = seccomp.ERRNO(errno.EPERM)
        wx = PROT_WRITE | PROT_EXEC
        f.add_rule(no, "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, wx, wx))
        for name in ("mprotect", "pkey_mprotect"):
            f.add_rule(no, name, seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC))
        f.add_rule(no, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC))
        loaded(f)
    # Last, as systemd does: it may forbid loading more filters.
    if "SystemCallFilter" in svc:
        err = getattr(errno, svc.get("SystemCallErrorNumber", ["EPERM"])[-1])
        allowed = expand(" ".join(svc["SystemCallFilter"]).split(), syscall_groups())
        f = seccomp.SyscallFilter(seccomp.ERRNO(err))
        for name in sorted(allowed):
            try:
                f.add_rule(seccomp.ALLOW, name)
            except (RuntimeError, ValueError, OSError):
                pass        # not a system call of this architecture: systemd skips it too
        loaded(f)
    # An ASan build (make check-asan): LeakSanitizer stops the world with ptrace at
    # exit, which the units' system call filter refuses, and then fails the process.
    # Leaks are checked by the rest of the ASan suite; under the units, only the rest.
    asan = os.environ.get("ASAN_OPTIONS", "")
    os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "detect_leaks=0"
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
