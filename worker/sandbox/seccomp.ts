// Seccomp policy for sandboxed programs, as data, compiled once per worker
// start to classic BPF (the bytes of `struct sock_filter[]`) that the C
// launcher loads with seccomp(SECCOMP_SET_MODE_FILTER) right before execve.
//
// Shape: default ALLOW plus a deny-list (isolate's and Docker's spirit). The
// sandbox must run every ordinary toolchain and runtime (C/C++, gcc, make,
// bash, Python, Node, JVM, Go, Rust), so we only take away what no such
// program needs and what widens the kernel attack surface or reaches host-wide
// state. Denials return an errno so programs see a failed call, not a crash.
//
// Architecture: x86_64 only. Any other audit arch (i386 via int 0x80) hits the
// bad-arch action, KILL_PROCESS. x32 shares AUDIT_ARCH_X86_64, so it cannot be
// told apart by arch; libseccomp handles that itself for a filter holding only
// x86_64: it emits `if (nr >= 0x40000000 && nr != -1) -> bad-arch action`
// right after the arch check (the unit test checks this in the BPF and on the
// real kernel). Without that, x32 numbers would bypass every rule below.
import {
  CmpOp,
  Filter,
  FilterAttr,
  SCMP_ACT_ALLOW,
  SCMP_ACT_ERRNO,
  SCMP_ACT_KILL_PROCESS,
  SCMP_ARCH_X32,
  SCMP_ARCH_X86,
  SCMP_ARCH_X86_64,
  archNative,
  resolveSyscall,
  type ArgCmp,
} from "./libseccomp.js";

/** errno: EPERM; enosys: ENOSYS; grant: returns 0 without doing anything; kill: the whole process. */
export type Action = "errno" | "enosys" | "grant" | "kill";

/** One comparison on a syscall argument (a0..a5, full 64-bit register). */
export type ArgTest =
  | { arg: number; op: "eq" | "ne" | "lt" | "le" | "gt" | "ge"; value: bigint }
  | { arg: number; op: "masked_eq"; mask: bigint; value: bigint };

export interface PolicyGroup {
  name: string;
  /** One line: why this is denied. */
  why: string;
  action: Action;
  syscalls: readonly string[];
  /**
   * Absent: deny the syscalls unconditionally. Present: one libseccomp rule
   * per entry, i.e. deny when ANY entry matches (OR), where an entry matches
   * when ALL its tests hold (AND).
   */
  args?: readonly (readonly ArgTest[])[];
}

export type SeccompPolicy = readonly PolicyGroup[];

const EPERM = 1;
const ENOSYS = 38;

const ACTIONS: Record<Action, number> = {
  errno: SCMP_ACT_ERRNO(EPERM),
  enosys: SCMP_ACT_ERRNO(ENOSYS),
  // errno 0: the kernel returns 0 and never runs the call
  grant: SCMP_ACT_ERRNO(0),
  kill: SCMP_ACT_KILL_PROCESS,
};

/**
 * x86_64 numbers of syscalls newer than libseccomp 2.5.4 knows, used only
 * when libseccomp cannot resolve the name (a newer libseccomp wins).
 */
const X86_64_FALLBACK_NR: Readonly<Record<string, number>> = {
  open_tree_attr: 467, // Linux 6.15: open_tree + mount_setattr in one call
};

// --- argument-test helpers ----------------------------------------------------

/** `(arg & flag) == flag`: the flag is set, whatever else is. */
const flagSet = (arg: number, flag: bigint): ArgTest[] => [{ arg, op: "masked_eq", mask: flag, value: flag }];

/**
 * Equality on the LOW 32 BITS only. For arguments the kernel reads as 32-bit
 * (ioctl's `unsigned int cmd`), a full 64-bit compare is bypassed by setting
 * high bits the kernel then drops (CVE-2019-10063, flatpak's TIOCSTI filter).
 */
const low32Eq = (arg: number, value: bigint): ArgTest[] => [{ arg, op: "masked_eq", mask: 0xffffffffn, value }];

