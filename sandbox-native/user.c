/* The user namespace lie: inside, the program is uid/gid 1000 ("runner") and
 * nobody is root. Outside, that id is one host uid per concurrent slot, taken
 * from the worker's /etc/subuid and /etc/subgid ranges, so that it is never
 * the worker's own uid: a sandboxed program cannot signal, ptrace or read the
 * files of the worker, the launcher, init, or a run in another slot. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <linux/nsfs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_proc(pid_t pid, const char *file, const char *text) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
    fail("write %s '%s': %s", path, text, strerror(errno));
  close(fd);
}

/* newuidmap/newgidmap are the setuid helpers (Debian's uidmap package) that
 * check the range against /etc/subuid and /etc/subgid for us. */
static void run_map(const char *helper, pid_t pid, long host_id) {
  char spid[16], sid[16], inside[16];
  snprintf(spid, sizeof spid, "%d", (int)pid);
  snprintf(sid, sizeof sid, "%ld", host_id);
  snprintf(inside, sizeof inside, "%d", SANDBOX_ID);
  char *argv[] = {(char *)helper, spid, inside, sid, "1", NULL};
  char *envp[] = {NULL};
  pid_t child;
  int st, e = posix_spawn(&child, helper, NULL, NULL, argv, envp);
  if (e) fail("cannot run %s: %s (install Debian's uidmap package)", helper, strerror(e));
  while (waitpid(child, &st, 0) < 0)
    if (errno != EINTR) fail("waitpid %s: %s", helper, strerror(errno));
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    fail("%s refused to map id %ld: is it inside this user's range in /etc/sub%cid? "
         "(the set-up script scripts/setup.sh adds the range)",
         helper, host_id, strstr(helper, "newuidmap") ? 'u' : 'g');
}

static void write_maps(const struct config *cfg, pid_t pid) {
  char map[64];
  if (cfg->weak_same_uid) {
    /* Weaker mode: the program runs as our own uid on the host. Still no
     * root inside, still all the other lies; documented in the README. */
    snprintf(map, sizeof map, "%d %d 1\n", SANDBOX_ID, (int)getuid());
    write_proc(pid, "uid_map", map);
    write_proc(pid, "setgroups", "deny");
    snprintf(map, sizeof map, "%d %d 1\n", SANDBOX_ID, (int)getgid());
    write_proc(pid, "gid_map", map);
    return;
  }
  run_map("/usr/bin/newuidmap", pid, cfg->uid_host);
  run_map("/usr/bin/newgidmap", pid, cfg->gid_host);
}

/* A slot's user namespace is made once and kept by a holder process, then
 * entered by every run of that slot: newuidmap and newgidmap are setuid
 * execs that cost ~2 ms, more than all the rest of a run's set-up. Runs of a
 * slot never overlap. The holder also makes the slot's network namespace
 * (net.c) and, for each --image, a mount namespace whose root is that image
 * (mount.c), which a run copies instead of building the image's root; the
 * rest (pid, mount, uts, ipc, cgroup) is new per run. The holder prints, on
 * one line, the pid whose /proc/PID/ns/user and ns/net the worker opens and
 * the pid whose ns/mnt holds each image, and ends when its stdin closes (or
 * the worker dies). */
/* Exit status of a holder whose slot another worker on this machine holds. */
#define SLOT_BUSY 75

/* The slot's lock: the holder's alone, not its children's (one left behind
 * would keep the slot taken). */
static int slot_lock_fd = -1;

/* In a child of the --hold-userns process: it dies with that process. Set
 * after the child's last change of credentials, which clears it. */
static void die_with(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
}

/* A process in the slot's user namespace that builds the image's root in a
 * mount namespace of its own and keeps it; it dies with the --hold-userns
 * process. Its real, effective and saved uids are the worker's; its fs ids
 * stay runner's (the worker's uid is not mapped in the slot's namespace),
 * and it opens nothing after the build. */
static pid_t hold_image(pid_t userns_pid, const char *layers) {
  int st[2];
  if (pipe2(st, O_CLOEXEC) != 0) fail("pipe: %s", strerror(errno));
  pid_t self = getpid();
  pid_t builder = fork();
  if (builder < 0) fail("fork: %s", strerror(errno));
  if (builder == 0) {
    if (slot_lock_fd >= 0) close(slot_lock_fd);
    close(st[0]);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)userns_pid);
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWUSER) != 0) child_fail(st[1], "enter the slot's user namespace: %s", strerror(errno));
    close(ns);
    mount_build_template(layers, st[1]);
    /* Runner's fs ids (to make the image's /dev) made us undumpable: the
     * worker, our uid, must open /proc/PID/ns/mnt. Runner cannot reach us:
     * ptrace and signals go by the other uids, and no run sees us. */
    prctl(PR_SET_DUMPABLE, 1);
    die_with(self);
    struct init_msg m = {.kind = MSG_BUILT};
    (void)write_all_ret(st[1], &m, sizeof m);
    close(st[1]);
    for (;;) pause();
  }
  close(st[1]);
  struct init_msg m;
  if (read_full(st[0], &m, sizeof m) != 0) fail("image %s: its builder died", layers);
  m.text[sizeof m.text - 1] = 0;
  if (m.kind != MSG_BUILT) fail("image %s: %s", layers, m.text);
  close(st[0]);
  return builder;
}

