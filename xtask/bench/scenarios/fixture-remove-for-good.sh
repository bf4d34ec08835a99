# expect: clean
# timeout: 240
# barwatch watches the fixture alone (--device) when the edu device is removed
# through sysfs and never rescanned: the recording goes on for a while with the
# device gone, then stops. The cycle ends removed.
ground_truth_start
phase load
fixture_load correct || exit 1
barwatch_start --profile /bench/profiles/fixture.toml --device $FIXTURE_BDF
phase setup
echo "bar0_before=$(bar0 $FIXTURE_BDF)" >> $R/facts
sleep 1
phase remove
echo 1 > /sys/bus/pci/devices/$FIXTURE_BDF/remove
[ -e /sys/bus/pci/devices/$FIXTURE_BDF ] || echo "gone_after=1" >> $R/facts
sleep 3
phase done
barwatch_stop
ground_truth_stop
