# Helpers every bench scenario uses. Sourced by /init; scenarios run in a subshell
# with these functions and `set -e` semantics they opt into themselves.

TRACE=/sys/kernel/tracing
# An ftrace instance for the drivers' own tracepoints (see ground_truth_start).
TP=$TRACE/instances/tp
R=/results

# Logs to the serial console and the kernel log, so both tell the same story.
log() {
    echo "bench: $*"
    echo "bench: $*" > /dev/kmsg
}

# A scenario parameter from the kernel command line (barwatch.NAME=VALUE), or $2.
param() {
    value=$(sed -n "s/.*barwatch\.$1=\([^ ]*\).*/\1/p" /proc/cmdline)
    echo "${value:-$2}"
}

# Marks the start of a phase in the ground-truth trace and the logs. Tracing is
# switched back on first: the kernel turns it off at every Oops (oops_enter), and
# the fixture scenarios commit Oopses on purpose.
phase() {
    if [ "$(cat $TRACE/tracing_on)" = 0 ] && [ -n "$GROUND_TRUTH_ON" ]; then
        log "ground truth: tracing was off (an Oops stops it); on again"
        echo 1 > $TRACE/tracing_on
    fi
    echo "barwatch-phase: $1" > $TRACE/trace_marker
    [ -e $TP/trace_marker ] && echo "barwatch-phase: $1" > $TP/trace_marker
    log "phase $1"
}

# Ground truth: kprobe events on the functions barwatch watches, counted by the
# kernel's own tracing. Module functions use MODULE:function so they can be
# probed before the module loads.
ground_truth_start() {
    echo 16384 > $TRACE/buffer_size_kb
    # CLOCK_MONOTONIC, the clock of barwatch's bpf_ktime_get_ns timestamps.
    echo mono > $TRACE/trace_clock
    echo > $TRACE/trace
    ground_truth_add /bench/ground-truth.list
    echo 1 > $TRACE/tracing_on
    # The HD-audio drivers' tracepoints, in an instance of their own: their event
    # names (azx_suspend, snd_hdac_stream_start) are those of kprobe events above.
    mkdir -p $TP
    echo 16384 > $TP/buffer_size_kb
    echo mono > $TP/trace_clock
    for system in hda hda_controller hda_intel; do
        [ -d $TP/events/$system ] && echo 1 > $TP/events/$system/enable
    done
    echo 1 > $TP/tracing_on
    GROUND_TRUTH_ON=1
}

# Adds and enables the kprobe events listed in file $1. A spec the kernel refuses
# is listed in ground-truth-failed.txt: the truth is partial, and the tests fail.
ground_truth_add() {
    grep -v '^#' "$1" | while read -r spec; do
        [ -n "$spec" ] || continue
        echo "$spec" >> $TRACE/kprobe_events 2>/dev/null || {
            log "ground truth cannot probe: $spec"
            echo "$spec" >> $R/ground-truth-failed.txt
        }
    done
    echo 1 > $TRACE/events/bw/enable
}

ground_truth_stop() {
    GROUND_TRUTH_ON=
    echo 0 > $TRACE/tracing_on
    cat $TRACE/trace > $R/trace.txt
    echo 0 > $TP/tracing_on
    cat $TP/trace > $R/trace-tp.txt
    cat $TP/set_event > $R/tp-events.txt
    cat $TRACE/kprobe_events > $R/kprobe_events.txt
}

# Starts `barwatch check` (with extra arguments "$@", e.g. --profile FILE) around
# the scenario and waits until its probes are attached. check records the capture
# and judges every rule live, by the scenario's expectations file (what its run
# must show: devices, cycles, the rules that must be checked); its command holds
# until barwatch_stop.
barwatch_start() {
    expect=/bench/expect/$SCENARIO.toml
    [ -e "$expect" ] || { log "no expectations file $expect"; return 1; }
    barwatch probes "$@" > $R/probes.txt 2>&1 || true
    barwatch probes --json "$@" > $R/probes.json 2> $R/probes.err || true
    rm -f /tmp/bench-stop
    printf '#!/bin/sh\nwhile [ ! -e /tmp/bench-stop ]; do sleep 0.1; done\n' > /tmp/hold
    chmod +x /tmp/hold
    barwatch check --json --junit $R/junit.xml --expect "$expect" -o $R/capture.jsonl "$@" -- /tmp/hold \
        > $R/verdict.json 2> $R/record.log &
    BARWATCH=$!
    capture_started $R/capture.jsonl $BARWATCH $R/record.log || return 1
    log "barwatch checking (pid $BARWATCH)"
}

