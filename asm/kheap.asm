; kheap.asm - the allocator core: pool set-up, first-fit bitmap search, marking,
; clearing, free validation and allocation length. Called by kernel/kheap.c under its lock.
;
; ABI: cdecl, bits 32. Arguments on the stack, result in eax. ebx esi edi ebp are
; preserved, eax ecx edx are clobbered, the direction flag is clear on entry and exit.
; Block indices and counts are unsigned words. No routine allocates stack beyond a
; few saved registers, and none calls out of this file.
;
; Routine            arguments                 result
; -----------------  ------------------------  ---------------------------------------------
; kh_init            mem, size, shift, extra   control block address, or 0 when the region
;                                              cannot hold the control block, both bitmaps,
;                                              `extra` side-table bytes per block and one
;                                              block (or wraps past 4 GiB)
; kh_find            h, count, align           first block of the lowest run of `count` free
;                                              blocks whose address is a multiple of
;                                              align << shift (align: power of two, in
;                                              blocks); -1 when none. Raises the hint and
;                                              class hints.
; kh_claim           h, first, count           -  marks [first, first+count) used, first a start
; kh_release         h, first, count           -  clears them and the start bit; lowers the
;                                              hint and the class hints
; kh_mark            h, first, count           -  marks used only (grow in place)
; kh_unmark          h, first, count           -  clears used only (shrink); lowers as release
; kh_next_used       h, from, limit            first used block in [from, limit), else limit
; kh_next_free       h, from, limit            first free block in [from, limit), else limit
; kh_alloc_blocks    h, first                  length in blocks of the allocation at `first`
; kh_block_of        h, ptr                    block index of a live allocation's start, or
;                                              KHEAP_EINVAL (outside the block area or not
;                                              block aligned), KHEAP_EDOUBLE (block free),
;                                              KHEAP_EINTERIOR (inside an allocation)
; kh_fill            dst, n, byte              -  n bytes at dst set to byte
; kh_unlike          p, n, byte                address of the first of n bytes at p that is
;                                              not `byte`, or 0 when all are
; kh_copy            dst, src, n               -  n bytes copied, regions must not overlap
;
; Clobbers: every routine clobbers eax ecx edx and flags, nothing else.
;
; Invariants every routine relies on and keeps (kheap_check verifies them all):
;   I1  used[i] = 1 iff block i belongs to a live allocation; start[i] = 1 iff block i is
;       the first block of one. start is a subset of used, and every run of used blocks
;       begins with a start bit, so an allocation is [start bit, next start bit or free).
;   I2  Bits past the last block in the last bitmap word: used = 1, start = 0. A search
;       therefore never returns a block past the pool, whatever the word holds.
;   I3  Every bitmap word below `hint` is all ones in `used` (no free block below it).
;   I4  Counters (free_blocks, live_allocs, ...) are kept by the C layer: nothing here
;       touches them, except kh_init which sets them for an empty pool.
;   I5  For each size class c (0 .. KH_CLASSES-1), no maximal run of free blocks at least
;       2^c long starts below class_hint[c]. The summary that lets a search skip regions
;       that cannot hold it: a search for n blocks starts at class_hint[floor(log2 n)].
;       Kept by kh_find, which after a search for n blocks aligned to a raises the hints
;       of the classes 2^c >= n + a - 1 to its result, or to nblocks when it fails (every
;       run starting before the result was too short to hold an aligned fit), and by every
;       free, which lowers all of them to the start of the free run the freed blocks join
;       (or to a block below it).

bits 32

; ---- width: the only place that knows a word is 32 bits (an x86-64 build changes these) ----
%define WORD_BYTES      4               ; bytes in a pointer, a size and a bitmap word
%define WORD_BITS       32
%define WORD_SHIFT      5               ; log2(WORD_BITS)
%define WORD_SCALE      4               ; index scale for a word array
%define ALL_ONES        0xFFFFFFFF
%define WORD_BYTES_LOG2 2
%define BYTE_SPREAD     0x01010101      ; times a byte: that byte in every byte of a word
%define STOS_WORD       stosd           ; the string instructions a word at a time
%define MOVS_WORD       movsd
%define resword         resd

