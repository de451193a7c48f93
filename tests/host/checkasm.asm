; checkasm.asm - the call trampoline of tests/host/checkasm.c: calls an asm routine of the
; module with every callee-saved register loaded from checkasm_values, the caller-saved ones
; holding junk and the direction flag clear (as the ABI has it on entry), then records in
; checkasm_clobbered which of them the routine did not keep: a callee-saved register, the
; stack pointer, or the direction flag (the ABI wants it clear on return).
;
;   uintptr_t checkasm_call(void *fn, uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3,
;                           uintptr_t a4)
;   returns fn(a0, a1, a2, a3, a4)'s result
;
; Bits of checkasm_clobbered, from bit 0 up:
;   i386:   ebx esi edi ebp esp DF
;   x86-64: rbx rbp r12 r13 r14 r15 rsp DF
; Not reentrant (the function and the stack pointer sit in static slots): one thread.

DF_BIT  equ 0x400                       ; the direction flag in EFLAGS
JUNK    equ 0x5EEDBAD1                  ; what the caller-saved registers hold at the call

%ifidn __OUTPUT_FORMAT__, elf64
  bits 64
  default rel
  %define NSAVED 6                      ; rbx rbp r12 r13 r14 r15
%else
  bits 32
  %define NSAVED 4                      ; ebx esi edi ebp
%endif

section .bss
global checkasm_values, checkasm_clobbered
checkasm_values:    resq NSAVED         ; uintptr_t[]: what each callee-saved register holds
checkasm_clobbered: resq 1              ; uintptr_t: the bits above, of the last call
fn_slot:            resq 1
sp_slot:            resq 1              ; the stack pointer at the call

section .text
global checkasm_call, checkasm_clobber_first, checkasm_leave_df_set

; Two routines that break the rule, so that the test can show the check catches it.
checkasm_clobber_first:
%ifidn __OUTPUT_FORMAT__, elf64
        not     rbx
%else
        not     ebx
%endif
        ret
checkasm_leave_df_set:
        std
        ret

%ifidn __OUTPUT_FORMAT__, elf64
; rdi fn, rsi a0, rdx a1, rcx a2, r8 a3, r9 a4
checkasm_call:
        push    rbp                     ; the caller's callee-saved registers, restored below
        push    rbx
        push    r12
        push    r13
        push    r14
        push    r15
        sub     rsp, 8                  ; the stack 16-aligned at the call
        mov     [fn_slot], rdi
        mov     rdi, rsi                ; the routine's arguments
        mov     rsi, rdx
        mov     rdx, rcx
        mov     rcx, r8
        mov     r8, r9
        mov     [sp_slot], rsp
        lea     r11, [checkasm_values]
        mov     rbx, [r11]
        mov     rbp, [r11 + 8]
        mov     r12, [r11 + 16]
        mov     r13, [r11 + 24]
        mov     r14, [r11 + 32]
        mov     r15, [r11 + 40]
        mov     eax, JUNK
        mov     r9, rax
        mov     r10, rax
        mov     r11, rax
        cld
        call    [fn_slot]
        xor     ecx, ecx                ; the clobbered bits
        lea     r11, [checkasm_values]
        cmp     rbx, [r11]
        je      .rbx
        or      ecx, 1
.rbx:   cmp     rbp, [r11 + 8]
        je      .rbp
        or      ecx, 2
.rbp:   cmp     r12, [r11 + 16]
        je      .r12
        or      ecx, 4
.r12:   cmp     r13, [r11 + 24]
        je      .r13
        or      ecx, 8
.r13:   cmp     r14, [r11 + 32]
        je      .r14
        or      ecx, 16
.r14:   cmp     r15, [r11 + 40]
        je      .r15
        or      ecx, 32
.r15:   cmp     rsp, [sp_slot]
        je      .rsp
        or      ecx, 64
        mov     rsp, [sp_slot]          ; (so that the rest still returns)
.rsp:   pushfq
        pop     rdx
        test    edx, DF_BIT
        jz      .df
        or      ecx, 128
        cld
.df:    mov     [checkasm_clobbered], rcx
        add     rsp, 8
        pop     r15
        pop     r14
        pop     r13
        pop     r12
        pop     rbx
        pop     rbp
        ret
%else
; [esp+4] fn, then a0 .. a4
checkasm_call:
        push    ebp                     ; the caller's callee-saved registers, restored below
        push    ebx
        push    esi
        push    edi
        mov     eax, [esp + 20]
        mov     [fn_slot], eax
        push    dword [esp + 40]        ; a4 (each push moves the rest 4 bytes further)
        push    dword [esp + 40]        ; a3
        push    dword [esp + 40]        ; a2
        push    dword [esp + 40]        ; a1
        push    dword [esp + 40]        ; a0
        mov     [sp_slot], esp
        mov     ebx, [checkasm_values]
        mov     esi, [checkasm_values + 4]
        mov     edi, [checkasm_values + 8]
        mov     ebp, [checkasm_values + 12]
        mov     eax, JUNK
        mov     ecx, eax
        mov     edx, eax
        cld
        call    [fn_slot]
        xor     ecx, ecx                ; the clobbered bits
        cmp     ebx, [checkasm_values]
        je      .ebx
        or      ecx, 1
.ebx:   cmp     esi, [checkasm_values + 4]
        je      .esi
        or      ecx, 2
.esi:   cmp     edi, [checkasm_values + 8]
        je      .edi
        or      ecx, 4
.edi:   cmp     ebp, [checkasm_values + 12]
        je      .ebp
        or      ecx, 8
.ebp:   cmp     esp, [sp_slot]
        je      .esp
        or      ecx, 16
        mov     esp, [sp_slot]          ; (so that the rest still returns)
.esp:   pushfd
        pop     edx
        test    edx, DF_BIT
        jz      .df
        or      ecx, 32
        cld
.df:    mov     [checkasm_clobbered], ecx
        add     esp, 20                 ; the five arguments
        pop     edi
        pop     esi
        pop     ebx
        pop     ebp
        ret
%endif

section .note.GNU-stack noalloc noexec nowrite progbits
