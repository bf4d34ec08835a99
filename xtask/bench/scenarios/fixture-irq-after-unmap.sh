# expect: clean
# timeout: 240
# The fixture keeps its interrupt across iounmap and the device raises it: the
# threaded handler runs while BAR0 is unmapped.
fixture_cycle irq-after-unmap