_Noreturn void user_hold_namespace(const struct config *cfg) {
  /* A host uid serves one run at a time machine-wide, whichever worker
   * process asks: the slot's lock is held for as long as this holder lives. */
  if (cfg->slot_lock) {
    int lock = slot_lock_fd = open(cfg->slot_lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lock < 0) fail("open slot lock %s: %s", cfg->slot_lock, strerror(errno));
    if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) _exit(SLOT_BUSY);
      fail("lock %s: %s", cfg->slot_lock, strerror(errno));
    }
  }
  int ready[2], made[2];
  if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(made, O_CLOEXEC) != 0) fail("pipe: %s", strerror(errno));
  pid_t self = getpid();
  pid_t holder = (pid_t)syscall(SYS_clone, (unsigned long)CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
  if (holder < 0) fail("clone a user namespace: %s", strerror(errno));
  if (holder == 0) {
    if (slot_lock_fd >= 0) close(slot_lock_fd);
    die_with(self);
    close(ready[1]);
    close(made[0]);
    /* The slot's network namespace (net.c), owned by its user namespace;
     * its loopback is never brought up. */
    if (unshare(CLONE_NEWNET) == 0) (void)!write(made[1], "n", 1);
    close(made[1]);
    char c;
    (void)!read(ready[0], &c, 1);
    for (;;) pause();
  }
  close(ready[0]);
  close(made[1]);
  char c;
  if (read(made[0], &c, 1) != 1) fail("make the slot's network namespace: the holder could not");
  close(made[0]);
  write_maps(cfg, holder);
  close(ready[1]);
  printf("%d", (int)holder);
  for (int i = 0; i < cfg->n_images; i++) printf(" %d", (int)hold_image(holder, cfg->images[i]));
  printf("\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {}
  kill(holder, SIGKILL);
  _exit(0);
}

/* Enter the slot's namespace, after checking that it maps runner to the
 * host id this run was given (a stale or wrong fd is refused). Entering
 * gives us every capability inside it, to make the run's other namespaces. */
void user_enter_namespace(const struct config *cfg) {
  if (setns(cfg->userns_fd, CLONE_NEWUSER) != 0) fail("enter the slot's user namespace: %s", strerror(errno));
  close(cfg->userns_fd);
  const struct { const char *file; long want; } maps[] = {
      {"/proc/self/uid_map", cfg->weak_same_uid ? (long)getuid() : cfg->uid_host},
      {"/proc/self/gid_map", cfg->weak_same_uid ? (long)getgid() : cfg->gid_host}};
  for (int i = 0; i < 2; i++) {
    FILE *f = fopen(maps[i].file, "re");
    long in = -1, out = -1, count = -1, extra = -1;
    int n = f ? fscanf(f, "%ld %ld %ld %ld", &in, &out, &count, &extra) : 0;
    if (f) fclose(f);
    if (n != 3 || in != SANDBOX_ID || out != maps[i].want || count != 1)
      fail("the slot's user namespace does not map %d to %ld alone (%s)", SANDBOX_ID, maps[i].want, maps[i].file);
  }
}

bool user_owns_namespace(int ns_fd) {
  int owner = ioctl(ns_fd, NS_GET_USERNS);
  struct stat a, b;
  bool same = owner >= 0 && fstat(owner, &a) == 0 && stat("/proc/self/ns/user", &b) == 0 &&
              a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  if (owner >= 0) close(owner);
  return same;
}

/* In the program's process, just before exec: become runner and give up
 * every capability, so that CapEff, CapPrm, CapInh, CapAmb and CapBnd are 0. */
void user_become_runner(const struct config *cfg, int status_fd) {
  /* Drop the worker's supplementary groups (they would still count on the
   * host). In weak mode setgroups is denied and there are none to drop that
   * the worker does not already have. */
  if (setgroups(0, NULL) != 0 && !cfg->weak_same_uid)
    child_fail(status_fd, "setgroups: %s", strerror(errno));
  if (setresgid(SANDBOX_ID, SANDBOX_ID, SANDBOX_ID) != 0)
    child_fail(status_fd, "setresgid %d: %s", SANDBOX_ID, strerror(errno));
  if (setresuid(SANDBOX_ID, SANDBOX_ID, SANDBOX_ID) != 0)
    child_fail(status_fd, "setresuid %d: %s", SANDBOX_ID, strerror(errno));
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) /* up to the kernel's last */
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
      child_fail(status_fd, "drop capability %d: %s", cap, strerror(errno));
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    child_fail(status_fd, "clear ambient capabilities: %s", strerror(errno));
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  if (syscall(SYS_capset, &h, d) != 0) child_fail(status_fd, "capset: %s", strerror(errno));
}
