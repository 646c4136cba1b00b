/* The host probe's guest (vmm/host_probe.h): tells the VMM, through port PROBE_PORT, where
 * each check's instruction is, so the VMM can see whether a hardware breakpoint and a single
 * step are reported there and where the interrupt-window exit comes, and times a counted loop;
 * first at CPL0 (stages 1-8), then at CPL3 (stages 9-16). It boots under ftvm's boot contract
 * (long mode, identity map, IF=0).
 * Clobbers everything. */
    .set PROBE_PORT, 0x600
    .set SHUTDOWN_PORT, 0x501
    /* CPL3 code reports by writing here (outside RAM: an MMIO exit), not by port I/O: a host
     * may run CPL3 code without the IOPL it was given (kvm_pvm drops it), and an `out` would
     * fault. The word after it ends the probe. */
    .set PROBE_MMIO, 0x3fe00000
    .set LOOP_ITERATIONS, 20000
    /* Where CPL3 code runs natively (kvm_pvm) the loop takes microseconds: more turns, so that
     * its time is not only the exits around it. */
    .set USER_LOOP_ITERATIONS, 1000000
    /* Instructions around the point where the interrupt window opens: a host that takes the
     * window exit at some later boundary of its own (kvm_pvm: where its emulation batch ends)
     * lands among them, not on the point. */
    .set WINDOW_PADDING, 256
    .set PAGE_USER, 4
    .set KERNEL_CODE, 0x08
    .set USER_DATA, 0x1b   /* GDT entry 3, RPL 3 */
    .set USER_CODE, 0x23   /* GDT entry 4, RPL 3 */
    .set USER_RFLAGS_IOPL, 0x3000
    .set USER_RFLAGS, 0x3002  /* IOPL 3 (cli and sti at CPL3, where the host keeps it), IF=0 */

    .macro stage value
    mov $\value, %eax
    .if reporting_by_mmio
    mov $PROBE_MMIO, %edx
    mov %eax, (%rdx)
    .else
    mov $PROBE_PORT, %dx
    out %eax, %dx
    .endif
    .endm

    .text
    /* One privilege level's checks, stages first..first+7:
     *   first:   rbx = the breakpoint's address, a few instructions on;
     *   first+1: rbx = where one step from the next instruction lands;
     *   first+2 to first+3: nothing between them: what one exit costs the timing below;
     *   first+4 to first+5: `iterations` turns of a two-instruction loop; rbx = instructions;
     *   first+6: IF=0; rbx = where the interrupt window opens (right after the STI shadow);
     *   first+7: IF=0 again: the window has come and gone.
     * At CPL3 without IOPL 3, cli and sti would fault: first+6 is skipped (the VMM sees
     * first+7 right after first+5 and notes the window unchecked). */
    .macro debug_checks first, iterations
    lea 1f(%rip), %rbx
    stage \first
    nop
    nop
1:  nop
    lea 2f(%rip), %rbx
    stage (\first + 1)
    nop
2:  nop
    mov $(2 * \iterations), %rbx
    mov $\iterations, %rcx
    stage (\first + 2)
    stage (\first + 3)
    stage (\first + 4)
3:  dec %rcx
    jnz 3b
    stage (\first + 5)
    .if reporting_by_mmio
    pushf
    pop %rax
    and $USER_RFLAGS_IOPL, %eax
    cmp $USER_RFLAGS_IOPL, %eax
    jne 5f
    .endif
    cli
    lea 4f(%rip), %rbx
    stage (\first + 6)
    .rept WINDOW_PADDING
    inc %rcx
    .endr
    sti
    nop
4:  .rept WINDOW_PADDING
    inc %rcx
    .endr
    cli
5:  stage (\first + 7)
    .endm

    .global _start
_start:
    .set reporting_by_mmio, 0
    debug_checks 1, LOOP_ITERATIONS

    /* To CPL3: a GDT with user segments, the first 2 MiB (code, stack) user-accessible in
     * every level of the boot identity map, then iretq. */
    lgdt gdt_pointer(%rip)
    mov %cr3, %rax
    and $~0xfff, %rax
    orq $PAGE_USER, (%rax)         /* PML4[0] */
    mov (%rax), %rax
    and $~0xfff, %rax
    orq $PAGE_USER, (%rax)         /* PDPT[0] */
    mov (%rax), %rax
    and $~0xfff, %rax
    orq $PAGE_USER, (%rax)         /* PD[0]: 0-2 MiB */
    orq $PAGE_USER, 511 * 8(%rax)  /* PD[511]: PROBE_MMIO */
    mov %cr3, %rax
    mov %rax, %cr3
    mov %rsp, %rax
    push $USER_DATA
    push %rax
    push $USER_RFLAGS
    push $USER_CODE
    lea user_start(%rip), %rax
    push %rax
    iretq

user_start:
    .set reporting_by_mmio, 1
    debug_checks 9, USER_LOOP_ITERATIONS
    mov $(PROBE_MMIO + 4), %edx
    movl $0, (%rdx)
2:  pause
    jmp 2b

    .data
    .balign 8
gdt:
    .quad 0
    .quad 0x00af9b000000ffff   /* 0x08: kernel code, 64-bit (the boot CS) */
    .quad 0x00cf93000000ffff   /* 0x10: kernel data */
    .quad 0x00cff3000000ffff   /* 0x18: user data, DPL 3 */
    .quad 0x00affb000000ffff   /* 0x20: user code, 64-bit, DPL 3 */
gdt_end:
gdt_pointer:
    .word gdt_end - gdt - 1
    .quad gdt
    .section .note.GNU-stack, "", @progbits
