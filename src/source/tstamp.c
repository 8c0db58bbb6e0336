/*
 * tstamp.c - time for the receivers (ring.c) and the sender (sender.c):
 * turning hardware stamping on, the offset between a NIC's PTP clock and
 * the system's, decoding SCM_TIMESTAMPING, and sleeping to a schedule.
 *
 * Hardware stamping is a device setting (SIOCSHWTSTAMP), shared by every
 * socket on the interface: pktsh turns on what it needs and leaves the
 * other direction as it found it. The kernel stamps in the NIC's clock
 * (raw); converting to the system clock takes the offset between the two,
 * read from the PTP clock the NIC exposes (/dev/ptpN).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/errqueue.h>
#include <linux/ethtool.h>
#include <linux/net_tstamp.h>
#include <linux/ptp_clock.h>
#include <linux/sockios.h>
#include "err.h"
#include "source/tstamp.h"

#define PHC_SAMPLES 9
#define PHC_EVERY_NS 1000000000LL

/* A socket for device ioctls (any family will do). */
static int ctl_socket(struct pktsh_err *err)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		pktsh_err_set(err, errno, "socket for interface ioctls: %s", strerror(errno));
	return fd;
}

static int dev_ioctl(int fd, const char *ifname, unsigned long req, void *data)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = data;
	return ioctl(fd, req, &ifr);
}

/* The stand-in for SIOCSHWTSTAMP in tests: 1 handled (errno set on
 * failure, *rc the result), 0 not asked for. */
static int fake_hwtstamp(int *rc)
{
	const char *f = getenv("PKTSH_FAKE_HWTSTAMP");

	if (!f || !*f)
		return 0;
	if (!strcmp(f, "ok")) {
		*rc = 0;
		return 1;
	}
	errno = atoi(f) > 0 ? atoi(f) : EOPNOTSUPP;
	*rc = -1;
	return 1;
}

static void hw_error(struct pktsh_err *err, const char *ifname, int tx, int e)
{
	const char *what = tx ? "transmit" : "receive";

	if (e == EPERM || e == EACCES)
		pktsh_err_set(err, e, "hardware %s stamps on '%s' need CAP_NET_ADMIN "
			      "(SIOCSHWTSTAMP: %s)", what, ifname, strerror(e));
	else if (e == ERANGE)
		pktsh_err_set(err, e, "interface '%s' cannot stamp every %s packet in "
			      "hardware (SIOCSHWTSTAMP: %s); use tstamp = \"sw\"",
			      ifname, tx ? "sent" : "received", strerror(e));
	else
		pktsh_err_set(err, e, "interface '%s' has no hardware %s timestamps "
			      "(SIOCSHWTSTAMP: %s); use tstamp = \"sw\"", ifname, what,
			      strerror(e));
}

int tstamp_hw_enable(const char *ifname, int tx, int rx, struct pktsh_err *err)
{
	struct hwtstamp_config cfg;
	int fd, rc;

	if (fake_hwtstamp(&rc)) {
		if (rc)
			hw_error(err, ifname, tx, errno);
		return rc;
	}
	if ((fd = ctl_socket(err)) < 0)
		return -1;
	memset(&cfg, 0, sizeof(cfg));
	/* What is on now, so the other direction stays as it is (drivers
	 * without SIOCGHWTSTAMP: off and none). */
	if (dev_ioctl(fd, ifname, SIOCGHWTSTAMP, &cfg))
		memset(&cfg, 0, sizeof(cfg));
	if (tx)
		cfg.tx_type = HWTSTAMP_TX_ON;
	if (rx)
		cfg.rx_filter = HWTSTAMP_FILTER_ALL;
	rc = dev_ioctl(fd, ifname, SIOCSHWTSTAMP, &cfg);
	if (rc)
		hw_error(err, ifname, tx, errno);
	close(fd);
	return rc ? -1 : 0;
}