; Register names used below; they map to the 64-bit registers in a later x86-64 build.
%define xAX eax
%define xBX ebx
%define xCX ecx
%define xDX edx
%define xSI esi
%define xDI edi
%define xBP ebp
%define xSP esp

; Public routines save the four callee-saved registers; arguments then sit above them.
%define SAVED_REGS      4
%define ARG(n)          [xSP + (SAVED_REGS + 1 + (n)) * WORD_BYTES]
; The same argument while `k` more words are pushed on top of the saved registers.
%define ARGP(n, k)      [xSP + (SAVED_REGS + 1 + (n) + (k)) * WORD_BYTES]

%macro ENTER_SAVED 0
        push    xBX
        push    xSI
        push    xDI
        push    xBP
%endmacro

%macro LEAVE_SAVED 0
        pop     xBP
        pop     xDI
        pop     xSI
        pop     xBX
        ret
%endmacro

; ---- error codes (include/kheap.h) ----
KHEAP_EINVAL    equ -1
KHEAP_EDOUBLE   equ -2
KHEAP_EINTERIOR equ -3

KH_MAGIC_VALUE  equ 0x5045484B          ; "KHEP": the pool's control block is valid

; ---- the control block: struct kheap in kernel/kheap.c ----
; One word per field, in this order. When assembled with -DKHEAP_CHECK_OFFSETS and the
; offsets generated from the C struct (build/kheap_offsets.inc), every field is compared
; with the C layout and the build stops on any drift.
%ifdef KHEAP_CHECK_OFFSETS
%include "kheap_offsets.inc"
%endif

%assign CB_SIZE 0
%macro field 1-2 1                          ; name [, words]
  %ifdef KHEAP_CHECK_OFFSETS
    %if C_%1 != CB_SIZE
      %error control block drift: %1 is at CB_SIZE here but elsewhere in struct kheap
    %endif
  %endif
  %assign %1 CB_SIZE
  %assign CB_SIZE CB_SIZE + (%2) * WORD_BYTES
%endmacro

KH_CLASSES      equ 16                  ; size classes of the class hints: runs of 2^0 .. 2^15

field KH_MAGIC                  ; KH_MAGIC_VALUE while the pool is valid
field KH_GEOMETRY               ; checksum of the fields up to KH_MEM_END (C layer)
field KH_SHIFT                  ; log2(block size)
field KH_NBLOCKS                ; blocks in the block area
field KH_NWORDS                 ; words in each bitmap
field KH_USED                   ; -> used bitmap
field KH_START                  ; -> start bitmap
field KH_BASE                   ; -> block 0
field KH_LIMIT                  ; -> one past the last block
field KH_MEM_START              ; the region handed to kheap_create
field KH_MEM_END
field KH_SIDE                   ; -> side table (nblocks * extra bytes), after the start bitmap
field KH_FLAGS                  ; KHEAP_F_* of the pool (C layer)
field KH_HINT                   ; word index, invariant I3
field KH_FREE_BLOCKS
field KH_LIVE_ALLOCS
field KH_PEAK_BLOCKS
field KH_TOTAL_ALLOCS
field KH_TOTAL_FREES
field KH_FAILED_ALLOCS
field KH_FAULTS
field KH_NEXT                   ; next region of the kmalloc heap, or 0
field KH_CLASS_HINT, KH_CLASSES ; block index per class c, invariant I5

%ifdef KHEAP_CHECK_OFFSETS
  %if C_KH_SIZE != CB_SIZE
    %error control block drift: struct kheap has a different size
  %endif
%endif

section .text

global kh_init, kh_find, kh_claim, kh_release, kh_mark, kh_unmark
global kh_next_used, kh_next_free, kh_alloc_blocks, kh_block_of, kh_fill, kh_unlike, kh_copy

; =====================================================================================
; Internal helpers. They take registers, not stack arguments, and say what they clobber.
; =====================================================================================

