/* A guest that keeps writing memory while it is copied, for the state-transfer tests. Pass
 * after pass it writes into every page of 4 MiB-20 MiB the pass number and the page's own
 * address (a page put in the wrong place shows), spinning DELAY iterations between two pages;
 * DELAY is read once from PARAMS, where the test wrote it before the run. Every 16 pages it
 * reads TEST_PORT and reports ((pass << 16) | (address >> 16)) + the value read to TEST_PORT,
 * so a copy that went on from the same state reports the same values, and one stopped in the
 * middle of the read (its value not yet in RAX) does not. */
    .include "tiny.inc"
    .set PARAMS, 0x3ff000
    .set FIRST_PAGE, 0x400000
    .set END, 0x1400000
    .text
    .global _start
_start:
    mov PARAMS, %rsi        /* DELAY */
    xor %rbx, %rbx          /* pass */
1:  inc %rbx
    mov $FIRST_PAGE, %rdi
2:  mov %rbx, (%rdi)
    mov %rdi, 8(%rdi)
    mov %rsi, %rcx
3:  dec %rcx
    jnz 3b
    add $0x1000, %rdi
    test $0xffff, %edi
    jnz 4f
    mov $TEST_PORT, %dx
    in %dx, %eax
    mov %eax, %r8d
    mov %ebx, %eax
    shl $16, %eax
    mov %rdi, %rdx
    shr $16, %rdx
    or %edx, %eax
    add %r8d, %eax
    mov $TEST_PORT, %dx
    out %eax, %dx
4:  cmp $END, %rdi
    jb 2b
    jmp 1b
