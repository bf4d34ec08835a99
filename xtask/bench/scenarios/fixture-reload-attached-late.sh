# expect: clean
# timeout: 240
# Like fixture-reload-while-attached, with a profile that names no module:
# barwatch cannot arm the fixture's functions through tracefs before the module
# loads, so it attaches them directly once it has loaded. Such a kprobe goes with
# the unloaded module: when the module loads again barwatch must attach them
# again and tell the span it was blind, so the rules those calls serve are not
# checked rather than passed.
ground_truth_start
barwatch_start --profile /bench/profiles/fixture-no-module.toml
phase load
fixture_load correct || exit 1
sleep 1
phase setup
sleep 1
phase unload
rmmod barwatch_fixture || { log "rmmod barwatch_fixture failed"; exit 1; }
sleep 1
phase reload
insmod /bench/fixture/barwatch_fixture.ko mode=correct || { log "insmod again failed"; exit 1; }
wait_for /sys/bus/pci/drivers/barwatch_fixture/$FIXTURE_BDF 10 || { log "the fixture did not bind again"; exit 1; }
echo "bar0_before=$(bar0 $FIXTURE_BDF)" >> $R/facts
sleep 1
fixture_remove_rescan || exit 1
phase done
barwatch_stop
ground_truth_stop
