/* ruse-launch: shared declarations. Each .c file is one piece of the story
 * that main.c tells in order; see main.c first. */
#pragma once
#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_LAYERS 8
#define MAX_ENV 256
#define MAX_CG1 8
#define MAX_COLLECT 64
#define MAX_IMAGES 96 /* image stacks a slot holds: the catalogue has 37; each costs one descriptor per slot */

/* Inside the sandbox the program is always this uid/gid (user "runner" in
 * the images' /etc/passwd). Uid 0 is never mapped, so there is no root. */
#define SANDBOX_ID 1000
#define SANDBOX_HOME "/box"

/* Everything the worker asked for. Policy (which limits, which layers, which
 * uid, which seccomp program) is decided in TypeScript; this is mechanism. */
struct config {
  const char *layers[MAX_LAYERS]; /* read-only image dirs, top first */
  int n_layers;
  const char *box_lower;          /* read-only files under /box (compiled artifacts) */
  long uid_host, gid_host;        /* per-slot host ids (from /etc/subuid) */
  bool weak_same_uid;             /* documented weaker mode: no subuid range */
  bool hold_userns;               /* --hold-userns: make and keep a slot's userns */
  const char *slot_lock;          /* with --hold-userns: held while the slot is ours */
  int userns_fd;                  /* the slot's user namespace, for a run */
  int netns_fd;                   /* the slot's network namespace, or -1: a new one */
  int image_ns_fd;                /* the slot's mount namespace of the image, or -1: --layer */
  const char *images[MAX_IMAGES]; /* with --hold-userns: layer lists (DIR:DIR...) to hold mounted */
  int n_images;
  int cg_version; /* 1 or 2 */
  const char *cg2_parent;
  const char *cg1_parents[MAX_CG1];
  int n_cg1;
  uint64_t memory_bytes, pids, cpu_ms, wall_ms, cpus_milli;
  uint64_t output_bytes, scratch_bytes, scratch_inodes;
  uint64_t fsize_bytes, nofile, stack_bytes;
  char *env[MAX_ENV + 1];
  int n_env;
  const char *hostname;
  bool net_loopback;
  char **argv;
  int report_fd, seccomp_fd, files_fd, collect_fd;
  const char *collect[MAX_COLLECT];
  int n_collect;
  uint64_t collect_max_bytes;
  int prepare_fd;       /* --prepare: the run's options come later, on this fd */
  uint64_t launched_us; /* CLOCK_MONOTONIC at the launcher's start, or when a prepared
                         * sandbox got its run: set-up time counts from here */
};

/* What init tells the supervisor over the status pipe (one write each,
 * smaller than PIPE_BUF, so reads never see half a message). */
/* STARTED: the program's exec succeeded. DONE: it and everything it started
 * are dead (its clocks stop; init may still copy files out). */
/* BUILT: an image's mount namespace is ready (a --hold-userns builder). */
enum init_msg_kind { MSG_STARTED = 1, MSG_DONE, MSG_ERROR, MSG_BUILT };
struct init_msg {
  int kind;
  int wstatus;
  uint64_t at_us;           /* CLOCK_MONOTONIC when it happened, stamped by init */
  uint64_t user_us, sys_us; /* DONE: CPU of everything init reaped (the whole run) */
  char text[216];
};

/* The outcome the supervisor reports. */
enum limit_hit { LIMIT_NONE, LIMIT_CPU, LIMIT_WALL, LIMIT_MEMORY, LIMIT_OUTPUT, LIMIT_SETUP };
struct outcome {
  bool exited, signaled;
  int exit_code, signal;
  enum limit_hit limit;
  uint64_t wall_us, setup_us;
  uint64_t cpu_us, user_us, sys_us, memory_peak_bytes;
  bool have_rusage; /* init measured user_us/sys_us itself (the run ended, not killed) */
  bool oom_killed;
  uint64_t out_bytes[2];
  bool out_truncated[2];
  bool net_left; /* a socket of the run outlived it in the slot's network namespace */
};

struct cgroup {
  int version;
  char paths[MAX_CG1][512]; /* v2: paths[0]; v1: one per controller */
  int n;
  int cpu_usage_fd; /* cpuacct.usage (v1) or cpu.stat (v2) */
  int oom_fd;       /* eventfd (v1) or memory.events (v2) to poll */
  uint64_t cpu_baseline_us, user_baseline_us, sys_baseline_us;
  uint64_t cpu_end_us, user_end_us, sys_end_us;
};

