# expect: clean
# timeout: 240
# The HD-audio controller is removed and rescanned during playback while barwatch
# watches the PCI core's functions through fentry/fexit instead of kprobes: one
# trampoline program per function, each counted against the kernel's own tracing.
hda_setup --prefer-fentry || exit 1
bdf=$HDA_BDF
play > $R/aplay.log 2>&1 &
player=$!
sleep 1

phase remove
echo 1 > /sys/bus/pci/devices/$bdf/remove
wait $player

phase rescan
rescan_hda || exit 1
echo "bar0_after=$(bar0 $bdf)" >> $R/facts

phase done
barwatch_stop
ground_truth_stop
