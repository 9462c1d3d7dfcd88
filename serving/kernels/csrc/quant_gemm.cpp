// SplitSecond CPU kernels: GGUF 4-bit / 8-bit weights re-encoded once at load, and matmuls against them
// for the small passes of decode and verification (1..64 activation rows).
//
// Weight formats (row-major by output feature, so a fused projection is a row concatenation):
//   q4: qs uint8 [N, K/2]: per group of 32 inputs, byte j holds code j (low nibble) and j+16 (high);
//       ab fp16 [N, K/32, 2]: per group (a, b); dm fp32 [N, ceil(K/256), 2]: per super-block (D, M).
//       w = (D * a) * q + (M * b), q in 0..15. Q4_0: D=1, a=d, M=-8, b=d. Q4_1: D=M=1, a=d, b=m.
//       Q4_K: D=d, a=sc, M=-dmin, b=m. Each is exactly the float32 value ggml's dequantisation computes.
//   q8: qs int8 [N, K]; a fp16 [N, K/16]: per sub-group of 16; d fp32 [N, ceil(K/256)]: per super-block.
//       w = (d * a) * q. Q8_0: d=1, a=d8. Q5_0: d=1, a=d5, q = code - 16. Q6_K: d=d, a=sc, q = code - 32.
// Two matmul flavours: gemm_q4 / gemm_q8 quantise the activations per block of 32 to int8 (scale
// amax/127, round half to even), as llama.cpp does: the dot product of a block is an exact integer,
// scaled in float32 (fastest for many rows; the rounding moves the logits). gemm_q4_f32 / gemm_q8_f32
// keep the activations in float32 and multiply by each weight's exact float value (the default).
// Threads: at::parallel_for (PyTorch's own intra-op pool, torch.get_num_threads()).

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define SS_X86 1
#else
#define SS_X86 0
#endif

namespace {

bool use_avx2();
void q4_row_factors(const uint16_t* abrow, const float* dmrow, int64_t G, float* sc, float* of);
void q8_row_factors(const uint16_t* arow, const float* drow, int64_t K, float* sc);

constexpr int64_t QK = 32;     // group (activation block) size
constexpr int64_t QK_K = 256;  // super-block size

enum GgmlType : int64_t { Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q8_0 = 8, Q4_K = 12, Q6_K = 14 };

inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        exp--;
      }
      mant &= 0x3FF;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// float -> fp16 for values known to be exactly representable (small integers, fp16 inputs).
inline uint16_t fp32_to_fp16_exact(float f) {
  return c10::Half(f).x;
}

inline uint16_t rd16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// ---------------------------------------------------------------- re-encoding GGUF blocks

int64_t block_bytes(int64_t type) {
  switch (type) {
    case Q4_0: return 18;
    case Q4_1: return 20;
    case Q5_0: return 22;
    case Q8_0: return 34;
    case Q4_K: return 144;
    case Q6_K: return 210;
  }
  TORCH_CHECK(false, "ggml type ", type, " has no kernel format");
}

int64_t block_elems(int64_t type) { return (type == Q4_K || type == Q6_K) ? QK_K : QK; }

bool is_four_bit(int64_t type) { return type == Q4_0 || type == Q4_1 || type == Q4_K; }

