// Interrupt entry: 256 stubs and the common path that saves and restores a TrapFrame.
//
// Every vector has a 16-byte stub at isr_stubs + 16 * vector (idt.cpp relies on that). A stub
// pushes a zero error code when the CPU pushes none, so every frame has the same layout
// (trap_frame.h), pushes its vector number and joins isr_common.
//
// isr_common saves all general-purpose registers on the current (interrupted) stack and calls
// isr_dispatch(TrapFrame*), which returns the frame to resume. Returning a frame saved on
// another thread's stack is the context switch: all GPRs, RIP and RFLAGS of every thread are
// thus saved on that thread's own stack, in one format, whether it was preempted by an IRQ or
// gave up the CPU through yield_trap. No FPU/SSE state exists (-mgeneral-regs-only).

#include "kernel/asm_defs.h"

    .text

    .balign 16
    .globl isr_stubs
isr_stubs:
    .set .Lvector, 0
    .rept 256
    // Pads the previous stub with int3 up to this stub's slot; assembling fails ("attempt to
    // move .org backwards") if a stub ever outgrows its 16 bytes.
    .org isr_stubs + 16 * .Lvector, 0xcc
    // Vectors for which the CPU pushes an error code: #DF, #TS, #NP, #SS, #GP, #PF, #AC,
    // #CP, #VC, #SX.
    .if (.Lvector == 8) || (.Lvector >= 10 && .Lvector <= 14) || (.Lvector == 17) || (.Lvector == 21) || (.Lvector == 29) || (.Lvector == 30)
    .else
    pushq $0
    .endif
    pushq $.Lvector
    jmp isr_common
    .set .Lvector, .Lvector + 1
    .endr
    .org isr_stubs + 16 * 256, 0xcc

    .globl isr_common
    .type isr_common, @function
isr_common:
    // The order matches struct TrapFrame (trap_frame.h), lowest address last pushed.
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld                             // the C++ ABI assumes DF = 0
    movq %rsp, %rdi
    // The CPU aligned RSP to 16 before pushing its 5-word frame; with the error code, vector
    // and 15 registers the frame is 22 words, so RSP is 16-byte aligned here, as a call needs.
    call isr_dispatch
    movq %rax, %rsp                 // possibly another thread's frame
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp                  // vector and error code
    iretq
    .size isr_common, . - isr_common

// void yield_trap(void): gives up the CPU. Called like a function, it builds the frame the CPU
// would push for an interrupt arriving at its return address (TrapFrame vector =
// TESTSVC_YIELD_VECTOR, error code 0) and enters isr_common; resuming the frame returns to
// the caller with its RSP and RFLAGS (IF included) restored.
//
// Why not `int $TESTSVC_YIELD_VECTOR`: on some KVM hosts (e.g. the PVM flavour on our build
// machines) delivering a software interrupt makes KVM fall back to its instruction emulator,
// which cannot emulate INT n in 64-bit mode, and the VM dies with an internal error.
// Hardware interrupts and exceptions are delivered normally there.
    .globl yield_trap
    .type yield_trap, @function
yield_trap:
    pushfq
    popq %r11                       // caller's RFLAGS (r11, rax, rcx, rdx are caller-saved)
    cli                             // as an interrupt gate would
    movq %rsp, %rax
    movq (%rax), %rdx               // RIP: the return address
    leaq 8(%rax), %rcx              // RSP: as after the return
    andq $-16, %rsp                 // the CPU aligns RSP before pushing an interrupt frame
    pushq $TESTSVC_DATA_SELECTOR    // SS
    pushq %rcx                      // RSP
    pushq %r11                      // RFLAGS
    pushq $TESTSVC_CODE_SELECTOR    // CS
    pushq %rdx                      // RIP
    pushq $0                        // error code
    pushq $TESTSVC_YIELD_VECTOR     // vector
    jmp isr_common
    .size yield_trap, . - yield_trap

    .section .note.GNU-stack, "", @progbits
