/* Port I/O of each width, a read whose value comes from the test device, and MMIO reads and
 * writes through an address with no RAM behind it. */
    .include "tiny.inc"
    .text
    .global _start
_start:
    mov $TEST_PORT, %dx
    mov $0x11, %al
    out %al, %dx
    mov $0x2233, %ax
    out %ax, %dx
    mov $0x44556677, %eax
    out %eax, %dx
    in %dx, %eax
    add $1, %eax
    out %eax, %dx
    mov $0xd0000000, %rbx
    movl $0xcafef00d, (%rbx)
    mov 8(%rbx), %rax
    mov $TEST_PORT, %dx
    out %eax, %dx
    shr $32, %rax
    out %eax, %dx
    shutdown_ok