/** Socket families the sandbox may create: AF_UNIX 1, AF_INET 2, AF_INET6 10. */
const ALLOWED_FAMILIES = [1n, 2n, 10n] as const;

/**
 * "family not in {1, 2, 10}" for a default-allow filter: EQ for every hole
 * below the largest allowed value, plus GT for everything above it. GT is a
 * full 64-bit compare, so values with high bits set (which the kernel would
 * truncate to an int) are denied too: over-denying is the safe side.
 */
function familyNotAllowed(arg: number): ArgTest[][] {
  const max = ALLOWED_FAMILIES[ALLOWED_FAMILIES.length - 1]!;
  const rules: ArgTest[][] = [];
  for (let f = 0n; f < max; f++) {
    if (!(ALLOWED_FAMILIES as readonly bigint[]).includes(f)) rules.push([{ arg, op: "eq", value: f }]);
  }
  rules.push([{ arg, op: "gt", value: max }]);
  return rules;
}

// clone(2) flags on x86_64: clone(flags, stack, parent_tid, child_tid, tls).
const CLONE_NEW = {
  CLONE_NEWTIME: 0x80n, // overlaps clone()'s exit-signal byte; never a valid signal (>64), so denying it is free
  CLONE_NEWNS: 0x20000n,
  CLONE_NEWCGROUP: 0x02000000n,
  CLONE_NEWUTS: 0x04000000n,
  CLONE_NEWIPC: 0x08000000n,
  CLONE_NEWUSER: 0x10000000n,
  CLONE_NEWPID: 0x20000000n,
  CLONE_NEWNET: 0x40000000n,
} as const;

// personality(2) flags.
const ADDR_NO_RANDOMIZE = 0x0040000n;
const READ_IMPLIES_EXEC = 0x0400000n;

// fcntl(2) commands that take a lock (F_SETLK64 is F_SETLK on x86_64), and dnotify's.
const F_SETLK = 6n;
const F_SETLKW = 7n;
const F_OFD_SETLK = 37n;
const F_OFD_SETLKW = 38n;
const F_NOTIFY = 1026n;

const TIOCSTI = 0x5412n;
const TIOCLINUX = 0x541cn;

// --- the policy -----------------------------------------------------------------

