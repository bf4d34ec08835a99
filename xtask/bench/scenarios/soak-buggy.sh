# expect: oops
# timeout: 400
# ground-truth: none
# The soak, buggy: N remove/rescan cycles (barwatch.cycles=N, default 10) of the
# fixture in touch-after-unmap mode: each remove leaves its work reading the
# unmapped BAR0 (an Oops under TCG, survived on the fixture's unbound
# workqueue), so barwatch must find a violation in every cycle, never only in
# some. `cargo xtask soak` runs it with 50.
cycles=$(param cycles 10)
phase load
fixture_load touch-after-unmap || exit 1
barwatch_start --profile /bench/profiles/fixture.toml || exit 1
phase setup
echo "cycles=$cycles" >> $R/facts
soak_begin
n=1
while [ $n -le $cycles ]; do
    phase "cycle$n"
    sleep 0.5
    echo 1 > /sys/bus/pci/devices/$FIXTURE_BDF/remove
    sleep 0.5
    echo 1 > /sys/bus/pci/rescan
    wait_for /sys/bus/pci/drivers/barwatch_fixture/$FIXTURE_BDF 10 \
        || { log "cycle $n: the fixture did not bind again"; exit 1; }
    soak_cycle_done $n
    n=$((n + 1))
done
soak_end $cycles
phase done
barwatch_stop
