/* Console input that waits outside the UART while the guest computes. The guest enables the
 * UART's FIFO, then loops: raise RTS (an exit, at which the VMM fills the FIFO from its
 * waiting input), spin without exits, drop RTS, then read everything the FIFO holds (two
 * exits a byte), folding the bytes into RBX. Spins are long (several ms: the timer's ticks
 * land there, asynchronous landmarks right after the exit that filled the FIFO) and short
 * (under the 1 ms a tick waits for an exit: no landmark between filling and reading) in turn,
 * so what a replay puts into the FIFO itself after a checkpoint gets read. RBX goes into the
 * verdict, and every byte is echoed to the test port: a byte received twice or lost on replay
 * shows there even where later checkpoints overwrite the guest's registers and memory. */
    .include "rr.inc"
    .set UART, 0x3f8
    .set MCR_DTR_RTS, 0x03
    .set MCR_DTR, 0x01
    rr_guest_start
    xor %ebx, %ebx
    mov $(UART + 1), %dx     /* IER: no UART interrupts, the loop polls */
    xor %al, %al
    out %al, %dx
    mov $(UART + 2), %dx     /* FCR: FIFOs on and cleared */
    mov $0x07, %al
    out %al, %dx
    mov $(UART + 3), %dx     /* LCR: 8N1 */
    mov $0x03, %al
    out %al, %dx
    rr_instructions_per_100us %r11d  /* short: 100 us worth of 2-instruction turns, halved */
    shr $1, %r11d
    imul $100, %r11d, %r10d  /* long: 10 ms worth; the spins alternate, short first */
1:  cli                      /* no tick handled (and no EOI exit) between the fill and */
    mov $(UART + 4), %dx     /* the spin: its landmarks follow the fill's exit */
    mov $MCR_DTR_RTS, %al    /* MCR: RTS on, the VMM may send */
    out %al, %dx
    xchg %r10d, %r11d
    mov %r10d, %ecx
2:  dec %ecx
    jnz 2b
    sti
    mov $(UART + 4), %dx     /* MCR: RTS off, nothing more arrives while reading */
    mov $MCR_DTR, %al
    out %al, %dx
3:  mov $(UART + 5), %dx     /* LSR */
    in %dx, %al
    test $1, %al
    jz 1b
    mov $UART, %dx           /* RBR */
    in %dx, %al
    mov $TEST_PORT + 1, %dx  /* echoed to the test: a checkpoint cannot undo a port write */
    out %al, %dx
    movzbl %al, %eax
    add %rax, %rbx
    rol $5, %rbx
    jmp 3b

    rr_common