export const defaultPolicy: SeccompPolicy = [
  {
    name: "namespaces",
    why: "new or joined namespaces reach kernel code paths built for root (CVE-2022-0185, CVE-2022-0492) and could undo the launcher isolation",
    action: "errno",
    syscalls: ["unshare", "setns"],
  },
  {
    name: "clone-namespaces",
    why: "clone with any CLONE_NEW* flag is unshare by another name; plain fork/thread clones stay allowed",
    action: "errno",
    syscalls: ["clone"],
    args: Object.values(CLONE_NEW).map((flag) => flagSet(0, flag)),
  },
  {
    name: "clone3",
    why: "clone3 flags sit behind a pointer seccomp cannot read; ENOSYS makes glibc, Rust and others fall back to clone, which is checked above",
    action: "enosys",
    syscalls: ["clone3"],
  },
  {
    name: "mounts",
    why: "mount table changes and chroot are escape primitives, and the new mount API exposed fs_context bugs (CVE-2022-0185)",
    action: "errno",
    syscalls: [
      "mount",
      "umount2",
      "pivot_root",
      "chroot",
      "fsopen",
      "fsconfig",
      "fsmount",
      "fspick",
      "move_mount",
      "open_tree",
      "open_tree_attr",
      "mount_setattr",
    ],
  },
  {
    name: "keyrings",
    why: "kernel keyrings are not namespaced: a side channel between boxes and to the host user (isolate 2.4, Docker)",
    action: "errno",
    syscalls: ["keyctl", "add_key", "request_key"],
  },
  {
    name: "kernel-attack-surface",
    why: "bpf, perf events, userfaultfd and io_uring are large, bug-rich kernel surfaces no judged program needs (EPERM matches a disabled sysctl, so runtimes fall back)",
    action: "errno",
    syscalls: ["bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register"],
  },
  {
    name: "process-introspection",
    why: "ptrace, cross-process memory access and kcmp let a program tamper with or probe other processes (old seccomp bypass via ptrace before 4.8)",
    action: "errno",
    syscalls: ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp"],
  },
  {
    name: "kernel-code",
    why: "loading kernel modules or a new kernel is never legitimate from a sandbox",
    action: "errno",
    syscalls: ["kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module"],
  },
  {
    name: "file-handles",
    why: 'open_by_handle_at was the Docker "shocker" breakout; name_to_handle_at only produces handles for it and leaks inode identities',
    action: "errno",
    syscalls: ["open_by_handle_at", "name_to_handle_at"],
  },
  {
    name: "host-admin",
    why: "host-wide administration (reboot, swap, accounting, quotas, console, kernel log, raw I/O ports) is not namespaced",
    action: "errno",
    syscalls: [
      "reboot",
      "swapon",
      "swapoff",
      "acct",
      "quotactl",
      "quotactl_fd",
      "vhangup",
      "syslog",
      "lookup_dcookie",
      "iopl",
      "ioperm",
    ],
  },
  {
    name: "clock",
    why: "clocks are not namespaced; adjtimex/clock_adjtime are denied even for a modes=0 read since their struct is behind a pointer seccomp cannot read",
    action: "errno",
    syscalls: ["settimeofday", "clock_settime", "clock_adjtime", "adjtimex"],
  },
  {
    name: "personality",
    why: "ADDR_NO_RANDOMIZE and READ_IMPLIES_EXEC weaken ASLR/NX for the process and everything it execs",
    action: "errno",
    syscalls: ["personality"],
    // The query personality(0xffffffff) has every bit set, so it is denied
    // too. Exempting it needs "flag set AND arg != 0xffffffff", two compares
    // on one argument, which libseccomp 2.5 rejects (EINVAL); doing it with
    // single compares costs ~60 rules. Accepted: glibc's personality() then
    // returns -1, which reads as "all flags set", so the usual
    // query-then-set-then-reexec code (sanitizers, SBCL) skips the re-exec
    // instead of looping, and no mainstream runtime queries it at start.
    args: [flagSet(0, ADDR_NO_RANDOMIZE), flagSet(0, READ_IMPLIES_EXEC)],
  },
  {
    name: "tty-injection",
    why: "TIOCSTI/TIOCLINUX push input into a terminal the sandbox shares (CVE-2017-5226, CVE-2023-28100); low-32-bit compare per CVE-2019-10063",
    action: "errno",
    syscalls: ["ioctl"],
    args: [low32Eq(1, TIOCSTI), low32Eq(1, TIOCLINUX)],
  },
  {
    name: "file-locks",
    why: "a lock on a shared image file (or /dev/null) is seen by every run at once, a channel between runs (isolate 2.4): every lock is granted and none taken, so none exists for F_GETLK or another run to see",
    action: "grant",
    syscalls: ["flock"],
  },
  {
    name: "file-locks-fcntl",
    why: "fcntl's lock commands, granted as flock is; its cmd is an int, compared on its low 32 bits (CVE-2019-10063)",
    action: "grant",
    syscalls: ["fcntl"],
    args: [F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW].map((cmd) => low32Eq(1, cmd)),
  },
  {
    name: "file-watches",
    why: "inotify and fanotify see opens and reads of the image files every run shares, a channel between runs; programs fall back to polling",
    action: "enosys",
    syscalls: ["inotify_init", "inotify_init1", "fanotify_init"],
  },
  {
    name: "file-watches-fcntl",
    why: "dnotify (fcntl F_NOTIFY) sees the same as inotify",
    action: "enosys",
    syscalls: ["fcntl"],
    args: [low32Eq(1, F_NOTIFY)],
  },
  {
    name: "socket-families",
    why: "only AF_UNIX/AF_INET/AF_INET6: netlink, packet, AF_ALG (CVE-2026-31431), vsock and the rest are exotic kernel surface or side channels",
    action: "errno",
    syscalls: ["socket", "socketpair"],
    args: familyNotAllowed(0),
  },
];

