# expect: clean
# timeout: 240
# The fixture driver quiesces properly: work and IRQ stop before BAR0 is unmapped,
# and the re-probed driver maps the new BAR0.
fixture_cycle correct
