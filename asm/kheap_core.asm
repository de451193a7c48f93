; kheap_core.asm - the allocator core: pool set-up, first-fit search through the run tree,
; marking, clearing, free validation, allocation length through the boundary summary, and
; the fast paths of a cache hit and a free into a cache. Called by kernel/kheap.c under its
; lock.
;
; ABI: i386 cdecl (nasm -f elf32: arguments on the stack, result in eax; ebx esi edi ebp
; preserved) or x86-64 System V (nasm -f elf64: arguments in rdi rsi rdx rcx, result in rax;
; rbx rbp r12-r15 preserved, no red zone, no SSE, RIP-relative only), from one source through
; the ABI layer in asm/kheap_abi.inc. The direction flag is clear on entry and exit.
; Block indices and counts are unsigned words. No routine uses more stack than its saved
; registers and a few words of locals (at most 5, in the tree updates and kh_init; the
; summary's search two a level it climbs: at most 10 on i386, 18 on x86-64),
; and none calls out of this file.
;
; Routine            arguments                 result
; -----------------  ------------------------  ---------------------------------------------
; kh_init            mem, size, shift, extra   control block address, or 0 when the region
;                                              cannot hold the control block, the bitmaps,
;                                              `extra` side-table bytes per block and one
;                                              block (or wraps past the top of memory)
; kh_find            h, count, align           first block of the lowest run of `count` free
;                                              blocks whose address is a multiple of
;                                              align << shift (align: power of two, in
;                                              blocks); -1 when none. Reads only.
;                                              O(log leaves + LEAF_WORDS) a candidate
; kh_claim           h, first, count           -  marks [first, first+count) used, first a start
;                                              and updates the run tree and the summary
; kh_release         h, first, count           -  clears them and the start bit; updates
;                                              the run tree and the summary
; kh_mark            h, first, count           -  marks used only (grow in place); updates
;                                              the tree and the summary
; kh_unmark          h, first, count           -  clears used only (shrink); updates the tree
;                                              and the summary. These four return 0, or
;                                              SUMMARY_DAMAGED when a summary word failed
;                                              its mirror (the summary was made anew, I6)
; kh_next_used       h, from, limit            first used block in [from, limit), else limit
; kh_next_free       h, from, limit            first free block in [from, limit), else limit
; kh_alloc_blocks    h, first                  length in blocks of the allocation at `first`,
;                                              found through the boundary summary (I6) in
;                                              O(levels); with SUMMARY_DAMAGED added when the
;                                              summary failed its check (the length is then
;                                              the bitmaps' own, scanned)
; kh_summary_build   h                         -  the boundary summary (I6) made anew from the
;                                              bitmaps. O(W)
; kh_block_of        h, ptr                    block index of a live allocation's start, or
;                                              KHEAP_EINVAL (outside the block area or not
;                                              block aligned), KHEAP_EDOUBLE (block free,
;                                              or a start held in a quick cache),
;                                              KHEAP_EINTERIOR (inside an allocation)
; kh_cache_take      h, count                  first block of the allocation of `count`
;                                              blocks freed last into its quick cache (I5),
;                                              now live again; CACHE_EMPTY (-1) when the
;                                              class is empty or out of range, CACHE_DAMAGED
;                                              (-2) when the entry taken failed its check
;                                              (it is dropped; nothing else changes). O(1)
; kh_cache_put       h, first, count           1: the live allocation [first, first+count)
;                                              is now held in its quick cache; 0: its class
;                                              is full or out of range, nothing changed. O(1)
; kh_fast_alloc      h, size                   address of the allocation of ceil(size / block)
;                                              blocks taken from its quick cache, counted as
;                                              the C layer counts a cache hit (I4); FAST_MISS
;                                              when a usable plain pool holds none; 0 when h
;                                              is not usable, size 0, too large, a debug pool
;                                              or the entry damaged (nothing changed). O(1)
; kh_fast_free       h, ptr                    blocks of the live allocation at ptr, now freed
;                                              into its quick cache or the bitmaps, and
;                                              counted (I4), + SUMMARY_DAMAGED when met; 0
;                                              when h is not usable or a debug pool, or ptr
;                                              not a live start (nothing changed: the C
;                                              layer's full path)
; kh_geometry        h                         what h's geometry word must hold (the XOR of
;                                              the fields that never change). O(1)
; kh_fill            dst, n, byte              -  n bytes at dst set to byte
; kh_unlike          p, n, byte                address of the first of n bytes at p that is
;                                              not `byte`, or 0 when all are
; kh_copy            dst, src, n               -  n bytes copied, regions must not overlap
;
; Clobbers: every routine clobbers xAX xCX xDX (and, on x86-64, xSI xDI, caller-saved
; there) and the flags, nothing else.
;
; Internal helpers take registers (xBX = h throughout) and list what they clobber:
; scan            xAX from, xDX limit, xSI/xDI masks -> xAX first block whose bit is set
; fill            xDI bitmap, [xAX, xDX), xSI pattern -> bits set or cleared
; leaf_update     xAX leaf -> its node from its words; ZF when unchanged
; leaf_adjust     [xAX, xDX) changed to pattern xSI, one leaf -> its node from the free run
;                 around the range; xAX = the node, ZF when unchanged
; run_start       xAX block -> first block of the free run ending there (within its leaf)
; combine         xAX node, xDX child length -> the node from its children; ZF when unchanged
; tree_update     [xAX, xDX) changed to pattern xSI -> leaves and ancestors (I3)
; tree_bytes      xDI words -> xBP leaves, xCX bytes of the run tree
; layout          xAX blocks -> xDI words, xBP block 0, xDX limit (kh_init's helper)
; start_bit       xAX block -> xDI its start-bitmap word, xCX its bit
; live_start      xAX ptr -> xAX its block if a live allocation start, else a KHEAP_E code
; cache_classes   xAX blocks -> xCX the quick-cache classes of such a pool (I5)
; cache_push      xAX count, xDX first -> pushed on its class (xAX 1) or not (0) (I5)
; bounded_length  xAX first, xDX most -> xAX its length if at most xDX, else more
; cache_top       xAX count -> xAX its class's newest entry, checked (or CACHE_EMPTY,
;                 CACHE_DAMAGED), xDX the class; not popped (I5)
; handle_ok       -> ZF when xBX is a usable handle (magic, geometry)
; geometry        -> xAX the geometry sum of xBX
; change_range    xAX first, xDX count, xSI pattern -> used bits, tree and summary (I3, I6);
;                 xAX 0 or SUMMARY_DAMAGED
; alloc_length    xAX first -> xAX its length (+ SUMMARY_DAMAGED), through the summary
; summary_bytes   xDI words -> xCX bytes of the boundary summary (I6)
; summary_build   -> the summary made anew from the bitmaps
; summary_range   [xAX, xDX) changed to pattern xSI -> the summary over it; xAX 0 or
;                 SUMMARY_DAMAGED (then made anew)
; summary_one     xAX word -> its level-1 bit checked, summary_word when it changed; CF damage
; summary_bits    [xAX, xDX] words all changed to pattern xSI -> their level-1 bits; CF damage
; summary_word    xAX word -> its bit at level 1 and up (summary_up); CF damage
; summary_up      xAX entry below, xDI its value, xSI level, xBP entries below -> that
;                 level's bit and up; CF damage
; next_boundary   xAX from -> xAX the next block free or a start, or nblocks; CF damage
; find_descend    kh_find's steps (xDI says what each found: FIT_TREE, FIT_EXACT, GO_ON, NO_FIT):
;                 xCX node, xAX its first block, xDX its length -> a middle fit, or a leaf
; find_leaf       xAX from -> a fit read from the bitmap, or xDX the leaf's end and xBP the
;                 free run reaching it
; find_climb      xDX a leaf's end, xBP the run reaching it -> a carried fit, or a right
;                 sibling to descend (xCX, xAX, xDX)
;
; Invariants every routine relies on and keeps (kheap_check verifies them all):
;   I1  used[i] = 1 iff block i belongs to a live allocation; start[i] = 1 iff block i is
;       the first block of one. start is a subset of used, and every run of used blocks
;       begins with a start bit, so an allocation is [start bit, next start bit or free).
;   I2  Bits past the last block in the last bitmap word: used = 1, start = 0. A search
;       therefore never returns a block past the pool, whatever the word holds.
;   I3  The run tree summarises the used bitmap. Leaf j covers LEAF_WORDS bitmap words
;       (blocks [j * LEAF_BLOCKS, (j+1) * LEAF_BLOCKS)); the tree is complete, with `leaves`
;       (a power of two) leaves, node 1 the root, node k's children 2k and 2k+1, leaf j at
;       node leaves + j. Blocks past the pool (pad bits, words past the bitmap, leaves past
;       the last) count as used. Every node holds, for its range of blocks:
;         pre   free blocks at its start, before the first used one,
;         suf   free blocks at its end, after the last used one,
;         best  the longest run of free blocks inside it (runs cut at its edges).
;       A parent follows from its children (length len each):
;         pre  = L.pre  (+ R.pre  when L.pre = len)
;         suf  = R.suf  (+ L.suf  when R.suf = len)
;         best = max(L.best, R.best, L.suf + R.pre)
;       Every routine that changes the used bitmap recomputes the leaves it touched and
;       their ancestors, so the tree is exact at every return. A search descends it to the
;       lowest run long enough, in O(log leaves + LEAF_WORDS) steps.
;   I4  Counters (free_blocks, live_allocs, ...) are kept by the C layer, with two
;       exceptions here: kh_init sets them for an empty pool, and the fast paths
;       (kh_fast_alloc, kh_fast_free) keep them for the cache hit and the free into a cache
;       they perform, exactly as the C layer would. No other routine touches them.
;   I5  The quick caches hold freed allocations whose blocks stay used in the used bitmap
;       (so the tree is not touched): cached[i] = 1 iff block i starts an allocation held
;       in a cache, and then start[i] = 1 too. Each such block sits in exactly one entry,
;       of class length - 1; every slot past a class's count is zero (so damage to one
;       shows). A cached start is free to the caller: kh_block_of calls it a double free.
;       The C layer counts cached blocks as free and empties the caches into the bitmaps
;       before an allocation can fail.
;   I6  The boundary summary finds where an allocation ends in O(levels) words, whatever its
;       length. A bitmap word is a boundary word when one of its blocks is free or starts an
;       allocation (~used | start; the I2 pad bits are neither). Level 1 has a bit per
;       bitmap word, set iff it is a boundary word; level t+1 a bit per word of level t, set
;       iff that word is not zero; the top level is one word; bits past a level's count are
;       zero. Each level word is followed by its complement (its mirror), so damage to any
;       one word shows when it is read: a search that meets a mismatch, or a set bit over a
;       zero word, says so (SUMMARY_DAMAGED) and measures the bitmaps instead. Every routine
;       that changes used or start bits updates the summary over the words it changed.
;
; Pool layout: | control | used | start | cached bitmap | side table | run tree | quick caches |
;              | boundary summary | pad | blocks |

; The ABI layer (asm/kheap_abi.inc): registers and words at the target's width, ARG(n),
; ENTER_SAVED / LEAVE_SAVED, EXPORT. Assemble with -I naming this folder.
%include "kheap_abi.inc"

; ---- error codes (include/kheap.h) ----
KHEAP_EINVAL    equ -1
KHEAP_EDOUBLE   equ -2
KHEAP_EINTERIOR equ -3
KHEAP_F_DEBUG   equ 0x1                         ; a debug pool (include/kheap.h)

KH_MAGIC_VALUE  equ 0x5045484B          ; "KHEP": the pool's control block is valid

; ---- the control block: struct kheap in kernel/kheap.c ----
; One word per field, in this order. When assembled with -DKHEAP_CHECK_OFFSETS and the
; offsets generated from the C struct (build/kheap_offsets.inc), every field is compared
; with the C layout and the build stops on any drift.
%ifdef KHEAP_CHECK_OFFSETS
%include "kheap_offsets.inc"
%endif

; member R, NAME: the next word of record R, whose size so far is R_SIZE (NAME = offset).
%macro member 2
  %ifdef KHEAP_CHECK_OFFSETS
    %if C_%2 != %1_SIZE
      %error control block drift: %2 is at %1_SIZE here but elsewhere in kernel/kheap.c
    %endif
  %endif
  %assign %2 %1_SIZE
  %assign %1_SIZE %1_SIZE + WORD_BYTES
%endmacro
%define field member CB,
%define node_field member NODE,
%assign CB_SIZE 0
%assign NODE_SIZE 0

field KH_MAGIC                  ; KH_MAGIC_VALUE while the pool is valid
field KH_GEOMETRY               ; GEOMETRY_SEED XOR every word from KH_SHIFT to KH_SUMMARY
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
field KH_TREE                   ; -> node 0 of the run tree (I3), after the side table
field KH_NEXT                   ; next region of the kmalloc heap, or 0
field KH_LEAVES                 ; leaves of the run tree, a power of two (I3)
field KH_CACHED                 ; -> cached bitmap (I5), after the start bitmap
field KH_CACHE                  ; -> the quick caches (I5), after the run tree
field KH_CLASSES                ; quick-cache classes: allocations of 1 .. classes blocks
field KH_SUMMARY                ; -> the boundary summary (I6), after the quick caches
field KH_FREE_BLOCKS            ; the counters from here on (I4)
field KH_LIVE_ALLOCS
field KH_PEAK_BLOCKS
field KH_TOTAL_ALLOCS
field KH_TOTAL_FREES
field KH_FAILED_ALLOCS
field KH_FAULTS
field KH_CACHED_BLOCKS          ; blocks held in the quick caches

; The geometry word (the handle check of every call, C layer and fast paths alike): the fields
; that never change after creation, and `next` (re-summed when a region is linked), XORed
; into a seed, so a change of any one word changes the sum. kh_geometry computes it.
GEOMETRY_SEED   equ 0x9E3779B9
GEOMETRY_FIRST  equ KH_SHIFT
GEOMETRY_END    equ KH_FREE_BLOCKS              ; one past the last word summed

; A node of the run tree: struct kh_node in kernel/kheap.c.
node_field NODE_PRE             ; free blocks at the start of its range
node_field NODE_SUF             ; free blocks at its end
node_field NODE_BEST            ; longest free run inside it

%ifdef KHEAP_CHECK_OFFSETS
  %if C_KH_SIZE != CB_SIZE || C_NODE_SIZE != NODE_SIZE
    %error control block drift: struct kheap or struct kh_node has a different size
  %endif
%endif

; Leaf size: 16 words (512 blocks) unless the build says otherwise. The differential fuzzer
; builds asm and C with -DKHEAP_LEAF_WORDS_LOG2=1 so its small pools get deep trees; both
; files must be given the same value (kheap_check fails on every pool otherwise).
%ifndef KHEAP_LEAF_WORDS_LOG2
  %define KHEAP_LEAF_WORDS_LOG2 4
%endif
LEAF_WORDS_LOG2 equ KHEAP_LEAF_WORDS_LOG2
LEAF_WORDS      equ 1 << LEAF_WORDS_LOG2        ; bitmap words under one leaf of the tree
LEAF_SHIFT      equ WORD_SHIFT + LEAF_WORDS_LOG2
LEAF_BLOCKS     equ 1 << LEAF_SHIFT             ; blocks under one leaf

; The quick caches (I5): class c (0 .. classes-1) holds freed allocations of exactly c+1
; blocks, last in first out: a count, then CACHE_DEPTH block indices (the first `count` in
; use). Classes: one per 2^QCLASS_SHIFT blocks of the pool, at most CACHE_CLASSES, so a
; small pool spends little on them (the fuzzer builds with a smaller shift so its small
; pools have caches too; asm and C must be given the same value).
%ifndef KHEAP_QCLASS_SHIFT
  %define KHEAP_QCLASS_SHIFT 9
%endif
QCLASS_SHIFT    equ KHEAP_QCLASS_SHIFT
CACHE_CLASSES   equ 64                          ; at most: allocations of up to 64 blocks
CACHE_DEPTH     equ 8                           ; entries of one class
CACHE_CLASS_BYTES equ (CACHE_DEPTH + 1) * WORD_BYTES
%ifdef KHEAP_CHECK_OFFSETS
  %if C_CACHE_CLASSES != CACHE_CLASSES || C_CACHE_DEPTH != CACHE_DEPTH
    %error quick-cache drift: kernel/kheap.c has other classes or depth
  %endif
%endif
CACHE_EMPTY     equ -1                          ; kh_cache_take: the class holds nothing
CACHE_DAMAGED   equ -2                          ; kh_cache_take: an entry failed its check
SUMMARY_DAMAGED equ 1 << (WORD_BITS - 1)        ; kh_alloc_blocks: the summary failed its check
FAST_MISS       equ 1                           ; kh_fast_alloc: a usable plain pool, no entry

; NODE dst, index: dst = address of node `index` (xBX = h). dst and index may not be one.
%macro NODE 2
        lea     %1, [%2 + %2 * 2]               ; three words a node
        shl     %1, WORD_BYTES_LOG2
        add     %1, [xBX + KH_TREE]
%endmacro

section .text

; Each exported routine, with the routine after it in this file (its size runs to there, any
; tail it shares with the next one included).
EXPORT(kh_init, kh_find)
EXPORT(kh_find, kh_claim)
EXPORT(kh_claim, kh_mark)
EXPORT(kh_mark, kh_release)
EXPORT(kh_release, kh_unmark)
EXPORT(kh_unmark, kh_next_used)
EXPORT(kh_next_used, kh_next_free)
EXPORT(kh_next_free, kh_alloc_blocks)
EXPORT(kh_alloc_blocks, kh_summary_build)
EXPORT(kh_summary_build, kh_block_of)
EXPORT(kh_block_of, kh_cache_take)
EXPORT(kh_cache_take, kh_cache_put)
EXPORT(kh_cache_put, kh_fast_alloc)
EXPORT(kh_fast_alloc, kh_fast_free)
EXPORT(kh_fast_free, kh_geometry)
EXPORT(kh_geometry, kh_fill)
EXPORT(kh_fill, kh_unlike)
EXPORT(kh_unlike, kh_copy)
EXPORT(kh_copy, kh_core_end)

; =====================================================================================
; Internal helpers. They take registers, not stack arguments, and say what they clobber.
; =====================================================================================

; WORD_BITS_OF - xBP = B(xAX) for scan (xAX = word index), with xCX kept. Clobbers nothing else.
%macro WORD_BITS_OF 0
        mov     xBP, [xBX + KH_USED]
        mov     xBP, [xBP + xAX * WORD_SCALE]
        xor     xBP, xSI
        push    xCX
        mov     xCX, [xBX + KH_START]
        mov     xCX, [xCX + xAX * WORD_SCALE]
        and     xCX, xDI
        or      xBP, xCX
        pop     xCX
%endmacro

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
        WORD_BITS_OF
        shr     xBP, cl                         ; drop bits below `from`
        shl     xBP, cl
        jmp     .test
.next:  ; the word at xAX-1 had nothing: move on while words still start below limit
        inc     xAX
        mov     xCX, xAX
        shl     xCX, WORD_SHIFT
        cmp     xCX, xDX
        jae     .none
        WORD_BITS_OF
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

; APPLY_MASK: set (xSI = ALL_ONES) or clear (xSI = 0) the bits of mask xBP in the word at xDI.
%macro APPLY_MASK 0
        test    xSI, xSI
        jz      %%clear
        or      [xDI], xBP
        jmp     %%done
%%clear:
        not     xBP
        and     [xDI], xBP
%%done:
%endmacro

; fill - set (xSI = ALL_ONES) or clear (xSI = 0) the bits [xAX, xDX) of the bitmap at xDI:
; the first word through a mask, the whole words between with rep stos, the last word
; through a mask (one mask with both ends when the range is inside one word).
; in:  xDI = bitmap, xAX = first, xDX = end (exclusive), xSI = pattern
; clobbers: xAX, xCX, xBP
fill:
        cmp     xAX, xDX
        jae     .done
        push    xDI
        mov     xCX, xAX
        and     xCX, WORD_BITS - 1
        mov     xBP, ALL_ONES
        shl     xBP, cl                         ; mask: the first block's bit and up
        shr     xAX, WORD_SHIFT
        lea     xDI, [xDI + xAX * WORD_SCALE]   ; xDI -> the first word
        mov     xCX, xDX
        dec     xCX
        shr     xCX, WORD_SHIFT
        sub     xCX, xAX                        ; xCX = words after the first
        jz      .last                           ; none: the last word is this one
        APPLY_MASK
        add     xDI, WORD_BYTES
        dec     xCX                             ; whole words before the last
        mov     xAX, xSI
        rep STOS_WORD
        mov     xBP, ALL_ONES
.last:  mov     xCX, xDX
        neg     xCX
        and     xCX, WORD_BITS - 1              ; cl = bits of the last word at or past end
        shl     xBP, cl                         ; drop them from the mask
        shr     xBP, cl
        APPLY_MASK
        pop     xDI
.done:  ret

%if NODE_SIZE != 3 * WORD_BYTES
  %error NODE assumes three words a node
%endif

; STORE_FIELD address, value: stores value and counts a change in xCX when it differs.
%macro STORE_FIELD 2
        cmp     [%1], %2
        je      %%same
        mov     [%1], %2
        inc     xCX
%%same:
%endmacro

; leaf_update - I3 for leaf xAX: its pre, suf and best from its LEAF_WORDS bitmap words,
; low block first. A word is all free (the run grows by a word), or has a used bit: then
; the free bits below its lowest used bit end the current run, the runs between its lowest
; and highest used bits are measured only when they could beat the best so far, and the
; free bits above its highest used bit start the next run.
; in: xBX = h, xAX = leaf. out: ZF set when the leaf's node did not change.
; clobbers: xAX, xCX, xDX, xSI, xDI, xBP
%define LEAF_PRE  [xSP]                         ; leaf_update's locals: pre, -1 until a
%define LEAF_SELF [xSP + WORD_BYTES]            ; used block is seen, and the leaf
; END_RUN: the free run xDX ends at a used block: the first to end is the prefix (LEAF_PRE),
; and the longest so far is the best (xBP).
%macro END_RUN 0
        cmp     WORD_PTR LEAF_PRE, -1
        jne     %%seen
        mov     LEAF_PRE, xDX
%%seen: cmp     xDX, xBP
        jbe     %%short
        mov     xBP, xDX
%%short:
%endmacro
leaf_update:
        push    xAX
        push    -1
        shl     xAX, LEAF_WORDS_LOG2            ; xAX = the leaf's first word
        lea     xCX, [xAX + LEAF_WORDS]         ; its end, or the bitmap's when that is lower
        cmp     xCX, [xBX + KH_NWORDS]
        jbe     .bounded
        mov     xCX, [xBX + KH_NWORDS]
.bounded:
        mov     xSI, [xBX + KH_USED]
        lea     xDI, [xSI + xCX * WORD_SCALE]   ; xDI -> end word
        lea     xSI, [xSI + xAX * WORD_SCALE]   ; xSI -> word
        xor     xDX, xDX                        ; xDX = free run ending before word xSI
        xor     xBP, xBP                        ; xBP = best
        cmp     xSI, xDI
        jae     .past
.word:  mov     xAX, [xSI]
        test    xAX, xAX
        jnz     .mixed
        add     xDX, WORD_BITS                  ; all free: the run goes on
.next:  add     xSI, WORD_BYTES
        cmp     xSI, xDI
        jb      .word
.past:  mov     xAX, LEAF_SELF                  ; words of the leaf past the bitmap count as
        inc     xAX                             ; used (as the pad bits do, I2): they end
        shl     xAX, LEAF_WORDS_LOG2            ; the run
        cmp     xAX, [xBX + KH_NWORDS]
        jbe     .ends
        END_RUN
        xor     xDX, xDX
        jmp     .ends
.mixed: bsf     xCX, xAX                        ; xCX = lowest used bit
        add     xDX, xCX                        ; the run ends there
        END_RUN
        xor     xDX, xDX                        ; (an all-used word: no run inside, none after)
        cmp     xAX, ALL_ONES
        je      .next
        bsr     xDX, xAX                        ; xDX = highest used bit
        push    xDX
        sub     xDX, xCX
        dec     xDX                             ; bits strictly between lowest and highest
        cmp     xDX, xBP                        ; (signed: -1 when they are one bit)
        jle     .top                            ; no run in between can beat best
        not     xAX
        inc     xCX
        shr     xAX, cl                         ; free bits above the lowest used one ...
        mov     xCX, xDX
        mov     xDX, 1
        shl     xDX, cl
        dec     xDX
        and     xAX, xDX                        ; ... and below the highest: xAX = z
        xor     xDX, xDX
.shrink: test   xAX, xAX                        ; each step shortens every run of z by one,
        jz      .longest                        ; so the steps taken = its longest run
        mov     xCX, xAX
        shr     xCX, 1
        and     xAX, xCX
        inc     xDX
        jmp     .shrink
.longest:
        cmp     xDX, xBP
        jbe     .top
        mov     xBP, xDX
.top:   pop     xCX                             ; highest used bit
        mov     xDX, WORD_BITS - 1
        sub     xDX, xCX                        ; the free bits above it start the next run
        jmp     .next
.ends:  pop     xAX                             ; pre
        cmp     xAX, -1
        jne     .suf
        mov     xAX, xDX                        ; no used block: one run fills the leaf
.suf:   cmp     xDX, xBP                        ; xDX = suf, the run that reached the end
        jbe     .store
        mov     xBP, xDX
.store: pop     xCX
        add     xCX, [xBX + KH_LEAVES]          ; the leaf's node
        NODE    xDI, xCX
        xor     xCX, xCX                        ; xCX = fields that changed
        STORE_FIELD xDI + NODE_PRE, xAX
        STORE_FIELD xDI + NODE_SUF, xDX
        STORE_FIELD xDI + NODE_BEST, xBP
        test    xCX, xCX                        ; ZF: the node is as it was
        ret

; combine - I3 for internal node xAX from its two children, each xDX blocks long.
; in: xBX = h, xAX = node, xDX = child length. out: ZF set when the node did not change.
; clobbers: xCX, xSI, xDI, xBP
%define LEFT  xDI                                ; combine's view: the left child,
%define RIGHT xDI + NODE_SIZE                   ; the right child just after it,
%define SELF  xSI                               ; and the node
combine:
        mov     xBP, [xBX + KH_TREE]
        lea     xSI, [xAX + xAX * 2]
        shl     xSI, WORD_BYTES_LOG2            ; three words a node
        lea     xDI, [xBP + xSI * 2]            ; node 2k is twice as far in
        add     xSI, xBP
        xor     xCX, xCX                        ; xCX = fields that changed
        mov     xBP, [LEFT + NODE_PRE]
        cmp     xBP, xDX
        jne     .pre
        add     xBP, [RIGHT + NODE_PRE]         ; the left child is all free: on into the right
.pre:   STORE_FIELD SELF + NODE_PRE, xBP
        mov     xBP, [RIGHT + NODE_SUF]
        cmp     xBP, xDX
        jne     .suf
        add     xBP, [LEFT + NODE_SUF]          ; the right child is all free: back into the left
.suf:   STORE_FIELD SELF + NODE_SUF, xBP
        mov     xBP, [LEFT + NODE_SUF]
        add     xBP, [RIGHT + NODE_PRE]         ; the run across the middle
        cmp     xBP, [LEFT + NODE_BEST]
        jae     .left
        mov     xBP, [LEFT + NODE_BEST]
.left:  cmp     xBP, [RIGHT + NODE_BEST]
        jae     .right
        mov     xBP, [RIGHT + NODE_BEST]
.right: STORE_FIELD SELF + NODE_BEST, xBP
        test    xCX, xCX
        ret
%undef LEFT
%undef RIGHT
%undef SELF

; run_start - the first block of the free run that ends at block xAX: one past the last used
; block before xAX, or the first block of xAX's leaf when there is none in between. Reads a
; word at a time, downward, with bsr.
; in: xBX = h, xAX = block. out: xAX. clobbers: xCX, xDX, xDI, xBP
run_start:
        mov     xDX, xAX
        and     xDX, ~(LEAF_BLOCKS - 1)         ; xDX = the leaf's first block
        mov     xBP, [xBX + KH_USED]
.word:  cmp     xAX, xDX                        ; blocks [xAX, the block asked) are free
        jbe     .done
        lea     xCX, [xAX - 1]                  ; the block below
        mov     xDI, xCX
        shr     xDI, WORD_SHIFT
        mov     xDI, [xBP + xDI * WORD_SCALE]   ; its word
        and     xCX, WORD_BITS - 1
        xor     xCX, WORD_BITS - 1
        shl     xDI, cl                         ; only the bits at or below it, moved to the top
        test    xDI, xDI
        jnz     .found
        dec     xAX                             ; none used: on from the word's first block
        and     xAX, ~(WORD_BITS - 1)
        jmp     .word
.found: bsr     xDI, xDI                        ; the last used block is 31 - xDI below xAX - 1
        lea     xAX, [xAX + xDI - (WORD_BITS - 1)]
.done:  ret

; leaf_adjust - I3 for the one leaf holding [xAX, xDX) after those blocks became used (xSI =
; ALL_ONES) or free (xSI = 0), from the free run [s, e) around them, found by reading the
; bitmap outward from the range (usually within a word or two) instead of all the leaf:
;   freed:   [s, e) is one free run now: pre = its length when s is the leaf's first block,
;            suf = its length when e is the leaf's end, best = max(best, its length);
;   claimed: [s, e) was a free run, now [s, first) and [end, e): pre and suf shrink to them
;            when the run was the prefix or the suffix; best stays, unless the run was as
;            long as best (another run may or may not be): then leaf_update reads the leaf.
; The range must have been all free before a claim (kh_claim's contract).
; in: xBX = h, xAX = first, xDX = end, xSI = pattern.
; out: xAX = the leaf's node, ZF set when it did not change. clobbers: xCX, xDX, xSI, xDI, xBP
%define ADJ_NODE [xSP]                          ; locals: the leaf's node,
%define ADJ_E    [xSP + WORD_BYTES]             ; the run's end,
%define ADJ_END  [xSP + 2 * WORD_BYTES]         ; the range,
%define ADJ_FIRST [xSP + 3 * WORD_BYTES]
%define ADJ_PAT  [xSP + 4 * WORD_BYTES]         ; and its pattern
leaf_adjust:
        sub     xSP, 5 * WORD_BYTES
        mov     ADJ_PAT, xSI
        mov     ADJ_FIRST, xAX
        mov     ADJ_END, xDX
        mov     xCX, xAX
        shr     xCX, LEAF_SHIFT
        add     xCX, [xBX + KH_LEAVES]
        mov     ADJ_NODE, xCX
        NODE    xDI, xCX
        mov     xAX, ADJ_FIRST
        or      xAX, LEAF_BLOCKS - 1
        inc     xAX                             ; xAX = the leaf's end
        sub     xAX, [xDI + NODE_SUF]           ; the range ends in the old suffix run (free
        cmp     xDX, xAX                        ; from its end on before and after): e is
        jb      .scan_e                         ; the leaf's end
        add     xAX, [xDI + NODE_SUF]
        jmp     .have_e
.scan_e:
        mov     xAX, xDX                        ; e: the first used block from the end on,
        mov     xDX, ADJ_FIRST
        or      xDX, LEAF_BLOCKS - 1
        inc     xDX                             ; before the leaf's end
        mov     xCX, [xBX + KH_NWORDS]
        shl     xCX, WORD_SHIFT
        cmp     xDX, xCX
        jbe     .limit
        mov     xDX, xCX                        ; (or the bitmap's: past it all is used)
.limit: xor     xSI, xSI
        xor     xDI, xDI
        call    scan
.have_e:
        mov     ADJ_E, xAX
        mov     xCX, ADJ_NODE
        NODE    xDI, xCX
        mov     xAX, ADJ_FIRST
        and     xAX, ~(LEAF_BLOCKS - 1)
        add     xAX, [xDI + NODE_PRE]           ; the range starts in (or just after) the old
        cmp     ADJ_FIRST, xAX                  ; prefix run: s is the leaf's first block
        ja      .scan_s
        sub     xAX, [xDI + NODE_PRE]
        jmp     .have_s
.scan_s:
        mov     xAX, ADJ_FIRST
        call    run_start                       ; xAX = s
.have_s:
        mov     xCX, ADJ_NODE
        NODE    xDI, xCX                        ; xDI -> the leaf's node
        mov     xDX, ADJ_E
        mov     xSI, xDX
        sub     xSI, xAX                        ; xSI = e - s
        mov     xCX, ADJ_FIRST
        and     xCX, ~(LEAF_BLOCKS - 1)         ; xCX = the leaf's first block
        cmp     WORD_PTR ADJ_PAT, 0
        jne     .claimed
        mov     xBP, [xDI + NODE_PRE]           ; freed: xBP = pre, xDX = suf, xSI = best
        cmp     xAX, xCX
        jne     .f_suf
        mov     xBP, xSI
.f_suf: add     xCX, LEAF_BLOCKS
        cmp     xDX, xCX
        mov     xDX, [xDI + NODE_SUF]
        jne     .f_best
        mov     xDX, xSI
.f_best:
        cmp     xSI, [xDI + NODE_BEST]
        jae     .store
        mov     xSI, [xDI + NODE_BEST]
        jmp     .store
.claimed:
        cmp     xSI, [xDI + NODE_BEST]
        jae     .read                           ; it was a longest run
        mov     xBP, [xDI + NODE_PRE]
        cmp     xAX, xCX
        jne     .c_suf
        mov     xBP, ADJ_FIRST
        sub     xBP, xCX                        ; the prefix ends where the range starts
.c_suf: add     xCX, LEAF_BLOCKS
        cmp     xDX, xCX
        mov     xDX, [xDI + NODE_SUF]
        jne     .c_best
        mov     xDX, xCX
        sub     xDX, ADJ_END                    ; the suffix starts where the range ends
.c_best:
        mov     xSI, [xDI + NODE_BEST]
.store: xor     xCX, xCX
        STORE_FIELD xDI + NODE_PRE, xBP
        STORE_FIELD xDI + NODE_SUF, xDX
        STORE_FIELD xDI + NODE_BEST, xSI
        mov     xAX, ADJ_NODE
        add     xSP, 5 * WORD_BYTES
        test    xCX, xCX
        ret
.read:  mov     xAX, ADJ_NODE
        sub     xAX, [xBX + KH_LEAVES]
        call    leaf_update
        mov     xAX, ADJ_NODE                   ; (mov and lea keep ZF)
        lea     xSP, [xSP + 5 * WORD_BYTES]
        ret

; tree_update - I3 after the used bits of blocks [xAX, xDX) changed (xAX < xDX): the leaves
; over them, then their ancestors a level at a time, each level's range of nodes the halved
; range of the level below. A level where no node changed leaves every ancestor as it was,
; so the walk stops there. The leaves strictly between the first and the last lie wholly
; inside the range, so all their blocks hold the new pattern: they are set without reading
; the bitmap. O(LEAF_WORDS + leaves touched + log leaves).
; in: xBX = h, xAX = first block, xDX = end block, xSI = the blocks' new used pattern
; (ALL_ONES or 0). clobbers: xAX, xCX, xDX, xSI, xDI, xBP
%define LEVEL_NODE    [xSP]                     ; locals: the node being updated,
%define LEVEL_FIRST   [xSP + WORD_BYTES]        ; the first and last nodes of the level,
%define LEVEL_LAST    [xSP + 2 * WORD_BYTES]
%define LEVEL_CHANGED [xSP + 3 * WORD_BYTES]    ; whether any of them changed,
%define LEVEL_COVERED [xSP + 4 * WORD_BYTES]    ; and the value of a covered leaf
tree_update:
        mov     xCX, xAX
        shr     xCX, LEAF_SHIFT
        lea     xBP, [xDX - 1]
        shr     xBP, LEAF_SHIFT
        cmp     xCX, xBP
        je      .one_leaf
        mov     xAX, xCX
        mov     xDX, xBP                        ; the first and last leaf
        add     xAX, [xBX + KH_LEAVES]
        add     xDX, [xBX + KH_LEAVES]          ; node numbers of the first and last leaf
        not     xSI
        and     xSI, LEAF_BLOCKS                ; a covered leaf: all free, or all used
        push    xSI
        push    0
        push    xDX
        push    xAX
        push    xAX
.leaf:  mov     xAX, LEVEL_NODE
        cmp     xAX, LEVEL_FIRST
        je      .read
        cmp     xAX, LEVEL_LAST
        je      .read
        NODE    xDI, xAX                        ; covered: pre = suf = best = all or nothing
        mov     xDX, LEVEL_COVERED
        xor     xCX, xCX
        STORE_FIELD xDI + NODE_PRE, xDX
        STORE_FIELD xDI + NODE_SUF, xDX
        STORE_FIELD xDI + NODE_BEST, xDX
        test    xCX, xCX
        jmp     .leaf_done
.read:  sub     xAX, [xBX + KH_LEAVES]          ; an end leaf, maybe partly in the range:
        call    leaf_update                     ; from its words
.leaf_done:
        jz      .leaf_same
        mov     WORD_PTR LEVEL_CHANGED, 1
.leaf_same:
        inc     WORD_PTR LEVEL_NODE
        mov     xAX, LEVEL_NODE
        cmp     xAX, LEVEL_LAST
        jbe     .leaf
        mov     xDX, LEAF_BLOCKS                ; children's length one level up
.level: cmp     WORD_PTR LEVEL_CHANGED, 0
        je      .done                           ; nothing changed below: nothing above will
        mov     WORD_PTR LEVEL_CHANGED, 0
        shr     WORD_PTR LEVEL_FIRST, 1
        shr     WORD_PTR LEVEL_LAST, 1
        mov     xAX, LEVEL_FIRST
        test    xAX, xAX
        jz      .done                           ; the root is done
.node:  call    combine                         ; (keeps xAX and xDX)
        jz      .node_same
        mov     WORD_PTR LEVEL_CHANGED, 1
.node_same:
        inc     xAX
        cmp     xAX, LEVEL_LAST
        jbe     .node
        shl     xDX, 1
        jmp     .level
.done:  add     xSP, 5 * WORD_BYTES
        ret

.one_leaf:                                      ; the common case: a parent at a time
        call    leaf_adjust                     ; xAX = the leaf's node
        jz      .same
        mov     xDX, LEAF_BLOCKS
.parent:
        shr     xAX, 1
        jz      .same                           ; the root is done
        call    combine
        jz      .same                           ; unchanged: so is every ancestor
        shl     xDX, 1
        jmp     .parent
.same:  ret

; BLOCK_BIT - xDX = the bitmap word of block xAX, xCX = its bit in that word. Clobbers
; nothing else.
%macro BLOCK_BIT 0
        mov     xDX, xAX
        shr     xDX, WORD_SHIFT
        mov     xCX, xAX
        and     xCX, WORD_BITS - 1
%endmacro

; WORD_OF_BLOCK - xCX = the bit of block xAX in its bitmap word, xSI = that word's byte
; offset in a bitmap. Clobbers nothing else.
%macro WORD_OF_BLOCK 0
        mov     xCX, xAX
        and     xCX, WORD_BITS - 1
        mov     xSI, xAX
        shr     xSI, WORD_SHIFT
        shl     xSI, WORD_BYTES_LOG2
%endmacro

; BOUNDARY_WORD - xBP = the blocks of the bitmap word at byte offset xSI that are free or
; start an allocation (I1: where allocations end): ~used | start. Clobbers xSI.
%macro BOUNDARY_WORD 0
        mov     xBP, [xBX + KH_USED]
        mov     xBP, [xBP + xSI]
        not     xBP
        add     xSI, [xBX + KH_START]
        or      xBP, [xSI]
%endmacro

; BOUNDARY_AFTER - xBP = the blocks after block xAX in its word that are free or start an
; allocation (I1: where an allocation at xAX would end), shifted so bit 0 is block xAX + 1;
; ZF when there is none. Blocks past the pool are used and start nothing (I2), so a bit
; found is a real block unless a pad bit is damaged: users stop at the pool's end, as scan
; does. in: xCX, xSI from WORD_OF_BLOCK. Clobbers xSI.
%macro BOUNDARY_AFTER 0
        BOUNDARY_WORD
        shr     xBP, cl
        shr     xBP, 1                          ; (two steps: cl + 1 may be WORD_BITS)
%endmacro

; CLASS_OF label - xAX = a count of blocks -> xAX = the address of its quick-cache class
; (I5), or a jump to label when there is none (count 0 or over `classes`). xBX = h.
%macro CLASS_OF 1
        dec     xAX                             ; the class (count 0 wraps: out of range)
        cmp     xAX, [xBX + KH_CLASSES]
        jae     %1
        imul    xAX, xAX, CACHE_CLASS_BYTES
        add     xAX, [xBX + KH_CACHE]
%endmacro

; CACHE_POP - xDX = a class whose count cache_top found in range: its newest slot dropped,
; the count one less and the slot zero (I5). Clobbers xCX.
%macro CACHE_POP 0
        mov     xCX, [xDX]
        dec     xCX
        mov     [xDX], xCX
        mov     WORD_PTR [xDX + WORD_BYTES + xCX * WORD_SCALE], 0
%endmacro

; CACHED_CLEAR - the cached bit of block xAX cleared: the allocation there is live (I5).
; Clobbers xCX, xDX, xSI.
%macro CACHED_CLEAR 0
        BLOCK_BIT
        mov     xSI, [xBX + KH_CACHED]
        btr     [xSI + xDX * WORD_SCALE], xCX
%endmacro

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

; tree_bytes - the run tree of a pool whose bitmaps have xDI words: xBP = its leaves (the
; power of two at or above the leaves needed), xCX = its bytes (nodes 0 .. 2 * leaves - 1;
; node 0 is unused, so node k is at k * NODE_SIZE).
; in: xDI = words. clobbers: nothing else
tree_bytes:
        lea     xCX, [xDI + LEAF_WORDS - 1]
        shr     xCX, LEAF_WORDS_LOG2            ; leaves needed, at least 1
        mov     xBP, 1
        dec     xCX
        jz      .have
        bsr     xCX, xCX
        inc     xCX
        shl     xBP, cl                         ; the power of two at or above them
.have:  lea     xCX, [xBP + xBP * 2]
        shl     xCX, 1 + WORD_BYTES_LOG2        ; 2 * leaves nodes of three words
        ret

; summary_bytes - xCX = bytes of the boundary summary (I6) over bitmaps of xDI words: each
; level ceil(below / WORD_BITS) words down to one, every word with its mirror.
; clobbers: xDX
summary_bytes:
        xor     xCX, xCX
        mov     xDX, xDI
.level: add     xDX, WORD_BITS - 1
        shr     xDX, WORD_SHIFT                 ; this level's words
        add     xCX, xDX
        cmp     xDX, 1
        ja      .level
        shl     xCX, WORD_BYTES_LOG2 + 1        ; a word and its mirror
        ret

; cache_classes - xCX = the quick-cache classes of a pool of xAX blocks (I5):
; min(CACHE_CLASSES, blocks >> QCLASS_SHIFT). clobbers: nothing else
cache_classes:
        mov     xCX, xAX
        shr     xCX, QCLASS_SHIFT
        cmp     xCX, CACHE_CLASSES
        jbe     .have
        mov     xCX, CACHE_CLASSES
.have:  ret

; layout - where a pool of xAX blocks would put its blocks (kh_init's arguments in place,
; its return address and three words above ENTER_SAVED): xDI = words per bitmap, xBP = block 0,
; xDX = the block-area limit; carry set when an address passes the top of memory.
; in: xAX = blocks, xSI = first bitmap byte. clobbers: xCX
layout:
        AT_DEPTH 4                              ; kh_init's three words and the return address
        mov     xDI, xAX
        add     xDI, WORD_BITS - 1
        shr     xDI, WORD_SHIFT                 ; xDI = words per bitmap
        call    tree_bytes                      ; xCX = tree bytes
        mov     xBP, ARG(3)
        imul    xBP, xAX                        ; side table bytes (below end: no overflow)
        add     xBP, xCX
        lea     xBP, [xBP + xDI * WORD_BYTES]   ; the used bitmap ..
        lea     xBP, [xBP + xDI * WORD_BYTES]   ; .. the start bitmap (no scale 16) ..
        lea     xBP, [xBP + xDI * WORD_BYTES]   ; .. and the cached bitmap
        call    cache_classes                   ; xCX = classes
        imul    xCX, xCX, CACHE_CLASS_BYTES
        add     xBP, xCX                        ; the quick caches
        call    summary_bytes                   ; xCX = bytes of the boundary summary
        add     xBP, xCX
        add     xBP, xSI                        ; end of the metadata
        jc      .out
        mov     xCX, ARG(2)
        mov     xDX, 1
        shl     xDX, cl                         ; xDX = block size
        dec     xDX
        add     xBP, xDX                        ; align up to the block size
        jc      .out
        not     xDX
        and     xBP, xDX                        ; xBP = block 0
        mov     xDX, xAX
        shl     xDX, cl                         ; (blocks * block size < size: no overflow)
        add     xDX, xBP                        ; xDX = one past the last block
.out:   ret

; =====================================================================================
; kh_init(mem, size, shift, extra) -> h or 0
; Lays out | control | used | start | cached | side table | tree | caches | pad | blocks |
; in [mem, mem+size): control block word aligned, block 0 aligned to the block size, as
; many blocks as fit; the side table has `extra` bytes per block (0 but in debug pools).
; Leaves an empty pool: the bitmaps clear but for the I2 pad bits, the caches empty,
; counters zero; the side table is the C layer's to fill.
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
        SPUSH   xDX                             ; [xSP] = end of region

        ; Estimate: each block costs (block + extra bytes + 3 bits), so
        ; n = (end - xSI) * 8 / (8 * (block + extra) + 3), a 64 by 32 bit division.
        mov     xAX, xDX
        sub     xAX, xSI
        xor     xDX, xDX
        shld    xDX, xAX, 3
        shl     xAX, 3
        mov     xCX, ARG(2)
        mov     xDI, 1
        shl     xDI, cl
        add     xDI, ARG(3)
        shl     xDI, 3
        add     xDI, 3
        div     xDI                             ; xAX = estimated block count

        ; The estimate leaves out the tree, the alignment pad and the rounding of the
        ; bitmaps, so no larger count fits; fitting only gets easier as the count falls.
        ; Binary search for the largest count in [0, estimate] whose layout fits before
        ; the end: about 30 layouts at most, whatever the pool's size.
%define FIT_LO  [xSP]                           ; locals: a count known to fit (or 0),
%define FIT_HI  [xSP + WORD_BYTES]              ; the largest count that still may,
%define FIT_END [xSP + 2 * WORD_BYTES]          ; and the end of the region
        SPUSH   xAX
        SPUSH   0
.halve: mov     xAX, FIT_HI
        cmp     FIT_LO, xAX
        jae     .largest
        add     xAX, FIT_LO
        inc     xAX
        shr     xAX, 1                          ; the middle, rounded up (lo < middle <= hi)
        call    layout
        jc      .too_many
        cmp     xDX, FIT_END
        ja      .too_many
        mov     FIT_LO, xAX
        jmp     .halve
.too_many:
        dec     xAX
        mov     FIT_HI, xAX
        jmp     .halve
.largest:
        mov     xAX, FIT_LO
        test    xAX, xAX
        jz      .fail_lo                        ; not even one block
        call    layout
        SDROP   2

.fits:  ; xAX = blocks, xDI = words per bitmap, xBP = block 0, xDX = block-area limit
        ; The control block: every field zero, then the geometry.
        SPUSH   xAX
        SPUSH   xDI
        mov     xDI, xBX
        mov     xCX, CB_SIZE / WORD_BYTES
        xor     xAX, xAX
        rep STOS_WORD
        SPOP    xDI
        SPOP    xAX
        mov     WORD_PTR [xBX + KH_MAGIC], KH_MAGIC_VALUE   ; (the whole word)
        mov     xCX, ARG(2)
        mov     [xBX + KH_SHIFT], xCX
        mov     [xBX + KH_NBLOCKS], xAX
        mov     [xBX + KH_FREE_BLOCKS], xAX
        mov     [xBX + KH_NWORDS], xDI
        mov     [xBX + KH_USED], xSI
        lea     xCX, [xSI + xDI * WORD_BYTES]
        mov     [xBX + KH_START], xCX
        lea     xCX, [xCX + xDI * WORD_BYTES]
        mov     [xBX + KH_CACHED], xCX
        lea     xCX, [xCX + xDI * WORD_BYTES]
        mov     [xBX + KH_SIDE], xCX
        mov     [xBX + KH_BASE], xBP
        mov     [xBX + KH_LIMIT], xDX
        mov     xDX, ARG(3)
        imul    xDX, xAX
        add     xCX, xDX
        mov     [xBX + KH_TREE], xCX            ; the tree follows the side table
        mov     xCX, ARG(0)
        mov     [xBX + KH_MEM_START], xCX
        SPOP    xCX
        mov     [xBX + KH_MEM_END], xCX
        call    cache_classes
        mov     [xBX + KH_CLASSES], xCX
        call    tree_bytes
        mov     [xBX + KH_LEAVES], xBP
        mov     xDX, [xBX + KH_TREE]
        add     xDX, xCX
        mov     [xBX + KH_CACHE], xDX           ; the quick caches follow the tree
        mov     xAX, [xBX + KH_CLASSES]
        imul    xAX, xAX, CACHE_CLASS_BYTES
        add     xAX, xDX
        mov     [xBX + KH_SUMMARY], xAX         ; the boundary summary follows them

        ; The three bitmaps cleared: no block is used (I1) or cached (I5); the tree all
        ; zero (I3 for the leaves past the pool, which stay so; node 0 is unused and stays
        ; zero too, which kheap_check verifies, so damage there shows); the caches empty,
        ; every slot zero.
        mov     xDI, [xBX + KH_TREE]
        mov     xAX, [xBX + KH_CLASSES]
        imul    xAX, xAX, CACHE_CLASS_BYTES
        add     xCX, xAX                        ; tree and caches are one stretch
        shr     xCX, WORD_BYTES_LOG2
        xor     xAX, xAX
        rep STOS_WORD
        mov     xCX, [xBX + KH_NWORDS]
        lea     xCX, [xCX + xCX * 2]
        mov     xDI, xSI
        rep STOS_WORD

        ; I2: the pad bits of the last used word are set, so searches stop at the pool end.
        mov     xAX, [xBX + KH_NBLOCKS]
        mov     xDX, [xBX + KH_NWORDS]
        shl     xDX, WORD_SHIFT                 ; end = nwords * WORD_BITS
        mov     xDI, [xBX + KH_USED]
        mov     xSI, ALL_ONES
        call    fill                            ; [nblocks, nwords*WORD_BITS)

        ; I3: every leaf over the pool, and their ancestors.
        xor     xAX, xAX
        mov     xDX, [xBX + KH_NBLOCKS]
        xor     xSI, xSI                        ; (all free)
        call    tree_update

        ; I6: the boundary summary over the bitmaps as they now are.
        call    summary_build

        mov     xAX, xBX
        LEAVE_SAVED
.fail_lo:
        AT_DEPTH 3                              ; (from .largest: the end and two locals)
        SDROP   3
.fail:  xor     xAX, xAX
        LEAVE_SAVED

; =====================================================================================
; kh_find(h, count, align) -> first block, or -1
; First fit from the run tree (I3): the lowest block b, aligned, with [b, b+count) free.
; Three steps, each a helper below, and the alignment step here:
;   find_descend  from a node that holds a fit down to the lowest one: a run across a middle
;                 the tree vouches for, or a leaf to read;
;   find_leaf     the leaf's words from `from`, a word at a time: the run the bitmap holds,
;                 or the free run that reaches the leaf's end;
;   find_climb    up from the leaf's end with that run, trying each right sibling, to a
;                 sibling that holds a fit (back to find_descend) or a run carried into one.
;   align (.found) when b is not aligned, the answer is the lowest fit at or after
;                 round_up(b): find_leaf again from there (`from` only rises, so it ends).
; A run the tree vouched for (a middle, or a carried run) is checked against the bitmap
; before it is returned, so a damaged tree can make a search fail but never return a used
; block; a run read at a leaf is exact already. Every run returned lies in [0, nblocks):
; a leaf past the pool is never read, and a run that starts or ends past the last block
; (a damaged tree, a damaged pad bit) fails the search. (A damaged tree could send the
; aligned search back left: a fit before `from` fails the search instead.)
; O(log leaves + LEAF_WORDS) a candidate; an aligned request may see several candidates.
; =====================================================================================
%define COUNT ARG(1)
%define FROM  ARG(0)                            ; h's slot, free once h is in xBX: the lowest
                                                ; block a fit may start at (only rises)
; What a step found (in xDI):
FIT_TREE        equ 0                           ; xAX = a fit the tree vouches for: to check
FIT_EXACT       equ 1                           ; xAX = a fit read from the bitmap
GO_ON           equ 2                           ; the next step has its input (see each step)
NO_FIT          equ 3                           ; nothing at or after from: the search fails

kh_find:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     WORD_PTR FROM, 0
        mov     xCX, 1                          ; the root
        NODE    xSI, xCX
        mov     xDX, COUNT
        cmp     [xSI + NODE_BEST], xDX
        jb      .fail                           ; no run anywhere is long enough
        xor     xAX, xAX                        ; the root's first block ..
        mov     xDX, [xBX + KH_LEAVES]
        shl     xDX, LEAF_SHIFT                 ; .. and its length
.descend:
        call    find_descend
        cmp     xDI, FIT_TREE
        je      .found
.leaf:  call    find_leaf                       ; xAX = from
        cmp     xDI, GO_ON
        jne     .leaf_done
        call    find_climb
        cmp     xDI, GO_ON
        je      .descend
.leaf_done:
        cmp     xDI, NO_FIT
        je      .fail

.found: ; xAX = b, the lowest fit at or after from (xDI = FIT_EXACT or FIT_TREE).
        ; Aligned? Else again from round_up(b).
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     .fail                           ; a damaged tree's run can start anywhere:
        cmp     xAX, FROM                       ; past the pool, or before `from` (and the
        jb      .fail                           ; aligned search would go round forever)
        mov     xDX, [xBX + KH_BASE]
        mov     xCX, [xBX + KH_SHIFT]
        shr     xDX, cl                         ; xDX = block number of block 0
        mov     xCX, ARG(2)
        dec     xCX                             ; xCX = align - 1
        lea     xBP, [xAX + xDX]
        add     xBP, xCX
        not     xCX
        and     xBP, xCX
        sub     xBP, xDX                        ; xBP = round_up(b) >= b
        cmp     xBP, xAX
        je      .check
        mov     xAX, xBP
        mov     FROM, xAX                       ; from rises at every round: the loop ends
        jmp     .leaf
.check: ; Every run ends inside the pool (b < nblocks here): a leaf read relies on the pad
        ; bits (I2), and a damaged pad would let a run run past the last block.
        mov     xDX, [xBX + KH_NBLOCKS]
        sub     xDX, xAX
        cmp     xDX, COUNT
        jb      .fail
        cmp     xDI, FIT_EXACT
        je      .done
        mov     xDX, xAX                        ; a run from the tree: all free in the bitmap?
        add     xDX, COUNT
        SPUSH   xAX
        xor     xSI, xSI
        xor     xDI, xDI
        call    scan
        SPOP    xCX
        cmp     xAX, xDX
        jb      .fail
        mov     xAX, xCX
.done:  LEAVE_SAVED
.fail:  mov     xAX, -1
        LEAVE_SAVED

; find_descend (kh_find's step): xCX node, xAX its first block, xDX its length; the node
; holds a fit at or after from, and none starts before it.
;   -> xDI FIT_TREE: xAX the fit, a run across a middle (L.suf + R.pre >= count; it starts
;                    L.suf before the middle);
;      xDI GO_ON:    xAX the first block of the leaf reached (for find_leaf), xCX its node.
; At each node: into the left child when its best holds count, else the middle, else into
; the right child. Clobbers xSI xBP.
find_descend:
        AT_DEPTH 1                              ; (kh_find's return address)
.node:  cmp     xDX, LEAF_BLOCKS
        jbe     .leaf
        shr     xDX, 1                          ; the children's length
        shl     xCX, 1                          ; the left child
        NODE    xSI, xCX
        mov     xBP, COUNT
        cmp     [xSI + NODE_BEST], xBP
        jae     .node
        mov     xDI, [xSI + NODE_SUF]
        add     xDI, [xSI + NODE_SIZE + NODE_PRE]
        cmp     xDI, xBP
        jae     .middle
        inc     xCX                             ; the right child
        add     xAX, xDX
        jmp     .node
.middle:
        add     xAX, xDX
        sub     xAX, [xSI + NODE_SUF]           ; the run starts L.suf before the middle
        mov     xDI, FIT_TREE
        ret
.leaf:  mov     xDI, GO_ON
        ret

; find_leaf (kh_find's step): xAX from.
;   -> xDI FIT_EXACT: xAX the first block of the lowest run of count free blocks in
;                     [from, the end of from's leaf or of the pool), read from the bitmap;
;      xDI GO_ON:     xDX that end, xBP the free blocks from `from` on that reach it (for
;                     find_climb);
;      xDI NO_FIT:    from is past the pool (only a damaged tree leads there: the words
;                     there are not bitmap).
; A word's free bits below its lowest used bit extend the run reaching it, the runs between
; its used bits are measured with bsf, and the free bits above its highest used bit start the
; run reaching the next word. Clobbers xCX xSI.
find_leaf:
        AT_DEPTH 1                              ; (kh_find's return address)
        mov     xDI, NO_FIT
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     .out
        mov     xDX, xAX
        or      xDX, LEAF_BLOCKS - 1
        inc     xDX                             ; the leaf's end
        cmp     xDX, [xBX + KH_NBLOCKS]
        jbe     .limited
        mov     xDX, [xBX + KH_NBLOCKS]
.limited:
        SPUSH   xDX                             ; [xSP] = the limit
        mov     xSI, [xBX + KH_USED]
        add     xDX, WORD_BITS - 1
        shr     xDX, WORD_SHIFT
        lea     xDI, [xSI + xDX * WORD_SCALE]   ; xDI -> past the limit's word
        mov     xCX, xAX
        shr     xAX, WORD_SHIFT
        lea     xSI, [xSI + xAX * WORD_SCALE]   ; xSI -> from's word
        mov     xAX, [xSI]
        and     xCX, WORD_BITS - 1
        mov     xDX, 1
        shl     xDX, cl
        dec     xDX
        or      xAX, xDX                        ; blocks below from count as used
        xor     xDX, xDX                        ; xDX = the free run reaching this word
        jmp     .have_word
.next_word:
        add     xSI, WORD_BYTES
        cmp     xSI, xDI
        jae     .leaf_end
        mov     xAX, [xSI]                      ; xAX = the word's used bits
.have_word:
        test    xDX, xDX
        jnz     .run_on
        mov     xBP, xSI                        ; no run reaches it: one may start here
        sub     xBP, [xBX + KH_USED]
        shl     xBP, WORD_SHIFT - WORD_BYTES_LOG2   ; xBP = the run's first block
.run_on:
        test    xAX, xAX
        jnz     .some_used
        add     xDX, WORD_BITS                  ; all free: the run goes on
        cmp     xDX, COUNT
        jae     .fit_run
        jmp     .next_word
.some_used:
        bsf     xCX, xAX
        add     xDX, xCX                        ; the run ends at the lowest used bit
        cmp     xDX, COUNT
        jae     .fit_run
.gap:   ; xCX = a used bit of the word: the next free run above it, inside the word
        mov     xDX, xAX
        not     xDX
        shr     xDX, cl
        shl     xDX, cl                         ; free bits above the used bit
        test    xDX, xDX
        jz      .no_run
        bsf     xBP, xDX                        ; xBP = s, the run's first bit
        mov     xCX, xBP
        mov     xDX, xAX
        shr     xDX, cl
        shl     xDX, cl                         ; used bits above s
        test    xDX, xDX
        jz      .trailing
        bsf     xCX, xDX                        ; xCX = e, the used bit that ends it
        mov     xDX, xCX
        sub     xDX, xBP
        cmp     xDX, COUNT
        jb      .gap                            ; too short: on from e
        mov     xAX, xSI                        ; the run [s, e) holds count blocks
        sub     xAX, [xBX + KH_USED]
        shl     xAX, WORD_SHIFT - WORD_BYTES_LOG2
        add     xAX, xBP
        jmp     .fit_at
.trailing:                                      ; [s, word end) is free: a run starts
        mov     xDX, WORD_BITS
        sub     xDX, xBP
        mov     xAX, xSI
        sub     xAX, [xBX + KH_USED]
        shl     xAX, WORD_SHIFT - WORD_BYTES_LOG2
        add     xBP, xAX                        ; xBP = its first block
        cmp     xDX, COUNT
        jae     .fit_run
        jmp     .next_word
.no_run:
        xor     xDX, xDX
        jmp     .next_word
.fit_run:
        mov     xAX, xBP                        ; the run from xBP holds count blocks
.fit_at:
        SDROP   1
        mov     xDI, FIT_EXACT
        ret
.leaf_end:
        AT_DEPTH 2                              ; (from .next_word: the limit is pushed)
        mov     xBP, xDX                        ; the run that reaches the limit
        SPOP    xDX
        mov     xDI, GO_ON
.out:   ret

; find_climb (kh_find's step): xDX the end of a leaf, xBP the free blocks from `from` on that
; reach it.
;   -> xDI FIT_TREE: xAX the fit: the carried run with a right sibling's prefix;
;      xDI GO_ON:    xCX a right sibling that holds a fit, xAX its first block, xDX its
;                    length (for find_descend);
;      xDI NO_FIT:   the pool ends there, or no node further right holds a fit.
; Up from the leaf: a left child's right sibling is tried (the run carried into its pre,
; then its best); when neither fits, the run carried on is its suf (all of it, plus the run,
; when it is all free). A right child ends where its parent does: on up. Clobbers xSI.
find_climb:
        AT_DEPTH 1                              ; (kh_find's return address)
        mov     xDI, NO_FIT
        cmp     xDX, [xBX + KH_NBLOCKS]
        jae     .out                            ; the pool ends here
        mov     xAX, xDX                        ; xAX = end of node xCX
        lea     xCX, [xDX - 1]
        shr     xCX, LEAF_SHIFT
        add     xCX, [xBX + KH_LEAVES]          ; xCX = the leaf's node
        mov     xDX, LEAF_BLOCKS                ; xDX = its length
.climb: ; xBP = free blocks from `from` on that end at xAX, the end of node xCX
        cmp     xCX, 1
        jbe     .none                           ; the root: nothing further right
        test    xCX, 1
        jnz     .up                             ; a right child ends where its parent does
        NODE    xSI, xCX
        add     xSI, NODE_SIZE                  ; xSI = the right sibling, from block xAX
        mov     xDI, [xSI + NODE_PRE]
        add     xDI, xBP
        cmp     xDI, COUNT
        jae     .joined
        mov     xDI, COUNT
        cmp     [xSI + NODE_BEST], xDI
        jae     .sibling
        mov     xDI, [xSI + NODE_SUF]           ; no fit in it: carry the run at its end
        cmp     xDI, xDX
        jne     .carry
        add     xDI, xBP                        ; (all of it free: the run goes through)
.carry: mov     xBP, xDI
        add     xAX, xDX
.up:    shr     xCX, 1
        shl     xDX, 1
        jmp     .climb
.sibling:
        inc     xCX
        mov     xDI, GO_ON
        ret
.joined:
        sub     xAX, xBP                        ; the carried run, which starts at or after from
        mov     xDI, FIT_TREE
        ret
.none:  mov     xDI, NO_FIT
.out:   ret
%undef COUNT
%undef FROM

; =====================================================================================
; kh_claim(h, first, count) / kh_mark(h, first, count) -> 0 or SUMMARY_DAMAGED
; Sets used over [first, first+count); kh_claim also sets start[first] (I1). Then the tree
; (I3) and the boundary summary (I6).
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
        mov     xSI, ALL_ONES
        jmp     change_tail

; =====================================================================================
; kh_release(h, first, count) / kh_unmark(h, first, count) -> 0 or SUMMARY_DAMAGED
; Clears used over [first, first+count); kh_release also clears start[first]. Then the tree
; and the summary, as kh_claim.
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
        xor     xSI, xSI
change_tail:                                    ; shared tail: [first, first + count) to xSI
        mov     xAX, ARG(1)
        mov     xDX, ARG(2)
        call    change_range
        LEAVE_SAVED

; change_range - the used bits of [xAX, xAX + xDX) set (xSI = ALL_ONES) or cleared (xSI = 0),
; then the tree (I3) and the summary (I6) over them. out: xAX = 0 or SUMMARY_DAMAGED.
; clobbers: xCX, xDX, xSI, xDI, xBP
%define CR_FIRST   [xSP + 2 * WORD_BYTES]       ; change_range's locals: the range
%define CR_END     [xSP + WORD_BYTES]
%define CR_PATTERN [xSP]                        ; and the pattern
change_range:
        add     xDX, xAX
        push    xAX
        push    xDX
        push    xSI
        mov     xDI, [xBX + KH_USED]
        call    fill
        mov     xAX, CR_FIRST
        mov     xDX, CR_END
        mov     xSI, CR_PATTERN
        call    tree_update
        pop     xSI
        pop     xDX
        pop     xAX
        jmp     summary_range                   ; (its ret is ours)
%undef CR_FIRST
%undef CR_END
%undef CR_PATTERN

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
; pool end: found in first's own word, else through the boundary summary (I6). When the
; summary fails its check, the bitmaps are scanned instead and SUMMARY_DAMAGED is added to
; the length, for the C layer to report and rebuild. `first` must be a live allocation
; start (kh_block_of said so). O(levels), O(length / WORD_BITS) when damaged.
; =====================================================================================
kh_alloc_blocks:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        call    alloc_length
        LEAVE_SAVED

; alloc_length - kh_alloc_blocks' work, shared with kh_fast_free. in: xBX = h, xAX = first.
; out: xAX = its length (+ SUMMARY_DAMAGED). clobbers: xCX, xDX, xSI, xDI, xBP
alloc_length:
        push    xAX
        inc     xAX
        call    next_boundary
        jc      .scan
        sub     xAX, [xSP]
        pop     xCX
        ret
.scan:  mov     xAX, [xSP]
        inc     xAX
        mov     xDX, [xBX + KH_NBLOCKS]
        mov     xSI, ALL_ONES
        mov     xDI, ALL_ONES
        call    scan
        pop     xCX
        sub     xAX, xCX
        bts     xAX, WORD_BITS - 1              ; + SUMMARY_DAMAGED
        ret

; =====================================================================================
; kh_summary_build(h): I6 made anew from the bitmaps: every level word zero (its mirror all
; ones), then each boundary word's bit set with its ancestors. O(W).
; =====================================================================================
kh_summary_build:
        ENTER_SAVED
        mov     xBX, ARG(0)
        call    summary_build
        LEAVE_SAVED

; summary_build - kh_summary_build's work (kh_init's too). in: xBX = h.
; clobbers: xAX, xCX, xDX, xSI, xDI, xBP
summary_build:
        mov     xDI, [xBX + KH_NWORDS]
        call    summary_bytes
        shr     xCX, WORD_BYTES_LOG2 + 1        ; level words
        mov     xDI, [xBX + KH_SUMMARY]
.clear: mov     WORD_PTR [xDI], 0
        mov     WORD_PTR [xDI + WORD_BYTES], ALL_ONES
        add     xDI, 2 * WORD_BYTES
        dec     xCX
        jnz     .clear
        xor     xAX, xAX                        ; every bitmap word in turn (a cleared summary
.word:  push    xAX                             ; agrees with its mirrors: no damage to meet)
        call    summary_one
        pop     xAX
        inc     xAX
        cmp     xAX, [xBX + KH_NWORDS]
        jb      .word
        ret

; MIRROR_CHECK label - jumps to label unless xDI (a summary word read from [xDX]) agrees with
; its mirror at [xDX + WORD_BYTES]. Keeps xDI. Clobbers the flags.
%macro MIRROR_CHECK 1
        not     xDI
        cmp     xDI, [xDX + WORD_BYTES]
        not     xDI                             ; (not keeps the flags)
        jne     %1
%endmacro

; STORE_MIRRORED - xDI written to the summary word at [xDX], its complement after it.
%macro STORE_MIRRORED 0
        mov     [xDX], xDI
        not     xDI
        mov     [xDX + WORD_BYTES], xDI
        not     xDI
%endmacro

; summary_range - I6 after the used or start bits of blocks [xAX, xDX) changed (xAX < xDX),
; to pattern xSI (ALL_ONES: used, no start but at the first block; 0: free) but at the ends:
; the first and the last bitmap word one at a time (summary_one), the whole words between,
; all alike, through their level-1 bits at once (summary_bits). When a damaged word is met,
; the summary is made anew from the bitmaps and xAX = SUMMARY_DAMAGED, else 0.
; clobbers: xAX, xCX, xDX, xSI, xDI, xBP
%define SR_FIRST   [xSP]                        ; summary_range's locals: the first word,
%define SR_LAST    [xSP + WORD_BYTES]           ; the last word,
%define SR_PATTERN [xSP + 2 * WORD_BYTES]       ; and the pattern of the words between
summary_range:
        shr     xAX, WORD_SHIFT
        dec     xDX
        shr     xDX, WORD_SHIFT
        push    xSI
        push    xDX
        push    xAX
        call    summary_one                     ; the first word
        jc      .damaged
        mov     xAX, SR_LAST
        cmp     xAX, SR_FIRST
        je      .done
        call    summary_one                     ; the last
        jc      .damaged
        mov     xAX, SR_FIRST
        inc     xAX
        mov     xDX, SR_LAST
        dec     xDX
        cmp     xAX, xDX
        ja      .done                           ; none between
        mov     xSI, SR_PATTERN
        call    summary_bits
        jc      .damaged
.done:  add     xSP, 3 * WORD_BYTES
        xor     xAX, xAX
        ret
.damaged:
        add     xSP, 3 * WORD_BYTES
        call    summary_build
        xor     xAX, xAX
        bts     xAX, WORD_BITS - 1              ; SUMMARY_DAMAGED
        ret
%undef SR_FIRST
%undef SR_LAST
%undef SR_PATTERN

; summary_one - I6 after bitmap word xAX changed. Most changes leave it a boundary word or
; not, as its level-1 bit says already: then nothing above changes either, and the level-1
; word is only read. Else summary_word. out: CF as summary_word's.
; clobbers: xAX, xCX, xDX, xSI, xDI, xBP
summary_one:
        mov     xSI, xAX
        shl     xSI, WORD_BYTES_LOG2
        BOUNDARY_WORD                           ; xBP = its boundary bits
        mov     xDI, xAX
        shr     xDI, WORD_SHIFT
        shl     xDI, WORD_BYTES_LOG2 + 1
        add     xDI, [xBX + KH_SUMMARY]
        mov     xDI, [xDI]                      ; its level-1 word
        bt      xDI, xAX                        ; (the bit of xAX mod WORD_BITS)
        sbb     xCX, xCX                        ; xCX = all ones when the bit is set
        test    xBP, xBP
        jz      .none
        test    xCX, xCX
        jz      summary_word                    ; (its ret is ours)
        clc                                     ; a boundary word, and marked so
        ret
.none:  test    xCX, xCX
        jnz     summary_word
        clc                                     ; no boundary, and marked so
        ret

; summary_bits - I6 after bitmap words [xAX, xDX] all changed to pattern xSI (so each is a
; boundary word iff xSI is 0): their level-1 bits set or cleared a level-1 word at a time,
; each word checked against its mirror first and written with it; a word that turns zero or
; not zero carries on up (summary_up). out: CF set when a word failed its mirror.
; clobbers: xAX, xCX, xDX, xSI, xDI, xBP
%define SB_NEXT    [xSP]                        ; summary_bits' locals: the next word to do,
%define SB_LAST    [xSP + WORD_BYTES]           ; the last, and the pattern
%define SB_PATTERN [xSP + 2 * WORD_BYTES]
summary_bits:
        push    xSI
        push    xDX
        push    xAX
.word:  mov     xAX, SB_NEXT
        mov     xCX, xAX
        and     xCX, WORD_BITS - 1
        mov     xDI, ALL_ONES
        shl     xDI, cl                         ; the mask: from xAX's bit up ..
        mov     xDX, xAX
        or      xDX, WORD_BITS - 1              ; .. to the end of its level-1 word,
        cmp     xDX, SB_LAST
        jbe     .ends
        mov     xDX, SB_LAST                    ; .. or to the last word
.ends:  lea     xCX, [xDX + 1]
        mov     SB_NEXT, xCX
        mov     xCX, xDX
        not     xCX
        and     xCX, WORD_BITS - 1              ; cl = bits above xDX's in its word
        mov     xBP, ALL_ONES
        shr     xBP, cl
        and     xDI, xBP                        ; xDI = the mask
        shr     xDX, WORD_SHIFT
        mov     xAX, xDX                        ; xAX = the level-1 word
        shl     xDX, WORD_BYTES_LOG2 + 1
        add     xDX, [xBX + KH_SUMMARY]         ; xDX -> it
        mov     xCX, xDI
        mov     xDI, [xDX]
        MIRROR_CHECK .damaged
        mov     xBP, xDI                        ; xBP = the word before
        cmp     WORD_PTR SB_PATTERN, 0
        je      .set                            ; free words: boundary words
        not     xCX
        and     xDI, xCX
        jmp     .put
.set:   or      xDI, xCX
.put:   cmp     xDI, xBP
        je      .next                           ; unchanged
        STORE_MIRRORED
        ; It turned zero or not zero iff exactly one of the two is zero.
        test    xBP, xBP
        setz    cl
        test    xDI, xDI
        setz    ch
        cmp     cl, ch
        je      .next
        mov     xBP, [xBX + KH_NWORDS]
        add     xBP, WORD_BITS - 1
        shr     xBP, WORD_SHIFT                 ; words of level 1
        cmp     xBP, 1
        je      .next                           ; level 1 is the top
        mov     xSI, xBP
        shl     xSI, WORD_BYTES_LOG2 + 1
        add     xSI, [xBX + KH_SUMMARY]         ; level 2
        call    summary_up
        jc      .damaged
.next:  mov     xAX, SB_NEXT
        cmp     xAX, SB_LAST
        jbe     .word
        add     xSP, 3 * WORD_BYTES
        clc
        ret
.damaged:
        add     xSP, 3 * WORD_BYTES
        stc
        ret
%undef SB_NEXT
%undef SB_LAST
%undef SB_PATTERN

; summary_word - I6 after bitmap word xAX changed: its bit at level 1 set or cleared, and
; on up while a level word turns from zero to not zero or back (above that, nothing changes).
; A word is changed only after its mirror agrees with it (so a damaged word is never made
; to look whole), and is written back with its mirror. in: xBX = h, xAX = word index.
; out: CF set when a word failed its mirror (the summary is then left to be rebuilt).
; clobbers: xAX, xCX, xDX, xSI, xDI, xBP
summary_word:
        mov     xSI, xAX
        shl     xSI, WORD_BYTES_LOG2
        BOUNDARY_WORD
        mov     xDI, xBP                        ; xDI = the word's boundary bits
        mov     xSI, [xBX + KH_SUMMARY]         ; xSI = level 1
        mov     xBP, [xBX + KH_NWORDS]          ; xBP = words of the level below
        ; (on into summary_up)

; summary_up - entry xAX of the level below now holds xDI: its bit in the level at xSI (of
; xBP entries below it) set or cleared, and on up as summary_word says. out: CF as there.
; clobbers: xAX, xCX, xDX, xSI, xDI, xBP
summary_up:
        add     xBP, WORD_BITS - 1
        shr     xBP, WORD_SHIFT                 ; xBP = words of this level
        mov     xCX, xAX
        and     xCX, WORD_BITS - 1              ; cl = the bit of the entry below
        shr     xAX, WORD_SHIFT                 ; xAX = this level's word
        mov     xDX, xAX
        shl     xDX, WORD_BYTES_LOG2 + 1
        add     xDX, xSI                        ; xDX -> it (and its mirror after it)
        test    xDI, xDI
        mov     xDI, [xDX]                      ; (mov and not keep the flags of the test)
        jz      .clear
        MIRROR_CHECK .damaged
        bts     xDI, xCX
        jc      .done                           ; set already: nothing changes
        STORE_MIRRORED
        mov     xCX, xDI                        ; it turned not zero iff that bit is alone:
        dec     xCX
        and     xCX, xDI                        ; the word without its lowest bit
        jnz     .done
        jmp     .up
.clear: MIRROR_CHECK .damaged
        btr     xDI, xCX
        jnc     .done                           ; clear already: nothing changes
        STORE_MIRRORED
        test    xDI, xDI
        jnz     .done                           ; it did not turn zero
.up:    cmp     xBP, 1
        je      .done                           ; the top level
        mov     xCX, xBP
        shl     xCX, WORD_BYTES_LOG2 + 1
        add     xSI, xCX                        ; the next level up
        jmp     summary_up
.done:  clc
        ret
.damaged:
        stc
        ret

; next_boundary - the first block at or after xAX that is free or starts an allocation, or
; nblocks (I1): in xAX's own word, else up the boundary summary (I6) to the first level
; with a set bit past the path, and down from it, a word a level. CF set when a word read
; failed its mirror, or a set bit led to a zero word or past the bitmap (xAX is then
; meaningless). in: xBX = h, xAX = from. clobbers: xCX, xDX, xSI, xDI, xBP
next_boundary:
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     .end
        WORD_OF_BLOCK                           ; cl = its bit, xSI = its word's offset
        mov     xDI, xSI                        ; (kept: the word's offset)
        BOUNDARY_WORD
        shr     xBP, cl
        shl     xBP, cl                         ; the boundary bits at or after xAX
        test    xBP, xBP                        ; (a shift by 0 sets no flags)
        jz      .climb
        bsf     xBP, xBP
        and     xAX, ~(WORD_BITS - 1)
        add     xAX, xBP
        jmp     .in_pool
.climb: shr     xDI, WORD_BYTES_LOG2
        lea     xAX, [xDI + 1]                  ; xAX = the next word: search from there
        mov     xSI, [xBX + KH_SUMMARY]         ; xSI = level 1
        mov     xBP, [xBX + KH_NWORDS]          ; xBP = entries of the level below
        xor     xDX, xDX                        ; xDX = bytes pushed on the way up
.up:    cmp     xAX, xBP
        jae     .none                           ; past the last entry below: no boundary
        add     xBP, WORD_BITS - 1
        shr     xBP, WORD_SHIFT                 ; xBP = words of this level
        mov     xCX, xAX
        and     xCX, WORD_BITS - 1
        shr     xAX, WORD_SHIFT                 ; xAX = this level's word, cl = the bit
        call    .read                           ; xDI = the word, checked
        jc      .damaged
        shr     xDI, cl
        shl     xDI, cl                         ; its bits at or after the one looked from
        test    xDI, xDI
        jnz     .down
        cmp     xBP, 1
        je      .none                           ; the top level holds nothing further
        push    xSI                             ; this level, for the way down: its base
        push    xBP                             ; and its words
        add     xDX, 2 * WORD_BYTES
        inc     xAX                             ; the next word of this level
        mov     xCX, xBP
        shl     xCX, WORD_BYTES_LOG2 + 1
        add     xSI, xCX                        ; one level up
        jmp     .up
.down:  bsf     xCX, xDI
        shl     xAX, WORD_SHIFT
        add     xAX, xCX                        ; xAX = a nonzero entry of the level below
        test    xDX, xDX
        jz      .bitmap
        pop     xBP
        pop     xSI
        sub     xDX, 2 * WORD_BYTES
        cmp     xAX, xBP
        jae     .bad_down                       ; a set bit past the level below
        call    .read
        jc      .damaged
        test    xDI, xDI
        jnz     .down
        jmp     .damaged                        ; a set bit over a zero word
.bitmap:
        cmp     xAX, [xBX + KH_NWORDS]
        jae     .bad                            ; a set bit past the bitmap
        mov     xSI, xAX
        shl     xSI, WORD_BYTES_LOG2
        BOUNDARY_WORD
        test    xBP, xBP
        jz      .bad                            ; a set bit over a word with no boundary
        bsf     xBP, xBP
        shl     xAX, WORD_SHIFT
        add     xAX, xBP
.in_pool:                                       ; a boundary past the pool (a damaged pad bit)
        cmp     xAX, [xBX + KH_NBLOCKS]         ; is the pool's end, as scan has it
        jbe     .found
        mov     xAX, [xBX + KH_NBLOCKS]
.found: clc
        ret
.none:  add     xSP, xDX                        ; (what was pushed on the way up)
.end:   mov     xAX, [xBX + KH_NBLOCKS]
        clc
        ret
.bad_down:
.damaged:
        add     xSP, xDX
.bad:   stc
        ret
; .read: xDI = word xAX of the level at xSI, CF set when its mirror disagrees.
; clobbers: nothing else
.read:  push    xAX
        shl     xAX, WORD_BYTES_LOG2 + 1
        add     xAX, xSI
        mov     xDI, [xAX]
        not     xDI
        cmp     xDI, [xAX + WORD_BYTES]
        not     xDI                             ; (not keeps the flags)
        pop     xAX
        je      .same
        stc
        ret
.same:  clc
        ret

; =====================================================================================
; kh_block_of(h, ptr) -> block index of a live allocation start, or a KHEAP_E* code
; The whole validation of a pointer handed to free: in the block area, block aligned,
; used, a start, and not held in a quick cache. Reads only; a bad pointer changes nothing.
; =====================================================================================
kh_block_of:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        call    live_start
        LEAVE_SAVED

; live_start - kh_block_of's work, shared with kh_fast_free.
; in: xBX = h, xAX = ptr. out: xAX = its block, or KHEAP_EINVAL (outside the block area
; or off a block boundary), KHEAP_EDOUBLE (a free block, or a start whose cached bit is
; set: freed already, held in a quick cache, I5), KHEAP_EINTERIOR (used, not a start).
; clobbers: xCX, xDX, xSI
live_start:
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
        BLOCK_BIT
        mov     xSI, [xBX + KH_USED]
        bt      [xSI + xDX * WORD_SCALE], xCX
        jnc     .double
        mov     xSI, [xBX + KH_START]
        bt      [xSI + xDX * WORD_SCALE], xCX
        jnc     .interior
        mov     xSI, [xBX + KH_CACHED]
        bt      [xSI + xDX * WORD_SCALE], xCX
        jc      .double
        ret
.invalid:
        mov     xAX, KHEAP_EINVAL
        ret
.double:
        mov     xAX, KHEAP_EDOUBLE
        ret
.interior:
        mov     xAX, KHEAP_EINTERIOR
        ret

; =====================================================================================
; kh_cache_take(h, count) -> block, CACHE_EMPTY or CACHE_DAMAGED
; Pops the newest entry of class count-1 (I5). The entry is trusted only after its check:
; inside the pool, its cached bit set, and by the bitmaps an allocation of exactly `count`
; blocks (I1: the next block that is free or a start is first+count). A failed entry is
; dropped and reported (CACHE_DAMAGED), so damaged caches cannot hand out a block twice, a
; live block or a run of the wrong length. On success the cached bit is cleared: the
; allocation is live again, its used and start bits were never cleared.
; =====================================================================================
kh_cache_take:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        call    cache_top
        cmp     xAX, CACHE_EMPTY
        je      .done
        CACHE_POP                               ; popped, whatever the entry turned out to be
        test    xAX, xAX
        js      .done                           ; CACHE_DAMAGED: dropped
        CACHED_CLEAR                            ; the entry: live again
.done:  LEAVE_SAVED

; cache_top - the newest entry of the quick cache of xAX blocks (I5), checked, not popped:
; inside the pool with all its blocks, its cached bit set, and by the bitmaps an allocation
; of exactly xAX blocks (I1: the next block that is free or a start is first + count).
; in: xBX = h, xAX = count. out: xAX = the entry's block when it passed, CACHE_DAMAGED when
; it failed, CACHE_EMPTY when the class is empty, out of range or its count damaged (no
; entry trusted); xDX = the class but for CACHE_EMPTY. clobbers: xCX, xSI, xDI, xBP
cache_top:
        mov     xDI, xAX                        ; xDI = count
        CLASS_OF .empty                         ; xAX -> the class: count, entries
        mov     xDX, xAX                        ; xDX = the class
        mov     xCX, [xDX]
        dec     xCX
        cmp     xCX, CACHE_DEPTH
        jae     .empty                          ; empty (or a damaged count: none trusted)
        mov     xAX, [xDX + WORD_BYTES + xCX * WORD_SCALE]
        ; It lies in the pool with all its blocks: first < nblocks, count <= nblocks - first.
        mov     xCX, [xBX + KH_NBLOCKS]
        cmp     xAX, xCX
        jae     .damaged
        sub     xCX, xAX
        cmp     xDI, xCX
        ja      .damaged
        ; It is cached (I5): its cached bit is set.
        WORD_OF_BLOCK
        mov     xBP, [xBX + KH_CACHED]
        bt      [xBP + xSI], xCX
        jnc     .damaged
        ; Its length by the bitmaps (I1) is `count`: in its own word, or measured further.
        BOUNDARY_AFTER
        jz      .long
        bsf     xBP, xBP
        inc     xBP                             ; the length
        cmp     xBP, xDI
        jne     .damaged                        ; it ends early, or runs on
        ret
.long:  push    xAX
        push    xDX
        push    xDI
        mov     xDX, xDI
        call    bounded_length
        mov     xCX, xAX
        pop     xDI
        pop     xDX
        pop     xAX
        cmp     xCX, xDI
        jne     .damaged
        ret
.damaged:
        mov     xAX, CACHE_DAMAGED
        ret
.empty: mov     xAX, CACHE_EMPTY
        ret

; =====================================================================================
; kh_cache_put(h, first, count) -> 1 (held in its quick cache) or 0 (nothing changed)
; `first` is a live allocation start of `count` blocks (kh_block_of and kh_alloc_blocks
; said so). When class count-1 exists and has room, `first` is pushed on it and its cached
; bit set (I5); its used and start bits stay, so neither the tree nor the bitmaps change.
; =====================================================================================
kh_cache_put:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(2)
        mov     xDX, ARG(1)
        call    cache_push
        LEAVE_SAVED

; bounded_length - the length of the allocation starting at block xAX (I1: up to the next
; block that is free or a start, or the pool end), looked for over at most xDX + 1 blocks,
; so O(xDX / WORD_BITS) words: xAX = the length when it is at most xDX, else a larger
; number. in: xBX = h, xAX = first (< nblocks), xDX = most (< nblocks - first when not
; capped below). clobbers: xCX, xDX, xSI, xDI, xBP
bounded_length:
        ; The common case: the boundary lies in first's own word, past first.
        WORD_OF_BLOCK
        BOUNDARY_AFTER
        jz      .scan                           ; none in this word: look further
        bsf     xBP, xBP
        lea     xBP, [xAX + xBP + 1]            ; the boundary
        cmp     xBP, [xBX + KH_NBLOCKS]
        ja      .scan                           ; past the pool (a damaged pad bit): the scan
        sub     xBP, xAX                        ; stops at its end
        mov     xAX, xBP                        ; the length
        ret
.scan:  push    xAX
        lea     xDX, [xAX + xDX + 1]            ; first + most + 1: the limit of the scan ..
        cmp     xDX, [xBX + KH_NBLOCKS]
        jbe     .limit
        mov     xDX, [xBX + KH_NBLOCKS]         ; .. or the pool end
.limit: inc     xAX
        mov     xSI, ALL_ONES
        mov     xDI, ALL_ONES
        call    scan
        pop     xCX
        sub     xAX, xCX
        ret

; cache_push - kh_cache_put's work, shared with kh_fast_free.
; in: xBX = h, xAX = count, xDX = first (a live start of count blocks). out: xAX = 1 when
; it was pushed on class count-1 and its cached bit set, 0 when that class is out of range
; or full (nothing changed). clobbers: xCX, xDX, xSI
cache_push:
        CLASS_OF .full                          ; xAX -> the class
        mov     xCX, [xAX]
        cmp     xCX, CACHE_DEPTH
        jae     .full                           ; full (or a damaged count: left alone)
        mov     [xAX + WORD_BYTES + xCX * WORD_SCALE], xDX
        inc     xCX
        mov     [xAX], xCX
        mov     xAX, xDX
        BLOCK_BIT
        mov     xSI, [xBX + KH_CACHED]
        bts     [xSI + xDX * WORD_SCALE], xCX
        mov     xAX, 1
        ret
.full:  xor     xAX, xAX
        ret

; =====================================================================================
; kh_fast_alloc(h, size) -> the address of size bytes from a quick cache, FAST_MISS or 0
; The whole of the common allocation, in one call: h a usable handle (handle_ok), the
; allocation of n = ceil(size / block) blocks (at most free_blocks, as the C layer asks)
; popped from its quick cache after cache_top's check, its cached bit cleared, and the
; counters kept as the C layer keeps them for a cache hit (I4). FAST_MISS (1, never an
; address) when h is usable, not a debug pool and n within free_blocks, but its class holds
; nothing (or there is none): the C layer goes straight to the search. 0 when the handle is
; not usable, size is 0, n is over free_blocks, h is a debug pool or the entry fails its
; check: the C layer's full path decides (and reports). Nothing changed but on a hit. O(1).
; =====================================================================================
kh_fast_alloc:
        ENTER_SAVED
        mov     xBX, ARG(0)
        call    handle_ok
        jne     .none
        mov     xAX, ARG(1)
        test    xAX, xAX
        jz      .none                           ; size 0: the C layer's rule
        mov     xCX, [xBX + KH_SHIFT]
        dec     xAX
        shr     xAX, cl
        inc     xAX                             ; xAX = n, without overflow
        cmp     xAX, [xBX + KH_FREE_BLOCKS]
        ja      .none
        mov     ARG(1), xAX                     ; (size is not needed again: its slot holds n)
        call    cache_top
        test    xAX, xAX
        jns     .hit
        cmp     xAX, CACHE_EMPTY
        jne     .none                           ; damaged: the full path drops and reports it
        test    WORD_PTR [xBX + KH_FLAGS], KHEAP_F_DEBUG
        jnz     .none
        mov     xAX, FAST_MISS                  ; a plain pool with nothing cached for n
        LEAVE_SAVED
.hit:   CACHE_POP
        CACHED_CLEAR
        ; I4: the counters of a cache hit (count_used and pool_alloc in kernel/kheap.c).
        mov     xDX, ARG(1)
        sub     [xBX + KH_CACHED_BLOCKS], xDX
        sub     [xBX + KH_FREE_BLOCKS], xDX
        inc     WORD_PTR [xBX + KH_LIVE_ALLOCS]
        inc     WORD_PTR [xBX + KH_TOTAL_ALLOCS]
        mov     xDX, [xBX + KH_NBLOCKS]
        sub     xDX, [xBX + KH_FREE_BLOCKS]     ; blocks in use now
        cmp     xDX, [xBX + KH_PEAK_BLOCKS]
        jbe     .address
        mov     [xBX + KH_PEAK_BLOCKS], xDX
.address:
        mov     xCX, [xBX + KH_SHIFT]
        shl     xAX, cl
        add     xAX, [xBX + KH_BASE]
        LEAVE_SAVED
.none:  xor     xAX, xAX
        LEAVE_SAVED

; =====================================================================================
; kh_fast_free(h, ptr) -> blocks freed (+ SUMMARY_DAMAGED), or 0 (nothing changed)
; The whole of a free of a plain pool, in one call: h a usable handle, not a debug pool, ptr
; a live allocation start (in the block area, block aligned, used, a start, not cached).
; Into its quick cache (its cached bit set, I5, as kh_cache_put) when its length is at most
; `classes` and its class has room; else into the bitmaps, as kh_release (its length
; through the summary, I6). The counters are kept as the C layer keeps them for a free (I4).
; Anything else (a bad handle or pointer, a debug pool) returns 0 for the C layer's full
; path, which validates and reports. O(1) into a cache, else kh_release's cost.
; =====================================================================================
kh_fast_free:
        ENTER_SAVED
        mov     xBX, ARG(0)
        call    handle_ok
        jne     .none
        test    WORD_PTR [xBX + KH_FLAGS], KHEAP_F_DEBUG
        jnz     .none                           ; guards and poison: the C layer's
        ; A live start: as kh_block_of, any failure is the full path's to report.
        mov     xAX, ARG(1)
        call    live_start
        test    xAX, xAX
        js      .none
        mov     ARG(1), xAX                     ; (ptr is not needed again: its slot holds
                                                ; the block from here on)
        ; Its length (I1), when it is at most `classes` (a longer one is not cached).
        mov     xDX, [xBX + KH_CLASSES]
        call    bounded_length
        ; Pushed when its class exists (length <= classes) and has room (as kh_cache_put).
        mov     ARG(0), xAX                     ; (h is in xBX: its slot holds the result)
        mov     xDX, ARG(1)
        call    cache_push
        test    xAX, xAX
        jz      .release
        mov     xAX, ARG(0)                     ; the length
        add     [xBX + KH_CACHED_BLOCKS], xAX
        jmp     .count
.release:
        ; Into the bitmaps, as kh_release: its whole length, its start bit, its blocks.
        mov     xAX, ARG(1)
        call    alloc_length
        mov     ARG(0), xAX                     ; (with SUMMARY_DAMAGED, if so)
        btr     xAX, WORD_BITS - 1
        SPUSH   xAX                             ; the length
        mov     xAX, ARG(1)
        call    start_bit
        btr     [xDI], xCX
        mov     xAX, ARG(1)
        mov     xDX, [xSP]
        xor     xSI, xSI
        call    change_range
        or      ARG(0), xAX                     ; (SUMMARY_DAMAGED, if met there)
        SPOP    xAX
.count: ; I4: the counters of a free (count_freed in kernel/kheap.c).
        add     [xBX + KH_FREE_BLOCKS], xAX
        dec     WORD_PTR [xBX + KH_LIVE_ALLOCS]
        inc     WORD_PTR [xBX + KH_TOTAL_FREES]
        mov     xAX, ARG(0)
        LEAVE_SAVED
.none:  xor     xAX, xAX
        LEAVE_SAVED

; handle_ok - ZF set when xBX is a usable handle: not 0, its magic intact, and its geometry
; word what kh_geometry computes. in: xBX = h. clobbers: xAX
handle_ok:
        test    xBX, xBX
        jz      .null
        cmp     WORD_PTR [xBX + KH_MAGIC], KH_MAGIC_VALUE
        jne     .done                           ; (ZF clear)
        call    geometry
        cmp     xAX, [xBX + KH_GEOMETRY]
.done:  ret
.null:  cmp     xBX, 1                          ; 0 - 1: ZF clear
        ret

; =====================================================================================
; kh_geometry(h) -> what h's geometry word must hold: GEOMETRY_SEED XOR each word from
; KH_SHIFT to KH_SUMMARY. Reads only. O(1): 18 words.
; =====================================================================================
kh_geometry:
        ENTER_SAVED
        mov     xBX, ARG(0)
        call    geometry
        LEAVE_SAVED

; geometry - kh_geometry's work. in: xBX = h. out: xAX = the sum. clobbers: nothing else
geometry:
        mov     xAX, GEOMETRY_SEED
%assign at GEOMETRY_FIRST
%rep (GEOMETRY_END - GEOMETRY_FIRST) / WORD_BYTES
        xor     xAX, [xBX + at]
  %assign at at + WORD_BYTES
%endrep
        ret

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
        mov     xCX, BYTE_SPREAD
        imul    xAX, xCX                        ; the byte in every byte of a word
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

kh_core_end:                                    ; (the end of kh_copy, for its size)

section .note.GNU-stack noalloc noexec nowrite progbits
