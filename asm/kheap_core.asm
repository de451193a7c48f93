; kheap_core.asm - the allocator core: pool set-up, placement through the free-run index
; (segregated fit), marking, clearing and coalescing, free validation, allocation length
; through the boundary summary, and the fast paths of a cache hit and a free into a cache.
; Called by kernel/kheap.c under its lock.
;
; ABI: i386 cdecl (nasm -f elf32: arguments on the stack, result in eax; ebx esi edi ebp
; preserved) or x86-64 System V (nasm -f elf64: arguments in rdi rsi rdx rcx, result in rax;
; rbx rbp r12-r15 preserved, no red zone, no SSE, RIP-relative only), from one source through
; the ABI layer in asm/kheap_abi.inc. The direction flag is clear on entry and exit.
; Block indices and counts are unsigned words. No routine uses more stack than its saved
; registers and a few words of locals (at most 5, in index_find's walk and kh_init; the
; summary's search two a level it climbs: at most 10 on i386, 18 on x86-64),
; and none calls out of this file but the five entries: kheap_alloc, kh_heap_alloc,
; kheap_alloc_aligned, kheap_free and kh_heap_free end, off their fast path, in their slow
; path in kernel/kheap.c (a tail call; at i386 a call for kheap_alloc and kheap_free, whose
; callers pass one argument fewer than the slow path takes), and they read the C layer's
; kh_hooks.
;
; Routine            arguments                 result
; -----------------  ------------------------  ---------------------------------------------
; kh_init            mem, size, shift, extra,  control block address, or 0 when the region
;                    sets                      cannot hold the control block, the bitmaps,
;                                              `extra` side-table bytes per block, `sets`
;                                              quick-cache sets (1-255, one per CPU) and one
;                                              block (or wraps past the top of memory)
; kh_take            h, count, align, heads    first block of an allocation of `count` blocks
;                                              at a multiple of `align` blocks by address
;                                              (a power of two), placed by the index (I3),
;                                              checked against the used bitmap and claimed;
;                                              NO_BLOCK when no placement exists. With
;                                              INDEX_DAMAGED / SUMMARY_DAMAGED added for
;                                              what failed a check (then made anew). O(1)
;                                              when a class at or above count + align - 1
;                                              holds a run; with heads not 0 only classes'
;                                              heads are tried (no walk), NO_BLOCK else
; kh_claim           h, first, count           -  marks [first, first+count) used, first a start
; kh_mark            h, first, count           -  marks used only (grow in place)
; kh_release         h, first, count           -  clears them and the start bit, coalescing
; kh_unmark          h, first, count           -  clears used only (shrink). These four keep
;                                              the index and the summary, and return 0, or
;                                              SUMMARY_DAMAGED / INDEX_DAMAGED when a word
;                                              failed its check (made anew, I3, I6)
; kh_index_build     h                         -  the index (I3) made anew from the bitmaps
; kh_largest_run     h                         blocks of the longest free run. O(runs of the
;                                              highest class); O(W) without an index
; kh_run_start       h, b                      first block of the free run ending before b
; kh_run_end         h, x                      one past the free run starting at x. Both
;                                              through a footer or header, checked; else
;                                              the bitmaps. Read only
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
; kh_cache_take      h, count, cpu             first block of the allocation of `count`
;                                              blocks freed last into CPU `cpu`'s quick-
;                                              cache set (I5: cpu modulo the sets),
;                                              now live again; CACHE_EMPTY (-1) when the
;                                              class is empty or out of range, CACHE_DAMAGED
;                                              (-2) when the entry taken failed its check
;                                              (it is dropped; nothing else changes). O(1)
; kh_cache_put       h, first, count, cpu      1: the live allocation [first, first+count)
;                                              is now held in CPU `cpu`'s quick-cache set;
;                                              0: its class is full or out of range,
;                                              nothing changed. O(1)
; kh_fast_alloc      h, size, cpu              address of the allocation of ceil(size / block)
;                                              blocks taken from its class in CPU `cpu`'s
;                                              quick-cache set, counted as
;                                              the C layer counts a cache hit (I4); FAST_MISS
;                                              when a usable plain pool holds none; 0 when h
;                                              is not usable, size 0, too large, a debug pool
;                                              or the entry damaged, or the pool has a set
;                                              per CPU (nothing changed). O(1)
; kh_fast_free       h, ptr, cpu               blocks of the live allocation at ptr, now freed
;                                              into its class in CPU `cpu`'s quick-cache set
;                                              or the bitmaps, and
;                                              counted (I4), + SUMMARY_DAMAGED when met; 0
;                                              when h is not usable, a debug pool or has a
;                                              set per CPU, or ptr not a live start (nothing
;                                              changed: the C layer's full path)
; kheap_alloc        h, size                   the public call (include/kheap.h): with a hook
;                                              set, kh_alloc_hooked's result (kernel/kheap.c);
;                                              else kh_fast_alloc's hit on CPU 0, or
;                                              fill_alloc's fill, else the result of
;                                              kernel/kheap.c's full path (kh_alloc_full),
;                                              the caller being our return address. O(1) on
;                                              a hit
; kh_heap_alloc      h, size, caller           kmalloc with no hook set: the same, h its first
;                                              region, the full path kh_heap_alloc_full
; kheap_alloc_aligned h, size, align           the public call: with a hook set, or align a
;                                              block or less, or h not a usable plain pool
;                                              with one quick-cache set, the result of
;                                              kh_alloc_aligned_full (kernel/kheap.c); else
;                                              kh_take's fill at align / block blocks, or
;                                              that full path where none exists
; kheap_free         h, ptr                    the public call: with a CPU or lock hook set,
;                                              kh_free_hooked's result; else kh_fast_free's
;                                              free on CPU 0 (0), else kh_free_report's
;                                              (damage met) or kh_free_full's (declined: 0
;                                              for a NULL ptr)
; kh_heap_free       h, ptr, caller            kfree with no hook set (ptr not NULL): the
;                                              same, the full path kh_heap_free_full
; kh_cpu_alloc       h, size, cpu              without the heap's lock, in a pool with a set
;                                              per CPU: as kh_fast_alloc's hit, from CPU
;                                              cpu's set, its busy word held and its header
;                                              counting; 0 for anything else (nothing
;                                              changed: the locked paths decide). O(1)
; kh_cpu_free        h, ptr, cpu               without the lock, likewise: blocks of the live
;                                              allocation at ptr, claimed (its cached bit,
;                                              locked bts) and pushed on its class of CPU
;                                              cpu's set; 0 for anything else. O(1)
; kh_geometry        h, quick                  what h's geometry word must hold (the XOR of
;                                              the fields that never change); with quick
;                                              not 0, its quick geometry word. O(1)
; kh_handle_ok       h                         1 when h is a usable handle: not 0, its magic
;                                              intact, its quick and whole geometry words
;                                              what kh_geometry computes; else 0. O(1)
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
; range_free      [xAX, xDX) -> ZF when none of its blocks is used
; fill            xDI bitmap, [xAX, xDX), xSI pattern -> bits set or cleared
; layout          xAX blocks -> xDI words, xBP block 0, xDX limit (kh_init's helper)
; live_start      xAX ptr -> xAX its block if a live allocation start, else a KHEAP_E code;
;                 xBP the boundary bits after it (as BOUNDARY_AFTER)
; cache_classes   xAX blocks -> xCX the quick-cache classes of such a pool (I5)
; cache_set       xCX cpu -> xCX the base of its quick-cache set (cpu modulo sets), 0: none
; cache_push      xBP count, xDX first, xSI set base -> pushed on its class (xAX 1) or not
;                 (0) (I5)
; bounded_after   xAX first, xDX most, xBP first's boundary bits (BOUNDARY_AFTER) -> xAX
;                 its length if at most xDX, else more
; lf_length       xAX first, xDX most -> as bounded_after, read without the lock
; cache_top       xDI count, xDX set base -> xAX its class's newest entry, checked (or
;                 CACHE_EMPTY, CACHE_DAMAGED), xDX the class, xDI count; not popped (I5)
; length_is       xAX first, xDI count -> ZF when the allocation there is count blocks long
; geometry        -> xAX the geometry sum of xBX
; change_range    xAX first, xDX count, xSI pattern, xDI first a start -> used bits, index and
;                 summary (I3, I6); xAX 0, SUMMARY_DAMAGED, INDEX_DAMAGED
; take            xAX count, xDX align, xSI heads -> xAX as kh_take's result (its work)
; release         xAX first, xDX count -> xAX as kh_release's result (its work)
; alloc_length    xAX first -> xAX its length (+ SUMMARY_DAMAGED), through the summary
; summary_bytes   xDI words -> xCX bytes of the boundary summary (I6)
; summary_build   -> the summary made anew from the bitmaps
; summary_range   [xAX, xDX) changed to pattern xSI, xDI first a start -> the summary over
;                 it; xAX 0 or SUMMARY_DAMAGED (then made anew)
; summary_one     xAX word -> its level-1 bit checked, summary_word when it changed; CF damage
; summary_bits    [xAX, xDX] words all changed to pattern xSI -> their level-1 bits; CF damage
; summary_mask    xAX last word, xDI mask from the first, xSI pattern -> one level-1 word's
;                 bits (summary_bits' step); CF damage
; summary_word    xAX word -> its bit at level 1 and up (summary_up); CF damage
; summary_up      xAX entry below, xDI its value, xSI level, xBP entries below -> that
;                 level's bit and up; CF damage
; next_boundary   xAX from -> xAX the next block free or a start, or nblocks; CF damage
; run_class       xAX length -> xCX its class (I3); fit_class: the lowest whose runs hold it
; index_bytes     xAX blocks -> xCX bytes of the index area
; index_search    xCX class -> xAX the head of the first non-empty class from it, xCX that
;                 class (NIL: none); CF damage
; run_header      xAX block -> xSI its header, xDX its length, checked; CF when not a run
; link_header     xAX block -> as run_header, its length not checked (a link to rewrite)
; run_seal        xSI header, xAX its block -> its check word
; run_close       xSI header, xAX first, xDX length -> its length, check word and footer
; run_footer      xSI header, xAX first, xDX length -> its footer (longer than run_min)
; run_insert      xAX first, xDX length -> put at its class's head; CF damage
; run_unlink      xAX first, xSI header, xDX length -> out of its class; CF damage
; free_start      xAX b, xDX floor -> xAX the lowest s >= floor with [s, b) free
; run_after       xAX first of a run -> xDX its length (bitmap or header); CF damage
; run_ended       xAX first -> xSI header, xDX length, run_header and its end on the bitmap
;                 checked; CF damage
; run_before      xAX b -> xAX the first block of the run ending at b - 1, xDX its length
;                 (bitmap or footer); CF damage
; index_take      [xAX, xDX) about to be used -> its run out, what is left back in (or
;                 reshaped, a class head cut at its front); CF
; take_head       xAX count, xDX align -> xAX the first block of a placement cut from a
;                 class's head or the top run (index_find's answer where one holds an
;                 aligned fit, and index_take's cut, in one); CF declined, nothing changed
; top_take        xAX count, xDX align -> as take_head, from the top run (I3)
; top_run         -> xCX the top run's first block, checked against its mirror; CF damage
; top_first       -> as top_run, and the block before it used; CF damage
; top_set         xAX block -> the top run made to start there, with its mirror
; index_give      [xAX, xDX) just freed -> the runs either side out, their union in (or a
;                 class head beside it reshaped over it); CF
; run_put         xAX first, xDX length -> run_insert when run_min or more; CF damage
; same_class      xDX, xDI lengths -> ZF when their runs share a class
; run_reshape     xAX first, xSI header, xDX new first, xDI new length -> its class's head
;                 made the new run where it stands (as unlink, then insert); CF damage
; run_length      xAX first, xSI header, xDI new length -> the run given it where it stands
; next_run        xAX from -> xAX the next free run's first block, xDX its end
; index_build     -> the index made anew from the used bitmap
; aligned_from    xAX block, xDX align -> xAX the first aligned block from it; CF wrap
; bitmap_fit      xAX count, xDX align -> xAX the lowest aligned fit on the bitmap, or ALL_ONES
; index_find      xAX count, xDX align, xSI heads -> xAX a placement (a hint), or ALL_ONES; CF damage
; aligned_fit     xAX run, xDX length -> xAX its first aligned block if the request fits; CF
; largest_run     -> xAX blocks of the longest free run
;
; Invariants every routine relies on and keeps (kheap_check verifies them all):
;   I1  used[i] = 1 iff block i belongs to a live allocation; start[i] = 1 iff block i is
;       the first block of one. start is a subset of used, and every run of used blocks
;       begins with a start bit, so an allocation is [start bit, next start bit or free).
;   I2  Bits past the last block in the last bitmap word: used = 1, start = 0. A search
;       therefore never returns a block past the pool, whatever the word holds.
;   I3  The free-run index holds every maximal run of free blocks (per the used bitmap:
;       cached allocations are used) of run_min blocks or more, those of RUN_HEADER_BYTES,
;       but the top run, and nothing else. The top run is the free run that ends at the
;       pool's end (of any length; none when the last block is used): the index area names
;       its first block (nblocks when there is none) in IX_TOP, with its complement in
;       IX_TOP_NOT, and it keeps no header, so a fill from it writes nothing into it. Every
;       other indexed run keeps its header in its first RUN_HEADER_BYTES: its
;       length, the next and previous runs of its class and a check word (the XOR of those,
;       its first block and RUN_SEED); a run longer than run_min keeps its first block in
;       its last dword too (the footer). A run's class is TLSF's two-level mapping of its
;       length (run_class); class c's runs form a list from its head, newest put in first;
;       a class's bit is set iff it has a head, a first level's iff it has a class. Every
;       header, footer, link and class word is a hint, checked against the used bitmap and
;       itself before it is used or written: a run must start and end where the bitmap says
;       (its first and last blocks free, the blocks around it used), links must name each
;       other back, and nothing is written into a block the used bitmap says is live; a
;       placement is checked free on the bitmap before it is handed out. A check that fails
;       makes the index anew from the bitmaps and is reported (INDEX_DAMAGED), so a write
;       after free cannot make the heap hand out a live block. Debug pools keep no index
;       (run_min 0, both top words 0): their free blocks hold the poison.
;   I4  Counters (free_blocks, live_allocs, ...) are kept by the C layer, with two
;       exceptions here: kh_init sets them for an empty pool, and the fast paths
;       (kh_fast_alloc, kh_fast_free, and kheap_alloc, kh_heap_alloc, kheap_free, kh_heap_free
;       with their work expanded) keep them for the cache hit, the free and, in the four
;       entries, the fill they perform, exactly as the C layer would; kh_cpu_alloc and
;       kh_cpu_free, which run without the lock, count in their set's header instead (net,
;       hits, puts), which the C layer folds into the counters whenever it holds the set.
;       No other routine touches them.
;   I5  The quick caches hold freed allocations whose blocks stay used in the used bitmap
;       (so the index is not touched): cached[i] = 1 iff block i starts an allocation held
;       in a cache, and then start[i] = 1 too. Each such block sits in exactly one entry,
;       of class length - 1; every slot past a class's count is zero (so damage to one
;       shows). A cached start is free to the caller: kh_block_of calls it a double free.
;       The C layer counts cached blocks as free and empties the caches into the bitmaps
;       before an allocation can fail. The caches come in `sets` sets of `classes` classes
;       each, one after the other (a header of SET_HEADER bytes, then the classes): CPU c
;       uses set c modulo sets; an allocation is held in one entry of one set. With more
;       than one set, a set is pushed or popped only by whoever holds its busy word, and
;       every free claims its allocation's cached bit with a locked bts first (lock or no
;       lock), so two frees of one pointer cannot both go on; every write to the cached
;       bitmap is a locked instruction then. With one set, the heap's lock (or no CPU hook)
;       admits one writer, and the hit paths write it with plain ones (CACHED_BIT). A claim
;       sets the start bit before the used bits, a release clears the used bits before the
;       start bit, so that lf_length, reading without the lock, never takes a neighbour
;       being claimed or freed for a used block.
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
; Pool layout: | control | used | start | cached bitmap | side table | index | quick caches |
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

field KH_FREE_BLOCKS            ; the counters first (I4), written under the lock:
                                ; the fields the lock-free paths read start a line on
field KH_LIVE_ALLOCS
field KH_PEAK_BLOCKS
field KH_TOTAL_ALLOCS
field KH_TOTAL_FREES
field KH_FAILED_ALLOCS
field KH_FAULTS
field KH_CACHED_BLOCKS          ; blocks held in the quick caches
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
field KH_INDEX                  ; -> the free-run index (I3), after the side table
field KH_NEXT                   ; next region of the kmalloc heap, or 0
field KH_SHAPE                  ; bytes IX_RUN_MIN, IX_FLS (I3) and CACHE_SETS (I5)
field KH_CACHED                 ; -> cached bitmap (I5), after the start bitmap
field KH_CACHE                  ; -> the quick caches (I5), after the index
field KH_CLASSES                ; quick-cache classes: allocations of 1 .. classes blocks
field KH_SUMMARY                ; -> the boundary summary (I6), after the quick caches
field KH_QUICK_GEOMETRY         ; QUICK_SEED XOR the words of QUICK_WORDS

; The used bitmap lies right after the control block (kh_init lays it there, and KH_USED
; says so for the C layer): the asm finds it from h, reading no word for it.
USED_MAP        equ CB_SIZE

; The geometry word (the handle check of every call, C layer and fast paths alike): the fields
; that never change after creation, and `next` (re-summed when a region is linked), XORed
; into a seed, so a change of any one word changes the sum. kh_geometry computes it.
GEOMETRY_SEED   equ 0x9E3779B9
GEOMETRY_FIRST  equ KH_SHIFT
GEOMETRY_END    equ KH_SUMMARY + WORD_BYTES     ; one past the last word summed
; The quick geometry word: the same over the eight of those words that the quick paths (a
; cache hit, a free into a cache, with the lock or without) read, so their handle check
; (HANDLE_OK) reads 9 words, not 19. Every other path checks both words (the C layer's
; heap_ok), and a free that goes to the bitmaps checks the whole geometry (FREE_HIT). The
; flags are not among them: a debug or no-cache pool has no classes (`classes` 0), so a
; quick path finds no class there and goes on to a path that checks the whole geometry
; before it reads the flags.
QUICK_SEED      equ 0x7F4A7C15
%define QUICK_WORDS KH_SHIFT, KH_NBLOCKS, KH_START, KH_BASE, KH_SHAPE, KH_CACHED, KH_CACHE, \
                    KH_CLASSES
; XOR_WORDS f, ...: xAX XORed with each field f of xBX's control block.
%macro XOR_WORDS 1-*
  %rep %0
        xor     xAX, [xBX + %1]
    %rotate 1
  %endrep
%endmacro
; QUICK_SUM - xAX = the quick geometry sum of xBX.
%macro QUICK_SUM 0
        mov     xAX, QUICK_SEED
        XOR_WORDS QUICK_WORDS
%endmacro

; The geometry's other words: with QUICK_WORDS, every word from KH_SHIFT to KH_SUMMARY
; once (the build checks it, below).
%define REST_WORDS KH_USED, KH_NWORDS, KH_LIMIT, KH_MEM_START, KH_MEM_END, KH_SIDE, KH_FLAGS, \
                   KH_INDEX, KH_NEXT, KH_SUMMARY
%macro WORDS_MASK 1-*
  %rep %0
    %assign words_mask words_mask | (1 << ((%1 - KH_SHIFT) / WORD_BYTES))
    %assign words_count words_count + 1
    %rotate 1
  %endrep
%endmacro
%assign words_mask 0
%assign words_count 0
WORDS_MASK QUICK_WORDS, REST_WORDS
%if words_count != (KH_SUMMARY - KH_SHIFT) / WORD_BYTES + 1 || \
    words_mask != (1 << words_count) - 1
  %error the quick words and the rest words must name each geometry word once
%endif

