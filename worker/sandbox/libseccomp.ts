// Minimal koffi binding to libseccomp (>= 2.5), just enough to build a filter
// in memory and export it as classic BPF bytes. Nothing here ever loads a
// filter into the worker itself: the C launcher does that in the child.
//
// Every libseccomp call returns a negative errno on failure; the wrappers turn
// that into an Error naming the call (and the syscall, when there is one), so
// a broken policy fails loudly at worker start instead of producing a filter
// that silently lacks a rule.
import fs from "node:fs";
import os from "node:os";
import koffi from "koffi";

// Constants from <seccomp.h> (libseccomp 2.5.x).
export const SCMP_ACT_KILL_PROCESS = 0x80000000;
export const SCMP_ACT_ALLOW = 0x7fff0000;
export const SCMP_ACT_ERRNO = (errno: number): number => (0x00050000 | (errno & 0xffff)) >>> 0;

export const SCMP_ARCH_X86_64 = 0xc000003e; // AUDIT_ARCH_X86_64
export const SCMP_ARCH_X86 = 0x40000003; // AUDIT_ARCH_I386
export const SCMP_ARCH_X32 = 0x4000003e; // EM_X86_64 | __AUDIT_ARCH_LE

export enum FilterAttr {
  ACT_DEFAULT = 1,
  ACT_BADARCH = 2,
  CTL_NNP = 3,
  CTL_TSYNC = 4,
  CTL_LOG = 6,
  CTL_OPTIMIZE = 8,
}

export enum CmpOp {
  NE = 1,
  LT = 2,
  LE = 3,
  EQ = 4,
  GE = 5,
  GT = 6,
  /** (arg & datumA) == datumB */
  MASKED_EQ = 7,
}

/** struct scmp_arg_cmp. For MASKED_EQ, datumA is the mask and datumB the value. */
export interface ArgCmp {
  arg: number;
  op: CmpOp;
  datumA: bigint;
  datumB: bigint;
}

type Ctx = unknown; // opaque scmp_filter_ctx

let lib: ReturnType<typeof bind> | undefined;

function bind() {
  const so = koffi.load("libseccomp.so.2");
  const libc = koffi.load("libc.so.6");
  // Anonymous types: koffi's type names are process-global.
  const ctxT = koffi.pointer(koffi.opaque());
  const cmpT = koffi.struct({
    arg: "uint32_t",
    op: "int32_t", // enum scmp_compare
    datum_a: "uint64_t",
    datum_b: "uint64_t",
  });
  return {
    init: so.func("seccomp_init", ctxT, ["uint32_t"]),
    release: so.func("seccomp_release", "void", [ctxT]),
    archNative: so.func("seccomp_arch_native", "uint32_t", []),
    archAdd: so.func("seccomp_arch_add", "int", [ctxT, "uint32_t"]),
    archRemove: so.func("seccomp_arch_remove", "int", [ctxT, "uint32_t"]),
    archExist: so.func("seccomp_arch_exist", "int", [ctxT, "uint32_t"]),
    attrSet: so.func("seccomp_attr_set", "int", [ctxT, "int", "uint32_t"]),
    resolveNameArch: so.func("seccomp_syscall_resolve_name_arch", "int", ["uint32_t", "str"]),
    ruleAddArray: so.func("seccomp_rule_add_array", "int", [ctxT, "uint32_t", "int", "uint32_t", koffi.pointer(cmpT)]),
    exportBpf: so.func("seccomp_export_bpf", "int", [ctxT, "int"]),
    exportPfc: so.func("seccomp_export_pfc", "int", [ctxT, "int"]),
    // memfd_create (glibc >= 2.27): an anonymous in-memory file for the export,
    // so no temp file name exists that anyone could race or that could leak.
    memfdCreate: libc.func("memfd_create", "int", ["str", "uint32_t"]),
  };
}

function L() {
  lib ??= bind();
  return lib;
}

const ERRNO = os.constants.errno as Readonly<Record<string, number>>;

/** Throws `libseccomp: <call>(<what>) failed: <ENAME> <n>` for a negative return code. */
function check(rc: number, call: string, what = ""): number {
  if (rc < 0) {
    const name = Object.keys(ERRNO).find((k) => ERRNO[k] === -rc) ?? "errno";
    throw new Error(`libseccomp: ${call}(${what}) failed: ${name} ${-rc}`);
  }
  return rc;
}

