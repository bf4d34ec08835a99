# expect: clean
# timeout: 240
# barwatch is already recording when the fixture module loads, and so is the
# kernel's own ground truth (kprobe events written as MODULE:function before the
# load, which the kernel arms as the module comes up): barwatch must see every
# accessor call from the module's first, the probe-time reads included.
# One more point names a function the module does not have: armed like the
# others, the kernel cannot register it when the module loads, and barwatch must
# then call it blind rather than attached.
cp /bench/profiles/fixture.toml /tmp/fixture-and-absent.toml
printf '\n[[function]]\nname = "barwatch_fixture_absent"\nmodule = "barwatch_fixture"\nrole = "mmio-accessor"\noptional = true\n' >> /tmp/fixture-and-absent.toml
ground_truth_start
ground_truth_add /bench/ground-truth-fixture.list
barwatch_start --profile /tmp/fixture-and-absent.toml
phase setup
FIXTURE_BDF=$(find_bdf 0x1234 0x11e8) || { log "no edu device"; exit 1; }
echo "fixture_bdf=$FIXTURE_BDF" >> $R/facts
insmod /bench/fixture/barwatch_fixture.ko mode=correct || exit 1
wait_for /sys/bus/pci/drivers/barwatch_fixture/$FIXTURE_BDF 10 || { log "the fixture did not bind"; exit 1; }
echo "bar0_before=$(bar0 $FIXTURE_BDF)" >> $R/facts
grep bw/ $TRACE/kprobe_events > $R/armed-ground-truth.txt
sleep 2
phase done
barwatch_stop
ground_truth_stop