; HANDLE_OK none - a jump to none unless xBX is a usable handle for the quick paths: not 0,
; its magic intact and its quick geometry word what QUICK_SUM computes. A path that reads
; more of the control block checks the whole geometry too (GEOMETRY_OK). The magic is
; XORed into the sum with its value folded into the seed, so one compare tests both: an
; intact magic cancels, and a changed magic changes the sum. Clobbers xAX.
%macro HANDLE_OK 1
        test    xBX, xBX
        jz      %1
        mov     xAX, QUICK_SEED ^ KH_MAGIC_VALUE
        xor     xAX, [xBX + KH_MAGIC]
        XOR_WORDS QUICK_WORDS
        cmp     xAX, [xBX + KH_QUICK_GEOMETRY]
        jne     %1
%endmacro

; GEOMETRY_OK none - after HANDLE_OK passed in the same call: a jump to none unless the whole
; geometry word holds too. The quick word, checked, stands for the eight words it sums (XOR:
; the whole sum is GEOMETRY_SEED ^ QUICK_SEED ^ the quick word ^ the other ten), so only
; REST_WORDS are read. Clobbers xAX.
%macro GEOMETRY_OK 1
        mov     xAX, GEOMETRY_SEED ^ QUICK_SEED
        xor     xAX, [xBX + KH_QUICK_GEOMETRY]
        XOR_WORDS REST_WORDS
        cmp     xAX, [xBX + KH_GEOMETRY]
        jne     %1
%endmacro

; The index's shape, two bytes of one word: the blocks of the shortest run it holds (those
; of RUN_HEADER_BYTES, at least one block; 0 in a pool without an index, a debug pool), and
; its first levels (fls: the classes it has heads for are 0 .. fls * SL_COUNT - 1).
IX_RUN_MIN      equ KH_SHAPE
IX_FLS          equ KH_SHAPE + 1
CACHE_SETS      equ KH_SHAPE + 2            ; the third byte: quick-cache sets (I5), 1-255

%ifdef KHEAP_CHECK_OFFSETS
  %if C_KH_SIZE != CB_SIZE
    %error control block drift: struct kheap has a different size
  %endif
%endif

; The free-run index (I3). An indexed run keeps a header in its first RUN_HEADER_BYTES:
; four dwords, below; when it is longer than run_min blocks its last dword (the footer)
; holds its first block too, so a free can find the start of the run before it.
RUN_LEN         equ 0                           ; its length in blocks
RUN_NEXT        equ 4                           ; first block of the next run of its class, or NIL
RUN_PREV        equ 8                           ; of the one before, or NIL (it is the head)
RUN_CHECK       equ 12                          ; RUN_SEED ^ len ^ next ^ prev ^ its first block
RUN_HEADER_BYTES equ 16
RUN_SEED        equ 0x52554E53                  ; "RUNS"
NIL             equ 0xFFFFFFFF                  ; no run (a dword: blocks fit in 32 bits)
MAX_BLOCKS      equ 0xFFFFFFFE                  ; the most blocks a pool holds (below NIL)
; Classes, TLSF's two-level mapping: a length L < SL_COUNT is class L; a longer one, with
; b = bsr(L), class (b - SL_LOG) * SL_COUNT + (L >> (b - SL_LOG)): SL_COUNT classes between
; two powers of two. Class c is first level c >> SL_LOG, second level c & (SL_COUNT - 1).
SL_LOG          equ 4
SL_COUNT        equ 1 << SL_LOG
FL_MAX          equ 31                          ; first levels at most (lengths below 2^32)
; The index area: a dword bitmap of first levels with a non-empty class, a dword per first
; level of its non-empty classes, the top run's first block and its complement (its mirror),
; then a dword head per class (first levels 0 .. fls - 1).
IX_FLMAP        equ 0
IX_SLMAP        equ 4                           ; FL_MAX dwords
IX_TOP          equ 4 + 4 * FL_MAX              ; the top run's first block (nblocks: none)
IX_TOP_NOT      equ IX_TOP + 4                  ; its complement
IX_HEADS        equ IX_TOP + 8                  ; (136: word aligned)
INDEX_DAMAGED   equ 1 << (WORD_BITS - 2)        ; a run, link or class word failed its check
NO_BLOCK        equ INDEX_DAMAGED - 1           ; kh_take: no placement

; The quick caches (I5): class c (0 .. classes-1) holds freed allocations of exactly c+1
; blocks, last in first out: a dword count, then CACHE_DEPTH dword block indices (the first
; `count` in use; blocks are below 2^32 at both widths, MAX_BLOCKS). Classes: one per 2^QCLASS_SHIFT blocks of the pool, at most CACHE_CLASSES, so a
; small pool spends little on them (the fuzzer builds with a smaller shift so its small
; pools have caches too; asm and C must be given the same value).
%ifndef KHEAP_QCLASS_SHIFT
  %define KHEAP_QCLASS_SHIFT 9
%endif
QCLASS_SHIFT    equ KHEAP_QCLASS_SHIFT
CACHE_CLASSES   equ 64                          ; at most: allocations of up to 64 blocks
CACHE_DEPTH     equ 16                          ; entries of one class
CACHE_SLOT      equ 4                           ; bytes of a count or an entry
CACHE_CLASS_BYTES equ (CACHE_DEPTH + 1) * CACHE_SLOT
; Each set begins with a header, then its classes: the header's busy word is the set's own
; lock (xchg), held by whoever pushes or pops the set; net, hits and puts count what the
; lock-free paths did (blocks pushed minus popped, allocations, frees), which the C layer
; folds into the control block's counters (I4) while it holds the set. The header's fifth
; word is the C layer's alone, under the lock: the window its CPU's allocations go to.
SET_BUSY        equ 0
SET_NET         equ WORD_BYTES
SET_HITS        equ 2 * WORD_BYTES
SET_PUTS        equ 3 * WORD_BYTES
SET_HEADER      equ 8 * WORD_BYTES
; SET_BYTES reg - reg = the bytes of one set of reg classes: the header, the classes, and
; up to a word of pad, so every set's header stays word aligned (its busy word is xchg's).
%macro SET_BYTES 1
        imul    %1, %1, CACHE_CLASS_BYTES
        add     %1, SET_HEADER + WORD_BYTES - 1
        and     %1, -WORD_BYTES
%endmacro
%ifdef KHEAP_CHECK_OFFSETS
  %if C_CACHE_CLASSES != CACHE_CLASSES || C_CACHE_DEPTH != CACHE_DEPTH
    %error quick-cache drift: kernel/kheap.c has other classes or depth
  %endif
%endif
CACHE_EMPTY     equ -1                          ; kh_cache_take: the class holds nothing
CACHE_DAMAGED   equ -2                          ; kh_cache_take: an entry failed its check
SUMMARY_DAMAGED equ 1 << (WORD_BITS - 1)        ; kh_alloc_blocks: the summary failed its check
FAST_MISS       equ 1                           ; kh_fast_alloc: a usable plain pool, no entry
LENGTH_UNKNOWN  equ ALL_ONES                    ; FREE_HIT: longer than `classes`, not measured
HOOK_CPU        equ 1                           ; kh_hooks: a CPU hook is set ..
HOOK_LOCK       equ 2                           ; .. a lock hook (kernel/kheap.c's bits)
%ifdef KHEAP_CHECK_OFFSETS
  %if C_HOOK_CPU != HOOK_CPU || C_HOOK_LOCK != HOOK_LOCK
    %error hook bits drift: kernel/kheap.c has others
  %endif
%endif

section .text

; Each exported routine, with the routine after it in this file (its size runs to there, any
; tail it shares with the next one included): EXPORT the module's own, PUBLIC the two of
; include/kheap.h defined here.
EXPORT(kh_init, kh_take)
EXPORT(kh_take, kh_claim)
EXPORT(kh_claim, kh_mark)
EXPORT(kh_mark, kh_release)
EXPORT(kh_release, kh_unmark)
EXPORT(kh_unmark, kh_index_build)
EXPORT(kh_index_build, kh_largest_run)
EXPORT(kh_largest_run, kh_run_start)
EXPORT(kh_run_start, kh_run_end)
EXPORT(kh_run_end, kh_next_used)
EXPORT(kh_next_used, kh_next_free)
EXPORT(kh_next_free, kh_alloc_blocks)
EXPORT(kh_alloc_blocks, kh_summary_build)
EXPORT(kh_summary_build, kh_block_of)
EXPORT(kh_block_of, kh_cache_take)
EXPORT(kh_cache_take, kh_cache_put)
EXPORT(kh_cache_put, kh_fast_alloc)
EXPORT(kh_fast_alloc, kh_fast_free)
EXPORT(kh_fast_free, kheap_alloc)
PUBLIC(kheap_alloc, kh_heap_alloc)
EXPORT(kh_heap_alloc, kheap_alloc_aligned)
PUBLIC(kheap_alloc_aligned, kheap_free)
PUBLIC(kheap_free, kh_heap_free)
EXPORT(kh_heap_free, kh_cpu_alloc)
EXPORT(kh_cpu_alloc, kh_cpu_free)
EXPORT(kh_cpu_free, kh_geometry)
EXPORT(kh_geometry, kh_handle_ok)
EXPORT(kh_handle_ok, kh_fill)
EXPORT(kh_fill, kh_unlike)
EXPORT(kh_unlike, kh_copy)
EXPORT(kh_copy, kh_core_end)

; =====================================================================================
; Internal helpers. They take registers, not stack arguments, and say what they clobber.
; =====================================================================================

; WORD_BITS_OF - xBP = B(xAX) for scan (xAX = word index), with xCX kept. Clobbers nothing else.
%macro WORD_BITS_OF 0
        lea     xBP, [xBX + USED_MAP]
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
        mov     xCX, xAX                        ; cl mod WORD_BITS = bit of `from` in its word
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

; range_free - ZF when no block of [xAX, xDX) is used (xAX < xDX <= nblocks): the used
; bitmap's words over the range tested through masks at its ends, the words between whole.
; A placement's check before it is handed out (I3); scan's answer, without its generality.
; clobbers: xAX, xCX, xSI, xBP
range_free:
        lea     xSI, [xBX + USED_MAP]
        mov     xCX, xAX
        shr     xAX, WORD_SHIFT                 ; the first word
        lea     xSI, [xSI + xAX * WORD_SCALE]
        mov     xBP, ALL_ONES
        shl     xBP, cl                         ; its mask: the first block's bit and up
        lea     xCX, [xDX - 1]
        shr     xCX, WORD_SHIFT
        sub     xCX, xAX                        ; words after the first
        jz      .last
        test    [xSI], xBP
        jnz     .done                           ; used in the first word
        lea     xSI, [xSI + xCX * WORD_SCALE]   ; xSI -> the last word,
        neg     xCX
        inc     xCX                             ; xCX = -(the whole words between)
        jz      .tail
        xor     xBP, xBP                        ; their used bits, all together:
        test    cl, 1
        jz      .pairs
        or      xBP, [xSI + xCX * WORD_SCALE]   ; one, when they are odd,
        inc     xCX
        jz      .whole
.pairs: or      xBP, [xSI + xCX * WORD_SCALE]   ; then two at a time
        or      xBP, [xSI + xCX * WORD_SCALE + WORD_BYTES]
        add     xCX, 2
        jnz     .pairs
.whole: test    xBP, xBP
        jnz     .done                           ; (ZF clear: used in a whole word)
.tail:  mov     xBP, ALL_ONES
.last:  mov     ecx, edx
        neg     ecx                             ; cl mod WORD_BITS = bits of the last word at
        shl     xBP, cl                         ; or past end
        shr     xBP, cl
        test    [xSI], xBP
.done:  ret

; RANGE_MASK - xBP = the mask of xDX bits (1 to WORD_BITS) from bit cl (mod WORD_BITS) up:
; a range inside one bitmap word. Clobbers xCX.
%macro RANGE_MASK 0
        mov     xBP, ALL_ONES
        shl     xBP, cl                         ; from bit cl ..
        add     ecx, edx
        neg     ecx                             ; (mod WORD_BITS: the bits at or past its end)
        shl     xBP, cl
        shr     xBP, cl                         ; .. for xDX bits
%endmacro

; APPLY_MASK how - the bits of mask xBP in the word at xDI set (how = set), or (how = any)
; set when xSI = ALL_ONES and cleared when xSI = 0.
%macro APPLY_MASK 1
  %ifidn %1, set
        or      [xDI], xBP
  %else
        test    xSI, xSI
        jz      %%clear
        or      [xDI], xBP
        jmp     %%done
%%clear:
        not     xBP
        and     [xDI], xBP
%%done:
  %endif
%endmacro

; FILL_RANGE how - fill's work on a range that is not empty, expanded in it and in take's
; claim (how = set: the pattern is ALL_ONES, known there). in: xDI = bitmap, xAX = first,
; xDX = end (exclusive), xSI = pattern (how = any). clobbers: xAX, xCX, xBP, xDI
%macro FILL_RANGE 1
        mov     xCX, xAX                        ; (its bit: the shift takes it mod WORD_BITS)
        mov     xBP, ALL_ONES
        shl     xBP, cl                         ; mask: the first block's bit and up
        shr     xAX, WORD_SHIFT
        lea     xDI, [xDI + xAX * WORD_SCALE]   ; xDI -> the first word
        mov     xCX, xDX
        dec     xCX
        shr     xCX, WORD_SHIFT
        sub     xCX, xAX                        ; xCX = words after the first
        jz      %%last                          ; none: the last word is this one
        APPLY_MASK %1
        add     xDI, WORD_BYTES
        dec     xCX                             ; whole words before the last
  %ifidn %1, set
        mov     xAX, ALL_ONES
  %else
        mov     xAX, xSI
  %endif
        rep STOS_WORD
        mov     xBP, ALL_ONES
%%last: mov     xCX, xDX
        neg     xCX                             ; cl mod WORD_BITS = bits of the last word at
        shl     xBP, cl                         ; or past end: drop them from the mask
        shr     xBP, cl
        APPLY_MASK %1
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
        FILL_RANGE any
        pop     xDI
.done:  ret

; BLOCK_BIT - xDX = the bitmap word of block xAX, xCX = its bit in that word. Clobbers
; nothing else.
%macro BLOCK_BIT 0
        mov     xDX, xAX
        shr     xDX, WORD_SHIFT
        mov     xCX, xAX
        and     xCX, WORD_BITS - 1
%endmacro

; WORD_OF_BLOCK - xCX = block xAX, whose bit in its bitmap word is xCX mod WORD_BITS (as
; cl is taken by a shift of a word, or xCX by a bt on a register), xSI = that word's byte
; offset in a bitmap. Clobbers nothing else.
%macro WORD_OF_BLOCK 0
        mov     xCX, xAX
        mov     xSI, xAX
        shr     xSI, WORD_SHIFT
        shl     xSI, WORD_BYTES_LOG2
%endmacro

; BOUNDARY_WORD - xBP = the blocks of the bitmap word at byte offset xSI that are free or
; start an allocation (I1: where allocations end): ~used | start. Clobbers xSI.
%macro BOUNDARY_WORD 0
        lea     xBP, [xBX + USED_MAP]
        mov     xBP, [xBP + xSI]
        not     xBP
        add     xSI, [xBX + KH_START]
        or      xBP, [xSI]
%endmacro

; WORD_BOUNDARY far, none - xBP = the length of the allocation at block xAX when its first
; boundary after it (I1, as BOUNDARY_AFTER) is in the bitmap word whose first block is xCX;
; a jump to none when that word holds none, to far when the word is not the pool's or the
; boundary lies past the pool's end (a damaged pad bit, I2). Clobbers xSI.
%macro WORD_BOUNDARY 2
        cmp     xCX, [xBX + KH_NBLOCKS]
        jae     %1
        mov     xSI, xCX
        shr     xSI, WORD_SHIFT - WORD_BYTES_LOG2 ; (xCX a multiple of WORD_BITS): its offset
        BOUNDARY_WORD
        bsf     xBP, xBP
        jz      %2
        add     xBP, xCX                        ; the boundary ..
        cmp     xBP, [xBX + KH_NBLOCKS]
        ja      %1                              ; .. past the pool: a damaged pad bit
        sub     xBP, xAX                        ; the length
%endmacro

; BOUNDARY_AFTER - xBP = the blocks after block xAX in its word that are free or start an
; allocation (I1: where an allocation at xAX would end), shifted so bit k is block xAX + k
; (bit 0, block xAX itself, clear: a set bit's index is a length); ZF when there is none.
; Blocks past the pool are used and start nothing (I2), so a bit found is a real block
; unless a pad bit is damaged: users stop at the pool's end, as scan does. in: xCX, xSI from
; WORD_OF_BLOCK. Clobbers xSI.
%macro BOUNDARY_AFTER 0
        BOUNDARY_WORD
        shr     xBP, cl
        and     xBP, ~1
%endmacro

; CLASS_OF label, class, set, count, scratch - the register `class` = the address of the
; class of the register `count` blocks in the quick-cache set whose base the register `set`
; holds (I5), or a jump to label when there is none (count 0 or over `classes`). xBX = h.
; Clobbers the register scratch (which may be class or count, not set).
%macro CLASS_OF 5
        lea     %5, [%4 - 1]                    ; the class (count 0 wraps: out of range)
        cmp     %5, [xBX + KH_CLASSES]
        jae     %1
        imul    %5, %5, CACHE_CLASS_BYTES
        lea     %2, [%5 + %3 + SET_HEADER]
%endmacro

; CPU_SET reg, cpu, none - reg = the base of CPU cpu's quick-cache set (I5): CPU 0's, the
; first, without a call (every pool has it, and the callers checked the handle, whose
; geometry covers the count of sets); any other through cache_set, or a jump to none when
; there is no set (a damaged count). xBX = h. Clobbers xCX.
%macro CPU_SET 3
  %ifidn %2, 0                                  ; (CPU 0 named as such: its set, no test)
        mov     %1, [xBX + KH_CACHE]
  %else
        mov     xCX, %2
        mov     %1, [xBX + KH_CACHE]
        test    xCX, xCX
        jz      %%done
        call    cache_set
        test    xCX, xCX
        jz      %3
        mov     %1, xCX
%%done:
  %endif
%endmacro

; CACHE_POP - xDX = a class whose count cache_top found in range: its newest slot dropped,
; the count one less and the slot zero (I5). Clobbers xCX.
%macro CACHE_POP 0
        mov     ecx, [xDX]
        dec     ecx                             ; (zero-extended at x86-64)
        mov     [xDX], ecx
        mov     dword [xDX + CACHE_SLOT + xCX * CACHE_SLOT], 0
%endmacro

; CACHED_BIT op, who - op (bts or btr) on the cached bit of block xAX (I5), addressed as a
; bit string from the bitmap's base (blocks are below 2^(WORD_BITS - 1)). who = shared
; where a pool may have a set per CPU: there kh_cpu_free sets bits of the word on other
; CPUs without the heap's lock, so the op is locked; owned where the pool has one set (the
; entries' and kh_fast_*'s hit paths test that first): every write of the bitmap is then
; made by the one caller the heap's lock, or the lack of any CPU hook, admits, and a plain
; op is enough (a locked one also waits for every store before it). Clobbers xSI.
%macro CACHED_BIT 3
        mov     xSI, [xBX + KH_CACHED]
  %ifidn %3, shared
        lock %1 [xSI], %2
  %elifidn %3, owned
        %1      [xSI], %2
  %else
    %error CACHED_BIT: who is shared or owned
  %endif
%endmacro

; CACHED_CLEAR who - the cached bit of block xAX cleared: the allocation there is live (I5).
; who as CACHED_BIT's. Clobbers xSI.
%macro CACHED_CLEAR 1
        CACHED_BIT btr, xAX, %1
%endmacro

; START_BIT op - op (bts or btr) on the start bit of block xAX (I1), addressed as a bit
; string from the start bitmap's base (blocks are below 2^(WORD_BITS - 1)). Clobbers xDI.
%macro START_BIT 1
        mov     xDI, [xBX + KH_START]
        %1      [xDI], xAX
%endmacro

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

; cache_set - xCX = the base of CPU xCX's quick-cache set (I5): set xCX modulo `sets` (a
; division only past them), or 0 when h has none (a damaged count). in: xBX = h.
; clobbers: nothing else
cache_set:
        push    xAX
        push    xDX
        movzx   xAX, byte [xBX + CACHE_SETS]
        cmp     xCX, xAX
        jb      .have
        test    xAX, xAX
        jz      .none
        xchg    xAX, xCX
        xor     xDX, xDX
        div     xCX
        mov     xCX, xDX                        ; the CPU modulo the sets
