/* Hard pattern 3b: the MOV SS shadow. Interrupts (and, architecturally, instruction
 * breakpoints and single-step traps) are held off for the instruction after `mov %ax, %ss`,
 * so a tick applied in the shadow cannot be injected there: it stays pending until a point
 * that record and replay agree on (with the interrupt window off, the next input, since the
 * loop has no exits), and a breakpoint landmark may sit on the shadowed `inc %rbx`. */
    .include "rr.inc"
    rr_guest_start
    xor %ebx, %ebx
    mov %ss, %ax
    sti
1:  mov %ax, %ss
    inc %rbx
    jmp 1b

    rr_common
