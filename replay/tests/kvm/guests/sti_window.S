/* Where does an interrupt that is pending while IF=0 land once the guest executes STI? The
 * test raises IRQ0 at the exit of the `out` below (IF=0 there), so the VMM must request the
 * interrupt window. Architecturally the window opens after the instruction in the STI shadow:
 * the interrupt must land on the first `jmp`, with RAX=1. The handler reports where it landed
 * (interrupted RIP minus sti_window_landing, so 0 there) and RAX to TEST_PORT and shuts down.
 * Record/replay relies on this point being the same every time: the interrupt-window exit
 * counts as a deterministic exit. */
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
1:  jmp 2f                  /* the interrupt lands here */
2:  inc %rax
    jmp 1b

on_timer:
    mov %rax, %rbx
    mov (%rsp), %rax        /* the interrupted RIP */
    lea sti_window_landing(%rip), %rcx
    sub %rcx, %rax
    mov $TEST_PORT, %dx
    out %eax, %dx
    mov %ebx, %eax
    out %eax, %dx
    shutdown_ok

    idt_storage