; scan - the one bitmap search. Finds the first block b in [xAX, xDX) whose bit is set in
;        B(w) = (used[w] XOR xSI) OR (start[w] AND xDI)
;   xSI = 0,        xDI = 0:        next used block
;   xSI = ALL_ONES, xDI = 0:        next free block
;   xSI = ALL_ONES, xDI = ALL_ONES: next block that is free or starts an allocation
; A word whose B is zero is skipped whole; inside a word bsf finds the bit.
; in:  xBX = h, xAX = from, xDX = limit (<= nblocks)
; out: xAX = b, or xDX when there is none
; clobbers: xCX, xBP
scan:
        cmp     xAX, xDX
        jae     .none
        mov     xCX, xAX
        and     xCX, WORD_BITS - 1              ; cl = bit of `from` in its word
        shr     xAX, WORD_SHIFT                 ; xAX = word index from here on
        call    word_bits
        shr     xBP, cl                         ; drop bits below `from`
        shl     xBP, cl
        jmp     .test
.next:  ; the word at xAX-1 had nothing: move on while words still start below limit
        inc     xAX
        mov     xCX, xAX
        shl     xCX, WORD_SHIFT
        cmp     xCX, xDX
        jae     .none
        call    word_bits
.test:  test    xBP, xBP
        jz      .next
        bsf     xCX, xBP
        shl     xAX, WORD_SHIFT
        add     xAX, xCX                        ; xAX = block of the lowest set bit
        cmp     xAX, xDX                        ; found past the limit counts as none
        jae     .none
        ret
.none:  mov     xAX, xDX
        ret

; word_bits - xBP = B(xAX) for scan (xAX = word index). Clobbers nothing else.
word_bits:
        push    xCX
        mov     xBP, [xBX + KH_USED]
        mov     xBP, [xBP + xAX * WORD_SCALE]
        xor     xBP, xSI
        mov     xCX, [xBX + KH_START]
        mov     xCX, [xCX + xAX * WORD_SCALE]
        and     xCX, xDI
        or      xBP, xCX
        pop     xCX
        ret

; fill - set (xSI = ALL_ONES) or clear (xSI = 0) the bits [xAX, xDX) of the bitmap at xDI.
; One word per step: a mask of the bits of the range inside the word, then one or/and.
; in:  xDI = bitmap, xAX = first, xDX = end (exclusive), xSI = pattern
; clobbers: xAX, xCX, xBP
fill:
.word:  cmp     xAX, xDX
        jae     .done
        mov     xCX, xAX
        and     xCX, WORD_BITS - 1              ; cl = first bit of the range in this word
        mov     xBP, ALL_ONES
        shl     xBP, cl                         ; mask = bits cl .. top
        push    xAX
        sub     xAX, xCX                        ; xAX = first block of this word
        mov     xCX, xDX
        sub     xCX, xAX                        ; xCX = end, counted from this word
        cmp     xCX, WORD_BITS
        jae     .apply                          ; the range runs past this word
        neg     xCX
        add     xCX, WORD_BITS                  ; cl = WORD_BITS - (end in this word)
        shl     xBP, cl                         ; drop mask bits at or past end
        shr     xBP, cl
.apply: shr     xAX, WORD_SHIFT                 ; xAX = word index
        test    xSI, xSI
        jz      .clear
        or      [xDI + xAX * WORD_SCALE], xBP
        jmp     .stepped
.clear: not     xBP
        and     [xDI + xAX * WORD_SCALE], xBP
.stepped:
        pop     xAX
        or      xAX, WORD_BITS - 1              ; next word's first block
        inc     xAX
        jmp     .word
.done:  ret

; lower_hint - keep I3 after blocks from xAX on became free: hint = min(hint, word of xAX).
; in: xBX = h, xAX = first freed block. clobbers: xAX
lower_hint:
        shr     xAX, WORD_SHIFT
        cmp     xAX, [xBX + KH_HINT]
        jae     .keep
        mov     [xBX + KH_HINT], xAX
.keep:  ret

; raise_classes - I5 after kh_find (ARG(1) = count, ARG(2) = align; ENTER_SAVED done) found
; its first fit at xAX, or none (xAX = nblocks). A free run of count + align - 1 blocks always
; holds an aligned fit, so no run that long starts below xAX: for every class with
; 2^c >= count + align - 1 the hint is raised to xAX. (A run starting below the search's
; start is shorter than 2^floor(log2 count) by I5, or there is none, by I3.)
; in: xBX = h, xAX = block. clobbers: xCX, xDX
raise_classes:
        mov     xDX, ARGP(1, 1)                 ; (one more word: our return address)
        add     xDX, ARGP(2, 1)
        sub     xDX, 2                          ; count + align - 2
        xor     xCX, xCX
        test    xDX, xDX
        jz      .loop                           ; count + align - 1 = 1: every class from 0
        bsr     xCX, xDX
        inc     xCX                             ; xCX = ceil(log2(count + align - 1))
