/* The request: every option the worker may pass. Limits have no defaults
 * here on purpose: the TypeScript driver owns policy, and a request that
 * forgets one is refused rather than run unlimited. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: ruse-launch [options] -- PROGRAM [ARGS...]\n"
    "  --layer DIR            read-only image layer, top first (repeat; >1 uses overlayfs)\n"
    "  --box-lower DIR        files shown read-only in /box under the writable scratch (overlayfs)\n"
    "  --uid-host N --gid-host N   host ids of the sandboxed program (via newuidmap/newgidmap)\n"
    "  --weak-same-uid        WEAKER: run the program as the caller's own uid (no subuid range)\n"
    "  --userns-fd N          the slot's user namespace, made by a --hold-userns process\n"
    "  --netns-fd N           the slot's network namespace (loopback down), made with it;\n"
    "                         without it, a new one (needed by --net-loopback)\n"
    "  --image-ns-fd N        instead of --layer: the slot's mount namespace of the image,\n"
    "                         made with it (--image); no --box-lower with it\n"
    "  --image DIR[:DIR...]   with --hold-userns: also hold this image (layers, top first)\n"
    "                         mounted, in a mount namespace of its own (repeat)\n"
    "  --hold-userns          make a user namespace mapping runner to the slot's ids and a\n"
    "                         network namespace in it, print the pid holding them, and keep\n"
    "                         them until stdin closes\n"
    "  --slot-lock FILE       with --hold-userns: flock FILE first; exit 75 if another holds it\n"
    "  --cgroup-v2 PARENT | --cgroup-v1 PARENT (repeat per controller)\n"
    "  --memory BYTES --pids N --cpu-ms N --wall-ms N   required limits\n"
    "  --cpus MILLI           cpu bandwidth cap in thousandths of a CPU (0: none)\n"
    "  --output-bytes N       cap per stream (stdout, stderr)\n"
    "  --scratch-bytes N --scratch-inodes N   tmpfs for /box, /tmp, /dev/shm\n"
    "  --fsize BYTES --nofile N --stack BYTES  rlimits\n"
    "  --env K=V (repeat)     the program's whole environment\n"
    "  --hostname NAME --net-loopback\n"
    "  --report-fd N --seccomp-fd N [--files-fd N] [--collect-fd N --collect PATH... --collect-max BYTES]\n"
    "  --prepare FD           build the sandbox up to its image root, then wait for the run's\n"
    "                         options (limits, --env, --net-loopback, files, collect, -- PROGRAM)\n"
    "                         on FD, NUL-separated, until EOF; EOF with none: remove it all\n";

/* The usage text goes to stderr whole (fail()'s message is bounded to fit the
 * JSON report), and only while errors go there: never into a run's stderr. */
static _Noreturn void usage_fail(const char *what, const char *arg) {
  if (fail_on_stderr()) fputs(usage, stderr);
  if (arg) fail("%s '%s' (usage above)", what, arg);
  fail("%s (usage above)", what);
}

static uint64_t num(const char *name, const char *s, uint64_t max) {
  char *end;
  errno = 0;
  if (!s || !*s || *s == '-') fail("--%s needs a non-negative number, got '%s'", name, s ? s : "");
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max) fail("--%s: '%s' is not a number in 0..%llu", name, s, (unsigned long long)max);
  return v;
}

static int fdnum(const char *name, const char *s) {
  int fd = (int)num(name, s, 1024);
  if (fd < 3) fail("--%s: fd %d is one of the program's stdio", name, fd);
  if (fcntl(fd, F_GETFD) < 0) fail("--%s: fd %d is not open", name, fd);
  return fd;
}

/* Tables kept in rows by hand: clang-format would put one entry a line. */
/* clang-format off */
enum {
  O_LAYER = 1, O_UIDH, O_GIDH, O_WEAK, O_CG2, O_CG1, O_MEM, O_PIDS, O_CPU, O_WALL, O_CPUS,
  O_OUT, O_SCR, O_SCRI, O_FSIZE, O_NOFILE, O_STACK, O_ENV, O_HOST, O_NET, O_REPORT, O_SECCOMP,
  O_FILES, O_COLLECTFD, O_COLLECT, O_COLLECTMAX, O_USERNS, O_NETNS, O_IMAGENS, O_IMAGE, O_HOLD, O_SLOTLOCK, O_BOXLOWER, O_PREPARE
};

