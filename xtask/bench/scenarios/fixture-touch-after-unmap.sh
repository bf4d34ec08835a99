# expect: oops
# timeout: 240
# The fixture leaves its delayed work running across iounmap: the work reads the
# unmapped BAR0 (an Oops under TCG, survived because the work is on an unbound
# workqueue).
fixture_cycle touch-after-unmap
