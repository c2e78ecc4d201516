/* The network namespace lie: a run has no interface but loopback, so it can
 * reach no host service and no other address. Loopback itself stays down
 * unless the request asks for it (a program that serves and calls itself).
 *
 * A run without loopback enters its slot's network namespace, made once with
 * the slot's user namespace (user.c) and kept down: making and tearing down a
 * namespace per run cost ~0.6 ms of CPU (its loopback device, sysctl tables,
 * and the kernel's cleanup work after it). Sockets die with their
 * processes, and only our own processes (holder, launcher, init) have
 * CAP_NET_ADMIN there. Two things could outlive a run and be read by the
 * next, a channel between runs: the namespace's counters (/proc/net/snmp,
 * snmp6: a failed connect counts in OutNoRoutes), and an abstract Unix
 * socket kept alive by nothing but a reference to itself in flight
 * (SCM_RIGHTS), until the kernel's garbage collector frees it. The launcher
 * looks after each run (net_left_behind), and the worker then gives the
 * slot's later runs namespaces of their own. A run with loopback gets a
 * namespace of its own, so that no port it held lingers (TIME_WAIT) for the
 * next. */
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

/* Whether the namespace's counters show a count: a new namespace has none,
 * only these constants of its settings. snmp holds header and value lines
 * in pairs ("Ip: Forwarding ..." then "Ip: 2 ..."). */
static bool counted_pairs(const char *file) {
  static const char *const constants[] = {"Forwarding", "DefaultTTL", "RtoAlgorithm", "RtoMin", "RtoMax", "MaxConn"};
  FILE *f = fopen(file, "re");
  if (!f) return true; /* cannot tell: assume the worst */
  static char names[8192], values[8192];
  bool moved = false;
  while (!moved && fgets(names, sizeof names, f) && fgets(values, sizeof values, f)) {
    char *ns, *vs, *n = strtok_r(names, " \n", &ns), *v = strtok_r(values, " \n", &vs); /* "Ip:" twice */
    while (!moved && (n = strtok_r(NULL, " \n", &ns)) && (v = strtok_r(NULL, " \n", &vs))) {
      bool constant = false;
      for (size_t i = 0; i < sizeof constants / sizeof *constants; i++) constant |= strcmp(n, constants[i]) == 0;
      moved = !constant && strcmp(v, "0") != 0;
    }
  }
  fclose(f);
  return moved;
}

/* snmp6: a "name value" line per counter, every one 0 in a new namespace. */
static bool counted_lines(const char *file) {
  FILE *f = fopen(file, "re");
  if (!f) return errno != ENOENT; /* none without IPv6 */
  char name[128];
  long long v = 0;
  bool moved = false;
  while (!moved && fscanf(f, "%127s %lld", name, &v) == 2) moved = v != 0;
  fclose(f);
  return moved;
}

/* After a run in the slot's namespace, its processes all dead: whether a
 * Unix socket of it is still there or a counter moved (see above), which
 * the worker then keeps the slot's later runs from meeting. We are in that
 * namespace too. */
bool net_left_behind(const struct config *cfg) {
  if (cfg->netns_fd < 0) return false;
  /* Not netstat (TcpExt, IpExt): with no interface up, connects and sends
   * over TCP and UDP, IPv4 and IPv6, and a listen moved only Ip OutNoRoutes
   * there (measured), and netstat costs more to read than snmp and snmp6
   * together (~70 us, per run). */
  if (counted_pairs("/proc/self/net/snmp") || counted_lines("/proc/self/net/snmp6")) return true;
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
