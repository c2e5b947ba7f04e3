// Calls the kernel that examples/export_c.py exports, from C++ (the header is extern "C").
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "librowsumsq.h"

int main() {
    const std::int64_t n = 513, cols = 64;
    std::vector<float> a(n * cols), b(n);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 13) / 13.0f;

    if (int rc = rowsumsq(a.data(), b.data(), n); rc != 0) {
        std::fprintf(stderr, "rowsumsq failed with status %d\n", rc);
        return 1;
    }
    double worst = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
        double want = 0.0;
        for (std::int64_t j = 0; j < cols; ++j) want += double(a[i * cols + j]) * a[i * cols + j];
        worst = std::fmax(worst, std::fabs(b[i] - want) / std::fmax(want, 1e-30));
    }
    std::printf("rowsumsq from C++: %lld rows, max relative error %.1e (%s)\n",
                static_cast<long long>(n), worst, worst < 1e-5 ? "ok" : "WRONG");
    return worst < 1e-5 ? 0 : 1;
}
