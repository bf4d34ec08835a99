/*
 * call_loop CALL COUNT [FILE]: times COUNT calls of one kind in a tight loop
 * on CPU 0 and prints "CALL NS_PER_CALL" (nanoseconds, CLOCK_MONOTONIC). CALL
 * is "alsa" (SNDRV_CTL_IOCTL_PVERSION on FILE: on an ALSA control device it
 * runs snd_ctl_ioctl, which answers without touching the hardware; on
 * /dev/null, the default, it is ALSA-typed and refused with ENOTTY, seen only
 * by the syscall hooks), "other-ioctl" (FIONREAD on FILE: no ALSA type) or
 * "getppid": the guest's half of the kernel benchmark, the same calls as the
 * host's load generator (agent/examples/alsa_ioctls.rs). Built statically for
 * the bench guest.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SNDRV_CTL_IOCTL_PVERSION 0x80045500UL

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long cmd = 0, i, count;
	char buffer[512];
	cpu_set_t cpus;
	double started;
	const char *file = "/dev/null";
	int fd, getppid_only = 0;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: %s alsa|other-ioctl|getppid COUNT [FILE]\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "alsa") == 0)
		cmd = SNDRV_CTL_IOCTL_PVERSION;
	else if (strcmp(argv[1], "other-ioctl") == 0)
		cmd = FIONREAD;
	else if (strcmp(argv[1], "getppid") == 0)
		getppid_only = 1;
	else {
		fprintf(stderr, "%s: not a call: %s (alsa, other-ioctl, getppid)\n", argv[0], argv[1]);
		return 2;
	}
	count = strtoul(argv[2], NULL, 0);
	if (argc == 4)
		file = argv[3];
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus) != 0) {
		perror("sched_setaffinity");
		return 1;
	}
	fd = open(file, O_RDONLY);
	if (fd < 0) {
		perror(file);
		return 1;
	}
	started = now_ns();
	for (i = 0; i < count; i++) {
		if (getppid_only)
			getppid();
		else
			ioctl(fd, cmd, buffer);
	}
	printf("%s %.1f\n", argv[1], (now_ns() - started) / (count ? count : 1));
	return 0;
}
