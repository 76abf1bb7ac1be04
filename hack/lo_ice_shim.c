/* For single-machine tests and the local demo only, never in a gateway pod.
 *
 * Janus 1.1 leaves out every interface flagged IFF_LOOPBACK when it gathers ICE candidates,
 * so a browser on the same machine can never reach a Janus that only has 127.0.0.1. Loaded
 * with LD_PRELOAD, this getifaddrs() clears that flag; with ice_enforce_list = "lo" Janus then
 * offers a 127.0.0.1 host candidate. In a pod Janus uses the pod IP and needs none of this.
 *
 *   gcc -shared -fPIC -O2 -o lo_ice_shim.so hack/lo_ice_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stddef.h>

typedef int (*getifaddrs_fn)(struct ifaddrs **);

int getifaddrs(struct ifaddrs **out) {
    static getifaddrs_fn next = NULL;
    if (next == NULL)
        next = (getifaddrs_fn)dlsym(RTLD_NEXT, "getifaddrs");
    int rc = next(out);
    if (rc != 0)
        return rc;
    for (struct ifaddrs *it = *out; it != NULL; it = it->ifa_next)
        it->ifa_flags &= ~(unsigned int)IFF_LOOPBACK;
    return 0;
}
