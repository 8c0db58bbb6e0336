/*
 * ifaces.c - the interfaces a capture can open, as libpcap lists them
 * (tcpdump -D), and the name of an interface index (if_indextoname, for
 * the Linux cooked v2 header's ifindex).
 */
#include <errno.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <string.h>
#include "err.h"

static void copy_text(char *dst, size_t n, const char *src)
{
	if (!src)
		src = "";
	strncpy(dst, src, n - 1);
	dst[n - 1] = '\0';
}

int pktsh_ifaces(struct pktsh_iface *out, int max, struct pktsh_err *err)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	pcap_if_t *list, *d;
	int n = 0;

	if (pcap_findalldevs(&list, ebuf) < 0) {
		pktsh_err_set(err, 0, "listing interfaces: %s", ebuf);
		return -1;
	}
	for (d = list; d; d = d->next, n++) {
		if (n >= max)
			continue;
		copy_text(out[n].name, sizeof(out[n].name), d->name);
		copy_text(out[n].description, sizeof(out[n].description), d->description);
		out[n].flags = d->flags;
	}
	pcap_freealldevs(list);
	return n;
}

int pktsh_if_name(uint32_t index, char *buf, size_t len)
{
	char name[IF_NAMESIZE];

	if (len == 0 || !if_indextoname(index, name))
		return -1;
	copy_text(buf, len, name);
	return 0;
}
