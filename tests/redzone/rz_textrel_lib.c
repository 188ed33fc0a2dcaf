// rz_textrel_lib.c: a library that keeps function addresses in read-only
// data: a table of strcmp and strcasecmp in .rodata, which takes text
// relocations (linked -z notext; the loader makes the segment writable
// only while it relocates). Redzone mode's libc interception must leave
// the table alone: patching it faulted at start-up (review hU).
#include <string.h>
#include <strings.h>

typedef int (*compare_fn)(const char*, const char*);
// (In assembly: a C const table of pointers would go to .data.rel.ro.)
__asm__(".section .rodata\n\t.globl rz_rodata_table\n\t.type rz_rodata_table, @object\n\t.p2align 3\n"
        "rz_rodata_table:\n\t.quad strcmp\n\t.quad strcasecmp\n\t.size rz_rodata_table, 16\n\t.text");
extern const compare_fn rz_rodata_table[];

int rz_textrel_compare(int i, const char* a, const char* b) { return rz_rodata_table[i](a, b); }
