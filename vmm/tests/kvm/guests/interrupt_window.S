/* With IF=0 the timer must not be taken, however many ticks go by; after STI the pending
 * interrupt must arrive through the interrupt window while the guest spins with no exits. */
    .include "tiny.inc"
    .text
    .global _start
_start:
    set_gate TIMER_VECTOR, on_timer
    start_timer
    mov $20000, %ecx      /* ~20000 exits: longer than several timer periods */
    mov $0x601, %dx
1:  out %al, %dx
    dec %ecx
    jnz 1b
    mov taken(%rip), %eax
    mov $TEST_PORT, %dx
    out %eax, %dx         /* 0: nothing was taken with IF=0 */
    sti
2:  cmpl $0, taken(%rip)  /* no exits here: only the window exit can deliver */
    je 2b
    cli
    report 0x600d
    shutdown_ok

on_timer:
    push %rax
    incl taken(%rip)
    eoi
    pop %rax
    iretq

    idt_storage
    .data
taken: .long 0