.loop:  cmp     xCX, KH_CLASSES
        jae     .done
        cmp     [xBX + KH_CLASS_HINT + xCX * WORD_SCALE], xAX
        jae     .next
        mov     [xBX + KH_CLASS_HINT + xCX * WORD_SCALE], xAX
.next:  inc     xCX
        jmp     .loop
.done:  ret

; lower_classes - I5 after blocks from xAX on became free: they may join a free run that
; starts before them. Its start is found when the used block before it lies in the same
; bitmap word; otherwise the first block of the hint word is used, which is at or below
; it (I3). Every class hint above that block is lowered to it.
; in: xBX = h, xAX = first freed block (the hint already lowered). clobbers: xAX, xCX, xDX, xBP
lower_classes:
        test    xAX, xAX
        jz      .lower                          ; block 0 starts its run
        dec     xAX                             ; the block before the freed ones
        mov     xCX, xAX
        and     xCX, WORD_BITS - 1
        shr     xAX, WORD_SHIFT
        mov     xDX, [xBX + KH_USED]
        mov     xBP, [xDX + xAX * WORD_SCALE]
        neg     xCX
        add     xCX, WORD_BITS - 1
        shl     xBP, cl                         ; keep the bits up to that block ...
        shr     xBP, cl                         ; ... (used bits at or below it)
        test    xBP, xBP
        jz      .far
        bsr     xBP, xBP
        shl     xAX, WORD_SHIFT
        lea     xAX, [xAX + xBP + 1]            ; the run starts after the last used block
        jmp     .lower
.far:   mov     xAX, [xBX + KH_HINT]
        shl     xAX, WORD_SHIFT
.lower: xor     xCX, xCX
.loop:  cmp     [xBX + KH_CLASS_HINT + xCX * WORD_SCALE], xAX
        jbe     .next
        mov     [xBX + KH_CLASS_HINT + xCX * WORD_SCALE], xAX
.next:  inc     xCX
        cmp     xCX, KH_CLASSES
        jb      .loop
        ret

; start_bit - xDI = address of the start word holding block xAX, xCX = its bit.
; in: xBX = h, xAX = block. clobbers: nothing else
start_bit:
        mov     xCX, xAX
        and     xCX, WORD_BITS - 1
        push    xAX
        shr     xAX, WORD_SHIFT
        mov     xDI, [xBX + KH_START]
        lea     xDI, [xDI + xAX * WORD_SCALE]
        pop     xAX
        ret

; =====================================================================================
; kh_init(mem, size, shift, extra) -> h or 0
; Lays out | control | used bitmap | start bitmap | side table | pad | blocks | in
; [mem, mem+size): control block word aligned, block 0 aligned to the block size, as many
; blocks as fit; the side table has `extra` bytes per block (0 but in debug pools).
; Leaves an empty pool: both bitmaps clear but for the I2 pad bits, counters zero; the
; side table is the C layer's to fill.
; =====================================================================================
kh_init:
        ENTER_SAVED
        mov     xBX, ARG(0)                     ; xBX = control block = mem, word aligned
        add     xBX, WORD_BYTES - 1
        jc      .fail
        and     xBX, ~(WORD_BYTES - 1)
        mov     xDX, ARG(0)
        add     xDX, ARG(1)                     ; xDX = end of region
        jc      .fail
        mov     xSI, xBX
        add     xSI, CB_SIZE                    ; xSI = first bitmap byte
        jc      .fail
        cmp     xSI, xDX
        ja      .fail
        push    xDX                             ; [esp] = end of region

        ; Estimate: each block costs (block + extra bytes + 2 bits), so
        ; n = (end - xSI) * 8 / (8 * (block + extra) + 2), a 64 by 32 bit division.
        mov     xAX, xDX
        sub     xAX, xSI
        xor     xDX, xDX
        shld    xDX, xAX, 3
        shl     xAX, 3
        mov     xCX, ARGP(2, 1)                 ; one word pushed since ENTER_SAVED
        mov     xDI, 1
        shl     xDI, cl
        add     xDI, ARGP(3, 1)
        shl     xDI, 3
        add     xDI, 2
        div     xDI                             ; xAX = estimated block count

        ; Trim the estimate until bitmaps, alignment pad and blocks fit before the end.
