/* The network namespace lie: a run has no interface but loopback, so it can
 * reach no host service and no other address. Loopback itself stays down
 * unless the request asks for it (a program that serves and calls itself).
 *
 * A run without loopback enters its slot's network namespace, made once with
 * the slot's user namespace (user.c) and kept down: making and tearing down a
 * namespace per run cost ~0.6 ms of CPU (its loopback device, sysctl tables,
 * and the kernel's cleanup work after it). Nothing a run leaves there
 * lives on: sockets die with their processes, and only our own processes
 * (holder, builders, launcher, init) have CAP_NET_ADMIN there. Its counters
 * (/proc/net/snmp, /proc/net/dev) add up over the slot's runs, and one known
 * case lasts a while: an abstract Unix socket kept alive by nothing but a
 * reference to itself in flight (SCM_RIGHTS) lives until the kernel's
 * garbage collector frees it. The launcher looks after each run
 * (net_left_behind), and the worker then gives the slot's later runs
 * namespaces of their own. A run with loopback gets a namespace of its own,
 * so that no port it held lingers (TIME_WAIT) for the next. */
#include "launcher.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int net_clone_flag(const struct config *cfg) { return cfg->netns_fd >= 0 ? 0 : CLONE_NEWNET; }

/* After entering the slot's user namespace: enter its network namespace,
 * once sure that it belongs to that user namespace (a stale or wrong fd is
 * refused, as user.c refuses a wrong user namespace). */
void net_enter_namespace(const struct config *cfg) {
  if (cfg->netns_fd < 0) return;
  if (!user_owns_namespace(cfg->netns_fd)) fail("--netns-fd is not the slot's network namespace");
  if (setns(cfg->netns_fd, CLONE_NEWNET) != 0) fail("enter the slot's network namespace: %s", strerror(errno));
  close(cfg->netns_fd);
}

/* After a run in the slot's namespace, its processes all dead: whether a
 * Unix socket of it is still there (see above), which the worker then keeps
 * the slot's later runs from meeting. We are in that namespace too. */
bool net_left_behind(const struct config *cfg) {
  if (cfg->netns_fd < 0) return false;
  FILE *f = fopen("/proc/self/net/unix", "re");
  if (!f) return true; /* cannot tell: assume the worst */
  char line[512];
  int lines = 0;
  while (fgets(line, sizeof line, f) && lines < 2) lines++;
  fclose(f);
  return lines > 1; /* the header, then one line per socket */
}

void net_setup(const struct config *cfg, int status_fd) {
  if (!cfg->net_loopback) return;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) child_fail(status_fd, "loopback: %s", strerror(errno));
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) child_fail(status_fd, "bring loopback up: %s", strerror(errno));
  close(s);
}