int tstamp_phc_index(const char *ifname, int *index, struct pktsh_err *err)
{
	struct ethtool_ts_info ti = { .cmd = ETHTOOL_GET_TS_INFO };
	int fd = ctl_socket(err);

	if (fd < 0)
		return -1;
	if (dev_ioctl(fd, ifname, SIOCETHTOOL, &ti)) {
		pktsh_err_set(err, errno, "interface '%s': cannot ask for its PTP clock "
			      "(ETHTOOL_GET_TS_INFO: %s); use hwclock = \"raw\"", ifname,
			      strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	if (ti.phc_index < 0) {
		pktsh_err_set(err, ENODEV, "interface '%s' has no PTP hardware clock to "
			      "convert its hardware stamps with (ethtool -T: PTP Hardware "
			      "Clock: none); use hwclock = \"raw\"", ifname);
		return -1;
	}
	*index = ti.phc_index;
	return 0;
}

int64_t pktsh_phc_offset(const int64_t *samples, uint32_t n, int64_t *window)
{
	int64_t best = 0, width = INT64_MAX;

	for (uint32_t i = 0; i < n; i++) {
		int64_t before = samples[3 * i], phc = samples[3 * i + 1];
		int64_t after = samples[3 * i + 2];

		if (after < before || after - before >= width)
			continue;
		width = after - before;
		best = before + (after - before) / 2 - phc;
	}
	if (window)
		*window = width == INT64_MAX ? -1 : width;
	return best;
}

static int64_t ptp_ns(const struct ptp_clock_time *t)
{
	return (int64_t)t->sec * 1000000000LL + t->nsec;
}

/* One measurement: 0 and the offset, or -1 (errno). */
static int phc_measure(int fd, int64_t *offset)
{
	struct ptp_sys_offset_extended x;
	int64_t s[3 * PHC_SAMPLES];

	memset(&x, 0, sizeof(x));
	x.n_samples = PHC_SAMPLES;
	if (ioctl(fd, PTP_SYS_OFFSET_EXTENDED, &x) == 0) {
		for (int i = 0; i < PHC_SAMPLES; i++)
			for (int j = 0; j < 3; j++)
				s[3 * i + j] = ptp_ns(&x.ts[i][j]);
	} else {
		/* Older drivers: system, clock, system, clock ..., system. */
		struct ptp_sys_offset o;

		memset(&o, 0, sizeof(o));
		o.n_samples = PHC_SAMPLES;
		if (ioctl(fd, PTP_SYS_OFFSET, &o))
			return -1;
		for (int i = 0; i < PHC_SAMPLES; i++) {
			s[3 * i] = ptp_ns(&o.ts[2 * i]);
			s[3 * i + 1] = ptp_ns(&o.ts[2 * i + 1]);
			s[3 * i + 2] = ptp_ns(&o.ts[2 * i + 2]);
		}
	}
	*offset = pktsh_phc_offset(s, PHC_SAMPLES, NULL);
	return 0;
}

int tstamp_phc_open(struct phc_clock *p, int index, const char *ifname,
		    struct pktsh_err *err)
{
	char path[32];

	snprintf(path, sizeof(path), "/dev/ptp%d", index);
	p->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->fd < 0) {
		pktsh_err_set(err, errno, "interface '%s': cannot open its PTP clock %s: %s",
			      ifname, path, strerror(errno));
		return -1;
	}
	if (phc_measure(p->fd, &p->offset)) {
		pktsh_err_set(err, errno, "interface '%s': cannot read its PTP clock %s "
			      "against the system's: %s", ifname, path, strerror(errno));
		tstamp_phc_close(p);
		return -1;
	}
	p->next_mono = pktsh_mono_ns() + PHC_EVERY_NS;
	return 0;
}

void tstamp_phc_refresh(struct phc_clock *p)
{
	int64_t now = pktsh_mono_ns(), off;

	if (p->fd < 0 || now < p->next_mono)
		return;
	p->next_mono = now + PHC_EVERY_NS;
	if (phc_measure(p->fd, &off) == 0)
		p->offset = off;
}

void tstamp_phc_close(struct phc_clock *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

void tstamp_scm(const void *cmsg_data, int64_t *sw, int64_t *hw)
{
	struct scm_timestamping t;

	memcpy(&t, cmsg_data, sizeof(t));
	*sw = tstamp_ns(&t.ts[0]);
	*hw = tstamp_ns(&t.ts[2]);
}

int pktsh_sleep_until(int64_t mono_ns, int64_t spin_ns)
{
	int64_t wake = mono_ns - (spin_ns > 0 ? spin_ns : 0);

	if (pktsh_mono_ns() < wake) {
		struct timespec ts = { .tv_sec = wake / 1000000000LL,
				       .tv_nsec = wake % 1000000000LL };

		if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
			return 1;     /* a signal: the caller looks at why */
	}
	while (pktsh_mono_ns() < mono_ns)
		if (pktsh_stopping())
			return 1;
	return 0;
}
