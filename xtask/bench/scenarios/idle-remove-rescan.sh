# expect: clean
# timeout: 240
# The HD-audio controller is removed and rescanned with no client open.
ground_truth_start
barwatch_start

phase setup
bdf=$(bound_bdf snd_hda_intel) || { log "snd_hda_intel bound no device"; exit 1; }
echo "bdf=$bdf" >> $R/facts
echo "bar0_before=$(bar0 $bdf)" >> $R/facts
sleep 1

phase remove
echo 1 > /sys/bus/pci/devices/$bdf/remove

phase rescan
echo 1 > /sys/bus/pci/rescan
wait_for /proc/asound/card0/pcm0p 30 || { log "the card did not come back"; exit 1; }
echo "bar0_after=$(bar0 $bdf)" >> $R/facts

phase done
barwatch_stop
ground_truth_stop
