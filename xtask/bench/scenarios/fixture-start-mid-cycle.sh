# expect: clean
# timeout: 240
# barwatch starts in the middle of a cycle: the fixture's edu device has already
# been removed, so barwatch sees only the rescan, the probe and the new mapping of
# that cycle. A whole remove and rescan follows.
ground_truth_start
phase load
fixture_load correct || exit 1
phase remove-before
echo 1 > /sys/bus/pci/devices/$FIXTURE_BDF/remove
sleep 1
barwatch_start --profile /bench/profiles/fixture.toml
phase setup
phase rescan1
echo 1 > /sys/bus/pci/rescan
wait_for /sys/bus/pci/drivers/barwatch_fixture/$FIXTURE_BDF 10 || { log "the fixture did not bind after the first rescan"; exit 1; }
echo "bar0_before=$(bar0 $FIXTURE_BDF)" >> $R/facts
sleep 1
phase remove2
echo 1 > /sys/bus/pci/devices/$FIXTURE_BDF/remove
sleep 1
phase rescan2
echo 1 > /sys/bus/pci/rescan
wait_for /sys/bus/pci/drivers/barwatch_fixture/$FIXTURE_BDF 10 || { log "the fixture did not bind after the second rescan"; exit 1; }
echo "bar0_after=$(bar0 $FIXTURE_BDF)" >> $R/facts
sleep 1
phase done
barwatch_stop
ground_truth_stop