/* The run's own options: what a prepared sandbox is given when a run comes.
 * The rest (layers, ids, cgroups, descriptors) is the sandbox's shape, fixed
 * when it is built. */
static bool is_run_option(int o) {
  switch (o) {
  case O_MEM: case O_PIDS: case O_CPU: case O_WALL: case O_CPUS: case O_OUT: case O_SCR: case O_SCRI:
  case O_FSIZE: case O_NOFILE: case O_STACK: case O_ENV: case O_NET: case O_FILES: case O_COLLECTFD:
  case O_COLLECT: case O_COLLECTMAX:
    return true;
  default:
    return false;
  }
}

static const struct option opts[] = {
    {"layer", 1, 0, O_LAYER},         {"box-lower", 1, 0, O_BOXLOWER},         {"uid-host", 1, 0, O_UIDH},
    {"gid-host", 1, 0, O_GIDH},       {"weak-same-uid", 0, 0, O_WEAK},
    {"userns-fd", 1, 0, O_USERNS},    {"netns-fd", 1, 0, O_NETNS},
    {"image-ns-fd", 1, 0, O_IMAGENS}, {"image", 1, 0, O_IMAGE},
    {"hold-userns", 0, 0, O_HOLD},
    {"slot-lock", 1, 0, O_SLOTLOCK},  {"prepare", 1, 0, O_PREPARE},
    {"cgroup-v2", 1, 0, O_CG2},       {"cgroup-v1", 1, 0, O_CG1},
    {"memory", 1, 0, O_MEM},          {"pids", 1, 0, O_PIDS},
    {"cpu-ms", 1, 0, O_CPU},          {"wall-ms", 1, 0, O_WALL},
    {"cpus", 1, 0, O_CPUS},           {"output-bytes", 1, 0, O_OUT},
    {"scratch-bytes", 1, 0, O_SCR},   {"scratch-inodes", 1, 0, O_SCRI},
    {"fsize", 1, 0, O_FSIZE},         {"nofile", 1, 0, O_NOFILE},
    {"stack", 1, 0, O_STACK},         {"env", 1, 0, O_ENV},
    {"hostname", 1, 0, O_HOST},       {"net-loopback", 0, 0, O_NET},
    {"report-fd", 1, 0, O_REPORT},    {"seccomp-fd", 1, 0, O_SECCOMP},
    {"files-fd", 1, 0, O_FILES},      {"collect-fd", 1, 0, O_COLLECTFD},
    {"collect", 1, 0, O_COLLECT},     {"collect-max", 1, 0, O_COLLECTMAX},
    {0, 0, 0, 0}};

/* clang-format on */

static const uint64_t unset = UINT64_MAX;

static void reset_run(struct config *c) {
  c->memory_bytes = c->pids = c->cpu_ms = c->wall_ms = c->output_bytes = c->scratch_bytes = unset;
  c->fsize_bytes = c->nofile = c->stack_bytes = unset;
  c->cpus_milli = 0;
  c->scratch_inodes = 16384;
  c->n_env = c->n_collect = 0;
  memset(c->env, 0, sizeof c->env);
  memset(c->collect, 0, sizeof c->collect);
  c->net_loopback = false;
  c->files_fd = c->collect_fd = -1;
  c->collect_max_bytes = 0;
  c->argv = NULL;
}

static bool run_option_given;

static const char *option_name(int o) {
  for (const struct option *p = opts; p->name; p++)
    if (p->val == o) return p->name;
  return "?";
}

/* A repeated option's value, onto its list of at most max. */
static void append(const char **list, int *n, int max, const char *a, int o) {
  if (*n == max) fail("too many --%s (max %d)", option_name(o), max);
  list[(*n)++] = a;
}

