# expect: clean
# timeout: 240
# A system sleep cycle that stops at the device stage (pm_test=devices), so the
# driver's prepare/suspend/resume/complete run while aplay plays.
ground_truth_start
barwatch_start
echo "bdf=$(bound_bdf snd_hda_intel)" >> $R/facts

phase setup
play > $R/aplay.log 2>&1 &
player=$!
sleep 2

phase suspend
echo devices > /sys/power/pm_test
echo freeze > /sys/power/state
echo "sleep_exit=$?" >> $R/facts

phase resumed
sleep 2
kill $player 2>/dev/null
wait $player

phase done
barwatch_stop
ground_truth_stop
