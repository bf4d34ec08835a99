# expect: clean
# timeout: 240
# aplay plays while another process issues a control ioctl every 50 µs. The storm
# keeps barwatch's ioctl programs running on its CPU, so some period interrupts
# arrive while one runs, and the kernel skips the handler's kprobe program
# (bpf_prog_active). barwatch must report each such call as skipped, never
# silently drop it: the kernel's own count is the judge.
hda_setup || exit 1

phase storm
play --period-time=5000 --buffer-time=40000 > $R/aplay.log 2>&1 &
player=$!
# SNDRV_CTL_IOCTL_PVERSION
ioctl_loop /dev/snd/controlC0 0x80045500 > $R/storm.log 2>&1 &
storm=$!
sleep 5
kill $storm $player 2>/dev/null
wait $storm $player

phase done
barwatch_stop
ground_truth_stop