inline void q4k_scale_min(int j, const uint8_t* s, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// raw: the tensor's bytes (rows of K elements); returns the kernel format tensors.
std::vector<torch::Tensor> repack(torch::Tensor raw, int64_t type, int64_t N, int64_t K) {
  TORCH_CHECK(raw.dtype() == torch::kUInt8 && raw.is_contiguous(), "raw must be contiguous uint8");
  const int64_t be = block_elems(type), bb = block_bytes(type);
  TORCH_CHECK(K % be == 0, "in-features ", K, " is not a multiple of the block size ", be);
  TORCH_CHECK(raw.numel() == N * (K / be) * bb, "raw has ", raw.numel(), " bytes, expected ", N * (K / be) * bb);
  const int64_t G = K / QK, SB = (K + QK_K - 1) / QK_K;
  const uint8_t* src = raw.data_ptr<uint8_t>();
  const int64_t row_bytes = (K / be) * bb;
  if (is_four_bit(type)) {
    auto qs = torch::empty({N, K / 2}, torch::kUInt8);
    auto ab = torch::empty({N, G, 2}, torch::kFloat16);
    auto dm = torch::empty({N, SB, 2}, torch::kFloat32);
    uint8_t* q = qs.data_ptr<uint8_t>();
    uint16_t* pab = reinterpret_cast<uint16_t*>(ab.data_ptr<at::Half>());
    float* pdm = dm.data_ptr<float>();
    at::parallel_for(0, N, 16, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        const uint8_t* r = src + n * row_bytes;
        uint8_t* qrow = q + n * (K / 2);
        uint16_t* abrow = pab + n * G * 2;
        float* dmrow = pdm + n * SB * 2;
        if (type == Q4_K) {
          for (int64_t s = 0; s < K / QK_K; ++s) {
            const uint8_t* b = r + s * 144;
            dmrow[2 * s] = fp16_to_fp32(rd16(b));
            dmrow[2 * s + 1] = -fp16_to_fp32(rd16(b + 2));
            const uint8_t* scales = b + 4;
            const uint8_t* qq = b + 16;
            for (int g = 0; g < 8; ++g) {
              uint8_t sc, m;
              q4k_scale_min(g, scales, &sc, &m);
              const int64_t gi = s * 8 + g;
              abrow[2 * gi] = fp32_to_fp16_exact((float)sc);
              abrow[2 * gi + 1] = fp32_to_fp16_exact((float)m);
              const uint8_t* src32 = qq + (g / 2) * 32;
              const int shift = (g & 1) * 4;
              uint8_t* dst = qrow + gi * 16;
              for (int j = 0; j < 16; ++j) {
                const uint8_t lo = (src32[j] >> shift) & 0xF, hi = (src32[j + 16] >> shift) & 0xF;
                dst[j] = lo | (hi << 4);
              }
            }
          }
        } else {
          for (int64_t s = 0; s < SB; ++s) {
            dmrow[2 * s] = 1.0f;
            dmrow[2 * s + 1] = type == Q4_0 ? -8.0f : 1.0f;
          }
          for (int64_t g = 0; g < G; ++g) {
            const uint8_t* b = r + g * bb;
            const uint16_t d = rd16(b);
            abrow[2 * g] = d;
            abrow[2 * g + 1] = type == Q4_0 ? d : rd16(b + 2);
            std::memcpy(qrow + g * 16, b + (type == Q4_0 ? 2 : 4), 16);
          }
        }
      }
    });
    return {qs, ab, dm};
  }
  auto qs = torch::empty({N, K}, torch::kInt8);
  auto a = torch::empty({N, K / 16}, torch::kFloat16);
  auto d = torch::empty({N, SB}, torch::kFloat32);
  int8_t* q = qs.data_ptr<int8_t>();
  uint16_t* pa = reinterpret_cast<uint16_t*>(a.data_ptr<at::Half>());
  float* pd = d.data_ptr<float>();
  at::parallel_for(0, N, 16, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const uint8_t* r = src + n * row_bytes;
      int8_t* qrow = q + n * K;
      uint16_t* arow = pa + n * (K / 16);
      float* drow = pd + n * SB;
      if (type == Q6_K) {
        for (int64_t s = 0; s < K / QK_K; ++s) {
          const uint8_t* b = r + s * 210;
          const uint8_t* ql = b;
          const uint8_t* qh = b + 128;
          const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
          drow[s] = fp16_to_fp32(rd16(b + 208));
          int8_t* y = qrow + s * QK_K;
          for (int h = 0; h < 2; ++h) {
            for (int l = 0; l < 32; ++l) {
              y[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
              y[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
              y[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
              y[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
            y += 128;
            ql += 64;
            qh += 32;
          }
          for (int i = 0; i < 16; ++i) arow[s * 16 + i] = fp32_to_fp16_exact((float)sc[i]);
        }
      } else {
        for (int64_t s = 0; s < SB; ++s) drow[s] = 1.0f;
        for (int64_t g = 0; g < G; ++g) {
          const uint8_t* b = r + g * bb;
          const uint16_t dd = rd16(b);
          arow[2 * g] = dd;
          arow[2 * g + 1] = dd;
          int8_t* y = qrow + g * QK;
          if (type == Q8_0) {
            std::memcpy(y, b + 2, 32);
          } else {  // Q5_0
            uint32_t qh;
            std::memcpy(&qh, b + 2, 4);
            const uint8_t* qq = b + 6;
            for (int j = 0; j < 16; ++j) {
              const int x0 = (qq[j] & 0xF) | (((qh >> j) & 1) << 4);
              const int x1 = (qq[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
              y[j] = (int8_t)(x0 - 16);
              y[j + 16] = (int8_t)(x1 - 16);
            }
          }
        }
      }
    }
  });
  return {qs, a, d};
}

// ---------------------------------------------------------------- dequantisation (lookups, tests)

torch::Tensor dequant_rows_q4(torch::Tensor qs, torch::Tensor ab, torch::Tensor dm, torch::Tensor ids) {
  const int64_t K = qs.size(1) * 2, G = K / QK, SB = dm.size(1), n = ids.numel();
  auto ids64 = ids.to(torch::kLong).contiguous();
  auto out = torch::empty({n, K}, torch::kFloat32);
  const uint8_t* q = qs.data_ptr<uint8_t>();
  const uint16_t* pab = reinterpret_cast<const uint16_t*>(ab.data_ptr<at::Half>());
  const float* pdm = dm.data_ptr<float>();
  const int64_t* pid = ids64.data_ptr<int64_t>();
  float* po = out.data_ptr<float>();
  const int64_t N = qs.size(0);
  for (int64_t i = 0; i < n; ++i) TORCH_CHECK(pid[i] >= 0 && pid[i] < N, "row id out of range");
  at::parallel_for(0, n, 8, [&](int64_t i0, int64_t i1) {
    std::vector<float> sc(G), of(G);
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t r = pid[i];
      q4_row_factors(pab + r * G * 2, pdm + r * SB * 2, G, sc.data(), of.data());
      for (int64_t g = 0; g < G; ++g) {
        const float scale = sc[g], offset = of[g];
        const uint8_t* b = q + r * (K / 2) + g * 16;
        float* y = po + i * K + g * QK;
        for (int j = 0; j < 16; ++j) {
          y[j] = scale * (float)(b[j] & 0xF) + offset;
          y[j + 16] = scale * (float)(b[j] >> 4) + offset;
        }
      }
    }
  });
  return out;
}

torch::Tensor dequant_rows_q8(torch::Tensor qs, torch::Tensor a, torch::Tensor d, torch::Tensor ids) {
  const int64_t K = qs.size(1), SB = d.size(1), n = ids.numel(), N = qs.size(0);
  auto ids64 = ids.to(torch::kLong).contiguous();
  auto out = torch::empty({n, K}, torch::kFloat32);
  const int8_t* q = qs.data_ptr<int8_t>();
  const uint16_t* pa = reinterpret_cast<const uint16_t*>(a.data_ptr<at::Half>());
  const float* pd = d.data_ptr<float>();
  const int64_t* pid = ids64.data_ptr<int64_t>();
  float* po = out.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) TORCH_CHECK(pid[i] >= 0 && pid[i] < N, "row id out of range");
  at::parallel_for(0, n, 8, [&](int64_t i0, int64_t i1) {
    std::vector<float> sc(K / 16);
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t r = pid[i];
      q8_row_factors(pa + r * (K / 16), pd + r * SB, K, sc.data());
      for (int64_t k = 0; k < K; k += 16) {
        const float scale = sc[k / 16];
        for (int j = 0; j < 16; ++j) po[i * K + k + j] = scale * (float)q[r * K + k + j];
      }
    }
  });
  return out;
}

// ---------------------------------------------------------------- activation quantisation

struct QuantAct {
  std::vector<int8_t> q;   // [R, K]
  std::vector<float> d;    // [R, G]
  std::vector<float> s;    // [R, G]: d * sum(q)
};

void quantize_block_scalar(const float* x, int8_t* q, float* d, float* s) {
  float amax = 0.f;
  for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float dd = amax / 127.f;
  const float id = dd != 0.f ? 1.f / dd : 0.f;
  int sum = 0;
  for (int j = 0; j < QK; ++j) {
    const int v = (int)std::nearbyint(x[j] * id);
    q[j] = (int8_t)v;
    sum += v;
  }
  *d = dd;
  *s = dd * (float)sum;
}

#if SS_X86
#define SS_AVX2 __attribute__((target("avx2,fma,f16c")))

SS_AVX2 void quantize_block_avx2(const float* x, int8_t* q, float* d, float* s) {
  const __m256 signbit = _mm256_set1_ps(-0.0f);
  __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16),
         v3 = _mm256_loadu_ps(x + 24);
  __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signbit, v0), _mm256_andnot_ps(signbit, v1)),
                           _mm256_max_ps(_mm256_andnot_ps(signbit, v2), _mm256_andnot_ps(signbit, v3)));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float amax = _mm_cvtss_f32(m4);
  const float dd = amax / 127.f;
  const float id = dd != 0.f ? 1.f / dd : 0.f;
  const __m256 vid = _mm256_set1_ps(id);
  // cvtps_epi32 rounds to nearest even under the default MXCSR mode, like nearbyint
  __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, vid));
  __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, vid));
  __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, vid));
  __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, vid));
  __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
  __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
  // pack to int8 in order: packs work per 128-bit lane, fix with a permute
  __m256i p01 = _mm256_packs_epi32(i0, i1);
  __m256i p23 = _mm256_packs_epi32(i2, i3);
  __m256i p = _mm256_packs_epi16(p01, p23);
  p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), p);
  *d = dd;
  *s = dd * (float)_mm_cvtsi128_si32(s4);
}