.have:  mov     xAX, [xBX + KH_CLASSES]
        SET_BYTES xAX                           ; one set's bytes
        imul    xCX, xAX
        add     xCX, [xBX + KH_CACHE]
        pop     xDX
        pop     xAX
        ret
.none:  xor     xCX, xCX
        pop     xDX
        pop     xAX
        ret

; layout - where a pool of xAX blocks would put its blocks (kh_init's arguments in place,
; its return address and three words above ENTER_SAVED): xDI = words per bitmap, xBP = block 0,
; xDX = the block-area limit; carry set when an address passes the top of memory.
; in: xAX = blocks, xSI = first bitmap byte. clobbers: xCX
layout:
        AT_DEPTH 4                              ; kh_init's three words and the return address
        mov     xDI, xAX
        add     xDI, WORD_BITS - 1
        shr     xDI, WORD_SHIFT                 ; xDI = words per bitmap
        call    index_bytes                     ; xCX = index bytes
        mov     xBP, ARG(3)
        imul    xBP, xAX                        ; side table bytes (below end: no overflow)
        add     xBP, xCX
        lea     xBP, [xBP + xDI * WORD_BYTES]   ; the used bitmap ..
        lea     xBP, [xBP + xDI * WORD_BYTES]   ; .. the start bitmap (no scale 16) ..
        lea     xBP, [xBP + xDI * WORD_BYTES]   ; .. and the cached bitmap
        call    cache_classes                   ; xCX = classes
        SET_BYTES xCX
        imul    xCX, ARG(4)
        add     xBP, xCX                        ; the quick caches, `sets` of them
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

; ---- the free-run index (I3) ----

; VG_EXPOSE address, bytes - in the build for Valgrind's memcheck (-DKHEAP_VALGRIND, host
; tests only), tells memcheck that the bytes at [address] are the module's: a free run's
; header or footer, in blocks kernel/kheap.c marks no-access to the caller. It is memcheck's
; client request MAKE_MEM_DEFINED (valgrind.h's sequence: rotations of xDI that leave it as it
; was, then xchg xBX, xBX, with xAX pointing at the request and its arguments); outside
; Valgrind, and in every other build, it does nothing. Keeps every register and the flags.
%ifdef KHEAP_VALGRIND
VG_MAKE_MEM_DEFINED equ 0x4D430002              ; ('M' << 24 | 'C' << 16) + 2
%macro VG_EXPOSE 2
        pushf
        push    xAX
        push    xDX
        lea     xDX, [%1]
        push    0
        push    0
        push    0
        push    %2
        push    xDX
        push    VG_MAKE_MEM_DEFINED
        mov     xAX, xSP
        xor     xDX, xDX
  %if WORD_BITS == 64
        rol     rdi, 3
        rol     rdi, 13
        rol     rdi, 61
        rol     rdi, 51
  %else
        rol     edi, 3
        rol     edi, 13
        rol     edi, 29
        rol     edi, 19
  %endif
        xchg    xBX, xBX
        add     xSP, 6 * WORD_BYTES
        pop     xDX
        pop     xAX
        popf
%endmacro
%else
%macro VG_EXPOSE 2
%endmacro
%endif

; BLOCK_ADDR reg - reg = the address of block xAX. Clobbers xCX.
%macro BLOCK_ADDR 1
        mov     xCX, [xBX + KH_SHIFT]
        mov     %1, xAX
        shl     %1, cl
        add     %1, [xBX + KH_BASE]
%endmacro

; USED_BIT reg - CF = the used bit of block reg. Clobbers xCX.
%macro USED_BIT 1
        lea     xCX, [xBX + USED_MAP]
        bt      [xCX], %1
%endmacro

; RUN_CLASS len - xCX = the class of a run of len blocks (len >= 1, a register but xCX):
; len below SL_COUNT, else (b - SL_LOG) * SL_COUNT + (len >> (b - SL_LOG)) with b =
; bsr(len). Clobbers xDX (len may be xDX).
%macro RUN_CLASS 1
        mov     xCX, %1
        cmp     %1, SL_COUNT
        jb      %%done
        bsr     xCX, %1
        sub     xCX, SL_LOG
  %ifnidn %1, xDX
        mov     xDX, %1
  %endif
        shr     xDX, cl                         ; SL_COUNT + the second level
        shl     xCX, SL_LOG
        add     xCX, xDX
%%done:
%endmacro

; run_class - xCX = the class of a run of xAX blocks (RUN_CLASS). clobbers: xDX
run_class:
        RUN_CLASS xAX
        ret

; fit_class - xCX = the lowest class whose every run holds xAX blocks (xAX >= 1): the
; class of xAX rounded up to the next class boundary. clobbers: xDX
fit_class:
        cmp     xAX, SL_COUNT
        jb      run_class                       ; (its ret is ours)
        push    xAX
        bsr     xCX, xAX
        sub     xCX, SL_LOG
        mov     xDX, 1
        shl     xDX, cl
        lea     xAX, [xAX + xDX - 1]            ; (xAX < 2^32: no overflow)
        call    run_class
        pop     xAX
        ret

; index_bytes - xCX = bytes of the index of a pool of xAX blocks: IX_HEADS, then a head per
; class of the first levels 0 .. fls - 1 (fls: the first level of xAX blocks, plus one).
; clobbers: xDX
index_bytes:
        call    run_class
        shr     xCX, SL_LOG
        inc     xCX                             ; fls
        shl     xCX, SL_LOG + 2                 ; a dword head per class
        add     xCX, IX_HEADS
        ret