/* One option into c; only run options when run_only. */
static void take(struct config *c, int o, const char *a, bool run_only, char *const argv[]) {
  if (run_only && o != '?' && !is_run_option(o))
    fail("--%s belongs to the prepared sandbox's shape, not to a run", option_name(o));
  if (is_run_option(o)) run_option_given = true;
  switch (o) {
  case O_LAYER: append(c->layers, &c->n_layers, MAX_LAYERS, a, o); break;
  case O_BOXLOWER: c->box_lower = a; break;
  case O_UIDH: c->uid_host = (long)num("uid-host", a, 0xfffffffe); break;
  case O_GIDH: c->gid_host = (long)num("gid-host", a, 0xfffffffe); break;
  case O_WEAK: c->weak_same_uid = true; break;
  case O_USERNS: c->userns_fd = fdnum("userns-fd", a); break;
  case O_NETNS: c->netns_fd = fdnum("netns-fd", a); break;
  case O_IMAGENS: c->image_ns_fd = fdnum("image-ns-fd", a); break;
  case O_IMAGE: append(c->images, &c->n_images, MAX_IMAGES, a, o); break;
  case O_HOLD: c->hold_userns = true; break;
  case O_SLOTLOCK: c->slot_lock = a; break;
  case O_CG2:
    c->cg_version = 2;
    c->cg2_parent = a;
    break;
  case O_CG1:
    c->cg_version = 1;
    append(c->cg1_parents, &c->n_cg1, MAX_CG1, a, o);
    break;
  case O_MEM: c->memory_bytes = num("memory", a, 1ull << 44); break;
  case O_PIDS: c->pids = num("pids", a, 1u << 22); break;
  case O_CPU: c->cpu_ms = num("cpu-ms", a, 86400000); break;
  case O_WALL: c->wall_ms = num("wall-ms", a, 86400000); break;
  case O_CPUS: c->cpus_milli = num("cpus", a, 1024000); break;
  case O_OUT: c->output_bytes = num("output-bytes", a, 1ull << 34); break;
  case O_SCR: c->scratch_bytes = num("scratch-bytes", a, 1ull << 40); break;
  case O_SCRI: c->scratch_inodes = num("scratch-inodes", a, 1u << 24); break;
  case O_FSIZE: c->fsize_bytes = num("fsize", a, 1ull << 44); break;
  case O_NOFILE: c->nofile = num("nofile", a, 1u << 20); break;
  case O_STACK: c->stack_bytes = num("stack", a, 1ull << 40); break;
  case O_ENV:
    if (c->n_env == MAX_ENV) fail("too many --env (max %d)", MAX_ENV);
    if (!strchr(a, '=') || a[0] == '=') fail("--env '%s' is not K=V", a);
    c->env[c->n_env++] = (char *)a;
    break;
  case O_HOST: c->hostname = a; break;
  case O_NET: c->net_loopback = true; break;
  case O_REPORT: c->report_fd = fdnum("report-fd", a); break;
  case O_SECCOMP: c->seccomp_fd = fdnum("seccomp-fd", a); break;
  case O_FILES: c->files_fd = fdnum("files-fd", a); break;
  case O_COLLECTFD: c->collect_fd = fdnum("collect-fd", a); break;
  case O_COLLECT: append(c->collect, &c->n_collect, MAX_COLLECT, a, o); break;
  case O_COLLECTMAX: c->collect_max_bytes = num("collect-max", a, 1ull << 34); break;
  case O_PREPARE: c->prepare_fd = fdnum("prepare", a); break;
  default: usage_fail("unknown or incomplete option", argv[optind - 1]);
  }
}

static void take_all(struct config *c, int argc, char **argv, bool run_only) {
  int o;
  opterr = 0;
  optind = 0; /* getopt starts afresh: the launcher parses twice when prepared */
  while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) take(c, o, optarg, run_only, argv);
  c->argv = argv + optind;
}

static void check_run(struct config *c) {
  if (!c->argv[0]) usage_fail("no program given", NULL);
  const struct {
    const char *n;
    uint64_t v;
  } req[] = {{"memory", c->memory_bytes},
             {"pids", c->pids},
             {"cpu-ms", c->cpu_ms},
             {"wall-ms", c->wall_ms},
             {"output-bytes", c->output_bytes},
             {"scratch-bytes", c->scratch_bytes},
             {"fsize", c->fsize_bytes},
             {"nofile", c->nofile},
             {"stack", c->stack_bytes}};
  for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
    if (req[i].v == unset) fail("--%s is required", req[i].n);
  if (c->memory_bytes < (4u << 20)) fail("--memory below 4 MiB cannot start any program");
  if (c->pids < 1 || c->cpu_ms < 1 || c->wall_ms < 1) fail("--pids, --cpu-ms and --wall-ms must be at least 1");
  if (c->scratch_bytes < 4096) fail("--scratch-bytes must be at least 4096");
  if (c->n_collect > 0 && c->collect_fd < 0) fail("--collect needs --collect-fd");
  /* The slot's namespace is shared by its runs: its loopback stays down. */
  if (c->net_loopback && c->netns_fd >= 0) fail("--net-loopback needs a network namespace of its own, not --netns-fd");
}

