/* The user namespace lie: inside, the program is uid/gid 1000 ("runner") and
 * nobody is root. Outside, that id is one host uid per concurrent slot, taken
 * from the worker's /etc/subuid and /etc/subgid ranges, so that it is never
 * the worker's own uid: a sandboxed program cannot signal, ptrace or read the
 * files of the worker, the launcher, init, or a run in another slot. The
 * slot's namespace is made once, by its holder (hold.c), and entered by
 * every run of the slot. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <linux/nsfs.h>
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

/* Once per slot, by its holder (hold.c): map runner to the slot's host ids in
 * pid's user namespace. Every run checks this map as it enters the namespace
 * (user_enter_namespace). */
void user_map_ids(const struct config *cfg, pid_t pid) {
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

/* Enter the slot's namespace, after checking that it maps runner to the
 * host id this run was given (a stale or wrong fd is refused). Entering
 * gives us every capability inside it, to make the run's other namespaces. */
void user_enter_namespace(const struct config *cfg) {
  if (setns(cfg->userns_fd, CLONE_NEWUSER) != 0) fail("enter the slot's user namespace: %s", strerror(errno));
  close(cfg->userns_fd);
  const struct {
    const char *file;
    long want;
  } maps[] = {{"/proc/self/uid_map", cfg->weak_same_uid ? (long)getuid() : cfg->uid_host},
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
  bool same = owner >= 0 && fstat(owner, &a) == 0 && stat("/proc/self/ns/user", &b) == 0 && a.st_dev == b.st_dev &&
              a.st_ino == b.st_ino;
  if (owner >= 0) close(owner);
  return same;
}

/* In the program's process, just before exec: become runner and give up
 * every capability, so that CapEff, CapPrm, CapInh, CapAmb and CapBnd are 0. */
void user_become_runner(const struct config *cfg, int status_fd) {
  /* Drop the worker's supplementary groups (they would still count on the
   * host). In weak mode setgroups is denied and there are none to drop that
   * the worker does not already have. */
  if (setgroups(0, NULL) != 0 && !cfg->weak_same_uid) child_fail(status_fd, "setgroups: %s", strerror(errno));
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