.try:   test    xAX, xAX
        jz      .fail_pop
        mov     xDI, xAX
        add     xDI, WORD_BITS - 1
        shr     xDI, WORD_SHIFT                 ; xDI = words per bitmap
        mov     xBP, ARGP(3, 1)
        imul    xBP, xAX                        ; side table bytes (below end: no overflow)
        lea     xBP, [xBP + xDI * (2 * WORD_BYTES)]
        add     xBP, xSI                        ; end of both bitmaps and the side table
        jc      .smaller
        mov     xDX, 1
        shl     xDX, cl                         ; xDX = block size
        dec     xDX
        add     xBP, xDX                        ; align up to the block size
        jc      .smaller
        not     xDX
        and     xBP, xDX                        ; xBP = block 0
        mov     xDX, xAX
        shl     xDX, cl
        add     xDX, xBP                        ; xDX = one past the last block
        jc      .smaller
        cmp     xDX, [xSP]
        jbe     .fits
.smaller:
        dec     xAX
        jmp     .try

.fits:  ; xAX = blocks, xDI = words per bitmap, xBP = block 0, xDX = block-area limit
        ; The control block: every field zero, then the geometry.
        push    xAX
        push    xDI
        mov     xDI, xBX
        mov     xCX, CB_SIZE / WORD_BYTES
        xor     xAX, xAX
        rep STOS_WORD
        pop     xDI
        pop     xAX
        mov     dword [xBX + KH_MAGIC], KH_MAGIC_VALUE
        mov     xCX, ARGP(2, 1)
        mov     [xBX + KH_SHIFT], xCX
        mov     [xBX + KH_NBLOCKS], xAX
        mov     [xBX + KH_FREE_BLOCKS], xAX
        mov     [xBX + KH_NWORDS], xDI
        mov     [xBX + KH_USED], xSI
        lea     xCX, [xSI + xDI * WORD_BYTES]
        mov     [xBX + KH_START], xCX
        lea     xCX, [xCX + xDI * WORD_BYTES]
        mov     [xBX + KH_SIDE], xCX
        mov     [xBX + KH_BASE], xBP
        mov     [xBX + KH_LIMIT], xDX
        mov     xCX, ARGP(0, 1)
        mov     [xBX + KH_MEM_START], xCX
        pop     xCX
        mov     [xBX + KH_MEM_END], xCX

        ; Both bitmaps cleared: no block is used (I1, I3 with hint 0).
        push    xAX
        mov     xCX, xDI
        shl     xCX, 1
        mov     xDI, xSI
        xor     xAX, xAX
        rep STOS_WORD
        pop     xAX

        ; I2: the pad bits of the last used word are set, so searches stop at the pool end.
        mov     xDX, [xBX + KH_NWORDS]
        shl     xDX, WORD_SHIFT                 ; end = nwords * WORD_BITS
        mov     xDI, [xBX + KH_USED]
        mov     xSI, ALL_ONES
        call    fill                            ; [nblocks, nwords*WORD_BITS)

        mov     xAX, xBX
        LEAVE_SAVED
.fail_pop:
        pop     xDX
.fail:  xor     xAX, xAX
        LEAVE_SAVED

; =====================================================================================
; kh_find(h, count, align) -> first block, or -1
; First fit: the lowest block b with b aligned, and [b, b+count) free.
;   1. from the hint, jump to the next free block (whole used words are skipped);
;   2. round it up to the alignment; if that moved it, go back to 1 from there;
;   3. jump to the next used block before b+count; none means found, else go to 1 from it.
; Every step moves `from` forward, so the loop ends. The first free block seen from the
; hint lies in the lowest word with a free bit, so the hint is raised to that word (I3).
; =====================================================================================
kh_find:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, [xBX + KH_HINT]
        shl     xAX, WORD_SHIFT                 ; from = first block of the hint word
        mov     xDX, [xBX + KH_NBLOCKS]
        mov     xSI, ALL_ONES
        xor     xDI, xDI
        call    scan                            ; xAX = lowest free block, or nblocks
        mov     xCX, xAX
        shr     xCX, WORD_SHIFT
        cmp     xAX, xDX
        jb      .hint
        mov     xCX, [xBX + KH_NWORDS]          ; no free block: every word is full