SS_AVX2 inline float hsum_ps(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

SS_AVX2 inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// Sum of a[i] * b[i] over n floats (the offsets of a q4 row against one activation row).
SS_AVX2 inline float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float s = hsum_ps(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// NC output rows of q4 (codes q[c], float scales sc[c]) against NR activation rows from r0: the integer
// block dot products, scaled; outs[c * NR + i]. Every (row, activation row) sum runs the same float
// operations in the same order whatever NC and NR are, so a row's result never depends on the batch.
template <int NC, int NR>
SS_AVX2 inline void q4_tile_avx2(const uint8_t* const* q, const float* const* sc, int64_t G, const QuantAct& xa,
                                 int64_t r0, int64_t K, float* outs) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NC][NR];
  for (int c = 0; c < NC; ++c)
    for (int i = 0; i < NR; ++i) acc[c][i] = _mm256_setzero_ps();
  for (int64_t g = 0; g < G; ++g) {
    __m256i w[NC];
    __m256 s[NC];
    for (int c = 0; c < NC; ++c) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q[c] + g * 16));
      w[c] = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), m4);
      s[c] = _mm256_broadcast_ss(sc[c] + g);
    }
    for (int i = 0; i < NR; ++i) {
      const int64_t r = r0 + i;
      const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xa.q.data() + r * K + g * QK));
      const __m256 xd = _mm256_broadcast_ss(xa.d.data() + r * G + g);
      for (int c = 0; c < NC; ++c) {
        const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(w[c], y), ones));
        acc[c][i] = _mm256_fmadd_ps(p, _mm256_mul_ps(s[c], xd), acc[c][i]);
      }
    }
  }
  for (int c = 0; c < NC; ++c)
    for (int i = 0; i < NR; ++i) outs[c * NR + i] = hsum_ps(acc[c][i]);
}

