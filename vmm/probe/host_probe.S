/* The host probe's guest (vmm/host_probe.h): tells the VMM, through port PROBE_PORT, where
 * each check's instruction is, so the VMM can see whether a hardware breakpoint and a single
 * step are reported there, and times a counted loop. CPL0 only, for now. It boots under
 * ftvm's boot contract (long mode, identity map, IF=0). Clobbers everything. */
    .set PROBE_PORT, 0x600
    .set SHUTDOWN_PORT, 0x501
    .set LOOP_ITERATIONS, 20000

    .macro stage value
    mov $\value, %eax
    mov $PROBE_PORT, %dx
    out %eax, %dx
    .endm

    .text
    .global _start
_start:
    /* Stage 1, rbx = the breakpoint's address, a few instructions on. */
    lea breakpoint_here(%rip), %rbx
    stage 1
    nop
    nop
breakpoint_here:
    nop
    /* Stage 2, rbx = where one step from the next instruction lands. */
    lea step_lands_here(%rip), %rbx
    stage 2
    nop
step_lands_here:
    nop
    /* Stage 3 to 4: LOOP_ITERATIONS turns of a two-instruction loop; rbx = instructions. */
    mov $(2 * LOOP_ITERATIONS), %rbx
    mov $LOOP_ITERATIONS, %rcx
    stage 3
1:  dec %rcx
    jnz 1b
    stage 4
    xor %eax, %eax
    mov $SHUTDOWN_PORT, %dx
    out %eax, %dx
2:  hlt
    jmp 2b
    .section .note.GNU-stack, "", @progbits
