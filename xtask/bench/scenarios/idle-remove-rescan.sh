# expect: clean
# timeout: 240
# The HD-audio controller is removed and rescanned with no client open.
hda_setup || exit 1
bdf=$HDA_BDF
sleep 1

phase remove
echo 1 > /sys/bus/pci/devices/$bdf/remove

phase rescan
rescan_hda || exit 1
echo "bar0_after=$(bar0 $bdf)" >> $R/facts

phase done
barwatch_stop
ground_truth_stop
