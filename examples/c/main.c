/* Calls the kernel that examples/export_c.py exports, from plain C.
 *
 *   python examples/export_c.py OUT
 *   cc examples/c/main.c -I OUT -L OUT -lrowsumsq -Wl,-rpath,OUT -lm -o rowsumsq && ./rowsumsq
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "librowsumsq.h"   /* int32_t rowsumsq(const float* A, float* B, int64_t n); */

int main(void) {
    const int64_t n = 1000, cols = 64;
    float *a = malloc(sizeof(float) * n * cols), *b = malloc(sizeof(float) * n);
    if (!a || !b) return 2;
    for (int64_t i = 0; i < n * cols; ++i) a[i] = (float)(i % 17 - 8) / 8.0f;

    int32_t rc = rowsumsq(a, b, n);          /* 0 on success */
    if (rc != 0) {
        fprintf(stderr, "rowsumsq failed with status %d\n", rc);
        return 1;
    }
    double worst = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        double want = 0.0;
        for (int64_t j = 0; j < cols; ++j) want += (double)a[i * cols + j] * a[i * cols + j];
        double err = fabs(b[i] - want) / (want > 1e-30 ? want : 1e-30);
        if (err > worst) worst = err;
    }
    printf("rowsumsq from C: %lld rows, max relative error %.1e (%s)\n", (long long)n, worst,
           worst < 1e-5 ? "ok" : "WRONG");
    free(a);
    free(b);
    return worst < 1e-5 ? 0 : 1;
}
