/*
 * ioctl_loop PATH CMD: issues ioctl(CMD) on PATH about every 50 microseconds
 * until killed, reopening the file when it goes away, so ioctls keep arriving
 * while the device behind it is removed. (Unthrottled, a second of it under TCG
 * filled the results disk with a quarter-gigabyte capture.) Built statically
 * for the bench guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned long cmd;
	unsigned long long calls = 0, failures = 0;
	char buffer[4096];
	int fd = -1;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PATH CMD\n", argv[0]);
		return 2;
	}
	cmd = strtoul(argv[2], NULL, 0);
	for (;;) {
		if (fd < 0) {
			fd = open(argv[1], O_RDWR);
			if (fd < 0) {
				usleep(1000);
				continue;
			}
		}
		calls++;
		if (ioctl(fd, cmd, buffer) < 0) {
			failures++;
			if (errno == ENODEV || errno == EBADF) {
				close(fd);
				fd = -1;
			}
		}
		usleep(50);
		if ((calls & 0xffff) == 0)
			fprintf(stderr, "ioctl_loop: %llu calls, %llu failed\n", calls, failures);
	}
}