; index_search - the first non-empty class at or above class xCX: xAX = its head and xCX
; the class, or xAX = NIL when there is none. CF when the class words disagree with the
; heads (a first level whose bit is set with no class, a class whose bit is set with no
; head, a first level past fls): the index is damaged. clobbers: xDX, xDI
index_search:
        mov     xDI, [xBX + KH_INDEX]
        mov     xDX, xCX
        shr     xDX, SL_LOG                     ; its first level
        bsr     eax, dword [xDI + IX_FLMAP]
        jz      .none                           ; no class holds a run (a fresh pool's fill)
        cmp     eax, edx
        jb      .none                           ; none at its first level or above
        movzx   eax, byte [xBX + IX_FLS]
        cmp     xDX, xAX
        jae     .none                           ; longer than the pool: no class holds it
        and     ecx, SL_COUNT - 1
        mov     eax, [xDI + IX_SLMAP + xDX * 4]
        shr     eax, cl
        shl     eax, cl                         ; its level's classes from it up
        test    eax, eax
        jnz     .class
        lea     ecx, [edx + 1]
        mov     eax, [xDI + IX_FLMAP]
        shr     eax, cl
        shl     eax, cl                         ; the first levels above it
        test    eax, eax
        jz      .none
        bsf     edx, eax
        movzx   eax, byte [xBX + IX_FLS]
        cmp     xDX, xAX
        jae     .damaged                        ; a bit past the last first level
        mov     eax, [xDI + IX_SLMAP + xDX * 4]
        test    eax, eax
        jz      .damaged
.class: bsf     ecx, eax
        shl     edx, SL_LOG
        add     ecx, edx                        ; the class
        mov     eax, [xDI + IX_HEADS + xCX * 4]
        cmp     eax, NIL
        je      .damaged
        clc
        ret
.none:  mov     eax, NIL
        clc
        ret
.damaged:
        stc
        ret

; HEADER_READ bad - the header of the run said to start at block xAX read and checked against
; the used bitmap and itself: xAX inside the pool and free, the check word right. xSI = the
; header's address, xDX = its length; a jump to bad when a check fails. Clobbers xCX.
%macro HEADER_READ 1
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     %1
        USED_BIT xAX
        jc      %1
        BLOCK_ADDR xSI
        mov     edx, [xSI + RUN_LEN]
        mov     ecx, edx
        xor     ecx, [xSI + RUN_NEXT]
        xor     ecx, [xSI + RUN_PREV]
        xor     ecx, eax
        xor     ecx, RUN_SEED
        cmp     ecx, [xSI + RUN_CHECK]
        jne     %1
%endmacro

; link_header - the header of a run named by a link or a class's head, about to have a link
; rewritten (its neighbour unlinked or put in before it): HEADER_READ's checks, so it is
; written only in a free block and only when it is whole. Its length is not used, so it is
; not checked here: it is when the run itself is read (run_header).
; out: xSI, xDX as run_header's; CF when it fails. clobbers: xCX
link_header:
        HEADER_READ run_header.bad
        clc
        ret

; run_header - the header of the indexed run said to start at block xAX, checked: xAX inside
; the pool and free, the check word right, the length at least run_min and inside the pool.
; out: xSI = the header's address, xDX = the run's length; CF when it fails. clobbers: xCX
run_header:
        HEADER_READ .bad
        movzx   ecx, byte [xBX + IX_RUN_MIN]
        cmp     xDX, xCX
        jb      .bad
        mov     xCX, [xBX + KH_NBLOCKS]
        sub     xCX, xAX
        cmp     xDX, xCX                        ; no further than the pool's end
        ja      .bad
        clc
        ret
.bad:   stc
        ret

; run_seal - the check word of the header at xSI, of the run at block xAX, made from its
; fields. clobbers: xCX
run_seal:
        mov     ecx, [xSI + RUN_LEN]
        xor     ecx, [xSI + RUN_NEXT]
        xor     ecx, [xSI + RUN_PREV]
        xor     ecx, eax
        xor     ecx, RUN_SEED
        mov     [xSI + RUN_CHECK], ecx
        ret

; run_close - the header at xSI of the run [xAX, xAX + xDX), its links written: its length
; and check word, and its footer (its first block, in its last dword) when it is longer
; than run_min. xAX is kept. clobbers: xCX, xDX
run_close:
        mov     [xSI + RUN_LEN], edx
        call    run_seal
        ; (on into run_footer)

; run_footer - the footer of the run [xAX, xAX + xDX) whose header is at xSI: its first
; block in its last dword, when it is longer than run_min. xAX is kept. clobbers: xCX, xDX
run_footer:
        movzx   ecx, byte [xBX + IX_RUN_MIN]
        cmp     xDX, xCX
        jbe     .done                           ; run_min blocks or fewer: no footer
        mov     xCX, [xBX + KH_SHIFT]
        shl     xDX, cl
        VG_EXPOSE xSI + xDX - 4, 4
        mov     [xSI + xDX - 4], eax            ; the footer: the run's last dword
.done:  ret

; run_insert - the free run [xAX, xAX + xDX) (xDX >= run_min) put at the head of its class:
; the class's old head checked (a run whose header passes, with no run before it) and linked
; after it, its header sealed, its footer (when longer than run_min) written, the class's
; bits set. Writes only into blocks the used bitmap says are free: CF, nothing written, when
; its first or last block is used or the old head fails. xAX and xDX are kept.
; clobbers: xCX, xSI, xDI, xBP
%define RI_FIRST [xSP + 2 * WORD_BYTES]
%define RI_LEN   [xSP + WORD_BYTES]
%define RI_CLASS [xSP]
run_insert:
        lea     xBP, [xAX + xDX - 1]
        USED_BIT xAX
        jc      .refused
        bt      [xCX], xBP
        jc      .refused
        push    xAX
        push    xDX
        RUN_CLASS xDX
        push    xCX
        mov     xDI, [xBX + KH_INDEX]
        mov     eax, [xDI + IX_HEADS + xCX * 4] ; the old head
        cmp     eax, NIL
        je      .write
        call    link_header
        jc      .damaged
        cmp     dword [xSI + RUN_PREV], NIL
        jne     .damaged
        mov     xDX, RI_FIRST
        mov     [xSI + RUN_PREV], edx
        xor     edx, NIL
        xor     [xSI + RUN_CHECK], edx          ; its check word: prev NIL out, the new in
.write: mov     xDX, xAX                        ; next: the old head, or NIL
        mov     xAX, RI_FIRST
        BLOCK_ADDR xSI
        VG_EXPOSE xSI, RUN_HEADER_BYTES
        mov     [xSI + RUN_NEXT], edx
        mov     dword [xSI + RUN_PREV], NIL
        mov     xCX, RI_LEN
        mov     [xSI + RUN_LEN], ecx
        xor     edx, ecx
        xor     edx, eax
        xor     edx, RUN_SEED ^ NIL
        mov     [xSI + RUN_CHECK], edx          ; its check word, of the values written
        mov     xDX, xCX
        call    run_footer
        pop     xCX
        mov     xDI, [xBX + KH_INDEX]
        mov     [xDI + IX_HEADS + xCX * 4], eax
        mov     xDX, xCX
        shr     xDX, SL_LOG
        and     ecx, SL_COUNT - 1
        bts     dword [xDI + IX_SLMAP + xDX * 4], ecx
        bts     dword [xDI + IX_FLMAP], edx
        pop     xDX
        pop     xAX
        clc
        ret
.damaged:
        pop     xCX
        pop     xDX
        pop     xAX
.refused:
        stc
        ret
%undef RI_FIRST
%undef RI_LEN
%undef RI_CLASS

; run_put - the free run [xAX, xAX + xDX) put in its class (run_insert) when it is run_min
; blocks or more; a shorter one is not indexed (CF clear). CF and clobbers: as run_insert
run_put:
        movzx   ecx, byte [xBX + IX_RUN_MIN]
        cmp     xDX, xCX
        jae     run_insert                      ; (its ret is ours)
        clc
        ret

; top_run - xCX = the top run's first block (I3; nblocks when there is none), its word
; checked against its mirror and the pool's length. CF when either fails. clobbers: nothing
; else
top_run:
        mov     xCX, [xBX + KH_INDEX]
        push    xDX
        mov     edx, [xCX + IX_TOP_NOT]
        mov     ecx, [xCX + IX_TOP]             ; (zero-extended at x86-64)
        not     edx
        cmp     edx, ecx
        pop     xDX
        jne     .bad
        cmp     [xBX + KH_NBLOCKS], xCX         ; CF when it lies past the pool
        ret
.bad:   stc
        ret

; top_set - the top run made to start at block xAX (nblocks: none), with its mirror (I3).
; clobbers: xCX
top_set:
        mov     xCX, [xBX + KH_INDEX]
        mov     [xCX + IX_TOP], eax
        not     eax
        mov     [xCX + IX_TOP_NOT], eax
        not     eax
        ret

; top_first - top_run's work, and the first block checked to start a run: block 0, or the
; block before it used (with none, nblocks, that is the last block). out: xCX as top_run's;
; CF when a check fails. clobbers: nothing else
top_first:
        push    xDX
        mov     xDX, [xBX + KH_INDEX]
        mov     ecx, [xDX + IX_TOP]             ; (zero-extended at x86-64)
        mov     edx, [xDX + IX_TOP_NOT]
        not     edx
        cmp     edx, ecx
        jne     .bad                            ; its mirror disagrees
        cmp     [xBX + KH_NBLOCKS], xCX
        jb      .out                            ; past the pool (CF)
        test    xCX, xCX
        jz      .out                            ; block 0 (CF clear)
        lea     xDX, [xBX + USED_MAP]
        dec     xCX
        bt      [xDX], xCX
        inc     xCX                             ; (keeps CF)
        cmc                                     ; CF when the block before it is free
.out:   pop     xDX
        ret
.bad:   stc
        pop     xDX
        ret

; same_class - ZF when runs of xDX and of xDI blocks (both >= 1) share a class (run_class):
; when they agree on every bit from bit bsr(xDX | xDI) - SL_LOG up (every bit, below
; SL_COUNT). clobbers: xCX, xBP
same_class:
        mov     xBP, xDX
        or      xBP, xDI
        bsr     xCX, xBP                        ; the higher length's top bit
        sub     xCX, SL_LOG
        jae     .apart
        xor     xCX, xCX                        ; below SL_COUNT: a class per length
.apart: mov     xBP, xDX
        xor     xBP, xDI
        shr     xBP, cl
        test    xBP, xBP                        ; (shr by 0 leaves the flags)
        ret

; run_reshape - the indexed run at block xAX (whose header run_header passed: xSI), the head
; of its class, made the run [xDX, xDX + xDI) of the same class where it stands: what
; run_unlink and then run_insert of the new run would leave, written in place. The caller
; has checked that its prev is NIL, that the new length (at least run_min) keeps its class,
; and that every block of the new run is free. The class's head must name it, and when
; the run moves, the run after it (a header that passes) must name it back; then that one
; names the new first, the header is written at the new first (or its length alone, where
; the run keeps its first block), the footer at the end when longer than run_min, and the
; head follows. CF, nothing changed, when a check fails. clobbers: xAX, xCX, xDX, xSI, xDI,
; xBP
run_reshape:
        cmp     xDX, xAX
        je      .grow                           ; it keeps its first block
        push    xDX                             ; the new first
        push    xAX
        mov     xBP, xSI                        ; its header
        mov     xAX, xDI
        call    run_class                       ; (keeps xDI; the class, in xCX)
        mov     xSI, [xBX + KH_INDEX]
        pop     xAX
        cmp     eax, [xSI + IX_HEADS + xCX * 4]
        jne     .damaged                        ; the head, yet the class does not name it
        lea     xSI, [xSI + IX_HEADS + xCX * 4]
        push    xSI                             ; [xSP]: the class's head word
        mov     xDX, [xSP + WORD_BYTES]
        cmp     xDX, xAX
        je      .length                         ; it keeps its first block
        ; It moves: the run after it must name it back, then names the new first.
        mov     edx, [xBP + RUN_NEXT]
        push    xDX                             ; its next
        cmp     edx, NIL
        je      .write
        push    xAX
        mov     xAX, xDX
        call    link_header
        pop     xDX                             ; (xDX = the old first)
        jc      .damaged_next
        cmp     edx, [xSI + RUN_PREV]
        jne     .damaged_next
        mov     xCX, [xSP + 2 * WORD_BYTES]     ; the new first
        mov     [xSI + RUN_PREV], ecx
        xor     ecx, edx
        xor     [xSI + RUN_CHECK], ecx          ; its check word: the old first out, the new in
.write: mov     xAX, [xSP + 2 * WORD_BYTES]
        BLOCK_ADDR xSI
        VG_EXPOSE xSI, RUN_HEADER_BYTES
        pop     xDX
        mov     [xSI + RUN_NEXT], edx
        mov     dword [xSI + RUN_PREV], NIL
        jmp     .seal
.length:
        mov     xSI, xBP
.seal:  mov     xAX, [xSP + WORD_BYTES]
        mov     xDX, xDI
        call    run_close
        pop     xSI
        mov     [xSI], eax                      ; the class's head: the new first
        pop     xDX
        clc
        ret
.damaged_next:
        pop     xDX
        pop     xSI
        pop     xDX
        stc
        ret
.damaged:
        pop     xDX
        stc
        ret
        ; Where it keeps its first block, its links and the head word stay: run_length's
        ; work, once the class's head is seen to name it.
.grow:  push    xSI
        push    xAX
        mov     xAX, xDI
        call    run_class                       ; (keeps xDI)
        mov     xDX, [xBX + KH_INDEX]
        pop     xAX
        pop     xSI
        cmp     eax, [xDX + IX_HEADS + xCX * 4]
        je      run_length                      ; (its ret is ours)
        stc                                     ; the head, yet the class does not name it
        ret

; run_length - the indexed run at block xAX (header xSI, checked) given the length xDI where
; it stands in its list: its length, its check word (the old one with the old length out
; and the new in) and, longer than run_min, its footer. Its links and its class's head and
; bits stay, so the caller has checked that the new length keeps its class and that every
; block of it is free. CF clear. clobbers: xCX, xDX
run_length:
        mov     ecx, [xSI + RUN_LEN]
        xor     ecx, edi
        xor     [xSI + RUN_CHECK], ecx
        mov     [xSI + RUN_LEN], edi
        mov     xDX, xDI
        jmp     run_footer                      ; (its ret is ours)

; next_run - the first free run at or after block xAX: xAX = its first block (nblocks when
; there is none), xDX = its end (the next used block, or nblocks). clobbers: xCX, xSI, xDI, xBP
next_run:
        mov     xDX, [xBX + KH_NBLOCKS]
        mov     xSI, ALL_ONES
        xor     xDI, xDI
        call    scan                            ; the next free block
        mov     xDX, xAX
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     .done
        push    xAX
        mov     xDX, [xBX + KH_NBLOCKS]
        xor     xSI, xSI
        call    scan                            ; the next used one
        mov     xDX, xAX
        pop     xAX
.done:  ret

; run_unlink - the indexed run at block xAX (whose header run_header passed: xSI, length
; xDX) taken out of its class. Its neighbours are checked first: the run before it (a
; header that passes, naming it next) or, when it has none, its class's head naming it;
; the run after it, a header that passes naming it back. Then they are linked to each other
; and re-sealed, and the class's head and bits kept. CF, nothing changed, when a check
; fails. xAX is kept. clobbers: xCX, xDX, xSI, xDI
%define RU_FIRST [xSP + 3 * WORD_BYTES]
%define RU_PREV  [xSP + 2 * WORD_BYTES]
%define RU_NEXT  [xSP + WORD_BYTES]
%define RU_CLASS [xSP]                           ; its class, when it heads it
run_unlink:
        push    xAX
        mov     ecx, [xSI + RUN_PREV]
        push    xCX
        mov     ecx, [xSI + RUN_NEXT]
        push    xCX
        push    0
        mov     xAX, RU_PREV
        cmp     eax, NIL
        jne     .prev
        RUN_CLASS xDX
        mov     RU_CLASS, xCX
        mov     xDI, [xBX + KH_INDEX]
        mov     eax, [xDI + IX_HEADS + xCX * 4]
        cmp     eax, RU_FIRST
        jne     .damaged                        ; no run before it, yet not the head
        jmp     .next
.prev:  call    link_header
        jc      .damaged
        mov     eax, [xSI + RUN_NEXT]
        cmp     eax, RU_FIRST
        jne     .damaged
.next:  mov     xAX, RU_NEXT
        cmp     eax, NIL
        je      .relink
        call    link_header
        jc      .damaged
        mov     eax, [xSI + RUN_PREV]
        cmp     eax, RU_FIRST
        jne     .damaged
        ; Checked both ways: the next names the prev, the prev the next. Each check word
        ; changes by its one link's old value out and new value in.
        mov     eax, RU_PREV
        mov     [xSI + RUN_PREV], eax
        xor     eax, RU_FIRST
        xor     [xSI + RUN_CHECK], eax
.relink:
        mov     xAX, RU_PREV
        cmp     eax, NIL
        je      .head
        BLOCK_ADDR xSI
        mov     edx, RU_NEXT
        mov     [xSI + RUN_NEXT], edx
        xor     edx, RU_FIRST
        xor     [xSI + RUN_CHECK], edx
        jmp     .done
.head:  mov     xCX, RU_CLASS                   ; the next heads the class
        mov     xDI, [xBX + KH_INDEX]
        mov     eax, RU_NEXT
        mov     [xDI + IX_HEADS + xCX * 4], eax
        cmp     eax, NIL
        jne     .done
        mov     xDX, xCX                        ; the class is empty: its bit, and its
        shr     xDX, SL_LOG                     ; first level's when that is empty too
        and     ecx, SL_COUNT - 1
        btr     dword [xDI + IX_SLMAP + xDX * 4], ecx
        cmp     dword [xDI + IX_SLMAP + xDX * 4], 0
        jne     .done
        btr     dword [xDI + IX_FLMAP], edx
.done:  add     xSP, 3 * WORD_BYTES
        pop     xAX
        clc
        ret
.damaged:
        add     xSP, 3 * WORD_BYTES
        pop     xAX
        stc
        ret
%undef RU_FIRST
%undef RU_PREV
%undef RU_NEXT
%undef RU_CLASS

; free_start - xAX = the lowest block s >= xDX with [s, b) all free, b = xAX (xDX <= b), read
; from the used bitmap downward a word at a time. clobbers: xCX, xSI, xBP
free_start:
        cmp     xAX, xDX
        jbe     .floor
        lea     xSI, [xBX + USED_MAP]
        lea     xCX, [xAX - 1]
        mov     xBP, xCX
        shr     xBP, WORD_SHIFT                 ; the word of block b - 1
        xor     ecx, WORD_BITS - 1              ; mod WORD_BITS: the bits above b - 1, to drop
        mov     xAX, [xSI + xBP * WORD_SCALE]
        shl     xAX, cl
        shr     xAX, cl
.test:  test    xAX, xAX
        jnz     .found
        mov     xAX, xBP
        shl     xAX, WORD_SHIFT                 ; this word's first block: all free from it
        cmp     xAX, xDX
        jbe     .floor
        dec     xBP
        mov     xAX, [xSI + xBP * WORD_SCALE]
        jmp     .test
.found: bsr     xAX, xAX
        shl     xBP, WORD_SHIFT
        lea     xAX, [xAX + xBP + 1]            ; one past the highest used block
        cmp     xAX, xDX
        jae     .done
.floor: mov     xAX, xDX
.done:  ret

; run_after - the free run that starts at block xAX (free, and block xAX - 1 used or xAX 0):
; xDX = its length. Shorter than run_min, it is measured on the used bitmap (at most run_min
; bits); else through its header (run_ended, xSI), whose length must end it where the bitmap
; does (its last block free, the next used or the pool's end). CF when that fails.
; xAX is kept. clobbers: xCX, xSI, xDI, xBP
run_after:
        movzx   ecx, byte [xBX + IX_RUN_MIN]
        cmp     ecx, 1
        jbe     run_ended                       ; a free block is a run of run_min already
        push    xAX
        lea     xDX, [xAX + xCX]
        cmp     xDX, [xBX + KH_NBLOCKS]
        jbe     .limit
        mov     xDX, [xBX + KH_NBLOCKS]
.limit: push    xDX
        xor     xSI, xSI
        xor     xDI, xDI
        call    scan                            ; the next used block, run_min blocks on
        pop     xDX
        cmp     xAX, xDX
        pop     xDX                             ; (xDX = the old xAX)
        xchg    xAX, xDX
        jae     .long                           ; (flags of the cmp: no used block before)
        sub     xDX, xAX                        ; a short run: its length
        clc
        ret
.long:  movzx   ecx, byte [xBX + IX_RUN_MIN]
        mov     xDI, xAX
        add     xDI, xCX
        cmp     xDI, [xBX + KH_NBLOCKS]
        jbe     run_ended                       ; run_min blocks or more: its header
        mov     xDX, [xBX + KH_NBLOCKS]         ; the pool ends within run_min: short
        sub     xDX, xAX
        clc
        ret

; run_ended - run_header for the run said to start at block xAX, and its length checked to
; end it where the used bitmap does: its last block free, the block after it used or the
; pool's end. out: xSI = its header, xDX = its length; CF when a check fails. xAX is kept.
; clobbers: xCX, xDI, xBP
run_ended:
        call    run_header
        jc      .out
        lea     xDI, [xAX + xDX]                ; its end (within the pool: run_header)
        lea     xBP, [xDI - 1]
        USED_BIT xBP
        jc      .bad                            ; its last block is used
        cmp     xDI, [xBX + KH_NBLOCKS]
        je      .end
        bt      [xCX], xDI
        jnc     .bad                            ; the block after it is free: not its end
.end:   clc
.out:   ret
.bad:   stc
        ret

; run_before - the free run that ends at block xAX - 1 (free; xAX > 0): xAX = its first
; block, xDX = its length, and when that is run_min or more xSI = its header (run_header
; passed). A run longer than run_min is found through its footer, checked: its header
; passes with the length that ends it there, and the block before it is used (or it is
; block 0). When that fails, up to run_min + 1 blocks are measured on the used bitmap, and a
; run longer than that must pass the footer's check. CF when a check fails.
; clobbers: xCX, xDI, xBP
run_before:
        push    xAX                             ; b
        ; The common case first, in a pool of run_min 1 (blocks of 16 bytes or more): block
        ; b - 2 free too, so a run longer than run_min, named by its footer, checked as
        ; below; anything else is measured from the bitmap (a shorter run has no footer).
        cmp     byte [xBX + IX_RUN_MIN], 1
        jne     .scan
        mov     xDX, xAX
        sub     xDX, 2                          ; the highest first block such a run has
        jb      .scan
        USED_BIT xDX
        jc      .scan                           ; a run of one block
        BLOCK_ADDR xDI
        mov     eax, [xDI - 4]                  ; block b - 1's last dword
        cmp     xAX, xDX
        ja      .scan                           ; not such a run's footer
        call    run_header
        jc      .scan
        lea     xDI, [xAX + xDX]
        cmp     xDI, [xSP]
        jne     .scan                           ; its length does not end it at b
        test    xAX, xAX
        jz      .done
        lea     xDI, [xAX - 1]
        USED_BIT xDI
        jc      .done                           ; the block before it is used: that run
.scan:  mov     xAX, [xSP]
        movzx   ecx, byte [xBX + IX_RUN_MIN]
        inc     xCX
        xor     xDX, xDX
        cmp     xAX, xCX
        jbe     .floor
        mov     xDX, xAX
        sub     xDX, xCX                        ; floor: run_min + 1 blocks back
.floor: push    xDX
        call    free_start
        pop     xDX
        cmp     xAX, xDX
        ja      .measured                       ; a used block within reach: measured
        test    xDX, xDX
        jz      .measured                       ; the pool's start within reach
        mov     xAX, [xSP]
        BLOCK_ADDR xDI
        mov     eax, [xDI - 4]                  ; the footer, in block b - 1's last dword
        cmp     xAX, xDX
        ja      .bad                            ; it must lie at or below the floor
        call    run_header
        jc      .bad
        lea     xDI, [xAX + xDX]
        cmp     xDI, [xSP]
        jne     .bad                            ; its length must end it at b
        test    xAX, xAX
        jz      .done
        lea     xDI, [xAX - 1]
        USED_BIT xDI
        jnc     .bad                            ; the block before it must be used
.done:  pop     xCX
        clc
        ret
.measured:
        mov     xDX, [xSP]
        sub     xDX, xAX                        ; its length
        movzx   ecx, byte [xBX + IX_RUN_MIN]
        cmp     xDX, xCX
        jb      .done                           ; shorter than run_min: not indexed
        push    xDX
        call    run_header                      ; indexed: its header, of this length
        pop     xDI
        jc      .bad
        cmp     xDX, xDI
        je      .done
.bad:   pop     xCX
        stc
        ret

; index_take - before [xAX, xDX) is marked used (all free, by the caller's check): the free
; run around it (its first block found on the used bitmap, its length by run_after) taken
; out of its class when indexed, and what is left of it on either side, when run_min blocks
; or more, put back (the part before first, then the part after); in the top run (I3), the
; part before put back and the top run made to start at xDX; when the range is the
; front of its class's head and the rest keeps that class, the rest takes the run's place
; instead (run_reshape: the same index, fewer headers read and written). CF when a header or
; link fails its check (the index is then to be made anew). clobbers: xAX, xCX, xDX, xSI,
; xDI, xBP
%define IT_FIRST [xSP + 2 * WORD_BYTES]
%define IT_END   [xSP + WORD_BYTES]
%define IT_RUN   [xSP]
index_take:
        push    xAX
        push    xDX
        test    xAX, xAX
        jz      .first                          ; block 0 starts its run
        lea     xDI, [xAX - 1]
        USED_BIT xDI
        jc      .first                          ; so does a block after a used one
        xor     xDX, xDX
        call    free_start                      ; else the run's first block, further down
.first: push    xAX
        call    top_run
        jc      .out
        cmp     xCX, xAX
        je      .top                            ; the top run: no header
        call    run_after
        jc      .out
        add     xDX, xAX                        ; the run's end
        cmp     xDX, IT_END
        jb      .bad                            ; it must hold the range
        sub     xDX, xAX
        movzx   ecx, byte [xBX + IX_RUN_MIN]
        cmp     xDX, xCX
        jb      .ok                             ; not indexed, nor are its parts
        ; The range at the front of its class's head, the rest (run_min or more) keeping
        ; the class: the rest takes the run's place (run_reshape), as the cut would leave it.
        cmp     xAX, IT_FIRST
        jne     .cut
        cmp     dword [xSI + RUN_PREV], NIL
        jne     .cut
        mov     xDI, xAX
        add     xDI, xDX
        sub     xDI, IT_END                     ; the rest
        cmp     xDI, SL_COUNT
        jb      .cut                            ; shorter than SL_COUNT: a class of its own
        call    same_class
        jne     .cut
        mov     xDX, IT_END
        call    run_reshape
        jmp     .out
.cut:   push    xDX
        call    run_unlink
        pop     xDX
        jc      .out
        add     xDX, xAX
        mov     IT_RUN, xDX                     ; (its first block is not needed again)
        mov     xDX, IT_FIRST
        sub     xDX, xAX                        ; before the range
        call    run_put
        jc      .out
        mov     xAX, IT_END
        mov     xDX, IT_RUN
        sub     xDX, xAX                        ; after the range
        call    run_put
        jmp     .out
        ; The top run holds it (I3: it reaches the pool's end): the part before the range
        ; put in its class, the top run made to start past it.
.top:   mov     xDX, IT_FIRST
        sub     xDX, xAX                        ; before the range
        call    run_put
        jc      .out
        mov     xAX, IT_END
        call    top_set
.ok:    clc
.out:   lea     xSP, [xSP + 3 * WORD_BYTES]     ; (lea: the flags stay)
        ret
.bad:   stc
        jmp     .out
%undef IT_FIRST
%undef IT_END
%undef IT_RUN

; take_head - index_find's and index_take's work for the common fill, in one pass: xAX
; blocks at a multiple of xDX blocks by address, from the head of the first class from
; fit_class(xAX) up whose head holds such a fit, at that head's first aligned block. That is
; index_find's answer: with xDX 1, step 1's (every run of the class holds xAX blocks); with
; xDX above 1, step 0's (it tries those heads in the same order, below fit_class(xAX + xDX -
; 1)) or step 1's (the first head from there up, which always holds one); with no head
; from there up, step 2's, the top run's (top_take). Each head tried is
; checked once with its ends on the used bitmap (run_ended, and the block before it used or
; block 0), and the placement free on the bitmap (range_free); then what index_take would do:
; - the placement at the run's first block: when the rest keeps the run's class (SL_COUNT
;   blocks or more), the rest made the class's head where it stands (run_reshape), else the
;   run out of its class (run_unlink) and the rest put in its own (run_put);
; - further in: the rest before it kept where it stands when it keeps the class (run_reshape,
;   the same state as the run out and it in), else the run out and it put in its own; then
;   the rest after it put in its own.
; out: xAX = the first block, out of the index (kh_take claims it: its used bits and summary, no index_take). CF with
; xAX = ALL_ONES when it declined, nothing changed (no head holds a fit, or a header or its
; ends failed: index_find and index_take decide then, and report it); CF with xAX = 0 when a
; link failed its check on the way (the index is to be made anew, as after index_take's CF).
; clobbers: xCX, xDX, xSI, xDI, xBP
%define TH_COUNT [xSP + 2 * WORD_BYTES]
%define TH_REST  [xSP + WORD_BYTES]
%define TH_CLASS [xSP]
take_head:
        ; Step 2 at once (top_take's ret and flags are ours; when it declines, index_find
        ; searches the classes too) when no class holds a run of xAX blocks: none holds a run
        ; (a fresh pool's fill), or xAX is at least 2^(fl + SL_LOG), past every run of the
        ; highest first level fl that holds one (run_class).
        mov     xCX, [xBX + KH_INDEX]
        bsr     ecx, dword [xCX + IX_FLMAP]
        jz      top_take
        add     ecx, SL_LOG
        mov     xSI, xAX
        shr     xSI, cl
        jnz     top_take
        push    xAX
        push    xDX                             ; (TH_REST holds the alignment till .rest)
        push    0
        call    fit_class
.class: call    index_search                    ; xAX = the head, xCX its class
        jc      .declined
        cmp     eax, NIL
        je      .top                            ; no head from here up: the top run's turn
        mov     TH_CLASS, xCX
        call    run_ended                       ; xSI = its header, xDX = its length
        jc      .declined
        cmp     dword [xSI + RUN_PREV], NIL
        jne     .declined                       ; a head has none before it
        test    xAX, xAX
        jz      .aligned
        lea     xDI, [xAX - 1]
        USED_BIT xDI
        jnc     .declined                       ; the block before it is free
.aligned:
        cmp     WORD_PTR TH_REST, 1
        jbe     .rest
        push    xAX
        push    xDX
        mov     xDX, [xSP + 3 * WORD_BYTES]     ; (TH_REST, two words pushed)
        call    aligned_from
        pop     xDX
        pop     xDI
        jc      .declined
        cmp     xAX, xDI
        jne     .inside                         ; index_find cuts it further in
.rest:  mov     xDI, xDX
        sub     xDI, TH_COUNT                   ; what is left after the placement
        jb      .declined
        mov     TH_REST, xDI
        push    xDX
        mov     xDX, [xSP + 3 * WORD_BYTES]     ; (TH_COUNT, a word pushed)
        add     xDX, xAX                        ; the placement's end: the rest's first block
        push    xAX
        push    xSI
        call    range_free                      ; (keeps xDX and xDI)
        pop     xSI
        pop     xAX
        pop     xBP                             ; (xBP = the run's length)
        jne     .declined                       ; a block of the placement is used
        cmp     xDI, SL_COUNT
        jb      .cut                            ; a class of its own
        push    xDX
        push    xBP
        mov     xDX, xBP
        call    same_class                      ; (xDX, xDI: the run's and the rest's lengths)
        pop     xBP
        pop     xDX
        jne     .cut
        push    xAX
        call    run_reshape                     ; the rest takes the run's place
        pop     xAX
        jc      .damaged
        jmp     .taken
.cut:   mov     xDX, xBP
        call    run_unlink                      ; (keeps xAX)
        jc      .damaged
        push    xAX
        add     xAX, [xSP + 3 * WORD_BYTES]     ; (TH_COUNT, a word pushed)
        mov     xDX, [xSP + 2 * WORD_BYTES]     ; (TH_REST)
        call    run_put                         ; the rest, in its own class
        pop     xAX
        jc      .damaged
.taken: add     xSP, 3 * WORD_BYTES             ; (add: CF clear)
        ret
        ; The head's first aligned block xAX is past its first block xDI (xDX: its length,
        ; xSI its header): index_find's answer when the placement ends inside the run, and
        ; index_take then cuts the run in three, what is left on either side back in.
.inside:
        mov     xCX, xAX
        add     xCX, TH_COUNT                   ; the placement's end
        lea     xBP, [xDI + xDX]                ; the run's end
        sub     xBP, xCX
        jb      .next                           ; no aligned fit: step 0 goes on past it
        mov     TH_REST, xBP                    ; the rest after the placement
        push    xSI
        push    xAX
        mov     xDX, xCX
        call    range_free                      ; (keeps xDX and xDI)
        pop     xAX
        pop     xSI
        jne     .declined                       ; a block of the placement is used
        add     xDX, TH_REST
        sub     xDX, xDI                        ; the run's length again
        push    xAX                             ; [xSP]: the placement's first block
        mov     xAX, xDI
        neg     xDI
        add     xDI, [xSP]                      ; the rest before it
        cmp     xDI, SL_COUNT
        jb      .front                          ; a class of its own
        call    same_class                      ; (xDX, xDI: the run's and that rest's lengths)
        jne     .front
        mov     xDX, xAX
        call    run_reshape                     ; it keeps the run's place, and its first block
        jmp     .back                           ; (as the run out, then it in, would leave it)
.front: call    run_unlink                      ; (keeps xAX)
        jc      .back
        mov     xDX, [xSP]
        sub     xDX, xAX
        call    run_put                         ; the rest before, in its own class
.back:  pop     xAX
        jc      .damaged
        push    xAX
        add     xAX, [xSP + 3 * WORD_BYTES]     ; (TH_COUNT, a word pushed)
        mov     xDX, [xSP + 2 * WORD_BYTES]     ; (TH_REST)
        call    run_put                         ; then the rest after, in its own
        pop     xAX
        jc      .damaged
        jmp     .taken
.next:  mov     xCX, TH_CLASS                   ; the next class's head, as step 0 tries it
        inc     xCX                             ; (every head at or above fit_class(count +
        jmp     .class                          ;  align - 1) holds an aligned fit: step 1's)
.top:   mov     xAX, TH_COUNT                   ; index_find's step 2, as it takes it
        mov     xDX, TH_REST                    ; (the alignment)
        add     xSP, 3 * WORD_BYTES
        jmp     top_take                        ; (its ret and flags are ours)
.declined:
        add     xSP, 3 * WORD_BYTES
        mov     xAX, ALL_ONES
        stc
        ret
.damaged:
        add     xSP, 3 * WORD_BYTES
        xor     xAX, xAX
        stc
        ret
%undef TH_COUNT
%undef TH_REST
%undef TH_CLASS

; top_take - take_head's answer when no class's head holds the fit: xAX blocks at a multiple
; of xDX blocks by address from the top run (I3), at its first aligned block (index_find's
; step 2). The top run is checked (top_first), the placement must lie inside the pool and
; be free on the bitmap (range_free); what lies before it is put in its class (run_put) and
; the top run starts past it. out: xAX = the first block, out of the index (kh_take claims
; it); CF with xAX = ALL_ONES when it declined, nothing changed; CF with xAX = 0 when run_put
; failed (the index is to be made anew). clobbers: xCX, xDX, xSI, xDI, xBP
%define TT_COUNT [xSP + WORD_BYTES]
%define TT_TOP   [xSP]
top_take:
        push    xAX
        call    top_first
        jc      .refused
        push    xCX
        mov     xAX, xCX
        cmp     xDX, 1
        jbe     .aligned                        ; (aligned_from's answer then, without a call)
        call    aligned_from                    ; the placement's first block
        jc      .declined
.aligned:
        mov     xDX, [xBX + KH_NBLOCKS]
        sub     xDX, xAX
        jb      .declined                       ; past the pool's end (none: top = nblocks)
        cmp     xDX, TT_COUNT
        jb      .declined                       ; too short
        mov     xDI, xAX
        mov     xDX, TT_COUNT
        add     xDX, xAX                        ; the placement's end: the new top run
        call    range_free                      ; (keeps xDX and xDI)
        jne     .declined                       ; a block of the placement is used
        mov     TT_COUNT, xDX
        mov     xAX, TT_TOP
        mov     TT_TOP, xDI
        mov     xDX, xDI
        sub     xDX, xAX                        ; the blocks before it
        jz      .moved
        call    run_put                         ; in their own class
        jc      .damaged
.moved: pop     xDI
        pop     xAX
        call    top_set                         ; the top run past the placement
        mov     xAX, xDI
        clc
        ret
.declined:
        pop     xCX
.refused:
        pop     xAX
        mov     xAX, ALL_ONES
        stc
        ret
.damaged:
        add     xSP, 2 * WORD_BYTES
        xor     xAX, xAX
        stc
        ret
%undef TT_COUNT
%undef TT_TOP

; index_give - after [xAX, xDX) is marked free: the free runs on either side (run_before,
; run_after), when indexed, taken out of their classes, and the run they make with it put in
; its class when run_min blocks or more (coalescing); where the union keeps the class of a
; run beside it that heads its class (the run before, when a used block follows the range;
; else the run after, the one before out already), that run is reshaped over the union
; where it stands instead (run_length, run_reshape). A union that reaches the pool's end is
; the top run (I3): the run before out, and the top run made to start at its first block,
; with no header. CF when a header, link or the top run fails its check.
; clobbers: xAX, xCX, xDX, xSI, xDI, xBP
%define IG_FIRST [xSP + WORD_BYTES]             ; the run's first block so far
%define IG_END   [xSP]                          ; and its end
index_give:
        push    xAX
        push    xDX
        test    xAX, xAX
        jz      .right
        lea     xDI, [xAX - 1]
        USED_BIT xDI
        jc      .right
        call    run_before                      ; the free run before it
        jc      .out
        mov     IG_FIRST, xAX
        movzx   ecx, byte [xBX + IX_RUN_MIN]
        cmp     xDX, xCX
        jb      .right
        ; An indexed head before it and a used block after: that run grows over the range
        ; where it stands when its class stays, once its class's head is seen to name it
        ; (run_length).
        cmp     xDX, SL_COUNT
        jb      .cut_before                     ; a class of its own: it changes
        cmp     dword [xSI + RUN_PREV], NIL
        jne     .cut_before
        mov     xDI, IG_END
        cmp     xDI, [xBX + KH_NBLOCKS]
        jae     .cut_before                     ; the union is the top run
        USED_BIT xDI
        jnc     .cut_before
        sub     xDI, xAX                        ; the new length
        call    same_class
        jne     .cut_before
        RUN_CLASS xDI
        mov     xDX, [xBX + KH_INDEX]
        cmp     eax, [xDX + IX_HEADS + xCX * 4]
        stc
        jne     .out                            ; the head, yet its class does not name it
        call    run_length                      ; (xSI: run_before's header)
        jmp     .out
.cut_before:
        call    run_unlink
        jc      .out
.right: mov     xAX, IG_END
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     .end                            ; the range ends the pool: no top run was
        USED_BIT xAX
        jc      .whole
        call    top_run
        jc      .out
        cmp     xCX, xAX
        je      .top                            ; the top run after it: the union's
        call    run_after                       ; the free run after it
        jc      .out
        lea     xCX, [xAX + xDX]
        mov     IG_END, xCX
        movzx   ecx, byte [xBX + IX_RUN_MIN]
        cmp     xDX, xCX
        jb      .whole
        ; An indexed head after it: that run grows back over the range (and the run before
        ; it, already out of the index) where it stands when its class stays.
        cmp     xDX, SL_COUNT
        jb      .cut_after
        cmp     dword [xSI + RUN_PREV], NIL
        jne     .cut_after
        mov     xDI, IG_END
        sub     xDI, IG_FIRST                   ; the new length
        call    same_class
        jne     .cut_after
        mov     xDX, IG_FIRST
        call    run_reshape
        jmp     .out
.cut_after:
        call    run_unlink
        jc      .out
.whole: mov     xAX, IG_FIRST
        mov     xDX, IG_END
        sub     xDX, xAX
        call    run_put
.out:   lea     xSP, [xSP + 2 * WORD_BYTES]
        ret
.end:   call    top_run
        jc      .out
        cmp     xCX, xAX
        stc
        jne     .out                            ; a top run named, yet the last block was used
.top:   mov     xAX, IG_FIRST
        call    top_set                         ; (the run before it is out already)
        clc
        jmp     .out
%undef IG_FIRST
%undef IG_END

; index_build - I3 made anew from the used bitmap: the class words and the top words zero
; and every head NIL, then (in a pool with an index) each free run of run_min blocks or more
; but the top run put in its class, lowest first, and the top run named. O(W + runs).
; clobbers: xAX, xCX, xDX, xSI, xDI, xBP
index_build:
        mov     xDI, [xBX + KH_INDEX]
        xor     eax, eax
        mov     ecx, IX_HEADS / 4
        rep stosd
        movzx   ecx, byte [xBX + IX_FLS]
        shl     ecx, SL_LOG
        mov     eax, NIL
        rep stosd
        cmp     byte [xBX + IX_RUN_MIN], 0
        je      .done                           ; no index (a debug pool)
        mov     xAX, [xBX + KH_NBLOCKS]
        call    top_set                         ; none, till a run reaches the pool's end
        xor     xAX, xAX
.run:   call    next_run
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     .done
        cmp     xDX, [xBX + KH_NBLOCKS]
        jae     top_set                         ; the top run (its ret is ours)
        push    xDX
        sub     xDX, xAX
        call    run_put                         ; (every old head it checks was written here)
        pop     xAX
        jmp     .run
.done:  ret

; aligned_from - xAX = the first block at or after block xAX whose address is a multiple of
; xDX blocks (a power of two); CF when that passes the top of memory. xDX is kept.
; clobbers: xCX, xBP
aligned_from:
        cmp     xDX, 1
        jbe     .done                           ; (CF clear after jbe taken? see below)
        mov     xCX, [xBX + KH_SHIFT]
        mov     xBP, xDX
        shl     xBP, cl
        dec     xBP                             ; the alignment's mask, in bytes
        shl     xAX, cl
        add     xAX, [xBX + KH_BASE]
        add     xAX, xBP
        jc      .out
        not     xBP
        and     xAX, xBP
        sub     xAX, [xBX + KH_BASE]
        shr     xAX, cl
.done:  clc
.out:   ret

; bitmap_fit - the lowest block q, a multiple of xDX blocks by address, with [q, q + xAX)
; free on the used bitmap (xAX >= 1): xAX = q, or ALL_ONES when none. Each free run in turn:
; its first aligned block, and whether the run holds the request from there. O(W + runs).
; clobbers: xCX, xDX, xSI, xDI, xBP
%define BF_COUNT [xSP + 2 * WORD_BYTES]
%define BF_ALIGN [xSP + WORD_BYTES]
%define BF_END   [xSP]
bitmap_fit:
        push    xAX
        push    xDX
        push    0
        xor     xAX, xAX
.run:   call    next_run
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     .none
        mov     BF_END, xDX
        mov     xDX, BF_ALIGN
        call    aligned_from
        jc      .none
        mov     xCX, xAX
        add     xCX, BF_COUNT
        cmp     xCX, BF_END
        jbe     .out                            ; the run holds it from there
        mov     xAX, BF_END
        jmp     .run
.none:  mov     xAX, ALL_ONES
.out:   add     xSP, 3 * WORD_BYTES
        ret
%undef BF_COUNT
%undef BF_ALIGN
%undef BF_END

; index_find - where xAX = n blocks at a multiple of xDX = a blocks go (I3), in order:
;   0. (a > 1) the head of each non-empty class from fit_class(n) up to, not including,
;      fit_class(n + a - 1): the first whose run holds an aligned fit, at its first aligned
;      block (a run that happens to hold one is not cut for the alignment's slack);
;   1. the head of the first non-empty class at or above fit_class(n + a - 1): every run
;      there holds n + a - 1 blocks, so an aligned fit; the answer is its first aligned block;
;   2. else the top run (I3), at its first aligned block, when an aligned fit lies in it;
;   3. else the runs of every non-empty class from run_class(n) up, in class order and list
;      order: the first holding an aligned fit, at its first aligned block;
;   4. else, when n < run_min (a run too short to be indexed may hold it), bitmap_fit.
; With xSI (heads) not zero, steps 0 to 2 only: ALL_ONES where step 3 would begin.
; out: xAX = the block, or ALL_ONES when none; CF when a class word or a run fails its check
; (then the index is to be made anew). A placement is a hint: the caller checks it against
; the used bitmap. Each run visited is counted: more than nblocks of them is a loop, damage.
; O(1) by step 2 (step 0: a head per non-empty class it passes, at most SL_COUNT a power of
; two of a); step 3 visits the runs shorter than n + a - 1 of the classes it passes.
; clobbers: xCX, xDX, xSI, xDI, xBP
%define IF_COUNT [xSP + 4 * WORD_BYTES]
%define IF_ALIGN [xSP + 3 * WORD_BYTES]
%define IF_LIMIT [xSP + 2 * WORD_BYTES]         ; fit_class(n + a - 1)
%define IF_CLASS [xSP + WORD_BYTES]
%define IF_STEPS [xSP]                          ; runs visited; heads only: not 0
index_find:
        push    xAX
        push    xDX
        push    0
        push    0
        push    xSI
        lea     xAX, [xAX + xDX - 1]
        call    fit_class
        mov     IF_LIMIT, xCX
        cmp     WORD_PTR IF_ALIGN, 1
        jbe     .wide
        mov     xAX, IF_COUNT
        call    fit_class
.head:  cmp     xCX, IF_LIMIT
        jae     .wide
        call    index_search                    ; step 0: the next non-empty class's head
        jc      .out
        cmp     eax, NIL
        je      .wide
        cmp     xCX, IF_LIMIT
        jae     .wide                           ; (that head is step 1's)
        mov     IF_CLASS, xCX
        call    run_header
        jc      .out
        call    aligned_fit
        jnc     .out                            ; it holds one
        mov     xCX, IF_CLASS
        inc     xCX
        jmp     .head
.wide:  mov     xCX, IF_LIMIT
        call    index_search                    ; step 1
        jc      .out
        cmp     eax, NIL
        je      .walk
        call    run_header
        jc      .out
        mov     xDX, IF_ALIGN
        call    aligned_from                    ; (cannot pass the run's end: it is long enough)
        jnc     .out
        jmp     .damaged
.walk:  call    top_first                       ; step 2: the top run
        jc      .out
        mov     xAX, xCX
        mov     xDX, IF_ALIGN
        call    aligned_from
        jc      .heads                          ; past the top of memory: none there
        mov     xCX, [xBX + KH_NBLOCKS]
        sub     xCX, xAX
        jb      .heads                          ; past the pool's end (or no top run)
        cmp     xCX, IF_COUNT
        jae     .out                            ; it holds one (CF clear)
.heads: cmp     WORD_PTR IF_STEPS, 0
        jne     .none                           ; heads only: no walk
        mov     xAX, IF_COUNT
        call    run_class
.class: call    index_search                    ; step 3: the next non-empty class from xCX
        jc      .out
        cmp     eax, NIL
        je      .bitmaps
        mov     IF_CLASS, xCX
.run:   inc     WORD_PTR IF_STEPS
        mov     xCX, IF_STEPS
        cmp     xCX, [xBX + KH_NBLOCKS]
        ja      .damaged
        call    run_header
        jc      .out
        call    aligned_fit
        jnc     .out
        BLOCK_ADDR xSI
        mov     eax, [xSI + RUN_NEXT]
        cmp     eax, NIL
        jne     .run
        mov     xCX, IF_CLASS
        inc     xCX
        jmp     .class
.bitmaps:
        mov     xAX, IF_COUNT
        movzx   ecx, byte [xBX + IX_RUN_MIN]
        cmp     xAX, xCX
        jae     .none
        mov     xDX, IF_ALIGN
        call    bitmap_fit
        clc
        jmp     .out
.none:  mov     xAX, ALL_ONES
        clc
        jmp     .out
.damaged:
        stc
.out:   lea     xSP, [xSP + 5 * WORD_BYTES]
        ret

; aligned_fit - index_find's test of the run at xAX, xDX blocks long (its header passed):
; xAX = its first aligned block when [that, + count) lies in it; else CF, xAX kept. It reads
; count and align from index_find's locals, above its own return address and two pushes.
; clobbers: xCX, xDX, xBP
aligned_fit:
        push    xAX
        add     xDX, xAX                        ; the run's end
        push    xDX
        mov     xDX, [xSP + 6 * WORD_BYTES]     ; IF_ALIGN
        call    aligned_from
        pop     xBP
        jc      .no
        mov     xCX, xAX
        add     xCX, [xSP + 6 * WORD_BYTES]     ; + IF_COUNT
        cmp     xCX, xBP
        ja      .no
        add     xSP, WORD_BYTES
        clc
        ret
.no:    pop     xAX
        stc
        ret
%undef IF_COUNT
%undef IF_ALIGN
%undef IF_LIMIT
%undef IF_CLASS
%undef IF_STEPS

; largest_run - xAX = the blocks of the longest free run on the used bitmap. With an index,
; the top run and the runs of the highest non-empty class, the longest of them; the bitmaps
; are measured instead when there is no index, when that is shorter than run_min (a run
; the index does not hold may be longer) or when a run, class or top word fails its check.
; clobbers: xCX, xDX, xSI, xDI, xBP
largest_run:
        cmp     byte [xBX + IX_RUN_MIN], 0
        je      .bitmaps
        call    top_first
        jc      .bitmaps
        mov     xAX, [xBX + KH_NBLOCKS]
        sub     xAX, xCX
        push    xAX                             ; the longest so far: the top run
        push    0                               ; runs visited
        mov     xDI, [xBX + KH_INDEX]
        mov     eax, [xDI + IX_FLMAP]
        test    eax, eax
        jz      .done                           ; no class holds a run
        bsr     edx, eax
        movzx   ecx, byte [xBX + IX_FLS]
        cmp     edx, ecx
        jae     .damaged
        mov     eax, [xDI + IX_SLMAP + xDX * 4]
        test    eax, eax
        jz      .damaged
        bsr     ecx, eax
        shl     edx, SL_LOG
        add     ecx, edx
        mov     eax, [xDI + IX_HEADS + xCX * 4]
.run:   cmp     eax, NIL
        je      .done
        inc     WORD_PTR [xSP]
        mov     xCX, [xSP]
        cmp     xCX, [xBX + KH_NBLOCKS]
        ja      .damaged
        call    run_header
        jc      .damaged
        cmp     xDX, [xSP + WORD_BYTES]
        jbe     .next
        mov     [xSP + WORD_BYTES], xDX
.next:  mov     eax, [xSI + RUN_NEXT]
        jmp     .run
.done:  pop     xCX
        pop     xAX
        movzx   ecx, byte [xBX + IX_RUN_MIN]
        cmp     xAX, xCX
        jb      .bitmaps                        ; a shorter run, unindexed, may be longer
        ret
.damaged:
        add     xSP, 2 * WORD_BYTES
.bitmaps:
        xor     xAX, xAX
        push    0                               ; the longest so far
.free:  call    next_run
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     .measured
        mov     xCX, xDX
        sub     xCX, xAX
        cmp     xCX, [xSP]
        jbe     .on
        mov     [xSP], xCX
.on:    mov     xAX, xDX
        jmp     .free
.measured:
        pop     xAX
        ret

; =====================================================================================
; kh_init(mem, size, shift, extra, sets) -> h or 0
; Lays out | control | used | start | cached | side table | index | caches | summary |
; in [mem, mem+size): control block word aligned, block 0 aligned to the block size, as
; many blocks as fit; the side table has `extra` bytes per block (0 but in debug pools).
; Leaves an empty pool: the bitmaps clear but for the I2 pad bits, the caches empty,
; counters zero; the side table is the C layer's to fill.
; =====================================================================================
kh_init:
        ENTER_SAVED
        HOME_ARG4                               ; sets
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
        mov     xCX, MAX_BLOCKS
        cmp     xAX, xCX
        jbe     .estimated
        mov     xAX, xCX                        ; block indices fit a dword (I3)
.estimated:

        ; The estimate leaves out the index, the alignment pad and the rounding of the
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
        mov     [xBX + KH_INDEX], xCX           ; the index follows the side table
        mov     xCX, ARG(0)
        mov     [xBX + KH_MEM_START], xCX
        SPOP    xCX
        mov     [xBX + KH_MEM_END], xCX
        call    cache_classes
        mov     [xBX + KH_CLASSES], xCX
        call    index_bytes
        SPUSH   xCX                             ; the index's bytes
        mov     xDX, [xBX + KH_INDEX]
        add     xDX, xCX
        mov     [xBX + KH_CACHE], xDX           ; the quick caches follow the index
        mov     xAX, ARG(4)
        mov     [xBX + CACHE_SETS], al
        mov     xAX, [xBX + KH_CLASSES]
        SET_BYTES xAX
        imul    xAX, ARG(4)                     ; every set
        add     xAX, xDX
        mov     [xBX + KH_SUMMARY], xAX         ; the boundary summary follows them
        ; I3's shape: fls from the index's bytes; run_min the blocks of a header (0 with a
        ; side table: a debug pool keeps no index, its free blocks hold the poison).
        SPOP    xAX
        sub     xAX, IX_HEADS
        shr     xAX, SL_LOG + 2
        mov     [xBX + IX_FLS], al
        xor     xAX, xAX
        cmp     WORD_PTR ARG(3), 0
        jne     .shape
        mov     xCX, ARG(2)
        mov     xAX, RUN_HEADER_BYTES
        shr     xAX, cl
        jnz     .shape
        inc     xAX                             ; blocks of 16 bytes or more: one
.shape: mov     [xBX + IX_RUN_MIN], al

        ; The three bitmaps cleared: no block is used (I1) or cached (I5); the caches
        ; empty, every slot zero.
        mov     xDI, [xBX + KH_CACHE]
        mov     xCX, [xBX + KH_CLASSES]
        SET_BYTES xCX
        imul    xCX, ARG(4)
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
        lea     xDI, [xBX + USED_MAP]
        mov     xSI, ALL_ONES
        call    fill                            ; [nblocks, nwords*WORD_BITS)

        ; I3: the index, from the bitmaps: the whole pool one free run.
        call    index_build

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
; kh_take(h, count, align, heads) -> first block (+ flags), or NO_BLOCK (+ flags)
; An allocation of `count` blocks at a multiple of `align` blocks (a power of two, by
; address) placed and claimed: where index_find says (I3; with heads not 0, its steps 0 to
; 2 alone: a head per class and the top run, however many runs the pool holds), its hint
; checked against the used bitmap ([q, q + count) all free), or in a pool without an index
; the lowest aligned fit (bitmap_fit). Then used and start bits as kh_mark and kh_claim set
; them, the index and the summary kept (change_range). When the index fails a check it is
; made anew from the bitmaps (INDEX_DAMAGED added to the result) and the search runs again;
; should it fail again, the bitmaps decide alone. SUMMARY_DAMAGED is added when the summary
; was made anew. NO_BLOCK: no placement exists; nothing changed but a rebuilt index or
; summary. The caller has checked count >= 1 and count <= free blocks.
; =====================================================================================
kh_take:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        mov     xDX, ARG(2)
        mov     xSI, ARG(3)
        call    take
        LEAVE_SAVED

; take - kh_take's work without its frame, for it and the entries' fills (FILL_TAKE). in:
; xBX = h, xAX = count, xDX = align, xSI = heads. out: xAX as kh_take's result.
; clobbers: xCX, xDX, xSI, xDI, xBP
%define TK_FLAGS [xSP + PUSHED * WORD_BYTES]    ; what was made anew
%define TK_COUNT [xSP + (PUSHED + 1) * WORD_BYTES]
%define TK_ALIGN [xSP + (PUSHED + 2) * WORD_BYTES]
%define TK_HEADS [xSP + (PUSHED + 3) * WORD_BYTES]
take:
        push    xSI
        push    xDX
        push    xAX
        push    0
  %assign PUSHED 0
        cmp     byte [xBX + IX_RUN_MIN], 0
        je      .bitmaps
.index: mov     xAX, TK_COUNT
        mov     xDX, TK_ALIGN
        call    take_head                       ; the common fill, in one pass
        jnc     .taken
        test    xAX, xAX
        jz      .damaged                        ; a link failed on the way
.find:  mov     xAX, TK_COUNT
        mov     xDX, TK_ALIGN
        mov     xSI, TK_HEADS
        call    index_find
        jc      .damaged
        cmp     xAX, ALL_ONES
        je      .none
        mov     xDX, xAX                        ; the hint, checked: all its blocks free
        add     xDX, TK_COUNT
        jc      .damaged
        cmp     xDX, [xBX + KH_NBLOCKS]
        ja      .damaged
        mov     xDI, xAX
        call    range_free
        mov     xAX, xDI
        je      .claim
.damaged:
        AT_DEPTH 0
        mov     xCX, INDEX_DAMAGED
        test    TK_FLAGS, xCX
        jnz     .bitmaps                        ; made anew and failed again
        or      TK_FLAGS, xCX
        call    index_build
        jmp     .index
.bitmaps:
        mov     xAX, TK_COUNT
        mov     xDX, TK_ALIGN
        call    bitmap_fit
        cmp     xAX, ALL_ONES
        je      .none
.claim: SPUSH   xAX
        START_BIT bts                           ; (I5: the start bit before the used bits)
        mov     xDX, TK_COUNT
        mov     xSI, ALL_ONES
        mov     xDI, 1                          ; (a start)
        call    change_range                    ; (as kh_claim)
        jmp     .claimed
        ; take_head took it out of the index: change_range's work past index_take, the
        ; start bit, the used bits and the summary over them. Inside one word (xCX its
        ; first bit), a mask; that word held a free block and holds a start now, a boundary
        ; word before and after (I6): the summary stays.
        AT_DEPTH 0
.taken: SPUSH   xAX
        mov     xDX, TK_COUNT
        mov     xCX, xAX
        and     ecx, WORD_BITS - 1
        lea     xSI, [xCX + xDX]
        cmp     xSI, WORD_BITS
        ja      .words
        shr     xAX, WORD_SHIFT                 ; first's word
        mov     xSI, [xBX + KH_START]
        bts     [xSI + xAX * WORD_SCALE], xCX
        RANGE_MASK
        lea     xSI, [xBX + USED_MAP]
        or      [xSI + xAX * WORD_SCALE], xBP
        xor     xAX, xAX                        ; nothing made anew
        jmp     .claimed
.words: START_BIT bts
        add     xDX, xAX
        mov     xSI, ALL_ONES
        lea     xDI, [xBX + USED_MAP]
        FILL_RANGE set                          ; the used bits (keeps xDX, xSI)
        mov     xAX, [xSP]
        mov     xDI, 1                          ; (a start)
        call    summary_range
.claimed:
        or      TK_FLAGS, xAX
        SPOP    xAX
        or      xAX, TK_FLAGS
        jmp     .out
.none:  mov     xAX, NO_BLOCK
        or      xAX, TK_FLAGS
.out:   CHECK_DEPTH
        add     xSP, 4 * WORD_BYTES
        ret
%undef TK_FLAGS
%undef TK_COUNT
%undef TK_ALIGN
%undef TK_HEADS

; =====================================================================================
; kh_claim(h, first, count) / kh_mark(h, first, count) -> 0, or SUMMARY_DAMAGED and
; INDEX_DAMAGED for what was made anew
; Sets used over [first, first+count); kh_claim also sets start[first] (I1). The index (I3:
; the run around the range out of its class, what is left of it on either side back in) and
; the summary (I6) kept. The caller has checked the range is free and inside the pool.
; =====================================================================================
kh_claim:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        START_BIT bts
        mov     xDI, 1                          ; (first is a start)
        jmp     mark_range

kh_mark:
        ENTER_SAVED
        mov     xBX, ARG(0)
        xor     xDI, xDI
mark_range:                                     ; shared tail: ENTER_SAVED done, xBX = h
        mov     xSI, ALL_ONES
        jmp     change_tail

; =====================================================================================
; kh_release(h, first, count) / kh_unmark(h, first, count) -> 0, or the flags as kh_mark
; Clears used over [first, first+count); kh_release also clears start[first]. The free run
; they join is coalesced in the index (I3), and the summary kept.
; =====================================================================================
kh_release:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        mov     xDX, ARG(2)
        call    release
        LEAVE_SAVED

; release - kh_release's work without its frame, for it and the entries' frees
; (FREE_RELEASE): the live allocation [xAX, xAX + xDX) freed, its used bits cleared first,
; then its start bit, so that a reader without the lock (lf_length) never sees a used block
; without its start. Inside one word, through one mask, the index told (index_give, made
; anew when it fails), the summary left as it is: the word held that start before and a
; free block after, a boundary word both times (I6); else change_range. out: xAX = 0, or
; SUMMARY_DAMAGED and INDEX_DAMAGED for what was made anew. clobbers: xCX, xDX, xSI, xDI,
; xBP
release:
        push    xAX
        lea     xCX, [xAX + xDX - 1]
        xor     xCX, xAX
        shr     xCX, WORD_SHIFT
        jnz     .range                          ; over several words
        mov     xCX, xAX                        ; (its bit: RANGE_MASK's shift takes it
        mov     xSI, xAX                        ;  mod WORD_BITS)
        shr     xSI, WORD_SHIFT                 ; its word
        RANGE_MASK
        not     xBP
        lea     xDI, [xBX + USED_MAP]
        and     [xDI + xSI * WORD_SCALE], xBP
        push    0                               ; what was made anew
        cmp     byte [xBX + IX_RUN_MIN], 0
        je      .start                          ; no index
        add     xDX, xAX
        call    index_give
        jnc     .start
        call    index_build
        mov     xCX, INDEX_DAMAGED
        mov     [xSP], xCX
        jmp     .start
.range: xor     xSI, xSI
        mov     xDI, 1                          ; (first is a start)
        call    change_range
        push    xAX
.start: mov     xAX, [xSP + WORD_BYTES]
        START_BIT btr
        pop     xAX
        add     xSP, WORD_BYTES
        ret

kh_unmark:
        ENTER_SAVED
        mov     xBX, ARG(0)
        xor     xDI, xDI
unmark_range:                                   ; shared tail: ENTER_SAVED done, xBX = h
        xor     xSI, xSI
change_tail:                                    ; shared tail: [first, first + count) to xSI
        mov     xAX, ARG(1)
        mov     xDX, ARG(2)
        call    change_range
        LEAVE_SAVED

; change_range - the used bits of [xAX, xAX + xDX) set (xSI = ALL_ONES) or cleared (xSI = 0),
; with the index (I3: index_take before a set, index_give after a clear; made anew when
; either fails a check) and the summary (I6) over them. xDI = 1 when block xAX starts the
; allocation claimed or freed (its start bit set or cleared with it: kh_claim, kh_release),
; else 0.
; out: xAX = 0, or SUMMARY_DAMAGED and INDEX_DAMAGED for what was made anew.
; clobbers: xCX, xDX, xSI, xDI, xBP
%define CR_FIRST   [xSP + 4 * WORD_BYTES]       ; change_range's locals: the range
%define CR_END     [xSP + 3 * WORD_BYTES]
%define CR_PATTERN [xSP + 2 * WORD_BYTES]       ; the pattern
%define CR_STARTS  [xSP + WORD_BYTES]           ; whether first is a start
%define CR_FLAGS   [xSP]                        ; and what was made anew
change_range:
        add     xDX, xAX
        push    xAX
        push    xDX
        push    xSI
        push    xDI
        push    0
        cmp     byte [xBX + IX_RUN_MIN], 0
        je      .bits                           ; no index
        test    xSI, xSI
        jz      .bits
        call    index_take
        jnc     .bits
        mov     xCX, INDEX_DAMAGED
        mov     CR_FLAGS, xCX
.bits:  mov     xAX, CR_FIRST
        mov     xDX, CR_END
        mov     xSI, CR_PATTERN
        lea     xDI, [xBX + USED_MAP]
        lea     xCX, [xDX - 1]
        xor     xCX, xAX
        shr     xCX, WORD_SHIFT
        jnz     .words                          ; over several words: fill
        mov     xCX, xAX                        ; inside one: fill's mask, in place
        shr     xAX, WORD_SHIFT
        lea     xDI, [xDI + xAX * WORD_SCALE]
        mov     xBP, ALL_ONES
        shl     xBP, cl                         ; from first's bit ..
        mov     ecx, edx
        neg     ecx                             ; (mod WORD_BITS: the bits at or past end)
        shl     xBP, cl
        shr     xBP, cl                         ; .. to end's
        APPLY_MASK any
        jmp     .given
.words: call    fill
.given: cmp     byte [xBX + IX_RUN_MIN], 0
        je      .index
        cmp     WORD_PTR CR_PATTERN, 0
        jne     .index
        mov     xAX, CR_FIRST
        mov     xDX, CR_END
        call    index_give
        jnc     .index
        mov     xCX, INDEX_DAMAGED
        mov     CR_FLAGS, xCX
.index: cmp     WORD_PTR CR_FLAGS, 0
        je      .summary
        call    index_build
.summary:
        mov     xAX, CR_FIRST
        mov     xDX, CR_END
        mov     xSI, CR_PATTERN
        mov     xDI, CR_STARTS
        call    summary_range
        or      xAX, CR_FLAGS
        add     xSP, 5 * WORD_BYTES
        ret
%undef CR_FIRST
%undef CR_END
%undef CR_PATTERN
%undef CR_STARTS
%undef CR_FLAGS

; =====================================================================================
; kh_index_build(h): I3 made anew from the used bitmap. O(W + runs).
; kh_largest_run(h) -> blocks of the longest free run (cached allocations count as used).
;   O(runs of the highest class), O(W) without an index or when it fails a check. Reads only.
; kh_run_start(h, b) -> the first block of the free run ending just before block b (b when
;   b is 0 or block b - 1 is used): through the run's footer (I3), or the top word for the
;   top run, checked; else, or in a pool without an index, the used bitmap read downward.
;   Reads only.
; kh_run_end(h, x) -> one past the free run starting at block x (x when it is used; x
;   < nblocks): through the run's header, or the top word, when x starts a run, checked;
;   else the bitmap.
; =====================================================================================
kh_index_build:
        ENTER_SAVED
        mov     xBX, ARG(0)
        call    index_build
        LEAVE_SAVED

kh_largest_run:
        ENTER_SAVED
        mov     xBX, ARG(0)
        call    largest_run
        LEAVE_SAVED

kh_run_start:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        test    xAX, xAX
        jz      .out
        lea     xDI, [xAX - 1]
        USED_BIT xDI
        jc      .out
        cmp     byte [xBX + IX_RUN_MIN], 0
        je      .bitmap
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     .top                            ; the run before the pool's end: the top run
        call    run_before
        jnc     .out
        mov     xAX, ARG(1)
.bitmap:
        xor     xDX, xDX
        call    free_start
.out:   LEAVE_SAVED
.top:   call    top_first
        jc      .bitmap
        mov     xAX, xCX
        cmp     xAX, [xBX + KH_NBLOCKS]
        jb      .out
        mov     xAX, ARG(1)                     ; none named, yet the last block is free
        jmp     .bitmap

kh_run_end:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, ARG(1)
        USED_BIT xAX
        jc      .out
        cmp     byte [xBX + IX_RUN_MIN], 0
        je      .bitmap
        test    xAX, xAX
        jz      .header
        lea     xDI, [xAX - 1]
        USED_BIT xDI
        jnc     .bitmap                         ; inside a run: no header to read
.header:
        call    top_run
        jc      .bitmap
        cmp     xCX, xAX
        je      .top                            ; the top run: to the pool's end
        call    run_after
        jc      .bitmap
        add     xAX, xDX
        jmp     .out
.top:   mov     xAX, [xBX + KH_NBLOCKS]
        jmp     .out
.bitmap:
        mov     xAX, ARG(1)
        mov     xDX, [xBX + KH_NBLOCKS]
        xor     xSI, xSI
        xor     xDI, xDI
        call    scan
.out:   LEAVE_SAVED

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
; all alike, through their level-1 bits at once (summary_bits). xDI = 1 when block xAX is an
; allocation start before or after (claimed or released with its start bit): its word is
; then a boundary word both before (free blocks, or that start) and after, and is left as
; it is. When a damaged word is met, the summary is made anew from the bitmaps and
; xAX = SUMMARY_DAMAGED, else 0.
; clobbers: xAX, xCX, xDX, xSI, xDI, xBP
summary_range:
        test    xDI, xDI
        jnz     .rest                           ; first a start: its word stays as it is
        push    xAX
        push    xDX
        push    xSI
        shr     xAX, WORD_SHIFT
        call    summary_one                     ; the first word
        pop     xSI                             ; (pop keeps the flags)
        pop     xDX
        pop     xAX
        jc      .damaged
.rest:  mov     xCX, xDX                        ; xCX = the end block
        shr     xAX, WORD_SHIFT                 ; xAX = the first word
        lea     xDI, [xDX - 1]
        shr     xDI, WORD_SHIFT                 ; xDI = the last word
        cmp     xAX, xDI
        je      .clean                          ; one word: done already
        ; The last word, covered in part, keeps a block past the range: when that block is
        ; free or a start, the word is a boundary word before and after, left as it is.
        test    ecx, WORD_BITS - 1
        jz      .last                           ; covered whole
        lea     xBP, [xBX + USED_MAP]
        mov     xBP, [xBP + xDI * WORD_SCALE]
        not     xBP
        mov     xDX, [xBX + KH_START]
        or      xBP, [xDX + xDI * WORD_SCALE]
        bt      xBP, xCX                        ; (the end's bit: modulo WORD_BITS)
        jc      .between
.last:  push    xAX
        push    xDI
        push    xSI
        mov     xAX, xDI
        call    summary_one                     ; the last word
        pop     xSI
        pop     xDI
        pop     xAX
        jc      .damaged
.between:                                       ; the words between, all alike
        inc     xAX
        dec     xDI
        cmp     xAX, xDI
        ja      .clean                          ; none
        mov     xDX, xDI
        call    summary_bits
        jc      .damaged
.clean: xor     xAX, xAX
        ret
.damaged:
        call    summary_build
        xor     xAX, xAX
        bts     xAX, WORD_BITS - 1              ; SUMMARY_DAMAGED
        ret

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
        mov     xCX, xAX
        xor     xCX, xDX
        shr     xCX, WORD_SHIFT
        jnz     .words                          ; over several level-1 words
        mov     xCX, xAX                        ; one holds them all: its bits at once
        mov     xDI, ALL_ONES
        shl     xDI, cl                         ; the mask: from xAX's bit ..
        mov     xAX, xDX
        jmp     summary_mask                    ; .. to xDX's (its ret is ours)
.words: push    xSI
        push    xDX
        push    xAX
.word:  mov     xAX, SB_NEXT
        mov     xCX, xAX
        mov     xDI, ALL_ONES
        shl     xDI, cl                         ; the mask: from xAX's bit up ..
        or      xAX, WORD_BITS - 1              ; .. to the end of its level-1 word,
        cmp     xAX, SB_LAST
        jbe     .ends
        mov     xAX, SB_LAST                    ; .. or to the last word
.ends:  lea     xCX, [xAX + 1]
        mov     SB_NEXT, xCX
        mov     xSI, SB_PATTERN
        call    summary_mask
        jc      .damaged
        mov     xAX, SB_NEXT
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

; summary_mask - summary_bits' work on one level-1 word: the bits of the words from those
; in mask xDI up to word xAX (of the same level-1 word) set (xSI = 0: they are boundary
; words) or cleared, the word checked against its mirror first and written with it; when it
; turns zero or not zero, on up (summary_up). out: CF set when a word failed its mirror.
; clobbers: xAX, xCX, xDX, xSI, xDI, xBP
summary_mask:
        mov     xCX, xAX
        not     xCX                             ; cl mod WORD_BITS = bits above xAX's in its
        mov     xBP, ALL_ONES                   ; word
        shr     xBP, cl
        and     xDI, xBP                        ; the mask, to xAX's bit
        shr     xAX, WORD_SHIFT                 ; xAX = the level-1 word
        mov     xDX, xAX
        shl     xDX, WORD_BYTES_LOG2 + 1
        add     xDX, [xBX + KH_SUMMARY]         ; xDX -> it
        mov     xCX, xDI
        mov     xDI, [xDX]
        MIRROR_CHECK .damaged
        mov     xBP, xDI                        ; xBP = the word before
        test    xSI, xSI
        jz      .set                            ; free words: boundary words
        not     xCX
        and     xDI, xCX
        cmp     xDI, xBP
        je      .done                           ; unchanged
        STORE_MIRRORED
        test    xDI, xDI                        ; bits cleared: it turned zero iff it is
        jnz     .done                           ; zero now
        jmp     .turned
.set:   or      xDI, xCX
        cmp     xDI, xBP
        je      .done                           ; unchanged
        STORE_MIRRORED
        test    xBP, xBP                        ; bits set: it turned not zero iff it was
        jnz     .done                           ; zero before
.turned:
        mov     xBP, [xBX + KH_NWORDS]
        add     xBP, WORD_BITS - 1
        shr     xBP, WORD_SHIFT                 ; words of level 1
        cmp     xBP, 1
        je      .done                           ; level 1 is the top
        mov     xSI, xBP
        shl     xSI, WORD_BYTES_LOG2 + 1
        add     xSI, [xBX + KH_SUMMARY]         ; level 2
        jmp     summary_up                      ; (its ret and flags are ours)
.done:  clc
        ret
.damaged:
        stc
        ret

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
        mov     xCX, xAX                        ; xCX mod WORD_BITS = the bit of the entry
        shr     xAX, WORD_SHIFT                 ; below; xAX = this level's word
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

; LIVE_START invalid, double, interior - live_start's work, expanded in it and in
; FREE_HIT. in: xBX = h, xAX = ptr. out: falls through with xAX = its block and xBP = the
; blocks after it in its word that are free or start an allocation (I1, as BOUNDARY_AFTER:
; bit k is block + k; 0 and ZF when none); a jump to invalid (outside the block area or off a
; block boundary), double (a free block, or a start whose cached bit is set: freed already,
; held in a quick cache, I5) or interior (used, not a start). clobbers: xCX, xDX, xSI, xDI
%macro LIVE_START 3
        ; In the block area and block aligned, in one test: the offset rotated right by
        ; shift is the block when its low bits are 0, and a number of at least
        ; 2^(WORD_BITS - shift) (more than any pool's blocks) when one is not; below the
        ; base, the offset wraps to at least nblocks blocks (the pool ends in memory).
        sub     xAX, [xBX + KH_BASE]
        mov     xCX, [xBX + KH_SHIFT]
        ror     xAX, cl
        cmp     xAX, [xBX + KH_NBLOCKS]
        jae     %1
        ; Used, a start and not cached (I1, I5), read from its words (the bt on a register
        ; and the shifts take the block's bit in its word from xCX = the block, mod
        ; WORD_BITS).
        mov     xDX, xAX
        shr     xDX, WORD_SHIFT
        mov     xCX, xAX
        lea     xSI, [xBX + USED_MAP]
        mov     xBP, [xSI + xDX * WORD_SCALE]
        bt      xBP, xCX
        jnc     %2
        mov     xSI, [xBX + KH_START]
        mov     xDI, [xSI + xDX * WORD_SCALE]
        bt      xDI, xCX
        jnc     %3
        mov     xSI, [xBX + KH_CACHED]
        bt      [xSI], xAX                      ; (a bit string, as CACHED_BIT)
        jc      %2
        not     xBP                             ; where an allocation here ends: ~used | start
        or      xBP, xDI
        shr     xBP, cl
        and     xBP, ~1                         ; (ZF: none in its word)
%endmacro

; live_start - kh_block_of's work, shared with kh_cpu_free: LIVE_START, with xAX = its
; block, or KHEAP_EINVAL, KHEAP_EDOUBLE, KHEAP_EINTERIOR for its three ways out.
live_start:
        LIVE_START .invalid, .double, .interior
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
; kh_cache_take(h, count, cpu) -> block, CACHE_EMPTY or CACHE_DAMAGED
; Pops the newest entry of class count-1 of CPU `cpu`'s quick-cache set (I5). The entry is trusted only after its check:
; inside the pool, its cached bit set, and by the bitmaps an allocation of exactly `count`
; blocks (I1: the next block that is free or a start is first+count). A failed entry is
; dropped and reported (CACHE_DAMAGED), so damaged caches cannot hand out a block twice, a
; live block or a run of the wrong length. On success the cached bit is cleared: the
; allocation is live again, its used and start bits were never cleared.
; =====================================================================================
kh_cache_take:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xAX, CACHE_EMPTY
        CPU_SET xDX, ARG(2), .done              ; no set (a damaged count): none trusted
        mov     xDI, ARG(1)
        call    cache_top
        cmp     xAX, CACHE_EMPTY
        je      .done
        CACHE_POP                               ; popped, whatever the entry turned out to be
        test    xAX, xAX
        js      .done                           ; CACHE_DAMAGED: dropped
        CACHED_CLEAR shared                     ; the entry: live again (any pool)
.done:  LEAVE_SAVED

; CACHE_TOP empty, damaged - cache_top's work, expanded in it and in ALLOC_HIT: the newest
; entry of the quick cache of xDI blocks (I5), checked, not popped: inside the pool with
; all its blocks, its cached bit set, and by the bitmaps an allocation of exactly xDI blocks
; (I1: the next block that is free or a start is first + count). in: xBX = h, xDI = count,
; xDX = a set's base. out: falls through with xAX = the entry's block, xDX = the class and
; xDI = count when it passed; a jump to damaged (xDX the class, xDI count) when it failed,
; to empty when the class is empty, out of range or its count damaged (no entry trusted).
; clobbers: xCX, xSI, xBP
%macro CACHE_TOP 2
        CLASS_OF %1, xDX, xDX, xDI, xCX         ; xDX -> the class: count, entries
        mov     ecx, [xDX]
        dec     ecx                             ; (zero-extended at x86-64: 0 wraps high)
        cmp     xCX, CACHE_DEPTH
        jae     %1                              ; empty (or a damaged count: none trusted)
        mov     eax, [xDX + CACHE_SLOT + xCX * CACHE_SLOT]
        ; It lies in the pool with all its blocks: first < nblocks, count <= nblocks - first.
        mov     xCX, [xBX + KH_NBLOCKS]
        cmp     xAX, xCX
        jae     %2
        sub     xCX, xAX
        cmp     xDI, xCX
        ja      %2
        ; It is cached (I5): its cached bit is set.
        WORD_OF_BLOCK
        mov     xBP, [xBX + KH_CACHED]
        bt      [xBP], xAX                      ; (a bit string, as CACHED_BIT)
        jnc     %2
        ; Its length by the bitmaps (I1) is `count`: in its own word, or measured further.
        BOUNDARY_AFTER
        jnz     %%word
        call    length_is
        jne     %2
        jmp     %%done
%%word: bsf     xBP, xBP                        ; the length
        cmp     xBP, xDI
        jne     %2                              ; it ends early, or runs on
%%done:
%endmacro

; cache_top - CACHE_TOP as a routine, for kh_cache_take and kh_cpu_alloc. out: xAX = the
; entry's block when it passed, CACHE_DAMAGED when it failed, CACHE_EMPTY for CACHE_TOP's
; empty; xDX = the class but for CACHE_EMPTY; xDI = count. clobbers: xCX, xSI, xBP
cache_top:
        CACHE_TOP .empty, .damaged
        ret
.damaged:
        mov     xAX, CACHE_DAMAGED
        ret
.empty: mov     xAX, CACHE_EMPTY
        ret

; length_is - ZF when the allocation at block xAX is exactly xDI blocks long (I1), measured
; past its first word, which holds no boundary after it: each word after it, up to the one
; its end lies in, is read in turn; the words before that one must hold no boundary, and
; in that one the first boundary must be its end (none, or a word past the pool: the end is
; the pool's, I2). An end before the next word must be the pool's end. O(count / WORD_BITS).
; in: xBX = h, xAX = first, xDI = count (first + count <= nblocks).
; clobbers: xCX, xSI, xBP; keeps xAX, xDX, xDI
length_is:
        push    xDX
        mov     xCX, xAX
        or      xCX, WORD_BITS - 1
        inc     xCX                             ; the next word's first block
        lea     xDX, [xAX + xDI]
        sub     xDX, xCX                        ; the end's bit from it
        jae     .word
        cmp     xCX, [xBX + KH_NBLOCKS]         ; its end before that word: right only where
        jae     .pool                           ; the pool ends in this word, there (I2); else
        jmp     .out                            ; it runs on past count (ZF clear: below)
.word:  cmp     xCX, [xBX + KH_NBLOCKS]
        jae     .pool                           ; past the pool: it ends the pool (I2)
        mov     xSI, xCX
        shr     xSI, WORD_SHIFT - WORD_BYTES_LOG2 ; (xCX a multiple of WORD_BITS): its offset
        BOUNDARY_WORD
        cmp     xDX, WORD_BITS
        jb      .last
        test    xBP, xBP
        jnz     .out                            ; a boundary before its end (ZF clear)
        add     xCX, WORD_BITS
        sub     xDX, WORD_BITS
        jmp     .word
.last:  bsf     xBP, xBP
        jz      .pool
        cmp     xBP, xDX                        ; its first boundary: its end
.out:   pop     xDX
        ret
.pool:  lea     xBP, [xAX + xDI]
        cmp     xBP, [xBX + KH_NBLOCKS]         ; none in the word: the pool's end (I2)
        pop     xDX
        ret

; =====================================================================================
; kh_cache_put(h, first, count, cpu) -> 1 (held in CPU `cpu`'s quick-cache set) or 0
; (nothing changed). `first` is a live allocation start of `count` blocks (kh_block_of and
; kh_alloc_blocks said so). When class count-1 of that set has room, `first` is pushed on it and its cached bit set (I5); its used and start bits stay, so neither the
; index nor the bitmaps change.
; =====================================================================================
kh_cache_put:
        ENTER_SAVED
        mov     xBX, ARG(0)
        xor     xAX, xAX
        CPU_SET xSI, ARG(3), .done              ; no set (a damaged count)
        mov     xBP, ARG(2)
        mov     xDX, ARG(1)
        call    cache_push
.done:  LEAVE_SAVED

; bounded_after - the length of the allocation starting at block xAX (I1: up to the next
; block that is free or a start, or the pool end), looked for over at most xDX + 1 blocks,
; so O(xDX / WORD_BITS) words: xAX = the length when it is at most xDX, else a larger
; number. in: xBX = h, xAX = first (< nblocks), xDX = most (< nblocks - first when not
; capped below), xBP = first's boundary bits as BOUNDARY_AFTER leaves them (LIVE_START's;
; 0 when first's word holds none). clobbers: xCX, xDX, xSI, xDI, xBP
bounded_after:
        ; The common case: the boundary lies in first's own word, past first.
        test    xBP, xBP
        jz      .scan                           ; none in this word: look further
        bsf     xBP, xBP
        add     xBP, xAX                        ; the boundary
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
.limit: ; The next common case: the boundary lies in the next word (an allocation that
        ; crosses one word's end), read here as scan would; past it, scan.
        shr     xAX, WORD_SHIFT
        inc     xAX                             ; the next word ..
        mov     xSI, xAX
        shl     xAX, WORD_SHIFT                 ; .. and its first block
        cmp     xAX, xDX
        jae     .end                            ; at or past the limit: none before it
        shl     xSI, WORD_BYTES_LOG2
        BOUNDARY_WORD
        bsf     xBP, xBP
        jz      .far
        add     xAX, xBP                        ; the boundary
        cmp     xAX, xDX
        jbe     .found
.end:   mov     xAX, xDX                        ; none before the limit: the limit
.found: pop     xCX
        sub     xAX, xCX
        ret
.far:   add     xAX, WORD_BITS                  ; none in the next word either: the words on
        cmp     xAX, xDX
        jae     .end
        mov     xSI, ALL_ONES
        mov     xDI, ALL_ONES
        call    scan
        jmp     .found

; CACHE_PUSH full - cache_push's work, expanded in it and in FREE_HIT. in: xBX = h, xBP =
; count, xDX = first (a live start of count blocks), xSI = a set's base (cache_set). out:
; falls through when it was pushed on class count-1 of that set and its cached bit set (I5);
; a jump to full, nothing changed, when that class is out of range or full. who: as
; CACHED_BIT's. clobbers: xAX, xCX, xSI
%macro CACHE_PUSH 2
        CLASS_OF %1, xAX, xSI, xBP, xAX         ; xAX -> the class
        mov     ecx, [xAX]
        cmp     xCX, CACHE_DEPTH
        jae     %1                              ; full (or a damaged count: left alone)
        mov     [xAX + CACHE_SLOT + xCX * CACHE_SLOT], edx
        inc     ecx
        mov     [xAX], ecx
        CACHED_BIT bts, xDX, %2
%endmacro

; cache_push - CACHE_PUSH as a routine, for kh_cache_put: xAX = 1 when pushed, 0 when not.
cache_push:
        CACHE_PUSH .full, shared                ; (the C layer's, any pool)
        mov     xAX, 1
        ret
.full:  xor     xAX, xAX
        ret

; =====================================================================================
; kh_fast_alloc(h, size, cpu) -> the address of size bytes from a quick cache, FAST_MISS or 0
; The whole of the common allocation, in one call: h a usable handle (HANDLE_OK), the
; allocation of n = ceil(size / block) blocks (at most free_blocks, as the C layer asks)
; popped from its class in CPU `cpu`'s quick-cache set after cache_top's check, its cached bit cleared, and the
; counters kept as the C layer keeps them for a cache hit (I4). FAST_MISS (1, never an
; address) when h is usable, not a debug pool and n within free_blocks, but its class holds
; nothing (or there is none): the C layer goes straight to the search. 0 when the handle is
; not usable, size is 0, n is over free_blocks, h is a debug pool or has a set per CPU
; (kh_cpu_alloc's), or the entry fails its check: the C layer's full path decides (and
; reports). Nothing changed but on a hit. O(1).
; =====================================================================================
; ALLOC_HIT empty, none, cpu - kh_fast_alloc's work, expanded in it and in kheap_alloc and
; kh_heap_alloc. in: xBX = h (not yet checked), xSI = size; cpu names the CPU: xDX, or 0
; for the entries (CPU 0's set then costs no test). out: on a hit, falls through with xAX =
; the address; a jump to empty when h is usable and n within free_blocks but its class
; holds nothing (or there is none: MISS_OK then says whether the fill may follow), to none
; where kh_fast_alloc returns 0 (nothing changed). clobbers: xCX, xDX, xSI, xDI, xBP
%macro ALLOC_HIT 3
        HANDLE_OK %2
        cmp     byte [xBX + CACHE_SETS], 1
        ja      %2                              ; a set per CPU: kh_cpu_alloc, or the C layer
        mov     xDI, xSI
        sub     xDI, 1
        jc      %2                              ; size 0: the C layer's rule
        mov     xCX, [xBX + KH_SHIFT]
        shr     xDI, cl
        inc     xDI                             ; xDI = n, without overflow
        cmp     xDI, [xBX + KH_FREE_BLOCKS]
        ja      %2
        CPU_SET xDX, %3, %2                     ; no set (a damaged count): the C layer's
        CACHE_TOP %1, %2                        ; damaged: the full path drops and reports it
        CACHE_POP
        CACHED_CLEAR owned                      ; (one set: tested above)
        sub     [xBX + KH_CACHED_BLOCKS], xDI   ; (I4: out of the caches, then as a fill)
        COUNT_USED
        BLOCK_ADDRESS
%endmacro

; COUNT_USED - I4: the counters of an allocation of xDI blocks, as kernel/kheap.c keeps them
; (count_used, and the live and total counts). Clobbers xDX.
%macro COUNT_USED 0
        sub     [xBX + KH_FREE_BLOCKS], xDI
        inc     WORD_PTR [xBX + KH_LIVE_ALLOCS]
        inc     WORD_PTR [xBX + KH_TOTAL_ALLOCS]
        mov     xDX, [xBX + KH_NBLOCKS]
        sub     xDX, [xBX + KH_FREE_BLOCKS]     ; blocks in use now
        cmp     xDX, [xBX + KH_PEAK_BLOCKS]
        jbe     %%kept
        mov     [xBX + KH_PEAK_BLOCKS], xDX
%%kept:
%endmacro

; BLOCK_ADDRESS - xAX = the address of block xAX. Clobbers xCX.
%macro BLOCK_ADDRESS 0
        mov     xCX, [xBX + KH_SHIFT]
        shl     xAX, cl
        add     xAX, [xBX + KH_BASE]
%endmacro

; MISS_OK none - after ALLOC_HIT's empty: a jump to none unless the fill may follow, that
; is unless the whole geometry holds (the fill reads the rest of the control block) and
; the pool is plain (a debug pool caches nothing, classes 0, and is the C layer's).
; clobbers: xAX
%macro MISS_OK 1
        GEOMETRY_OK %1
        test    WORD_PTR [xBX + KH_FLAGS], KHEAP_F_DEBUG
        jnz     %1
%endmacro

kh_fast_alloc:
        ENTER_SAVED
        mov     xBX, ARG(0)
        mov     xSI, ARG(1)
        mov     xDX, ARG(2)
        ALLOC_HIT .empty, .none, xDX
        LEAVE_SAVED
.empty: MISS_OK .none
        mov     xAX, FAST_MISS                  ; a plain pool with nothing cached for n
        LEAVE_SAVED
.none:  xor     xAX, xAX
        LEAVE_SAVED

; =====================================================================================
; kh_fast_free(h, ptr, cpu) -> blocks freed (+ SUMMARY_DAMAGED), or 0 (nothing changed)
; The whole of a free of a plain pool, in one call: h a usable handle, not a debug pool, ptr
; a live allocation start (in the block area, block aligned, used, a start, not cached).
; Into its class in CPU `cpu`'s quick-cache set (its cached bit set, I5, as kh_cache_put)
; when its length is at most `classes` and its class has room; else into the bitmaps, as
; kh_release (its length through the summary, I6), + SUMMARY_DAMAGED / INDEX_DAMAGED for
; what it met there (made anew). The counters are kept as the C layer keeps them for a free
; (I4). Anything else (a bad handle or pointer, a debug pool, a pool with a set per CPU,
; whose frees claim their cached bit first: kh_cpu_free, the C layer) returns 0 for the C
; layer's full path, which validates and reports. O(1) into a cache, else kh_release's cost.
; =====================================================================================
; FREE_HIT release, declined, set - kh_fast_free's work into a cache, expanded in it and in
; kheap_free and kh_heap_free. in: xBX = h, a usable handle (HANDLE_OK), xSI = ptr; set: 0 for
; CPU 0's quick-cache set, else an operand holding the base of the set to use. out: pushed
; on its class, falls through with xAX = its length; a jump to release with xDX = its
; block and xBP its length (or LENGTH_UNKNOWN when it is longer than `classes` and was not
; measured) when it is a live start that no class takes (FREE_RELEASE's work), to declined
; where kh_fast_free returns 0 (nothing changed). clobbers: xCX, xDX, xSI, xDI, xBP
%macro FREE_HIT 3
        cmp     byte [xBX + CACHE_SETS], 1
        ja      %2                              ; a set per CPU: kh_cpu_free, or the C layer
        ; A live start: as kh_block_of, any failure is the full path's to report.
        mov     xAX, xSI
        LIVE_START %2, %2, %2
        ; Its length (I1), when it is at most `classes` (a longer one is not cached; a debug
        ; pool has none: its frees all go on to the release's flag test): in its own word
        ; from live_start's boundary bits, else measured further.
        jz      %%long                          ; (LIVE_START's ZF: none in its word)
        bsf     xBP, xBP                        ; the length
        lea     xCX, [xAX + xBP]                ; the boundary ..
        cmp     xCX, [xBX + KH_NBLOCKS]
        jbe     %%length                        ; .. in the pool (past it: a damaged pad bit,
        xor     xBP, xBP                        ;  and the words past it are measured)
%%long: mov     xCX, xAX                        ; none in its word: the next word's first
        or      xCX, WORD_BITS - 1              ; boundary
        inc     xCX                             ; (its first block)
        WORD_BOUNDARY %%far, %%beyond
        jmp     %%length
%%beyond:                                       ; none there either:
  %if CACHE_CLASSES > WORD_BITS                 ; (i386) the word after it, likewise
        add     xCX, WORD_BITS
        WORD_BOUNDARY %%far, %%past
        jmp     %%length
%%past:
  %endif
  %if CACHE_CLASSES <= 2 * WORD_BITS            ; none in its word after it nor in the words
        lea     xBP, [xCX + WORD_BITS]          ; read after it: when the last lies in the pool
        cmp     xBP, [xBX + KH_NBLOCKS]         ; whole, the allocation holds more than their
        ja      %%far                           ; WORD_BITS each, past every class (`classes`
        mov     xBP, LENGTH_UNKNOWN             ; is at most CACHE_CLASSES): not measured here
        jmp     %%length                        ; (else it may end at the pool's end, there)
  %endif
%%far:  xor     xBP, xBP                        ; (first's word holds none, as bounded_after
        push    xAX                             ;  takes it)
        mov     xDX, [xBX + KH_CLASSES]
        call    bounded_after
        mov     xBP, xAX
        pop     xAX
        cmp     xBP, [xBX + KH_CLASSES]
        jbe     %%length                        ; measured: at most classes
        mov     xBP, LENGTH_UNKNOWN             ; (past them, bounded_after's is a bound)
%%length:                                       ; xBP = the length, or LENGTH_UNKNOWN
        mov     xDX, xAX                        ; xDX = the block
  %ifidn %3, 0
        mov     xSI, [xBX + KH_CACHE]
  %else
        mov     xSI, %3
  %endif
        CACHE_PUSH %1, owned                    ; as kh_cache_put (one set: tested above)
        mov     xAX, xBP
        add     [xBX + KH_CACHED_BLOCKS], xAX
        COUNT_FREED
%endmacro

; FREE_RELEASE released, declined - after FREE_HIT's release (xDX = the block, xBP its
; length or LENGTH_UNKNOWN): into the bitmaps, as kh_release (its whole length: that one,
; or through the summary, I6, when unknown; its used bits, index
; and summary, then its start bit), the whole geometry checked first (the summary and the
; index are read from here on) and a debug pool left to the C layer. out: a jump to
; released with xAX = kh_fast_free's result (the length, with the flags of what was met),
; to declined with nothing changed. clobbers: xCX, xDX, xSI, xDI, xBP
%macro FREE_RELEASE 2
        GEOMETRY_OK %2
        test    WORD_PTR [xBX + KH_FLAGS], KHEAP_F_DEBUG
        jnz     %2                              ; guards and poison: the C layer's
        mov     xAX, xBP
        cmp     xBP, LENGTH_UNKNOWN
        jne     %%known                         ; FREE_HIT measured it on the bitmaps
        push    xDX
        mov     xAX, xDX
        call    alloc_length
        pop     xDX
%%known:
        push    xAX                             ; the result (with SUMMARY_DAMAGED, if so)
        btr     xAX, WORD_BITS - 1              ; the length
        COUNT_FREED                             ; (the release below always completes)
        xchg    xAX, xDX                        ; xAX = the block, xDX = the length
        call    release                         ; (as kh_release)
        pop     xCX
        or      xAX, xCX                        ; the result, with what was made anew there
        jmp     %1
%endmacro

; COUNT_FREED - I4: the counters of a free of xAX blocks (count_freed in kernel/kheap.c).
%macro COUNT_FREED 0
        add     [xBX + KH_FREE_BLOCKS], xAX
        dec     WORD_PTR [xBX + KH_LIVE_ALLOCS]
        inc     WORD_PTR [xBX + KH_TOTAL_FREES]
%endmacro

kh_fast_free:
        ENTER_SAVED
        mov     xBX, ARG(0)
        HANDLE_OK .none
        CPU_SET xSI, ARG(2), .none              ; (the CPU's slot holds its set from here on)
        mov     ARG(2), xSI
        mov     xSI, ARG(1)
        FREE_HIT .release, .none, ARG(2)
        LEAVE_SAVED
.release:
        FREE_RELEASE .done, .none
.done:  LEAVE_SAVED
.none:  xor     xAX, xAX
        LEAVE_SAVED

; =====================================================================================
; kheap_alloc(h, size), kh_heap_alloc(h, size, caller) -> an address
; kheap_alloc, and kmalloc, when no hook is set (no CPU, lock or failure countdown): the cache
; hit of kh_fast_alloc on CPU 0 (h is kmalloc's first region for kh_heap_alloc), returned
; here; where kh_fast_alloc says FAST_MISS, the fill of kernel/kheap.c's fill_alloc, here
; too (kh_take, the counters; kh_take_report called when it met damage); else the result of
; kh_alloc_full / kh_heap_alloc_full (kernel/kheap.c) with the same arguments and the caller
; (kheap_alloc's: its return address). So the common call crosses no C (kmalloc: once, on
; the way in).
; kheap_alloc_aligned(h, size, align) -> an address
; The same with no hook set, for the fills at an alignment past a block (ALIGNED_ENTRY);
; else the result of kh_alloc_aligned_full (kernel/kheap.c) with the same arguments.
; kheap_free(h, ptr), kh_heap_free(h, ptr, caller) -> 0
; kheap_free and kfree likewise (no CPU or lock hook): kh_fast_free's free on CPU 0,
; returning 0, or kh_free_report(h, r, caller)'s result when it met damage (r: its result,
; with the flags), or kh_free_full's / kh_heap_free_full's when it declined (kheap_free's
; NULL among them: kh_free_full returns 0 for it; kfree passes none).
; =====================================================================================
; FILL_TAKE none, align - an entry's fill (fill_alloc's work in kernel/kheap.c): kh_take's
; placement of the n blocks (xDI) at a multiple of align blocks (1, or xCX), claimed and
; counted, its address returned (ENTRY_LEAVE); any damage it met reported through
; kh_take_report, a call into the C layer; no placement: a jump to none (the full path,
; which flushes the caches and tries again). in: xBX = h, whose whole geometry holds and
; which is a plain pool (MISS_OK). clobbers: everything the entry may
%macro FILL_TAKE 2
        SPUSH   xDI                             ; n
        mov     xAX, xDI
        mov     xDX, %2
        xor     xSI, xSI                        ; (not heads alone)
        call    take
        mov     xCX, xAX
        shr     xCX, WORD_BITS - 2              ; SUMMARY_DAMAGED or INDEX_DAMAGED
        jnz     %%report
%%took: SPOP    xDI
        mov     xCX, NO_BLOCK                   ; (at x86-64, past an immediate's reach)
        cmp     xAX, xCX
        je      %1
        COUNT_USED
        BLOCK_ADDRESS
        ENTRY_LEAVE
%%report:
  AT_DEPTH 1                                    ; (n is pushed here)
        ENTRY_CALL kh_take_report               ; -> the result without its flags
        jmp     %%took
  AT_DEPTH 0
%endmacro

%macro ALLOC_ENTRY 2                            ; the full path, where the caller is
        ENTRY_ENTER %2
        ALLOC_HIT %%empty, %%full, 0            ; CPU 0: no CPU hook is set
        ENTRY_LEAVE
%%empty:
        MISS_OK %%full
        FILL_TAKE %%full, 1
%%full: ENTRY_LEAVE_TO %1
%endmacro

; ALIGNED_ENTRY full - kheap_alloc_aligned with no hook set: on a usable plain pool with one
; quick-cache set, for align a power of two of two blocks or more and a size of 1 to
; free_blocks blocks, the fill at that alignment (a quick cache serves no such request);
; anything else, or no placement, goes to the full path full(h, size, align) by a tail call
; (its own return address is then our caller's), which decides, counts and reports.
%macro ALIGNED_ENTRY 1
        ENTRY_ENTER CALLER_RETURN
        ENTRY_KEEP3
        HANDLE_OK %%full
        cmp     byte [xBX + CACHE_SETS], 1
        ja      %%full                          ; a set per CPU: the C layer's
        MISS_OK %%full
        mov     xAX, ENTRY_ARG3
        lea     xDX, [xAX - 1]
        test    xAX, xDX
        jnz     %%full                          ; not a power of two: the C layer's failure
        mov     xCX, [xBX + KH_SHIFT]
        shr     xAX, cl                         ; the alignment in blocks
        cmp     xAX, 2
        jb      %%full                          ; 0, or a block at most: as kheap_alloc
        mov     xDI, xSI
        sub     xDI, 1
        jc      %%full                          ; size 0: the C layer's rule
        shr     xDI, cl
        inc     xDI                             ; xDI = n, without overflow
        cmp     xDI, [xBX + KH_FREE_BLOCKS]
        ja      %%full
        mov     xCX, xAX
        FILL_TAKE %%full, xCX
%%full: ENTRY_LEAVE3_TO %1
%endmacro

%macro FREE_ENTRY 2                             ; the target when it declines, the caller
        ENTRY_ENTER %2
        HANDLE_OK %%full                        ; (kheap_free's NULL: not a live start, so
        FREE_HIT %%release, %%full, 0
        xor     xAX, xAX                        ; into a cache: nothing met
        ENTRY_LEAVE
%%release:
        FREE_RELEASE %%released, %%full
%%released:
        mov     xCX, xAX
        shr     xCX, WORD_BITS - 2              ; SUMMARY_DAMAGED or INDEX_DAMAGED
        jnz     %%report
        xor     xAX, xAX
        ENTRY_LEAVE
%%report:
        mov     ENTRY_ARG1, xAX
        ENTRY_LEAVE_TO kh_free_report
%%full: ENTRY_LEAVE_TO %1                       ;  kh_free_full's, which returns 0 for it)
%endmacro

extern kh_alloc_full, kh_heap_alloc_full, kh_alloc_aligned_full, kh_take_report
extern kh_free_full, kh_heap_free_full, kh_free_report
extern kh_hooks, kh_alloc_hooked, kh_free_hooked

; The public calls: kh_hooks (kernel/kheap.c's word of the hooks set) tested first; any set
; (a free: a CPU or lock hook; in the Valgrind build always, as the C layer's client requests
; want) and the call goes to the C layer whole, by a tail call that keeps our caller's
; return address for its reports.
kheap_alloc:
%ifdef KHEAP_VALGRIND
        jmp     kh_alloc_hooked
%else
        cmp     dword [kh_hooks], 0
        jne     kh_alloc_hooked
        ALLOC_ENTRY kh_alloc_full, CALLER_RETURN
%endif
kh_heap_alloc:
        ALLOC_ENTRY kh_heap_alloc_full, CALLER_ARG
kheap_alloc_aligned:
%ifdef KHEAP_VALGRIND
        jmp     kh_alloc_aligned_full
%else
        cmp     dword [kh_hooks], 0
        jne     kh_alloc_aligned_full
        ALIGNED_ENTRY kh_alloc_aligned_full
%endif
kheap_free:
%ifdef KHEAP_VALGRIND
        jmp     kh_free_hooked
%else
        test    dword [kh_hooks], HOOK_CPU | HOOK_LOCK
        jnz     kh_free_hooked
        FREE_ENTRY kh_free_full, CALLER_RETURN
%endif
kh_heap_free:
        FREE_ENTRY kh_heap_free_full, CALLER_ARG

; =====================================================================================
; kh_cpu_alloc(h, size, cpu) -> the address of size bytes from CPU cpu's quick-cache set, or 0
; Without the heap's lock, in a pool with a set per CPU (sets > 1): h a usable handle, its
; set's busy word taken (xchg; held by another path: 0), the newest allocation of
; n = ceil(size / block) blocks popped after cache_top's check, its cached bit cleared
; (locked), and counted in the set's header (net, hits: I4 for the C layer to fold). 0, with
; nothing changed, for everything else: one set, size 0, the set busy, the class empty, or
; the entry failing its check (a length read while another CPU changes the bitmaps next to
; it can only read longer, so a pass is exact; a failure is the locked path's to judge).
; =====================================================================================
kh_cpu_alloc:
        ENTER_SAVED
        mov     xBX, ARG(0)
        HANDLE_OK .none
        cmp     byte [xBX + CACHE_SETS], 1
        jbe     .none                           ; one set: the locked paths'
        mov     xAX, ARG(1)
        test    xAX, xAX
        jz      .none
        mov     xCX, [xBX + KH_SHIFT]
        dec     xAX
        shr     xAX, cl
        inc     xAX                             ; xAX = n, without overflow
        mov     ARG(1), xAX
        CPU_SET xDX, ARG(2), .none
        mov     ARG(2), xDX                     ; (the CPU's slot holds its set from here on)
        mov     xCX, 1
        xchg    [xDX + SET_BUSY], xCX           ; the set's own lock
        test    xCX, xCX
        jnz     .none                           ; held elsewhere: the locked path
        mov     xDI, xAX
        call    cache_top                       ; xDI = n, xDX = the set
        test    xAX, xAX
        js      .free                           ; empty or failed: the locked path decides
        CACHE_POP
        CACHED_CLEAR shared                     ; the entry: live again
        mov     xDX, ARG(2)
        mov     xCX, ARG(1)
        sub     [xDX + SET_NET], xCX
        inc     WORD_PTR [xDX + SET_HITS]
        mov     WORD_PTR [xDX + SET_BUSY], 0    ; (a store releases it: x86 orders stores)
        mov     xCX, [xBX + KH_SHIFT]
        shl     xAX, cl
        add     xAX, [xBX + KH_BASE]
        LEAVE_SAVED
.free:  mov     xDX, ARG(2)
        mov     WORD_PTR [xDX + SET_BUSY], 0
.none:  xor     xAX, xAX
        LEAVE_SAVED

; =====================================================================================
; kh_cpu_free(h, ptr, cpu) -> blocks freed into CPU cpu's quick-cache set, or 0
; Without the heap's lock, in a pool with a set per CPU: h a usable handle, ptr a live
; allocation start (live_start), the set's busy word taken, then ptr's cached bit set with a
; locked bts: that claims the free, so of two frees of one pointer on two CPUs exactly one
; gets it (the other returns 0, and the locked path reports its double free); ptr is read
; again as a start after the claim, so a free under the lock that came and went meanwhile
; (claimed, released, bit given back) is not taken for a live one. Its length,
; read after the claim through lf_length, picks the class; pushed there and counted in the
; set's header (net, puts). 0, with nothing changed (the claim undone), for everything else:
; one set, ptr not a live start, the set busy, the bit taken, longer than `classes`, or the
; class full. O(1).
; =====================================================================================
kh_cpu_free:
        ENTER_SAVED
        mov     xBX, ARG(0)
        HANDLE_OK .none
        cmp     byte [xBX + CACHE_SETS], 1
        jbe     .none
        mov     xAX, ARG(1)
        call    live_start
        test    xAX, xAX
        js      .none                           ; not a live start now: the locked path's
        mov     ARG(1), xAX                     ; (ptr's slot holds its block from here on)
        CPU_SET xDX, ARG(2), .none
        mov     ARG(2), xDX                     ; (the CPU's slot holds its set)
        mov     xCX, 1
        xchg    [xDX + SET_BUSY], xCX
        test    xCX, xCX
        jnz     .none
        mov     xAX, ARG(1)                     ; the claim
        BLOCK_BIT
        mov     xSI, [xBX + KH_CACHED]
        lock bts [xSI + xDX * WORD_SCALE], xCX
        jc      .unlock                         ; another free has it
        lea     xSI, [xBX + USED_MAP]            ; still a start, read after the claim: a
        bt      [xSI + xDX * WORD_SCALE], xCX   ; free under the lock that claimed, released
        jnc     .undo                           ; and gave the bit back between live_start
        mov     xSI, [xBX + KH_START]           ; and this claim cleared used and start
        bt      [xSI + xDX * WORD_SCALE], xCX   ; first (kh_release), so the pointer is
        jnc     .undo                           ; freed already
        mov     xAX, ARG(1)
        mov     xDX, [xBX + KH_CLASSES]
        call    lf_length                       ; stable now but for the block after it
        mov     ARG(0), xAX                     ; (h is in xBX: its slot holds the length)
        mov     xSI, ARG(2)
        CLASS_OF .undo, xAX, xSI, xAX, xAX      ; xAX -> its class
        mov     ecx, [xAX]
        cmp     xCX, CACHE_DEPTH
        jae     .undo                           ; full (or a damaged count: left alone)
        mov     xDX, ARG(1)
        mov     [xAX + CACHE_SLOT + xCX * CACHE_SLOT], edx
        inc     ecx
        mov     [xAX], ecx
        mov     xDX, ARG(2)
        mov     xAX, ARG(0)
        add     [xDX + SET_NET], xAX
        inc     WORD_PTR [xDX + SET_PUTS]
        mov     WORD_PTR [xDX + SET_BUSY], 0
        LEAVE_SAVED
.undo:  mov     xAX, ARG(1)
        CACHED_CLEAR shared                     ; the claim given back
.unlock:
        mov     xDX, ARG(2)
        mov     WORD_PTR [xDX + SET_BUSY], 0
.none:  xor     xAX, xAX
        LEAVE_SAVED

; lf_length - as bounded_after, read without the heap's lock: each bitmap word's boundary
; bits are ~(used & used') | start, loaded used, start, used' in that order. A claim sets a
; start bit before the used bits and a release clears the used bits before the start bit
; (kh_claim, kh_release), so no block another CPU is claiming or freeing reads as the middle
; of this allocation: a used block seen without its start bit was used both before and
; after the start bit was read. in: xBX = h, xAX = first (< nblocks), xDX = most. out:
; xAX = the length when at most xDX, else xDX + 1 (or the blocks to the pool end, if fewer).
; clobbers: xCX, xDX, xSI, xDI, xBP
lf_length:
        push    xAX
        lea     xDI, [xAX + xDX + 1]            ; the limit: first + most + 1 ..
        cmp     xDI, [xBX + KH_NBLOCKS]
        jbe     .from
        mov     xDI, [xBX + KH_NBLOCKS]         ; .. or the pool end
.from:  inc     xAX                             ; the block after first
.word:  cmp     xAX, xDI
        jae     .limit
        mov     xSI, xAX
        shr     xSI, WORD_SHIFT
        shl     xSI, WORD_BYTES_LOG2            ; its word's byte offset
        lea     xBP, [xBX + USED_MAP]
        mov     xDX, [xBP + xSI]                ; used
        mov     xCX, [xBX + KH_START]
        mov     xCX, [xCX + xSI]                ; start
        and     xDX, [xBP + xSI]                ; used again
        not     xDX
        or      xDX, xCX                        ; the word's boundary bits
        mov     xCX, xAX                        ; (cl mod WORD_BITS: its bit)
        shr     xDX, cl                         ; from this block on (a count of 0, at
        test    xDX, xDX                        ; a word's first block, sets no flags)
        jnz     .found
        or      xAX, WORD_BITS - 1              ; none: the next word
        inc     xAX
        jmp     .word
.found: bsf     xDX, xDX
        add     xAX, xDX                        ; the boundary
        cmp     xAX, xDI
        jbe     .end
.limit: mov     xAX, xDI
.end:   pop     xCX
        sub     xAX, xCX
        ret

; =====================================================================================
; kh_geometry(h, quick) -> what h's geometry word must hold: GEOMETRY_SEED XOR each word
; from KH_SHIFT to KH_SUMMARY (18 words); with quick not 0, what its quick geometry word
; must hold: QUICK_SEED XOR each of QUICK_WORDS (11). Reads only. O(1).
; =====================================================================================
kh_geometry:
        ENTER_SAVED
        mov     xBX, ARG(0)
        cmp     WORD_PTR ARG(1), 0
        jne     .quick
        call    geometry
        LEAVE_SAVED
.quick: QUICK_SUM
        LEAVE_SAVED

; kh_handle_ok(h) -> 1 when h is usable: the C layer's handle check in one call, HANDLE_OK's
; then GEOMETRY_OK's (their 20 reads: the quick word stands for its nine, checked first).
; Reads only. O(1).
; =====================================================================================
kh_handle_ok:
        ENTER_SAVED
        mov     xBX, ARG(0)
        HANDLE_OK .bad
        GEOMETRY_OK .bad
        mov     xAX, 1
        LEAVE_SAVED
.bad:   xor     xAX, xAX
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