// The q8 counterpart; sc[c] holds two floats per group (its two sub-groups of 16).
template <int NC, int NR>
SS_AVX2 inline void q8_tile_avx2(const int8_t* const* q, const float* const* sc, int64_t G, const QuantAct& xa,
                                 int64_t r0, int64_t K, float* outs) {
  const __m256i ones = _mm256_set1_epi16(1);
  // lanes 0-3 of a block's int32 sums cover inputs 0..15 (sub-group 0), lanes 4-7 inputs 16..31
  const __m256i spread = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
  __m256 acc[NC][NR];
  for (int c = 0; c < NC; ++c)
    for (int i = 0; i < NR; ++i) acc[c][i] = _mm256_setzero_ps();
  for (int64_t g = 0; g < G; ++g) {
    __m256i w[NC], aw[NC];
    __m256 s[NC];
    for (int c = 0; c < NC; ++c) {
      w[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q[c] + g * QK));
      aw[c] = _mm256_sign_epi8(w[c], w[c]);
      const __m256 pair = _mm256_castpd_ps(_mm256_broadcast_sd(reinterpret_cast<const double*>(sc[c] + 2 * g)));
      s[c] = _mm256_permutevar8x32_ps(pair, spread);
    }
    for (int i = 0; i < NR; ++i) {
      const int64_t r = r0 + i;
      const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xa.q.data() + r * K + g * QK));
      const __m256 xd = _mm256_broadcast_ss(xa.d.data() + r * G + g);
      for (int c = 0; c < NC; ++c) {
        const __m256i p16 = _mm256_maddubs_epi16(aw[c], _mm256_sign_epi8(y, w[c]));
        const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
        acc[c][i] = _mm256_fmadd_ps(p, _mm256_mul_ps(s[c], xd), acc[c][i]);
      }
    }
  }
  for (int c = 0; c < NC; ++c)
    for (int i = 0; i < NR; ++i) outs[c * NR + i] = hsum_ps(acc[c][i]);
}

// All activation rows against NC output rows, in tiles of 4 / 2 / 1 activation rows.
template <int NC, typename T, typename Tile4, typename Tile2, typename Tile1>
SS_AVX2 inline void rows_avx2(const T* const* q, const float* const* sc, int64_t G, const QuantAct& xa, int64_t R,
                              int64_t K, float* res /* [NC][R] */, Tile4 t4, Tile2 t2, Tile1 t1) {
  float o[NC * 4];
  int64_t r = 0;
  for (; r + 4 <= R; r += 4) {
    t4(q, sc, G, xa, r, K, o);
    for (int c = 0; c < NC; ++c)
      for (int i = 0; i < 4; ++i) res[c * R + r + i] = o[c * 4 + i];
  }
  for (; r + 2 <= R; r += 2) {
    t2(q, sc, G, xa, r, K, o);
    for (int c = 0; c < NC; ++c)
      for (int i = 0; i < 2; ++i) res[c * R + r + i] = o[c * 2 + i];
  }
  for (; r < R; ++r) {
    t1(q, sc, G, xa, r, K, o);
    for (int c = 0; c < NC; ++c) res[c * R + r] = o[c];
  }
}

// ---- float32 activations: each weight's float value (exactly ggml's: scale * q, then + offset) times x
// in float32, nothing rounded on the activation side. A accumulators per activation row.
// The steps both float tiles share: NR rows of A accumulators zeroed, then ``acc[i] += w[k] * x`` over the
// 32 activations of row r0 + i from column ``col``, then each row's accumulators summed into ``outs``.
template <int NR, int A>
SS_AVX2 inline void zero_rows_avx2(__m256 (&acc)[NR][A]) {
  for (int i = 0; i < NR; ++i)
    for (int a = 0; a < A; ++a) acc[i][a] = _mm256_setzero_ps();
}

template <int NR, int A>
SS_AVX2 inline void fma_rows_avx2(__m256 (&acc)[NR][A], const __m256 (&w)[4], const float* x, int64_t K, int64_t r0,
                                  int64_t col) {
  for (int i = 0; i < NR; ++i) {
    const float* xr = x + (r0 + i) * K + col;
    for (int k = 0; k < 4; ++k) acc[i][k % A] = _mm256_fmadd_ps(w[k], _mm256_loadu_ps(xr + 8 * k), acc[i][k % A]);
  }
}

