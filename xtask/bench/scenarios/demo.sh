# expect: oops
# timeout: 300
# What `cargo xtask demo` shows: a real driver's quiesce and a real violation.
# aplay plays while the HD-audio controller is removed and rescanned (every
# rule holds), then the fixture, loaded in touch-after-unmap mode, is removed:
# its work reads BAR0 after iounmap (an Oops under TCG, survived on its unbound
# workqueue) before the rescan brings it back.
ground_truth_start
phase load
fixture_load touch-after-unmap || exit 1
barwatch_start --profile /bench/profiles/fixture.toml
phase setup
HDA_BDF=$(bound_bdf snd_hda_intel) || { log "snd_hda_intel bound no device"; exit 1; }
echo "bdf=$HDA_BDF" >> $R/facts
play > $R/aplay.log 2>&1 &
player=$!
sleep 2

phase remove
echo 1 > /sys/bus/pci/devices/$HDA_BDF/remove
wait $player

phase rescan
rescan_hda || exit 1
play -d 1 > $R/aplay-after.log 2>&1

phase fixture-remove
echo 1 > /sys/bus/pci/devices/$FIXTURE_BDF/remove
sleep 1

phase fixture-rescan
echo 1 > /sys/bus/pci/rescan
wait_for /sys/bus/pci/drivers/barwatch_fixture/$FIXTURE_BDF 10 || log "the fixture did not bind again"
sleep 1

phase done
barwatch_stop
ground_truth_stop