/* args.c */
void parse_args(struct config *cfg, int argc, char **argv);
/* A prepared sandbox's run: its options as NUL-terminated strings in blob
 * (len bytes, blob[len] == 0), only the run's own, then -- PROGRAM. The
 * config points into blob, which must outlive it. */
void parse_run_args(struct config *cfg, char *blob, size_t len);
/* NUL-terminated strings into argv (NULL-ended, at most MAX_ARGS - 1); argc,
 * or -1 when there are more. */
int split_args(char *buf, size_t len, char **argv);
#define MAX_REQUEST (256 * 1024) /* a launcher's argv, or a run's options */
#define MAX_ARGS 1024

/* fail.c: errors go into the JSON report, never into the program's stderr */
_Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fail_set_cleanup(void (*fn)(void));
void fail_set_report_fd(int fd);
bool fail_on_stderr(void); /* no report channel yet: errors (and the usage) go to stderr */
_Noreturn void child_fail(int status_fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void write_all(int fd, const void *buf, size_t len);
int write_all_ret(int fd, const void *buf, size_t len);
int read_full(int fd, void *buf, size_t len); /* 0, or -1 on error or early end */
uint64_t mono_us(void);

/* user.c: the user namespace lie */
void user_map_ids(const struct config *cfg, pid_t pid); /* once per slot, in pid's user namespace */
void user_enter_namespace(const struct config *cfg);
void user_become_runner(const struct config *cfg, int status_fd);
bool user_owns_namespace(int ns_fd); /* ns_fd belongs to the user namespace we are in */

/* pid.c: the PID namespace lie, and init (pid 1) */
int pid_clone_flag(void);
_Noreturn void init_main(const struct config *cfg, const unsigned char *bpf, size_t bpf_len, int go_fd, int status_fd,
                         int stdio_fds[3]);

/* mount.c: the mount namespace lie, the root file system from pieces */
int mount_clone_flag(const struct config *cfg);
void mount_build_template(const char *layers, int status_fd);    /* an image's root, in a mount namespace of its own */
void mount_build_image(const struct config *cfg, int status_fd); /* the same for every run of an image */
void mount_build_scratch(const struct config *cfg, int status_fd); /* the run's own: scratch, files, cwd */

/* net.c, uts.c, ipc.c: the remaining lies */
int net_clone_flag(const struct config *cfg);
void net_enter_namespace(const struct config *cfg);
void net_setup(const struct config *cfg, int status_fd);
bool net_left_behind(const struct config *cfg);
int uts_clone_flag(void);
void uts_setup(const struct config *cfg, int status_fd);
int ipc_clone_flag(void);

/* cgroup.c: the one thing that is not a lie */
void cgroup_create(const struct config *cfg, struct cgroup *cg);
void cgroup_limit(struct cgroup *cg, const struct config *cfg);
void cgroup_attach(struct cgroup *cg, pid_t pid);
uint64_t cgroup_cpu_usage_us(struct cgroup *cg);
void cgroup_mark_start(struct cgroup *cg);
void cgroup_mark_end(struct cgroup *cg);
void cgroup_kill(struct cgroup *cg);
void cgroup_collect(struct cgroup *cg, struct outcome *out);
void cgroup_remove(struct cgroup *cg);

/* seccomp.c */
unsigned char *seccomp_read_program(int fd, size_t *len);
void seccomp_load(const unsigned char *bpf, size_t len, int status_fd);

/* rlimit.c */
void rlimits_apply(const struct config *cfg, int status_fd);

/* files.c: copy in before the program starts, copy out without following links */
void files_copy_in(int stream_fd, int box_dirfd, int status_fd);
void files_collect(const struct config *cfg, int box_dirfd);

/* supervise.c */
/* Returns when the run is over; init may still be exiting (*init_reaped false). */
void supervise(const struct config *cfg, struct cgroup *cg, pid_t init_pid, int pidfd, int status_fd, int pipes[3],
               struct outcome *out, bool *init_reaped);

/* hold.c: the slot (--hold-userns), made once and entered by every run */
_Noreturn void hold_main(const struct config *cfg);

/* serve.c: the fork server; the launcher's descriptors when it serves */
/* High, so that the fork server's own descriptors (3 up: the seccomp program,
 * then every slot's namespaces) stay below them on a machine of many slots. */
#define SERVE_FD_REPORT 1000
#define SERVE_FD_FILES 1001
#define SERVE_FD_COLLECT 1002
#define SERVE_FD_RUN 1003
_Noreturn void serve_main(const char *path, int (*request)(int, char **)); /* forks a request per connection */

/* report.c */
void report_write(int fd, const struct outcome *out);
