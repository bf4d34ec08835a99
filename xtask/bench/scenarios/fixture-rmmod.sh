# expect: clean
# timeout: 240
# The fixture driver quiesces properly through a remove and rescan; then its
# module is unloaded: the driver unbinds after unmapping BAR0 and the edu device
# stays, with no driver.
ground_truth_start
phase load
fixture_load correct || exit 1
barwatch_start --profile /bench/profiles/fixture.toml --device $FIXTURE_BDF
phase setup
echo "bar0_before=$(bar0 $FIXTURE_BDF)" >> $R/facts
sleep 1
fixture_remove_rescan || exit 1
phase unload
rmmod barwatch_fixture || { log "rmmod barwatch_fixture failed"; exit 1; }
[ -e /sys/bus/pci/devices/$FIXTURE_BDF ] && echo "present_after=1" >> $R/facts
[ -e /sys/bus/pci/devices/$FIXTURE_BDF/driver ] || echo "unbound_after=1" >> $R/facts
sleep 1
phase done
barwatch_stop
ground_truth_stop
