# expect: clean
# timeout: 240
# barwatch is already recording when the fixture module loads: it must see the
# load and attach the fixture profile's probes then, saying they came late.
ground_truth_start
barwatch_start --profile /bench/profiles/fixture.toml
phase load
fixture_load correct || exit 1
sleep 2
phase done
barwatch_stop
ground_truth_stop
