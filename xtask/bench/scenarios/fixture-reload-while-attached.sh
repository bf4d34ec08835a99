# expect: clean
# timeout: 240
# barwatch is attached to the fixture module's functions when the module is
# unloaded and loaded again; then the reloaded driver goes through a remove and
# rescan. The kernel's own kprobe events (MODULE:function) are re-armed at every
# load: barwatch must either see the reloaded module's calls as they do, or say
# which span it could not see.
ground_truth_start
phase load
fixture_load correct || exit 1
barwatch_start --profile /bench/profiles/fixture.toml --device $FIXTURE_BDF
phase setup
echo "bar0_before=$(bar0 $FIXTURE_BDF)" >> $R/facts
sleep 1
phase unload
rmmod barwatch_fixture || { log "rmmod barwatch_fixture failed"; exit 1; }
[ -e /sys/bus/pci/devices/$FIXTURE_BDF/driver ] || echo "unbound_after_rmmod=1" >> $R/facts
sleep 1
phase reload
insmod /bench/fixture/barwatch_fixture.ko mode=correct || { log "insmod again failed"; exit 1; }
wait_for /sys/bus/pci/drivers/barwatch_fixture/$FIXTURE_BDF 10 || { log "the fixture did not bind again"; exit 1; }
echo "rebound=1" >> $R/facts
sleep 1
fixture_remove_rescan || exit 1
phase done
barwatch_stop
ground_truth_stop
