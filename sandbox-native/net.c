/* The network namespace lie: a run has no interface but loopback, so it can
 * reach no host service and no other address. Loopback itself stays down
 * unless the request asks for it (a program that serves and calls itself). */
#include "launcher.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int net_clone_flag(void) { return CLONE_NEWNET; }

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
