/* replay.c - runs the fuzz target over saved inputs (files, or every file of a directory,
 * in name order) and reports one KTAP test per input. A mismatch aborts with its trace.
 * Usage: replay [--cpus N] CORPUS... (--cpus: the pools shared by N CPUs, fuzz_kheap.c). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fuzz_cpus(unsigned n);

#define MAX_INPUTS 4096

static char *inputs[MAX_INPUTS];
static size_t ninputs;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir) {
        if (ninputs < MAX_INPUTS)
            inputs[ninputs++] = strdup(path);
        return;
    }
    size_t first = ninputs;
    struct dirent *e;
    for (errno = 0; (e = readdir(dir)) != 0; errno = 0) {
        if (e->d_name[0] == '.' || ninputs == MAX_INPUTS)
            continue;
        char *full = malloc(strlen(path) + strlen(e->d_name) + 2);
        sprintf(full, "%s/%s", path, e->d_name);
        inputs[ninputs++] = full;
    }
    if (errno != 0) {                   /* a directory read short would replay too little */
        fprintf(stderr, "replay: reading %s: %s\n", path, strerror(errno));
        exit(2);
    }
    closedir(dir);
    qsort(inputs + first, ninputs - first, sizeof inputs[0], by_name);
}

int main(int argc, char **argv)
{
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "--cpus") == 0) {
        fuzz_cpus((unsigned)atoi(argv[2]));
        first = 3;
    }
    for (int i = first; i < argc; i++)
        add(argv[i]);
    if (argc > first && ninputs == 0) {     /* corpora named but nothing in them: nothing tested */
        fprintf(stderr, "replay: no inputs found in the corpora named\n");
        return 2;
    }
    printf("KTAP version 1\n1..%zu\n", ninputs);
    int failed = 0;
    for (size_t i = 0; i < ninputs; i++) {
        FILE *f = fopen(inputs[i], "rb");
        static uint8_t buf[1 << 20];
        size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f)
            fclose(f);
        fflush(stdout);
        if (!f) {
            printf("not ok %zu %s # cannot read it\n", i + 1, inputs[i]);
            failed++;
            continue;
        }
        LLVMFuzzerTestOneInput(buf, n);
        printf("ok %zu %s\n", i + 1, inputs[i]);
    }
    return failed ? 1 : 0;
}
