/* Reads the time stamp counter: an input the software CPU cannot log (Unicorn follows the host
 * clock and cannot trap RDTSC), so it must stop there and say so rather than run on with a
 * value a replay would not see. */
    .text
    .global _start
_start:
    mov $0x1234, %rbx
    rdtsc
    hlt
