# expect: clean
# timeout: 480
# ground-truth: none
# The soak, clean: N cycles (barwatch.cycles=N, default 10) of removing the
# HD-audio controller during playback and rescanning it, while amixer reads and
# writes the mixer in a loop the whole time. barwatch checks it all; every
# cycle must close and the kernel must not complain. `cargo xtask soak` runs it
# with 50. The fixture is not cycled alongside: the controller's re-probe
# interrupts fell in the fixture's unmap window, and under the mixer loop's
# BPF programs the kernel skipped some of their kprobes (bpf_prog_active), which
# leaves mmio-after-unmap rightly incomplete.
cycles=$(param cycles 10)
barwatch_start || exit 1
phase setup
bdf=$(bound_bdf snd_hda_intel) || { log "snd_hda_intel bound no device"; exit 1; }
echo "bdf=$bdf" >> $R/facts
echo "cycles=$cycles" >> $R/facts
(
    while [ ! -e /tmp/soak-stop ]; do
        amixer -q -c 0 sset Master 50% >/dev/null 2>&1 || sleep 0.1
        amixer -c 0 sget Master >/dev/null 2>&1
    done
) &
mixer=$!
soak_begin
n=1
while [ $n -le $cycles ]; do
    phase "cycle$n"
    play > $R/aplay.log 2>&1 &
    player=$!
    sleep 1
    echo 1 > /sys/bus/pci/devices/$bdf/remove
    wait $player
    rescan_hda || { log "cycle $n: the card did not come back"; exit 1; }
    soak_cycle_done $n
    n=$((n + 1))
done
soak_end $cycles
touch /tmp/soak-stop
wait $mixer
phase replay
play -d 1 > $R/aplay-last.log 2>&1
echo "aplay_last_exit=$?" >> $R/facts
phase done
barwatch_stop
grep -q aplay_last_exit=0 $R/facts
