# expect: clean
# timeout: 240
# aplay is playing when the HD-audio controller is removed through sysfs; the
# bus is rescanned and aplay plays again on the re-probed card.
hda_setup || exit 1
bdf=$HDA_BDF
play > $R/aplay-before.log 2>&1 &
player=$!
sleep 2

phase remove
echo 1 > /sys/bus/pci/devices/$bdf/remove
wait $player
echo "aplay_before_exit=$?" >> $R/facts

phase rescan
rescan_hda || exit 1
echo "bar0_after=$(bar0 $bdf)" >> $R/facts

phase replay
play -d 2 > $R/aplay-after.log 2>&1
echo "aplay_after_exit=$?" >> $R/facts

phase done
barwatch_stop
ground_truth_stop
grep -q aplay_after_exit=0 $R/facts
