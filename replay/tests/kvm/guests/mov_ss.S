/* Hard pattern 3b: the MOV SS shadow. Interrupts (and, architecturally, instruction
 * breakpoints and single-step traps) are held off for the instruction after `mov %ax, %ss`,
 * so a tick that lands in the shadow must be delivered through the interrupt window after
 * `inc %rbx`, on record and on replay alike. */
    .include "rr.inc"
    .text
    .global _start
_start:
    rr_set_trap_gate TIMER_VECTOR, rr_on_timer
    rr_start_timer
    xor %ebx, %ebx
    mov %ss, %ax
    sti
1:  mov %ax, %ss
    inc %rbx
    jmp 1b

    rr_common
