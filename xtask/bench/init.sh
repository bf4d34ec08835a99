#!/bin/busybox sh
# PID 1 of the bench guest: mount the kernel's filesystems, load the modules in
# the order xtask resolved from modules.dep, run the scenario named on the kernel
# command line (barwatch.scenario=NAME, or "shell"), then power off.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /results /sbin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
ulimit -c 0
# As hardened distributions ship it: root sees real kernel addresses in
# /proc/vmallocinfo, so barwatch knows the mappings drivers made before it started.
echo 1 > /proc/sys/kernel/kptr_restrict
while read -r module; do
    insmod "$module" || echo "bench: insmod $module failed"
done < /etc/barwatch/modules
scenario=$(sed -n 's/.*barwatch\.scenario=\([^ ]*\).*/\1/p' /proc/cmdline)
. /bench/lib.sh
if [ "$scenario" = shell ]; then
    echo "bench: shell; scenarios are in /bench/scenarios, helpers in /bench/lib.sh"
    setsid cttyhack sh -l
else
    run_scenario "$scenario"
fi
sync
poweroff -f
