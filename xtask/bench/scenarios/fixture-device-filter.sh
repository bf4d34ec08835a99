# expect: clean
# timeout: 240
# barwatch watches the fixture alone (--device) while aplay keeps the HD-audio
# controller busy: the kernel drops the controller's accessor calls by their MMIO
# base and its interrupts by vector, and still records every access of the
# fixture, before and after its BAR moves.
wait_for /proc/asound/card0/pcm0p 30 || { log "no HD-audio card"; exit 1; }
play > $R/aplay.log 2>&1 &
player=$!
FIXTURE_ONLY=1 fixture_cycle correct || exit 1
kill -0 $player || { log "aplay stopped early"; exit 1; }
kill $player
wait $player
exit 0
