# expect: clean
# timeout: 900
# ground-truth: none
# The guest's half of the kernel benchmark (`cargo xtask bench --only kernel`):
# what barwatch costs a kernel whose ALSA ioctls it takes where it prefers to
# (here, the kprobes on ALSA's ioctl file operations, no syscall hook). Rounds of each
# contender in turn, nothing attached, then `barwatch record` (on CPU 1, the
# loop on CPU 0), time call_loop's three calls; lines "ROUND CONTENDER CALL
# NS_PER_CALL" go to $R/cost.txt, each recording's trailer to
# $R/trailer-ROUND.json, the probe table to $R/probes.txt. It checks nothing
# itself: the bench reads the figures. barwatch.count=N calls per loop,
# barwatch.rounds=N rounds.
count=$(param count 100000)
rounds=$(param rounds 3)
# The ALSA call goes to the card's control device, whose ioctls every path
# barwatch has sees (the file operations' kprobes see none on /dev/null); the
# other ioctl to /dev/null.
alsa_file=/dev/snd/controlC0
wait_for $alsa_file 60 || { log "no $alsa_file after 60 s: snd_hda_intel registered no card"; exit 1; }
barwatch probes > $R/probes.txt 2>&1 || { cat $R/probes.txt; exit 1; }
: > $R/cost.txt
round=1
while [ $round -le $rounds ]; do
    for contender in none barwatch; do
        phase "round$round-$contender"
        if [ $contender = barwatch ]; then
            rm -f /tmp/cost.jsonl
            taskset 2 barwatch record -o /tmp/cost.jsonl > $R/record-$round.log 2>&1 &
            recorder=$!
            capture_started /tmp/cost.jsonl $recorder $R/record-$round.log || exit 1
            # What attaching sets off (symbols read, the first drains) settles.
            sleep 2
        fi
        # The unwatched calls first: after the ALSA loop the recorder still
        # writes out its records for a while, on the CPU time the loop shares.
        for call in getppid other-ioctl alsa; do
            file=/dev/null
            [ $call = alsa ] && file=$alsa_file
            said=$(call_loop $call $count $file) || exit 1
            echo "$round $contender $said" >> $R/cost.txt
        done
        if [ $contender = barwatch ]; then
            kill -INT $recorder
            wait $recorder || { log "barwatch record failed"; cat $R/record-$round.log; exit 1; }
            tail -n 1 /tmp/cost.jsonl > $R/trailer-$round.json
            rm -f /tmp/cost.jsonl
        fi
    done
    round=$((round + 1))
done
cat $R/cost.txt
