/* rz_text_table.S: a constant table in .text, as hand-written assembly
   (OpenSSL's perlasm, for one) keeps: data bytes that read as a call (E8)
   followed, at its target, by a PLT-like jmp *disp(%rip) whose slot is
   nowhere mapped. rz_stacks.c's text-table mode holds a pointer to it on
   the stack while it allocates. */
	.text
	.globl	rz_text_table
	.p2align 4
	.byte	0xe8, 0x00, 0x00, 0x00, 0x00
rz_text_table:
	.byte	0xff, 0x25, 0x00, 0x00, 0x00, 0x40, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66
	.section .note.GNU-stack,"",@progbits