.hint:  mov     [xBX + KH_HINT], xCX
        ; I5: no run of `count` blocks starts below the hint of class floor(log2 count)
        bsr     xCX, ARG(1)
        cmp     xCX, KH_CLASSES - 1
        jbe     .class
        mov     xCX, KH_CLASSES - 1
.class: mov     xDX, [xBX + KH_CLASS_HINT + xCX * WORD_SCALE]
        cmp     xAX, xDX
        jae     .have_free
        mov     xAX, xDX                        ; start the search at the class hint
        jmp     .next_free

.next_free:                                     ; 1. xAX = from
        mov     xDX, [xBX + KH_NBLOCKS]
        mov     xSI, ALL_ONES
        xor     xDI, xDI
        call    scan
.have_free:
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     .fail

        ; 2. align: b = round_up(base/block + xAX, align) - base/block
        mov     xDX, [xBX + KH_BASE]
        mov     xCX, [xBX + KH_SHIFT]
        shr     xDX, cl                         ; xDX = block number of block 0
        mov     xCX, ARG(2)
        dec     xCX                             ; xCX = align - 1
        lea     xBP, [xAX + xDX]
        add     xBP, xCX
        not     xCX
        and     xBP, xCX
        sub     xBP, xDX                        ; xBP = aligned candidate >= xAX
        cmp     xBP, xAX
        je      .aligned
        mov     xAX, xBP
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     .fail
        jmp     .next_free

.aligned:                                       ; 3. xAX = free aligned candidate
        mov     xDX, [xBX + KH_NBLOCKS]
        sub     xDX, xAX
        cmp     xDX, ARG(1)
        jb      .fail                           ; fewer than count blocks left at all
        mov     xDX, xAX
        add     xDX, ARG(1)                     ; limit = candidate + count
        push    xAX
        xor     xSI, xSI
        xor     xDI, xDI
        call    scan                            ; next used block before the limit
        pop     xCX
        cmp     xAX, xDX
        jb      .next_free                      ; run too short: go on from that used block
        mov     xAX, xCX
        call    raise_classes                   ; no shorter-than-count run ends the search
        LEAVE_SAVED
.fail:  mov     xAX, [xBX + KH_NBLOCKS]
        call    raise_classes                   ; no run of count blocks anywhere
        mov     xAX, -1
        LEAVE_SAVED

; =====================================================================================
; kh_claim(h, first, count) / kh_mark(h, first, count)
; Sets used over [first, first+count); kh_claim also sets start[first] (I1).
; The caller has checked the range is free and inside the pool.
; =====================================================================================
kh_claim:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        call    start_bit
        bts     [xDI], xCX
        jmp     mark_range

kh_mark:
        ENTER_SAVED
        mov     xBX, ARG(0)
mark_range:                                     ; shared tail: ENTER_SAVED done, xBX = h
        mov     xAX, ARG(1)
        mov     xDX, xAX
        add     xDX, ARG(2)
        mov     xDI, [xBX + KH_USED]
        mov     xSI, ALL_ONES
        call    fill
        LEAVE_SAVED

; =====================================================================================
; kh_release(h, first, count) / kh_unmark(h, first, count)
; Clears used over [first, first+count); kh_release also clears start[first].
; The freed blocks may lie below the hint, so it is lowered to keep I3.
; =====================================================================================
kh_release:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        call    start_bit
        btr     [xDI], xCX
        jmp     unmark_range

kh_unmark:
        ENTER_SAVED
        mov     xBX, ARG(0)
unmark_range:                                   ; shared tail: ENTER_SAVED done, xBX = h
        mov     xAX, ARG(1)
        mov     xDX, xAX
        add     xDX, ARG(2)
        mov     xDI, [xBX + KH_USED]
        xor     xSI, xSI
        call    fill
        mov     xAX, ARG(1)
        call    lower_hint
        mov     xAX, ARG(1)
        call    lower_classes
        LEAVE_SAVED

