/* The slot: made once, entered by every run (--hold-userns). A slot is what
 * the runs of one host uid share: a user namespace that maps runner to that
 * uid (user.c), a network namespace in it (net.c), and, for each --image, a
 * mount namespace whose root is that image (mount.c), which a run copies
 * instead of building the image's root; the rest (pid, mount, uts, ipc,
 * cgroup) is new per run (main.c). Made once because newuidmap and newgidmap
 * are setuid execs that cost ~2 ms, more than all the rest of a run's set-up.
 * Runs of a slot never overlap, and its lock keeps its host uid to one
 * worker process machine-wide.
 *
 * The slot's holder, this process, prints on one line the pid whose
 * /proc/PID/ns/user and ns/net the worker opens and the pid whose ns/mnt
 * holds each image. Once the worker holds them all by descriptor it says so
 * (a byte on stdin), and those processes go: a descriptor keeps a namespace
 * as a process does, and each process cost ~70 kB a slot and image. The
 * holder ends when its stdin closes (or the worker dies); every process it
 * started dies with it. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Exit status of a holder whose slot another worker on this machine holds. */
#define SLOT_BUSY 75

/* The slot's lock: the holder's alone, not its children's (one left behind
 * would keep the slot taken). */
static int slot_lock_fd = -1;

/* A host uid serves one run at a time machine-wide, whichever worker process
 * asks: the slot's lock is held for as long as this holder lives. */
static void lock_slot(const char *path) {
  int lock = slot_lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock < 0) fail("open slot lock %s: %s", path, strerror(errno));
  if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) _exit(SLOT_BUSY);
    fail("lock %s: %s", path, strerror(errno));
  }
}

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
    if (ns < 0 || setns(ns, CLONE_NEWUSER) != 0)
      child_fail(st[1], "enter the slot's user namespace: %s", strerror(errno));
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

/* Lock the slot; clone a child into a new user namespace, where it makes the
 * network namespace, and map runner in it (user.c); build and hold each
 * image; print the pids; keep them until stdin closes. */
_Noreturn void hold_main(const struct config *cfg) {
  if (cfg->slot_lock) lock_slot(cfg->slot_lock);
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
  user_map_ids(cfg, holder);
  close(ready[1]);
  pid_t held[1 + MAX_IMAGES] = {holder};
  printf("%d", (int)holder);
  for (int i = 0; i < cfg->n_images; i++) printf(" %d", (int)(held[1 + i] = hold_image(holder, cfg->images[i])));
  printf("\n");
  fflush(stdout);
  char buf[64];
  bool released = false;
  while (read(0, buf, sizeof buf) > 0) {
    if (released) continue;
    for (int i = 0; i <= cfg->n_images; i++) kill(held[i], SIGKILL);
    while (waitpid(-1, NULL, 0) > 0) {}
    released = true;
  }
  if (!released) kill(holder, SIGKILL);
  _exit(0);
}
