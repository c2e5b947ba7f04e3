r"""The two headers generated CUDA C is compiled with, as text.

``PRELUDE`` (opcomp_cuda.h) is included by every generated file: NumPy-exact
helpers (floor division, NaN-propagating min/max, integer powers), and, for
the host part, the launch and allocation hooks.  nvcc/NVRTC compile only the
device part (the host launcher sits under ``#ifndef __CUDA_ARCH__``).

``EMULATOR`` (opcomp_cuda_emu.h) makes the same file a CPU program: the host
compiler gets ``-include opcomp_cuda_emu.h``.  A launch runs the blocks one
after another; the threads of a block are fibers (ucontext) on one OS thread,
switched only at ``__syncthreads()`` and warp operations, in thread order:

- ``__syncthreads()`` is a real barrier: a fiber waits until every live
  thread of its block has arrived at the same ``__syncthreads()``;
- shared memory is one arena per launch, filled with 0xFF bytes (NaN for
  floats) before each block, so a read of what no thread has written yet
  shows up in the result;
- warp shuffles (``__shfl_sync``, ``_up``, ``_down``, ``_xor``) and
  ``__syncwarp`` wait for the warp's live threads, then every lane reads the
  value its source lane offered;
- ``atomicAdd`` and friends are plain updates (fibers never interleave
  within one).
- ``half`` is the host compiler's ``_Float16`` (IEEE binary16, every
  operation rounded to it, as NumPy's float16);
- ``__nv_bfloat16`` is a 16-bit struct: float -> bfloat16 rounds to nearest
  even (a NaN stays a quiet NaN of its sign), bfloat16 -> float is exact, and
  each operation computes in float and rounds back, as ml_dtypes does (float
  holds every sum, difference and product of two bfloat16 exactly, and a
  quotient's double rounding is harmless at 24 vs 8 bits);
- ``nvcuda::wmma`` (tensor cores, 16x16x16 tiles) is warp-collective like the
  shuffles: each call waits for the warp, then every lane computes the whole
  tile into its own fragment (half inputs multiplied exactly in float,
  accumulated in float).

Because threads switch only at barriers, a missing barrier is deterministic:
thread 0 runs ahead and reads a tile the others have not loaded (NaN), or
overwrites one they are still reading.  A block whose threads wait at
different barriers (a barrier under a condition some threads skip) is
reported as a deadlock (return code OPCOMP_EMU_DEADLOCK).
"""

