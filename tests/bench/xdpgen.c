/* xdpgen IFACE FRAMEFILE COUNT [SHARE]: COUNT copies of the frame in
 * FRAMEFILE out of IFACE, through BPF_PROG_TEST_RUN with live frames: the
 * program returns XDP_TX, which test_run turns into a redirect out of
 * IFACE (on a veth, ndo_xdp_xmit into the peer's XDP program), in batches
 * of 64. Prints the run's wall time as "ns N".
 * With SHARE (0 to 1), the program sends that share of the COUNT frames,
 * drawn at random, and drops the rest: a lower rate, the frames spread
 * evenly over the run. (Pacing from user space does not work here: each
 * BPF_PROG_TEST_RUN call waits 5-15 ms in its setup and teardown, so
 * short runs on a clock reach a few kpps.) The rate reached is the peer's
 * rx counter over the run's time. */
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
	/* r0 = bpf_get_prandom_u32() >> 1; r0 > thr ? XDP_DROP : XDP_TX */
	struct bpf_insn prog[] = {
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_get_prandom_u32 },
		{ .code = BPF_ALU64 | BPF_RSH | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_JGT | BPF_K, .dst_reg = BPF_REG_0, .off = 2, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_TX },
		{ .code = BPF_JMP | BPF_EXIT },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_DROP },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct bpf_insn all[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_TX },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	double share = argc == 5 ? atof(argv[4]) : 1;
	unsigned char frame[2048];
	struct xdp_md ctx = { 0 };
	struct timespec t0, t1;
	size_t len;
	FILE *f;
	int fd;

	if ((argc != 4 && argc != 5) || !(share > 0 && share <= 1)) {
		fprintf(stderr, "usage: xdpgen IFACE FRAMEFILE COUNT [SHARE (0 to 1)]\n");
		return 2;
	}
	prog[2].imm = (int)(share * 2147483647.0);
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
	if (share < 1)
		fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdpgen", "GPL", prog, 7, NULL);
	else
		fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdpgen", "GPL", all, 2, NULL);
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