# Waits until capture $1, which barwatch (pid $2, its messages in $3) writes,
# has its whole header line: its probes are attached from then on. Gives up
# after a minute, or when barwatch has ended.
capture_started() {
    i=0
    while [ "$(head -c 1 $1 2>/dev/null)" != "{" ] || ! head -n 1 $1 | grep -q '}$'; do
        i=$((i + 1))
        if [ $i -gt 600 ] || ! kill -0 $2 2>/dev/null; then
            log "barwatch did not start"; cat $3; return 1
        fi
        sleep 0.1
    done
}

# Ends the scenario's command; check waits for open cycles, judges and exits.
barwatch_stop() {
    touch /tmp/bench-stop
    check_status=0
    wait $BARWATCH || check_status=$?
    echo $check_status > $R/check-status
    log "barwatch check exited with $(cat $R/check-status)"
}

# The PCI address of the device bound to driver $1 (e.g. snd_hda_intel).
bound_bdf() {
    for dev in /sys/bus/pci/drivers/$1/0000:*; do
        [ -e "$dev" ] && basename "$dev" && return 0
    done
    return 1
}

# The PCI address of the first device with vendor:device $1:$2.
find_bdf() {
    for dev in /sys/bus/pci/devices/*; do
        if [ "$(cat $dev/vendor)" = "$1" ] && [ "$(cat $dev/device)" = "$2" ]; then
            basename "$dev"; return 0
        fi
    done
    return 1
}

# BAR0's start address of device $1.
bar0() {
    head -n 1 /sys/bus/pci/devices/$1/resource | cut -d' ' -f1
}

# Waits up to $2 seconds (default 20) for file $1 to exist.
wait_for() {
    i=0
    while [ ! -e "$1" ]; do
        i=$((i + 1)); [ $i -gt $((${2:-20} * 10)) ] && return 1
        sleep 0.1
    done
}

# Waits up to $2 seconds (default 20) for file $1 to be gone.
wait_gone() {
    i=0
    while [ -e "$1" ]; do
        i=$((i + 1)); [ $i -gt $((${2:-20} * 10)) ] && return 1
        sleep 0.1
    done
}

# Asks the host to do "$@" (e.g. `device_del hda`: unplug the controller from
# its hot-plug slot through QMP). The request goes to the serial console only,
# which the host watches; each line is served once.
host_request() {
    log "asking the host: $*"
    echo "barwatch-host: $*" > /dev/console
}

# Rescans the PCI bus and waits until the HD-audio card's playback device is
# back; fails, with a log line, if it is not within 30 seconds.
rescan_hda() {
    echo 1 > /sys/bus/pci/rescan
    wait_for /proc/asound/card0/pcm0p 30 || { log "the card did not come back"; return 1; }
}

# Plays silence on card 0 until killed or the card goes away.
play() {
    aplay -q -D hw:0,0 -t raw -f S16_LE -r 48000 -c 2 "$@" /dev/zero
}

# Runs the scenario script in a subshell, records its status and saves results.
run_scenario() {
    SCENARIO=$1
    log "scenario $1 starting"
    ( . /bench/scenarios/$1.sh ) > $R/scenario.log 2>&1
    status=$?
    [ -s $R/record.log ] && cat $R/record.log
    cat $R/scenario.log
    echo $status > $R/status
    dmesg > $R/dmesg.txt
    log "scenario $1 finished with status $status"
    sync
    tar -cf /dev/vda -C $R .
    sync
}

# Loads the fixture driver in mode $1 and waits until it has bound the edu
# device; sets FIXTURE_BDF.
fixture_load() {
    FIXTURE_BDF=$(find_bdf 0x1234 0x11e8) || { log "no edu device"; return 1; }
    insmod /bench/fixture/barwatch_fixture.ko mode=$1 || return 1
    ground_truth_add /bench/ground-truth-fixture.list
    wait_for /sys/bus/pci/drivers/barwatch_fixture/$FIXTURE_BDF 10 || { log "the fixture did not bind"; return 1; }
    echo "fixture_bdf=$FIXTURE_BDF" >> $R/facts
}

# One fixture story: load in mode $1, let it work, remove the device (running
# $2, if given, in the background meanwhile), rescan, let the re-probed driver
# work, and record BAR0 before and after.
fixture_cycle() {
    ground_truth_start
    # barwatch attaches to the fixture's functions only once the module is loaded
    # (it does not yet watch module loads), so it starts after the load.
    phase load
    fixture_load "$1" || return 1
    # FIXTURE_ONLY=1 watches the fixture alone (--device), not the HD-audio too.
    barwatch_start --profile /bench/profiles/fixture.toml ${FIXTURE_ONLY:+--device $FIXTURE_BDF}
    phase setup
    echo "bar0_before=$(bar0 $FIXTURE_BDF)" >> $R/facts
    sleep 1
    if [ -n "$2" ]; then
        $2 &
        helper=$!
        sleep 0.5
    fi
    phase remove
    echo 1 > /sys/bus/pci/devices/$FIXTURE_BDF/remove
    sleep 1
    [ -n "$2" ] && { kill $helper 2>/dev/null; wait $helper; }
    phase rescan
    echo 1 > /sys/bus/pci/rescan
    wait_for /sys/bus/pci/drivers/barwatch_fixture/$FIXTURE_BDF 10 || log "the fixture did not bind again"
    echo "bar0_after=$(bar0 $FIXTURE_BDF)" >> $R/facts
    sleep 1
    phase done
    barwatch_stop
    ground_truth_stop
}

# The fixture's edu device removed and rescanned, each in its own phase, and the
# re-probed driver's BAR0 recorded after; fails when the driver does not bind again.
fixture_remove_rescan() {
    phase remove
    echo 1 > /sys/bus/pci/devices/$FIXTURE_BDF/remove
    sleep 1
    phase rescan
    echo 1 > /sys/bus/pci/rescan
    wait_for /sys/bus/pci/drivers/barwatch_fixture/$FIXTURE_BDF 10 || { log "the fixture did not bind after the rescan"; return 1; }
    echo "bar0_after=$(bar0 $FIXTURE_BDF)" >> $R/facts
    sleep 1
}

# The start every HD-audio scenario shares: ground truth and barwatch (with
# extra arguments "$@") on, the controller found; sets HDA_BDF and records BAR0
# before.
hda_setup() {
    ground_truth_start
    barwatch_start "$@"
    phase setup
    HDA_BDF=$(bound_bdf snd_hda_intel) || { log "snd_hda_intel bound no device"; return 1; }
    echo "bdf=$HDA_BDF" >> $R/facts
    echo "bar0_before=$(bar0 $HDA_BDF)" >> $R/facts
}

# The soak's bookkeeping (soak-clean, soak-buggy): soak_begin before the first
# cycle, soak_cycle_done N after each, soak_end after the last. Samples of
# barwatch's memory (VmRSS, VmHWM and RssAnon of `barwatch check`, in kB) go to
# $R/soak-rss.txt as `CYCLE RSS HWM ANON`: at the start, every $SOAK_EVERY cycles
# (barwatch.sample_every, default 10) and at the end. Each cycle's new kernel
# log is moved (dmesg -c) to $R/kernel-log.txt, so nothing wraps however many
# cycles run, and its complaints counted in $R/soak-cycles.txt as
# `CYCLE COMPLAINTS`.
soak_begin() {
    SOAK_EVERY=$(param sample_every 10)
    : > $R/soak-rss.txt
    : > $R/soak-memory.txt
    : > $R/soak-cycles.txt
    dmesg -c > $R/kernel-log.txt
    soak_sample 0
}

# Appends barwatch's VmRSS, VmHWM and RssAnon at cycle $1 to $R/soak-rss.txt, and how
# its memory splits (heap, files, shared: RssAnon, RssFile, RssShmem, VmData)
# and the CPU it used so far (user and system clock ticks) to
# $R/soak-memory.txt, to tell a growth's kind and what judging costs.
soak_sample() {
    cp /proc/$BARWATCH/status /tmp/soak-status 2>/dev/null || : > /tmp/soak-status
    rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /tmp/soak-status)
    hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' /tmp/soak-status)
    anon=$(sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\) kB/\1/p' /tmp/soak-status)
    echo "$1 ${rss:-gone} ${hwm:-gone} ${anon:-gone}" >> $R/soak-rss.txt
    echo "cycle $1" $(grep -E '^(RssAnon|RssFile|RssShmem|VmData):' /tmp/soak-status) \
        "cpu_ticks:" $(cut -d' ' -f14,15 /proc/$BARWATCH/stat 2>/dev/null) >> $R/soak-memory.txt
}

# Closes cycle $1: its kernel log, its complaints, a memory sample when due.
soak_cycle_done() {
    dmesg -c > /tmp/soak-kernel-log
    cat /tmp/soak-kernel-log >> $R/kernel-log.txt
    complaints=$(grep -cE 'Oops|WARNING|BUG:|Call Trace' /tmp/soak-kernel-log)
    echo "$1 $complaints" >> $R/soak-cycles.txt
    [ $(($1 % SOAK_EVERY)) -eq 0 ] && soak_sample $1
    log "soak: cycle $1 done ($complaints kernel complaints)"
}

# The last sample, unless the last cycle ($1) took one already.
soak_end() {
    [ $(($1 % SOAK_EVERY)) -eq 0 ] || soak_sample $1
}