; =====================================================================================
; kh_next_used(h, from, limit) / kh_next_free(h, from, limit) -> block, or limit
; limit must not exceed nblocks.
; =====================================================================================
kh_next_used:
        ENTER_SAVED
        xor     xSI, xSI
        jmp     next_common
kh_next_free:
        ENTER_SAVED
        mov     xSI, ALL_ONES
next_common:                                    ; shared tail: xSI = invert mask
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        mov     xDX, ARG(2)
        xor     xDI, xDI
        call    scan
        LEAVE_SAVED

; =====================================================================================
; kh_alloc_blocks(h, first) -> blocks in the allocation starting at `first`
; By I1 it ends at the next block that is free or starts another allocation, or at the
; pool end. `first` must be a live allocation start (kh_block_of said so).
; =====================================================================================
kh_alloc_blocks:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        inc     xAX
        mov     xDX, [xBX + KH_NBLOCKS]
        mov     xSI, ALL_ONES
        mov     xDI, ALL_ONES
        call    scan
        sub     xAX, ARG(1)
        LEAVE_SAVED

; =====================================================================================
; kh_block_of(h, ptr) -> block index of a live allocation start, or a KHEAP_E* code
; The whole validation of a pointer handed to free: in the block area, block aligned,
; used, and a start. Reads only; a bad pointer changes nothing.
; =====================================================================================
kh_block_of:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        cmp     xAX, [xBX + KH_BASE]
        jb      .invalid
        cmp     xAX, [xBX + KH_LIMIT]
        jae     .invalid
        sub     xAX, [xBX + KH_BASE]            ; offset into the block area
        mov     xCX, [xBX + KH_SHIFT]
        mov     xDX, 1
        shl     xDX, cl
        dec     xDX
        test    xAX, xDX
        jnz     .invalid                        ; not at a block boundary
        shr     xAX, cl                         ; xAX = block
        mov     xDX, xAX
        shr     xDX, WORD_SHIFT
        mov     xCX, xAX
        and     xCX, WORD_BITS - 1
        mov     xSI, [xBX + KH_USED]
        bt      [xSI + xDX * WORD_SCALE], xCX
        jnc     .double
        mov     xSI, [xBX + KH_START]
        bt      [xSI + xDX * WORD_SCALE], xCX
        jnc     .interior
        LEAVE_SAVED
.invalid:
        mov     xAX, KHEAP_EINVAL
        LEAVE_SAVED
.double:
        mov     xAX, KHEAP_EDOUBLE
        LEAVE_SAVED
.interior:
        mov     xAX, KHEAP_EINTERIOR
        LEAVE_SAVED

; =====================================================================================
; kh_fill(dst, n, byte), kh_unlike(p, n, byte) and kh_copy(dst, src, n): the only loops over
; allocation bytes (zeroing, debug patterns, realloc's copy), a word at a time where they can.
; The direction flag is clear by the ABI, so the string instructions move upward.
; =====================================================================================
kh_fill:
        ENTER_SAVED
        mov     xDI, ARG(0)
        mov     xDX, ARG(1)
        movzx   xAX, byte ARG(2)
        imul    xAX, xAX, BYTE_SPREAD           ; the byte in every byte of a word
        mov     xCX, xDX
        shr     xCX, WORD_BYTES_LOG2
        rep STOS_WORD
        mov     xCX, xDX
        and     xCX, WORD_BYTES - 1
        rep stosb
        LEAVE_SAVED

kh_unlike:
        ENTER_SAVED
        mov     xDI, ARG(0)
        mov     xCX, ARG(1)
        movzx   xAX, byte ARG(2)
        xor     xDX, xDX                        ; the answer when every byte matches
        test    xCX, xCX
        jz      .done
        repe scasb                              ; stops after the first byte that differs
        je      .done                           ; ... or after the last, which matched
        lea     xDX, [xDI - 1]
.done:  mov     xAX, xDX
        LEAVE_SAVED

kh_copy:
        ENTER_SAVED
        mov     xDI, ARG(0)
        mov     xSI, ARG(1)
        mov     xDX, ARG(2)
        mov     xCX, xDX
        shr     xCX, WORD_BYTES_LOG2
        rep MOVS_WORD
        mov     xCX, xDX
        and     xCX, WORD_BYTES - 1
        rep movsb
        LEAVE_SAVED

section .note.GNU-stack noalloc noexec nowrite progbits
