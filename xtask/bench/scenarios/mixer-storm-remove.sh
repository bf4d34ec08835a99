# expect: clean
# timeout: 240
# amixer reads and writes controls in a tight loop while the controller is
# removed; ALSA's own tracking must keep every control ioctl away from the
# unmapped BAR.
hda_setup || exit 1
bdf=$HDA_BDF
(
    while [ -e /dev/snd/controlC0 ]; do
        amixer -q -c 0 sset Master 50% >/dev/null 2>&1
        amixer -c 0 sget Master >/dev/null 2>&1
    done
) &
storm=$!
sleep 2

phase remove
echo 1 > /sys/bus/pci/devices/$bdf/remove
wait $storm

phase rescan
rescan_hda || exit 1

phase done
barwatch_stop
ground_truth_stop
