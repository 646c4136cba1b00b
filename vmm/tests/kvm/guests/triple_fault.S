/* No IDT: the first exception is a triple fault the VMM must report, naming the instruction. */
    .text
    .global _start
_start:
    mov $0x1234, %rbx
    ud2