PRELUDE = r"""// opcomp_cuda.h: helpers for opcomp's generated CUDA C (NumPy semantics).
#pragma once
#if defined(__CUDACC_RTC__)
typedef signed char int8_t;
typedef short int16_t;
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef long long int64_t;
typedef unsigned long long uint64_t;
#define INFINITY __int_as_float(0x7f800000)
#define NAN __int_as_float(0x7fffffff)
#else
#include <stdint.h>
#include <math.h>
#endif

#define OPCOMP_DEVICE static __device__ __forceinline__
#ifndef OPCOMP_FAIL
#define OPCOMP_FAIL(k) __trap()   // a failed assertion in a kernel aborts the launch
#endif

#define OPCOMP_INT_DIVMOD(T)                                                   \
  OPCOMP_DEVICE T opcomp_floordiv(T a, T b) {                                  \
    if (b == 0) return 0;                                                      \
    if (b == -1) return (T)(0 - (uint64_t)a);      /* INT_MIN / -1 wraps */    \
    T q = a / b, r = a % b;                                                    \
    return (r != 0 && ((r < 0) != (b < 0))) ? (T)(q - 1) : q;                  \
  }                                                                            \
  OPCOMP_DEVICE T opcomp_floormod(T a, T b) {                                  \
    if (b == 0 || b == -1) return 0;                                           \
    T r = a % b;                                                               \
    return (r != 0 && ((r < 0) != (b < 0))) ? (T)(r + b) : r;                  \
  }                                                                            \
  OPCOMP_DEVICE T opcomp_abs(T a) { return a < 0 ? (T)(0 - (uint64_t)a) : a; } \
  OPCOMP_DEVICE T opcomp_pow(T a, T e) {                                       \
    if (e < 0) return a == 1 ? 1 : (a == -1 ? ((e & 1) ? a : 1) : 0);          \
    T r = 1;                                                                   \
    for (; e; e = (T)(e >> 1), a = (T)(a * a))                                 \
      if (e & 1) r = (T)(r * a);                                               \
    return r;                                                                  \
  }                                                                            \
  OPCOMP_INT_MINMAX(T)
#define OPCOMP_INT_MINMAX(T)                                                   \
  OPCOMP_DEVICE T opcomp_min(T a, T b) { return a < b ? a : b; }               \
  OPCOMP_DEVICE T opcomp_max(T a, T b) { return a > b ? a : b; }
OPCOMP_INT_DIVMOD(int8_t)
OPCOMP_INT_DIVMOD(int16_t)
OPCOMP_INT_DIVMOD(int)
OPCOMP_INT_DIVMOD(int64_t)
// Unsigned: no rounding toward -inf to fix; x / 0 is 0 as in NumPy.
#define OPCOMP_UINT_OPS(T)                                                     \
  OPCOMP_INT_MINMAX(T)                                                         \
  OPCOMP_DEVICE T opcomp_floordiv(T a, T b) { return b ? (T)(a / b) : 0; }     \
  OPCOMP_DEVICE T opcomp_floormod(T a, T b) { return b ? (T)(a % b) : 0; }     \
  OPCOMP_DEVICE T opcomp_abs(T a) { return a; }                                \
  OPCOMP_DEVICE T opcomp_pow(T a, T e) {                                       \
    T r = 1;                                                                   \
    for (; e; e = (T)(e >> 1), a = (T)(a * a))                                 \
      if (e & 1) r = (T)(r * a);                                               \
    return r;                                                                  \
  }
OPCOMP_UINT_OPS(uint8_t)
OPCOMP_UINT_OPS(uint16_t)
OPCOMP_UINT_OPS(uint32_t)
OPCOMP_UINT_OPS(uint64_t)

// np.floor_divide / np.remainder on floats (NumPy's npy_divmod).
#define OPCOMP_FLOAT_OPS(T, FMOD, FLOOR, COPYSIGN, SQRT, EXP, POW)             \
  OPCOMP_DEVICE T opcomp_floormod(T a, T b) {                                  \
    T mod = FMOD(a, b);                                                        \
    if (b == 0) return mod;                                                    \
    if (mod != 0) { if ((b < 0) != (mod < 0)) mod += b; }                      \
    else mod = COPYSIGN((T)0, b);                                              \
    return mod;                                                                \
  }                                                                            \
  OPCOMP_DEVICE T opcomp_floordiv(T a, T b) {                                  \
    if (b == 0) return a / b;                                                  \
    T mod = FMOD(a, b);                                                        \
    T div = (a - mod) / b;                                                     \
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;                          \
    if (div == 0) return COPYSIGN((T)0, a / b);                                \
    T f = FLOOR(div);                                                          \
    return (div - f > (T)0.5) ? f + 1 : f;                                     \
  }                                                                            \
  OPCOMP_DEVICE T opcomp_fmin(T a, T b) { return (a < b || a != a) ? a : b; }  \
  OPCOMP_DEVICE T opcomp_fmax(T a, T b) { return (a > b || a != a) ? a : b; }  \
  OPCOMP_DEVICE T opcomp_rsqrt(T a) { return (T)1 / SQRT(a); }                 \
  OPCOMP_DEVICE T opcomp_sigmoid(T a) { return (T)1 / ((T)1 + EXP(-a)); }      \
  OPCOMP_DEVICE T opcomp_pow(T a, T b) { return POW(a, b); }
OPCOMP_FLOAT_OPS(float, fmodf, floorf, copysignf, sqrtf, expf, powf)
OPCOMP_FLOAT_OPS(double, fmod, floor, copysign, sqrt, exp, pow)

// float16 (the printer defines OPCOMP_HALF when a kernel uses it): CUDA's __half
// on the device, the emulator's CPU half type on the host.  Arithmetic rounds to
// half after each operation, as NumPy's float16 does; math goes through float.
#ifdef OPCOMP_HALF
#ifndef OPCOMP_EMULATED
#include <cuda_fp16.h>
#endif
OPCOMP_DEVICE half opcomp_fmin(half a, half b) { return (a < b || a != a) ? a : b; }
OPCOMP_DEVICE half opcomp_fmax(half a, half b) { return (a > b || a != a) ? a : b; }
#endif
// bfloat16 (OPCOMP_BF16): CUDA's __nv_bfloat16 on the device, the emulator's struct on
// the host; conversions and math go through float, as ml_dtypes computes.
#ifdef OPCOMP_BF16
#ifndef OPCOMP_EMULATED
#include <cuda_bf16.h>
#endif
OPCOMP_DEVICE __nv_bfloat16 opcomp_fmin(__nv_bfloat16 a, __nv_bfloat16 b) {
  return (a < b || a != a) ? a : b;
}
OPCOMP_DEVICE __nv_bfloat16 opcomp_fmax(__nv_bfloat16 a, __nv_bfloat16 b) {
  return (a > b || a != a) ? a : b;
}
#endif
// Tensor cores (OPCOMP_WMMA: the kernel calls nvcuda::wmma; the emulator has its own).
#if defined(OPCOMP_WMMA) && !defined(OPCOMP_EMULATED)
#include <mma.h>
#endif

#ifndef __CUDA_ARCH__
// The host part: the launcher computes each kernel's grid from the sizes and
// launches it through hooks the loader sets (the CUDA driver on a GPU), or,
// when no hook is set, on the emulator.
#define OPCOMP_EXPORT __attribute__((visibility("default")))
typedef int (*opcomp_launch_fn)(const char* kernel, unsigned gx, unsigned gy, unsigned gz,
                                unsigned bx, unsigned by, unsigned bz, unsigned shared_bytes,
                                void** args);
typedef void* (*opcomp_alloc_fn)(uint64_t bytes);
typedef void (*opcomp_free_fn)(void* ptr);
static opcomp_launch_fn opcomp_gpu_launch = 0;
static opcomp_alloc_fn opcomp_gpu_alloc = 0;
static opcomp_free_fn opcomp_gpu_free = 0;
extern "C" OPCOMP_EXPORT void opcomp_set_device_hooks(opcomp_launch_fn launch,
                                                     opcomp_alloc_fn alloc,
                                                     opcomp_free_fn release) {
  opcomp_gpu_launch = launch;
  opcomp_gpu_alloc = alloc;
  opcomp_gpu_free = release;
}
static void* opcomp_device_alloc(uint64_t bytes) {
  if (opcomp_gpu_alloc) return opcomp_gpu_alloc(bytes);
  return malloc(bytes ? bytes : 1);
}
static void opcomp_device_free(void* ptr) {
  if (opcomp_gpu_free) opcomp_gpu_free(ptr);
  else free(ptr);
}
struct opcomp_device_buffer {       // a temporary between kernels, freed on every return
  void* ptr;
  explicit opcomp_device_buffer(uint64_t bytes) : ptr(opcomp_device_alloc(bytes)) {}
  ~opcomp_device_buffer() { if (ptr) opcomp_device_free(ptr); }
};
template <typename Body, typename... Args>
static int opcomp_launch(const char* name, dim3 grid, dim3 block, unsigned shared_bytes,
                         Body body, Args&... args) {
  if ((uint64_t)grid.x * grid.y * grid.z == 0) return 0;   // nothing to compute
  if (opcomp_gpu_launch) {
    void* raw[] = {(void*)&args..., 0};
    return opcomp_gpu_launch(name, grid.x, grid.y, grid.z, block.x, block.y, block.z,
                             shared_bytes, raw);
  }
  return opcomp_emu_run(grid, block, shared_bytes, body);
}
#define OPCOMP_LAUNCH(kernel, grid, block, shared, ...) \
  opcomp_launch(#kernel, grid, block, shared, [&]() { kernel(__VA_ARGS__); }, __VA_ARGS__)
#endif
"""

