// _start: the first instruction of the guest.
//
// The VMM enters here in 64-bit mode with RDI = BootInfo GPA, RSP = a boot stack below 512 KiB
// that we do not own, IF = 0 and no IDT (see testsvc/abi.h). Before any C++ runs we need a
// zeroed .bss (C++ assumes zero-initialized globals) and a stack inside our own image.

#include "kernel/asm_defs.h"

    .section .text.entry, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    cli
    cld
    movq %rdi, %r12                 // BootInfo*, kept across the rep stos below

    movq $__bss_start, %rdi
    movq $__bss_end, %rcx
    subq %rdi, %rcx
    shrq $3, %rcx                   // both ends are 16-byte aligned (linker.ld)
    xorl %eax, %eax
    rep stosq

    movq $boot_stack_top, %rsp      // 16-byte aligned: kmain is entered as if by a call
    xorl %ebp, %ebp                 // terminates frame-pointer backtraces
    movq %r12, %rdi
    call kmain

    // kmain never returns; if it does, stop here rather than run off into the image.
1:  cli
    hlt
    jmp 1b
    .size _start, . - _start

// The stack kmain runs on; kmain later becomes the idle thread and keeps it.
    .section .bss
    .balign 16
    .globl boot_stack_bottom
    .globl boot_stack_top
boot_stack_bottom:
    .skip TESTSVC_BOOT_STACK_BYTES
boot_stack_top:

    .section .note.GNU-stack, "", @progbits
