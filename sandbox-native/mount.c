/* The mount namespace lie: a root file system built from pieces.
 *   /          the image: one read-only layer bound, or several composed with
 *              overlayfs (lowerdir only, so still read-only); nosuid, nodev
 *   /dev       a read-only tmpfs with null, zero, full, random, urandom bound
 *              from the host, and the fd/stdin/stdout/stderr links
 * then pivot_root and the old root detached: the host is gone. That much is
 * the same for every run of an image: a slot holds it built, in a mount
 * namespace of its own per image (--hold-userns --image; the host's proc
 * stays bound on its /proc, see build_root), and a run copies that
 * (--image-ns-fd) rather than copy the host's mount table and build it
 * again. The copy shares the image's mounts, read-only, and so the kernel's
 * cache of the image's names (a Python start looks up hundreds); a run's
 * mounts stay in its copy (private propagation). Then, for every run:
 *   /proc      fresh, for this PID namespace, hidepid=invisible
 *   /sys       absent: nothing there is for a program under test
 * and a prepared sandbox stops there.
 * The run's own part comes next:
 *   /box /tmp  one tmpfs with a size and inode cap (the run's scratch),
 *   /dev/shm   shared by these three so that one cap bounds them all; with
 *              --box-lower, /box is an overlay of those read-only files (a
 *              compile's artifacts, shared by every test) under the scratch
 * The image must hold the mount points /box, /tmp, /proc and /dev. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STAGE "/tmp"
#define ROOT STAGE "/root"

/* With the image's namespace, init enters and copies it (mount_build_image). */
int mount_clone_flag(const struct config *cfg) { return cfg->image_ns_fd >= 0 ? 0 : CLONE_NEWNS; }

static int status;

static void mnt(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  if (mount(src, dst, type, flags, data) != 0)
    child_fail(status, "mount %s on %s (%s): %s", src ? src : "-", dst, type ? type : "bind", strerror(errno));
}

static void need_dir(const char *path, const char *what) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
    child_fail(status, "the image has no %s directory (a mount point for %s)", path + strlen(ROOT), what);
}

/* Owned by runner: init's file system ids are runner's (pid.c). */
static void make_dir(const char *path, mode_t mode) {
  if (mkdir(path, mode) != 0) child_fail(status, "mkdir %s: %s", path, strerror(errno));
  if (chmod(path, mode) != 0) child_fail(status, "chmod %s: %s", path, strerror(errno)); /* umask */
}

/* Our host uid is not mapped inside, and the kernel refuses to create files
 * owned by an unmapped id: everything init creates belongs to runner. */
static void runner_fs_ids(void) {
  setfsgid(SANDBOX_ID);
  setfsuid(SANDBOX_ID);
}

static void bind_ro(const char *src, const char *dst, unsigned long extra) {
  mnt(src, dst, NULL, MS_BIND, NULL);
  mnt(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | extra, NULL);
}

