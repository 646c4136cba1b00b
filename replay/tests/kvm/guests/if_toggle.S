/* Hard pattern 6: a loop that turns interrupts off and on (issue 15's hang). A `cli` ... `sti`
 * section whose `sti` shadows the next instruction, and a `pushfq; cli; ...; popfq` window,
 * both without exits, under the 1 kHz timer. A tick that arrives with IF=0 stays pending; the
 * recorder asks for an interrupt-window event, which lands at the next asynchronous landmark,
 * often inside the IF=0 code where nothing can be delivered, so the log holds landmarks whose
 * only input is that event, at RIPs the loop passes with IF=0 and IF=1 alike. The counter in
 * RBX tells the iterations apart. */
    .set RR_TICKS, 100
    .include "rr.inc"
    rr_guest_start
    xor %ebx, %ebx
    sti
1:  inc %rbx
    cli
    inc %rbx
    add $2, %rbx
    sti
    inc %rbx             /* in the STI shadow */
    pushfq
    cli
    inc %rbx
    add $3, %rbx
    popfq
    inc %rbx
    jmp 1b

    rr_common