template <int NR, int A>
SS_AVX2 inline void reduce_rows_avx2(__m256 (&acc)[NR][A], float* outs) {
  for (int i = 0; i < NR; ++i) {
    __m256 t = acc[i][0];
    for (int a = 1; a < A; ++a) t = _mm256_add_ps(t, acc[i][a]);
    outs[i] = hsum_ps(t);
  }
}

template <int NR, int A>
SS_AVX2 inline void q4f_tile_avx2(const uint8_t* q, const float* sc, const float* of, int64_t G, const float* x,
                                  int64_t K, int64_t r0, float* outs) {
  const __m128i m4 = _mm_set1_epi8(0x0F);
  __m256 acc[NR][A];
  zero_rows_avx2(acc);
  for (int64_t g = 0; g < G; ++g) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + g * 16));
    const __m128i lo = _mm_and_si128(b, m4), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m4);
    const __m256 s = _mm256_broadcast_ss(sc + g), o = _mm256_broadcast_ss(of + g);
    __m256 w[4];
    w[0] = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), s), o);
    w[1] = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), s), o);
    w[2] = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), s), o);
    w[3] = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), s), o);
    fma_rows_avx2(acc, w, x, K, r0, g * QK);
  }
  reduce_rows_avx2(acc, outs);
}

template <int NR, int A>
SS_AVX2 inline void q8f_tile_avx2(const int8_t* q, const float* sc, int64_t G, const float* x, int64_t K,
                                  int64_t r0, float* outs) {
  __m256 acc[NR][A];
  zero_rows_avx2(acc);
  for (int64_t g = 0; g < G; ++g) {
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + g * QK));
    const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + g * QK + 16));
    const __m256 s0 = _mm256_broadcast_ss(sc + 2 * g), s1 = _mm256_broadcast_ss(sc + 2 * g + 1);
    __m256 w[4];
    w[0] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b0)), s0);
    w[1] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b0, 8))), s0);
    w[2] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b1)), s1);
    w[3] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b1, 8))), s1);
    fma_rows_avx2(acc, w, x, K, r0, g * QK);
  }
  reduce_rows_avx2(acc, outs);
}

bool cpu_has_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                         __builtin_cpu_supports("f16c");
  return ok;
}
#else
bool cpu_has_avx2() { return false; }
#endif

int force_scalar = 0;  // set by tests/benchmarks to run the portable path

bool use_avx2() { return !force_scalar && cpu_has_avx2(); }

void quantize_acts(const float* x, int64_t R, int64_t K, QuantAct& xa) {
  const int64_t G = K / QK;
  xa.q.resize(R * K);
  xa.d.resize(R * G);
  xa.s.resize(R * G);
  const bool avx = use_avx2();
  for (int64_t r = 0; r < R; ++r) {
    for (int64_t g = 0; g < G; ++g) {
      const float* src = x + r * K + g * QK;
      int8_t* q = xa.q.data() + r * K + g * QK;
#if SS_X86
      if (avx) {
        quantize_block_avx2(src, q, &xa.d[r * G + g], &xa.s[r * G + g]);
        continue;
      }
#endif
      quantize_block_scalar(src, q, &xa.d[r * G + g], &xa.s[r * G + g]);
    }
  }
}

float q4_dot_scalar(const uint8_t* qrow, const uint16_t* abrow, const float* dmrow, int64_t G,
                    const QuantAct& xa, int64_t r, int64_t K) {
  float acc = 0.f, off = 0.f;
  const int64_t Gx = K / QK;
  for (int64_t g = 0; g < G; ++g) {
    const uint8_t* b = qrow + g * 16;
    const int8_t* y = xa.q.data() + r * K + g * QK;
    int isum = 0;
    for (int j = 0; j < 16; ++j) isum += (int)(b[j] & 0xF) * y[j] + (int)(b[j] >> 4) * y[j + 16];
    const float* dmr = dmrow + (g >> 3) * 2;
    acc += (float)isum * (dmr[0] * fp16_to_fp32(abrow[2 * g]) * xa.d[r * Gx + g]);
    off += dmr[1] * fp16_to_fp32(abrow[2 * g + 1]) * xa.s[r * Gx + g];
  }
  return acc + off;
}

float q8_dot_scalar(const int8_t* qrow, const uint16_t* arow, const float* drow, int64_t K, const QuantAct& xa,
                    int64_t r) {
  float acc = 0.f;
  const int64_t G = K / QK;
  for (int64_t g = 0; g < G; ++g) {
    const int8_t* w = qrow + g * QK;
    const int8_t* y = xa.q.data() + r * K + g * QK;
    int s0 = 0, s1 = 0;
    for (int j = 0; j < 16; ++j) {
      s0 += (int)w[j] * y[j];
      s1 += (int)w[j + 16] * y[j + 16];
    }
    const float D = drow[(g * QK) / QK_K];
    acc += ((float)s0 * (D * fp16_to_fp32(arow[2 * g])) + (float)s1 * (D * fp16_to_fp32(arow[2 * g + 1]))) *
           xa.d[r * G + g];
  }
  return acc;
}

