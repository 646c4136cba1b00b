/* Sleeps in `sti; hlt` until five timer interrupts have been taken, then reports the count. */
    .include "tiny.inc"
    .text
    .global _start
_start:
    set_gate TIMER_VECTOR, on_timer
    start_timer
1:  sti
    hlt
    cli
    cmpl $5, ticks(%rip)
    jb 1b
    mov ticks(%rip), %eax
    mov $TEST_PORT, %dx
    out %eax, %dx
    shutdown_ok

on_timer:
    push %rax
    incl ticks(%rip)
    eoi
    pop %rax
    iretq

    idt_storage
    .data
ticks: .long 0
