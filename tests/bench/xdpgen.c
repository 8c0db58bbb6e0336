/* xdpgen IFACE FRAMEFILE COUNT: COUNT copies of the frame in FRAMEFILE out
 * of IFACE, through BPF_PROG_TEST_RUN with live frames: the program returns
 * XDP_TX, which test_run turns into a redirect out of IFACE (on a veth,
 * ndo_xdp_xmit into the peer's XDP program), in batches of 64. Prints the
 * run's wall time as "ns N". */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

int main(int argc, char **argv)
{
	struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_TX },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	unsigned char frame[2048];
	struct xdp_md ctx = { 0 };
	struct timespec t0, t1;
	size_t len;
	FILE *f;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: xdpgen IFACE FRAMEFILE COUNT\n");
		return 2;
	}
	ctx.ingress_ifindex = if_nametoindex(argv[1]);
	if (!ctx.ingress_ifindex) {
		perror(argv[1]);
		return 1;
	}
	f = fopen(argv[2], "rb");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	len = fread(frame, 1, sizeof(frame), f);
	fclose(f);
	ctx.data_end = len;      /* test_run wants the context to match the data */
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdpgen", "GPL", prog, 2, NULL);
	if (fd < 0) {
		fprintf(stderr, "xdpgen: loading the program: %s\n", strerror(-fd));
		return 1;
	}
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .repeat = strtoul(argv[3], NULL, 0),
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (bpf_prog_test_run_opts(fd, &o)) {
		fprintf(stderr, "xdpgen: BPF_PROG_TEST_RUN (live frames): %s\n", strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("ns %lld\n", (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
	return 0;
}
