/* Where does an interrupt that is pending while IF=0 land once the guest executes STI? The
 * test raises IRQ0 at the exit of the first `out` below (IF=0 there). The guest then enables
 * interrupts and counts RAX to 1000 in a loop without exits, then writes RAX to TEST_PORT (an
 * exit) and spins.
 *
 * With the VMM's interrupt window on, the interrupt must land right after the STI shadow: on
 * the first `jmp` (sti_window_landing), with RAX=1. With the window off (record/replay), the
 * VMM delivers it at the next exit: right after the second `out` (exit_landing), RAX=1000.
 * The handler reports the interrupted RIP relative to both labels, then RAX, and shuts down. */
    .include "rr.inc"
    .text
    .global _start
_start:
    set_gate TIMER_VECTOR, on_timer
    rr_start_timer
    xor %eax, %eax
    mov $TEST_PORT, %dx
    out %eax, %dx           /* IRQ0 becomes pending here, while IF=0 */
    sti
    inc %rax                /* in the STI shadow: no interrupt before it */
sti_window_landing:
1:  jmp 2f                  /* with the window, the interrupt lands here */
2:  inc %rax
    cmp $1000, %rax
    jne 1b
    out %eax, %dx           /* the next exit */
exit_landing:
3:  jmp 3b                  /* without the window, the interrupt lands here */

on_timer:
    mov %rax, %rbx
    mov $TEST_PORT, %dx
    mov (%rsp), %rax        /* the interrupted RIP */
    lea sti_window_landing(%rip), %rcx
    sub %rcx, %rax
    out %eax, %dx
    mov (%rsp), %rax
    lea exit_landing(%rip), %rcx
    sub %rcx, %rax
    out %eax, %dx
    mov %ebx, %eax
    out %eax, %dx
    shutdown_ok

    idt_storage
