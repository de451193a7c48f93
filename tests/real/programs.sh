# programs.sh - the real programs of the soak and of make bench-real, sourced by soak.sh and
# bench.sh: programs Debian ships (make deps installs them), each a deterministic job whose
# output shows whether it worked. program_run runs in the folder programs_setup filled.

# The programs, in the order they run.
program_names() {
    echo python3 sqlite3 gcc sort bash perl awk git
}

# programs_setup DIR: the inputs, generated the same way every time.
programs_setup() {
    awk 'BEGIN { x = 12345; for (i = 0; i < 200000; i++) {
            x = (x * 1103515245 + 12345) % 2147483648; print x % 100000, "key" x % 977 } }' \
        > "$1/numbers.txt"
    awk 'BEGIN { split("heap block free run tree cache pool word bit leaf node page", w, " ");
            x = 7; for (i = 0; i < 60000; i++) { x = (x * 69069 + 1) % 4294967296;
            printf "%s%s", w[x % 12 + 1], (i % 11 == 10 ? "\n" : " ") } }' > "$1/words.txt"
    cp "$KHEAP_TOP/kernel/kheap.c" "$KHEAP_TOP/include/kheap.h" "$1/"
}

# program_run NAME: the job, its result on stdout.
program_run() {
    case $1 in
    python3)    # json, regular expressions, dicts and sets, sorting, big strings
        PYTHONHASHSEED=0 /usr/bin/python3 -c '
import hashlib, json, re
data = [{"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 7), "u%d" % (i % 13)],
         "v": [i * j % 97 for j in range(8)]} for i in range(20000)]
text = json.dumps(data)
back = json.loads(text)
words = re.findall(r"item(\d+)", text)
index = {}
for d in back:
    index.setdefault(tuple(d["tags"]), set()).add(d["id"])
big = "".join(sorted(set(words), key=lambda w: (-len(w), w)))
print(len(text), len(words), len(index), hashlib.sha256(big.encode()).hexdigest())
print(hashlib.sha256(json.dumps(sorted((k, sorted(v)) for k, v in index.items())).encode()).hexdigest())' ;;
    sqlite3)    # a generated database: inserts, an index, grouping, updates, deletes, vacuum
        rm -f db.sqlite
        sqlite3 db.sqlite "
            create table t (id integer primary key, k integer, s text);
            with recursive c(x) as (select 1 union all select x + 1 from c where x < 60000)
            insert into t (k, s) select (x * 7919) % 1000, printf('row-%08d', x) from c;
            create index tk on t (k);
            select k, count(*), min(s), max(s) from t group by k order by k limit 5;
            update t set s = s || '-u' where k % 3 = 0;
            delete from t where k % 5 = 0;
            vacuum;
            select count(*), sum(k), max(length(s)) from t;" ;;
    gcc)        # the module's C layer compiled: the object file's digest
        gcc -O2 -ffreestanding -I. -c kheap.c -o kheap.o && sha256sum < kheap.o ;;
    sort)       # numeric and keyed sorts of 200,000 lines
        sort -n numbers.txt | sha256sum && sort -k2,2 -k1,1n -u numbers.txt | sha256sum ;;
    bash)       # the shell itself: strings, arrays, associative arrays
        bash -c 'declare -A count; s=""; a=()
            for ((i = 0; i < 20000; i++)); do a+=("w$((i * 7 % 1013))"); done
            for w in "${a[@]}"; do count[$w]=$(( ${count[$w]:-0} + 1 )); done
            for ((i = 0; i < 3000; i++)); do s+="${a[i]}"; done
            echo "${#a[@]} ${#count[@]} ${#s} ${count[w5]}"' ;;
    perl)       # hashes, sorting, joins over the word list
        perl -e 'my %c; while (<>) { $c{$_}++ for split } my @k = sort { $c{$b} <=> $c{$a} || $a cmp $b } keys %c;
            print join(",", map { "$_=$c{$_}" } @k), "\n"; print length(join("", map { scalar reverse } @k)), "\n";' words.txt ;;
    awk)        # associative arrays over the number list
        awk '{ n[$2]++; s[$2] += $1 } END { for (k in n) print k, n[k], s[k] }' numbers.txt | sort ;;
    git)        # a repository made here: commits, a log, a pack
        rm -rf repo && git init -q repo && cd repo && cp ../kheap.c ../kheap.h . &&
        git -c user.name=soak -c user.email=soak@example.invalid add . &&
        GIT_AUTHOR_DATE=2000-01-01T00:00:00Z GIT_COMMITTER_DATE=2000-01-01T00:00:00Z \
            git -c user.name=soak -c user.email=soak@example.invalid commit -qm one &&
        sed -i 's/heap/HEAP/g' kheap.c &&
        GIT_AUTHOR_DATE=2000-01-02T00:00:00Z GIT_COMMITTER_DATE=2000-01-02T00:00:00Z \
            git -c user.name=soak -c user.email=soak@example.invalid commit -qam two &&
        git log --stat --format='%H %s' && git gc -q && git count-objects -v | grep -c . ;;
    *)  echo "no program $1" >&2; return 2 ;;
    esac
}