// --- compiler -------------------------------------------------------------------

const OPS: Record<ArgTest["op"], CmpOp> = {
  eq: CmpOp.EQ,
  ne: CmpOp.NE,
  lt: CmpOp.LT,
  le: CmpOp.LE,
  gt: CmpOp.GT,
  ge: CmpOp.GE,
  masked_eq: CmpOp.MASKED_EQ,
};

function toCmp(t: ArgTest): ArgCmp {
  if (!Number.isInteger(t.arg) || t.arg < 0 || t.arg > 5)
    throw new Error(`seccomp: argument index ${t.arg} out of range 0..5`);
  // libseccomp's MASKED_EQ is (arg & datum_a) == datum_b.
  return t.op === "masked_eq"
    ? { arg: t.arg, op: CmpOp.MASKED_EQ, datumA: t.mask, datumB: t.value }
    : { arg: t.arg, op: OPS[t.op], datumA: t.value, datumB: 0n };
}

function syscallNumber(name: string): number {
  try {
    return resolveSyscall(name, SCMP_ARCH_X86_64);
  } catch (err) {
    const nr = X86_64_FALLBACK_NR[name];
    if (nr === undefined) throw err;
    return nr;
  }
}

function buildFilter(policy: SeccompPolicy): Filter {
  if (archNative() !== SCMP_ARCH_X86_64) {
    throw new Error(`seccomp: the policy is x86_64-only, native arch is 0x${archNative().toString(16)}`);
  }
  const f = new Filter(SCMP_ACT_ALLOW);
  try {
    f.setAttr(FilterAttr.ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    // The launcher sets no_new_privs itself; this attribute only matters for
    // seccomp_load, which we never call, but say so explicitly.
    f.setAttr(FilterAttr.CTL_NNP, 0);
    // A binary tree over syscall numbers, not a list: every run loads the
    // filter, and the kernel then walks it once per syscall number to cache
    // the allowed ones (measured: ~25 us less per load).
    f.setAttr(FilterAttr.CTL_OPTIMIZE, 2);
    // seccomp_init adds only the native arch; make sure nothing else crept in,
    // since an extra arch would get the default ALLOW instead of the kill.
    for (const arch of [SCMP_ARCH_X86, SCMP_ARCH_X32]) {
      if (f.archExists(arch)) f.archRemove(arch);
    }
    for (const g of policy) {
      if (!g.why || /[\r\n]/.test(g.why)) throw new Error(`seccomp: group ${g.name} needs a one-line why`);
      const action = ACTIONS[g.action];
      if (action === undefined) throw new Error(`seccomp: group ${g.name} has unknown action ${String(g.action)}`);
      for (const sc of g.syscalls) {
        const nr = (() => {
          try {
            return syscallNumber(sc);
          } catch (err) {
            throw new Error(`seccomp: group ${g.name}: unknown syscall "${sc}"`, { cause: err });
          }
        })();
        if (!g.args) f.addRule(action, sc, [], nr);
        else for (const rule of g.args) f.addRule(action, sc, rule.map(toCmp), nr);
      }
    }
    return f;
  } catch (err) {
    f.release();
    throw err;
  }
}

/** The policy as `struct sock_filter[]` bytes (8 bytes per instruction), for the launcher. */
export function compileSeccompPolicy(policy: SeccompPolicy = defaultPolicy): Buffer {
  const f = buildFilter(policy);
  try {
    const bpf = f.exportBpf();
    if (bpf.length === 0 || bpf.length % 8 !== 0) {
      throw new Error(`seccomp: exported BPF has invalid length ${bpf.length}`);
    }
    return bpf;
  } finally {
    f.release();
  }
}

/** libseccomp's pseudo filter code for the policy: for tests and debugging. */
export function policyToPfc(policy: SeccompPolicy = defaultPolicy): string {
  const f = buildFilter(policy);
  try {
    return f.exportPfc();
  } finally {
    f.release();
  }
}