void check_out(const torch::Tensor& x, const torch::Tensor& out, int64_t N, int64_t col) {
  TORCH_CHECK(x.dtype() == torch::kFloat32 && x.dim() == 2 && x.is_contiguous(), "x must be contiguous [R, K] float32");
  TORCH_CHECK(out.dtype() == torch::kFloat32 && out.dim() == 2 && out.stride(1) == 1, "out must be [R, *] float32");
  TORCH_CHECK(out.size(0) == x.size(0), "out has ", out.size(0), " rows, x has ", x.size(0));
  TORCH_CHECK(col >= 0 && col + N <= out.size(1), "columns ", col, "..", col + N, " exceed out's ", out.size(1));
  TORCH_CHECK(x.size(1) % QK == 0, "in-features must be a multiple of 32");
}

constexpr int64_t ROW_GRAIN = 32;  // output rows per parallel task (even: rows go in pairs)

// Per-row float scales (and q4 offsets) of a weight row, from its fp16 and float32 factors (F16C
// conversions where the CPU has AVX2, which implies them here; the same values either way).
#if SS_X86
SS_AVX2 void q4_row_factors_f16c(const uint16_t* abrow, const float* dmrow, int64_t G, float* sc, float* of) {
  for (int64_t g = 0; g < G; ++g) {
    sc[g] = dmrow[(g >> 3) * 2] * _cvtsh_ss(abrow[2 * g]);
    of[g] = dmrow[(g >> 3) * 2 + 1] * _cvtsh_ss(abrow[2 * g + 1]);
  }
}

SS_AVX2 void q8_row_factors_f16c(const uint16_t* arow, const float* drow, int64_t K, float* sc) {
  for (int64_t k = 0; k < K / 16; ++k) sc[k] = drow[(k * 16) / QK_K] * _cvtsh_ss(arow[k]);
}
#endif

void q4_row_factors(const uint16_t* abrow, const float* dmrow, int64_t G, float* sc, float* of) {
#if SS_X86
  if (use_avx2()) return q4_row_factors_f16c(abrow, dmrow, G, sc, of);
#endif
  for (int64_t g = 0; g < G; ++g) {
    sc[g] = dmrow[(g >> 3) * 2] * fp16_to_fp32(abrow[2 * g]);
    of[g] = dmrow[(g >> 3) * 2 + 1] * fp16_to_fp32(abrow[2 * g + 1]);
  }
}

void q8_row_factors(const uint16_t* arow, const float* drow, int64_t K, float* sc) {
#if SS_X86
  if (use_avx2()) return q8_row_factors_f16c(arow, drow, K, sc);
#endif
  for (int64_t k = 0; k < K / 16; ++k) sc[k] = drow[(k * 16) / QK_K] * fp16_to_fp32(arow[k]);
}

// out[:, col:col+N] = x @ W.T for a q4 weight.
void gemm_q4(torch::Tensor x, torch::Tensor qs, torch::Tensor ab, torch::Tensor dm, torch::Tensor out, int64_t col) {
  const int64_t R = x.size(0), K = x.size(1), N = qs.size(0);
  check_out(x, out, N, col);
  TORCH_CHECK(qs.size(1) * 2 == K, "weight has ", qs.size(1) * 2, " in-features, x has ", K);
  QuantAct xa;
  quantize_acts(x.data_ptr<float>(), R, K, xa);
  const uint8_t* q = qs.data_ptr<uint8_t>();
  const uint16_t* pab = reinterpret_cast<const uint16_t*>(ab.data_ptr<at::Half>());
  const float* pdm = dm.data_ptr<float>();
  const int64_t G = K / QK, SB = dm.size(1), ld = out.stride(0);
  float* po = out.data_ptr<float>() + col;
  const bool avx = use_avx2();
  at::parallel_for(0, (N + 1) / 2, ROW_GRAIN / 2, [&](int64_t p0, int64_t p1) {
    std::vector<float> sc(2 * G), of(2 * G), res(2 * R);
    for (int64_t pair = p0; pair < p1; ++pair) {
      const int64_t n = 2 * pair, nc = std::min<int64_t>(2, N - n);
      const uint8_t* qr[2];
      const float* scr[2];
      for (int64_t c = 0; c < nc; ++c) {
        q4_row_factors(pab + (n + c) * G * 2, pdm + (n + c) * SB * 2, G, sc.data() + c * G, of.data() + c * G);
        qr[c] = q + (n + c) * (K / 2);
        scr[c] = sc.data() + c * G;
      }
#if SS_X86
      if (avx) {
        if (nc == 2)
          rows_avx2<2>(qr, scr, G, xa, R, K, res.data(), q4_tile_avx2<2, 4>, q4_tile_avx2<2, 2>, q4_tile_avx2<2, 1>);
        else
          rows_avx2<1>(qr, scr, G, xa, R, K, res.data(), q4_tile_avx2<1, 4>, q4_tile_avx2<1, 2>, q4_tile_avx2<1, 1>);
        for (int64_t c = 0; c < nc; ++c)
          for (int64_t r = 0; r < R; ++r)
            po[r * ld + n + c] = res[c * R + r] + dot_f32(of.data() + c * G, xa.s.data() + r * G, G);
        continue;
      }
#endif
      for (int64_t c = 0; c < nc; ++c)
        for (int64_t r = 0; r < R; ++r)
          po[r * ld + n + c] = q4_dot_scalar(qr[c], pab + (n + c) * G * 2, pdm + (n + c) * SB * 2, G, xa, r, K);
    }
  });
}

