/* Assembly edges of the test guest: the 64-bit entry point, the 256 trap
 * stubs the IDT points at, the common trap frame save/restore, and the
 * iretq into CPL3. Everything else is C (kernel.c, user.c). */

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10

.section .text.entry, "ax"
.globl _start
_start:
	/* CONTRACT.md entry state: long mode, paging on, IF=0, RSI = boot_params. */
	cli
	lea	kernel_stack_top(%rip), %rsp
	mov	%rsi, %rdi
	call	kernel_main
1:	hlt
	jmp	1b

.text
/* load_gdt(const struct dtr *gdtr, uint16_t tss_selector): lgdt, reload every
 * segment register (a far return reloads CS), then ltr. */
.globl load_gdt
load_gdt:
	lgdt	(%rdi)
	mov	$KERNEL_DS, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	xor	%eax, %eax
	mov	%ax, %fs
	mov	%ax, %gs
	pushq	$KERNEL_CS
	lea	1f(%rip), %rax
	pushq	%rax
	lretq
1:	ltr	%si
	ret

/* Trap stubs: 16 bytes each, so trap_stubs + 16*vector is vector's entry.
 * Vectors without a CPU-pushed error code push a 0 to keep one frame shape
 * (Intel SDM vol. 3 §6.13: 8, 10-14, 17, 21, 29, 30 push one). */
.align 16
.globl trap_stubs
trap_stubs:
.set vec, 0
.rept 256
	.align 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$vec
	jmp	trap_common
	.set vec, vec + 1
.endr

trap_common:
	push	%rax
	push	%rbx
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%rbp
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, %rdi
	call	trap
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rbp
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rbx
	pop	%rax
	add	$16, %rsp	/* vector + error code */
	iretq

/* enter_user(entry, user_stack, rflags): the one way down to CPL3; user
 * code comes back only through int $0x80 or an interrupt. */
.globl enter_user
enter_user:
	pushq	$0x1b		/* user data | RPL 3 */
	pushq	%rsi
	pushq	%rdx
	pushq	$0x23		/* user code | RPL 3 */
	pushq	%rdi
	xor	%eax, %eax
	mov	%ax, %ds
	mov	%ax, %es
	iretq

.section .bss
.align 4096
	.skip 65536
.globl kernel_stack_top
kernel_stack_top:

/* Application-processor trampoline (smp.c copies it to 0x10000 and sends
 * STARTUP with vector page 0x10, so it starts in real mode at 1000:0000).
 * It needs no stack: load the boot CPU's GDT, PAE + CR3, EFER.LME, then
 * PG|PE and a far jump into 64-bit code (SDM vol. 3 §10.8.5). Parameters
 * follow the code (struct ap_params in smp.c): GDTR at +0, CR3 at +16,
 * the C entry at +24, the stack top at +32. */
#define AP_BASE 0x10000
#define AP_PARAM(off) (ap_params - ap_trampoline + (off))

.section .rodata
.code16
.globl ap_trampoline, ap_trampoline_end, ap_params
ap_trampoline:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	lgdtl	AP_PARAM(0)		/* 32-bit base: the GDT lies below 4 GiB */
	mov	$0x20, %eax		/* CR4.PAE */
	mov	%eax, %cr4
	movl	AP_PARAM(16), %eax	/* page tables lie below 4 GiB too */
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx	/* EFER.LME */
	rdmsr
	or	$0x100, %eax
	wrmsr
	mov	$0x80000011, %eax	/* CR0: PG | ET | PE */
	mov	%eax, %cr0
	ljmpl	$KERNEL_CS, $(AP_BASE + ap_long - ap_trampoline)
.code64
ap_long:
	mov	$KERNEL_DS, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	(AP_BASE + AP_PARAM(32)), %rsp
	call	*(AP_BASE + AP_PARAM(24))
1:	cli
	hlt
	jmp	1b
.align 8
ap_params:
	.skip 40
ap_trampoline_end:

.section .note.GNU-stack,"",@progbits
