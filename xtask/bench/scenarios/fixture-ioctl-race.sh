# expect: maybe-oops
# timeout: 240
# A process loops ioctls on /dev/barwatch_fixture while the device is removed;
# the fixture's ioctl reads BAR0 without waiting for remove, which unmaps under it.
# Whether the read faults depends on the lazily flushed TLB; the reads after
# iounmap are the bug either way.
race() {
    # BARWATCH_FIXTURE_IOCTL_READ = _IOR(0xb7, 0x01, __u32)
    ioctl_loop /dev/barwatch_fixture 0x8004b701
}
fixture_cycle ioctl-race race