static void build_image_root(const char *const *layers, int n_layers, const char *box_lower) {
  /* The layer paths are opened before STAGE is covered by a tmpfs, so that a
   * layer under /tmp on the host still resolves; mounts then use the fds. */
  int fds[MAX_LAYERS];
  char src[64];
  for (int i = 0; i < n_layers; i++) {
    fds[i] = open(layers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fds[i] < 0) child_fail(status, "open layer %s: %s", layers[i], strerror(errno));
  }
  int box_lower_fd = -1;
  if (box_lower && (box_lower_fd = open(box_lower, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
    child_fail(status, "open %s: %s", box_lower, strerror(errno));
  /* Layers opened with the worker's own access; from here on, runner's. */
  runner_fs_ids();
  mnt("ruse", STAGE, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0700");
  make_dir(ROOT, 0755);
  if (n_layers == 1) {
    snprintf(src, sizeof src, "/proc/self/fd/%d", fds[0]);
    bind_ro(src, ROOT, 0);
  } else {
    /* lowerdir only: overlayfs is read-only without an upperdir. */
    char opts[1024] = "lowerdir=";
    for (int i = 0; i < n_layers; i++) {
      snprintf(src, sizeof src, "%s/proc/self/fd/%d", i ? ":" : "", fds[i]);
      strncat(opts, src, sizeof opts - strlen(opts) - 1);
    }
    mnt("overlay", ROOT, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, opts);
  }
  for (int i = 0; i < n_layers; i++) close(fds[i]);
  if (box_lower_fd >= 0) {
    /* Read-only on /box for now; the run's overlay goes on top of it. */
    need_dir(ROOT SANDBOX_HOME, "the working directory");
    snprintf(src, sizeof src, "/proc/self/fd/%d", box_lower_fd);
    bind_ro(src, ROOT SANDBOX_HOME, 0);
    close(box_lower_fd);
  }
}

/* After pivot_root: the scratch tmpfs goes on /tmp, where its directories
 * are made and the files copied in; box, tmp and shm are then bound where
 * they belong, tmp last, on top of the scratch's own root, which no path
 * reaches from then on. */
void mount_build_scratch(const struct config *cfg, int status_fd) {
  status = status_fd;
  char opts[128];
  snprintf(opts, sizeof opts, "size=%llu,nr_inodes=%llu,mode=0755", (unsigned long long)cfg->scratch_bytes,
           (unsigned long long)cfg->scratch_inodes);
  mnt("scratch", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts);
  make_dir("/tmp/box", 0755);
  if (cfg->box_lower) make_dir("/tmp/box-work", 0700);
  make_dir("/tmp/tmp", 01777);
  make_dir("/tmp/shm", 01777);
  if (cfg->files_fd >= 0) {
    /* Safe by name: this tmpfs is brand new and no program has run yet. */
    int box = open("/tmp/box", O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (box < 0) child_fail(status, "open box: %s", strerror(errno));
    files_copy_in(cfg->files_fd, box, status);
    close(box);
    close(cfg->files_fd);
  }
  if (cfg->box_lower) {
    /* New and changed files land in the scratch; the artifacts (bound on
     * /box with the image) stay shared, under the overlay, out of reach. */
    mnt("box", SANDBOX_HOME, "overlay", MS_NOSUID | MS_NODEV,
        "lowerdir=" SANDBOX_HOME ",upperdir=/tmp/box,workdir=/tmp/box-work");
  } else {
    mnt("/tmp/box", SANDBOX_HOME, NULL, MS_BIND, NULL);
  }
  mnt("/tmp/shm", "/dev/shm", NULL, MS_BIND, NULL);
  mnt("/tmp/tmp", "/tmp", NULL, MS_BIND, NULL);
  if (chdir(SANDBOX_HOME) != 0) child_fail(status, "chdir %s: %s", SANDBOX_HOME, strerror(errno));
  /* A working directory outside the root (a leaked fd, CVE-2024-21626) shows
   * as "(unreachable)": refuse to start rather than hand it to the program. */
  char cwd[64];
  if (!getcwd(cwd, sizeof cwd) || strcmp(cwd, SANDBOX_HOME) != 0)
    child_fail(status, "working directory is not %s inside the new root", SANDBOX_HOME);
}

static void build_dev(void) {
  static const char *nodes[] = {"null", "zero", "full", "random", "urandom"};
  static const char *links[][2] = {{"fd", "/proc/self/fd"},
                                   {"stdin", "/proc/self/fd/0"},
                                   {"stdout", "/proc/self/fd/1"},
                                   {"stderr", "/proc/self/fd/2"}};
  char dst[128], src[64];
  need_dir(ROOT "/dev", "/dev");
  mnt("dev", ROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755");
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    snprintf(dst, sizeof dst, ROOT "/dev/%s", nodes[i]);
    snprintf(src, sizeof src, "/dev/%s", nodes[i]);
    struct stat st;
    if (stat(src, &st) != 0 || !S_ISCHR(st.st_mode)) child_fail(status, "host %s is not a character device", src);
    int fd = open(dst, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) child_fail(status, "create %s: %s", dst, strerror(errno));
    close(fd);
    /* A device node cannot be made in a user namespace; a bind of the host's
     * node can, and keeps working because its mount is not nodev. */
    mnt(src, dst, NULL, MS_BIND, NULL);
    mnt(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC, NULL);
  }
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    snprintf(dst, sizeof dst, ROOT "/dev/%s", links[i][0]);
    if (symlink(links[i][1], dst) != 0) child_fail(status, "symlink %s: %s", dst, strerror(errno));
  }
  make_dir(ROOT "/dev/shm", 0755); /* the scratch's shm goes here */
  mnt(NULL, ROOT "/dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755");
}

#define PROC_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)

/* In a copy of the host's mount table: the image alone, as the root. The
 * kernel mounts a new proc in a user namespace only where one is already
 * fully visible: a run's goes on /proc before the host's is detached; an
 * image's namespace keeps the host's bound on /proc for its runs to mount
 * theirs (and then drop it: mount_build_image). */
static void build_root(const char *const *layers, int n_layers, const char *box_lower, bool for_image) {
  /* Nothing we mount may propagate back to the host. */
  mnt(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
  build_image_root(layers, n_layers, box_lower);
  need_dir(ROOT SANDBOX_HOME, "the working directory");
  need_dir(ROOT "/tmp", "/tmp");
  need_dir(ROOT "/proc", "/proc");
  build_dev();
  /* Recursive: a plain bind of a proc with mounts on it (binfmt_misc, under
   * systemd) is refused in a user namespace, as it would uncover them. */
  if (for_image) mnt("/proc", ROOT "/proc", NULL, MS_BIND | MS_REC, NULL);
  else mnt("proc", ROOT "/proc", "proc", PROC_FLAGS, "hidepid=invisible");

  /* pivot_root(".", ".") stacks the old root under the new one; detaching it
   * then leaves no path back to the host. */
  if (chdir(ROOT) != 0) child_fail(status, "chdir new root: %s", strerror(errno));
  if (syscall(SYS_pivot_root, ".", ".") != 0) child_fail(status, "pivot_root: %s", strerror(errno));
  if (umount2(".", MNT_DETACH) != 0) child_fail(status, "detach old root: %s", strerror(errno));
  if (chdir("/") != 0) child_fail(status, "chdir /: %s", strerror(errno));
}

void mount_build_template(const char *layers, int status_fd) {
  status = status_fd;
  static char buf[MAX_LAYERS * 512];
  const char *dirs[MAX_LAYERS];
  int n = 0;
  if (strlen(layers) >= sizeof buf) child_fail(status, "image layers too long");
  strcpy(buf, layers);
  for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    if (n == MAX_LAYERS) child_fail(status, "too many layers (max %d)", MAX_LAYERS);
    dirs[n++] = d;
  }
  if (n == 0) child_fail(status, "an image needs at least one layer");
  if (unshare(CLONE_NEWNS) != 0) child_fail(status, "unshare a mount namespace: %s", strerror(errno));
  build_root(dirs, n, NULL, true);
}

void mount_build_image(const struct config *cfg, int status_fd) {
  status = status_fd;
  if (cfg->image_ns_fd >= 0) {
    /* The slot's namespace of the image, copied: the run's mounts go in the
     * copy only (the image's mounts are private). */
    if (!user_owns_namespace(cfg->image_ns_fd)) child_fail(status, "--image-ns-fd is not the slot's mount namespace");
    if (setns(cfg->image_ns_fd, CLONE_NEWNS) != 0 || unshare(CLONE_NEWNS) != 0)
      child_fail(status, "copy the image's mount namespace: %s", strerror(errno));
    close(cfg->image_ns_fd);
    runner_fs_ids();
    /* Our proc where the scratch will go, the host's dropped, ours moved on
     * /proc: nothing of the host's proc stays in the run's mount table. */
    mnt("proc", "/tmp", "proc", PROC_FLAGS, "hidepid=invisible");
    if (umount2("/proc", MNT_DETACH) != 0) child_fail(status, "detach the host's proc: %s", strerror(errno));
    mnt("/tmp", "/proc", NULL, MS_MOVE, NULL);
  } else {
    build_root(cfg->layers, cfg->n_layers, cfg->box_lower, false);
  }
}