void gemm_q8(torch::Tensor x, torch::Tensor qs, torch::Tensor a, torch::Tensor d, torch::Tensor out, int64_t col) {
  const int64_t R = x.size(0), K = x.size(1), N = qs.size(0);
  check_out(x, out, N, col);
  TORCH_CHECK(qs.size(1) == K, "weight has ", qs.size(1), " in-features, x has ", K);
  QuantAct xa;
  quantize_acts(x.data_ptr<float>(), R, K, xa);
  const int8_t* q = qs.data_ptr<int8_t>();
  const uint16_t* pa = reinterpret_cast<const uint16_t*>(a.data_ptr<at::Half>());
  const float* pd = d.data_ptr<float>();
  const int64_t G = K / QK, SB = d.size(1), ld = out.stride(0);
  float* po = out.data_ptr<float>() + col;
  const bool avx = use_avx2();
  at::parallel_for(0, (N + 1) / 2, ROW_GRAIN / 2, [&](int64_t p0, int64_t p1) {
    std::vector<float> sc(2 * (K / 16)), res(2 * R);
    for (int64_t pair = p0; pair < p1; ++pair) {
      const int64_t n = 2 * pair, nc = std::min<int64_t>(2, N - n);
      const int8_t* qr[2];
      const float* scr[2];
      for (int64_t c = 0; c < nc; ++c) {
        q8_row_factors(pa + (n + c) * (K / 16), pd + (n + c) * SB, K, sc.data() + c * (K / 16));
        qr[c] = q + (n + c) * K;
        scr[c] = sc.data() + c * (K / 16);
      }
#if SS_X86
      if (avx) {
        if (nc == 2)
          rows_avx2<2>(qr, scr, G, xa, R, K, res.data(), q8_tile_avx2<2, 4>, q8_tile_avx2<2, 2>, q8_tile_avx2<2, 1>);
        else
          rows_avx2<1>(qr, scr, G, xa, R, K, res.data(), q8_tile_avx2<1, 4>, q8_tile_avx2<1, 2>, q8_tile_avx2<1, 1>);
        for (int64_t c = 0; c < nc; ++c)
          for (int64_t r = 0; r < R; ++r) po[r * ld + n + c] = res[c * R + r];
        continue;
      }
#endif
      for (int64_t c = 0; c < nc; ++c)
        for (int64_t r = 0; r < R; ++r)
          po[r * ld + n + c] = q8_dot_scalar(qr[c], pa + (n + c) * (K / 16), pd + (n + c) * SB, K, xa, r);
    }
  });
}

// out[:, col:col+N] = x @ W.T with float32 activations (no activation rounding) for a q4 weight.
void gemm_q4_f32(torch::Tensor x, torch::Tensor qs, torch::Tensor ab, torch::Tensor dm, torch::Tensor out,
                 int64_t col) {
  const int64_t R = x.size(0), K = x.size(1), N = qs.size(0);
  check_out(x, out, N, col);
  TORCH_CHECK(qs.size(1) * 2 == K, "weight has ", qs.size(1) * 2, " in-features, x has ", K);
  const float* px = x.data_ptr<float>();
  const uint8_t* q = qs.data_ptr<uint8_t>();
  const uint16_t* pab = reinterpret_cast<const uint16_t*>(ab.data_ptr<at::Half>());
  const float* pdm = dm.data_ptr<float>();
  const int64_t G = K / QK, SB = dm.size(1), ld = out.stride(0);
  float* po = out.data_ptr<float>() + col;
  const bool avx = use_avx2();
  at::parallel_for(0, N, ROW_GRAIN, [&](int64_t n0, int64_t n1) {
    std::vector<float> sc(G), of(G);
    for (int64_t n = n0; n < n1; ++n) {
      const uint8_t* qrow = q + n * (K / 2);
      q4_row_factors(pab + n * G * 2, pdm + n * SB * 2, G, sc.data(), of.data());
#if SS_X86
      if (avx) {
        float o[4];
        int64_t r = 0;
        for (; r + 4 <= R; r += 4) {
          q4f_tile_avx2<4, 2>(qrow, sc.data(), of.data(), G, px, K, r, o);
          for (int i = 0; i < 4; ++i) po[(r + i) * ld + n] = o[i];
        }
        for (; r + 2 <= R; r += 2) {
          q4f_tile_avx2<2, 4>(qrow, sc.data(), of.data(), G, px, K, r, o);
          for (int i = 0; i < 2; ++i) po[(r + i) * ld + n] = o[i];
        }
        for (; r < R; ++r) {
          q4f_tile_avx2<1, 4>(qrow, sc.data(), of.data(), G, px, K, r, o);
          po[r * ld + n] = o[0];
        }
        continue;
      }
#endif
      for (int64_t r = 0; r < R; ++r) {
        float acc = 0.f;
        for (int64_t g = 0; g < G; ++g) {
          const uint8_t* b = qrow + g * 16;
          const float* xr = px + r * K + g * QK;
          for (int j = 0; j < 16; ++j) {
            const float w0 = sc[g] * (float)(b[j] & 0xF) + of[g], w1 = sc[g] * (float)(b[j] >> 4) + of[g];
            acc += w0 * xr[j] + w1 * xr[j + 16];
          }
        }
        po[r * ld + n] = acc;
      }
    }
  });
}

