# expect: clean
# timeout: 600
# N remove/rescan cycles of the HD-audio controller during playback
# (barwatch.cycles=N on the command line; `cargo xtask vm run rescan-cycles --param cycles=N`).
cycles=$(param cycles 3)
ground_truth_start
barwatch_start
bdf=$(bound_bdf snd_hda_intel) || { log "snd_hda_intel bound no device"; exit 1; }
echo "bdf=$bdf" >> $R/facts
echo "cycles=$cycles" >> $R/facts
n=1
while [ $n -le $cycles ]; do
    phase "cycle$n"
    play > $R/aplay-$n.log 2>&1 &
    player=$!
    sleep 1
    echo "bar0_cycle$n=$(bar0 $bdf)" >> $R/facts
    echo 1 > /sys/bus/pci/devices/$bdf/remove
    wait $player
    rescan_hda || { log "cycle $n failed"; exit 1; }
    n=$((n + 1))
done
phase replay
play -d 1 > $R/aplay-last.log 2>&1
echo "aplay_last_exit=$?" >> $R/facts
phase done
barwatch_stop
ground_truth_stop
grep -q aplay_last_exit=0 $R/facts
