# expect: clean
# timeout: 240
# barwatch is already recording when the fixture module loads, with a profile
# that does not name the module (so its probes cannot be armed before the load):
# it must see the load and attach the probes then, saying they came late and
# recording the span they were blind.
ground_truth_start
barwatch_start --profile /bench/profiles/fixture-no-module.toml
phase load
fixture_load correct || exit 1
sleep 2
phase done
barwatch_stop
ground_truth_stop