EMULATOR = r"""// opcomp_cuda_emu.h: runs opcomp's CUDA C on the CPU (see codegen/cuda_headers.py).
// Plain C headers only: this file is compiled with every emulated kernel.
#pragma once
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include <ucontext.h>

#define __global__
#define __device__
#define __host__
#define __shared__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define OPCOMP_EMULATED 1
#define OPCOMP_EMU_NO_MEMORY (-1)
#define OPCOMP_EMU_DEADLOCK (-2)

struct dim3 {
  unsigned int x, y, z;
  dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
static dim3 threadIdx, blockIdx, blockDim, gridDim;
static const int warpSize = 32;

// CUDA's vector types (their alignment is what makes a vector access legal).
#define OPCOMP_VECTOR2(T, NAME, ALIGN)                                              \
  struct __attribute__((aligned(ALIGN))) NAME { T x, y; };                         \
  static inline NAME make_##NAME(T x, T y) { NAME r = {x, y}; return r; }
#define OPCOMP_VECTOR4(T, NAME)                                                     \
  struct __attribute__((aligned(16))) NAME { T x, y, z, w; };                      \
  static inline NAME make_##NAME(T x, T y, T z, T w) { NAME r = {x, y, z, w}; return r; }
OPCOMP_VECTOR2(float, float2, 8)
OPCOMP_VECTOR4(float, float4)
OPCOMP_VECTOR2(double, double2, 16)
OPCOMP_VECTOR2(int, int2, 8)
OPCOMP_VECTOR4(int, int4)
OPCOMP_VECTOR2(long long, longlong2, 16)
OPCOMP_VECTOR2(unsigned, uint2, 8)      // float16 copies move 4 or 8 halves as raw bits
OPCOMP_VECTOR4(unsigned, uint4)
#ifdef __FLT16_MAX__                    // the host compiler has _Float16 (g++ 12+, clang 15+)
typedef _Float16 half;                  // IEEE binary16, each operation rounded to it
#endif                                  // (without it only float16 kernels fail to compile)
// bfloat16 as CUDA's __nv_bfloat16 (cuda_headers.py's docstring): the top 16 bits of a
// float, rounded to nearest even; NaN -> the quiet NaN of its sign (as ml_dtypes).
static inline uint16_t opcomp_float_to_bf16_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);          // round half to even on bit 16
  return (uint16_t)(u >> 16);
}
struct __nv_bfloat16 {
  uint16_t bits;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f) : bits(opcomp_float_to_bf16_bits(f)) {}
  __nv_bfloat16(double d) : bits(opcomp_float_to_bf16_bits((float)d)) {}   // via float
  operator float() const {
    uint32_t u = (uint32_t)bits << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
};
typedef __nv_bfloat16 nv_bfloat16;
#define OPCOMP_BF16_BINARY(OP)                                                     \
  static inline __nv_bfloat16 operator OP(__nv_bfloat16 a, __nv_bfloat16 b) {      \
    return __nv_bfloat16((float)a OP (float)b);                                    \
  }                                                                                \
  static inline __nv_bfloat16& operator OP##=(__nv_bfloat16& a, __nv_bfloat16 b) { \
    return a = a OP b;                                                             \
  }
OPCOMP_BF16_BINARY(+)
OPCOMP_BF16_BINARY(-)
OPCOMP_BF16_BINARY(*)
OPCOMP_BF16_BINARY(/)
#define OPCOMP_BF16_COMPARE(OP)                                                    \
  static inline bool operator OP(__nv_bfloat16 a, __nv_bfloat16 b) { return (float)a OP (float)b; }
OPCOMP_BF16_COMPARE(==)
OPCOMP_BF16_COMPARE(!=)
OPCOMP_BF16_COMPARE(<)
OPCOMP_BF16_COMPARE(<=)
OPCOMP_BF16_COMPARE(>)
OPCOMP_BF16_COMPARE(>=)
static inline __nv_bfloat16 operator-(__nv_bfloat16 a) {   // flips the sign bit (NaN too)
  __nv_bfloat16 r;
  r.bits = (uint16_t)(a.bits ^ 0x8000u);
  return r;
}
static inline float __bfloat162float(__nv_bfloat16 a) { return (float)a; }
static inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
#ifndef OPCOMP_EMU_MAX_SHARED
#define OPCOMP_EMU_MAX_SHARED 232448
#endif
static unsigned char opcomp_shared[OPCOMP_EMU_MAX_SHARED] __attribute__((aligned(16)));

namespace opcomp_emu {
enum State { RUNNABLE, AT_BARRIER, AT_WARP, DONE };

struct Fiber {
  ucontext_t ctx;
  char* stack;
  State state;
  dim3 tid;
  uint64_t offer, result;   // warp exchange: the value offered, the value received
  int src_lane;
  int site;                 // the source line of the barrier it waits at
};

struct Block {
  Fiber* fibers;
  size_t n;
  ucontext_t scheduler;
  size_t current;
  int error;
  void (*body)(void*);
  void* ctx;
};

static Block* g_block = 0;
static pthread_mutex_t g_launch_lock = PTHREAD_MUTEX_INITIALIZER;   // one launch at a time

static void fiber_main() {
  g_block->body(g_block->ctx);
  g_block->fibers[g_block->current].state = DONE;
}   // returns to the scheduler through uc_link

static void wait(State why, int site = 0) {
  Fiber& f = g_block->fibers[g_block->current];
  f.state = why;
  f.site = site;
  swapcontext(&f.ctx, &g_block->scheduler);
}

static inline int lane() { return (int)(g_block->current % 32); }

// Release the warps whose live threads all wait at a warp operation.
static bool release_warps(Block& b) {
  bool any = false;
  for (size_t w = 0; w < b.n; w += 32) {
    size_t end = w + 32 < b.n ? w + 32 : b.n, waiting = 0, alive = 0;
    for (size_t i = w; i < end; ++i) {
      alive += b.fibers[i].state != DONE;
      waiting += b.fibers[i].state == AT_WARP;
    }
    if (alive == 0 || waiting != alive) continue;
    for (size_t i = w; i < end; ++i) {      // every lane reads before any lane moves on
      Fiber& f = b.fibers[i];
      if (f.state != AT_WARP) continue;
      size_t src = w + (size_t)f.src_lane;
      f.result = (src < end && b.fibers[src].state == AT_WARP) ? b.fibers[src].offer : f.offer;
    }
    for (size_t i = w; i < end; ++i)
      if (b.fibers[i].state == AT_WARP) b.fibers[i].state = RUNNABLE;
    any = true;
  }
  return any;
}

// Release a barrier when every live thread of the block (or of a warp) waits at it.
// Threads waiting at different __syncthreads() (divergent code) never meet: false.
static bool release(Block& b) {
  size_t live = 0, at_barrier = 0;
  int site = -1;
  bool same_site = true;
  for (size_t i = 0; i < b.n; ++i) {
    live += b.fibers[i].state != DONE;
    if (b.fibers[i].state != AT_BARRIER) continue;
    at_barrier += 1;
    same_site = same_site && (site < 0 || site == b.fibers[i].site);
    site = b.fibers[i].site;
  }
  if (live == 0) return false;
  if (at_barrier == live) {
    if (!same_site) return false;
    for (size_t i = 0; i < b.n; ++i)
      if (b.fibers[i].state == AT_BARRIER) b.fibers[i].state = RUNNABLE;
    return true;
  }
  return release_warps(b);
}

static int run_block(Block& b) {
  for (;;) {
    bool ran = false;
    for (size_t i = 0; i < b.n && !b.error; ++i) {
      if (b.fibers[i].state != RUNNABLE) continue;
      b.current = i;
      threadIdx = b.fibers[i].tid;
      swapcontext(&b.scheduler, &b.fibers[i].ctx);
      ran = true;
    }
    if (b.error) return b.error;
    if (!ran && !release(b)) {
      for (size_t i = 0; i < b.n; ++i)
        if (b.fibers[i].state != DONE) return OPCOMP_EMU_DEADLOCK;
      return 0;
    }
  }
}

static size_t stack_bytes() {
  const char* env = getenv("OPCOMP_EMU_STACK");
  long v = env ? atol(env) : 0;
  return v > 16384 ? (size_t)v : (size_t)256 * 1024;
}

static void start_fiber(Block& b, size_t i, dim3 block) {
  Fiber& f = b.fibers[i];
  f.tid = dim3((unsigned)(i % block.x), (unsigned)(i / block.x % block.y),
               (unsigned)(i / ((size_t)block.x * block.y)));
  f.state = RUNNABLE;
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack;
  f.ctx.uc_stack.ss_size = stack_bytes();
  f.ctx.uc_link = &b.scheduler;
  makecontext(&f.ctx, fiber_main, 0);
}

static inline int run(dim3 grid, dim3 block, unsigned shared_bytes, void (*body)(void*), void* ctx) {
  if (shared_bytes > OPCOMP_EMU_MAX_SHARED) return OPCOMP_EMU_NO_MEMORY;
  Block b;
  b.n = (size_t)block.x * block.y * block.z;
  b.fibers = (Fiber*)calloc(b.n, sizeof(Fiber));
  char* stacks = (char*)malloc(b.n * stack_bytes());
  if (!b.fibers || !stacks) { free(b.fibers); free(stacks); return OPCOMP_EMU_NO_MEMORY; }
  for (size_t i = 0; i < b.n; ++i) b.fibers[i].stack = stacks + i * stack_bytes();
  b.error = 0;
  b.body = body;
  b.ctx = ctx;
  pthread_mutex_lock(&g_launch_lock);
  gridDim = grid;
  blockDim = block;
  g_block = &b;
  int rc = 0;
  for (unsigned z = 0; z < grid.z && !rc; ++z)
    for (unsigned y = 0; y < grid.y && !rc; ++y)
      for (unsigned x = 0; x < grid.x && !rc; ++x) {
        blockIdx = dim3(x, y, z);
        memset(opcomp_shared, 0xFF, shared_bytes);   // NaN: what nobody wrote shows
        for (size_t i = 0; i < b.n; ++i) start_fiber(b, i, block);
        rc = run_block(b);
      }
  g_block = 0;
  pthread_mutex_unlock(&g_launch_lock);
  free(stacks);
  free(b.fibers);
  return rc;
}

template <typename Body> static void call(void* body) { (*(Body*)body)(); }
}  // namespace opcomp_emu

#define __syncthreads() opcomp_emu::wait(opcomp_emu::AT_BARRIER, __LINE__)
static inline void __syncwarp(unsigned mask = 0xffffffffu) {
  (void)mask;
  opcomp_emu::g_block->fibers[opcomp_emu::g_block->current].src_lane = opcomp_emu::lane();
  opcomp_emu::wait(opcomp_emu::AT_WARP);
}
static inline void __threadfence_block() {}
static inline void __threadfence() {}

template <typename T>
static T opcomp_emu_exchange(T v, int src_lane) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "shuffle of a value wider than 64 bits");
  opcomp_emu::Fiber& f = opcomp_emu::g_block->fibers[opcomp_emu::g_block->current];
  f.offer = 0;
  memcpy(&f.offer, &v, sizeof(T));
  f.src_lane = src_lane;
  opcomp_emu::wait(opcomp_emu::AT_WARP);
  T out;
  memcpy(&out, &f.result, sizeof(T));
  return out;
}
template <typename T> static T __shfl_sync(unsigned m, T v, int src, int width = 32) {
  (void)m; int l = opcomp_emu::lane();
  return opcomp_emu_exchange(v, (l / width) * width + ((src % width) + width) % width);
}
template <typename T> static T __shfl_down_sync(unsigned m, T v, unsigned d, int width = 32) {
  (void)m; int l = opcomp_emu::lane(), s = l + (int)d;
  return opcomp_emu_exchange(v, (s / width == l / width) ? s : l);
}
template <typename T> static T __shfl_up_sync(unsigned m, T v, unsigned d, int width = 32) {
  (void)m; int l = opcomp_emu::lane(), s = l - (int)d;
  return opcomp_emu_exchange(v, (s >= (l / width) * width) ? s : l);
}
template <typename T> static T __shfl_xor_sync(unsigned m, T v, int x, int width = 32) {
  (void)m; int l = opcomp_emu::lane(), s = l ^ x;
  return opcomp_emu_exchange(v, (s / width == l / width) ? s : l);
}
template <typename T> static T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <typename T> static T atomicMax(T* p, T v) { T old = *p; if (v > old) *p = v; return old; }
template <typename T> static T atomicMin(T* p, T v) { T old = *p; if (v < old) *p = v; return old; }
static inline float __int_as_float(int v) { float f; memcpy(&f, &v, 4); return f; }

// Tensor cores: nvcuda::wmma for 16x16x16 tiles (half or __nv_bfloat16 inputs, float
// accumulator).
// Every call is warp-collective: it waits until the warp's 32 lanes arrive (as a
// shuffle does), then each lane computes the whole tile into its own fragment, so
// every lane sees the full fragment.  mma_sync multiplies the half/bfloat16 inputs
// exactly in float and accumulates in float, k ascending.
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
template <typename Use, int M, int N, int K> struct dims;
template <int M, int N, int K> struct dims<matrix_a, M, N, K> { enum { rows = M, cols = K }; };
template <int M, int N, int K> struct dims<matrix_b, M, N, K> { enum { rows = K, cols = N }; };
template <int M, int N, int K> struct dims<accumulator, M, N, K> { enum { rows = M, cols = N }; };
template <typename L> struct is_col_major { enum { value = 0 }; };
template <> struct is_col_major<col_major> { enum { value = 1 }; };
template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  enum { rows = dims<Use, M, N, K>::rows, cols = dims<Use, M, N, K>::cols };
  static const int num_elements = rows * cols;
  T x[rows * cols];           // the logical tile, row-major (every lane holds all of it)
};
static inline void warp_collective() { __syncwarp(); }
template <typename Use, int M, int N, int K, typename T, typename L>
static void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const T* p, unsigned ldm) {
  warp_collective();
  typedef fragment<Use, M, N, K, T, L> F;
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c)
      f.x[r * F::cols + c] = is_col_major<L>::value ? p[(size_t)c * ldm + r] : p[(size_t)r * ldm + c];
}
template <int M, int N, int K, typename T>
static void load_matrix_sync(fragment<accumulator, M, N, K, T>& f, const T* p, unsigned ldm,
                             layout_t layout) {
  warp_collective();
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c)
      f.x[r * N + c] = layout == mem_col_major ? p[(size_t)c * ldm + r] : p[(size_t)r * ldm + c];
}
template <int M, int N, int K, typename T>
static void store_matrix_sync(T* p, const fragment<accumulator, M, N, K, T>& f, unsigned ldm,
                              layout_t layout) {
  warp_collective();
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c)
      p[layout == mem_col_major ? (size_t)c * ldm + r : (size_t)r * ldm + c] = f.x[r * N + c];
}
template <typename Use, int M, int N, int K, typename T, typename L, typename V>
static void fill_fragment(fragment<Use, M, N, K, T, L>& f, V v) {
  warp_collective();
  for (int e = 0; e < fragment<Use, M, N, K, T, L>::num_elements; ++e) f.x[e] = (T)v;
}
template <int M, int N, int K, typename TA, typename LA, typename TB, typename LB, typename TC>
static void mma_sync(fragment<accumulator, M, N, K, TC>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
                     const fragment<matrix_b, M, N, K, TB, LB>& b,
                     const fragment<accumulator, M, N, K, TC>& c) {
  warp_collective();
  TC out[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      TC acc = c.x[i * N + j];
      for (int k = 0; k < K; ++k) acc += (TC)a.x[i * K + k] * (TC)b.x[k * N + j];
      out[i * N + j] = acc;
    }
  memcpy(d.x, out, sizeof(out));
}
}  // namespace wmma
}  // namespace nvcuda

// A failed assertion inside a kernel: the launch stops and returns code k.
#define OPCOMP_FAIL(k) do { opcomp_emu::g_block->error = (k);                          \
    opcomp_emu::Fiber& f_ = opcomp_emu::g_block->fibers[opcomp_emu::g_block->current]; \
    f_.state = opcomp_emu::DONE; swapcontext(&f_.ctx, &opcomp_emu::g_block->scheduler); } while (0)

template <typename Body>
static int opcomp_emu_run(dim3 grid, dim3 block, unsigned shared_bytes, Body& body) {
  return opcomp_emu::run(grid, block, shared_bytes, opcomp_emu::call<Body>, (void*)&body);
}
"""
