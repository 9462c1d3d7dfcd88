// Stand-in for asmjit's header, which PyTorch's wheel does not ship. FBGEMM's headers name asmjit's
// register types only in code generators that packed_fp16.cpp never uses; these empty types let them
// compile. No asmjit code is called.
#pragma once
#define ASMJIT_LIBRARY_MAKE_VERSION(major, minor, patch) ((major << 16) | (minor << 8) | (patch))
#define ASMJIT_LIBRARY_VERSION ASMJIT_LIBRARY_MAKE_VERSION(1, 0, 0)
#define ASMJIT_INLINE_NODEBUG inline
namespace asmjit::x86 {
struct Xmm {};
struct Ymm {};
struct Zmm {};
}  // namespace asmjit::x86
