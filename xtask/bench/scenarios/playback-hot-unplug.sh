# expect: clean
# timeout: 240
# machine: q35-hotplug
# aplay is playing when the host unplugs the HD-audio controller from its PCIe
# hot-plug slot (QMP device_del: the slot's attention button). pciehp removes it
# from its IRQ thread after the button's 5 s, and it never comes back.
hda_setup || exit 1
bdf=$HDA_BDF
port=$(basename "$(readlink -f /sys/bus/pci/devices/$bdf/..)")
echo "port=$port" >> $R/facts
echo "pciehp_ports=$(ls /sys/bus/pci_express/drivers/pciehp 2>/dev/null | grep -c :pcie)" >> $R/facts
play > $R/aplay.log 2>&1 &
player=$!
sleep 2

phase remove
host_request device_del hda
wait_gone /sys/bus/pci/devices/$bdf 60 || { log "the controller was not unplugged"; exit 1; }
wait $player
echo "aplay_exit=$?" >> $R/facts
sleep 1
[ -e /sys/bus/pci/devices/$bdf ] || echo "gone_after=1" >> $R/facts

phase done
barwatch_stop
ground_truth_stop
