/* Writes to known pages between two reports, for the dirty log: pages 0x300000 and 0x305000
 * (a plain store each) before report 1; page 0x309000 (a store ending on its last byte),
 * pages 0x310000-0x311000 (one rep stosb across both) and page 0x600000 (the first access to
 * its 2 MiB page: the CPU sets accessed and dirty bits in the page directory) before report 2. */
    .include "tiny.inc"
    .text
    .global _start
_start:
    movq $1, 0x300000
    movq $2, 0x305008
    report 1
    movb $3, 0x309fff
    mov $0x310800, %rdi
    mov $0x1000, %rcx
    mov $0x5a, %al
    cld
    rep stosb
    movq $4, 0x600000
    report 2
    shutdown_ok