void gemm_q8_f32(torch::Tensor x, torch::Tensor qs, torch::Tensor a, torch::Tensor d, torch::Tensor out,
                 int64_t col) {
  const int64_t R = x.size(0), K = x.size(1), N = qs.size(0);
  check_out(x, out, N, col);
  TORCH_CHECK(qs.size(1) == K, "weight has ", qs.size(1), " in-features, x has ", K);
  const float* px = x.data_ptr<float>();
  const int8_t* q = qs.data_ptr<int8_t>();
  const uint16_t* pa = reinterpret_cast<const uint16_t*>(a.data_ptr<at::Half>());
  const float* pd = d.data_ptr<float>();
  const int64_t G = K / QK, SB = d.size(1), ld = out.stride(0);
  float* po = out.data_ptr<float>() + col;
  const bool avx = use_avx2();
  at::parallel_for(0, N, ROW_GRAIN, [&](int64_t n0, int64_t n1) {
    std::vector<float> sc(K / 16);
    for (int64_t n = n0; n < n1; ++n) {
      const int8_t* qrow = q + n * K;
      q8_row_factors(pa + n * (K / 16), pd + n * SB, K, sc.data());
#if SS_X86
      if (avx) {
        float o[4];
        int64_t r = 0;
        for (; r + 4 <= R; r += 4) {
          q8f_tile_avx2<4, 2>(qrow, sc.data(), G, px, K, r, o);
          for (int i = 0; i < 4; ++i) po[(r + i) * ld + n] = o[i];
        }
        for (; r + 2 <= R; r += 2) {
          q8f_tile_avx2<2, 4>(qrow, sc.data(), G, px, K, r, o);
          for (int i = 0; i < 2; ++i) po[(r + i) * ld + n] = o[i];
        }
        for (; r < R; ++r) {
          q8f_tile_avx2<1, 4>(qrow, sc.data(), G, px, K, r, o);
          po[r * ld + n] = o[0];
        }
        continue;
      }
#endif
      for (int64_t r = 0; r < R; ++r) {
        float acc = 0.f;
        for (int64_t k = 0; k < K; ++k) acc += (sc[k / 16] * (float)qrow[k]) * px[r * K + k];
        po[r * ld + n] = acc;
      }
    }
  });
}

std::vector<torch::Tensor> quantize_activations(torch::Tensor x) {
  TORCH_CHECK(x.dtype() == torch::kFloat32 && x.dim() == 2 && x.is_contiguous() && x.size(1) % QK == 0,
              "x must be contiguous [R, K] float32 with K a multiple of 32");
  QuantAct xa;
  const int64_t R = x.size(0), K = x.size(1);
  quantize_acts(x.data_ptr<float>(), R, K, xa);
  auto q = torch::from_blob(xa.q.data(), {R, K}, torch::kInt8).clone();
  auto d = torch::from_blob(xa.d.data(), {R, K / QK}, torch::kFloat32).clone();
  auto s = torch::from_blob(xa.s.data(), {R, K / QK}, torch::kFloat32).clone();
  return {q, d, s};
}

std::string isa() { return use_avx2() ? "avx2" : "scalar"; }

void set_force_scalar(bool on) { force_scalar = on ? 1 : 0; }

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("repack", &repack, "GGUF blocks -> kernel format tensors");
  m.def("gemm_q4", &gemm_q4, "out[:, col:col+N] = x @ W.T for a q4 weight");
  m.def("gemm_q8", &gemm_q8, "out[:, col:col+N] = x @ W.T for a q8 weight");
  m.def("gemm_q4_f32", &gemm_q4_f32, "gemm_q4 with float32 activations");
  m.def("gemm_q8_f32", &gemm_q8_f32, "gemm_q8 with float32 activations");
  m.def("dequant_rows_q4", &dequant_rows_q4, "float32 rows of a q4 weight");
  m.def("dequant_rows_q8", &dequant_rows_q8, "float32 rows of a q8 weight");
  m.def("quantize_activations", &quantize_activations, "int8 activation blocks (q, d, d*sum(q))");
  m.def("isa", &isa, "the instruction set the matmuls use");
  m.def("set_force_scalar", &set_force_scalar, "run the portable path (tests)");
}