/** The arch libseccomp was built for on this machine (SCMP_ARCH_*). */
export function archNative(): number {
  return L().archNative() >>> 0;
}

/**
 * Syscall number of `name` on `arch`; throws for names libseccomp does not
 * know and for multiplexed pseudo-syscalls (negative numbers, e.g. socketcall
 * on x86_64), which would otherwise turn a rule into a silent no-op.
 */
export function resolveSyscall(name: string, arch = SCMP_ARCH_X86_64): number {
  const nr = L().resolveNameArch(arch, name) as number;
  if (nr < 0) {
    throw new Error(
      `libseccomp: seccomp_syscall_resolve_name_arch(${name}) failed: unknown syscall on arch 0x${arch.toString(16)}`,
    );
  }
  return nr;
}

/** An owned scmp_filter_ctx. Call release() (use try/finally). */
export class Filter {
  private ctx: Ctx | null;

  constructor(defaultAction: number) {
    const ctx = L().init(defaultAction >>> 0);
    if (!ctx) throw new Error(`libseccomp: seccomp_init(0x${defaultAction.toString(16)}) failed`);
    this.ctx = ctx;
  }

  private get c(): Ctx {
    if (!this.ctx) throw new Error("libseccomp: filter used after release()");
    return this.ctx;
  }

  setAttr(attr: FilterAttr, value: number): void {
    check(L().attrSet(this.c, attr, value >>> 0), "seccomp_attr_set", FilterAttr[attr]);
  }

  archAdd(arch: number): void {
    check(L().archAdd(this.c, arch >>> 0), "seccomp_arch_add", `0x${arch.toString(16)}`);
  }

  archRemove(arch: number): void {
    check(L().archRemove(this.c, arch >>> 0), "seccomp_arch_remove", `0x${arch.toString(16)}`);
  }

  /** True when `arch` is part of the filter (seccomp_arch_exist: 0 yes, -EEXIST no). */
  archExists(arch: number): boolean {
    const rc = L().archExist(this.c, arch >>> 0) as number;
    if (rc === 0) return true;
    if (rc === -(ERRNO.EEXIST ?? 17)) return false;
    throw new Error(`libseccomp: seccomp_arch_exist(0x${arch.toString(16)}) failed: ${rc}`);
  }

  /**
   * One rule: `action` for `syscall` when every comparison in `cmps` holds
   * (AND). `nr` defaults to libseccomp's number for the name; pass it for
   * syscalls newer than the installed libseccomp.
   */
  addRule(action: number, syscall: string, cmps: readonly ArgCmp[] = [], nr = resolveSyscall(syscall)): void {
    const arr = cmps.map((c) => ({ arg: c.arg, op: c.op, datum_a: c.datumA, datum_b: c.datumB }));
    const rc = L().ruleAddArray(this.c, action >>> 0, nr, arr.length, arr.length ? arr : null);
    check(rc, "seccomp_rule_add_array", `${syscall}${cmps.length ? ` with ${cmps.length} arg compare(s)` : ""}`);
  }

  /** struct sock_filter[] bytes, exactly as seccomp_export_bpf writes them. */
  exportBpf(): Buffer {
    return this.exportVia("seccomp_export_bpf", (fd) => L().exportBpf(this.c, fd));
  }

  /** Human-readable pseudo filter code, for tests and debugging. */
  exportPfc(): string {
    return this.exportVia("seccomp_export_pfc", (fd) => L().exportPfc(this.c, fd)).toString("utf8");
  }

  release(): void {
    if (this.ctx) L().release(this.ctx);
    this.ctx = null;
  }

  private exportVia(call: string, write: (fd: number) => number): Buffer {
    const MFD_CLOEXEC = 1; // the fd must never leak into a spawned sandbox
    const fd = L().memfdCreate("ruse-seccomp", MFD_CLOEXEC) as number;
    if (fd < 0) throw new Error(`libseccomp: memfd_create for ${call} failed`);
    try {
      check(write(fd), call);
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(size);
      let off = 0;
      while (off < size) {
        const n = fs.readSync(fd, buf, off, size - off, off);
        if (n === 0) throw new Error(`libseccomp: short read of the ${call} output`);
        off += n;
      }
      return buf;
    } finally {
      fs.closeSync(fd);
    }
  }
}
