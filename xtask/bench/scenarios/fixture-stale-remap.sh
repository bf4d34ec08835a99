# expect: clean
# timeout: 240
# On re-probe after a rescan that moved BAR0, the fixture maps the previous
# physical address. The scenario fails if BAR0 did not move, since then there is
# nothing to judge.
fixture_cycle stale-remap
before=$(sed -n 's/^bar0_before=//p' $R/facts)
after=$(sed -n 's/^bar0_after=//p' $R/facts)
[ -n "$after" ] && [ "$before" != "$after" ] || { log "BAR0 did not move ($before -> $after)"; exit 1; }
