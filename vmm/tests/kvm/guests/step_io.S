/* Port reads while the VMM single-steps the guest: a #DB the guest did not ask for lands in
 * db_handler, which reports 0xdb instead of the normal verdict (1). */
    .include "tiny.inc"
    .text
    .global _start
_start:
    set_gate 1, db_handler
    mov $TEST_PORT, %dx
    in %dx, %eax
    in %dx, %eax
    in %dx, %eax
    report 1
    shutdown_ok

db_handler:
    report 0xdb
    shutdown_ok

    idt_storage