void parse_args(struct config *c, int argc, char **argv) {
  memset(c, 0, sizeof *c);
  c->uid_host = c->gid_host = -1;
  reset_run(c);
  c->report_fd = c->seccomp_fd = c->userns_fd = c->netns_fd = c->image_ns_fd = c->prepare_fd = -1;
  c->hostname = "ruse";

  /* The report fd comes first so that every later error can be reported. */
  for (int i = 1; i + 1 < argc && strcmp(argv[i], "--") != 0; i++)
    if (strcmp(argv[i], "--report-fd") == 0 && fcntl(atoi(argv[i + 1]), F_GETFD) >= 0 && atoi(argv[i + 1]) > 2)
      fail_set_report_fd(atoi(argv[i + 1]));

  run_option_given = false;
  take_all(c, argc, argv, false);
  if (c->weak_same_uid == (c->uid_host >= 0))
    fail("give either --uid-host/--gid-host (a subuid slot) or --weak-same-uid");
  if (!c->weak_same_uid && c->gid_host < 0) fail("--gid-host is required with --uid-host");
  if (c->n_images && !c->hold_userns) fail("--image goes with --hold-userns");
  if (c->hold_userns) return;
  if (c->userns_fd < 0) fail("--userns-fd is required (the slot's user namespace; see --hold-userns)");
  if (c->report_fd < 0) fail("--report-fd is required");
  if (c->seccomp_fd < 0) fail("--seccomp-fd is required: no run goes without a syscall filter");
  if ((c->n_layers == 0) == (c->image_ns_fd < 0)) fail("give the image: --layer DIR (repeat), or --image-ns-fd");
  /* The image's namespace has no path to the host's files: box-lower is bound
   * from the host's mount table, which only a namespace of the run's own has. */
  if (c->image_ns_fd >= 0 && c->box_lower) fail("--box-lower needs --layer, not --image-ns-fd");
  for (int i = 0; i < c->n_layers; i++) {
    struct stat st;
    if (stat(c->layers[i], &st) != 0 || !S_ISDIR(st.st_mode))
      fail("image layer '%s' is not a directory: %s", c->layers[i], strerror(errno ? errno : ENOTDIR));
  }
  struct stat bl;
  if (c->box_lower && (stat(c->box_lower, &bl) != 0 || !S_ISDIR(bl.st_mode)))
    fail("--box-lower '%s' is not a directory", c->box_lower);
  if (c->cg_version == 0)
    fail("a cgroup parent (--cgroup-v1 or --cgroup-v2) is required: no run without memory and pids limits");
  if (strlen(c->hostname) > 64) fail("--hostname is longer than 64 bytes");
  if (c->prepare_fd < 0) {
    check_run(c);
  } else {
    /* A prepared sandbox gets its run's options later, all of them at once. */
    if (c->argv[0] || run_option_given) fail("--prepare takes no run options and no program");
    reset_run(c);
  }
}

void parse_run_args(struct config *c, char *blob, size_t len) {
  static char *argv[MAX_ARGS];
  reset_run(c);
  int argc = split_args(blob, len, argv);
  if (argc < 0) fail("the run has more than %d options and arguments", MAX_ARGS - 1);
  take_all(c, argc, argv, true);
  check_run(c);
}

/* More strings than fit is refused, never cut: a cut argv would run another
 * program than the one asked for. */
int split_args(char *buf, size_t len, char **argv) {
  int argc = 0;
  for (char *p = buf; p < buf + len; p += strlen(p) + 1) {
    if (argc == MAX_ARGS - 1) return -1;
    argv[argc++] = p;
  }
  argv[argc] = NULL;
  return argc;
}
